"""cluster_k3d against a fake `k3d` whose clusters are real local control planes: what it
runs, what it writes, how it re-runs, fails, resumes and tears down."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from bootstrap import wait
from bootstrap.controlplane.layout import read_pid
from bootstrap.processes import runner, tools
from bootstrap.profile import loader
from bootstrap.stage import Context
from stages.cluster_k3d import ClusterK3d
from tests.providers.fakeenv import PLATFORM_OFF, REPO, FakeMachine

CREATE_FLAGS = ["--servers", "1", "--agents", "1", "--wait", "--timeout", "300s",
                "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false"]


def k3d_profile(machine: FakeMachine, **cluster: object) -> Path:
    return machine.profile("dev", "k3d", k3d={"servers": 1, "agents": 1}, **cluster)


def fake_clusters(machine: FakeMachine) -> dict[str, dict[str, object]]:
    return machine.clusters("k3d")


def test_up_on_a_fresh_machine_creates_the_cluster_without_touching_the_users_kubeconfig(
    cluster_machine: FakeMachine,
) -> None:
    run = cluster_machine.invoke("up", k3d_profile(cluster_machine))

    assert run.code == 0, run.text
    assert cluster_machine.calls("k3d") == [
        ["cluster", "list", "-o", "json"],
        ["cluster", "create", "cb-dev", *CREATE_FLAGS],
        ["kubeconfig", "get", "cb-dev"],
    ]
    assert not (cluster_machine.home / ".kube").exists()
    kubeconfig = cluster_machine.root / "state-dev" / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["dev"]
    assert doc["current-context"] == "dev"
    port = fake_clusters(cluster_machine)["cb-dev"]["port"]
    assert cluster_machine.report("dev")["cluster"] == {
        "kubeconfig": str(kubeconfig), "context": "dev", "api_url": f"https://127.0.0.1:{port}",
    }
    stage = cluster_machine.stage("dev", "cluster_k3d")
    assert stage["status"] == "changed"
    assert stage["changes"] == ["create k3d cluster cb-dev (1 servers, 1 agents)"]
    assert stage["why"].startswith("2 nodes Ready")


def test_a_second_up_creates_nothing_and_leaves_the_stage_unchanged(
    cluster_machine: FakeMachine,
) -> None:
    profile = k3d_profile(cluster_machine)
    assert cluster_machine.invoke("up", profile).code == 0
    kubeconfig = cluster_machine.root / "state-dev" / "kubeconfig"
    written = kubeconfig.stat().st_mtime_ns
    before = len(cluster_machine.calls("k3d"))

    run = cluster_machine.invoke("up", profile)

    assert run.code == 0, run.text
    assert cluster_machine.calls("k3d")[before:] == [
        ["cluster", "list", "-o", "json"],
        ["kubeconfig", "get", "cb-dev"],
    ]
    stage = cluster_machine.stage("dev", "cluster_k3d")
    assert (stage["status"], stage["changes"]) == ("unchanged", [])
    assert kubeconfig.stat().st_mtime_ns == written


def test_the_published_cluster_carries_an_lb_range_from_the_k3d_docker_network(
    cluster_machine: FakeMachine,
) -> None:
    profile_file = k3d_profile(cluster_machine)
    assert cluster_machine.invoke("up", profile_file).code == 0
    profile = loader.load(str(profile_file))
    ctx = Context(profile=profile, runner=runner.LocalRunner(), state_dir=cluster_machine.root
                  / "state-dev", clock=wait.RealClock())

    assert list(ClusterK3d().plan(ctx)) == []

    assert ctx.cluster.lb_range == "172.19.255.200-172.19.255.250"
    assert ctx.cluster.provider == "k3d"
    assert ["network", "inspect", "k3d-cb-dev", "--format", "{{json .IPAM.Config}}"] in (
        cluster_machine.calls("docker")
    )


def test_a_stopped_cluster_is_started_not_created_again(cluster_machine: FakeMachine) -> None:
    profile = k3d_profile(cluster_machine)
    assert cluster_machine.invoke("up", profile).code == 0
    cluster_machine.tool("k3d", "cluster", "stop", "cb-dev")
    before = len(cluster_machine.calls("k3d"))

    run = cluster_machine.invoke("up", profile)

    assert run.code == 0, run.text
    calls = cluster_machine.calls("k3d")[before:]
    assert ["cluster", "start", "cb-dev", "--wait"] in calls
    assert not [c for c in calls if c[:2] == ["cluster", "create"]]
    assert cluster_machine.stage("dev", "cluster_k3d")["changes"] == [
        "start k3d cluster cb-dev (0/1 servers, 0/1 agents running)"
    ]


def test_plan_without_k3d_shows_the_create_change_with_how_to_install_k3d(
    machine: FakeMachine,
) -> None:
    machine.install("docker")
    dev_like = machine.root / "dev.yaml"
    dev_like.write_text(yaml.safe_dump({
        "extends": str(REPO / "profiles" / "dev.yaml"),
        "state_dir": str(machine.root / "state-dev"),
        # Off: planning them fetches their pinned manifests, and tests stay on loopback.
        "components": PLATFORM_OFF,
        "root_app": {"enabled": False},
    }))

    run = machine.invoke("plan", dev_like)

    assert run.code == 0, run.text
    numbered = [line for line in run.out.splitlines() if line[:3].strip().endswith(".")]
    rows = [line.split(maxsplit=2) for line in numbered]
    assert rows[0][1:] == ["cluster_k3d", "would change"]
    assert (f"- create k3d cluster clusterboot-dev (1 servers, 2 agents) "
            f"(k3d is not installed: {tools.install_hint('k3d')})") in run.out
    later = {row[1]: row[2].strip() for row in rows[1:]}
    assert later, run.out
    assert set(later.values()) <= {"cannot know yet", "skipped"}, run.out
    assert machine.calls() == []
    assert not (machine.root / "state-dev" / "kubeconfig").exists()


def test_up_without_k3d_exits_2_naming_k3d_and_how_to_install_it_and_runs_nothing(
    machine: FakeMachine,
) -> None:
    machine.install("docker")

    run = machine.invoke("up", k3d_profile(machine))

    assert run.code == 2, run.text
    assert "k3d is not on PATH" in run.err
    assert tools.install_hint("k3d") in run.err
    assert machine.calls() == []


def test_a_failing_create_names_the_command_and_its_stderr_and_a_rerun_converges(
    cluster_machine: FakeMachine,
) -> None:
    profile = k3d_profile(cluster_machine)
    cluster_machine.monkeypatch.setenv("FAKE_FAIL", "k3d cluster create")
    cluster_machine.monkeypatch.setenv(
        "FAKE_FAIL_STDERR", "FATA[0003] Failed Cluster Creation: port 6550 is already allocated"
    )

    failed = cluster_machine.invoke("up", profile)

    assert failed.code == 1, failed.text
    summary = failed.out
    assert "failed: cluster_k3d" in summary
    assert "`k3d cluster create cb-dev --servers 1" in summary
    assert "port 6550 is already allocated" in summary
    assert fake_clusters(cluster_machine) == {}

    cluster_machine.monkeypatch.delenv("FAKE_FAIL")
    again = cluster_machine.invoke("up", profile)

    assert again.code == 0, again.text
    creates = [c for c in cluster_machine.calls("k3d") if c[:2] == ["cluster", "create"]]
    assert len(creates) == 2
    assert cluster_machine.stage("dev", "cluster_k3d")["status"] == "changed"


def test_down_deletes_the_cluster_the_profile_created_and_its_kubeconfig(
    cluster_machine: FakeMachine,
) -> None:
    from tests.providers.fakes import fakelib

    profile = k3d_profile(cluster_machine)
    assert cluster_machine.invoke("up", profile).code == 0
    plane = fakelib.plane("k3d", "cb-dev", fake_clusters(cluster_machine)["cb-dev"])
    keeper = read_pid(plane.layout.keeper_pid)
    assert keeper is not None
    assert runner.pid_alive(keeper)

    run = cluster_machine.invoke("down", profile)

    assert run.code == 0, run.text
    assert ["cluster", "delete", "cb-dev"] in cluster_machine.calls("k3d")
    assert "deleted k3d cluster cb-dev" in run.out
    assert fake_clusters(cluster_machine) == {}
    assert not runner.pid_alive(keeper)
    assert not (cluster_machine.root / "state-dev" / "kubeconfig").exists()

    again = cluster_machine.invoke("down", profile)

    assert again.code == 0, again.text
    assert "no k3d cluster cb-dev; nothing to delete" in again.out
    deletes = [c for c in cluster_machine.calls("k3d") if c[:2] == ["cluster", "delete"]]
    assert len(deletes) == 1


def test_down_for_an_attached_k3d_cluster_deletes_nothing(machine: FakeMachine) -> None:
    run = machine.invoke("down", k3d_profile(machine, attach=True))

    assert run.code == 0, run.text
    assert "is attached (cluster.attach: true), so it is never torn down" in run.out
    assert machine.calls() == []


def test_up_for_an_attached_k3d_cluster_that_does_not_exist_fails_without_creating_it(
    machine: FakeMachine,
) -> None:
    run = machine.invoke("up", k3d_profile(machine, attach=True))

    assert run.code == 1, run.text
    assert "k3d cluster cb-dev does not exist and the profile attaches to it" in run.out
    assert machine.calls("k3d") == [["cluster", "list", "-o", "json"]]
