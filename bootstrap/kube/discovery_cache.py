"""Where a connection keeps the API discovery it learned, so that the next process talking to
the same cluster starts from it instead of asking again (~30 requests per process otherwise).

One file per cluster, named after the API address *and* its CA: a cluster rebuilt on the same
address has a new CA, so it never inherits the old one's kinds. A file older than ``TTL`` is
dropped, and one that is not whole JSON (a process killed while writing it) too.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

TTL = 30 * 60.0
"""Long enough for a re-run, a `status` after an `up`, a CI job's up/command/down; short enough
that a kind removed from the API without clusterboot's knowledge is not looked for for long.
A kind missing from the cache is never a problem: the lookup asks the API again."""


def path_for(directory: Path, *, host: str, ca: bytes | None) -> Path:
    """The cache file of the cluster at ``host`` whose CA bundle is ``ca`` (None: system CAs)."""
    digest = hashlib.sha256(host.encode() + b"\0" + (ca if ca is not None else b"system"))
    return directory / f"{digest.hexdigest()[:32]}.json"


def usable(path: Path, *, now: float | None = None) -> bool:
    """True when ``path`` holds a whole cache written less than ``TTL`` ago."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
        if age > TTL or age < -60:  # a clock set back: don't trust the stamp
            return False
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def prepare(directory: Path, *, host: str, ca: bytes | None) -> Path:
    """The cache file to hand to the client: the directory made (0700), a stale or broken file
    removed so the client starts afresh rather than from it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = path_for(directory, host=host, ca=ca)
    if path.exists() and not usable(path):
        path.unlink(missing_ok=True)
    return path
