"""Whole `up`s through a fault proxy: each run must converge to the same objects as a clean run
within bounded retries, or fail with a clear error, before its deadline; never hang past it and
never report success falsely.

    .venv/bin/python bench/api_faults.py [--rates 0.05,0.20] [--runs 3] [--seed 1] \\
        [--deadline 900] [--clients all|clusterboot]

Each run: a fresh real control plane (etcd, kube-apiserver, controller-manager, kwok) in its
own loopback-only namespace; the fault proxy (tests/faults/proxy.py) in front of it on
127.0.0.1; `invoke up` of an attached cluster (provider docker-desktop, the context taken from
the proxy's kubeconfig) with MetalLB, Sealed Secrets and Argo CD as processes on the process host
and the sample repository's waves. The process host relays the API port to the proxy, so every
request goes through it; by default only clusterboot's (its User-Agent) meet faults, since what
is measured is clusterboot's own handling, and Argo CD's application-controller does not ride
them out (one failed list of its cluster cache fails every comparison; a clear failure, see
docs/RELIABILITY.md). ``--clients all`` faults the controllers' requests too. The clean run is
the same with rate 0. Run k at rate r uses seed ``seed + k``: replay one with
``--rates r --runs 1 --seed S``. The cluster's objects are compared (directly, not through the
proxy) with ``kill_resume.snapshot``/``diff``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from kill_resume import INVOKE, diff, snapshot  # noqa: E402
from local_cluster import free_port  # noqa: E402

from bootstrap import kube, wait  # noqa: E402
from bootstrap.controlplane import binaries, pki  # noqa: E402
from bootstrap.controlplane.cluster import LocalControlPlane, write_kubeconfig  # noqa: E402
from bootstrap.controlplane.process_host import ProcessHost  # noqa: E402
from bootstrap.processes import runner  # noqa: E402
from bootstrap.profile.schema import LocalCluster  # noqa: E402
from stages.cluster_local import fake_node  # noqa: E402
from tests.faults.proxy import FaultProxy, Faults  # noqa: E402
from tests.integration.sealing_keys import identity  # noqa: E402

SANDBOX = REPO / "examples" / "gitops-sandbox"
POOL = "198.51.100.16/28"  # TEST-NET-2: never routed
PROCESSES = {"enabled": True, "mode": "processes"}
CONTEXT = "docker-desktop"
KEPT = Path(tempfile.gettempdir()) / "cb-api-faults-kept"  # a failed run's logs, kept


@dataclass
class Outcome:
    rate: float
    seed: int
    code: int | None  # None: killed at the deadline
    seconds: float
    faults: dict[str, int]
    clients: dict[str, int]
    requests: int
    retries: int
    problems: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def converged(self) -> bool:
        return self.code == 0 and not self.problems

    @property
    def verdict(self) -> str:
        if self.code is None:
            return "HUNG past the deadline"
        if self.code == 0 and self.problems:
            return "FALSE SUCCESS"
        if self.code == 0:
            return "converged"
        return "failed clearly" if self.error and "Traceback" not in self.error else "UNCLEAR"


@contextmanager
def control_plane(root: Path) -> Iterator[Path]:
    """A real control plane with two kwok nodes; yields its admin kubeconfig on 127.0.0.1."""
    cfg = LocalCluster(api_port=free_port(), nodes=2)
    cp = LocalControlPlane(cfg, name="cb-faults", state_dir=root, run=runner.LocalRunner())
    clock = wait.RealClock()
    try:
        cp.start(binaries.verify(cp.cfg, cp.run), clock=clock)
        host = root / "host.kubeconfig"
        write_kubeconfig(host, server=cp.api_url, keys=pki.Pki(cp.layout.pki_dir), context=CONTEXT)
        api = kube.Kube.connect(host)
        for node in ("node-1", "node-2"):
            api.apply(fake_node(node, "8", "16Gi", 110))
        yield host
    finally:
        cp.destroy(clock=clock)


def profile(root: Path, kubeconfig: Path) -> Path:
    source = root / "gitops"
    shutil.copytree(SANDBOX, source)
    body: dict[str, Any] = {
        "extends": str(REPO / "profiles" / "base.yaml"),
        "name": "faults",
        "state_dir": str(root / "state"),
        "cluster": {
            "provider": "docker-desktop",
            "name": "cb-faults",
            "context": CONTEXT,
            "kubeconfig": str(kubeconfig),
            "attach": True,
        },
        "components": {
            "metallb": {**PROCESSES, "address_pool": POOL},
            "sealed_secrets": {**PROCESSES, "age_identity": str(identity(root)[0])},
            "argocd": PROCESSES,
        },
        "root_app": {"name": "root", "repo_url": f"sandbox:{source}", "path": "root"},
        "waves": {"deadline_seconds": 420, "progressing_grace_seconds": 150},
        "timeouts": {"stage_seconds": 240, "command_seconds": 300},
    }
    path = root / "faults.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def up(path: Path, deadline: float) -> tuple[int | None, float, str, str]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [INVOKE, "up", "--profile", str(path), "--log-format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=deadline)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=60)
        code = None
    return code, time.monotonic() - started, out, err


def first_error(out: str, err: str, report: Path) -> str:
    """What a failed run said: the failed stages from its report, else its last lines."""
    if report.is_file():
        data = json.loads(report.read_text())
        failed = [f"{s['name']}: {s['why']}" for s in data["stages"] if s["status"] == "failed"]
        if failed:
            return " | ".join(failed)
    return " | ".join((out + err).strip().splitlines()[-3:])


def one_run(
    rate: float, seed: int, *, deadline: float, clients: str, clean: dict[str, Any] | None
) -> tuple[Outcome, dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="cb-api-faults-"))
    try:
        with control_plane(root / "cluster") as host:
            faults = Faults(rate, seed)
            proxy = FaultProxy(host, faults, context=CONTEXT)
            if clients == "clusterboot":
                faults.only_clients = ("clusterboot",)
            with proxy:
                kubeconfig = proxy.write_kubeconfig(root / "proxy.kubeconfig", CONTEXT)
                path = profile(root, kubeconfig)
                try:
                    code, seconds, out, err = up(path, deadline)
                finally:
                    ProcessHost.for_state_dir(root / "state", runner.LocalRunner()).stop(
                        clock=wait.RealClock()
                    )
            found = snapshot(host)
            summary = faults.summary()
        report = root / "state" / "reports" / "last-up.json"
        error = first_error(out, err, report) if code != 0 else ""
        if code != 0:
            logs = root / "state" / "process-host" / "logs"
            kept = KEPT / f"rate{rate}-seed{seed}"
            shutil.rmtree(kept, ignore_errors=True)
            if logs.is_dir():
                shutil.copytree(logs, kept / "logs")
            kept.mkdir(parents=True, exist_ok=True)
            (kept / "up.out").write_text(out + err)
            (kept / "faults.json").write_text(json.dumps(faults.log, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    outcome = Outcome(
        rate,
        seed,
        code,
        seconds,
        summary["injected"],
        summary["clients"],
        summary["requests"],
        retries=sum(e.get("event") == "retry.scheduled" for e in events),
    )
    outcome.error = error
    if clean is not None and code == 0:
        outcome.problems = diff(clean, found)
    return outcome, found


def row(o: Outcome) -> str:
    faults = ", ".join(f"{k} {v}" for k, v in o.faults.items()) or "none"
    code = "killed" if o.code is None else str(o.code)
    return (
        f"{o.rate:>5.2f} {o.seed:>5} {code:>6} {o.seconds:>7.1f} {o.requests:>6} "
        f"{'yes' if o.converged else 'no':>9} {o.retries:>7}  {faults}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="0.05,0.20")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds per `up`")
    parser.add_argument("--clients", choices=["all", "clusterboot"], default="clusterboot")
    parser.add_argument("--json", type=Path, help="write the outcomes here too")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]

    reference, found = one_run(0.0, 0, deadline=args.deadline, clients="all", clean=None)
    if reference.code != 0:
        raise SystemExit(f"the clean run failed: {reference.error}")
    compared = sum(len(v) for v in found.values() if isinstance(v, list))
    print(
        f"clean run: {reference.seconds:.1f} s, {reference.requests} requests, "
        f"{compared} objects compared",
        flush=True,
    )
    header = (
        f"{'rate':>5} {'seed':>5} {'exit':>6} {'seconds':>7} {'reqs':>6} "
        f"{'converged':>9} {'retries':>7}  faults injected"
    )
    print(header, flush=True)
    outcomes = []
    for rate in rates:
        for k in range(args.runs):
            outcome, _ = one_run(
                rate, args.seed + k, deadline=args.deadline, clients=args.clients, clean=found
            )
            outcomes.append(outcome)
            print(row(outcome), flush=True)
            print(f"{'':>12}{outcome.verdict}; faults per client: {outcome.clients}", flush=True)
            for line in [outcome.error, *outcome.problems]:
                if line:
                    print(f"{'':>12}{line[:600]}", flush=True)
    for rate in rates:
        mine = [o for o in outcomes if o.rate == rate]
        verdicts = sorted({o.verdict for o in mine})
        counts = ", ".join(f"{sum(o.verdict == v for o in mine)} {v}" for v in verdicts)
        print(f"rate {rate:.2f}: {len(mine)} runs: {counts}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2) + "\n")
    bad = [
        o for o in outcomes if o.verdict in ("HUNG past the deadline", "FALSE SUCCESS", "UNCLEAR")
    ]
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
