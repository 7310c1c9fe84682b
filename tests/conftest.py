"""Suite-wide safety net: no test may reach beyond loopback.

Every in-process connect to a non-loopback address, and every name lookup other than
localhost, fails loudly instead of sending a packet. Only tests marked
`reaches_unroutable` lift the guard, to prove from inside the local cluster's namespace
(which has no route anywhere) that such a connect dies there.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.own_networks import OWN_NETWORKS

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class LeftLoopback(AssertionError):
    """A test tried to talk to something beyond 127.0.0.1."""


def _loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    if host in {"localhost", ""}:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in OWN_NETWORKS)


def _checked(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        raise LeftLoopback(f"a test tried to connect to {address[0]}:{address[1]}")


def _connect(self: socket.socket, address: Any) -> None:
    _checked(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _checked(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and not _loopback(name):
        raise LeftLoopback(f"a test tried to resolve {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo


def _remove() -> None:
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _real_getaddrinfo


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reaches_unroutable: lifts the loopback guard (only inside the cluster netns)"
    )
    _install()


@pytest.fixture(autouse=True)
def _loopback_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("reaches_unroutable"):
        _remove()
        try:
            yield
        finally:
            _install()
    else:
        yield
