"""Benchmark the whole `make up` job on the local profile: a fresh cluster, the Sealed Secrets
controller and Argo CD as local processes, the sample repository published (its password
sealed) and walked wave by wave; then a re-run that changes nothing.

    .venv/bin/python bench/local_up.py [--runs 3]

Needs `make binaries` and `make argocd`. Each run uses its own state directory and ends with
`down`. Prints one line per stage and wave (median over the runs), the whole `up`, and the
re-run. Everything runs on 127.0.0.1 and in the cluster's own namespace.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_cluster import free_port  # noqa: E402 - bench/ is on sys.path when run as a script

from bootstrap.commands import app  # noqa: E402


def profile(directory: Path) -> Path:
    path = directory / "bench.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "benchup",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-benchup", "local": {"api_port": free_port()}},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def invocation(path: Path) -> app.Invocation:
    return app.Invocation(
        profile=str(path), log_format="json", out=io.StringIO(), err=io.StringIO()
    )


def one_run(directory: Path) -> tuple[float, float, dict[str, Any]]:
    path = profile(directory)
    try:
        start = time.perf_counter()
        inv = invocation(path)
        if app.up(inv) != 0:
            raise SystemExit(f"up failed: {inv.err.getvalue()[-2000:]}")
        first = time.perf_counter() - start
        report = json.loads((directory / "state" / "reports" / "last-up.json").read_text())
        start = time.perf_counter()
        inv = invocation(path)
        if app.up(inv) != 0:
            raise SystemExit("re-run failed")
        again = time.perf_counter() - start
        return first, again, report
    finally:
        app.down(invocation(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    firsts, agains = [], []
    stages: dict[str, list[float]] = defaultdict(list)
    wave_times: dict[int, list[float]] = defaultdict(list)
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="cb-bench-up-") as tmp:
            first, again, report = one_run(Path(tmp))
        parts = ", ".join(
            f"{s['name']} {float(s.get('seconds') or 0):.1f}" for s in report["stages"]
        )
        print(f"run {run}: up {first:.1f} s ({parts}); re-run {again:.2f} s", flush=True)
        firsts.append(first)
        agains.append(again)
        for stage in report["stages"]:
            stages[stage["name"]].append(float(stage.get("seconds") or 0.0))
        for wave in report.get("waves", []):
            wave_times[int(wave["wave"])].append(float(wave["seconds"]))
    for name, values in stages.items():
        print(f"stage {name}: median {statistics.median(values):.2f} s")
    for wave, values in sorted(wave_times.items()):
        print(f"wave {wave}: median {statistics.median(values):.2f} s")
    print(f"up, fresh cluster to every wave Healthy: median {statistics.median(firsts):.1f} s "
          f"(max {max(firsts):.1f} s) over {args.runs} runs")
    print(f"re-run, nothing to change: median {statistics.median(agains):.2f} s")


if __name__ == "__main__":
    main()
