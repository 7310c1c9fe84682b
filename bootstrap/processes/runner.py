"""The only module that starts processes: ``LocalRunner`` runs an argv (never through a shell),
``spawn_detached`` starts daemons that outlive us, and the pid helpers watch and stop them.

Errors and ``command.run`` log events show argv and output with every remembered secret masked;
``Result.stdout`` stays raw because callers parse it (a fetched kubeconfig is a secret too).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from bootstrap import secrets, wait
from bootstrap.errors import CommandFailed, GateTimeout, InputError, MissingTool
from bootstrap.processes import tools
from bootstrap.wait import Verdict

STDERR_TAIL_LINES = 20
_DRAIN_SECONDS = 5.0
_log = structlog.get_logger("clusterboot.runner")
# Detached children we started, kept so Python never reaps them behind a waitpid(-1) caller.
_detached: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Result:
    argv: list[str]
    """Redacted: every remembered secret and every ``secret_args`` value is masked."""
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs commands somewhere (here, or on an SSH host); stages never know which."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
        secret_args: Sequence[str] = (),
    ) -> Result: ...

    def which(self, tool: str) -> str | None: ...


def redacted_argv(argv: Sequence[str], secret_args: Sequence[str] = ()) -> list[str]:
    """``argv`` as errors and logs may show it; ``secret_args`` are remembered for later too."""
    hidden = {arg for arg in secret_args if arg}
    secrets.remember(*hidden)
    return [secrets.MASK if arg in hidden else secrets.redact(arg) for arg in argv]


def stderr_tail(stderr: str, stdout: str = "", *, lines: int = STDERR_TAIL_LINES) -> str:
    """The last lines of stderr (of stdout when stderr is empty), redacted."""
    text = stderr.strip() or stdout.strip()
    return secrets.redact("\n".join(text.splitlines()[-lines:]))


class LocalRunner:
    """Runs commands on this machine. Each command gets its own process group, so a timeout
    or Ctrl-C kills everything it started, not only the first process."""

    def __init__(self, timeout: float = 900) -> None:
        self.timeout = timeout

    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
        secret_args: Sequence[str] = (),
    ) -> Result:
        """Run ``argv`` and capture its output. ``env`` is added to our environment.

        Raises CommandFailed (non-zero exit with ``check``, or a timeout, after killing the
        process group) and MissingTool (no such executable).
        """
        shown = redacted_argv(argv, secret_args)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        proc = _popen(
            argv, shown, env=env, cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(None if input is None else input.encode(), timeout=limit)
        except subprocess.TimeoutExpired:
            out, err = _kill_and_drain(proc)
            _log.debug("command.run", argv=shown, seconds=_since(started), exit_code=None,
                       timed_out=True)
            raise CommandFailed(
                shown, exit_code=None, stderr_tail=stderr_tail(_text(err), _text(out)),
                timed_out=True,
                hint=f"it was stopped after {limit:g}s; raise timeouts.command_seconds "
                "if it was still making progress",
            ) from None
        except BaseException:  # Ctrl-C or a broken pipe: never leave the group running
            _kill_group(proc.pid)
            proc.wait()
            raise
        result = Result(shown, proc.returncode, _text(out), _text(err))
        _log.debug("command.run", argv=shown, seconds=_since(started), exit_code=proc.returncode)
        if check and result.returncode != 0:
            raise CommandFailed(
                shown, exit_code=result.returncode,
                stderr_tail=stderr_tail(result.stderr, result.stdout),
            )
        return result

    def spawn_detached(
        self,
        argv: Sequence[str],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ) -> int:
        """Start a daemon that outlives us: its own session, stdin from /dev/null, stdout and
        stderr appended to ``log_file`` (mode 0600). Returns its pid."""
        shown = redacted_argv(argv)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device: /dev/null made 0600 breaks apt
                os.fchmod(fd, 0o600)
            proc = _popen(argv, shown, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fd,
                          stderr=subprocess.STDOUT, pass_fds=pass_fds)
        finally:
            os.close(fd)
        _detached[proc.pid] = proc
        _log.debug("command.spawn", argv=shown, pid=proc.pid, log_file=str(log_file))
        return proc.pid


def fork_helper(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child of this process, which exits when ``body`` returns (a
    helper that must keep this process's state, e.g. the network namespace it started in)."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return _proc_state(pid) not in {"Z", "X"}


def process_runs(pid: int, path: Path) -> bool:
    """True when ``pid``'s command line mentions ``path``: a guard against a recycled pid
    before we signal a process a pid file names. False when we cannot tell."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(str(path) in arg for arg in raw.decode(errors="replace").split("\0"))


