"""Benchmark for issue "waits that don't lie": how soon a gate notices that a condition became
true, and how many API requests a gate costs — clusterboot's list-then-watch gate against
`kubectl wait` and a 2 s polling loop, on one local cluster, in one run.

A Widget (a CRD with a status subresource) becomes Ready when we write its status directly.
Latency runs from sending that write to the gate returning. The write is sent from inside the
cluster's network namespace straight to kube-apiserver, so it lands within a few ms; the gates
use the host's relayed address, as users do. Run: ``.venv/bin/python bench/apply_wait.py
[--objects 200]`` (about 3 minutes with 200).
"""

from __future__ import annotations

import argparse
import logging
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bootstrap import health, log, wait
from bootstrap.controlplane import netns
from bootstrap.controlplane.layout import read_pid
from bootstrap.controlplane.spec import Ports
from bootstrap.kube import apply_manifests, watch
from bootstrap.kube.client import Kube, ObjectRef
from bootstrap.stage import Verdict
from tests.integration.localcluster import LocalCluster, write_profile

GROUP, NS = "bench.clusterboot.dev", "bench"
WIDGET = f"{GROUP}/v1"
CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{GROUP}}}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - {{name: v1, served: true, storage: true, subresources: {{status: {{}}}},
     schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}, labels: {{bench: "yes"}}}}
"""
REQUEST = re.compile(r"round_trippers\.go:\d+\] (GET|POST|PUT|PATCH|DELETE) https://")
pause = threading.Event().wait  # a bounded pause that is not time.sleep


@dataclass
class Row:
    method: str
    latencies: list[float] = field(default_factory=list)  # seconds
    requests: list[int] = field(default_factory=list)

    def percentile(self, q: int) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ms = sorted(x * 1000 for x in self.latencies)
        return ms[max(0, -(-len(ms) * q // 100) - 1)]

    @property
    def per_gate(self) -> float:
        return sum(self.requests) / max(1, len(self.requests))

    def line(self) -> str:
        p50, p99 = self.percentile(50), self.percentile(99)
        gates = len(self.latencies)
        return f"| {self.method} | {gates} | {p50:.0f} | {p99:.0f} | {self.per_gate:.1f} |"


class Kubectl:
    """One `kubectl wait -v=6`: counts its API requests and notes when its watch is open and
    when it exits (from a reader thread, so exits are timed even while we wait on others)."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.armed = threading.Event()
        self.requests = 0
        self.ended = 0.0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for text in self.proc.stderr or ():
            self.requests += bool(REQUEST.search(text))
            if "watch=true" in text:
                self.armed.set()
        self.proc.wait()
        self.ended = time.perf_counter()
        self.armed.set()

    def finish(self) -> tuple[float, int]:
        self.reader.join(120)
        if self.proc.returncode != 0:
            raise RuntimeError(f"kubectl wait failed: {self.proc.args}")
        return self.ended, self.requests


def status(name: str, value: str) -> dict[str, object]:
    cond = {"type": "Ready", "status": value, "reason": "Bench", "message": "bench"}
    meta = {"name": name, "namespace": NS}
    return {
        "apiVersion": WIDGET,
        "kind": "Widget",
        "metadata": meta,
        "status": {"conditions": [cond]},
    }


class Writer:
    """Writes statuses from a thread inside the cluster's network namespace, straight to
    kube-apiserver (not through the host relay): the stimulus lands a few ms after it is sent."""

    def __init__(self, kubeconfig: Path, keeper_pid: int) -> None:
        self.jobs: queue.Queue[tuple[str, Future[tuple[float, float]]]] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, args=(kubeconfig, keeper_pid))
        self.thread.start()
        self.writes = Row("the status write itself, in-namespace (round-trip)")

    def _serve(self, kubeconfig: Path, keeper_pid: int) -> None:
        with netns.entered(keeper_pid):
            kube = Kube.connect(kubeconfig)
            kube.api.configuration.host = f"https://127.0.0.1:{Ports().apiserver}"
            kube.list(WIDGET, "Widget", namespace=NS)  # discovery and a connection, up front
            while (job := self.jobs.get())[0]:
                name, done = job
                sent = time.perf_counter()
                kube.apply_status(status(name, "True"))
                done.set_result((sent, time.perf_counter()))

    def ready(self, name: str) -> float:
        """Make ``name`` Ready; returns when the write was sent."""
        done: Future[tuple[float, float]] = Future()
        self.jobs.put((name, done))
        sent, acked = done.result(30)
        self.writes.latencies.append(acked - sent)
        return sent

    def close(self) -> None:
        self.jobs.put(("", Future()))
        self.thread.join(10)


