"""bootstrap.kube.kubeconfig: plain-dict kubeconfig handling, as tables."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from bootstrap.kube import kubeconfig
from bootstrap.kube.kubeconfig import KubeconfigError


def two_contexts() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "k3d-dev", "cluster": {"server": "https://0.0.0.0:6550"}},
            {"name": "prod", "cluster": {"server": "https://prod.example:6443"}},
        ],
        "users": [
            {"name": "admin@k3d-dev", "user": {"token": "dev-token"}},
            {"name": "prod-admin", "user": {"token": "prod-token"}},
        ],
        "contexts": [
            {"name": "k3d-dev", "context": {"cluster": "k3d-dev", "user": "admin@k3d-dev"}},
            {"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}},
        ],
        "current-context": "prod",
    }


def test_extract_keeps_only_the_context_its_cluster_and_its_user() -> None:
    one = kubeconfig.extract(two_contexts(), "k3d-dev")

    assert kubeconfig.context_names(one) == ["k3d-dev"]
    assert [c["name"] for c in one["clusters"]] == ["k3d-dev"]
    assert [u["name"] for u in one["users"]] == ["admin@k3d-dev"]
    assert one["current-context"] == "k3d-dev"
    assert "prod-token" not in kubeconfig.dump(one)


def test_extract_of_a_missing_context_names_the_contexts_that_exist() -> None:
    expected = r"no context 'docker-desktop' \(contexts: k3d-dev, prod\)"
    with pytest.raises(KubeconfigError, match=expected):
        kubeconfig.extract(two_contexts(), "docker-desktop")


def test_extract_refuses_a_context_whose_cluster_is_not_defined() -> None:
    doc = two_contexts()
    doc["clusters"] = doc["clusters"][1:]
    with pytest.raises(KubeconfigError, match="names cluster 'k3d-dev', which is not defined"):
        kubeconfig.extract(doc, "k3d-dev")


def test_rename_renames_the_context_and_the_cluster_and_user_only_it_uses() -> None:
    one = kubeconfig.extract(two_contexts(), "k3d-dev")

    renamed = kubeconfig.rename_context(one, "k3d-dev", "dev")

    assert renamed["contexts"] == [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}]
    assert [c["name"] for c in renamed["clusters"]] == ["dev"]
    assert [u["name"] for u in renamed["users"]] == ["dev"]
    assert renamed["current-context"] == "dev"


def test_rename_keeps_a_cluster_another_context_still_uses() -> None:
    doc = two_contexts()
    doc["contexts"].append({"name": "dev-ro", "context": {"cluster": "k3d-dev", "user": "x"}})

    renamed = kubeconfig.rename_context(doc, "k3d-dev", "dev")

    assert renamed["contexts"][0] == {"name": "dev", "context": {"cluster": "k3d-dev",
                                                                 "user": "dev"}}
    assert "k3d-dev" in [c["name"] for c in renamed["clusters"]]
    assert renamed["current-context"] == "prod"
    assert doc["contexts"][0]["name"] == "k3d-dev", "the input is left as it was"


def test_rename_of_an_unknown_context_fails() -> None:
    with pytest.raises(KubeconfigError, match="no context 'nope' to rename"):
        kubeconfig.rename_context(two_contexts(), "nope", "dev")


@pytest.mark.parametrize(
    ("context", "url"),
    [
        (None, "https://prod.example:6443"),
        ("k3d-dev", "https://0.0.0.0:6550"),
    ],
)
def test_api_url_is_the_server_of_the_contexts_cluster(context: str | None, url: str) -> None:
    assert kubeconfig.api_url_of(two_contexts(), context) == url


def test_api_url_of_a_context_without_a_cluster_fails() -> None:
    with pytest.raises(KubeconfigError, match="has no cluster with a server URL"):
        kubeconfig.api_url_of(two_contexts(), "missing")


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("https://0.0.0.0:6550", "https://127.0.0.1:6550"),
        ("https://0.0.0.0", "https://127.0.0.1"),
        ("https://127.0.0.1:6443", "https://127.0.0.1:6443"),
        ("https://kubernetes.docker.internal:6443", "https://kubernetes.docker.internal:6443"),
    ],
)
def test_loopback_servers_turns_only_the_any_address_into_127_0_0_1(
    server: str, expected: str
) -> None:
    doc = {"clusters": [{"name": "c", "cluster": {"server": server}}]}
    assert kubeconfig.loopback_servers(doc)["clusters"][0]["cluster"]["server"] == expected


def test_merge_lets_the_first_file_win_for_each_name_like_kubectl() -> None:
    first = {"contexts": [{"name": "a", "context": {"cluster": "one"}}], "current-context": "a"}
    second = {
        "contexts": [{"name": "a", "context": {"cluster": "two"}}, {"name": "b", "context": {}}],
        "current-context": "b",
    }

    merged = kubeconfig.merge([first, second])

    assert merged["contexts"] == [{"name": "a", "context": {"cluster": "one"}},
                                  {"name": "b", "context": {}}]
    assert merged["current-context"] == "a"


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        ("/etc/kc", {"KUBECONFIG": "/a"}, ["/etc/kc"]),
        (None, {"KUBECONFIG": f"/a{os.pathsep}{os.pathsep}/b"}, ["/a", "/b"]),
        (None, {}, [str(Path.home() / ".kube" / "config")]),
    ],
)
def test_user_files_follow_kubectls_precedence(
    explicit: str | None, env: dict[str, str], expected: list[str]
) -> None:
    assert [str(p) for p in kubeconfig.user_files(explicit, env=env)] == expected


@pytest.mark.parametrize(
    "text",
    ["a: [", "just a string", "contexts: 3"],
    ids=["not yaml", "not a mapping", "contexts not a list"],
)
def test_parse_rejects_what_is_not_a_kubeconfig(text: str) -> None:
    with pytest.raises(KubeconfigError, match=r"source\.yaml"):
        kubeconfig.parse(text, source="source.yaml")


def test_a_written_copy_is_private_and_current_until_its_content_or_mode_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "kubeconfig"
    text = kubeconfig.dump(two_contexts())
    assert not kubeconfig.is_current(path, text)

    kubeconfig.write(path, text)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kubeconfig.is_current(path, text)
    assert not kubeconfig.is_current(path, text + "# changed\n")
    path.chmod(0o644)
    assert not kubeconfig.is_current(path, text)


def test_a_kubeconfig_that_does_not_parse_is_placed_never_quoted() -> None:
    text = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n"
        "    token: eyJhbGciOi-secret-token-4411: [\n"
    )
    with pytest.raises(KubeconfigError) as raised:
        kubeconfig.parse(text, source="kubeconfig /k")
    assert "kubeconfig /k is not valid YAML at line 6, column" in str(raised.value)
    assert "secret-token-4411" not in str(raised.value)
