"""A TCP relay from a listening socket (opened in the host's namespace) to an address dialled
from this process's namespace. It is how the host reaches an API server that lives in a
loopback-only network namespace.
"""

from __future__ import annotations

import contextlib
import socket
import threading

_CHUNK = 65536


def serve(listener: socket.socket, target: tuple[str, int], stop: threading.Event) -> None:
    """Accept on ``listener`` until ``stop`` is set; each connection is piped to ``target``."""
    listener.settimeout(0.5)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            if stop.is_set():
                return
            raise
        threading.Thread(target=_connect, args=(client, target), daemon=True).start()


def _connect(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    client.settimeout(None)
    # Small API requests must not wait for Nagle's algorithm on either hop.
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
    _pipe(upstream, client)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close so the other direction can drain, then release both when done.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
