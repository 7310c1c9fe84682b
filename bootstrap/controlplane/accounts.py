"""ServiceAccount credentials for controllers run as local processes: a long-lived token
Secret the controller-manager fills (a TokenRequest token would expire under a cluster that runs
for days) and a kubeconfig that uses it, so a process has exactly the rights its upstream
install gives the pod, not the cluster admin's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bootstrap import secrets


def token_secret(name: str, namespace: str, account: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"kubernetes.io/service-account.name": account},
        },
    }


def write_kubeconfig(admin_kubeconfig: Path, out: Path, *, token: str, namespace: str) -> Path:
    """A kubeconfig (0600) for the admin one's cluster that authenticates with ``token``."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "service-account", "user": {"token": token}}],
        "contexts": [
            {
                "name": "service-account",
                "context": {
                    "cluster": cluster["name"],
                    "user": "service-account",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "service-account",
    }
    secrets.write_private(out, yaml.safe_dump(doc, sort_keys=False).encode())
    return out
