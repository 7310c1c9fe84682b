"""Where network namespaces are unavailable the stage refuses (and says why) unless told to run
unisolated; unisolated, the same cluster runs on host loopback ports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootstrap.controlplane import netns
from bootstrap.controlplane.layout import read_pid
from tests.integration.localcluster import write_profile

pytestmark = pytest.mark.integration


def test_without_namespaces_up_refuses_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        netns, "available", lambda: (False, "this system has no Linux network namespaces")
    )
    cluster = write_profile(tmp_path, "nons")
    code, _, err = cluster.up()
    assert code == 2
    assert "cannot isolate the local cluster: this system has no Linux network namespaces" in err
    assert "--unisolated" in err
    assert not (cluster.state_dir / "local-cluster").exists()


def test_unisolated_runs_the_cluster_on_host_loopback(tmp_path: Path) -> None:
    cluster = write_profile(tmp_path, "unisolated")
    inv, out, err = cluster.invocation()
    inv.unisolated = True
    from bootstrap.commands import app

    try:
        assert app.up(inv) == 0, out.getvalue() + err.getvalue()
        pid = read_pid(cluster.state_dir / "local-cluster" / "pids" / "kube-apiserver.pid")
        assert pid is not None
        assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
        assert cluster.kube().server_version() == "v1.36.1"
    finally:
        inv2, _, _ = cluster.invocation()
        inv2.unisolated = True
        app.down(inv2)
