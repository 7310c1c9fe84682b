"""A fault proxy for the Kubernetes API on 127.0.0.1: it terminates TLS with a CA of its own,
forwards each HTTP/1.1 request to the real API server with the upstream kubeconfig's
credentials, streams the answer back (watches included), and injects faults at a seeded rate.

Faults, one per request at most, drawn with ``random.Random(seed)``:

- ``429``: answered at once with 429 and ``Retry-After: 1``; the request never reaches the server.
- ``503``: answered at once with 503 (no Retry-After); never reaches the server.
- ``500``: the server does the request, the client is told 500 (a write applied, said failed).
- ``reset``: the connection is reset (SO_LINGER 0) before or after the server did the request;
  a watch is reset mid-stream, after it relayed events for a while.
- ``half-close``: the answer is cut off (headers and part of the body), then the proxy shuts its
  side for writing and keeps the connection open until the client closes it.
- ``stall``: nothing is answered for ``stall_seconds`` (past the client's request timeout), then
  the connection is closed; a watch gets its headers and then nothing.
- ``latency``: the request is delayed 0.1 to 1.5 s, then served.

The seed fixes the sequence of decisions; which request meets which decision depends on the
order the requests arrive in, so a replay is close but not exact when clients race.

    python -m tests.faults.proxy --upstream-kubeconfig K --rate 0.05 --seed 1 \\
        --listen-port P --out-kubeconfig K2 [--context NAME] [--stats FILE]

The written kubeconfig trusts the proxy's CA and authenticates with a bearer token that the proxy
swaps for the upstream kubeconfig's credentials; a request with another bearer token (a
controller's ServiceAccount token) is passed on as it is, for the API server to judge; one
without a token is refused. Test support, not product code; it listens on 127.0.0.1 only and
dials only the upstream's loopback address.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import ipaddress
import json
import random
import secrets
import signal
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KINDS = ("429", "503", "500", "reset", "half-close", "stall", "latency")
STALL_SECONDS = 35.0  # clusterboot's request timeout is 30 s
MAX_HEADER_BYTES = 64 * 1024


# -- credentials ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Upstream:
    """Where the real API server is, and how to authenticate to it."""

    host: str
    port: int
    context: ssl.SSLContext  # with the kubeconfig's client certificate, if it has one
    bare: ssl.SSLContext  # without: for clients that bring a token of their own
    token: str | None

    @classmethod
    def from_kubeconfig(cls, path: Path, workdir: Path, context: str | None = None) -> Upstream:
        doc = yaml.safe_load(path.read_text())
        name = context or doc.get("current-context") or doc["contexts"][0]["name"]
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
        parts = urlsplit(cluster["server"])
        host = parts.hostname or ""
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"refusing a non-loopback upstream {cluster['server']}")
        ca = _pem(cluster, "certificate-authority").decode()
        tls, bare = ssl.create_default_context(cadata=ca), ssl.create_default_context(cadata=ca)
        if user.get("client-certificate-data") or user.get("client-certificate"):
            cert, key = workdir / "upstream.crt", workdir / "upstream.key"
            cert.write_bytes(_pem(user, "client-certificate"))
            key.touch(mode=0o600)
            key.write_bytes(_pem(user, "client-key"))
            tls.load_cert_chain(cert, key)
        tls.set_alpn_protocols(["http/1.1"])
        bare.set_alpn_protocols(["http/1.1"])
        return cls(host, parts.port or 443, tls, bare, user.get("token"))

    def connect(self, *, as_upstream_user: bool) -> ssl.SSLSocket:
        raw = socket.create_connection((self.host, self.port), timeout=10)
        raw.settimeout(None)
        tls = self.context if as_upstream_user else self.bare
        return tls.wrap_socket(raw, server_hostname=self.host)


def _pem(entry: dict[str, Any], key: str) -> bytes:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    return Path(entry[key]).read_bytes()


def serving_context(workdir: Path) -> tuple[ssl.SSLContext, bytes]:
    """A fresh CA and a certificate for 127.0.0.1 signed by it; returns the TLS context that
    serves it and the CA's PEM (for the kubeconfig the proxy writes)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clusterboot-fault-proxy-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-proxy")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (workdir / "proxy.crt").write_bytes(cert.public_bytes(pem))
    key_file = workdir / "proxy.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(workdir / "proxy.crt", key_file)
    tls.set_alpn_protocols(["http/1.1"])  # no HTTP/2: Go clients fall back to HTTP/1.1
    return tls, ca.public_bytes(pem)


