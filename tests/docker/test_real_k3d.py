"""Real k3d clusters through clusterboot: `k3d cluster create` by the real CLI, a k3s node
container in the tier's engine, a pod that really runs. One cluster for the module (a k3s node
takes about a minute to be Ready on 2 cores)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap import wait
from bootstrap.processes import runner
from bootstrap.profile import loader
from bootstrap.stage import Context
from stages.cluster_common import lb_range_from_subnet
from stages.cluster_k3d import ClusterK3d
from tests.docker.tier import (
    PLATFORM_OFF,
    assert_probe_runs_and_answers,
    assert_rerun_is_a_no_op,
    containers_of,
    created_by_up,
    docker,
    invoke,
    last_report,
    network_exists,
    stage_of,
    tool,
    unique,
    write_profile,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

# The tier's k3s image is built from the module proxy, which serves neither flannel's CNI plugin
# nor traefik's chart: one node, a bridge CNI, no traefik (docs/docker-tier.md). One server and
# no agents also because two nodes do not fit 2 cores beside the rest. No load balancer
# container: its nginx + confd image is not built here. conntrack-max-per-core=0: kube-proxy
# may not write the VM-wide nf_conntrack_max from a node's namespace (k3d #612). Eviction at 1%:
# the node shares this machine's disk with the builds' caches, and kubelet's default (15% free)
# would taint it DiskPressure.
TIER_K3D = {
    "servers": 1, "agents": 0, "load_balancer": False,
    "k3s_args": ["--disable=traefik", "--disable=metrics-server", "--disable=local-storage",
                 "--flannel-backend=none", "--disable-network-policy",
                 "--kube-proxy-arg=conntrack-max-per-core=0",
                 "--kubelet-arg=eviction-hard=imagefs.available<1%,nodefs.available<1%"],
}


def k3d_profile(directory: Path, name: str, **k3d: object) -> Path:
    return write_profile(directory, "tierk3d", {
        "extends": "dev",
        "cluster": {"name": name, "k3d": {**TIER_K3D, **k3d}},
        "components": PLATFORM_OFF,
    })


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A k3d cluster made by `up`, for the module; deleted whatever the tests did."""
    name = unique("cb-k3d")
    profile = k3d_profile(tmp_path_factory.mktemp("k3d"), name)
    with created_by_up(profile, ["k3d", "cluster", "delete", name]):
        yield profile


def cluster_name(profile: Path) -> str:
    return str(yaml.safe_load(profile.read_text())["cluster"]["name"])


def test_up_creates_a_ready_k3s_node_and_a_private_kubeconfig(cluster: Path) -> None:
    name = cluster_name(cluster)
    kubeconfig = cluster.parent / "state" / "kubeconfig"

    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["current-context"] == "tierk3d"
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    nodes = containers_of(f"k3d.cluster={name}")
    assert nodes == [f"k3d-{name}-server-0"], nodes  # no load balancer, no agents
    gate = stage_of(last_report(cluster), "cluster_k3d")
    assert gate["status"] == "changed", gate
    assert "1 nodes Ready" in str(gate), gate


def test_a_pod_really_runs_and_answers_through_its_node_port(cluster: Path) -> None:
    assert_probe_runs_and_answers(cluster.parent / "state" / "kubeconfig")


def test_a_second_up_is_a_no_op(cluster: Path) -> None:
    assert_rerun_is_a_no_op(cluster, "cluster_k3d")


def test_the_lb_range_comes_from_the_clusters_docker_network(cluster: Path) -> None:
    name = cluster_name(cluster)
    subnet = docker("network", "inspect", f"k3d-{name}", "--format",
                    "{{range .IPAM.Config}}{{.Subnet}} {{end}}").stdout.split()[0]
    profile = loader.load(str(cluster))
    ctx = Context(profile=profile, runner=runner.LocalRunner(),
                  state_dir=cluster.parent / "state", clock=wait.RealClock())

    assert list(ClusterK3d().plan(ctx)) == []

    assert ctx.cluster.lb_range == lb_range_from_subnet(subnet)


def test_a_stopped_cluster_is_started_again_not_created(cluster: Path) -> None:
    name = cluster_name(cluster)
    tool("k3d", "cluster", "stop", name)

    run = invoke("up", cluster)

    assert run.code == 0, run
    stage = stage_of(last_report(cluster), "cluster_k3d")
    assert stage["changes"] == [
        f"start k3d cluster {name} (0/1 servers, 0/0 agents running)"], stage


def test_a_changed_shape_is_refused_then_recreated_with_recreate(cluster: Path) -> None:
    name = cluster_name(cluster)
    before = docker("inspect", "-f", "{{.Id}}", f"k3d-{name}-server-0").stdout.strip()
    args = "cluster.k3d.k3s_args=" + yaml.safe_dump(
        [*TIER_K3D["k3s_args"], "--node-label=tier=recreated@server:*"], default_flow_style=True
    ).strip()

    refused = invoke("up", cluster, args)

    assert refused.code != 0, refused
    assert "--recreate" in refused.text, refused
    assert "k3s_args" in refused.text, refused
    assert docker("inspect", "-f", "{{.Id}}", f"k3d-{name}-server-0").stdout.strip() == before

    run = invoke("up", cluster, args, recreate=True)

    assert run.code == 0, run
    after = docker("inspect", "-f", "{{.Id}}", f"k3d-{name}-server-0").stdout.strip()
    assert after != before


def test_down_deletes_the_cluster_and_leaves_nothing_in_the_engine(cluster: Path) -> None:
    name = cluster_name(cluster)

    run = invoke("down", cluster)

    assert run.code == 0, run
    assert f"deleted k3d cluster {name}" in run.text
    assert containers_of(f"k3d.cluster={name}") == []
    assert not network_exists(f"k3d-{name}")
    assert not (cluster.parent / "state" / "kubeconfig").exists()


def test_down_leaves_a_k3d_cluster_made_by_hand(tmp_path: Path) -> None:
    name = unique("cb-hand")
    tool("k3d", "cluster", "create", name, "--no-lb", "--wait", "--timeout", "600s",
         *(a for arg in TIER_K3D["k3s_args"] for a in ("--k3s-arg", f"{arg}@server:*")),
         "--k3s-arg", "--kubelet-arg=fail-cgroupv1=false@server:*",  # this VM: cgroup v1
         "--kubeconfig-update-default=false")
    try:
        profile = k3d_profile(tmp_path, name)
        assert invoke("up", profile).code == 0  # attaches: the cluster is there

        run = invoke("down", profile)

        assert run.code == 0, run
        assert "left as it is, nothing deleted" in run.text, run
        assert containers_of(f"k3d.cluster={name}") == [f"k3d-{name}-server-0"]
    finally:
        tool("k3d", "cluster", "delete", name, check=False)
