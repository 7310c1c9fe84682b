"""Sealed Secrets keys (contracts §5): back them up encrypted with age, restore them with the
server-set fields stripped, decide when the controller must restart to load them (it reads keys
only at startup), and notice when the newest key is in no backup.

The age identity is a file made by `age-keygen` (mode 0600), named by
``components.sealed_secrets.age_identity`` or ``$CLUSTERBOOT_AGE_IDENTITY``: its public key
encrypts backups (with any ``backup_recipients``), and it decrypts ``key_backup`` on a rebuild.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
import structlog
import yaml
from cryptography import x509

from bootstrap import secrets, yaml_guard
from bootstrap.errors import ClusterbootError, InputError
from bootstrap.health.workloads import epoch
from bootstrap.kube.client import Kube
from bootstrap.profile.schema import Profile

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
LEGACY_KEY = "sealed-secrets-key"  # the single key Secret of controllers before v0.9
IDENTITY_ENV = "CLUSTERBOOT_AGE_IDENTITY"
RECORDS = "sealed-secrets-backups.json"
LEDGER = "clusterboot-sealing-key-backups"
SEALED_SECRET = ("bitnami.com/v1alpha1", "SealedSecret")  # apiVersion, kind
SERVER_SET = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "ownerReferences",
    "generateName",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Doc = dict[str, Any]
log = structlog.get_logger("clusterboot.sealing")


# -- key Secrets ----------------------------------------------------------------------------
def list_keys(kube: Kube, namespace: str) -> list[Doc]:
    """Every key Secret: labelled ones (active or retired) and the pre-0.9 single key."""
    found, _ = kube.list("v1", "Secret", namespace=namespace, label_selector=KEY_LABEL)
    legacy = kube.get("v1", "Secret", LEGACY_KEY, namespace)
    names = {k["metadata"]["name"] for k in found}
    return found + ([legacy] if legacy and LEGACY_KEY not in names else [])


def strip(secret: Mapping[str, Any], namespace: str) -> Doc:
    """A key Secret as it can be created again: server-set fields gone (the API refuses a
    resourceVersion on create; an old ownerReference would have it garbage-collected), in
    ``namespace``, labelled active unless the backup says otherwise."""
    meta = {
        k: copy.deepcopy(v)
        for k, v in (secret.get("metadata") or {}).items()
        if k not in SERVER_SET
    }
    meta["namespace"] = namespace
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if meta.get("name") != LEGACY_KEY:
        meta["labels"] = {KEY_LABEL: "active", **(meta.get("labels") or {})}
    body = {k: copy.deepcopy(v) for k, v in secret.items() if k not in {"metadata", "status"}}
    return {**body, "apiVersion": "v1", "kind": "Secret", "metadata": meta}


def fingerprint(secret: Mapping[str, Any]) -> str:
    """Which key this is, whatever its name: the sha256 of its certificate."""
    cert = str((secret.get("data") or {}).get("tls.crt", ""))
    return hashlib.sha256(cert.encode()).hexdigest()[:16]


def issued(secret: Mapping[str, Any]) -> float:
    """When the key was made: its certificate's NotBefore (the controller's own order), else
    the Secret's creation time."""
    cert = str((secret.get("data") or {}).get("tls.crt", ""))
    try:
        return x509.load_pem_x509_certificate(
            base64.b64decode(cert)
        ).not_valid_before_utc.timestamp()
    except ValueError:
        created = (secret.get("metadata") or {}).get("creationTimestamp")
        return epoch(created) if created else 0.0


# -- restore: facts in, decision out --------------------------------------------------------
@dataclass(frozen=True)
class Restore:
    missing: tuple[str, ...]
    """Backup keys the cluster lacks: create them before the controller starts."""
    conflicts: tuple[str, ...]
    """Names the cluster has with another key in them: never overwritten."""
    restart: bool
    """The controller runs but started before the keys it needs existed."""


def restore_plan(
    backup: Mapping[str, str],
    cluster: Mapping[str, tuple[str, float]],
    pod_starts: Sequence[float | None],
) -> Restore:
    """``backup``: name → fingerprint; ``cluster``: name → (fingerprint, created);
    ``pod_starts``: when each controller pod started (None: not started yet)."""
    missing = tuple(sorted(n for n in backup if n not in cluster))
    conflicts = tuple(sorted(n for n, fp in backup.items() if n in cluster and cluster[n][0] != fp))
    started = [s for s in pod_starts if s is not None]
    newest = max((cluster[n][1] for n in backup if n in cluster), default=None)
    late = newest is not None and any(s < newest for s in started)
    return Restore(missing, conflicts, bool(started) and (bool(missing) or late))


