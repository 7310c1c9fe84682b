"""Parts of the cluster killed while `up` walks the waves of the sample repository: Argo CD's
application-controller, its repo-server, kube-apiserver and etcd, one at the start of each of
the first four waves. The keeper restarts each (as the kubelet would), and the same run ends
with every app Synced and Healthy. bench/restarts.py runs the wider matrix (apply, gate and
walk; one victim per run)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from bootstrap.commands import app
from bootstrap.controlplane.layout import read_pid, read_state
from tests.integration.test_real_argocd import SANDBOX, needs_argocd, report, sandbox_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

VICTIMS = ["argocd-application-controller", "argocd-repo-server", "kube-apiserver", "etcd"]


class Tripwire(io.StringIO):
    """The run's JSON log; at each ``wave.start``, the next victim gets SIGKILL."""

    def __init__(self, pids: Path) -> None:
        super().__init__()
        self.pids, self.waiting = pids, list(VICTIMS)
        self.killed: dict[str, int] = {}

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if self.waiting and line.startswith("{") and '"wave.start"' in line:
                event: dict[str, Any] = json.loads(line)
                victim = self.waiting.pop(0)
                pid = read_pid(self.pids / f"{victim}.pid")
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    self.killed[victim] = event["wave"]
        return super().write(text)


@needs_argocd
def test_the_walk_rides_out_killed_controllers_an_apiserver_and_etcd(tmp_path: Path) -> None:
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    cluster = sandbox_profile(tmp_path, "restarts", source)
    root = cluster.state_dir / "local-cluster"
    out, err = io.StringIO(), Tripwire(root / "pids")
    inv = app.Invocation(profile=str(cluster.profile_file), log_format="json", out=out, err=err)
    try:
        code = app.up(inv)
        assert code == 0, out.getvalue() + err.getvalue()[-4000:]
        assert list(err.killed) == VICTIMS, err.killed
        data = report(cluster)
        apps = [a for w in data["waves"] for a in w["apps"]]  # type: ignore[union-attr]
        assert len(apps) == 6
        assert all((a["sync"], a["health"]) == ("Synced", "Healthy") for a in apps)
        components = read_state(root / "state.json")["components"]
        assert all(components[v]["restarts"] >= 1 for v in VICTIMS), components
    finally:
        cluster.down()