def signal_process(pid: int, sig: str | int) -> bool:
    """Send ``sig`` ("HUP", "TERM" or a number); False when the process is already gone."""
    number = signal.Signals[f"SIG{sig.upper()}"] if isinstance(sig, str) else sig
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        return False
    return True


def terminate(pid: int, *, grace: float, clock: wait.Clock | None = None) -> bool:
    """SIGTERM, then after ``grace`` seconds SIGKILL (its whole group when it leads one).
    True when it had to be killed."""
    clock = clock or wait.RealClock()
    killed = False
    if signal_process(pid, signal.SIGTERM) and not _gone_within(pid, grace, clock):
        killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            leads_group = os.getpgid(pid) == pid
            (os.killpg if leads_group else os.kill)(pid, signal.SIGKILL)
        _gone_within(pid, _DRAIN_SECONDS, clock)
    child = _detached.pop(pid, None)
    if child is not None:
        child.poll()  # reap our own zombie
    return killed


def _gone_within(pid: int, seconds: float, clock: wait.Clock) -> bool:
    def check() -> Verdict:
        if pid_alive(pid):
            return Verdict.waiting(f"process {pid} still runs")
        return Verdict.passed("exited")

    try:
        wait.until(check, what=f"process {pid} to exit", deadline=seconds, clock=clock,
                   interval=0.02, max_interval=0.2)
    except GateTimeout:
        return False
    return True


def run_attached(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
    grace: float = 10.0,
) -> int:
    """Run a user's command in the foreground: our stdin, stdout and stderr, and our process
    group, so Ctrl-C reaches it as it would from the shell (we then give it ``grace`` seconds
    to finish). Returns its exit code, 128+N when signal N ended it."""
    shown = redacted_argv(argv)
    proc = _popen(argv, shown, env=env, cwd=cwd, stdin=None, stdout=None, stderr=None,
                  new_session=False)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    _log.debug("command.attached", argv=shown, exit_code=code)
    return code if code >= 0 else 128 - code


def _popen(
    argv: Sequence[str], shown: list[str], *, env: Mapping[str, str] | None, cwd: Path | None,
    stdin: int | None, stdout: int | None, stderr: int | None, pass_fds: Sequence[int] = (),
    new_session: bool = True,
) -> subprocess.Popen[bytes]:
    if not argv:
        raise InputError("an empty command cannot run")
    if any("\0" in word for word in argv):
        # A NUL cannot be passed to a program: Popen would raise ValueError.
        raise InputError(f"`{shown[0]}`: an argument holds a NUL byte, which no command line can")
    try:
        return subprocess.Popen(
            list(argv), stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
            env={**os.environ, **env} if env else None, start_new_session=new_session,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError:
        if cwd is not None and not Path(cwd).is_dir():
            raise InputError(f"cannot run `{shown[0]}`: directory {cwd} does not exist") from None
        name = Path(argv[0]).name
        raise MissingTool(name, needed_for=f"`{' '.join(shown)}`",
                          install=tools.install_hint(name)) from None
    except PermissionError:
        hint = f"check its permissions (chmod +x {shown[0]}) or reinstall it"
        raise InputError(f"{shown[0]} is not executable", hint=hint) from None


def _kill_and_drain(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Kill the whole group; collect what it wrote unless an escaped grandchild holds the pipes."""
    _kill_group(proc.pid)
    try:
        return proc.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return b"", b""


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # no /proc (macOS): kill(0) already said it exists
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)

