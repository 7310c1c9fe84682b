"""An admission webhook we control, for the integration tier: an HTTPS server listening on
127.0.0.1 *inside the local cluster's network namespace*, so kube-apiserver reaches it through
``clientConfig.url``. It refuses (HTTP 500) the first ``refuse`` reviews, then allows them.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bootstrap.controlplane import netns

NAME = "refuse.itest.clusterboot.dev"
CLUSTER_PUBLISHED = frozenset({"kube-root-ca.crt"})


@dataclass
class Policy:
    """What the webhook answers: ``refuse`` reviews get HTTP 500 (-1: all of them), objects
    named ``probe-*`` are always allowed, ``deny`` turns every other answer into a denial.
    What the cluster publishes on its own (``kube-root-ca.crt``, written into each new
    namespace by kube-controller-manager whenever it gets to it) is allowed and not counted:
    otherwise it takes refusals meant for the test. ``message`` makes a denial's message from
    the object under review (a careless policy that echoes what it refused)."""

    refuse: int = 0
    deny: bool = False
    message: Callable[[dict[str, Any]], str] | None = None
    refused: int = 0
    allowed: int = 0
    probes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, name: str) -> str:
        with self.lock:
            if name in CLUSTER_PUBLISHED:
                return "allow"
            if name.startswith("probe-"):
                self.probes += 1
                return "allow"
            if self.refuse < 0 or self.refused < self.refuse:
                self.refused += 1
                return "refuse"
            self.allowed += 1
            return "deny" if self.deny else "allow"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        answer = self.server.policy.decide(str(request.get("name") or ""))
        if answer == "refuse":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"not serving yet")
            return
        response: dict[str, Any] = {"uid": request["uid"], "allowed": answer == "allow"}
        if answer == "deny":
            policy = self.server.policy
            said = policy.message(request["object"]) if policy.message else ""
            response["status"] = {"code": 403, "message": said or "denied by the test webhook"}
        body = json.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    policy: Policy


def certificates(directory: Path) -> tuple[Path, Path, bytes]:
    """A CA and a server certificate for IP 127.0.0.1: (cert file, key file, CA PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "itest webhook CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "webhook.crt", directory / "webhook.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


class Webhook:
    """Serves from a thread; the listening socket is created inside the cluster's namespace."""

    def __init__(self, keeper_pid: int, directory: Path, policy: Policy) -> None:
        self.cert, self.key, self.ca = certificates(directory)
        self.policy = policy
        self.keeper_pid = keeper_pid
        self.port = 0
        self._server: _Server | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def __enter__(self) -> Webhook:
        threading.Thread(target=self._serve, name="itest webhook", daemon=True).start()
        if not self._ready.wait(10) or self._failure is not None:
            raise RuntimeError(f"webhook server did not start: {self._failure}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _serve(self) -> None:
        try:
            with netns.entered(self.keeper_pid):
                server = _Server(("127.0.0.1", 0), _Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert, self.key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.policy = self.policy
            self.port = int(server.server_address[1])
            self._server = server
        except BaseException as err:
            self._failure = err
            raise
        finally:
            self._ready.set()
        server.serve_forever(poll_interval=0.1)

    def configuration(self, namespace: str, resource: str = "configmaps") -> dict[str, Any]:
        """A ValidatingWebhookConfiguration for ``resource`` (core v1) in ``namespace`` only."""
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": f"itest-{namespace}"},
            "webhooks": [
                {
                    "name": NAME,
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{self.port}/validate",
                        "caBundle": base64.b64encode(self.ca).decode(),
                    },
                    "rules": [
                        {
                            "operations": ["CREATE", "UPDATE"],
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "resources": [resource],
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}
                    },
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 5,
                }
            ],
        }
