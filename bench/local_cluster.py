"""Benchmark the local cluster stage: cold start (binaries built, no state), warm `up` (cluster
already running) and the resident memory of every process of the cluster.

    .venv/bin/python bench/local_cluster.py [--cold 3] [--warm 5]

Prints one line per figure. Everything runs on 127.0.0.1 and in the cluster's own namespace.
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bootstrap.commands import app  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def profile(directory: Path) -> Path:
    path = directory / "bench.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "bench",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-bench", "local": {"api_port": free_port()}},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def timed(command: str, path: Path) -> float:
    out = io.StringIO()
    inv = app.Invocation(profile=str(path), log_format="json", out=out, err=io.StringIO())
    started = time.perf_counter()
    code = getattr(app, command)(inv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{command} failed ({code}):\n{out.getvalue()}")
    return elapsed


def rss_mib(state_dir: Path) -> dict[str, float]:
    """VmRSS of every living process whose command line mentions the cluster's state dir."""
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if not any(str(state_dir).encode() in part for part in cmdline):
            continue
        rss = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0"
        )
        name = Path(cmdline[0].decode()).name
        if name.startswith("python"):
            name = "keeper"
        found[name] = found.get(name, 0.0) + int(rss) / 1024
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    memory: dict[str, float] = {}
    for _ in range(args.cold):
        with tempfile.TemporaryDirectory() as tmp:
            path = profile(Path(tmp))
            cold.append(timed("up", path))
            if not warm:
                warm = [timed("up", path) for _ in range(args.warm)]
                threading.Event().wait(5)  # let the controllers settle before reading memory
                memory = rss_mib(Path(tmp) / "state")
            timed("down", path)
    print(
        f"cold up (binaries built, no state), n={len(cold)}: "
        f"median {statistics.median(cold):.2f}s, max {max(cold):.2f}s"
    )
    print(
        f"warm up (cluster running), n={len(warm)}: "
        f"median {statistics.median(warm):.3f}s, max {max(warm):.3f}s"
    )
    for name, mib in sorted(memory.items()):
        print(f"rss {name}: {mib:.0f} MiB")
    print(f"rss total: {sum(memory.values()):.0f} MiB")


if __name__ == "__main__":
    main()
