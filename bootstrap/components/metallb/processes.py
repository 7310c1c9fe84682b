"""MetalLB's controller as a local process beside the local cluster, run by the keeper inside
the cluster's loopback-only network namespace.

The controller assigns LoadBalancer addresses from the pool and serves MetalLB's validating
(and CRD conversion) webhooks. Inside the namespace the API server cannot reach a Service's
fake address, so the webhook configurations are pointed at ``https://127.0.0.1:9443`` with the
cluster CA, and the controller serves the cluster's own serving certificate (its SANs include
127.0.0.1) with certificate rotation off. The manifest is upstream's ``metallb-native.yaml``,
copied from the Go module the binary is built from by ``make binaries``; its Deployment and
DaemonSet are left out (this process stands in for the controller; no speaker is needed to
assign addresses, and none could announce them here).

The controller binds its webhook and metrics ports on every interface of the namespace, which
has only loopback; outside a namespace (``--unisolated``) it is refused for that reason.

For a cluster that does not run here (the process host), the API server cannot call into the
namespace: the webhooks are left out (``without_webhooks``) and the controller runs with
``--webhook-mode=disabled``, so objects are applied unvalidated, as without MetalLB's webhook.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bootstrap import secrets
from bootstrap.controlplane import accounts, pki
from bootstrap.controlplane.layout import Layout
from bootstrap.errors import InputError

NAME = "metallb-controller"
ACCOUNT = "controller"  # metallb-native.yaml's ServiceAccount for the controller
TOKEN_SECRET = "metallb-controller-token"  # noqa: S105 - a name, not a credential
GROUP = "metallb"
MANIFEST = "metallb-native.yaml"
WEBHOOK_PORT = 9443
METRICS_PORT = 7472
BUILD_HINT = "run `make binaries` (builds MetalLB's controller and copies its manifest)"
WORKLOADS = {"Deployment", "DaemonSet"}
Doc = dict[str, Any]


def bin_dir(binaries_root: Path, version: str) -> Path:
    return binaries_root / f"metallb-{version}"


def verify(directory: Path) -> Path:
    """The controller and the manifest, or an InputError saying how to build them."""
    binary = directory / "controller"
    missing = [] if os.access(binary, os.X_OK) else [str(binary)]
    if not (directory / MANIFEST).is_file():
        missing.append(str(directory / MANIFEST))
    if missing:
        raise InputError(
            f"MetalLB for processes mode is missing: {', '.join(missing)}", hint=BUILD_HINT
        )
    return directory


def local_objects(docs: Iterable[Doc], ca_bundle: bytes) -> list[Doc]:
    """The manifest without its workloads, every webhook (admission and CRD conversion) pointed
    at the local process on 127.0.0.1 and trusting ``ca_bundle``."""
    encoded = base64.b64encode(ca_bundle).decode()
    out = []
    for doc in docs:
        if doc.get("kind") in WORKLOADS:
            continue
        doc = copy.deepcopy(doc)
        for hook in doc.get("webhooks") or []:
            hook["clientConfig"] = _local(hook.get("clientConfig") or {}, encoded)
        conversion = (doc.get("spec") or {}).get("conversion") or {}
        webhook = conversion.get("webhook") or {}
        if webhook.get("clientConfig"):
            webhook["clientConfig"] = _local(webhook["clientConfig"], encoded)
        out.append(doc)
    return out


def without_webhooks(docs: Iterable[Doc]) -> list[Doc]:
    """The manifest without its workloads and webhooks: no admission webhook configuration,
    and the CRDs' conversion left to the API server (``None``: their versions share a schema
    for everything MetalLB's address pools use)."""
    out = []
    for doc in docs:
        if doc.get("kind") in WORKLOADS | {"ValidatingWebhookConfiguration"}:
            continue
        doc = copy.deepcopy(doc)
        if (doc.get("spec") or {}).get("conversion"):
            doc["spec"]["conversion"] = {"strategy": "None"}
        out.append(doc)
    return out


def _local(config: Doc, ca_bundle: str) -> Doc:
    path = (config.get("service") or {}).get("path") or ""
    return {"url": f"https://127.0.0.1:{WEBHOOK_PORT}{path}", "caBundle": ca_bundle}


def temp_dir(layout: Layout) -> Path:
    """The controller's TMPDIR: where controller-runtime's webhook server finds its cert."""
    return layout.root / "metallb" / "tmp"


def cert_dir(layout: Layout) -> Path:
    return temp_dir(layout) / "k8s-webhook-server" / "serving-certs"


def write_serving_cert(layout: Layout) -> Path:
    """The cluster's serving certificate and key where the controller reads them (0600)."""
    source = pki.Pki(layout.pki_dir)
    directory = cert_dir(layout)
    secrets.write_private(directory / "tls.key", source.admin_key.read_bytes())
    shutil.copyfile(source.admin_cert, directory / "tls.crt")
    return directory


def kubeconfig(layout: Layout) -> Path:
    """The controller's kubeconfig: its own ServiceAccount's token (the manifest's RBAC)."""
    return layout.root / "metallb" / "kubeconfig"


def write_kubeconfig(layout: Layout, *, token: str, namespace: str) -> Path:
    return accounts.write_kubeconfig(
        layout.admin_kubeconfig, kubeconfig(layout), token=token, namespace=namespace
    )


def components(
    layout: Layout, *, directory: Path, namespace: str, webhooks: bool = True
) -> list[dict[str, Any]]:
    """The keeper's component entry for the controller (``webhooks``: it serves them)."""
    # The webhook server reads $TMPDIR/k8s-webhook-server/serving-certs whatever --cert-dir
    # says (the flag only feeds the rotation, which is off).
    argv = [
        str(directory / "controller"),
        f"--port={METRICS_PORT}",
        f"--namespace={namespace}",
        "--log-level=info",
        "--tls-min-version=VersionTLS12",
        "--disable-cert-rotation",
    ]
    if not webhooks:
        argv.append("--webhook-mode=disabled")
    return [
        {
            "name": NAME,
            "argv": argv,
            "env": {"KUBECONFIG": str(kubeconfig(layout)), "TMPDIR": str(temp_dir(layout))},
            "log": str(layout.log_file(NAME)),
            "ready": {
                "kind": "tcp",
                "host": "127.0.0.1",
                "port": WEBHOOK_PORT if webhooks else METRICS_PORT,
            },
            "ready_timeout": 90,
        }
    ]
