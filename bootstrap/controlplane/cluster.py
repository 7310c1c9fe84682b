"""Host-side control of a local cluster: observe it, start it, repair it, stop it.

The processes belong to the keeper (see ``keeper``), which outlives the ``invoke`` process.
Observation reads pid files, the keeper's ``state.json`` and ``/readyz`` through the relay;
nothing here remembers anything between runs.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bootstrap import secrets, wait
from bootstrap.controlplane import binaries, pki
from bootstrap.controlplane.layout import KEEPER_PROTOCOL, Layout, read_pid, read_state
from bootstrap.controlplane.spec import Ports, keeper_spec
from bootstrap.errors import ClusterbootError, GateFailed
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster, Profile
from bootstrap.wait import Verdict

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


class LocalControlPlane:
    def __init__(
        self, cfg: LocalCluster, *, name: str, state_dir: Path, run: runner.LocalRunner
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.layout = Layout(state_dir / "local-cluster")
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
        self.layout.spec_file.write_text(json.dumps(spec, indent=2) + "\n")
        self.layout.state_file.unlink(missing_ok=True)
        self.run.spawn_detached(
            [sys.executable, "-m", "bootstrap.controlplane.keeper", str(self.layout.spec_file)],
            log_file=self.layout.log_file("keeper"),
            cwd=Path(__file__).resolve().parents[2],
        )
        self.await_phase(clock=clock)

    def restart_dead(self, *, clock: wait.Clock) -> None:
        """Ask a living keeper to start the components that died (etcd data is kept)."""
        pid = read_pid(self.layout.keeper_pid)
        if pid is None:
            raise ClusterbootError("the keeper is gone", hint="run `invoke up` again")
        before = int(read_state(self.layout.state_file).get("generation", 0))
        runner.signal_process(pid, "HUP")
        self.await_phase(clock=clock, after_generation=before)

    def extra_components(self, group: str | None = None) -> list[dict[str, Any]]:
        """Components beyond the control plane that the keeper runs (e.g. Argo CD's), all or
        those of one ``group`` (as ``set_extra_components`` was given them)."""
        spec = json.loads(self.layout.spec_file.read_text())
        extras = [c for c in spec["components"] if c["name"] not in COMPONENTS]
        if group is None:
            return extras
        return [
            {k: v for k, v in c.items() if k != "group"} for c in extras if c.get("group") == group
        ]

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def pid(self, name: str) -> int | None:
        """The running component's pid; None when it does not run."""
        pid = read_pid(self.layout.pid_file(name))
        return pid if pid is not None and runner.pid_alive(pid) else None

    def started(self, name: str) -> float | None:
        """When the running component started (the keeper writes its pid file then)."""
        if self.pid(name) is None:
            return None
        try:
            return self.layout.pid_file(name).stat().st_mtime
        except OSError:
            return None

    def set_extra_components(
        self, extras: list[dict[str, Any]], *, group: str, clock: wait.Clock
    ) -> None:
        """Make the keeper run exactly these components for ``group`` (in this order), beside
        other groups', in the cluster's namespace, started after and stopped before the control
        plane."""
        self._require_protocol(KEEPER_PROTOCOL, f"run {group}")
        spec = json.loads(self.layout.spec_file.read_text())
        before = {c["name"]: c for c in spec["components"] if c.get("group") == group}
        names = {c["name"] for c in extras}
        core = [c for c in spec["components"] if c["name"] in COMPONENTS]
        others = [
            c
            for c in spec["components"]
            if c["name"] not in COMPONENTS and c["name"] not in names and c.get("group") != group
        ]
        spec["components"] = core + others + [{**c, "group": group} for c in extras]
        self.layout.spec_file.write_text(json.dumps(spec, indent=2) + "\n")
        # The keeper starts what is new or dead; one whose arguments or environment changed
        # is stopped here, so that it starts again from the new spec.
        for component in extras:
            old = before.get(component["name"])
            pid = self.pid(component["name"])
            if old is not None and old != {**component, "group": group} and pid is not None:
                runner.terminate(pid, grace=10.0, clock=clock)
        self.restart_dead(clock=clock)

    def _require_protocol(self, needed: int, what: str) -> None:
        """Refuse, saying how to recover, when the running keeper is too old to ``what``."""
        state = read_state(self.layout.state_file)
        found = int(state.get("protocol", 1))
        if found < needed:
            raise ClusterbootError(
                f"the local cluster's keeper (pid {state.get('keeper_pid', '?')}) was started by "
                f"an older clusterboot and cannot {what} (keeper protocol {found}, needs {needed})",
                hint="recreate the cluster: `invoke down` then `invoke up` (the GitOps "
                "repository brings everything back)",
            )

    def clear_leftovers(self) -> list[str]:
        """Stop processes from an earlier cluster whose keeper died; remove stale pid files."""
        stopped = []
        extras = sorted(p.stem for p in self.layout.pids.glob("*.pid") if p.stem not in COMPONENTS)
        for name in (*extras, *COMPONENTS, "keeper"):
            path = self.layout.keeper_pid if name == "keeper" else self.layout.pid_file(name)
            pid = read_pid(path)
            if (
                pid is not None
                and runner.pid_alive(pid)
                and runner.process_runs(pid, self.layout.root)
            ):
                runner.terminate(pid, grace=10.0)
                stopped.append(name)
            path.unlink(missing_ok=True)
        return stopped

    def await_phase(self, *, clock: wait.Clock, after_generation: int = 0) -> None:
        """Wait until the keeper reports a (re)start newer than ``after_generation``."""

        def check() -> Verdict:
            state = read_state(self.layout.state_file)
            phase = state.get("phase")
            if int(state.get("generation", 0)) <= after_generation and phase != "failed":
                return Verdict.waiting(f"keeper is (re)starting {state.get('starting', '')}")
            if phase == "ready":
                return Verdict.passed("all components started")
            if phase in {"failed", "stopped"}:
                return Verdict.broken(str(state.get("error") or phase), *self._log_tails())
            keeper = read_pid(self.layout.keeper_pid)
            if state and keeper is not None and not runner.pid_alive(keeper):
                return Verdict.broken("the keeper exited", *self._log_tails())
            return Verdict.waiting(f"starting {state.get('starting', 'the keeper')}")

        try:
            wait.until(
                check,
                what="local control plane",
                deadline=180,
                clock=clock,
                interval=0.05,
                max_interval=0.25,
            )
        except GateFailed as err:
            err.hint = err.hint or f"component logs are in {self.layout.logs}"
            raise

    def _log_tails(self) -> list[str]:
        tails = []
        for name in ("keeper", *COMPONENTS):
            path = self.layout.log_file(name)
            if path.is_file():
                lines = path.read_text(errors="replace").strip().splitlines()[-3:]
                if lines:
                    tails.append(f"{name}.log: " + " | ".join(line[:200] for line in lines))
        return tails

    def stop(self, *, clock: wait.Clock) -> list[str]:
        """Stop the keeper (which stops its components), then anything left behind."""
        pid = read_pid(self.layout.keeper_pid)
        stopped = []
        if pid is not None and runner.pid_alive(pid):
            runner.terminate(pid, grace=30.0)
            stopped.append("keeper")
        stopped += self.clear_leftovers()
        return stopped

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