def cluster_keys(keys: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, float]]:
    return {
        k["metadata"]["name"]: (fingerprint(k), epoch(k["metadata"]["creationTimestamp"]))
        for k in keys
    }


def pod_starts(pods: Iterable[Mapping[str, Any]]) -> list[float | None]:
    starts = [
        (p.get("status") or {}).get("startTime")
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    return [epoch(s) if s else None for s in starts]


# -- age ------------------------------------------------------------------------------------
def identity_file(profile: Profile, env: Mapping[str, str] = os.environ) -> Path:
    named = profile.components.sealed_secrets.age_identity or env.get(IDENTITY_ENV)
    if not named:
        raise InputError(
            "no age identity for Sealed Secrets key backups",
            hint=f"set components.sealed_secrets.age_identity to a file made by `age-keygen` "
            f"(mode 0600), or export {IDENTITY_ENV}=<that file>",
        )
    path = Path(named).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise InputError(f"age identity {path}: {err.strerror or err}") from err
    if stat.S_IMODE(mode) & 0o077:
        raise InputError(
            f"age identity {path} is readable by others (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {path}",
        )
    return path


MAX_IDENTITY = 64 << 10
"""Bytes an age identity file may have (a key is 74 characters; comments besides)."""


def identities(profile: Profile, env: Mapping[str, str] = os.environ) -> list[Any]:
    path = identity_file(profile, env)
    try:
        text = yaml_guard.read_regular(path, limit=MAX_IDENTITY).decode()
    except (yaml_guard.NotARegularFile, yaml_guard.TooLarge) as err:
        raise InputError(f"age identity {err}", hint="give the file `age-keygen` made") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"age identity {path} cannot be read: {err}") from None
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    try:
        found = [pyrage.x25519.Identity.from_str(line) for line in keys]
    except pyrage.IdentityError as err:
        raise InputError(f"age identity {path}: not an age identity file ({err})") from None
    if not found:
        raise InputError(f"age identity {path} holds no AGE-SECRET-KEY line")
    return found


def recipients(profile: Profile, env: Mapping[str, str] = os.environ) -> list[Any]:
    """Who can read a new backup: the identity's public key, plus ``backup_recipients``."""
    cfg = profile.components.sealed_secrets
    try:
        extra = [pyrage.x25519.Recipient.from_str(r) for r in cfg.backup_recipients]
    except pyrage.RecipientError as err:
        raise InputError(f"components.sealed_secrets.backup_recipients: {err}") from None
    if extra and not (cfg.age_identity or env.get(IDENTITY_ENV)):
        return extra
    return [i.to_public() for i in identities(profile, env)] + extra


def encrypt(keys: Sequence[Doc], to: Sequence[Any]) -> bytes:
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": list(keys)})
    return bytes(pyrage.encrypt(text.encode(), list(to)))


def decrypt(path: Path, with_: Sequence[Any]) -> list[Doc]:
    """The key Secrets in an encrypted backup."""
    try:
        data = pyrage.decrypt(path.read_bytes(), list(with_))
    except OSError as err:
        raise InputError(f"key backup {path}: {err.strerror or err}") from err
    except pyrage.DecryptError as err:
        raise InputError(
            f"key backup {path} cannot be decrypted: {err}",
            hint="is it an `invoke backup` file encrypted to this age identity?",
        ) from None
    not_keys = f"key backup {path} decrypts, but not to the key list `invoke backup` writes"
    try:
        doc = yaml.safe_load(bytes(data).decode())
    except UnicodeDecodeError:
        raise InputError(f"{not_keys} (it is not UTF-8 text)") from None
    except yaml.YAMLError as err:  # never quoted: the text is key material
        raise InputError(f"{not_keys} (not YAML {yaml_guard.described(err)})") from None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and i.get("kind") == "Secret" for i in items
    ):
        raise InputError(f"{not_keys} (no list of Secrets)")
    return items


def read_backup(profile: Profile) -> list[Doc]:
    cfg = profile.components.sealed_secrets
    if not cfg.key_backup:
        return []
    keys = decrypt(Path(cfg.key_backup).expanduser(), identities(profile))
    return [strip(k, cfg.namespace) for k in keys]


