"""cluster_kind against a fake `kind` whose clusters are real local control planes."""

from __future__ import annotations

import stat

import yaml

from bootstrap.processes import tools
from tests.providers.fakeenv import FakeMachine


def kind_clusters(machine: FakeMachine) -> list[str]:
    return list(machine.clusters("kind"))


def test_up_creates_a_kind_cluster_writing_only_to_the_state_dir_and_a_second_up_is_a_no_op(
    cluster_machine: FakeMachine,
) -> None:
    profile = cluster_machine.profile("kd", "kind")
    kubeconfig = cluster_machine.root / "state-kd" / "kubeconfig"

    first = cluster_machine.invoke("up", profile)

    assert first.code == 0, first.text
    assert cluster_machine.calls("kind") == [
        ["get", "clusters"],
        ["create", "cluster", "--name", "cb-kd", "--wait", "300s", "--kubeconfig", str(kubeconfig)],
        ["get", "kubeconfig", "--name", "cb-kd"],
    ]
    assert cluster_machine.calls("docker") == [
        ["info", "--format", "{{.CgroupVersion}}"],  # cgroup v1 would need a kubelet patch
        ["network", "inspect", "kind", "--format", "{{json .IPAM.Config}}"],
    ]
    assert not (cluster_machine.home / ".kube").exists()
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["kd"]
    assert [c["name"] for c in doc["clusters"]] == ["kd"]
    assert cluster_machine.stage("kd", "cluster_kind")["changes"] == ["create kind cluster cb-kd"]
    before = len(cluster_machine.calls("kind"))

    second = cluster_machine.invoke("up", profile)

    assert second.code == 0, second.text
    assert cluster_machine.calls("kind")[before:] == [
        ["get", "clusters"], ["get", "kubeconfig", "--name", "cb-kd"],
    ]
    assert cluster_machine.stage("kd", "cluster_kind")["status"] == "unchanged"


def test_a_kind_config_with_workers_is_passed_on_the_gate_waits_for_all_and_down_deletes(
    cluster_machine: FakeMachine,
) -> None:
    (cluster_machine.root / "kind-3.yaml").write_text(yaml.safe_dump({
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
    }))
    profile = cluster_machine.profile("kw", "kind", kind={"config": "kind-3.yaml"})

    up = cluster_machine.invoke("up", profile)

    assert up.code == 0, up.text
    create = next(c for c in cluster_machine.calls("kind") if c[0] == "create")
    assert create[-2:] == ["--config", str(cluster_machine.root / "kind-3.yaml")]
    assert cluster_machine.stage("kw", "cluster_kind")["why"].startswith("3 nodes Ready")

    down = cluster_machine.invoke("down", profile)

    assert down.code == 0, down.text
    assert ["delete", "cluster", "--name", "cb-kw"] in cluster_machine.calls("kind")
    assert kind_clusters(cluster_machine) == []
    assert not (cluster_machine.root / "state-kw" / "kubeconfig").exists()


def test_a_missing_kind_config_file_exits_2_before_anything_runs(machine: FakeMachine) -> None:
    profile = machine.profile("kx", "kind", kind={"config": "nowhere.yaml"})

    run = machine.invoke("up", profile)

    assert run.code == 2, run.text
    assert f"cannot read kind config {machine.root / 'nowhere.yaml'}" in run.err
    assert machine.calls() == []


def test_plan_without_kind_shows_the_create_change_with_how_to_install_kind(
    machine: FakeMachine,
) -> None:
    machine.install("docker")

    run = machine.invoke("plan", machine.profile("kd", "kind"))

    assert run.code == 0, run.text
    assert (f"- create kind cluster cb-kd (kind is not installed: {tools.install_hint('kind')})"
            in run.out)
    assert machine.calls() == []
