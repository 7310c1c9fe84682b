"""The tool table: which tools a profile needs, what `doctor` finds on PATH (fake executables
that print a version), and `require` refusing before anything is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bootstrap.commands import preflight
from bootstrap.errors import MissingTool
from bootstrap.processes import runner, tools
from bootstrap.profile.schema import Profile

PROVIDER_SECTIONS: dict[str, dict[str, Any]] = {
    "k3s-ssh": {"k3s_ssh": {"ssh": {"host": "192.0.2.10"}}},
    "k3s-oci": {
        "k3s_oci": {
            "compartment_id": "ocid1.compartment.oc1..x",
            "availability_domain": "AD-1",
            "subnet_id": "ocid1.subnet.oc1..x",
            "image_id": "ocid1.image.oc1..x",
        }
    },
    "eks": {"eks": {"region": "eu-west-1"}},
}


def profile(provider: str, **extra: Any) -> Profile:
    """A profile for ``provider``; Sealed Secrets off (its default source is a chart: helm)."""
    cluster = {"provider": provider, "name": "c1", **PROVIDER_SECTIONS.get(provider, {})}
    components = {"sealed_secrets": {"enabled": False}, **extra.pop("components", {})}
    return Profile.model_validate(
        {"name": "p", "cluster": cluster, "components": components, **extra}
    )


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


@pytest.mark.parametrize(
    ("provider", "needed"),
    [
        ("local", []),
        ("kind", ["kind", "docker"]),
        ("k3d", ["k3d", "docker"]),
        ("k3s-ssh", ["ssh"]),
        ("k3s-oci", ["oci", "ssh"]),
        ("eks", ["eksctl", "aws"]),
        ("docker-desktop", []),
    ],
)
def test_each_provider_requires_its_own_tools_and_no_others(
    provider: str, needed: list[str]
) -> None:
    needs = preflight.tools_for(profile(provider))
    assert [n.name for n in needs if not n.optional] == needed
    assert all(n.needed_for for n in needs)
    assert "helm" not in [n.name for n in needs]


def test_the_local_profile_lists_go_only_as_optional_for_building_binaries() -> None:
    needs = preflight.tools_for(profile("local"))
    assert [(n.name, n.optional) for n in needs] == [("go", True)]


@pytest.mark.parametrize(
    ("sealed_secrets", "needs_helm"),
    [
        ({}, True),  # the default source for the pinned version is the upstream chart
        ({"source": {"url": "https://mirror.example/controller.yaml", "sha256": "0" * 64}}, False),
        ({"mode": "processes"}, False),  # built locally; its stage finds helm itself
        ({"enabled": False}, False),
    ],
)
def test_helm_is_needed_exactly_when_a_component_comes_from_a_chart(
    sealed_secrets: dict[str, Any], needs_helm: bool
) -> None:
    chosen = profile("local", components={"sealed_secrets": {"enabled": True, **sealed_secrets}})
    helm = [n for n in preflight.tools_for(chosen) if n.name == "helm"]
    assert bool(helm) == needs_helm
    assert all(n.needed_for == "Helm charts: sealed_secrets" for n in helm)


def test_argo_cd_as_local_processes_also_needs_redis_and_git() -> None:
    needs = preflight.tools_for(profile("local", components={"argocd": {"mode": "processes"}}))
    assert [n.name for n in needs if not n.optional] == ["redis-server", "git"]
    disabled = profile("local", components={"argocd": {"mode": "processes", "enabled": False}})
    assert [n.name for n in preflight.tools_for(disabled) if not n.optional] == []


def test_every_tool_in_the_table_has_a_version_probe_and_an_install_hint() -> None:
    for name, tool in tools.TOOLS.items():
        assert tool.version_argv[0] == name
        assert tool.install
    assert "go install github.com/k3d-io/k3d/v5@v5.9.0" in tools.install_hint("k3d")
    assert "go install helm.sh/helm/v3/cmd/helm@v3.21.4" in tools.install_hint("helm")
    assert "pip install oci-cli" in tools.install_hint("oci")
    assert tools.install_hint("frobnicate") == "install frobnicate and make sure it is on PATH"


def test_check_reports_found_tools_with_their_versions(bin_dir: Path) -> None:
    fake_tool(bin_dir, "kind", 'echo "kind v0.32.0 go1.26.0 linux/amd64"')
    fake_tool(bin_dir, "docker", 'echo "Docker version 28.1.1, build 4eba377"')
    statuses = tools.check(runner.LocalRunner(), preflight.tools_for(profile("kind")))
    assert [(s.name, s.version, s.ok) for s in statuses] == [
        ("kind", "v0.32.0", True),
        ("docker", "28.1.1", True),
    ]
    assert statuses[0].found_path == str(bin_dir / "kind")


def test_a_version_printed_on_stderr_is_read_too(bin_dir: Path) -> None:
    fake_tool(bin_dir, "ssh", 'echo "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19" >&2')
    [status] = tools.check(runner.LocalRunner(), preflight.tools_for(profile("k3s-ssh")))
    assert status.version == "9.2p1"


def test_a_failing_or_hanging_version_probe_still_counts_as_found(bin_dir: Path) -> None:
    fake_tool(bin_dir, "k3d", "echo 'unknown flag' >&2; exit 1")
    fake_tool(bin_dir, "docker", "exec sleep 30")
    needs = preflight.tools_for(profile("k3d"))
    statuses = tools.check(runner.LocalRunner(), needs, probe_timeout=0.3)
    assert [(s.name, s.version, s.ok) for s in statuses] == [
        ("k3d", "unknown", True),
        ("docker", "unknown", True),
    ]


def test_missing_tools_are_reported_with_how_to_install_them(bin_dir: Path) -> None:
    fake_tool(bin_dir, "eksctl", 'echo "0.210.0"')
    statuses = tools.check(runner.LocalRunner(), preflight.tools_for(profile("eks")))
    eksctl, aws = statuses
    assert (eksctl.version, eksctl.ok) == ("0.210.0", True)
    assert (aws.found_path, aws.version, aws.ok) == (None, None, False)
    assert "pip install awscli" in aws.install_hint


def test_require_names_the_first_missing_tool_and_how_to_install_it(bin_dir: Path) -> None:
    fake_tool(bin_dir, "k3d", 'echo "k3d version v5.9.0"')
    with pytest.raises(MissingTool) as caught:
        tools.require(runner.LocalRunner(), preflight.tools_for(profile("k3d")))
    assert caught.value.tool == "docker"
    assert "needed for the k3d cluster" in str(caught.value)
    assert "docker.io" in caught.value.hint


def test_require_passes_when_every_required_tool_is_there_and_ignores_optional_ones(
    bin_dir: Path,
) -> None:
    tools.require(runner.LocalRunner(), preflight.tools_for(profile("local")))  # go is optional
    fake_tool(bin_dir, "ssh", "true")
    tools.require(runner.LocalRunner(), preflight.tools_for(profile("k3s-ssh")))


def test_the_doctor_table_aligns_columns_and_shows_install_hints_for_missing_tools(
    bin_dir: Path,
) -> None:
    fake_tool(bin_dir, "kind", 'echo "kind v0.32.0 go1.26.0 linux/amd64"')
    statuses = tools.check(runner.LocalRunner(), preflight.tools_for(profile("kind")))
    lines = tools.render_table(statuses).splitlines()
    assert lines[0].split()[:4] == ["TOOL", "VERSION", "NEEDED", "FOR"]
    assert lines[1].split()[:3] == ["✓", "kind", "v0.32.0"]
    assert lines[1].endswith(str(bin_dir / "kind"))
    assert lines[2].split()[:3] == ["✗", "docker", "missing"]
    assert lines[2].endswith("install: " + tools.install_hint("docker"))
    headings = ["VERSION", "v0.32.0", "missing"]
    version_column = {line.index(word) for line, word in zip(lines, headings, strict=False)}
    assert len(version_column) == 1


def test_sealed_secrets_as_a_local_process_needs_unshare_for_its_mount_namespace() -> None:
    on = profile("local", components={"sealed_secrets": {"mode": "processes"}})
    assert [n.name for n in preflight.tools_for(on) if not n.optional] == ["unshare"]
    off = profile("local", components={"sealed_secrets": {"mode": "processes", "enabled": False}})
    assert [n.name for n in preflight.tools_for(off) if not n.optional] == []
