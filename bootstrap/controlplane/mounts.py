"""Run a process with files of ours where it insists on finding them (a service-account
directory, a webhook certificate directory): a private mount namespace and a read-only bind of
our directory onto the fixed path. Nothing in the host's mount table changes.
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


def bound(*, source: str, target: str, argv: Sequence[str], tmpfs: str | None = None) -> list[str]:
    """``argv`` in a private mount namespace where ``target`` shows ``source`` (read-only).

    With ``tmpfs``, a tmpfs over that directory first, so ``target`` can be made under a
    directory of the host without touching it; without, ``target`` is created on the host if
    missing (an empty directory) and only covered in the private namespace.
    """
    # Enter ``source`` first: the tmpfs may hide it (a state directory under it), while the
    # working directory still reaches it; --no-canonicalize keeps mount from resolving "." to
    # the hidden path.
    cover = f"mount -t tmpfs tmpfs {shlex.quote(tmpfs)}; " if tmpfs else ""
    script = (
        'set -e; cd "$1"; '
        f"{cover}"
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
