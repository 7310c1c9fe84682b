"""Benchmark the whole `make up` job on the local profile: a fresh cluster, the Sealed Secrets
controller and Argo CD as local processes, the sample repository published (its password
sealed) and walked wave by wave; then a re-run that changes nothing.

    .venv/bin/python bench/local_up.py [--runs 3] [--keep-going]

``--keep-going`` counts a failed run (with the stage and the first line of why) instead of
stopping, and prints how many of the runs passed: the reliability of the main job.

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


class RunFailed(Exception):
    pass


def failure(report: dict[str, Any], what: str) -> RunFailed:
    failed = [s for s in report.get("stages", []) if s.get("status") == "failed"]
    why = "; ".join(f"{s['name']}: {str(s.get('why', '')).splitlines()[0]}" for s in failed)
    return RunFailed(f"{what} failed: {why or report.get('result')}")


def one_run(directory: Path) -> tuple[float, float, dict[str, Any]]:
    path = profile(directory)
    last = directory / "state" / "reports" / "last-up.json"
    try:
        start = time.perf_counter()
        inv = invocation(path)
        code = app.up(inv)
        first = time.perf_counter() - start
        report = json.loads(last.read_text())
        if code != 0:
            raise failure(report, f"up ({first:.1f} s)")
        start = time.perf_counter()
        inv = invocation(path)
        if app.up(inv) != 0:
            raise failure(json.loads(last.read_text()), "re-run")
        again = time.perf_counter() - start
        return first, again, report
    finally:
        app.down(invocation(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-going", action="store_true")
    args = parser.parse_args()
    firsts, agains = [], []
    failures: list[str] = []
    stages: dict[str, list[float]] = defaultdict(list)
    wave_times: dict[int, list[float]] = defaultdict(list)
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="cb-bench-up-") as tmp:
            try:
                first, again, report = one_run(Path(tmp))
            except RunFailed as err:
                if not args.keep_going:
                    raise SystemExit(str(err)) from err
                failures.append(f"run {run}: {err}")
                print(f"run {run}: FAILED {err}", flush=True)
                continue
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
    print(f"passed {len(firsts)} of {args.runs} runs")
    for line in failures:
        print(f"  {line}")
    if firsts:
        print(
            f"up, fresh cluster to every wave Healthy: median {statistics.median(firsts):.1f} s "
            f"(max {max(firsts):.1f} s) over {len(firsts)} passing runs"
        )
        print(f"re-run, nothing to change: median {statistics.median(agains):.2f} s")


if __name__ == "__main__":
    main()
