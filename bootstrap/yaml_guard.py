"""Limits for input from outside (profiles, fetched manifests, reports): a file that is no
regular file, a file too large, or YAML whose
anchors and aliases expand to a huge tree ("billion laughs"), is refused before anything walks
it. PyYAML builds aliases as shared references, so loading is cheap; every later walk (merge,
validation, interpolation, copying) would see the expanded tree, which grows exponentially
with the nesting of aliases, and would never end in a value that holds itself (``&a [*a]``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml


class TooLarge(ValueError):
    """Raised with a message that says what was too large."""


def expanded_size(data: Any, *, limit: int) -> int:
    """How many values ``data`` holds once every alias is expanded, counting shared objects
    once per reference but computing each only once; raises TooLarge past ``limit``, and for
    a value that contains itself (an alias inside its own anchor: an endless tree)."""
    sizes: dict[int, int] = {}
    walking: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in walking:
            raise TooLarge("has an alias inside its own anchor (a value that contains itself)")
        walking.add(id(node))
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise TooLarge(
                    f"expands to more than {limit:,} values (anchors and aliases repeated "
                    "inside each other?)"
                )
        walking.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(data)


def described(err: yaml.YAMLError) -> str:
    """Where and why a YAML text does not parse (``at line 3, column 7: mapping values are not
    allowed here``), never quoting it: PyYAML's own message shows the offending line, and in
    a kubeconfig or a decrypted backup that line can be a token or a key."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"at line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
    problem = getattr(err, "problem", None) or type(err).__name__
    return f"{where}: {problem}"


class NotARegularFile(ValueError):
    """Raised with a message that says what the path is instead."""


def read_regular(path: Path, *, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them. A FIFO would block
    and a device (``/dev/zero``) never end, and both report a size of 0, so the kind is checked
    on the opened file (no blocking open) and the read itself is bounded."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise NotARegularFile(f"{path} is {kind}, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooLarge(f"{path} is larger than {limit:,} bytes")
    return data
