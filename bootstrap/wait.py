"""All waiting goes through here: one function with a deadline, a reason and an injectable clock.

Watch-based waits (``bootstrap.kube.watch``) use the same ``Clock`` so tests can drive time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from bootstrap.errors import GateFailed, GateTimeout, Interrupted


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str
    blocking: tuple[str, ...] = ()
    failed: bool = False
    """True when waiting longer cannot help (Degraded, CrashLoopBackOff past grace)."""
    watching: tuple[tuple[str, str, str | None], ...] = field(default=(), compare=False)
    """Collections (apiVersion, kind, namespace) whose changes may change the verdict: the
    engine follows them while it waits, instead of looking again on a timer."""
    replan: bool = field(default=False, compare=False)
    """The stage's plan would now change something (a pod to restart): the engine plans and
    applies again before the next look."""
    hint: str = field(default="", compare=False)
    """What to do if the wait ends on this verdict (the API does not answer: is it running?)."""

    @classmethod
    def passed(cls, why: str = "ready") -> Verdict:
        return cls(True, why)

    @classmethod
    def waiting(cls, why: str, *blocking: str, hint: str = "") -> Verdict:
        return cls(False, why, tuple(blocking), hint=hint)

    @classmethod
    def broken(cls, why: str, *blocking: str) -> Verdict:
        return cls(False, why, tuple(blocking), failed=True)


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


_waiting = threading.local()


def waited() -> float:
    """Seconds this thread has spent waiting on the cluster so far: pauses between looks, sleeps
    before retries, waits for a watch event. The rest of a stage's time is clusterboot's own
    work and the API's answers (the overhead figures in reports and bench/overhead.py)."""
    return float(getattr(_waiting, "seconds", 0.0))


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Count the time inside as waiting (the outermost of nested waits only)."""
    depth = getattr(_waiting, "depth", 0)
    _waiting.depth = depth + 1
    start = time.monotonic()
    try:
        yield
    finally:
        _waiting.depth = depth
        if depth == 0:
            _waiting.seconds = waited() + time.monotonic() - start


class RealClock:
    """Monotonic time; ``sleep`` wakes early when ``cancel`` is set (Ctrl-C, shutdown)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        with waiting():
            cancelled = self.cancel.wait(max(0.0, seconds))
        if cancelled:
            raise Interrupted("interrupted while waiting", hint="run `invoke up` again to continue")


class FakeClock:
    """For tests: time moves only when someone sleeps."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


def until(
    check: Callable[[], Verdict],
    *,
    what: str,
    deadline: float,
    clock: Clock,
    interval: float = 0.1,
    max_interval: float = 2.0,
    on_wait: Callable[[Verdict, float], None] | None = None,
    pause: Callable[[Verdict, float], None] | None = None,
) -> Verdict:
    """Call ``check`` until it passes; fail at once on a broken verdict, or after ``deadline`` s.

    The pause grows from ``interval`` to ``max_interval``; ``on_wait`` sees every waiting verdict
    and the seconds elapsed, for progress lines. ``pause(verdict, seconds)`` replaces the
    clock's sleep between looks (the engine's returns early when a followed object changes).
    """
    start = clock.now()
    interval_now = interval
    while True:
        verdict = check()
        if verdict.ok:
            return verdict
        if verdict.failed:
            raise GateFailed(what, verdict.why, blocking=verdict.blocking)
        elapsed = clock.now() - start
        if elapsed >= deadline:
            raise GateTimeout(
                what,
                f"not ready after {deadline:.0f}s: {verdict.why}",
                blocking=verdict.blocking,
                hint=verdict.hint
                or "look at the objects listed above; raise the deadline only if they progress",
            )
        if on_wait is not None:
            on_wait(verdict, elapsed)
        seconds = min(interval_now, max(0.0, deadline - elapsed))
        if pause is None:
            clock.sleep(seconds)
        else:
            with waiting():
                pause(verdict, seconds)
        interval_now = min(max_interval, interval_now * 1.5)
