"""The one error tree. Every error says what failed, why, and what to do next (``hint``).

ClusterbootError
├── InputError            exit 2, raised before anything is touched
│   ├── ProfileError      a profile file or --set value (file and key named)
│   ├── DagError          unknown stage, cycle, bad --only/--from
│   └── MissingTool       an executable the profile needs is not on PATH
├── CommandFailed         a process exited non-zero (argv redacted, stderr tail)
├── TemporaryError        worth retrying (webhook not serving, 5xx, connection refused)
├── StageFailed           a stage's plan or apply failed; wraps the cause
└── GateFailed            a health gate said no, with the last diagnosis
    └── GateTimeout       ...because its deadline passed
"""

from __future__ import annotations

from collections.abc import Sequence


class ClusterbootError(Exception):
    """Base of every error clusterboot raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class InputError(ClusterbootError):
    """Bad input: a profile, a flag, the DAG or the machine. Nothing was touched."""

    exit_code = 2


class ProfileError(InputError):
    """A profile value is wrong; names the file and the dotted key."""

    def __init__(self, message: str, *, file: str, key: str = "", hint: str = "") -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.key = key


class DagError(InputError):
    """The stage graph or a stage selection is invalid."""


class MissingTool(InputError):
    """An executable the profile needs is not installed."""

    def __init__(self, tool: str, *, needed_for: str, install: str) -> None:
        super().__init__(
            f"{tool} is not on PATH; it is needed for {needed_for}",
            hint=f"install it: {install}",
        )
        self.tool = tool


class CommandFailed(ClusterbootError):
    """A process exited non-zero or timed out. ``argv`` is already redacted."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        exit_code: int | None,
        stderr_tail: str,
        hint: str = "",
        timed_out: bool = False,
    ) -> None:
        shown = " ".join(argv)
        what = f"`{shown}` timed out" if timed_out else f"`{shown}` exited with {exit_code}"
        tail = f"\n  stderr: {stderr_tail.strip()}" if stderr_tail.strip() else ""
        super().__init__(what + tail, hint=hint)
        self.argv = list(argv)
        self.returncode = exit_code
        self.stderr_tail = stderr_tail
        self.timed_out = timed_out


class SshFailed(CommandFailed):
    """ssh itself failed (exit 255: unreachable, a host key, a refused key): said in words,
    not as the remote command it was to run (``argv`` keeps that, for the JSON log)."""

    def __init__(
        self, argv: Sequence[str], *, destination: str, stderr_tail: str, hint: str = ""
    ) -> None:
        super().__init__(argv, exit_code=255, stderr_tail=stderr_tail, hint=hint)
        lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no message from ssh"
        self.message = f"ssh to {destination} failed: {reason}"
        self.args = (self.message,)


class TemporaryError(ClusterbootError):
    """Something that may succeed if tried again (the retry policies catch these)."""


class StageFailed(ClusterbootError):
    """A stage could not plan or apply; ``step`` says which part."""

    def __init__(self, stage: str, step: str, *, cause: str, hint: str = "") -> None:
        super().__init__(f"{stage}: {step} failed: {cause}", hint=hint)
        self.stage = stage
        self.step = step


class GateFailed(ClusterbootError):
    """A health gate failed; ``blocking`` lists each object and why."""

    def __init__(
        self, gate: str, why: str, *, blocking: Sequence[str] = (), hint: str = ""
    ) -> None:
        lines = "".join(f"\n  - {b}" for b in blocking)
        super().__init__(f"{gate}: {why}{lines}", hint=hint)
        self.gate = gate
        self.why = why
        self.blocking = list(blocking)


class GateTimeout(GateFailed):
    """A gate's deadline passed before it was satisfied."""


class Interrupted(ClusterbootError):
    """The run was interrupted (Ctrl-C or SIGTERM)."""

    exit_code = 130
