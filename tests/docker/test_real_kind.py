"""Real kind clusters through clusterboot: `kind create cluster` by the real CLI with the
shipped `kind` profile's node image, systemd, containerd and kubeadm in a node container, and a
pod that really runs. One cluster for the module (kubeadm takes a few minutes on 2 cores)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from bootstrap import wait
from bootstrap.processes import runner
from bootstrap.profile import loader
from bootstrap.stage import Context
from stages.cluster_common import lb_range_from_subnet
from stages.cluster_kind import ClusterKind
from tests.docker.tier import (
    PLATFORM_OFF,
    api,
    assert_probe_runs_and_answers,
    assert_rerun_is_a_no_op,
    containers_of,
    created_by_up,
    docker,
    invoke,
    kind_config,
    last_report,
    network_exists,
    stage_of,
    tool,
    unique,
    write_profile,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]


def kind_profile(directory: Path, name: str) -> Path:
    return write_profile(directory, "tierkind", {
        "extends": "kind",
        "cluster": {"name": name, "kind": {"config": str(kind_config(directory))}},
        "components": PLATFORM_OFF,
    })


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    name = unique("cb-kind")
    profile = kind_profile(tmp_path_factory.mktemp("kind"), name)
    with created_by_up(profile, ["kind", "delete", "cluster", "--name", name]):
        yield profile


def cluster_name(profile: Path) -> str:
    return str(yaml.safe_load(profile.read_text())["cluster"]["name"])


def test_up_creates_a_ready_node_from_the_pinned_image_and_a_private_kubeconfig(
    cluster: Path,
) -> None:
    name = cluster_name(cluster)
    kubeconfig = cluster.parent / "state" / "kubeconfig"

    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["current-context"] == "tierkind"
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    node = f"{name}-control-plane"
    assert containers_of(f"io.x-k8s.kind.cluster={name}") == [node]
    image = docker("inspect", "-f", "{{.Config.Image}}", node).stdout.strip()
    assert image == loader.load("kind").cluster.kind.node_image
    gate = stage_of(last_report(cluster), "cluster_kind")
    assert gate["status"] == "changed", gate
    assert "1 nodes Ready" in str(gate), gate


def test_a_pod_pulled_through_the_mirror_really_runs_and_answers_through_its_node_port(
    cluster: Path,
) -> None:
    assert_probe_runs_and_answers(cluster.parent / "state" / "kubeconfig")


def test_a_second_up_is_a_no_op(cluster: Path) -> None:
    assert_rerun_is_a_no_op(cluster, "cluster_kind")


def test_the_lb_range_comes_from_the_kind_docker_network(cluster: Path) -> None:
    subnets = docker("network", "inspect", "kind", "--format",
                     "{{range .IPAM.Config}}{{.Subnet}} {{end}}").stdout.split()
    ipv4 = next(s for s in subnets if ":" not in s)
    ctx = Context(profile=loader.load(str(cluster)), runner=runner.LocalRunner(),
                  state_dir=cluster.parent / "state", clock=wait.RealClock())

    assert list(ClusterKind().plan(ctx)) == []

    assert ctx.cluster.lb_range == lb_range_from_subnet(ipv4)


def test_down_deletes_the_cluster_and_leaves_nothing_in_the_engine(cluster: Path) -> None:
    name = cluster_name(cluster)

    run = invoke("down", cluster)

    assert run.code == 0, run
    assert f"deleted kind cluster {name}" in run.text
    assert containers_of(f"io.x-k8s.kind.cluster={name}") == []
    assert not (cluster.parent / "state" / "kubeconfig").exists()
    assert network_exists("kind")  # kind keeps its network for the next cluster, as upstream


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A kind cluster made by calling kind directly, as a user would on this host; its own
    kubeconfig file."""
    directory = tmp_path_factory.mktemp("hand")
    name, kubeconfig = unique("cb-hand"), directory / "hand.kubeconfig"
    # what a user on a cgroup v1 host adds for kubelet 1.35+
    config = kind_config(directory, "kind: KubeletConfiguration\nfailCgroupV1: false\n")
    try:
        tool("kind", "create", "cluster", "--name", name, "--image",
             str(loader.load("kind").cluster.kind.node_image), "--config", str(config),
             "--kubeconfig", str(kubeconfig), "--wait", "600s")
        yield name, kubeconfig
    finally:
        tool("kind", "delete", "cluster", "--name", name, check=False)


def test_down_leaves_a_kind_cluster_made_by_hand(
    hand_made: tuple[str, Path], tmp_path: Path
) -> None:
    name, _ = hand_made
    profile = kind_profile(tmp_path, name)
    assert invoke("up", profile).code == 0  # attaches: the cluster is there

    run = invoke("down", profile)

    assert run.code == 0, run
    assert "left as it is, nothing deleted" in run.text, run
    assert containers_of(f"io.x-k8s.kind.cluster={name}") == [f"{name}-control-plane"]


def test_docker_desktop_attaches_to_its_context_and_installs_nothing_it_should_not(
    hand_made: tuple[str, Path], tmp_path: Path
) -> None:
    name, original = hand_made
    doc = yaml.safe_load(original.read_text())
    for entry in doc["contexts"]:  # Docker Desktop's cluster is the context docker-desktop
        entry["name"] = "docker-desktop"
    doc["current-context"] = "docker-desktop"
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump(doc))
    kubeconfig.chmod(0o600)
    profile = write_profile(tmp_path, "tierdd", {
        "extends": "docker-desktop", "cluster": {"kubeconfig": str(kubeconfig)},
        "components": PLATFORM_OFF,
    })
    namespaces_before = namespaces(original)

    run = invoke("up", profile)

    assert run.code == 0, run
    assert stage_of(last_report(profile), "cluster_docker_desktop")["status"] != "failed"
    assert namespaces(original) == namespaces_before  # no metallb-system, argocd, ...
    assert invoke("down", profile).code == 0
    assert containers_of(f"io.x-k8s.kind.cluster={name}") == [f"{name}-control-plane"]


def namespaces(kubeconfig: Path) -> list[str]:
    with api(kubeconfig) as c:
        return sorted(n.metadata.name for n in client.CoreV1Api(c).list_namespace().items)
