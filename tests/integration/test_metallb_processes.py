"""MetalLB in processes mode: the real controller (built by `make binaries` from MetalLB's Go
module, with upstream's native manifest from that module) run by the local cluster's keeper.
The pool goes through its real validating webhook on 127.0.0.1, which refuses a bad pool; the
probe LoadBalancer Service gets a real address from the pool (TEST-NET-2: routed nowhere); a
re-run changes nothing; `down` leaves no controller."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap import kube
from bootstrap.components.metallb import address_pool, processes
from bootstrap.controlplane import binaries
from bootstrap.controlplane.layout import read_pid
from bootstrap.errors import ClusterbootError
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster as LocalClusterConfig
from tests.integration import platform
from tests.integration.localcluster import LocalCluster, write_profile

BIN = processes.bin_dir(binaries.cache_dir(LocalClusterConfig()), "v0.15.2")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (BIN / "controller").is_file(),
        reason=f"MetalLB's controller is not built ({BIN}): make binaries",
    ),
]
SETS = ("components.metallb.enabled=true", "components.metallb.mode=processes")
POOL = "198.51.100.0/28"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    made = write_profile(tmp_path, "mlbproc")
    try:
        yield made
    finally:
        made.down()


def test_the_real_controller_serves_the_webhook_and_gives_the_probe_an_address(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    report = platform.up_ok(cluster, *SETS)
    ran = next(s for s in report["stages"] if s["name"] == "metallb")
    assert ran["changes"][:2] == [
        "install MetalLB v0.15.2",
        "run MetalLB's controller as a local process in the cluster's namespace "
        "(webhooks on 127.0.0.1:9443, its ServiceAccount's rights)",
    ]
    # It works with the rights metallb-native.yaml gives its ServiceAccount, not the admin's.
    credentials = cluster.state_dir / "local-cluster" / "metallb" / "kubeconfig"
    assert credentials.stat().st_mode & 0o777 == 0o600
    user = yaml.safe_load(credentials.read_text())["users"][0]["user"]
    assert set(user) == {"token"}
    seen_from_host = yaml.safe_load(cluster.kubeconfig.read_text())  # the relayed API port
    seen_from_host["users"][0]["user"] = user
    as_controller = tmp_path / "controller.kubeconfig"
    as_controller.write_text(yaml.safe_dump(seen_from_host))
    as_controller.chmod(0o600)
    with pytest.raises(ClusterbootError, match=r"(?i)forbidden"):
        kube.Kube.connect(as_controller).list("v1", "Secret", namespace="kube-system")
    reports = "".join(p.read_text() for p in (cluster.state_dir / "reports").glob("*.json"))
    assert user["token"] not in reports
    api = cluster.kube()
    probe = api.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
    address = address_pool.probe_address(probe)
    assert address is not None, probe
    assert ipaddress.ip_address(address) in ipaddress.ip_network(POOL)
    assert "LoadBalancer probe got" in ran["why"]

    bad = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "bad", "namespace": address_pool.NAMESPACE},
        "spec": {"addresses": ["not-an-address"]},
    }
    with pytest.raises(ClusterbootError, match="denied the request"):
        api.apply(bad)

    pid = read_pid(cluster.state_dir / "local-cluster" / "pids" / f"{processes.NAME}.pid")
    platform.up_ok(cluster, *SETS)
    assert platform.stage_report(cluster, "metallb")["changes"] == []

    code, _ = cluster.down()
    assert code == 0
    assert pid is not None
    assert not runner.pid_alive(pid)


def test_processes_mode_without_the_isolated_namespace_is_refused(tmp_path: Path) -> None:
    made = write_profile(tmp_path, "mlbunisolated")
    code, _, err = made.up(*SETS, "cluster.local.isolation=none")
    assert code == 2
    assert "needs the cluster's own network namespace" in err
    assert not (made.state_dir / "local-cluster").exists()