# -- faults ---------------------------------------------------------------------------------
@dataclass
class Faults:
    """Which request gets which fault: thread-safe, seeded, counted per kind."""

    rate: float
    seed: int
    kinds: tuple[str, ...] = KINDS
    stall_seconds: float = STALL_SECONDS
    watches_only: bool = False  # faults for watch requests only (the rest pass untouched)
    only_clients: tuple[str, ...] = ()  # User-Agent products that get faults (empty: all)
    cut_after: tuple[float, float] = (0.5, 5.5)  # a watch is cut this many seconds in
    injected: Counter[str] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)  # faults per User-Agent product
    requests: int = 0
    watches: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def choose(
        self, method: str, target: str, *, watch: bool, client: str = "?"
    ) -> tuple[str | None, float]:
        """The fault for one request (None: serve it) and a number in [0, 1) for its details."""
        with self._lock:
            self.requests += 1
            self.watches += watch
            if (self.watches_only and not watch) or (
                self.only_clients and client not in self.only_clients
            ):
                return None, 0.0
            hit = self._rng.random() < self.rate
            kind = self._rng.choice(self.kinds) if hit else None
            detail = self._rng.random()
            if kind is not None:
                self.injected[kind] += 1
                self.clients[client] += 1
                if len(self.log) < 5000:
                    entry = {"kind": kind, "method": method, "target": target[:120]}
                    self.log.append({**entry, "client": client})
            return kind, detail

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate": self.rate,
                "seed": self.seed,
                "requests": self.requests,
                "watches": self.watches,
                "injected": dict(sorted(self.injected.items())),
                "clients": dict(sorted(self.clients.items())),
            }


# -- HTTP/1.1 -------------------------------------------------------------------------------
@dataclass
class Message:
    start: str  # request or status line
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def encode(self) -> bytes:
        lines = [self.start, *(f"{k}: {v}" for k, v in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")


class Closed(Exception):
    """The peer closed the connection between messages."""


def read_head(reader: BinaryIO) -> Message:
    lines: list[str] = []
    size = 0
    while True:
        line = reader.readline(MAX_HEADER_BYTES)
        if not line:
            raise Closed
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise ValueError("header too large")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            if not lines:
                continue
            break
        lines.append(text)
    headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:])]
    return Message(lines[0], headers)


def read_body(reader: BinaryIO, msg: Message) -> bytes:
    """A request's whole body (chunked bodies are joined)."""
    if (msg.header("Transfer-Encoding") or "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(reader.read(size))
            reader.readline()
    length = int(msg.header("Content-Length") or 0)
    return reader.read(length) if length else b""


def is_watch(target: str) -> bool:
    parts = urlsplit(target)
    values = parse_qs(parts.query).get("watch", [])
    return "/watch/" in parts.path or any(v in ("true", "1") for v in values)


def status_response(code: int, reason: str, message: str, *, retry_after: int | None) -> bytes:
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"fault proxy: {message}",
            "reason": reason,
            "code": code,
        }
    ).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    return Message(f"HTTP/1.1 {code} {reason}", headers).encode() + body


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class Cut(Exception):
    """The fault ended this connection."""


