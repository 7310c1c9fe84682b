"""Structured logging: JSON lines for machines, a ✓/✗ console for people; secrets scrubbed first.

Stage events (``stage.start``, ``stage.done``, ``change.applied``, ``gate.waiting``, ``noop``) are
the same events in both modes; only the rendering differs.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from bootstrap.errors import InputError
from bootstrap.secrets import redact

MODES = ("auto", "console", "json")
_LIVE = "\x00live\x00"
_SYMBOL = {"unchanged": "✓", "changed": "✓", "failed": "✗", "not-run": "-", "skipped": "-"}


def scrub(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask every remembered secret in every string the event carries (nested too)."""
    return {key: _scrub_value(value) for key, value in event.items()}


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact(str(value))
    return value


class _Writer:
    """A logger target that can redraw one live line on a terminal."""

    def __init__(self, stream: TextIO, *, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.live = False
        self.lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self.lock:
            if message.startswith(_LIVE):
                if self.tty:
                    self.stream.write("\r\x1b[K" + message[len(_LIVE) :])
                    self.live = True
                    self.stream.flush()
                return
            if self.live:
                self.stream.write("\r\x1b[K")
                self.live = False
            self.stream.write(message + "\n")
            self.stream.flush()

    debug = info = warning = error = critical = exception = msg


def render_console(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    name = event.pop("event", "")
    stage = event.pop("stage", None)
    level = event.pop("level", "info")
    event.pop("timestamp", None)
    if name == "stage.done":
        status = event.get("status", "")
        seconds = event.get("seconds", 0.0)
        why = event.get("why") or ""
        tail = f" — {why}" if why and status != "changed" else ""
        return f"{_SYMBOL.get(status, '?')} {stage} ({status}, {seconds:.1f}s){tail}"
    if name in {"gate.waiting", "progress"}:
        return f"{_LIVE}  ⋯ {stage}: {event.get('why') or event.get('message', '')}"
    detail = " ".join(f"{k}={_short(v)}" for k, v in event.items())
    prefix = f"  {stage}: " if stage else ""
    marker = "! " if level in {"warning", "error", "critical"} else ""
    return f"{marker}{prefix}{name} {detail}".rstrip()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) < 160 else text[:157] + "..."


def configure(*, mode: str = "auto", level: str = "info", stream: TextIO | None = None) -> str:
    """Set up structlog for this process; returns the mode chosen ('console' or 'json')."""
    if mode not in MODES:
        raise InputError(
            f"--log-format {mode[:40]!r} is not a log format",
            hint=f"use one of: {', '.join(MODES)}",
        )
    out = stream or sys.stderr
    tty = out.isatty()
    chosen = ("console" if tty else "json") if mode == "auto" else mode
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        scrub,
    ]
    if chosen == "json":
        processors += [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ]
    else:
        processors.append(render_console)
    writer = _Writer(out, tty=tty)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_: writer,
        cache_logger_on_first_use=False,
    )
    return chosen
