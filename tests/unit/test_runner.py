"""LocalRunner with real processes: output, failures, redaction, timeouts, missing tools, and
daemons that outlive us. Waits are bounded waits on conditions; nothing sleeps for real."""

from __future__ import annotations

import ast
import io
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bootstrap import log, secrets, wait
from bootstrap.errors import CommandFailed, InputError, MissingTool
from bootstrap.processes import runner
from bootstrap.stage import Verdict

PY = sys.executable
REPO = Path(__file__).resolve().parents[2]
WAITS_FOREVER = "import threading; print('ready', flush=True); threading.Event().wait(60)"
IGNORES_TERM = (
    "import signal, threading; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); threading.Event().wait(60)"
)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()
    structlog.reset_defaults()


def until(condition: object, what: str, deadline: float = 10.0) -> None:
    """A bounded real-time wait for a condition (an Event wait between checks, no sleep)."""

    def check() -> Verdict:
        return Verdict.passed() if condition() else Verdict.waiting(what)  # type: ignore[operator]

    wait.until(check, what=what, deadline=deadline, clock=wait.RealClock(), interval=0.01,
               max_interval=0.1)


def test_a_successful_command_returns_its_stdout_and_exit_code() -> None:
    result = runner.LocalRunner().run([PY, "-c", "print('hello')"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")


def test_input_is_piped_and_env_adds_to_the_inherited_environment_in_cwd(tmp_path: Path) -> None:
    script = (
        "import os, sys; "
        "print(sys.stdin.read().upper(), os.environ['EXTRA'], 'PATH' in os.environ, os.getcwd())"
    )
    result = runner.LocalRunner().run(
        [PY, "-c", script], input="abc", env={"EXTRA": "x"}, cwd=tmp_path
    )
    assert result.stdout == f"ABC x True {tmp_path}\n"


def test_a_non_zero_exit_raises_command_failed_with_its_exit_code_and_stderr_tail() -> None:
    script = "import sys\nfor i in range(50): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(CommandFailed) as caught:
        runner.LocalRunner().run([PY, "-c", script])
    err = caught.value
    assert err.returncode == 3
    assert not err.timed_out
    tail = err.stderr_tail.splitlines()
    assert tail[0] == "line 30"
    assert tail[-1] == "line 49"
    assert len(tail) == runner.STDERR_TAIL_LINES
    assert "exited with 3" in str(err)
    assert "line 49" in str(err)


def test_check_false_returns_a_failed_result_instead_of_raising() -> None:
    result = runner.LocalRunner().run([PY, "-c", "import sys; sys.exit(4)"], check=False)
    assert result.returncode == 4


def test_secrets_in_argv_and_stderr_are_masked_in_the_error_in_the_result_and_in_the_log() -> None:
    out = io.StringIO()
    log.configure(mode="json", level="debug", stream=out)
    secrets.remember("hunter2-password")
    script = (
        "import sys; "
        "print('auth failed for', sys.argv[1], 'with', sys.argv[2], file=sys.stderr); sys.exit(1)"
    )
    argv = [PY, "-c", script, "hunter2-password", "tok-0123456789"]
    with pytest.raises(CommandFailed) as caught:
        runner.LocalRunner().run(argv, secret_args=["tok-0123456789"])
    shown = str(caught.value) + " ".join(caught.value.argv) + caught.value.stderr_tail
    assert "auth failed for *** with ***" in shown
    result = runner.LocalRunner().run(argv, check=False, secret_args=["tok-0123456789"])
    assert result.argv[-2:] == [secrets.MASK, secrets.MASK]
    for text in (shown, " ".join(result.argv), out.getvalue()):
        assert "hunter2-password" not in text
        assert "tok-0123456789" not in text


def test_a_short_secret_arg_is_masked_as_a_whole_argument() -> None:
    result = runner.LocalRunner().run([PY, "-c", "pass", "pw1"], secret_args=["pw1"])
    assert result.argv[-1] == secrets.MASK


def test_every_run_logs_one_command_run_event_with_seconds_and_exit_code() -> None:
    out = io.StringIO()
    log.configure(mode="json", level="debug", stream=out)
    runner.LocalRunner().run([PY, "-c", "raise SystemExit(2)"], check=False)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    runs = [e for e in events if e["event"] == "command.run"]
    assert len(runs) == 1
    assert runs[0]["exit_code"] == 2
    assert runs[0]["argv"][0] == PY
    assert runs[0]["seconds"] >= 0


def test_a_timeout_kills_the_whole_process_group_and_raises_timed_out(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {IGNORES_TERM!r}])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "child.wait()\n"
    )
    started = time.monotonic()
    with pytest.raises(CommandFailed) as caught:
        runner.LocalRunner().run([PY, "-c", script], timeout=0.5)
    assert caught.value.timed_out
    assert caught.value.returncode is None
    assert "timed out" in str(caught.value)
    assert time.monotonic() - started < 10
    grandchild = int(pid_file.read_text())
    until(lambda: not runner.pid_alive(grandchild), "the grandchild to die")


def test_the_runner_default_timeout_applies_when_a_call_gives_none() -> None:
    with pytest.raises(CommandFailed) as caught:
        runner.LocalRunner(timeout=0.3).run(["sleep", "30"])
    assert caught.value.timed_out


def test_a_missing_executable_raises_missing_tool_with_its_install_hint(tmp_path: Path) -> None:
    with pytest.raises(MissingTool) as caught:
        runner.LocalRunner().run(["kind", "version"], env={"PATH": str(tmp_path)})
    assert caught.value.tool == "kind"
    assert "go install sigs.k8s.io/kind@v0.32.0" in str(caught.value)
    assert caught.value.exit_code == 2


