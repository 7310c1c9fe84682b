"""One changing command per state directory: a second run is refused at once naming the first;
a holder that died leaves nothing stale; within one process the lock is re-entrant."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap import wait
from bootstrap.commands import app, run_lock
from bootstrap.errors import InputError
from bootstrap.processes.runner import pid_alive
from bootstrap.wait import Verdict

REPO = Path(__file__).resolve().parents[2]
HOLDS_THE_LOCK = """
import sys
from pathlib import Path
from bootstrap.commands import run_lock
with run_lock.held(Path(sys.argv[1]), "up --profile dev", err=sys.stderr):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``tmp_path / "state"`` until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDS_THE_LOCK, str(tmp_path / "state")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_run_is_refused_at_once_naming_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(InputError) as raised, run_lock.held(
        tmp_path / "state", "down --profile dev", err=io.StringIO()
    ):
        pytest.fail("the lock was taken while another process held it")
    assert raised.value.exit_code == 2
    assert f"PID {holder.pid} running `up --profile dev` since " in raised.value.message
    assert str(tmp_path / "state") in raised.value.message
    assert "plan` and `status` can run meanwhile" in raised.value.hint


def test_a_holder_killed_leaves_no_stale_lock_and_the_next_run_says_it_took_over(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    wait.until(lambda: Verdict.passed() if not pid_alive(holder.pid) else Verdict.waiting("up"),
               what="the holder to be gone", deadline=10, clock=wait.RealClock())
    err = io.StringIO()
    with run_lock.held(tmp_path / "state", "up --profile dev", err=err):
        pass
    assert f"taking over the lock of {tmp_path / 'state'} from PID {holder.pid}" in err.getvalue()


def test_a_holder_that_ended_normally_hands_over_without_a_word(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    err = io.StringIO()
    with run_lock.held(tmp_path / "state", "up --profile dev", err=err):
        pass
    assert err.getvalue() == ""


def test_the_lock_is_re_entrant_in_one_process_and_its_file_is_private(tmp_path: Path) -> None:
    err = io.StringIO()
    with run_lock.held(tmp_path, "ci --profile dev", err=err), run_lock.held(
        tmp_path, "up --profile dev", err=err
    ):
        lock = tmp_path / run_lock.NAME
        assert lock.stat().st_mode & 0o777 == 0o600
        assert '"command": "ci --profile dev"' in lock.read_text()
    assert lock.read_text() == ""  # released: nobody holds it
    with run_lock.held(tmp_path, "up --profile dev", err=err):
        pass
    assert err.getvalue() == ""


def test_down_is_refused_while_another_run_holds_the_profile(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "p", "state_dir": str(tmp_path / "state"),
        "cluster": {"provider": "local", "name": "p"},
    }))
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    assert app.down(inv) == 2
    assert f"PID {holder.pid} running `up --profile dev`" in err.getvalue()
