"""Disaster recovery for real: the Sealed Secrets controller (built from its Go module) runs
against one local cluster and seals nothing but its own key; kubeseal seals a Secret with that
key's certificate; `invoke backup` exports the key (age); the cluster is destroyed; a new one
gets the key restored by `up` before any controller starts; and the real controller there
decrypts the old SealedSecret."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import kube
from bootstrap.commands import app
from bootstrap.components.sealed_secrets import sealing
from bootstrap.processes import runner
from bootstrap.stage import Verdict
from tests.integration import platform, sealed_controller, upstream_like
from tests.integration import sealing_keys as keys
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.sealed_controller import BIN_DIR, VERSION, Controller

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not sealed_controller.built(),
        reason="the Sealed Secrets controller and kubeseal are not built: "
        "bash toolchain/build.sh sealed-secrets",
    ),
]
PLAINTEXT = b"correct horse battery staple"
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db-password", "namespace": "default"},
    "data": {"password": base64.b64encode(PLAINTEXT).decode()},
}


def unsealed(api: kube.Kube) -> Verdict:
    secret = api.get("v1", "Secret", "db-password", "default")
    if secret is None:
        return Verdict.waiting("Secret default/db-password not created yet")
    if base64.b64decode(secret["data"]["password"]) != PLAINTEXT:
        return Verdict.broken("Secret default/db-password holds something else")
    return Verdict.passed()


def has_key(api: kube.Kube) -> Verdict:
    if sealing.list_keys(api, "kube-system"):
        return Verdict.passed()
    return Verdict.waiting("no key Secret yet")


def cluster(directory: Path, name: str) -> LocalCluster:
    directory.mkdir()
    return write_profile(directory, name, artifacts={"cache_dir": str(directory / "cache")})


def seal(api: kube.Kube, made: LocalCluster, work: Path) -> dict[str, Any]:
    """kubeseal with the certificate of the cluster's key (no proxy to a fake pod address)."""
    key = sealing.list_keys(api, "kube-system")[0]
    cert = work / "cert.pem"
    cert.write_bytes(base64.b64decode(key["data"]["tls.crt"]))
    result = runner.LocalRunner().run(
        [str(BIN_DIR / "kubeseal"), "--cert", str(cert), "--format", "yaml"],
        input=json.dumps(SECRET),
        env={"KUBECONFIG": str(made.kubeconfig)},
        timeout=60,
    )
    return dict(yaml.safe_load(result.stdout))


def test_a_secret_sealed_on_a_destroyed_cluster_decrypts_on_a_new_one_with_the_restored_key(
    tmp_path: Path,
) -> None:
    crd = (BIN_DIR / "crds" / "bitnami.com_sealedsecrets.yaml").read_text()  # upstream's own
    docs = upstream_like.sealed_secrets(VERSION, crd_text=crd)
    source = upstream_like.serve(docs, tmp_path / "controller.yaml")
    identity, _ = keys.identity(tmp_path)
    sets = [
        *platform.component("sealed_secrets", source),
        f"components.sealed_secrets.age_identity={identity}",
    ]
    backup = tmp_path / "keys.age"

    old = cluster(tmp_path / "old", "drold")
    try:
        platform.up_ok(old, *sets)
        api = old.kube()
        with Controller(old) as controller:
            controller.wait_for("the controller's first key", lambda: has_key(api))
            sealed = seal(api, old, tmp_path)
            api.apply(sealed)
            controller.wait_for(
                "the SealedSecret unsealed on the old cluster", lambda: unsealed(api)
            )
        old_key = sealing.list_keys(api, "kube-system")[0]["metadata"]["name"]
        inv, _, err = old.invocation(*sets)
        assert app.backup(inv, out_file=backup) == 0, err.getvalue()
    finally:
        old.down()

    new = cluster(tmp_path / "new", "drnew")
    try:
        report = platform.up_ok(new, *sets, f"components.sealed_secrets.key_backup={backup}")
        ran = next(s for s in report["stages"] if s["name"] == "sealed_secrets")
        assert ran["changes"] == [
            f"restore 1 sealing keys into kube-system before the controller starts ({old_key})",
            f"install Sealed Secrets {VERSION} into kube-system",
        ]
        api = new.kube()
        assert api.get("v1", "Secret", "db-password", "default") is None
        with Controller(new) as controller:
            api.apply(sealed)
            controller.wait_for(
                "the old SealedSecret unsealed on the new cluster", lambda: unsealed(api)
            )
        names = [k["metadata"]["name"] for k in sealing.list_keys(api, "kube-system")]
        assert names == [old_key]  # loaded the restored key; made none of its own
    finally:
        new.down()
