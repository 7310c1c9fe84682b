"""The docker tier: the real k3d against a real Docker engine, one throwaway cluster created
through `up` and deleted through `down`. Skipped, with the reason, where no engine runs (the
fake-k3d providers tier covers the same paths everywhere)."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap.commands import app
from bootstrap.processes import tools

pytestmark = pytest.mark.docker


def engine_missing() -> str | None:
    if shutil.which("docker") is None:
        return f"no docker client on PATH ({tools.install_hint('docker')})"
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "no Docker engine: `docker info` did not answer within 30s"
    if probe.returncode != 0:
        tail = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[-1:] or ["no output"]
        return f"no Docker engine: `docker info` failed: {tail[0]}"
    if shutil.which("k3d") is None:
        return f"k3d is not installed ({tools.install_hint('k3d')})"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def k3d_profile(tmp_path: Path) -> Iterator[Path]:
    why = engine_missing()
    if why:
        pytest.skip(why)
    name = f"cb-docker-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "real-k3d.yaml"
    path.write_text(yaml.safe_dump({
        "name": "realk3d",
        "state_dir": str(tmp_path / "state"),
        "cluster": {"provider": "k3d", "name": name,
                    "k3d": {"servers": 1, "agents": 0, "api_port": free_port()}},
        "components": {c: {"enabled": False} for c in ("metallb", "argocd", "sealed_secrets")},
    }))
    yield path
    # Whatever the test did, leave no cluster behind.
    subprocess.run(["k3d", "cluster", "delete", name], capture_output=True, timeout=300)


def invoke(command: str, profile: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
    code = {"up": app.up, "down": app.down}[command](inv)
    return code, out.getvalue() + err.getvalue()


def test_real_k3d_creates_a_ready_cluster_a_rerun_is_a_no_op_and_down_deletes_it(
    k3d_profile: Path,
) -> None:
    code, text = invoke("up", k3d_profile)
    assert code == 0, text
    kubeconfig = yaml.safe_load((k3d_profile.parent / "state" / "kubeconfig").read_text())
    assert kubeconfig["current-context"] == "realk3d"
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")

    code, text = invoke("up", k3d_profile)
    assert code == 0, text
    report = json.loads((k3d_profile.parent / "state" / "reports" / "last-up.json").read_text())
    stage = next(s for s in report["stages"] if s["name"] == "cluster_k3d")
    assert (stage["status"], stage["changes"]) == ("unchanged", [])

    code, text = invoke("down", k3d_profile)
    assert code == 0, text
    assert "deleted k3d cluster" in text
