"""Network namespaces through libc: a namespace with only loopback for the local cluster, so a
fake pod or Service address (10.x) that kube-apiserver dials has no route and goes nowhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH22x"  # struct ifreq: name, flags, padding to 40 bytes


class NamespaceUnavailable(OSError):
    """This process may not create a network namespace (no privileges, not Linux)."""


def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c")
    if name is None:
        raise NamespaceUnavailable("libc not found; network namespaces need Linux")
    return ctypes.CDLL(name, use_errno=True)


def unshare_network() -> None:
    """Move this process into a new network namespace (with a user namespace when not root)."""
    libc = _libc()
    flags = CLONE_NEWNET
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            raise NamespaceUnavailable(os.strerror(ctypes.get_errno()))
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    elif libc.unshare(flags) != 0:
        raise NamespaceUnavailable(os.strerror(ctypes.get_errno()))
    bring_up_loopback()


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def available() -> tuple[bool, str]:
    """Whether this machine lets us create a network namespace, and why not."""
    if not os.path.exists("/proc/self/ns/net"):
        return False, "this system has no Linux network namespaces"
    if os.geteuid() != 0:
        path = "/proc/sys/kernel/unprivileged_userns_clone"
        if os.path.exists(path):
            with open(path) as handle:
                if handle.read().strip() == "0":
                    return False, "unprivileged user namespaces are disabled on this machine"
    return True, ""


@contextmanager
def entered(pid: int) -> Iterator[None]:
    """Run the calling *thread* inside the network namespace of process ``pid``.

    Sockets created meanwhile stay in that namespace. Use from a dedicated thread: the thread
    returns to its original namespace when the block ends.
    """
    libc = _libc()
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise NamespaceUnavailable(os.strerror(ctypes.get_errno()))
        try:
            yield
        finally:
            libc.setns(original, CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(original)
