"""Run a process with files of ours where it insists on finding them (the Sealed Secrets
controller's service-account directory): a private mount namespace, a tmpfs over the directory
holding the fixed path, and a read-only bind of our directory onto it. Nothing in the host's
mount table or file system changes.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence

from bootstrap.errors import InputError


def require_tools(who: str) -> None:
    """unshare and mount on PATH, or an InputError saying how to get them."""
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            raise InputError(
                f"{tool} is not on PATH; {who} runs in a mount namespace of its own",
                hint="install util-linux (apt-get install util-linux)",
            )


def bound(*, tmpfs: str, source: str, target: str, argv: Sequence[str]) -> list[str]:
    """``argv`` in a private mount namespace where a tmpfs covers ``tmpfs`` and ``target``
    (under it) shows ``source``, read-only."""
    # Enter ``source`` first: the tmpfs may hide it (a state directory under it), while the
    # working directory still reaches it; --no-canonicalize keeps mount from resolving "." to
    # the hidden path.
    script = (
        'set -e; cd "$1"; '
        f"mount -t tmpfs tmpfs {shlex.quote(tmpfs)}; "
        f"mkdir -p {shlex.quote(target)}; "
        f"mount --no-canonicalize --bind . {shlex.quote(target)}; "
        f"mount -o remount,bind,ro {shlex.quote(target)}; "
        'cd /; shift; exec "$@"'
    )
    return [
        shutil.which("unshare") or "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        source,
        *argv,
    ]
