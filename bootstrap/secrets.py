"""Secret values: held in ``Secret`` so they never print, and remembered so logs can scrub them.

The registry is process-wide on purpose: the log processor, the runner's argv redaction and
the error printer must all scrub the same values, whichever object happened to load them.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

MASK = "***"
_MIN_LENGTH = 4  # shorter values would scrub ordinary words out of every line

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


class Secret:
    """A secret value. ``str``/``repr`` show a mask; ``reveal()`` is the only way in."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str) -> None:
        self._value = value
        self.source = source
        remember(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))


def remember(*values: str) -> None:
    """Scrub these values from every later log line, error and report."""
    global _pattern
    new = {v for v in values if v and len(v) >= _MIN_LENGTH}
    # Multi-line secrets (keys, kubeconfigs) are also scrubbed line by line.
    for value in list(new):
        new.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 8)
    with _lock:
        if new <= _known:
            return
        _known.update(new)
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    """Replace every remembered secret in ``text`` with the mask."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_all(items: Iterable[str]) -> list[str]:
    return [redact(i) for i in items]


def forget_all() -> None:
    """Tests only: start from an empty registry."""
    global _pattern
    with _lock:
        _known.clear()
        _pattern = None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte on, atomically: a reader
    sees the old file or the whole new one, never a readable or half-written one. A parent
    directory created here is 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
