"""Secret values: held in ``Secret`` so they never print, and remembered so logs can scrub them.

The registry is process-wide on purpose: the log processor, the runner's argv redaction and
the error printer must all scrub the same values, whichever object happened to load them.
Besides what a profile references, the credentials a tool may find in the environment
(``remember_environment``) and text shaped like a well-known token are masked too: a tool we
run can print them on its stderr even when the profile never mentions them.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

MASK = "***"
_MIN_LENGTH = 4  # shorter values would scrub ordinary words out of every line

CREDENTIAL_ENV = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "ARGOCD_AUTH_TOKEN",
        "DOCKER_PASSWORD",
        "DOCKER_AUTH_CONFIG",
        "OCI_CLI_KEY_CONTENT",
        "KUBE_TOKEN",
        "VAULT_TOKEN",
    }
)
"""Names of credentials tools read from the environment: their values are masked."""
_CREDENTIAL_NAME = re.compile(
    r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|SECRET_ACCESS_KEY|KEY_CONTENT)$",
    re.IGNORECASE,
)
_GUESSED_MIN_LENGTH = 8  # a name that only looks like a credential's must hold a real one
TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens (classic, OAuth, app, refresh)
    r"|github_pat_[A-Za-z0-9_]{20,}"  # GitHub fine-grained tokens
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab personal access tokens
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}\b"  # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"  # JWTs (header.payload.sig)
)
"""Text shaped like a token is masked wherever it comes from."""

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
    for value in list(new):
        # Multi-line secrets (keys, kubeconfigs) are also scrubbed line by line.
        new.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 8)
        # A Secret's data holds it in base64, and what the API answers about a Secret can
        # echo that (an admission webhook's or policy's denial message).
        new.add(base64.b64encode(value.encode()).decode())
    with _lock:
        if new <= _known:
            return
        _known.update(new)
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def remember_environment(env: Mapping[str, str] | None = None) -> None:
    """Remember the values of the credentials in ``env`` (default: this process's), whether
    or not a profile refers to them: the tools we run read them, and may print them."""
    env = os.environ if env is None else env
    remember(
        *(
            value
            for name, value in env.items()
            if name.upper() in CREDENTIAL_ENV
            or (_CREDENTIAL_NAME.search(name) and len(value) >= _GUESSED_MIN_LENGTH)
        )
    )


def redact(text: str) -> str:
    """Replace every remembered secret, and anything shaped like a token, with the mask."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return TOKEN_SHAPES.sub(MASK, text)


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
