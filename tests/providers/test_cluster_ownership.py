"""`down` and `dr` touch only a cluster the profile created: against fake `k3d` and `kind`
whose clusters are real local control planes, made by the profile or by hand."""

from __future__ import annotations

import contextlib
import io
import stat
from collections.abc import Iterator
from pathlib import Path

from bootstrap.commands import app, dr
from bootstrap.kube import ownership
from tests.providers.fakeenv import FakeMachine, Run

SEALED_SECRETS_ON = "components.sealed_secrets.enabled=true"


HAND_MADE = {  # how a user makes and deletes a cluster with each tool
    "k3d": (["cluster", "create", "{}", "--wait"], ["cluster", "delete", "{}"]),
    "kind": (["create", "cluster", "--name", "{}"], ["delete", "cluster", "--name", "{}"]),
}


@contextlib.contextmanager
def made_by_hand(machine: FakeMachine, tool: str, name: str) -> Iterator[None]:
    """A ``tool`` cluster ``name`` made by calling the tool directly, deleted afterwards."""
    create, delete = HAND_MADE[tool]
    machine.tool(tool, *(arg.format(name) for arg in create))
    try:
        yield
    finally:
        machine.tool(tool, *(arg.format(name) for arg in delete))


def deletes(machine: FakeMachine, tool: str) -> list[list[str]]:
    return [c for c in machine.calls(tool) if "delete" in c]


def run_dr(machine: FakeMachine, profile: Path) -> Run:
    backup = machine.root / "keys.age"
    backup.write_bytes(dr.AGE_HEADER + b"-> X25519 not-a-real-stanza\n")
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(
        profile=str(profile), sets=(SEALED_SECRETS_ON,), log_format="json", out=out, err=err
    )
    return Run(dr.dr(inv, backup), out.getvalue(), err.getvalue())


def test_down_leaves_a_k3d_cluster_made_by_hand_that_up_attached_to(
    cluster_machine: FakeMachine,
) -> None:
    profile = cluster_machine.profile("dev", "k3d", k3d={"servers": 1, "agents": 0})
    with made_by_hand(cluster_machine, "k3d", "cb-dev"):
        assert cluster_machine.invoke("up", profile).code == 0

        run = cluster_machine.invoke("down", profile)

        assert run.code == 0, run.text
        assert "k3d cluster cb-dev was not created by this profile" in run.out
        assert "left as it is, nothing deleted" in run.out
        assert "k3d cluster delete cb-dev" in run.out  # how to delete it, if the user means to
        assert deletes(cluster_machine, "k3d") == []
        assert list(cluster_machine.clusters("k3d")) == ["cb-dev"]


def test_down_leaves_a_cluster_deleted_and_made_again_by_hand_under_the_same_name(
    cluster_machine: FakeMachine,
) -> None:
    profile = cluster_machine.profile("dev", "k3d", k3d={"servers": 1, "agents": 0})
    assert cluster_machine.invoke("up", profile).code == 0
    record = ownership.read(cluster_machine.root / "state-dev")
    assert record is not None
    assert (record.tool, record.name) == ("k3d", "cb-dev")
    assert record.uid  # the kube-system Namespace's, read once the cluster answered
    owner_file = ownership.record_path(cluster_machine.root / "state-dev")
    assert stat.S_IMODE(owner_file.stat().st_mode) == 0o600
    cluster_machine.tool("k3d", "cluster", "delete", "cb-dev")
    with made_by_hand(cluster_machine, "k3d", "cb-dev"):
        run = cluster_machine.invoke("down", profile)

        assert run.code == 0, run.text
        assert "is not the one this profile created" in run.out
        assert record.uid in run.out
        assert deletes(cluster_machine, "k3d") == [["cluster", "delete", "cb-dev"]]  # by hand
        assert list(cluster_machine.clusters("k3d")) == ["cb-dev"]


def test_down_after_up_deletes_the_kind_cluster_and_forgets_it(
    cluster_machine: FakeMachine,
) -> None:
    profile = cluster_machine.profile("kd", "kind")
    assert cluster_machine.invoke("up", profile).code == 0
    assert ownership.read(cluster_machine.root / "state-kd") is not None

    run = cluster_machine.invoke("down", profile)

    assert run.code == 0, run.text
    assert ["delete", "cluster", "--name", "cb-kd"] in cluster_machine.calls("kind")
    assert ownership.read(cluster_machine.root / "state-kd") is None


def test_dr_refuses_a_kind_cluster_made_by_hand_before_creating_or_deleting_anything(
    cluster_machine: FakeMachine,
) -> None:
    profile = cluster_machine.profile("kd", "kind")
    with made_by_hand(cluster_machine, "kind", "cb-kd"):
        before = len(cluster_machine.calls("kind"))

        run = run_dr(cluster_machine, profile)

        assert run.code == 2, run.text
        assert "dr rebuilds only a cluster this profile owns" in run.text
        assert "kind cluster cb-kd was not created by this profile" in run.text
        assert "key_backup=FILE" in run.text
        made = cluster_machine.calls("kind")[before:]
        assert [c for c in made if "create" in c or "delete" in c] == [], made


def test_dr_refuses_an_attached_k3d_cluster_and_docker_desktops(machine: FakeMachine) -> None:
    attached = run_dr(machine, machine.profile("dev", "k3d", attach=True))
    desktop = run_dr(machine, machine.profile("dd", "docker-desktop"))

    assert attached.code == 2, attached.text
    assert "is attached (cluster.attach: true)" in attached.text
    assert desktop.code == 2, desktop.text
    assert "belongs to Docker Desktop" in desktop.text
    assert machine.calls() == []
