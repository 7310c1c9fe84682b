"""Sealed Secrets in processes mode: the real controller (built by `make binaries`) run by the
local cluster's keeper with the ServiceAccount and RBAC of its own chart. `up` installs the
objects, starts the process and passes only once that controller made its key; a SealedSecret
sealed with the key's certificate is unsealed; a re-run changes nothing; `down` leaves no
controller behind."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import kube, wait
from bootstrap.commands import app, dr
from bootstrap.components.sealed_secrets import processes, sealing
from bootstrap.controlplane.layout import read_pid
from bootstrap.processes import runner
from bootstrap.stage import Verdict
from tests.integration import platform, sealed_controller
from tests.integration import sealing_keys as age_keys
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.sealed_controller import BIN_DIR, VERSION

HELM = BIN_DIR.parent / "argocd-v3.2.11" / "helm"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not sealed_controller.built()
        or not (BIN_DIR / "chart" / "Chart.yaml").is_file()
        or not HELM.is_file(),
        reason="the Sealed Secrets controller and chart (make binaries) or helm (make argocd) "
        "are not built",
    ),
]
SETS = ("components.sealed_secrets.enabled=true", "components.sealed_secrets.mode=processes")
PLAINTEXT = b"s3cr3t-for-the-database"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    made = write_profile(tmp_path, "ssproc")
    try:
        yield made
    finally:
        made.down()


def controller_pid(cluster: LocalCluster) -> int | None:
    return read_pid(cluster.state_dir / "local-cluster" / "pids" / f"{processes.NAME}.pid")


def seal(
    api: kube.Kube, work: Path, *, name: str = "db", key: dict[str, Any] | None = None
) -> dict[str, object]:
    """A SealedSecret for ``name``, sealed with the cluster's key (or with ``key``'s cert)."""
    key = key or sealing.list_keys(api, "kube-system")[0]
    cert = work / f"{name}-cert.pem"
    cert.write_bytes(base64.b64decode(key["data"]["tls.crt"]))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"password": base64.b64encode(PLAINTEXT).decode()},
    }
    result = runner.LocalRunner().run(
        [str(BIN_DIR / "kubeseal"), "--cert", str(cert), "--format", "yaml"],
        input=json.dumps(secret),
        timeout=60,
    )
    return dict(yaml.safe_load(result.stdout))


def unsealed(api: kube.Kube) -> Verdict:
    secret = api.get("v1", "Secret", "db", "default")
    if secret is None:
        return Verdict.waiting("Secret default/db not unsealed yet")
    assert base64.b64decode(secret["data"]["password"]) == PLAINTEXT
    return Verdict.passed()


def test_the_real_controller_runs_as_a_process_unseals_and_reruns_clean(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    report = platform.up_ok(cluster, *SETS)
    ran = next(s for s in report["stages"] if s["name"] == "sealed_secrets")
    assert ran["changes"] == [
        f"install Sealed Secrets {VERSION} into kube-system",
        "run the Sealed Secrets controller as a local process in the cluster's namespace",
    ]
    api = cluster.kube()
    keys = sealing.list_keys(api, "kube-system")
    assert len(keys) == 1, "the gate passed before the controller made its key"
    assert api.get("apps/v1", "Deployment", "sealed-secrets-controller", "kube-system") is None
    account = cluster.state_dir / "local-cluster" / "sealed-secrets" / "serviceaccount" / "token"
    assert account.stat().st_mode & 0o777 == 0o600
    token = account.read_text()
    logs = "".join(
        p.read_text(errors="replace") for p in (cluster.state_dir / "reports").glob("*.json")
    )
    assert token not in logs

    api.apply(seal(api, tmp_path))
    wait.until(lambda: unsealed(api), what="unsealed", deadline=60, clock=wait.RealClock())

    pid = controller_pid(cluster)
    platform.up_ok(cluster, *SETS)
    assert platform.stage_report(cluster, "sealed_secrets")["changes"] == []
    assert controller_pid(cluster) == pid
    assert [k["metadata"]["name"] for k in sealing.list_keys(api, "kube-system")] == [
        keys[0]["metadata"]["name"]
    ]

    code, _ = cluster.down()
    assert code == 0
    assert pid is not None
    assert not runner.pid_alive(pid)


@dataclass
class Lost:
    """A cluster that ran the real controller, sealed a secret, was backed up, and is gone."""

    sets: tuple[str, ...]
    backup: Path
    sealed: dict[str, object]
    key: str
    api: kube.Kube


def lost_cluster(tmp_path: Path, name: str) -> Lost:
    identity, _ = age_keys.identity(tmp_path)
    sets = (*SETS, f"components.sealed_secrets.age_identity={identity}")
    backup = tmp_path / "keys.age"
    (tmp_path / "old").mkdir()
    old = write_profile(tmp_path / "old", name)
    try:
        platform.up_ok(old, *sets)
        api = old.kube()
        sealed = seal(api, tmp_path)
        key = sealing.list_keys(api, "kube-system")[0]["metadata"]["name"]
        inv, _, err = old.invocation(*sets)
        assert app.backup(inv, out_file=backup) == 0, err.getvalue()
    finally:
        old.down()
    return Lost(sets, backup, sealed, key, api)


def test_a_rebuild_restores_the_key_before_the_process_starts_and_old_secrets_unseal(
    tmp_path: Path,
) -> None:
    """The operator's disaster recovery on the local profile: back up, lose the cluster, `up` a
    new one with the backup; the controller process loads the old key and makes none."""
    lost = lost_cluster(tmp_path, "ssold")
    sets, backup, sealed, old_key = lost.sets, lost.backup, lost.sealed, lost.key
    (tmp_path / "new").mkdir()
    new = write_profile(tmp_path / "new", "ssnew")
    try:
        report = platform.up_ok(new, *sets, f"components.sealed_secrets.key_backup={backup}")
        ran = next(s for s in report["stages"] if s["name"] == "sealed_secrets")
        assert ran["changes"][0] == (
            f"restore 1 sealing keys into kube-system before the controller starts ({old_key})"
        )
        assert ran["changes"][-1].startswith("run the Sealed Secrets controller")
        api = new.kube()
        api.apply(sealed)
        wait.until(
            lambda: unsealed(api),
            what="the old SealedSecret unsealed on the new cluster",
            deadline=60,
            clock=wait.RealClock(),
        )
        names = [k["metadata"]["name"] for k in sealing.list_keys(api, "kube-system")]
        assert names == [old_key]  # loaded the restored key; made none of its own
    finally:
        new.down()


def test_restoring_a_key_past_its_renewal_waits_for_the_new_key_and_warns_to_back_it_up(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    """A backup older than the renewal period: the real controller loads the old key and makes
    a new one at once; `up` waits for that key and says it is in no backup."""
    identity, age_identity = age_keys.identity(tmp_path)
    old = age_keys.key_secret("sealed-secrets-keyold", "kube-system", days_later=-45)
    backup = tmp_path / "old-keys.age"
    backup.write_bytes(sealing.encrypt([old], [age_identity.to_public()]))
    report = platform.up_ok(
        cluster,
        *SETS,
        f"components.sealed_secrets.age_identity={identity}",
        f"components.sealed_secrets.key_backup={backup}",
    )
    ran = next(s for s in report["stages"] if s["name"] == "sealed_secrets")
    names = sorted(k["metadata"]["name"] for k in sealing.list_keys(cluster.kube(), "kube-system"))
    assert len(names) == 2, names  # the restored key, and the controller's renewal
    assert "sealed-secrets-keyold" in names
    newest = next(n for n in names if n != "sealed-secrets-keyold")
    assert f"WARNING: the newest sealing key {newest}" in ran["why"]
    assert "is in no backup" in ran["why"]


def test_invoke_dr_restores_verifies_and_names_a_sealed_secret_no_key_can_open(
    tmp_path: Path,
) -> None:
    lost = lost_cluster(tmp_path, "drold")
    sets, backup, sealed, old_key = lost.sets, lost.backup, lost.sealed, lost.key
    other = age_keys.key_secret("other", "kube-system")
    foreign = seal(lost.api, tmp_path, name="foreign", key=other)

    (tmp_path / "new").mkdir()
    new = write_profile(tmp_path / "new", "drnew")
    report = tmp_path / "dr.json"
    try:
        inv, out, err = new.invocation(*sets)
        assert dr.dr(inv, backup, report_path=report) == 0, err.getvalue()[-3000:]
        assert "1 sealing keys restored from the backup, 0 SealedSecrets unsealed" in out.getvalue()
        checked = json.loads(report.read_text())["dr"]
        assert checked["keys_restored"] == [old_key]

        api = new.kube()
        api.apply(sealed)  # what Argo CD brings back from git
        inv, out, err = new.invocation(*sets)
        assert dr.dr(inv, backup, report_path=report) == 0, err.getvalue()[-3000:]
        assert json.loads(report.read_text())["dr"]["sealed_secrets_unsealed"] == ["default/db"]

        api.apply(foreign)
        inv, out, err = new.invocation(*sets)
        assert dr.dr(inv, backup, report_path=report) == 1
        assert "disaster recovery NOT verified" in out.getvalue()
        problems = json.loads(report.read_text())["dr"]["problems"]
        assert len(problems) == 1
        assert problems[0].startswith("SealedSecret default/foreign: cannot unseal: Synced=False")
    finally:
        new.down()


def test_invoke_dr_without_its_backup_file_is_bad_input(tmp_path: Path) -> None:
    made = write_profile(tmp_path, "drmissing")
    inv, _, err = made.invocation(*SETS)
    assert dr.dr(inv, tmp_path / "nowhere.age") == 2
    assert f"no key backup at {tmp_path / 'nowhere.age'}" in err.getvalue()
    assert not (made.state_dir / "local-cluster").exists()
