"""The keeper restarts a component that exits on its own, as the kubelet restarts a container:
after 1 s, then after a delay that doubles while it keeps crashing; a component
changed in the spec is started from its new definition. A real keeper process, run without a
network namespace, with small Python processes as its components."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap import wait
from bootstrap.controlplane.layout import Layout, read_state
from bootstrap.controlplane.supervision import KeeperHandle
from bootstrap.processes import runner

REPO = Path(__file__).resolve().parents[2]


def component(layout: Layout, name: str, code: str) -> dict[str, Any]:
    """A component that appends its start time to ``<name>.starts``, then runs ``code``."""
    starts = layout.root / f"{name}.starts"
    script = f"import time; open({str(starts)!r}, 'a').write(f'{{time.time()}}\\n'); {code}"
    return {"name": name, "argv": [sys.executable, "-c", script], "log": str(layout.log_file(name))}


def starts(layout: Layout, name: str) -> list[float]:
    path = layout.root / f"{name}.starts"
    return [float(line) for line in path.read_text().split()] if path.is_file() else []


def eventually(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    wait.until(
        lambda: wait.Verdict.passed() if check() else wait.Verdict.waiting(what),
        what=what,
        deadline=seconds,
        clock=wait.RealClock(),
        interval=0.05,
        max_interval=0.05,
    )


@pytest.fixture
def keeper(tmp_path: Path) -> Iterator[Callable[[list[dict[str, Any]]], KeeperHandle]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(components: list[dict[str, Any]]) -> KeeperHandle:
        layout = Layout(tmp_path / "keeper")
        for directory in (layout.root, layout.logs, layout.pids):
            directory.mkdir(parents=True, exist_ok=True)
        spec = {
            "state_dir": str(layout.root),
            "isolation": "none",
            "relays": [],
            "components": components,
        }
        layout.spec_file.write_text(json.dumps(spec))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bootstrap.controlplane.keeper", str(layout.spec_file)],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=(layout.logs / "keeper.log").open("w"),
            )
        )
        handle = KeeperHandle(layout)
        eventually(lambda: read_state(layout.state_file).get("phase") == "ready", "the keeper")
        return handle

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_killed_component_is_started_again_and_counted(
    keeper: Callable[[list[dict[str, Any]]], KeeperHandle], tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "keeper")
    handle = keeper([component(layout, "controller", "time.sleep(600)")])
    first = handle.pid("controller")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    eventually(lambda: handle.pid("controller") not in {None, first}, "a new controller")
    state = read_state(layout.state_file)
    assert state["components"]["controller"]["restarts"] == 1
    eventually(lambda: read_state(layout.state_file)["phase"] == "ready", "ready again")


def test_a_component_that_keeps_crashing_waits_longer_each_time(
    keeper: Callable[[list[dict[str, Any]]], KeeperHandle], tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "keeper")
    steady = component(layout, "steady", "time.sleep(600)")
    keeper([steady, component(layout, "crasher", "time.sleep(0.3); raise SystemExit(3)")])
    eventually(lambda: len(starts(layout, "crasher")) >= 4, "four starts", seconds=30)
    times = starts(layout, "crasher")[:4]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Each gap is the 0.3 s run plus the delay (1 s, then 2 s, then 4 s); only lower bounds,
    # which a slow machine cannot break.
    assert gaps[0] >= 1.3
    assert gaps[1] >= 2.3
    assert gaps[2] >= 4.3
    state = read_state(layout.state_file)
    assert state["components"]["crasher"]["restarts"] >= 3
    assert len(starts(layout, "steady")) == 1  # the others are left alone


def test_a_component_changed_in_the_spec_starts_from_its_new_definition(
    keeper: Callable[[list[dict[str, Any]]], KeeperHandle], tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "keeper")
    handle = keeper([component(layout, "controller", "time.sleep(600)")])
    old = handle.pid("controller")
    assert old is not None
    changed = component(layout, "controller", "time.sleep(601)")
    # The host stops it and writes the new spec; the keeper may restart the old definition
    # in between: the reload must still replace it.
    os.kill(old, signal.SIGKILL)
    eventually(lambda: handle.pid("controller") not in {None, old}, "the automatic restart")
    spec = handle.spec()
    spec["components"] = [changed]
    layout.spec_file.write_text(json.dumps(spec))
    handle.restart_dead(clock=wait.RealClock())
    pid = handle.pid("controller")
    assert pid is not None
    assert "time.sleep(601)" in Path(f"/proc/{pid}/cmdline").read_text()
    assert runner.pid_alive(pid)
