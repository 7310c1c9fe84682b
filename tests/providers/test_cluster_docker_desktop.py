"""cluster_docker_desktop: attach-only. The test's "Docker Desktop" is a real local control
plane made by the fake k3d, reached through a user kubeconfig whose context is docker-desktop."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import yaml

from tests.providers.fakeenv import FakeMachine

Entries = dict[str, list[dict[str, Any]]]
OTHER: Entries = {
    "clusters": [{"name": "prod", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "prod-admin", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
}


def user_kubeconfig(path: Path, *docs: Entries) -> Path:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                            "contexts": []}
    for doc in docs:
        for section in ("clusters", "users", "contexts"):
            body[section] += doc[section]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return path


def desktop_like_cluster(machine: FakeMachine) -> Entries:
    """A running cluster whose kubeconfig entries are all named docker-desktop, as Desktop's."""
    machine.tool("k3d", "cluster", "create", "desktop", "--servers", "1", "--agents", "0",
                 "--kubeconfig-update-default=false")
    doc = yaml.safe_load(machine.tool("k3d", "kubeconfig", "get", "desktop").stdout)
    for section in ("clusters", "users", "contexts"):
        doc[section][0]["name"] = "docker-desktop"
    doc["contexts"][0]["context"] = {"cluster": "docker-desktop", "user": "docker-desktop"}
    return {section: doc[section] for section in ("clusters", "users", "contexts")}


def test_a_missing_context_exits_2_naming_the_kubeconfig_and_the_contexts_it_has(
    machine: FakeMachine,
) -> None:
    config = user_kubeconfig(machine.home / ".kube" / "config", OTHER)
    profile = machine.profile("desk", "docker-desktop", attach=True)

    run = machine.invoke("up", profile)

    assert run.code == 2, run.text
    assert f"context 'docker-desktop' is not in kubeconfig {config}; contexts there: prod" in (
        run.err
    )
    assert "enable Kubernetes in Docker Desktop" in run.err
    assert not (machine.root / "state-desk" / "kubeconfig").exists()
    assert machine.calls() == []


def test_attaching_copies_only_its_context_and_down_deletes_nothing(
    cluster_machine: FakeMachine,
) -> None:
    first = user_kubeconfig(cluster_machine.root / "kube-a", OTHER)
    second = user_kubeconfig(cluster_machine.root / "kube-b", desktop_like_cluster(cluster_machine))
    cluster_machine.monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    user_files = {p: p.read_bytes() for p in (first, second)}
    profile = cluster_machine.profile("desk", "docker-desktop", attach=True)
    setup_calls = len(cluster_machine.calls())

    up = cluster_machine.invoke("up", profile)

    assert up.code == 0, up.text
    copy = cluster_machine.root / "state-desk" / "kubeconfig"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    doc = yaml.safe_load(copy.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["desk"]
    assert [c["name"] for c in doc["clusters"]] == ["desk"]
    assert "not-a-real-token" not in copy.read_text()
    assert cluster_machine.stage("desk", "cluster_docker_desktop")["why"].startswith(
        "1 nodes Ready"
    )
    assert cluster_machine.calls()[setup_calls:] == []

    down = cluster_machine.invoke("down", profile)

    assert down.code == 0, down.text
    assert "never torn down by clusterboot; nothing deleted" in down.out
    assert cluster_machine.calls()[setup_calls:] == []
    assert copy.is_file()
    assert {p: p.read_bytes() for p in (first, second)} == user_files
    listed = json.loads(cluster_machine.tool("k3d", "cluster", "list", "-o", "json").stdout)
    assert [(c["name"], c["serversRunning"]) for c in listed] == [("desktop", 1)]


def test_a_context_whose_cluster_does_not_answer_fails_saying_so_and_what_to_check(
    machine: FakeMachine,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "abcdefgh-not-a-real-token-12345678"
    stopped: Entries = {
        "clusters": [{"name": "docker-desktop",
                      "cluster": {"server": f"https://127.0.0.1:{port}",
                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "docker-desktop", "user": {"token": token}}],
        "contexts": [{"name": "docker-desktop",
                      "context": {"cluster": "docker-desktop", "user": "docker-desktop"}}],
    }
    user_kubeconfig(machine.home / ".kube" / "config", stopped)
    profile = machine.profile("desk", "docker-desktop", attach=True)
    body = yaml.safe_load(profile.read_text())
    body["timeouts"]["stage_seconds"] = 5
    profile.write_text(yaml.safe_dump(body))

    run = machine.invoke("up", profile)

    assert run.code == 1, run.text
    assert f"API server unreachable at https://127.0.0.1:{port}" in run.out
    assert "is the cluster running" in run.out
    assert "cluster-info" in run.out
    assert token not in run.text
    report = (machine.root / "state-desk" / "reports" / "last-up.json").read_text()
    assert token not in report
