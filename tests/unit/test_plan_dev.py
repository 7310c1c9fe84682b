"""`invoke plan --profile dev` on a machine with no cluster: the whole ordered DAG, the cluster
stage would create one, everything behind it "cannot know yet" (and nothing is fetched)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bootstrap.commands import app


def test_plan_for_dev_prints_the_ordered_dag_and_what_cannot_be_known_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no k3d, no docker: nothing exists yet
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    out, err = io.StringIO(), io.StringIO()
    code = app.plan(app.Invocation(profile="dev", log_format="json", out=out, err=err))
    assert code == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    rows = [line.split()[1:] for line in lines if line[:3].strip().rstrip(".").isdigit()]
    assert [r[0] for r in rows] == [
        "cluster_k3d",
        "metallb",
        "sealed_secrets",
        "argocd",
        "sandbox_repo",
        "root_app",
        "sync_waves",
    ]
    states = {r[0]: " ".join(r[1:]) for r in rows}
    assert states["cluster_k3d"] == "would change"
    assert "k3d is not installed" in out.getvalue()
    for name in ("metallb", "sealed_secrets", "argocd", "root_app", "sync_waves"):
        assert states[name] == "cannot know yet", name
