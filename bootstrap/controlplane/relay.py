"""TCP relays across a network namespace's edge.

Inward: a listening socket opened in the host's namespace, each connection piped to an address
dialled from this process's namespace; it is how the host reaches an API server that lives in a
loopback-only network namespace. Outward: a listening socket inside the namespace, each
connection piped to a socket a ``Dialer`` connected from the host's namespace; it is how
processes in a loopback-only namespace reach one API server on the host, and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Callable

from bootstrap.processes import runner

_CHUNK = 65536


Connect = Callable[[], socket.socket]


def dialling(target: tuple[str, int]) -> Connect:
    """Connections to ``target`` made from this thread's namespace."""
    return functools.partial(socket.create_connection, target, timeout=10)


def serve(listener: socket.socket, connect: Connect, stop: threading.Event) -> None:
    """Accept on ``listener`` until ``stop`` is set; each connection is piped to a socket
    ``connect`` returns."""
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
        threading.Thread(target=_connect, args=(client, connect), daemon=True).start()


def _connect(client: socket.socket, connect: Connect) -> None:
    try:
        upstream = connect()
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


class Dialer:
    """Connections made from the network namespace this process started in, after it left it.

    ``start`` forks a child before the namespace changes; the child stays behind and, for each
    request, connects to one of the fixed ``targets`` and hands the connected socket back over a
    Unix socket pair. It exits when the pair closes (its parent is gone). Only the targets named
    at the start can be reached: the namespace's one way out.
    """

    def __init__(self, channel: socket.socket, targets: list[tuple[str, int]]) -> None:
        self.channel, self.targets = channel, targets
        self.lock = threading.Lock()

    @classmethod
    def start(cls, targets: list[tuple[str, int]]) -> Dialer:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

        def dial_for_parent() -> None:
            parent.close()
            _dial_for(child, targets)

        runner.fork_helper(dial_for_parent)
        child.close()
        return cls(parent, targets)

    def connect(self, index: int) -> socket.socket:
        with self.lock:
            self.channel.sendall(bytes([index]))
            _, fds, _, _ = socket.recv_fds(self.channel, 1, 1)
        if not fds:
            host, port = self.targets[index]
            raise ConnectionRefusedError(f"{host}:{port} did not answer")
        return socket.socket(fileno=fds[0])

    def connecting(self, index: int) -> Connect:
        return functools.partial(self.connect, index)


def _dial_for(channel: socket.socket, targets: list[tuple[str, int]]) -> None:
    while request := channel.recv(1):
        try:
            upstream = socket.create_connection(targets[request[0]], timeout=10)
        except OSError:
            channel.sendall(b"n")
            continue
        with upstream:
            socket.send_fds(channel, [b"y"], [upstream.fileno()])
