"""Where an `up`'s wall time goes: what the cluster imposes and what clusterboot adds.

    .venv/bin/python bench/overhead.py [--runs 3]

Each run: `invoke up` of the local profile from nothing (a fresh state directory, its own API
port), then a second `up` with nothing to change, then `down`. From the process's own clock and
its report (`reports/last-up.json`: each stage's start, seconds and ``waited_seconds``, the
time it spent waiting on the cluster):

- start-up: from spawning `invoke` to the first stage starting (Python, imports, the profile
  loaded and checked, preflight: tools, binaries, paths);
- along the critical path (the chain of stages that ended last, each one's predecessor the
  stage that finished last before it started): each stage's waiting (the cluster's part:
  rollouts, Argo CD's reconciles, etcd starting) and the rest (clusterboot's part: plans, reads,
  applies and the API's answers to them, discovery);
- the tail: from the last stage's end to the process's exit (summary, report files).

clusterboot's added time is start-up + the critical path's own work + the tail.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kill_resume import INVOKE, down  # noqa: E402
from local_cluster import free_port  # noqa: E402


def profile(directory: Path) -> Path:
    path = directory / "overhead.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "overhead",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-overhead", "local": {"api_port": free_port()}},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def critical_path(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chain that ended last, latest stage first."""
    ran = [s for s in stages if s.get("started") and s.get("finished")]
    chain: list[dict[str, Any]] = []
    current = max(ran, key=lambda s: epoch(s["finished"]), default=None)
    while current is not None:
        chain.append(current)
        start = epoch(current["started"])
        before = [s for s in ran if epoch(s["finished"]) <= start + 0.005 and s not in chain]
        current = max(before, key=lambda s: epoch(s["finished"]), default=None)
    return chain


def one_up(path: Path, state: Path) -> dict[str, Any]:
    spawned = time.time()
    proc = subprocess.run(
        [INVOKE, "up", "--profile", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    exited = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"up failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    data = json.loads((state / "reports" / "last-up.json").read_text())
    stages = data["stages"]
    chain = critical_path(stages)
    first = min(epoch(s["started"]) for s in stages if s.get("started"))
    last = max(epoch(s["finished"]) for s in stages if s.get("finished"))
    waited = sum(float(s.get("waited_seconds", 0.0)) for s in chain)
    work = sum(float(s["seconds"]) for s in chain) - waited
    figures = {
        "wall": exited - spawned,
        "startup": first - spawned,
        "path_work": work,
        "path_waited": waited,
        "tail": exited - last,
        "path": " → ".join(s["name"] for s in reversed(chain)),
    }
    figures["added"] = figures["startup"] + figures["path_work"] + figures["tail"]
    figures["per_stage"] = {
        s["name"]: (float(s["seconds"]), float(s.get("waited_seconds", 0.0))) for s in stages
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fresh: list[dict[str, Any]] = []
    noop: list[dict[str, Any]] = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="cb-overhead-") as tmp:
            path, state = profile(Path(tmp)), Path(tmp) / "state"
            try:
                fresh.append(one_up(path, state))
                noop.append(one_up(path, state))
            finally:
                down(path)
        for label, row in (("fresh", fresh[-1]), ("no-op", noop[-1])):
            print(
                f"run {run} {label}: wall {row['wall']:.2f} s = added {row['added']:.2f} s "
                f"(start-up {row['startup']:.2f}, "
                f"own work on the path {row['path_work']:.2f}, tail {row['tail']:.2f}) + "
                f"waiting on the cluster {row['path_waited']:.2f} s; path {row['path']}",
                flush=True,
            )
        stages = ", ".join(
            f"{name} {seconds:.1f}/{waited:.1f}"
            for name, (seconds, waited) in fresh[-1]["per_stage"].items()
        )
        print(f"  fresh stages (seconds/waited): {stages}", flush=True)
    for label, rows in (("fresh", fresh), ("no-op", noop)):
        keys = ("wall", "added", "startup", "path_work", "tail", "path_waited")
        medians = {k: statistics.median(r[k] for r in rows) for k in keys}
        print(f"median {label}: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items()))


if __name__ == "__main__":
    main()