# -- the proxy ------------------------------------------------------------------------------
class FaultProxy:
    """Listens on 127.0.0.1:``port`` (0: any free one); ``start`` runs it in threads."""

    def __init__(
        self,
        upstream_kubeconfig: Path,
        faults: Faults,
        *,
        port: int = 0,
        context: str | None = None,
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cb-fault-proxy-")
        workdir = Path(self._dir.name)
        self.upstream = Upstream.from_kubeconfig(upstream_kubeconfig, workdir, context)
        self.tls, self.ca_pem = serving_context(workdir)
        self.token = secrets.token_urlsafe(24)
        self.faults = faults
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = int(self.listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def kubeconfig(self, context: str = "fault-proxy") -> str:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.port}",
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        return yaml.safe_dump(doc, sort_keys=False)

    def write_kubeconfig(self, path: Path, context: str = "fault-proxy") -> Path:
        path.touch(mode=0o600)
        path.write_text(self.kubeconfig(context))
        return path

    def start(self) -> FaultProxy:
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            for sock in list(self._open):
                reset(sock)
        self._dir.cleanup()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._open.add if add else self._open.discard)(sock)

    def _serve(self, raw: socket.socket) -> None:
        self._track(raw, add=True)
        upstream: ssl.SSLSocket | None = None
        try:
            raw.settimeout(30)
            client = self.tls.wrap_socket(raw, server_side=True)  # detaches ``raw``
            self._track(raw, add=False)
            raw = client
            self._track(client, add=True)
            client.settimeout(None)
            reader = client.makefile("rb")
            up_reader: BinaryIO | None = None
            mine: bool | None = None  # the upstream connection authenticates as the upstream
            while not self._stopped.is_set():
                request = read_head(reader)
                body = read_body(reader, request)
                auth = request.header("Authorization") or ""
                if not auth.startswith("Bearer "):
                    client.sendall(
                        status_response(401, "Unauthorized", "no token", retry_after=None)
                    )
                    break
                ours = auth == f"Bearer {self.token}"
                if upstream is not None and mine != ours:
                    self._track(upstream, add=False)
                    upstream.close()
                    upstream = None
                if upstream is None:
                    upstream, mine = self.upstream.connect(as_upstream_user=ours), ours
                    self._track(upstream, add=True)
                    up_reader = upstream.makefile("rb")
                assert up_reader is not None
                keep = self._exchange(client, request, body, upstream, up_reader, ours=ours)
                if not keep:
                    break
        except (Closed, Cut, OSError, ValueError, ssl.SSLError):
            pass
        finally:
            for sock in (upstream, raw):
                if sock is not None:
                    self._track(sock, add=False)
                    with contextlib.suppress(OSError):
                        sock.close()

    def _exchange(
        self,
        client: ssl.SSLSocket,
        request: Message,
        body: bytes,
        upstream: ssl.SSLSocket,
        up_reader: BinaryIO,
        *,
        ours: bool,
    ) -> bool:
        """One request and its answer, perhaps with a fault; False: close the connection.
        ``ours``: it carries the proxy's token, which becomes the upstream's credentials; any
        other token (a controller's ServiceAccount) goes through for the server to judge."""
        method, target = [*request.start.split(" "), "", ""][:2]
        watch = is_watch(target)
        agent = (request.header("User-Agent") or "?").split("/")[0].split(" ")[0]
        kind, detail = self.faults.choose(method, target, watch=watch, client=agent)
        if kind == "429":
            client.sendall(status_response(429, "TooManyRequests", "slow down", retry_after=1))
            return True
        if kind == "503" or (kind == "500" and watch):
            client.sendall(status_response(503, "ServiceUnavailable", "away", retry_after=None))
            return True
        if kind == "stall" and not watch:
            self._stopped.wait(self.faults.stall_seconds)
            return False
        if kind == "reset" and not watch and detail < 0.5:
            reset(client)
            raise Cut
        if kind == "latency":
            time.sleep(0.1 + 1.4 * detail)
        upstream.sendall(self._forwarded(request, body, ours=ours))
        answer = read_head(up_reader)
        if kind == "500":
            self._relay_body(answer, up_reader, None, method)
            client.sendall(status_response(500, "InternalError", "lost it", retry_after=None))
            return True
        if kind == "reset" and not watch:
            self._relay_body(answer, up_reader, None, method)
            reset(client)
            raise Cut
        client.sendall(answer.encode())
        if kind in ("reset", "half-close", "stall"):
            self._cut(kind, answer, up_reader, client, detail=detail, watch=watch)
        if _status(answer) == 101:
            self._pipe(client, upstream, up_reader)
            return False
        closes = self._relay_body(answer, up_reader, client, method)
        return not closes and (answer.header("Connection") or "").lower() != "close"

    def _forwarded(self, request: Message, body: bytes, *, ours: bool) -> bytes:
        drop = {"host", "content-length", "transfer-encoding"} | (
            {"authorization"} if ours else set()
        )
        headers = [(k, v) for k, v in request.headers if k.lower() not in drop]
        headers.append(("Host", f"{self.upstream.host}:{self.upstream.port}"))
        if ours and self.upstream.token:
            headers.append(("Authorization", f"Bearer {self.upstream.token}"))
        if body or request.start.split(" ")[0] in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        return Message(request.start, headers).encode() + body

    def _cut(
        self,
        kind: str,
        answer: Message,
        up_reader: BinaryIO,
        client: ssl.SSLSocket,
        *,
        detail: float,
        watch: bool,
    ) -> None:
        """Relay part of the answer (a watch: for a while), then reset, half-close or stall."""
        if kind == "stall":
            self._stopped.wait(self.faults.stall_seconds)
            raise Cut
        low, high = self.faults.cut_after
        budget = time.monotonic() + (low + (high - low) * detail if watch else 0.0)
        relayed = _Relay(client, stop_at=budget, stop_after=None if watch else 1)
        with contextlib.suppress(_Enough):
            self._relay_body(answer, up_reader, relayed, "GET")
        if kind == "reset":
            reset(client)
            raise Cut
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)  # a FIN without TLS close_notify: a truncation
            client.settimeout(60)
            while client.recv(4096):  # (plain bytes now: drained until the client closes)
                pass
        raise Cut

    def _relay_body(self, answer: Message, up_reader: BinaryIO, client: Any, method: str) -> bool:
        """Copy the answer's body to ``client`` (None: discard); True when its end is the
        connection's end."""
        code = _status(answer)
        if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
            return False
        send = client.sendall if client is not None else (lambda _: None)
        if (answer.header("Transfer-Encoding") or "").lower() == "chunked":
            while True:
                line = up_reader.readline()
                if not line:
                    raise Cut
                size = int(line.split(b";")[0].strip() or b"0", 16)
                data = up_reader.read(size + 2) if size else b""
                if size == 0:
                    trailer = up_reader.readline()
                    while trailer not in (b"\r\n", b"\n", b""):
                        trailer = up_reader.readline()
                    send(line + b"\r\n")
                    return False
                send(line + data)
        length = answer.header("Content-Length")
        if length is not None:
            left = int(length)
            while left:
                data = up_reader.read(min(65536, left))
                if not data:
                    raise Cut
                send(data)
                left -= len(data)
            return False
        while data := up_reader.read1(65536):  # type: ignore[attr-defined]
            send(data)
        return True

    def _pipe(self, client: ssl.SSLSocket, upstream: ssl.SSLSocket, up_reader: BinaryIO) -> None:
        """An upgraded connection (exec, port-forward): bytes both ways, no faults."""

        def down() -> None:
            with contextlib.suppress(OSError):
                while data := up_reader.read1(65536):  # type: ignore[attr-defined]
                    client.sendall(data)

        threading.Thread(target=down, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                upstream.sendall(data)


def _status(answer: Message) -> int:
    parts = answer.start.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class _Enough(Exception):
    """Enough of the answer was relayed before a cut."""


class _Relay:
    """Sends to the client until a time (a watch) or a number of writes (any answer)."""

    def __init__(self, client: ssl.SSLSocket, *, stop_at: float, stop_after: int | None) -> None:
        self.client, self.stop_at, self.stop_after = client, stop_at, stop_after
        self.writes = 0

    def sendall(self, data: bytes) -> None:
        if self.stop_after is not None and self.writes >= self.stop_after:
            raise _Enough
        if self.stop_after is None and time.monotonic() >= self.stop_at:
            raise _Enough
        if self.stop_after is not None:
            data = data[: max(1, len(data) // 2)]  # half of the first piece, at most
        self.client.sendall(data)
        self.writes += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream-kubeconfig", type=Path, required=True)
    parser.add_argument("--context", help="the upstream context (default: current)")
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--stall-seconds", type=float, default=STALL_SECONDS)
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--out-kubeconfig", type=Path, required=True)
    parser.add_argument("--out-context", default="fault-proxy")
    parser.add_argument("--stats", type=Path, help="write what was injected here, every second")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    faults = Faults(args.rate, args.seed, kinds=kinds, stall_seconds=args.stall_seconds)
    proxy = FaultProxy(
        args.upstream_kubeconfig, faults, port=args.listen_port, context=args.context
    )
    proxy.write_kubeconfig(args.out_kubeconfig, args.out_context)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"fault proxy on 127.0.0.1:{proxy.port} (rate {args.rate}, seed {args.seed})", flush=True)
    with proxy:
        while not done.wait(1.0):
            if args.stats:
                args.stats.write_text(json.dumps(faults.summary()) + "\n")
    if args.stats:
        args.stats.write_text(json.dumps(faults.summary()) + "\n")
    print(json.dumps(faults.summary()), flush=True)


if __name__ == "__main__":
    main()
