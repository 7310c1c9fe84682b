"""The tier itself: sealed (no route out of its namespace, shown without sending a packet), its
engine and registry inside, the registry answering for upstream names."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.docker.tier import NETNS, docker, routes

pytestmark = pytest.mark.docker

REGISTRY = "172.31.251.1:5000"


def route_to(address: str) -> subprocess.CompletedProcess[str]:
    """The kernel's route lookup: a question to the routing table, no packet sent."""
    return subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)


def test_the_namespace_has_no_default_route_and_no_outside_address_is_routable() -> None:
    assert [r for r in routes() if r["dst"] == "default"] == []
    for outside in ("192.0.2.1", "10.0.0.1", "8.8.8.8"):  # documentation, private, public
        lookup = route_to(outside)
        assert lookup.returncode != 0, lookup.stdout
        assert "unreachable" in lookup.stderr.lower(), lookup.stderr


def test_the_engine_and_the_registry_run_inside_the_namespace() -> None:
    own = Path("/proc/self/ns/net").stat().st_ino
    run_dir = Path(os.environ["CLUSTERBOOT_DOCKER_TIER"])
    dockerd = int((run_dir / "docker.pid").read_text())
    registry = int((run_dir / "registry.pid").read_text())
    for pid in (dockerd, registry):
        assert Path(f"/proc/{pid}/ns/net").stat().st_ino == own, pid
    assert Path(f"/run/netns/{NETNS}").stat().st_ino == own


def test_the_registry_answers_for_upstream_names_under_their_host() -> None:
    for repo, tag in [("registry.k8s.io/pause", "3.10"), ("docker.io/library/busybox", "1.37")]:
        request = urllib.request.Request(
            f"http://{REGISTRY}/v2/{repo}/manifests/{tag}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - http on purpose
            assert answer.status == 200, repo


def test_privileged_containers_run_with_only_the_capabilities_this_machine_holds() -> None:
    shown = docker("run", "--rm", "--privileged", "docker.io/library/busybox:1.37",
                   "grep", "CapBnd", "/proc/self/status").stdout
    container = int(shown.split()[1], 16)
    host = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapBnd")).split()[1], 16)
    assert container & ~host == 0
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == "capfix"
