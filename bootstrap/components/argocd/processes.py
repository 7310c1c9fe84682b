"""Argo CD as local processes: redis, repo-server, application-controller and
applicationset-controller, run by the local cluster's keeper inside its network namespace (or by
the process host's, for another cluster) and bound to 127.0.0.1 there.

In-cluster mode is faked the way Argo CD's own development setup does it
(``ARGOCD_FAKE_IN_CLUSTER=true`` with the in-cluster address taken from ``KUBECONFIG``). The
repo-server runs ``git``, ``helm`` and ``kustomize`` from ``PATH``; the last two are built
next to the Argo CD binary by ``make argocd``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from bootstrap import secrets
from bootstrap.artifacts import install
from bootstrap.controlplane.layout import Layout
from bootstrap.errors import InputError

REDIS_PORT = 6379
REPO_SERVER_PORT = 8081
CONTROLLER_METRICS_PORT = 8082
REPO_METRICS_PORT = 8084
APPSET_PROBE_ADDR = "127.0.0.1:8085"
APPSET_METRICS_ADDR = "127.0.0.1:8086"
APPSET_WEBHOOK_ADDR = "127.0.0.1:8087"
NAMES = (
    "argocd-redis",
    "argocd-repo-server",
    "argocd-application-controller",
    "argocd-applicationset-controller",
)
BUILD_HINT = "run `make argocd` (builds Argo CD, helm and kustomize from Go modules)"


def bin_dir(binaries_root: Path, version: str) -> Path:
    return binaries_root / f"argocd-{version}"


def verify(directory: Path) -> Path:
    """The Argo CD binary, helm, kustomize and the manifests, or an InputError saying how."""
    needed = [directory / n for n in ("argocd", "helm", "kustomize")]
    missing = [str(p) for p in needed if not os.access(p, os.X_OK)]
    if not (directory / "manifests" / "core-install.yaml").is_file():
        missing.append(str(directory / "manifests" / "core-install.yaml"))
    if missing:
        raise InputError(
            f"Argo CD for processes mode is missing: {', '.join(missing)}", hint=BUILD_HINT
        )
    if shutil.which("redis-server") is None:
        raise InputError(
            "redis-server is not on PATH; Argo CD's controllers need it",
            hint="install it: apt-get install redis-server (or brew install redis)",
        )
    if shutil.which("git") is None:
        raise InputError(
            "git is not on PATH; Argo CD's repo-server needs it",
            hint="install it: apt-get install git",
        )
    return directory


def write_kubeconfig(layout: Layout, *, namespace: str) -> Path:
    """The components' kubeconfig: the cluster's admin one, defaulting to Argo CD's namespace."""
    home = layout.root / "argocd"
    doc = yaml.safe_load(layout.admin_kubeconfig.read_text())
    for context in doc.get("contexts", []):
        context["context"]["namespace"] = namespace
    path = home / "kubeconfig"
    secrets.write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
    for sub in ("tls", "ssh", "gnupg"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def components(
    layout: Layout, *, directory: Path, namespace: str, sync_timeout: int = 0
) -> list[dict[str, Any]]:
    """The keeper's component entries, in start order. ``sync_timeout``: what the install's
    argocd-cmd-params-cm says, passed as the flag the Deployment would read it into."""
    home = layout.root / "argocd"
    kubeconfig = str(home / "kubeconfig")
    binary = str(directory / "argocd")
    env = {
        "HOME": str(home),
        "PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "KUBECONFIG": kubeconfig,
        "ARGOCD_FAKE_IN_CLUSTER": "true",
        "ARGOCD_GPG_ENABLED": "false",
        "ARGOCD_TLS_DATA_PATH": str(home / "tls"),
        "ARGOCD_SSH_DATA_PATH": str(home / "ssh"),
        "ARGOCD_GNUPGHOME": str(home / "gnupg"),
    }
    redis = f"127.0.0.1:{REDIS_PORT}"
    repo = f"127.0.0.1:{REPO_SERVER_PORT}"

    def entry(name: str, argv: list[str], port: int) -> dict[str, Any]:
        return {
            "name": name,
            "argv": argv,
            "env": {**env, "ARGOCD_BINARY_NAME": name},
            "log": str(layout.log_file(name)),
            "ready": {"kind": "tcp", "host": "127.0.0.1", "port": port},
            "ready_timeout": 60,
        }

    return [
        entry(
            "argocd-redis",
            [
                str(shutil.which("redis-server") or "redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            REDIS_PORT,
        ),
        entry(
            "argocd-repo-server",
            [
                binary,
                "--port",
                str(REPO_SERVER_PORT),
                "--address",
                "127.0.0.1",
                "--redis",
                redis,
                "--disable-tls",
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                str(REPO_METRICS_PORT),
            ],
            REPO_SERVER_PORT,
        ),
        entry(
            "argocd-application-controller",
            [
                binary,
                "--redis",
                redis,
                "--repo-server",
                repo,
                "--repo-server-plaintext",
                "--kubeconfig",
                kubeconfig,
                "--metrics-port",
                str(CONTROLLER_METRICS_PORT),
                "--sync-timeout",
                str(sync_timeout),
            ],
            CONTROLLER_METRICS_PORT,
        ),
        entry(
            "argocd-applicationset-controller",
            [
                binary,
                "--argocd-repo-server",
                repo,
                "--repo-server-plaintext",
                "--kubeconfig",
                kubeconfig,
                "--namespace",
                namespace,
                "--probe-addr",
                APPSET_PROBE_ADDR,
                "--metrics-addr",
                APPSET_METRICS_ADDR,
                "--webhook-addr",
                APPSET_WEBHOOK_ADDR,
            ],
            int(APPSET_PROBE_ADDR.rsplit(":", 1)[1]),
        ),
    ]


def install_objects(directory: Path) -> list[dict[str, Any]]:
    """Argo CD's objects from the core install of the built version, without its workloads
    (the processes above stand in for them). A private copy: callers may change it."""
    docs = install.manifest_file(directory / "manifests" / "core-install.yaml", rebuild=BUILD_HINT)
    return [d for d in docs if d.get("kind") not in {"Deployment", "StatefulSet"}]
