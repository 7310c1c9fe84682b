"""The whole product on a remote target: `up --profile prodesk` against a real sshd host whose
k3s stand-in starts a real (kwok-simulated) control plane, then MetalLB's controller, the Sealed
Secrets controller and Argo CD as processes on the process host, the root app of the sample
repository, and its waves synced by the real Argo CD; a re-run changes nothing; `status` and
`backup` work; `down --yes` leaves no process behind. The same for `oci` (a fake `oci` CLI
whose instance is such a host) and `prod` (fake `eksctl`/`aws` whose cluster is a real control
plane; MetalLB skipped)."""

from __future__ import annotations

import base64
import io
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import kube, wait
from bootstrap.commands import app
from bootstrap.components.argocd import processes as argocd_processes
from bootstrap.controlplane import binaries
from bootstrap.controlplane.layout import read_pid
from bootstrap.controlplane.process_host import DIRECTORY, ProcessHost
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster
from tests.integration.sealing_keys import identity
from tests.providers.fakeenv import FakeMachine
from tests.providers.k3shost import SshHost, free_port, start_host
from tests.providers.test_cluster_eks import profile as eks_profile
from tests.providers.test_cluster_k3s_oci import profile as k3s_oci_profile
from tests.providers.test_cluster_k3s_ssh import invoke
from tests.providers.test_cluster_k3s_ssh import profile as k3s_ssh_profile

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "examples" / "gitops-sandbox"
PASSWORD = b"sandbox-only-not-a-real-password"
POOL = "198.51.100.16/28"  # TEST-NET-2: never routed
PROCESSES = {"enabled": True, "mode": "processes"}

argocd_built = pytest.mark.skipif(
    not (
        argocd_processes.bin_dir(binaries.cache_dir(LocalCluster()), "v3.2.11") / "argocd"
    ).is_file(),
    reason="Argo CD is not built: run `make argocd`",
)


Target = Callable[[FakeMachine, list[SshHost], Path, pytest.MonkeyPatch], Path]


def prodesk(
    machine: FakeMachine, hosts: list[SshHost], root: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    hosts.append(start_host(root / "prodesk", sudo="nopasswd"))
    return k3s_ssh_profile(machine, "prodesk", hosts[-1], api_port=free_port())


def oci(
    machine: FakeMachine, hosts: list[SshHost], root: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    hosts.append(start_host(root / "instance", sudo="nopasswd"))
    machine.install("oci")
    monkeypatch.setenv("FAKE_OCI_HOST_ROOT", str(hosts[-1].root))
    monkeypatch.setenv("FAKE_OCI_MOUNTS", hosts[-1]._mounts())
    return k3s_oci_profile(machine, "oci", hosts[-1])


def prod(
    machine: FakeMachine, hosts: list[SshHost], root: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    machine.install("eksctl", "aws")
    return eks_profile(machine, "prod")


def with_platform(path: Path, source: Path) -> Path:
    """The profile with the three components as processes and the sample repository."""
    body: dict[str, Any] = yaml.safe_load(path.read_text())
    body["components"] = {
        "metallb": {**PROCESSES, "address_pool": POOL},
        "sealed_secrets": {**PROCESSES, "age_identity": str(identity(path.parent)[0])},
        "argocd": PROCESSES,
    }
    body["root_app"] = {"name": "root", "repo_url": f"sandbox:{source}", "path": "root"}
    body["waves"] = {"deadline_seconds": 420, "progressing_grace_seconds": 150}
    body["timeouts"]["stage_seconds"] = 300
    path.write_text(yaml.safe_dump(body))
    return path


def command(task: Callable[..., int], path: Path, **options: Any) -> tuple[str, int]:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(path), log_format="json", out=out, err=err)
    code = task(inv, **options)
    return out.getvalue() + err.getvalue(), code


def host_pids(state_dir: Path) -> dict[str, int]:
    pids = state_dir / DIRECTORY / "pids"
    found = {p.stem: read_pid(p) for p in pids.glob("*.pid")} if pids.is_dir() else {}
    keeper = read_pid(state_dir / DIRECTORY / "keeper.pid")
    if keeper is not None:
        found["keeper"] = keeper
    return {name: pid for name, pid in found.items() if pid is not None}


@argocd_built
@pytest.mark.parametrize("target", [prodesk, oci, prod], ids=["prodesk", "oci", "prod"])
def test_a_remote_target_bootstraps_the_sample_repository_through_its_waves(
    target: Target,
    cluster_machine: FakeMachine,
    hosts: list[SshHost],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = cluster_machine
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    path = with_platform(target(machine, hosts, tmp_path, monkeypatch), source)
    name = path.stem
    state_dir = machine.root / f"state-{name}"
    try:
        bootstrapped(machine, path, state_dir, load_balancer=name != "prod")
    finally:
        ProcessHost.for_state_dir(state_dir, runner.LocalRunner()).stop(clock=wait.RealClock())


def bootstrapped(machine: FakeMachine, path: Path, state_dir: Path, *, load_balancer: bool) -> None:
    name = path.stem
    first = invoke("up", path)
    assert first.code == 0, first.text[-4000:]
    report = machine.report(name)
    assert [s["name"] for s in report["stages"] if s["status"] == "failed"] == []
    waves = {w["wave"]: sorted(a["name"] for a in w["apps"]) for w in report["waves"]}
    assert waves == {
        -1: ["namespaces"],
        1: ["postgres"],
        2: ["monitoring", "monitoring-crds"],
        3: ["web"],
        30: ["shop"],
    }
    assert all(
        (a["sync"], a["health"]) == ("Synced", "Healthy")
        for w in report["waves"]
        for a in w["apps"]
    )

    api = kube.Kube.connect(state_dir / "kubeconfig")
    assert api.get("apps/v1", "Deployment", "web", "web")["status"]["readyReplicas"] == 2
    secret = api.get("v1", "Secret", "postgres-credentials", "data") or {}
    assert base64.b64decode((secret.get("data") or {}).get("password", "")) == PASSWORD
    services = api.list("v1", "Service")[0]
    addresses = [
        ingress.get("ip")
        for s in services
        if (s.get("spec") or {}).get("type") == "LoadBalancer"
        for ingress in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ]
    expected = {"sealed-secrets-controller", *argocd_processes.NAMES}
    if load_balancer:
        assert addresses, "MetalLB's controller gave no LoadBalancer Service an address"
        assert all(a.startswith("198.51.100.") for a in addresses)
        assert "no webhooks" in machine.stage(name, "metallb")["why"]
        expected.add("metallb-controller")
    else:
        assert "MetalLB does not work on EKS" in machine.stage(name, "metallb")["why"]

    running = host_pids(state_dir)
    assert set(running) == {"keeper", *expected}
    assert all(runner.pid_alive(pid) for pid in running.values())
    # The cluster's control plane is the target's; only the processes run on this machine.
    assert not (state_dir / "local-cluster").exists()

    again = invoke("up", path)
    assert again.code == 0, again.text[-3000:]
    changed = {s["name"]: s["changes"] for s in machine.report(name)["stages"] if s["changes"]}
    assert changed == {}
    assert host_pids(state_dir) == running  # nothing restarted

    shown, code = command(app.status, path)
    assert code == 0, shown[-2000:]
    keys = state_dir / "keys.age"
    shown, code = command(app.backup, path, out_file=keys)
    assert code == 0, shown[-2000:]
    assert "sealing keys backed up" in shown
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600

    down = invoke("down", path, yes=True)
    assert down.code == 0, down.text[-3000:]
    assert "stopped the process host" in down.out
    assert not [proc for proc, pid in running.items() if runner.pid_alive(pid)]