class Bench:
    def __init__(self, kube: Kube, kubeconfig: Path, names: list[str], writer: Writer) -> None:
        self.kube, self.kubeconfig, self.names = kube, kubeconfig, names
        self.writer, self.ready = writer, writer.ready
        self.cache = kubeconfig.parent / "kubectl-cache"

    def reset(self) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: self.kube.apply_status(status(n, "False")), self.names))

    def ref(self, name: str) -> ObjectRef:
        return ObjectRef(WIDGET, "Widget", name, NS)

    # -- clusterboot: one list-then-watch per collection -------------------------------------
    def watch_gate(self, names: list[str]) -> tuple[Callable[[], float], watch.Stats]:
        """Start a gate in a thread once its watch is open; returns (join → end time, stats)."""
        stats, ended = watch.Stats(), [0.0]

        def run() -> None:
            refs = [self.ref(n) for n in names]
            watch.await_objects(
                self.kube,
                refs,
                clock=wait.RealClock(),
                deadline=120,
                grace_seconds=60,
                what="bench",
                stats=stats,
            )
            ended[0] = time.perf_counter()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        while stats.watches < 1 and thread.is_alive():
            pause(0.001)
        pause(0.1)  # the watch request is sent; give it the time `kubectl` gets to open

        def join() -> float:
            thread.join(120)
            return ended[0]

        return join, stats

    def watch_single(self) -> Row:
        row = Row("clusterboot watch")
        for name in self.names:
            join, stats = self.watch_gate([name])
            sent = self.ready(name)
            row.latencies.append(join() - sent)
            row.requests.append(stats.requests)
        return row

    def watch_many(self) -> Row:
        join, stats = self.watch_gate(self.names)
        last = [self.ready(n) for n in self.names][-1]
        return Row("clusterboot watch", [join() - last], [stats.requests])

    # -- kubectl wait ----------------------------------------------------------------------
    def kubectl(self, *target: str) -> Kubectl:
        return Kubectl(
            [
                "kubectl",
                f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.cache}",
                "wait",
                "--for=condition=Ready",
                "-n",
                NS,
                "--timeout=120s",
                "-v=6",
                *target,
            ]
        )

    def kubectl_single(self, batch: int = 10) -> Row:
        """Batches of ``batch`` concurrent `kubectl wait`, each written to once it watches."""
        row = Row("kubectl wait")
        for start in range(0, len(self.names), batch):
            names = self.names[start : start + batch]
            runs = [self.kubectl(f"widgets.{GROUP}/{n}") for n in names]
            for run in runs:
                run.armed.wait(60)
            pause(0.1)
            sent = [self.ready(n) for n in names]
            for run, t0 in zip(runs, sent, strict=True):
                ended, requests = run.finish()
                row.latencies.append(ended - t0)
                row.requests.append(requests)
        return row

    def kubectl_many(self) -> Row:
        run = self.kubectl(f"widgets.{GROUP}", "--all")
        run.armed.wait(60)
        pause(0.1)
        last = [self.ready(n) for n in self.names][-1]
        ended, requests = run.finish()
        return Row("kubectl wait --all", [ended - last], [requests])

    # -- a 2 s polling loop (GET per object) through wait.until ----------------------------
    def poll(self, names: list[str], ended: dict[str, tuple[float, int]]) -> None:
        gets = [0]

        def check() -> Verdict:
            for name in names:
                gets[0] += 1
                found = self.kube.get(WIDGET, "Widget", name, NS)
                if not health.assess(found, now=time.time(), grace_seconds=60).current:
                    return Verdict.waiting(name)
            return Verdict.passed()

        pause(random.uniform(0, 2))  # gates start at random phases
        wait.until(
            check, what="poll", deadline=120, clock=wait.RealClock(), interval=2.0, max_interval=2.0
        )
        ended[names[-1]] = (time.perf_counter(), gets[0])

    def poll_single(self) -> Row:
        ended: dict[str, tuple[float, int]] = {}
        threads = [threading.Thread(target=self.poll, args=([n], ended)) for n in self.names]
        for thread in threads:
            thread.start()
        pause(4)  # every gate has started and polled at least once
        sent = {}
        for name in self.names:  # spread the writes over the gates' polling phases
            sent[name] = self.ready(name)
            pause(0.02)
        for thread in threads:
            thread.join(120)
        row = Row("2 s polling loop")
        for name, t0 in sent.items():
            row.latencies.append(ended[name][0] - t0)
            row.requests.append(ended[name][1])
        return row

    def poll_many(self) -> Row:
        ended: dict[str, tuple[float, int]] = {}
        thread = threading.Thread(target=self.poll, args=(self.names, ended))
        thread.start()
        pause(4)
        last = [self.ready(n) for n in self.names][-1]
        thread.join(120)
        end, gets = ended[self.names[-1]]
        return Row("2 s polling loop", [end - last], [gets])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200)
    args = parser.parse_args()
    log.configure(mode="json", level="warning")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # pool-full notices from the pollers
    with tempfile.TemporaryDirectory(prefix="cb-bench-") as work:
        cluster = write_profile(Path(work), "bench")
        try:
            return measure(cluster, args.objects)
        finally:
            cluster.down()


