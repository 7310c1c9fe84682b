"""Sealed Secrets key backups: encrypted with age to the profile's identity, written 0600,
readable only with that identity, and refused when the identity file is not private."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pyrage
import pytest

from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import ClusterbootError, InputError
from bootstrap.kube.client import ObjectRef
from bootstrap.profile.schema import Profile

KEY = {
    "apiVersion": "v1",
    "kind": "Secret",
    "type": "kubernetes.io/tls",
    "metadata": {
        "name": "sealed-secrets-keyq2w3e",
        "namespace": "kube-system",
        "creationTimestamp": "2026-03-01T10:00:00Z",
        "resourceVersion": "812",
        "uid": "5a0c",
        "labels": {sealing.KEY_LABEL: "active"},
    },
    "data": {"tls.crt": "Y2VydA==", "tls.key": "c2VjcmV0LWtleQ=="},
}


class Keys:
    """A cluster holding key Secrets, for ``list_keys`` (label selector or the legacy name)."""

    def __init__(self, *secrets: dict[str, Any]) -> None:
        self.secrets = secrets
        self.applied: list[dict[str, Any]] = []

    def list(
        self,
        api: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        return [
            copy.deepcopy(s)
            for s in self.secrets
            if label_selector in (s["metadata"].get("labels") or {})
        ], "1"

    def get(self, api: str, kind: str, name: str, namespace: str | None = None) -> Any:
        found = [*self.secrets, *self.applied]
        return next((copy.deepcopy(s) for s in found if s["metadata"]["name"] == name), None)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied = [o for o in self.applied if o["metadata"]["name"] != obj["metadata"]["name"]]
        self.applied.append(copy.deepcopy(obj))
        return obj


def identity_file(directory: Path, mode: int = 0o600) -> tuple[Path, Any]:
    identity = pyrage.x25519.Identity.generate()
    path = directory / "backup.agekey"
    path.write_text(f"# created: today\n# public key: {identity.to_public()}\n{identity}\n")
    path.chmod(mode)
    return path, identity


def profile(identity: Path | None, **sealed: Any) -> Profile:
    settings = {"age_identity": str(identity) if identity else None, **sealed}
    return Profile.model_validate(
        {
            "name": "p",
            "cluster": {"provider": "local", "name": "c"},
            "components": {"sealed_secrets": settings},
        }
    )


def test_a_backup_is_private_and_decrypts_to_the_keys_without_server_fields(
    tmp_path: Path,
) -> None:
    path, _ = identity_file(tmp_path)
    out = tmp_path / "keys.age"
    names = sealing.backup(Keys(KEY), profile(path), out, state_dir=tmp_path)  # type: ignore[arg-type]
    assert names == ["sealed-secrets-keyq2w3e"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"c2VjcmV0LWtleQ" not in out.read_bytes()
    restored = sealing.read_backup(profile(path, key_backup=str(out)))
    assert restored == [sealing.strip(KEY, "kube-system")]
    assert "resourceVersion" not in restored[0]["metadata"]
    assert sealing.backed_up(tmp_path) == {sealing.fingerprint(KEY)}


def test_a_backup_is_noted_in_the_cluster_for_runs_from_other_machines(tmp_path: Path) -> None:
    path, _ = identity_file(tmp_path)
    cluster = Keys(KEY)
    sealing.backup(cluster, profile(path), tmp_path / "k.age", state_dir=tmp_path / "here")  # type: ignore[arg-type]
    elsewhere = tmp_path / "another-machine"
    assert sealing.backed_up(elsewhere) == set()
    assert sealing.backed_up(elsewhere, cluster, "kube-system") == {sealing.fingerprint(KEY)}  # type: ignore[arg-type]
    ledger = cluster.get("v1", "ConfigMap", sealing.LEDGER, "kube-system")
    assert "c2VjcmV0LWtleQ" not in str(ledger)  # fingerprints and times only


def test_a_backup_also_takes_the_legacy_single_key(tmp_path: Path) -> None:
    path, _ = identity_file(tmp_path)
    legacy = copy.deepcopy(KEY)
    legacy["metadata"] = {"name": sealing.LEGACY_KEY, "namespace": "kube-system"}
    names = sealing.backup(
        Keys(KEY, legacy),
        profile(path),
        tmp_path / "k.age",  # type: ignore[arg-type]
        state_dir=tmp_path,
    )
    assert names == ["sealed-secrets-keyq2w3e", sealing.LEGACY_KEY]


def test_no_key_secrets_is_an_error_not_an_empty_backup(tmp_path: Path) -> None:
    path, _ = identity_file(tmp_path)
    with pytest.raises(ClusterbootError, match="no Sealed Secrets key Secrets"):
        sealing.backup(Keys(), profile(path), tmp_path / "k.age", state_dir=tmp_path)  # type: ignore[arg-type]
    assert not (tmp_path / "k.age").exists()


def test_a_backup_for_another_identity_cannot_be_read(tmp_path: Path) -> None:
    ours, _ = identity_file(tmp_path)
    stranger = pyrage.x25519.Identity.generate()
    out = tmp_path / "theirs.age"
    out.write_bytes(sealing.encrypt([KEY], [stranger.to_public()]))
    with pytest.raises(InputError, match="cannot be decrypted"):
        sealing.read_backup(profile(ours, key_backup=str(out)))


def test_extra_recipients_can_read_a_backup_too(tmp_path: Path) -> None:
    ours, _ = identity_file(tmp_path)
    offline = pyrage.x25519.Identity.generate()
    to = sealing.recipients(profile(ours, backup_recipients=[str(offline.to_public())]))
    data = sealing.encrypt([KEY], to)
    assert b"tls.key" in pyrage.decrypt(data, [offline])


def test_an_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    path, _ = identity_file(tmp_path, mode=0o644)
    with pytest.raises(InputError, match="readable by others") as caught:
        sealing.identities(profile(path))
    assert caught.value.hint == f"chmod 600 {path}"


def test_the_identity_comes_from_the_environment_when_the_profile_names_none(
    tmp_path: Path,
) -> None:
    path, identity = identity_file(tmp_path)
    found = sealing.identities(profile(None), env={sealing.IDENTITY_ENV: str(path)})
    assert [str(i) for i in found] == [str(identity)]
    with pytest.raises(InputError, match=sealing.IDENTITY_ENV):
        sealing.identities(profile(None), env={})


def test_a_file_that_is_not_an_identity_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "id"
    path.write_text("AGE-SECRET-KEY-NOTREALLY\n")
    path.chmod(0o600)
    with pytest.raises(InputError, match="not an age identity"):
        sealing.identities(profile(path))


def test_list_keys_is_only_key_secrets() -> None:
    other = {**KEY, "metadata": {"name": "unrelated", "namespace": "kube-system"}}
    found = sealing.list_keys(Keys(KEY, other), "kube-system")  # type: ignore[arg-type]
    assert [str(ObjectRef.of(k)) for k in found] == ["Secret kube-system/sealed-secrets-keyq2w3e"]


@pytest.mark.parametrize(
    ("plain", "why"),
    [
        (b"tls.key: MIIEv-not-a-key-7731\n  - : [\n", "not YAML at line"),
        (b"items: MIIEv-not-a-key-7731\n", "no list of Secrets"),
        (b"items: [MIIEv-not-a-key-7731]\n", "no list of Secrets"),
        (b"\xff\xfeMIIEv-not-a-key-7731", "not UTF-8 text"),
    ],
)
def test_a_backup_that_decrypts_to_something_else_is_named_never_quoted(
    tmp_path: Path, plain: bytes, why: str
) -> None:
    ours, identity = identity_file(tmp_path)
    out = tmp_path / "odd.age"
    out.write_bytes(pyrage.encrypt(plain, [identity.to_public()]))
    with pytest.raises(InputError) as raised:
        sealing.read_backup(profile(ours, key_backup=str(out)))
    assert "decrypts, but not to the key list `invoke backup` writes" in raised.value.message
    assert why in raised.value.message
    assert "not-a-key-7731" not in str(raised.value) + raised.value.hint
