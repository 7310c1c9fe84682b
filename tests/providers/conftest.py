"""Fixtures for the providers tier: a fake machine per test, torn down with every cluster
(real processes) its fakes started, and a check that none of them outlives the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import wait
from bootstrap.controlplane import binaries
from bootstrap.controlplane.layout import read_pid
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster
from tests.providers.fakeenv import FakeMachine, control_plane_missing
from tests.providers.k3shost import SshHost, stop_all


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMachine]:
    fake = FakeMachine(tmp_path, monkeypatch)
    fake.home.mkdir()
    monkeypatch.setenv("CLUSTERBOOT_BIN_DIR", str(binaries.cache_dir(LocalCluster())))
    monkeypatch.setenv("HOME", str(fake.home))
    monkeypatch.setenv("FAKE_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_STATE", str(fake.state))
    for name in ("KUBECONFIG", "FAKE_FAIL", "FAKE_FAIL_STDERR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    fake.install("k3d", "kind", "docker")
    yield fake
    assert not _destroy_all(fake), "a fake cluster's keeper survived its teardown"


@pytest.fixture
def cluster_machine(machine: FakeMachine) -> FakeMachine:
    """A fake machine whose `k3d`/`kind` can start real local control planes."""
    why = control_plane_missing()
    if why:
        pytest.skip(f"the fake clusters are real local control planes: {why}")
    return machine


@pytest.fixture
def hosts() -> Iterator[list[SshHost]]:
    """SSH hosts a test starts (tests/providers/k3shost.py); stopped at the end, with the
    control planes their k3s stand-in started."""
    started: list[SshHost] = []
    yield started
    stop_all(started)


def _destroy_all(fake: FakeMachine) -> list[int]:
    """Destroy every cluster the fakes still know; return the keepers still alive after."""
    from tests.providers.fakes import fakelib

    keepers = []
    for tool in ("k3d", "kind", "eks"):
        for name, entry in fakelib.load(tool).items():
            plane = fakelib.plane(tool, name, entry)
            pid = read_pid(plane.layout.keeper_pid)
            plane.destroy(clock=wait.RealClock())
            if pid is not None:
                keepers.append(pid)
        fakelib.save(tool, {})
    return [pid for pid in keepers if runner.pid_alive(pid)]
