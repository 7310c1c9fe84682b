"""One changing command at a time per state directory: two `up` runs (or `up` and `down`, `dr`,
`ci`, `backup`) on one profile would both create what is missing (two clusters, two paid
instances) and write the same files. ``plan`` and ``status`` only look, and take no lock.

The lock is an ``flock`` on ``<state_dir>/.clusterboot.lock``: the kernel releases it when its
holder dies however it dies, so a lock is never left stale; the file keeps who held it last
(PID, command, since when) for the message a second run prints, and for the line a run that
takes over after a dead holder prints. Within one process the lock is re-entrant: `ci` holds it
across `up`, the command and `down`, which take it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bootstrap.errors import InputError
from bootstrap.processes.runner import pid_alive

NAME = ".clusterboot.lock"
_held: dict[Path, int] = {}
_guard = threading.Lock()


@contextlib.contextmanager
def held(state_dir: Path, command: str, *, err: TextIO) -> Iterator[None]:
    """Hold the state directory's lock for ``command``; exit 2 at once when another process
    holds it."""
    path = (state_dir / NAME).resolve()
    with _guard:
        if path in _held:
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    fd = _take(path, command, err)
    with _guard:
        _held[path] = 1
    try:
        yield
    finally:
        with _guard:
            del _held[path]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _take(path: Path, command: str, err: TextIO) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise InputError(
            f"another clusterboot run is using {path.parent}: {_describe(holder)}",
            hint="wait for it to finish, or stop it; `plan` and `status` can run meanwhile",
        ) from None
    except BaseException:
        os.close(fd)
        raise
    previous = _holder(fd)
    pid = previous.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and not pid_alive(pid):
        print(f"  taking over the lock of {path.parent} from {_describe(previous)}, which "
              "ended without releasing it", file=err)
    record = {"pid": os.getpid(), "command": command,
              "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    return fd


def _holder(fd: int) -> dict[str, object]:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _describe(holder: dict[str, object]) -> str:
    if not holder:
        return "a run that did not say who it is"
    return (f"PID {holder.get('pid')} running `{holder.get('command')}` since "
            f"{holder.get('since')}")