# -- backups and their freshness ------------------------------------------------------------
def backup(kube: Kube, profile: Profile, out: Path, *, state_dir: Path) -> list[str]:
    """Export every key Secret, encrypted with age, to ``out`` (0600); remember which keys the
    file holds, for the warning below. Returns the key names."""
    namespace = profile.components.sealed_secrets.namespace
    to = recipients(profile)
    keys = [strip(k, namespace) for k in list_keys(kube, namespace)]
    if not keys:
        raise ClusterbootError(
            f"no Sealed Secrets key Secrets in namespace {namespace}",
            hint="the controller creates its key at its first start: is it running there?",
        )
    secrets.write_private(out, encrypt(keys, to))
    at, fingerprints = datetime.now(UTC).isoformat(), sorted(fingerprint(k) for k in keys)
    record = {"file": str(out.resolve()), "at": at, "keys": fingerprints}
    path = state_dir / RECORDS
    records = [*_records(path), record]
    secrets.write_private(path, (json.dumps(records, indent=2) + "\n").encode())
    _record_in_cluster(kube, namespace, fingerprints, at)
    return [k["metadata"]["name"] for k in keys]


def _record_in_cluster(kube: Kube, namespace: str, fingerprints: list[str], at: str) -> None:
    """Note in the cluster (ConfigMap ``LEDGER``: certificate fingerprint → when) which keys
    a backup holds, so a run from another machine does not warn about a key backed up here.
    Only fingerprints and times: nothing secret."""
    current = kube.get("v1", "ConfigMap", LEDGER, namespace)
    data = {**((current or {}).get("data") or {}), **dict.fromkeys(fingerprints, at)}
    try:
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": LEDGER,
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/managed-by": "clusterboot"},
                },
                "data": data,
            }
        )
    except ClusterbootError as err:  # the backup itself is written; only the note is missing
        log.warning("sealed_secrets.backup_not_recorded", configmap=LEDGER, why=str(err))


def backed_up(state_dir: Path, kube: Kube | None = None, namespace: str = "") -> set[str]:
    """Fingerprints of every key some backup holds: recorded on this machine, or (given
    ``kube``) noted in the cluster by whoever took it."""
    found = {fp for r in _records(state_dir / RECORDS) for fp in r.get("keys", [])}
    if kube is not None:
        ledger = kube.get("v1", "ConfigMap", LEDGER, namespace) or {}
        found |= set(ledger.get("data") or {})
    return found


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return found if isinstance(found, list) else []


def stale_backup(keys: Sequence[Mapping[str, Any]], covered: set[str]) -> str | None:
    """A warning when the newest key (the one that seals new secrets) is in no backup."""
    if not keys:
        return None
    newest = max(keys, key=issued)
    if fingerprint(newest) in covered:
        return None
    when = datetime.fromtimestamp(issued(newest), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"the newest sealing key {newest['metadata']['name']} (from {when}) is in no "
        "backup: run `invoke backup --profile P --out FILE` and keep the file safe; new "
        "secrets are sealed with it, so fetch its certificate again (kubeseal --fetch-cert)"
    )


RENEW_PERIOD = 30 * 24 * 3600.0  # the controller's --key-renew-period default (720h)


def renew_period(args: Sequence[str]) -> float:
    """The controller's key renewal period in seconds, from its ``--key-renew-period`` flag (a
    Go duration of hours, minutes and seconds); 0 means renewal is off."""
    found = next((a.split("=", 1)[1] for a in args if a.startswith("--key-renew-period=")), None)
    if found is None:
        return RENEW_PERIOD
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for char in found.strip():
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total, number = total + float(number) * units[char], ""
        else:
            return RENEW_PERIOD  # a form we do not read: assume the default
    return total + (float(number) if number else 0.0)


def renewal_due(keys: Sequence[Mapping[str, Any]], *, now: float, period: float) -> str | None:
    """Why a controller that just loaded ``keys`` is about to make a new one: the newest is
    older than the renewal period (a restore of an old backup). None when it is not."""
    if not keys or period <= 0:
        return None
    newest = max(keys, key=issued)
    age = now - issued(newest)
    if age <= period:
        return None
    return (
        f"the newest key {newest['metadata']['name']} is {age / 86400:.0f} days old, past the "
        f"{period / 86400:.0f}-day renewal period: the controller makes a new key at startup"
    )