def test_an_unknown_missing_executable_still_gets_a_hint() -> None:
    with pytest.raises(MissingTool) as caught:
        runner.LocalRunner().run(["/nonexistent/frobnicate", "--now"])
    assert caught.value.tool == "frobnicate"
    assert "install frobnicate" in caught.value.hint


def test_a_missing_working_directory_is_an_input_error_not_a_missing_tool(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        runner.LocalRunner().run([PY, "-c", "pass"], cwd=tmp_path / "absent")
    assert not isinstance(caught.value, MissingTool)
    assert "does not exist" in str(caught.value)


def test_a_file_that_is_not_executable_is_an_input_error(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(InputError, match="not executable"):
        runner.LocalRunner().run([str(script)])


def test_a_detached_daemon_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "daemon.log"
    starter = (
        "import sys; from pathlib import Path; from bootstrap.processes.runner import LocalRunner\n"
        f"print(LocalRunner().spawn_detached([sys.executable, '-c', {WAITS_FOREVER!r}], "
        f"log_file=Path({str(log_file)!r})))\n"
    )
    pid = int(runner.LocalRunner().run([PY, "-c", starter], cwd=REPO).stdout.splitlines()[-1])
    try:
        assert runner.pid_alive(pid)
        until(lambda: "ready" in log_file.read_text(), "the daemon to write its log")
        assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
        assert os.getsid(pid) == pid
        assert runner.process_runs(pid, Path(PY))
        assert not runner.process_runs(pid, tmp_path / "elsewhere")
    finally:
        killed = runner.terminate(pid, grace=10)
    assert not killed
    until(lambda: not runner.pid_alive(pid), "the daemon to be gone")


def test_the_log_file_is_appended_and_stdin_is_empty(tmp_path: Path) -> None:
    log_file = tmp_path / "d.log"
    log_file.write_text("earlier run\n")
    log_file.chmod(0o644)
    script = "import sys; print('stdin:', repr(sys.stdin.read())); print('err', file=sys.stderr)"
    pid = runner.LocalRunner().spawn_detached([PY, "-c", script], log_file=log_file)
    until(lambda: not runner.pid_alive(pid), "the daemon to finish")
    runner.terminate(pid, grace=1)
    until(lambda: "err" in log_file.read_text(), "the daemon's output")
    assert log_file.read_text().splitlines() == ["earlier run", "stdin: ''", "err"]
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_terminate_escalates_to_sigkill_when_the_grace_period_passes(tmp_path: Path) -> None:
    log_file = tmp_path / "stubborn.log"
    pid = runner.LocalRunner().spawn_detached([PY, "-c", IGNORES_TERM], log_file=log_file)
    until(lambda: "ready" in log_file.read_text(), "the stubborn process to ignore SIGTERM")
    clock = wait.FakeClock()
    assert runner.terminate(pid, grace=30, clock=clock) is True
    assert clock.now() >= 30  # the grace period passed on the fake clock, not for real
    until(lambda: not runner.pid_alive(pid), "the stubborn process to die")


def test_a_zombie_counts_as_dead_and_so_do_impossible_pids() -> None:
    pid = runner.LocalRunner().spawn_detached([PY, "-c", "pass"], log_file=Path(os.devnull))
    until(lambda: not runner.pid_alive(pid), "the child to exit")
    assert runner._proc_state(pid) == "Z"  # still unreaped: only the state tells it is gone
    assert runner.terminate(pid, grace=1) is False
    assert runner._proc_state(pid) is None  # reaped now
    assert not runner.pid_alive(0)
    assert not runner.pid_alive(-5)


def test_a_daemon_logging_to_a_device_leaves_the_device_as_it_was() -> None:
    before = os.stat(os.devnull).st_mode
    try:
        pid = runner.LocalRunner().spawn_detached([PY, "-c", "pass"], log_file=Path(os.devnull))
        runner.terminate(pid, grace=1)
        assert os.stat(os.devnull).st_mode == before  # a 0600 /dev/null breaks apt's gpgv
    finally:
        os.chmod(os.devnull, stat.S_IMODE(before))


def test_signal_process_says_whether_the_process_was_there() -> None:
    pid = runner.LocalRunner().spawn_detached([PY, "-c", WAITS_FOREVER], log_file=Path(os.devnull))
    assert runner.signal_process(pid, "TERM")
    until(lambda: not runner.pid_alive(pid), "the process to stop")
    runner.terminate(pid, grace=1)
    assert not runner.signal_process(pid, "HUP")


def _python_files() -> list[Path]:
    return sorted([*(REPO / "bootstrap").rglob("*.py"), *(REPO / "stages").rglob("*.py")])


def test_no_module_ever_asks_for_a_shell() -> None:
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            asks_shell = isinstance(node, ast.keyword) and node.arg == "shell" and not (
                isinstance(node.value, ast.Constant) and node.value.value is False
            )
            shell_call = (
                isinstance(node, ast.Attribute) and node.attr in {"system", "popen"}
                and isinstance(node.value, ast.Name) and node.value.id == "os"
            )
            if asks_shell or shell_call:
                offenders.append(where)
    assert offenders == []


def test_only_the_runner_imports_subprocess() -> None:
    importers = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "subprocess" for name in names):
                importers.add(str(path.relative_to(REPO)))
    assert importers == {"bootstrap/processes/runner.py"}


def test_an_argument_with_a_nul_byte_is_bad_input_not_a_value_error() -> None:
    with pytest.raises(InputError, match="NUL byte"):
        runner.LocalRunner().run(["echo", "a\0b"])
