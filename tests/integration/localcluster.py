"""Helpers for the integration tier: a profile per local cluster, and calls into `up`/`down`."""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass
from pathlib import Path

import yaml

from bootstrap import kube
from bootstrap.commands import app

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalCluster:
    profile_file: Path
    state_dir: Path
    kubeconfig: Path
    api_port: int

    def invocation(self, *sets: str) -> tuple[app.Invocation, io.StringIO, io.StringIO]:
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(
            profile=str(self.profile_file), sets=sets, log_format="json", out=out, err=err
        )
        return inv, out, err

    def up(self, *sets: str) -> tuple[int, str, str]:
        inv, out, err = self.invocation(*sets)
        code = app.up(inv)
        return code, out.getvalue(), err.getvalue()

    def down(self) -> tuple[int, str]:
        inv, out, err = self.invocation()
        code = app.down(inv)
        return code, out.getvalue() + err.getvalue()

    def kube(self) -> kube.Kube:
        return kube.Kube.connect(self.kubeconfig)


def write_profile(directory: Path, name: str, **extra: object) -> LocalCluster:
    """A profile that extends the shipped `local` one, with its own state dir and port."""
    port = free_port()
    state = directory / "state"
    body: dict[str, object] = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": name,
        "state_dir": str(state),
        "cluster": {"name": f"cb-{name}", "local": {"api_port": port, "nodes": 2}},
        # The cluster alone unless a test asks for more: no Argo CD, no Sealed Secrets (and its
        # manifests mode when a test turns it on), no root app.
        "components": {
            "metallb": {"enabled": False, "mode": "manifests"},
            "argocd": {"enabled": False},
            "sealed_secrets": {"enabled": False, "mode": "manifests"},
        },
        "root_app": None,
    }
    body.update(extra)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return LocalCluster(path, state, state / "kubeconfig", port)
