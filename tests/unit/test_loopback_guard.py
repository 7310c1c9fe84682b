"""The suite-wide loopback guard (tests/conftest.py) is on."""

from __future__ import annotations

import socket

import httpx
import pytest


@pytest.mark.parametrize("address", [("10.96.0.1", 443), ("192.0.2.1", 80)])
def test_a_connect_beyond_loopback_fails_before_any_packet(address: tuple[str, int]) -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match="tried to connect"):
        sock.connect(address)


def test_a_name_lookup_beyond_localhost_fails() -> None:
    with pytest.raises(AssertionError, match="tried to resolve"):
        httpx.get("https://raw.githubusercontent.com/", timeout=1)


def test_loopback_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