def measure(cluster: LocalCluster, objects: int) -> int:
    started = time.perf_counter()
    code, out, err = cluster.up()
    if code != 0:
        print(out, err, file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    print(f"local cluster up in {took:.1f}s (API 127.0.0.1:{cluster.api_port})")
    keeper = read_pid(cluster.state_dir / "local-cluster" / "keeper.pid")
    kube = cluster.kube()
    names = setup(kube, objects)
    writer = Writer(cluster.kubeconfig, keeper or 0)
    try:
        report(Bench(kube, cluster.kubeconfig, names, writer), relayed_writes(kube, names))
    finally:
        writer.close()
    return 0


def setup(kube: Kube, objects: int) -> list[str]:
    apply_manifests(kube, CRD, namespace=NS, clock=wait.RealClock(), deadline=60)
    names = [f"w{i:03d}" for i in range(objects)]
    widget = {"apiVersion": WIDGET, "kind": "Widget"}
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(lambda n: kube.apply({**widget, "metadata": {"name": n}}, namespace=NS), names)
        )
    return names


def relayed_writes(kube: Kube, names: list[str]) -> Row:
    """The same status write through the host's relayed address, for comparison."""
    row = Row("the status write itself, through the host relay (round-trip)")
    for name in names[:50]:
        sent = time.perf_counter()
        kube.apply_status(status(name, "True"))
        row.latencies.append(time.perf_counter() - sent)
    return row


def report(bench: Bench, relayed: Row) -> None:
    single, many = [], []
    for label, measure in (
        ("watch", bench.watch_single),
        ("kubectl", bench.kubectl_single),
        ("poll", bench.poll_single),
        ("watch-all", bench.watch_many),
        ("kubectl-all", bench.kubectl_many),
        ("poll-all", bench.poll_many),
    ):
        bench.reset()
        began = time.perf_counter()
        (many if label.endswith("-all") else single).append(measure())
        print(f"  {label}: {time.perf_counter() - began:.1f}s", file=sys.stderr)
    header = "| method | gates | p50 ms | p99 ms | API requests per gate |\n|---|---|---|---|---|"
    objects = len(bench.names)
    print(f"\nOne gate per object ({objects} gates, each waiting for one Widget):\n{header}")
    print("\n".join(r.line() for r in single))
    for writes in (bench.writer.writes, relayed):
        print(writes.line().replace("| 0.0 |", "| - |"))
    print(f"\nOne gate for all {objects} Widgets (latency after the last status write):")
    print(header + "\n" + "\n".join(r.line() for r in many))
    ours = single[0]
    for other in single[1:]:
        print(
            f"{other.method} / clusterboot: p50 ×{other.percentile(50) / ours.percentile(50):.1f},"
            f" p99 ×{other.percentile(99) / ours.percentile(99):.1f},"
            f" requests per gate ×{other.per_gate / ours.per_gate:.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
