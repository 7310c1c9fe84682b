"""What the host knows of a keeper and the components it runs: their pid files, the keeper's
``state.json`` and its spec. Shared by the local cluster's keeper and the process host's, so
the platform stages run their processes the same way under either."""

from __future__ import annotations

import fcntl
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from bootstrap import wait
from bootstrap.controlplane.layout import KEEPER_PROTOCOL, Layout, read_pid, read_state
from bootstrap.errors import ClusterbootError, GateFailed
from bootstrap.processes import runner
from bootstrap.wait import Verdict


class KeeperHandle:
    core: ClassVar[tuple[str, ...]] = ()
    """The components the keeper is started with; the rest are extras that stages add."""
    title: ClassVar[str] = "keeper"
    recreate_hint: ClassVar[str] = "run `invoke down` then `invoke up`"

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One changer of the keeper's spec at a time (stages run concurrently)."""
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.layout.root / "spec.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def launch(self, spec: dict[str, Any], *, run: runner.LocalRunner, clock: wait.Clock) -> None:
        """Write ``spec``, start a keeper on it (it outlives us) and wait until it is ready."""
        self.layout.spec_file.write_text(json.dumps(spec, indent=2) + "\n")
        self.layout.state_file.unlink(missing_ok=True)
        run.spawn_detached(
            [sys.executable, "-m", "bootstrap.controlplane.keeper", str(self.layout.spec_file)],
            log_file=self.layout.log_file("keeper"),
            cwd=Path(__file__).resolve().parents[2],
        )
        self.await_phase(clock=clock)

    def restart_dead(self, *, clock: wait.Clock) -> None:
        """Ask a living keeper to start the components that died (and reload its spec)."""
        pid = read_pid(self.layout.keeper_pid)
        if pid is None:
            raise ClusterbootError("the keeper is gone", hint="run `invoke up` again")
        before = int(read_state(self.layout.state_file).get("generation", 0))
        runner.signal_process(pid, "HUP")
        self.await_phase(clock=clock, after_generation=before)

    def keeper_alive(self) -> bool:
        pid = read_pid(self.layout.keeper_pid)
        return pid is not None and runner.pid_alive(pid)

    def spec(self) -> dict[str, Any]:
        try:
            data = json.loads(self.layout.spec_file.read_text())
        except (OSError, ValueError):
            return {"components": []}
        return data if isinstance(data, dict) else {"components": []}

    def extra_components(self, group: str | None = None) -> list[dict[str, Any]]:
        """Components beyond the core that the keeper runs (e.g. Argo CD's), all or those of
        one ``group`` (as ``set_extra_components`` was given them)."""
        extras = [c for c in self.spec()["components"] if c["name"] not in self.core]
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
        other groups', started after and stopped before the core."""
        with self.locked():
            self._set_extra_components(extras, group=group, clock=clock)

    def _set_extra_components(
        self, extras: list[dict[str, Any]], *, group: str, clock: wait.Clock
    ) -> None:
        self._require_protocol(KEEPER_PROTOCOL, f"run {group}")
        spec = self.spec()
        before = {c["name"]: c for c in spec["components"] if c.get("group") == group}
        names = {c["name"] for c in extras}
        core = [c for c in spec["components"] if c["name"] in self.core]
        others = [
            c
            for c in spec["components"]
            if c["name"] not in self.core and c["name"] not in names and c.get("group") != group
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
                f"the {self.title} (pid {state.get('keeper_pid', '?')}) was started by "
                f"an older clusterboot and cannot {what} (keeper protocol {found}, needs {needed})",
                hint=self.recreate_hint,
            )

    def await_phase(self, *, clock: wait.Clock, after_generation: int = 0) -> None:
        """Wait until the keeper reports a (re)start newer than ``after_generation``."""

        def check() -> Verdict:
            state = read_state(self.layout.state_file)
            phase = state.get("phase")
            keeper = read_pid(self.layout.keeper_pid)
            # A keeper that died (killed while we signalled it, say) never moves on: waiting
            # for its next generation would only run out the deadline.
            if state and keeper is not None and not runner.pid_alive(keeper):
                return Verdict.broken("the keeper exited", *self._log_tails())
            if int(state.get("generation", 0)) <= after_generation and phase != "failed":
                starting = state.get("starting") or "its components"
                return Verdict.waiting(f"keeper is (re)starting {starting}")
            if phase == "ready":
                return Verdict.passed("all components started")
            if phase in {"failed", "stopped"}:
                return Verdict.broken(str(state.get("error") or phase), *self._log_tails())
            return Verdict.waiting(f"starting {state.get('starting', 'the keeper')}")

        try:
            wait.until(
                check,
                what=self.title,
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
        for name in ("keeper", *self.core, *(c["name"] for c in self.extra_components())):
            path = self.layout.log_file(name)
            if path.is_file():
                lines = path.read_text(errors="replace").strip().splitlines()[-3:]
                if lines:
                    tails.append(f"{name}.log: " + " | ".join(line[:200] for line in lines))
        return tails

    def clear_leftovers(self) -> list[str]:
        """Stop processes from an earlier keeper that died; remove stale pid files."""
        stopped = []
        extras = sorted(p.stem for p in self.layout.pids.glob("*.pid") if p.stem not in self.core)
        for name in (*extras, *self.core, "keeper"):
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

    def stop(self, *, clock: wait.Clock) -> list[str]:
        """Stop the keeper (which stops its components), then anything left behind."""
        pid = read_pid(self.layout.keeper_pid)
        stopped = []
        if pid is not None and runner.pid_alive(pid):
            runner.terminate(pid, grace=30.0)
            stopped.append("keeper")
        stopped += self.clear_leftovers()
        return stopped
