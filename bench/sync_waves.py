"""Benchmark the wave walk: many child Applications across many waves, with the Argo CD
simulator (tests/argo_sim.py) in a process of its own so its CPU is not counted.

    .venv/bin/python bench/sync_waves.py [--apps 500] [--waves 10] [--rounds 3]

Starts its own local cluster (and stops it). Per round, in a fresh namespace: the simulator
process waits for the root app; the bench applies the root and runs the walk in-process.
Children turn healthy wave after wave (wave k between k and k+1 wave-lengths after a start
delay, in random order inside the wave), independently of the walk, as Argo CD would.

Figures: the walk's CPU seconds (``time.process_time`` around ``Walk.run``: its own thread and
the watch thread; the simulator is another process), API requests the walk made (lists,
watch requests, writes) per wave transition, and the added latency from the last app of wave
n turning healthy (the simulator's clock when it sent that status write, and when the write
was answered) to the walk entering wave n+1 (its ``wave.start`` event).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bootstrap.commands import app  # noqa: E402
from bootstrap.kube.client import Kube  # noqa: E402
from bootstrap.profile.schema import RootApp  # noqa: E402
from bootstrap.report import WaveResult  # noqa: E402
from bootstrap.wait import RealClock  # noqa: E402
from bootstrap.waves import argo, rules  # noqa: E402
from bootstrap.waves.feed import Stats  # noqa: E402
from bootstrap.waves.walk import Walk  # noqa: E402
from stages import root_app  # noqa: E402
from tests.argo_sim import Scenario, Script, install_crds, serve  # noqa: E402


class Recorder:
    """A structlog-like logger that keeps (wall time, event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((time.time(), event, fields))

    def bind(self, **_fields: Any) -> Recorder:
        return self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster(directory: Path) -> Path:
    """Start a local cluster for the bench; returns its profile."""
    path = directory / "bench-rules.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "bench-waves",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-bench-waves", "local": {"api_port": free_port()}},
        # The cluster alone: the simulator plays Argo CD, so no real one may watch the apps.
        "components": {
            "metallb": {"enabled": False},
            "argocd": {"enabled": False},
            "sealed_secrets": {"enabled": False},
        },
        "root_app": None,
    }
    path.write_text(yaml.safe_dump(body))
    out = io.StringIO()
    inv = app.Invocation(profile=str(path), log_format="json", out=out, err=io.StringIO())
    if app.up(inv) != 0:
        raise SystemExit(f"the local cluster did not start:\n{out.getvalue()}")
    return path


def scripts(apps: int, wave_count: int, *, start: float, length: float) -> list[Script]:
    rng = random.Random(7)
    per_wave = apps // wave_count
    return [
        Script(
            f"app-{i:03d}",
            wave=i // per_wave,
            ready_at=start + (i // per_wave + rng.uniform(0.05, 0.95)) * length,
        )
        for i in range(per_wave * wave_count)
    ]


def one_round(kube: Kube, kubeconfig: Path, args: argparse.Namespace, n: int) -> dict[str, Any]:
    namespace, root = f"argocd-bench-{n}", "root"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    scenario = Scenario(
        namespace, root, scripts(args.apps, args.waves, start=args.start, length=1.0)
    )
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    out = Path(tempfile.mkdtemp()) / "records.json"
    sim = context.Process(target=serve, args=(str(kubeconfig), scenario, str(out), ready, stop))
    sim.start()
    if not ready.wait(60):
        raise SystemExit("the simulator did not start")
    settings = rules.Settings(namespace, root, 300.0, {}, 300.0, 10.0, argo.Limits())
    log, stats, results = Recorder(), Stats(), list[WaveResult]()
    kube.apply(
        root_app.application(RootApp(repo_url="https://git.example.invalid/p.git"), namespace)
    )
    walk = Walk(kube, settings, clock=RealClock(), log=log, results=results, stats=stats)
    started, cpu = time.perf_counter(), time.process_time()
    walk.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - started
    stop.set()
    sim.join(60)
    records = json.loads(out.read_text())
    kube.delete("v1", "Namespace", namespace)
    return {
        "cpu": cpu,
        "wall": wall,
        "stats": stats,
        "log": log,
        "records": records,
        "scenario": scenario,
    }


def latencies(result: dict[str, Any], key: str) -> list[float]:
    """Per transition n → n+1: wave.start(n+1) minus the last wave-n app's healthy time."""
    entered = {f["wave"]: at for at, event, f in result["log"].events if event == "wave.start"}
    healthy = result["records"][key]
    by_wave: dict[int, list[float]] = {}
    for script in result["scenario"].apps:
        by_wave.setdefault(script.wave, []).append(healthy[script.name])
    ordered = sorted(by_wave)
    return [(entered[b] - max(by_wave[a])) * 1000 for a, b in itertools.pairwise(ordered)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--start", type=float, default=6.0, help="seconds before wave 0 turns healthy"
    )
    parser.add_argument("--json", help="also write the figures of every round to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        profile = cluster(Path(tmp))
        kubeconfig = Path(tmp) / "state" / "kubeconfig"
        kube = Kube.connect(kubeconfig)
        install_crds(kube)
        rounds = [one_round(kube, kubeconfig, args, n) for n in range(args.rounds)]
        inv = app.Invocation(
            profile=str(profile), log_format="json", out=io.StringIO(), err=io.StringIO()
        )
        app.down(inv)
    report(rounds, args)
    if args.json:
        figures = [
            {
                "apps": args.apps,
                "waves": args.waves,
                "cpu": r["cpu"],
                "wall": r["wall"],
                "requests": r["stats"].requests,
                "events": r["stats"].events,
                "latency_p99_ms": percentile(latencies(r, "healthy_acked"), 0.99),
            }
            for r in rounds
        ]
        Path(args.json).write_text(json.dumps(figures, indent=2))


def report(rounds: list[dict[str, Any]], args: argparse.Namespace) -> None:
    sent = [ms for r in rounds for ms in latencies(r, "healthy_at")]
    acked = [ms for r in rounds for ms in latencies(r, "healthy_acked")]
    transitions = args.waves - 1
    print(f"{args.apps} apps, {args.waves} waves, {args.rounds} rounds ({len(sent)} transitions)")
    for n, r in enumerate(rounds):
        s: Stats = r["stats"]
        print(
            f"round {n}: walk cpu {r['cpu']:.3f}s, wall {r['wall']:.2f}s; requests {s.requests} "
            f"(lists {s.lists}, watches {s.watches}, writes {s.writes}, relists {s.relists}, "
            f"errors {s.errors}) = {s.requests / transitions:.2f} per transition; "
            f"{s.events} watch events; simulator errors {len(r['records']['errors'])}"
        )
    print(
        f"walk cpu seconds: max {max(r['cpu'] for r in rounds):.3f}, "
        f"median {statistics.median(r['cpu'] for r in rounds):.3f}"
    )
    for name, values in (("from the status write sent", sent), ("from its answer", acked)):
        print(
            f"added latency {name}: p50 {percentile(values, 0.5):.0f} ms, "
            f"p99 {percentile(values, 0.99):.0f} ms, max {max(values):.0f} ms"
        )
    write_ms = [
        (r["records"]["healthy_acked"][k] - v) * 1000
        for r in rounds
        for k, v in r["records"]["healthy_at"].items()
    ]
    print(
        f"simulator status write round trip: p50 {percentile(write_ms, 0.5):.0f} ms, "
        f"p99 {percentile(write_ms, 0.99):.0f} ms"
    )


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
