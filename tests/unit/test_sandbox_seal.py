"""Sealing a sandbox repository's marked Secrets at publish time, with the real kubeseal and a
certificate made here: the published file holds a SealedSecret that our private key opens (so
it is sealed to that certificate, in strict scope), never the plain value; publishing again
commits the same bytes; another key seals again."""

from __future__ import annotations

import base64
import datetime
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from bootstrap.components import sandbox
from bootstrap.components.sandbox import seal
from bootstrap.errors import InputError
from bootstrap.processes import runner

KUBESEAL = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "clusterboot/bin/sealed-secrets-v0.36.6/kubeseal"
)
needs_kubeseal = pytest.mark.skipif(
    not KUBESEAL.is_file(), reason="kubeseal is not built: make binaries"
)
PASSWORD = "hunter2-but-longer"
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: data
  annotations:
    {seal.MARK}: "true"
stringData:
  password: {PASSWORD}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: data}}
data: {{mode: sandbox}}
"""


def key_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def unseal(key: rsa.RSAPrivateKey, sealed: str, label: bytes) -> bytes:
    """Sealed Secrets' hybrid scheme: 2-byte length, RSA-OAEP(SHA-256, label) session key,
    AES-256-GCM with a zero nonce."""
    blob = base64.b64decode(sealed)
    size = int.from_bytes(blob[:2], "big")
    session = key.decrypt(
        blob[2 : 2 + size],
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    return AESGCM(session).decrypt(b"\0" * 12, blob[2 + size :], None)


def source_tree(tmp_path: Path) -> Path:
    source = tmp_path / "repo"
    (source / "apps" / "db").mkdir(parents=True)
    (source / "apps" / "db" / "secret.yaml").write_text(SECRET)
    (source / "apps" / "db" / "plain.yaml").write_text("kind: Secret\nmetadata: {name: x}\n")
    return source


def sealer(tmp_path: Path, cert: bytes) -> seal.KubesealSealer:
    return seal.KubesealSealer(
        runner.LocalRunner(), str(KUBESEAL), cert, tmp_path / "state" / "seals.json"
    )


def published(tmp_path: Path, name: str) -> str:
    return (sandbox.repo_dir(tmp_path / "state") / name).read_text()


@needs_kubeseal
def test_a_marked_secret_is_published_sealed_to_the_cluster_key_in_strict_scope(
    tmp_path: Path,
) -> None:
    key, cert = key_pair()
    source = source_tree(tmp_path)
    sandbox.publish(
        f"sandbox:{source}", tmp_path / "state", runner.LocalRunner(), sealer(tmp_path, cert)
    )
    text = published(tmp_path, "apps/db/secret.yaml")
    assert PASSWORD not in text
    assert seal.MARK not in text
    sealed, config = yaml.safe_load_all(text)
    assert (sealed["kind"], sealed["metadata"]["name"], sealed["metadata"]["namespace"]) == (
        "SealedSecret",
        "db-credentials",
        "data",
    )
    assert config["kind"] == "ConfigMap"
    value = sealed["spec"]["encryptedData"]["password"]
    assert unseal(key, value, b"data/db-credentials") == PASSWORD.encode()
    with pytest.raises(ValueError, match="Decryption failed"):
        unseal(key, value, b"other/db-credentials")  # strict scope: bound to its namespace
    assert "kind: Secret" in published(tmp_path, "apps/db/plain.yaml")  # unmarked: as written
    assert (tmp_path / "state" / "seals.json").stat().st_mode & 0o777 == 0o600


@needs_kubeseal
def test_publishing_again_to_the_same_key_commits_nothing_new_and_a_new_key_reseals(
    tmp_path: Path,
) -> None:
    _, cert = key_pair()
    source, state = source_tree(tmp_path), tmp_path / "state"
    url = f"sandbox:{source}"
    sandbox.publish(url, state, runner.LocalRunner(), sealer(tmp_path, cert))
    first = published(tmp_path, "apps/db/secret.yaml")
    sandbox.publish(url, state, runner.LocalRunner(), sealer(tmp_path, cert))
    assert published(tmp_path, "apps/db/secret.yaml") == first
    git = ["git", "-C", str(sandbox.repo_dir(state))]
    diff = subprocess.run(
        [*git, "diff", "--stat", "HEAD~1", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert diff == ""

    _, other = key_pair()
    sandbox.publish(url, state, runner.LocalRunner(), sealer(tmp_path, other))
    assert published(tmp_path, "apps/db/secret.yaml") != first


def test_marked_secrets_without_a_sealer_are_refused(tmp_path: Path) -> None:
    source = source_tree(tmp_path)
    with pytest.raises(InputError, match=r"apps/db/secret\.yaml hold Secrets to seal"):
        sandbox.publish(f"sandbox:{source}", tmp_path / "state", runner.LocalRunner())


@needs_kubeseal
def test_a_marked_secret_without_a_namespace_is_refused_by_name(tmp_path: Path) -> None:
    _, cert = key_pair()
    source = tmp_path / "repo"
    source.mkdir()
    (source / "s.yaml").write_text(SECRET.replace("  namespace: data\n", "", 1))
    with pytest.raises(InputError, match=r"'db-credentials' has no metadata\.namespace"):
        sandbox.publish(
            f"sandbox:{source}", tmp_path / "state", runner.LocalRunner(), sealer(tmp_path, cert)
        )


def test_only_secrets_carrying_the_mark_are_to_be_sealed() -> None:
    files = {
        "a.yaml": SECRET.encode(),
        "b.yaml": SECRET.replace('"true"', '"false"').encode(),
        "c.txt": SECRET.encode(),
        "d.yaml": SECRET.replace("kind: Secret", "kind: ConfigMap").encode(),
    }
    assert seal.files_to_seal(files) == ["a.yaml"]
