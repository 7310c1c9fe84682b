"""Host-side control of a local cluster: observe it, start it, repair it, stop it.

The processes belong to the keeper (see ``keeper``), which outlives the ``invoke`` process.
Observation reads pid files, the keeper's ``state.json`` and ``/readyz`` through the relay;
nothing here remembers anything between runs.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bootstrap import secrets, wait
from bootstrap.controlplane import binaries, pki
from bootstrap.controlplane.layout import Layout, read_pid, read_state
from bootstrap.controlplane.spec import Ports, keeper_spec
from bootstrap.controlplane.supervision import KeeperHandle
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster, Profile

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class Observation:
    keeper_pid: int | None
    keeper_alive: bool
    alive: dict[str, bool] = field(default_factory=dict)
    stale_pid_files: tuple[str, ...] = ()
    phase: str = ""
    error: str = ""
    port_taken: bool = False

    @property
    def exists(self) -> bool:
        return self.keeper_alive or any(self.alive.values()) or bool(self.stale_pid_files)

    @property
    def dead_components(self) -> list[str]:
        return [name for name in COMPONENTS if not self.alive.get(name, False)]

    @property
    def healthy(self) -> bool:
        return self.keeper_alive and not self.dead_components and self.phase == "ready"


class LocalControlPlane(KeeperHandle):
    core = COMPONENTS
    webhooks_reachable = True  # the API server and the processes share the namespace
    where = "in the cluster's namespace"
    title = "local cluster's keeper"
    recreate_hint = (
        "recreate the cluster: `invoke down` then `invoke up` (the GitOps repository brings "
        "everything back)"
    )

    def __init__(
        self, cfg: LocalCluster, *, name: str, state_dir: Path, run: runner.LocalRunner
    ) -> None:
        super().__init__(Layout(state_dir / "local-cluster"))
        self.cfg = cfg
        self.name = name
        self.run = run

    @classmethod
    def for_profile(
        cls, profile: Profile, *, state_dir: Path, unisolated: bool, run: runner.Runner
    ) -> LocalControlPlane:
        """The local control plane a profile describes (``unisolated``: no network namespace)."""
        cfg = profile.cluster.local
        if unisolated:
            cfg = cfg.model_copy(update={"isolation": "none"})
        local = run if isinstance(run, runner.LocalRunner) else runner.LocalRunner()
        return cls(cfg, name=profile.cluster.name, state_dir=state_dir, run=local)

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.cfg.api_port}"

    def observe(self) -> Observation:
        keeper_pid = read_pid(self.layout.keeper_pid)
        keeper_alive = keeper_pid is not None and runner.pid_alive(keeper_pid)
        alive: dict[str, bool] = {}
        stale: list[str] = []
        for name in COMPONENTS:
            pid = read_pid(self.layout.pid_file(name))
            if pid is None:
                continue
            alive[name] = runner.pid_alive(pid)
            if not alive[name]:
                stale.append(name)
        if keeper_pid is not None and not keeper_alive:
            stale.append("keeper")
        state = read_state(self.layout.state_file)
        return Observation(
            keeper_pid=keeper_pid,
            keeper_alive=keeper_alive,
            alive=alive,
            stale_pid_files=tuple(stale),
            phase=str(state.get("phase", "")) if keeper_alive else "",
            error=str(state.get("error") or ""),
            port_taken=not keeper_alive and _port_in_use(self.cfg.api_port),
        )

    # -- changes ----------------------------------------------------------------------------
    def start(self, found: binaries.Binaries, *, clock: wait.Clock) -> None:
        """Generate what is missing (PKI, kubeconfigs, spec) and start the keeper."""
        self.layout.create()
        keys = pki.ensure(self.layout.pki_dir)
        ports = Ports.for_isolation(self.cfg.isolation, self.cfg.api_port)
        write_kubeconfig(
            self.layout.admin_kubeconfig,
            server=f"https://127.0.0.1:{ports.apiserver}",
            keys=keys,
            context=self.name,
        )
        spec = keeper_spec(
            self.cfg, name=self.name, layout=self.layout, pki=keys, binaries=found, ports=ports
        )
        self.launch(spec, run=self.run, clock=clock)

    def destroy(self, *, clock: wait.Clock) -> list[str]:
        stopped = self.stop(clock=clock)
        shutil.rmtree(self.layout.root, ignore_errors=True)
        return stopped


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def write_kubeconfig(path: Path, *, server: str, keys: pki.Pki, context: str) -> None:
    """A self-contained kubeconfig (certificates inlined), written 0600."""
    import base64

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": b64(keys.ca_cert)},
            }
        ],
        "users": [
            {
                "name": f"{context}-admin",
                "user": {
                    "client-certificate-data": b64(keys.admin_cert),
                    "client-key-data": b64(keys.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}
        ],
        "current-context": context,
    }
    secrets.write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())
