"""Sealed Secrets key material for tests: an age identity file and key Secrets shaped like the
controller's own (an RSA key and a self-signed certificate in a kubernetes.io/tls Secret)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pyrage
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bootstrap.components.sealed_secrets import sealing


def identity(directory: Path) -> tuple[Path, Any]:
    """An age identity file (mode 0600, as age-keygen writes it) and the identity."""
    made = pyrage.x25519.Identity.generate()
    path = directory / "backup.agekey"
    path.write_text(f"# public key: {made.to_public()}\n{made}\n")
    path.chmod(0o600)
    return path, made


def key_secret(name: str, namespace: str, *, days_later: int = 0) -> dict[str, Any]:
    """A sealing key Secret; ``days_later`` moves its certificate's NotBefore forward."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_later)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace, "labels": {sealing.KEY_LABEL: "active"}},
        "data": {
            "tls.crt": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
            "tls.key": base64.b64encode(pem_key).decode(),
        },
    }
