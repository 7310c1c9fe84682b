"""The process host: a keeper without a control plane, for the platform components' processes
(``mode: processes``) on a cluster that does not run here (k3s over SSH, k3d, EKS, …).

Its keeper moves into a network namespace of its own that has only loopback, and relays one
port there, the API server's, to the cluster's API server on this machine's loopback. So the
processes reach the cluster's API and nothing else, as they do beside the local cluster; they
bind the same fixed ports inside. The API server cannot call back into that namespace, so what
a component would serve to the API server (MetalLB's webhooks) is left out
(``webhooks_reachable``).
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bootstrap import secrets, wait
from bootstrap.controlplane.layout import Layout
from bootstrap.controlplane.supervision import KeeperHandle
from bootstrap.errors import InputError
from bootstrap.kube import kubeconfig
from bootstrap.processes import runner

DIRECTORY = "process-host"


class ProcessHost(KeeperHandle):
    title = "process host"
    recreate_hint = "stop it with `invoke down`, then `invoke up` starts a current one"
    webhooks_reachable = False
    where = "on the process host"

    def __init__(self, state_dir: Path, *, run: runner.LocalRunner) -> None:
        super().__init__(Layout(state_dir / DIRECTORY))
        self.run = run

    @classmethod
    def for_state_dir(cls, state_dir: Path, run: runner.Runner) -> ProcessHost:
        local = run if isinstance(run, runner.LocalRunner) else runner.LocalRunner()
        return cls(state_dir, run=local)

    def cluster_ca(self) -> bytes:
        """The cluster's CA certificate (PEM), from the components' kubeconfig."""
        doc = yaml.safe_load(self.layout.admin_kubeconfig.read_text())
        cluster = doc["clusters"][0]["cluster"]
        if cluster.get("certificate-authority-data"):
            return base64.b64decode(cluster["certificate-authority-data"])
        return Path(cluster["certificate-authority"]).read_bytes()

    @staticmethod
    def api_target(api_url: str) -> tuple[str, int]:
        """The API server's address; refused unless it is on this machine's loopback."""
        parts = urlsplit(api_url)
        host = require_loopback(parts.hostname or "", shown=api_url)
        return host, parts.port or 443

    def current(self, source: Path, context: str, api_url: str) -> bool:
        """Its keeper runs, relaying to ``api_url``, with the components' kubeconfig current."""
        host, port = self.api_target(api_url)
        relays = self.spec().get("outbound") or []
        wanted = [{"listen": ["127.0.0.1", port], "target": [host, port]}]
        return (
            self.keeper_alive()
            and relays == wanted
            and kubeconfig.is_current(self.layout.admin_kubeconfig, _components_kubeconfig(
                source, context
            ))
        )

    def ensure(self, source: Path, context: str, api_url: str, *, clock: wait.Clock) -> None:
        """Start (or restart, when the cluster's address or credentials changed) the keeper,
        keeping the components the spec already names."""
        with self.locked():
            if not self.current(source, context, api_url):
                self._start(source, context, api_url, clock=clock)

    def _start(self, source: Path, context: str, api_url: str, *, clock: wait.Clock) -> None:
        self.stop(clock=clock)
        host, port = self.api_target(api_url)
        for directory in (self.layout.root, self.layout.logs, self.layout.pids):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = _components_kubeconfig(source, context)
        secrets.write_private(self.layout.admin_kubeconfig, text.encode())
        spec: dict[str, Any] = {
            "state_dir": str(self.layout.root),
            "isolation": "netns",
            "relays": [],
            "outbound": [{"listen": ["127.0.0.1", port], "target": [host, port]}],
            "components": self.spec()["components"],
        }
        self.launch(spec, run=self.run, clock=clock)


def require_loopback(host: str, *, shown: str) -> str:
    """``host`` as an address to dial, if it is this machine's loopback; else an InputError."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InputError(
            "mode: processes runs the platform components on this machine, and the cluster's "
            f"API server ({shown}) is not on this machine's loopback",
            hint="use mode: manifests (the default) on a cluster whose pods run; processes "
            "mode is for clusters that only simulate pods (kwok)",
        )
    return "127.0.0.1" if host == "localhost" else host


def _components_kubeconfig(source: Path, context: str) -> str:
    """The cluster's context alone: what the components authenticate with."""
    doc = kubeconfig.parse(source.read_text(), source=str(source))
    return kubeconfig.dump(kubeconfig.extract(doc, context))
