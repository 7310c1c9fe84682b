"""The keeper: the long-lived process that owns a local cluster.

It opens the host-side listening sockets first, then (with isolation) moves into a new network
namespace with only loopback, starts the components there in order with a readiness probe
each, and relays the host's connections to them. It records what it sees in ``state.json``
(each component's pid, exit code and restart count). A component that exits is started again
after a growing delay, as the kubelet restarts a container; SIGHUP reloads the spec and starts
at once what does not run; SIGTERM stops them all in reverse order.

Run as ``python -m bootstrap.controlplane.keeper SPEC.json``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bootstrap.controlplane import netns, relay
from bootstrap.controlplane.layout import KEEPER_PROTOCOL, Layout, write_state
from bootstrap.processes import runner

_TICK = 0.2
_BACKOFF = 1.0
_MAX_BACKOFF = 30.0
_STABLE = 60.0


class Keeper:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.layout = Layout(Path(spec["state_dir"]))
        self.local = runner.LocalRunner()
        self.pids: dict[str, int] = {}
        self.exits: dict[str, int] = {}
        self.started_at: dict[str, float] = {}
        self.restarts: dict[str, int] = {}
        self.streak: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.restart = threading.Event()
        self.state: dict[str, Any] = {
            "keeper_pid": os.getpid(),
            "protocol": KEEPER_PROTOCOL,
            "phase": "starting",
            "generation": 0,
        }

    def save(self, **changes: Any) -> None:
        self.state.update(changes)
        self.state["components"] = {
            name: {
                "pid": pid,
                "exit_code": self.exits.get(name),
                "restarts": self.restarts.get(name, 0),
            }
            for name, pid in self.pids.items()
        }
        write_state(self.layout.state_file, self.state)

    def main(self) -> int:
        listeners: list[tuple[socket.socket, relay.Connect]] = []
        outward = self.spec.get("outbound") or []
        try:
            for item in self.spec["relays"]:
                host, port = item["listen"]
                listeners.append((relay.listen(host, port), relay.dialling(tuple(item["target"]))))
            dialer = relay.Dialer.start([tuple(o["target"]) for o in outward]) if outward else None
            if self.spec["isolation"] == "netns":
                netns.unshare_network()
            for index, item in enumerate(outward):
                assert dialer is not None
                host, port = item["listen"]
                listeners.append((relay.listen(host, port), dialer.connecting(index)))
        except OSError as err:
            self.save(phase="failed", error=f"{type(err).__name__}: {err}")
            return 3
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.restart.set())
        self.layout.keeper_pid.write_text(f"{os.getpid()}\n")
        for listener, connect in listeners:
            threading.Thread(
                target=relay.serve, args=(listener, connect, self.stop), daemon=True
            ).start()
        self.save(phase="starting")
        if self.start_all():
            self.save(phase="ready", error=None)
        self.watch()
        self.stop_all()
        for listener, _ in listeners:
            listener.close()
        self.save(phase="stopped")
        return 0

    def start_all(self) -> bool:
        """Start every component not running; ``generation`` counts completed (re)starts."""
        self.reap()
        for component in self.spec["components"]:
            name = component["name"]
            if name in self.pids and name not in self.exits:
                continue
            problem = self.start_one(component)
            if problem:
                self.save(phase="failed", error=problem)
                return False
        self.state["generation"] = int(self.state["generation"]) + 1
        return True

    def start_one(self, component: dict[str, Any]) -> str | None:
        """Start one component and wait for its probe; what went wrong, or None."""
        name = component["name"]
        self.exits.pop(name, None)
        self.save(phase="starting", starting=name)
        log = Path(component["log"])
        pid = self.local.spawn_detached(
            component["argv"], log_file=log, env=component.get("env") or None
        )
        self.pids[name] = pid
        self.started_at[name] = time.monotonic()
        self.layout.pid_file(name).write_text(f"{pid}\n")
        problem = self.await_ready(component, pid)
        return f"{name}: {problem}; see {log}" if problem else None

    def restart_crashed(self) -> None:
        """Start again, with a growing delay, what exited on its own (as the kubelet restarts
        a container): a crashed apiserver or Argo CD controller comes back without a human.
        The delay starts at 1 s and doubles, up to 30 s, while it keeps crashing within a minute
        of starting."""
        now = time.monotonic()
        for component in self.spec["components"]:
            name = component["name"]
            if name not in self.exits:
                continue
            if name not in self.retry_at:
                ran = now - self.started_at.get(name, now)
                streak = 0 if ran > _STABLE else self.streak.get(name, 0) + 1
                self.streak[name] = streak
                self.retry_at[name] = now + min(_BACKOFF * 2 ** max(streak - 1, 0), _MAX_BACKOFF)
            if now < self.retry_at[name]:
                continue
            del self.retry_at[name]
            self.restarts[name] = self.restarts.get(name, 0) + 1
            problem = self.start_one(component)
            if problem:
                self.save(phase="degraded", error=problem)
                return
        if not self.exits and self.state.get("phase") in {"degraded", "starting"}:
            self.save(phase="ready", error=None, starting=None)

    def await_ready(self, component: dict[str, Any], pid: int) -> str | None:
        probe = component.get("ready")
        deadline = float(component.get("ready_timeout", 60))
        waited = 0.0
        while waited < deadline:
            if self.reap(pid):
                return f"exited with code {self.exits[component['name']]} while starting"
            if probe is None or _probe(probe):
                return None
            if self.stop.wait(_TICK):
                return "stopped while starting"
            waited += _TICK
        return f"not ready after {deadline:.0f}s"

    def reap(self, pid: int | None = None) -> bool:
        """Collect exited children; True when ``pid`` (if given) has exited."""
        while True:
            try:
                done, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break
            for name, known in self.pids.items():
                if known == done:
                    self.exits[name] = os.waitstatus_to_exitcode(status)
                    self.save(error=f"{name} exited with code {self.exits[name]}")
        return pid is not None and any(self.pids.get(n) == pid for n in self.exits)

    def watch(self) -> None:
        while not self.stop.wait(_TICK):
            self.reap()
            if self.exits and self.state.get("phase") == "ready":
                self.save(phase="degraded")
            if self.exits and self.state.get("phase") != "failed":
                self.restart_crashed()
            if self.restart.is_set():
                self.restart.clear()
                self.reload_spec()
                if self.start_all():
                    self.save(phase="ready", error=None)
                else:
                    self.save(generation=int(self.state["generation"]) + 1)

    def reload_spec(self) -> None:
        """Pick up components added to the spec file since the start (Argo CD's, say); stop
        the ones removed from it or changed in it. Relays and isolation are fixed for the
        keeper's life."""
        try:
            fresh = json.loads(self.layout.spec_file.read_text())
        except (OSError, ValueError) as err:
            self.save(error=f"cannot reload {self.layout.spec_file}: {err}")
            return
        wanted = {c["name"]: c for c in fresh["components"]}
        for component in reversed(self.spec["components"]):
            name = component["name"]
            # Removed, or changed (it may have been restarted from its old definition since
            # the host stopped it): stopped here, and a changed one started afresh after.
            if wanted.get(name) != component and name in self.pids:
                if name not in self.exits:
                    runner.terminate(self.pids[name], grace=10.0)
                    self.reap()
                self.pids.pop(name, None)
                self.exits.pop(name, None)
                self.retry_at.pop(name, None)
                self.layout.pid_file(name).unlink(missing_ok=True)
        self.spec["components"] = fresh["components"]

    def stop_all(self) -> None:
        for component in reversed(self.spec["components"]):
            name = component["name"]
            pid = self.pids.get(name)
            if pid is not None and name not in self.exits:
                runner.terminate(pid, grace=10.0)
                self.reap()
            self.layout.pid_file(name).unlink(missing_ok=True)
        self.layout.keeper_pid.unlink(missing_ok=True)


def _probe(probe: dict[str, Any]) -> bool:
    try:
        if probe["kind"] == "tcp":
            with socket.create_connection((probe["host"], probe["port"]), timeout=1):
                return True
        verify: ssl.SSLContext | bool = False
        if probe["kind"] == "https":
            verify = ssl.create_default_context(cafile=probe.get("ca"))
            if probe.get("insecure"):
                verify.check_hostname = False
                verify.verify_mode = ssl.CERT_NONE
            if probe.get("cert"):
                verify.load_cert_chain(probe["cert"], probe["key"])
        with httpx.Client(verify=verify, timeout=2, trust_env=False) as client:
            return client.get(probe["url"]).status_code == 200
    except (OSError, httpx.HTTPError):
        return False


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    return Keeper(spec).main()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
