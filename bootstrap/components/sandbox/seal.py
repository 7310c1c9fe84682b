"""Secrets in a sandbox GitOps repository, sealed when it is published.

A real GitOps repository holds SealedSecrets made with its cluster's key. A sandbox repository is
published to a cluster whose key did not exist when the files were written, so it holds plain
Secrets marked ``sandbox.clusterboot.io/seal: "true"``, and publishing replaces each with a
SealedSecret made by ``kubeseal`` with the certificate of the cluster's newest sealing key
(strict scope: the name and namespace are part of the seal). Only the published copy holds
ciphertext; the plain value stays in the source directory, which is what a sandbox is for.

Sealing is randomized, so each seal is kept (state directory, mode 0600) keyed by the plain
document and the certificate: publishing the same tree to the same key gives the same bytes,
and a re-run commits nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bootstrap import secrets
from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import InputError
from bootstrap.kube.client import Kube
from bootstrap.processes.runner import Runner

MARK = "sandbox.clusterboot.io/seal"
Doc = dict[str, Any]
Sealer = Callable[[Doc], Doc]


def marked(doc: object) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") != "Secret":
        return False
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(MARK, "")).lower() == "true"


def files_to_seal(files: Mapping[str, bytes]) -> list[str]:
    """The YAML files holding at least one marked Secret."""
    return [
        name
        for name, data in files.items()
        if _is_yaml(name) and MARK.encode() in data and any(marked(d) for d in _docs(name, data))
    ]


def seal_files(files: dict[str, bytes], sealer: Sealer) -> dict[str, bytes]:
    """``files`` with every marked Secret replaced by its SealedSecret (other documents kept)."""
    out = dict(files)
    for name in files_to_seal(files):
        docs = [sealer(d) if marked(d) else d for d in _docs(name, files[name])]
        out[name] = yaml.safe_dump_all(docs, sort_keys=False).encode()
    return out


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _docs(name: str, data: bytes) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError as err:
        raise InputError(f"sandbox file {name} is not valid YAML: {err}") from err


def newest_certificate(kube: Kube, namespace: str) -> bytes:
    """The certificate of the newest sealing key (the one the controller seals with)."""
    keys = sealing.list_keys(kube, namespace)
    if not keys:
        raise InputError(
            f"no Sealed Secrets key in {namespace} to seal the sandbox's Secrets with",
            hint="enable components.sealed_secrets (mode: processes on the local profile)",
        )
    newest = max(keys, key=sealing.issued)
    return base64.b64decode(newest["data"]["tls.crt"])


class KubesealSealer:
    """Seals with ``kubeseal --cert`` (no cluster access), remembering every seal it made."""

    def __init__(self, runner: Runner, kubeseal: str, certificate: bytes, memory: Path) -> None:
        self.runner, self.kubeseal, self.certificate, self.memory = (
            runner,
            kubeseal,
            certificate,
            memory,
        )
        self.cert_id = hashlib.sha256(certificate).hexdigest()
        self.known: dict[str, Doc] = _read_memory(memory)

    def __call__(self, secret: Doc) -> Doc:
        plain = _without_mark(secret)
        meta = plain.get("metadata") or {}
        if not meta.get("namespace"):
            raise InputError(
                f"sandbox Secret {meta.get('name')!r} has no metadata.namespace",
                hint="a sealed Secret is bound to its namespace: set it in the file",
            )
        key = hashlib.sha256(
            (self.cert_id + json.dumps(plain, sort_keys=True)).encode()
        ).hexdigest()
        if key not in self.known:
            self.known[key] = self._seal(plain)
            secrets.write_private(self.memory, json.dumps(self.known, indent=1).encode())
        return self.known[key]

    def _seal(self, plain: Doc) -> Doc:
        with tempfile.TemporaryDirectory(prefix="clusterboot-seal-") as scratch:
            cert = Path(scratch) / "cert.pem"
            cert.write_bytes(self.certificate)
            result = self.runner.run(
                [self.kubeseal, "--cert", str(cert), "--format", "json"],
                input=json.dumps(plain),
                timeout=60,
            )
        return dict(json.loads(result.stdout))


def _without_mark(secret: Doc) -> Doc:
    plain = json.loads(json.dumps(secret))
    annotations = plain["metadata"].get("annotations") or {}
    annotations.pop(MARK, None)
    if not annotations:
        plain["metadata"].pop("annotations", None)
    return dict(plain)


def _read_memory(path: Path) -> dict[str, Doc]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def find_kubeseal(built: Path) -> str:
    """kubeseal built by `make binaries`, else from PATH."""
    if os.access(built, os.X_OK):
        return str(built)
    found = shutil.which("kubeseal")
    if found is None:
        raise InputError(
            "kubeseal is needed to seal the sandbox repository's Secrets",
            hint="run `make binaries` (builds it), or install kubeseal "
            "(go install github.com/bitnami-labs/sealed-secrets/cmd/kubeseal@v0.36.6)",
        )
    return found
