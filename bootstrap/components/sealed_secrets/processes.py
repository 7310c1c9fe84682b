"""The Sealed Secrets controller as a local process beside the local cluster, run by the keeper
inside the cluster's network namespace (or the process host's) and bound to 127.0.0.1 there.

The controller knows only in-cluster configuration (``rest.InClusterConfig``): the API address
from ``KUBERNETES_SERVICE_HOST``/``_PORT`` and its credentials from
``/var/run/secrets/kubernetes.io/serviceaccount``. So it runs in a private mount namespace where
a tmpfs over ``/run`` (``/var/run`` on Debian-like systems) holds that directory, bound from the
state directory: a long-lived token of its own ServiceAccount (a ``service-account-token``
Secret the controller-manager fills), the cluster CA and the namespace. Its ServiceAccount and
RBAC come from Sealed Secrets' own chart, built beside the binary by ``make binaries``, so the
process has exactly the rights the upstream install gives the pod.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bootstrap import secrets
from bootstrap.components.sealed_secrets import mounts
from bootstrap.controlplane import accounts
from bootstrap.controlplane.layout import Layout
from bootstrap.errors import InputError

NAME = "sealed-secrets-controller"
GROUP = "sealed-secrets"
ACCOUNT = "sealed-secrets-controller"
TOKEN_SECRET = "sealed-secrets-controller-token"  # noqa: S105 - a name, not a credential
LISTEN = "127.0.0.1:8090"
METRICS = "127.0.0.1:8091"
BUILD_HINT = "run `make binaries` (builds the Sealed Secrets controller, kubeseal and its chart)"
SERVICE_ACCOUNT_DIR = "/run/secrets/kubernetes.io/serviceaccount"


def bin_dir(binaries_root: Path, version: str) -> Path:
    return binaries_root / f"sealed-secrets-{version}"


def verify(directory: Path) -> Path:
    """The controller, kubeseal and the chart, or an InputError saying how to build them."""
    needed = [directory / "controller", directory / "kubeseal"]
    missing = [str(p) for p in needed if not os.access(p, os.X_OK)]
    if not (directory / "chart" / "Chart.yaml").is_file():
        missing.append(str(directory / "chart" / "Chart.yaml"))
    if missing:
        raise InputError(
            f"Sealed Secrets for processes mode is missing: {', '.join(missing)}",
            hint=BUILD_HINT,
        )
    mounts.require_tools("the Sealed Secrets controller")
    return directory


def token_secret(namespace: str) -> dict[str, Any]:
    """A long-lived token for the controller's ServiceAccount, filled by the controller-manager."""
    return accounts.token_secret(TOKEN_SECRET, namespace, ACCOUNT)


def account_dir(layout: Layout) -> Path:
    return layout.root / "sealed-secrets" / "serviceaccount"


def write_account(layout: Layout, *, token: str, namespace: str, ca: bytes) -> Path:
    """The service-account directory the controller sees (token and namespace 0600) with the
    cluster's CA certificate ``ca``."""
    directory = account_dir(layout)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    secrets.write_private(directory / "token", token.encode())
    secrets.write_private(directory / "namespace", namespace.encode())
    (directory / "ca.crt").write_bytes(ca)
    return directory


def components(
    layout: Layout, *, directory: Path, namespace: str, api_port: int
) -> list[dict[str, Any]]:
    """The keeper's component entry for the controller (``api_port``: the API server's port
    where it runs)."""
    argv = mounts.bound(
        tmpfs="/run",
        source=str(account_dir(layout)),
        target=SERVICE_ACCOUNT_DIR,
        argv=[
            str(directory / "controller"),
            f"--listen-addr={LISTEN}",
            f"--listen-metrics-addr={METRICS}",
        ],
    )
    host, _, port = LISTEN.rpartition(":")
    return [
        {
            "name": NAME,
            "argv": argv,
            "env": {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(api_port),
                "POD_NAMESPACE": namespace,
            },
            "log": str(layout.log_file(NAME)),
            "ready": {"kind": "tcp", "host": host, "port": int(port)},
            "ready_timeout": 90,
        }
    ]
