"""Which cluster a profile created, for the commands that destroy or rebuild one.

kind and k3d clusters carry no owner: anyone can make `kind create cluster --name cb-dev` by
hand, or make it again after ours was deleted. So the profile's state directory keeps a record
of the cluster it created: the tool and the name, written before the create command runs (a
create cut short still leaves the record, and the next `up` finishes the cluster it names),
and, once its API answered, the UID of its kube-system Namespace, which a cluster made again
under the same name does not share. `down` deletes, and `dr` rebuilds into, only a cluster
that matches its record.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import structlog

from bootstrap.errors import ClusterbootError
from bootstrap.kube.client import Kube
from bootstrap.secrets import write_private

RECORD = "cluster-owner.json"
log = structlog.get_logger("clusterboot.ownership")


@dataclasses.dataclass(frozen=True)
class Record:
    tool: str
    name: str
    uid: str | None = None
    """The kube-system Namespace's UID, None until the API answered after the create."""


def record_path(state_dir: Path) -> Path:
    return state_dir / RECORD


def claim(state_dir: Path, tool: str, name: str) -> None:
    """Note that this profile is about to create ``tool`` cluster ``name``."""
    _write(state_dir, Record(tool, name))


def read(state_dir: Path) -> Record | None:
    """The record, or None when there is none or it is not one (then nothing is owned)."""
    path = record_path(state_dir)
    try:
        data = json.loads(path.read_text())
        record = Record(str(data["tool"]), str(data["name"]), data.get("uid") or None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as err:
        log.warning("ownership record unreadable; nothing owned", path=str(path), error=str(err))
        return None
    return record


def identify(state_dir: Path, kube: Kube, tool: str, name: str) -> None:
    """Add the live cluster's UID to a record of this cluster that lacks one."""
    record = read(state_dir)
    if record is None or record.uid is not None or (record.tool, record.name) != (tool, name):
        return
    try:
        uid = cluster_uid(kube)
    except ClusterbootError as err:  # the next run that reaches the API adds it
        log.info("cluster identity unreadable; recorded later", error=err.message)
        return
    if uid is not None:
        _write(state_dir, dataclasses.replace(record, uid=uid))


def forget(state_dir: Path) -> None:
    record_path(state_dir).unlink(missing_ok=True)


def cluster_uid(kube: Kube) -> str | None:
    """The kube-system Namespace's UID: made once with the cluster, never reused."""
    namespace = kube.get("v1", "Namespace", "kube-system")
    uid = (namespace or {}).get("metadata", {}).get("uid")
    return str(uid) if uid else None


def not_ours(
    state_dir: Path, tool: str, name: str, *, live: Callable[[], Kube | None]
) -> str | None:
    """Why the existing ``tool`` cluster ``name`` is not the one this profile created, or None
    when it is. ``live`` connects to the cluster, asked only when the record holds an identity
    to compare; None (or an API that does not answer) leaves the check to the tool and the
    name."""
    record = read(state_dir)
    made_elsewhere = (
        f"{tool} cluster {name} was not created by this profile (no record of it in "
        f"{record_path(state_dir)}): it was made by hand or by another tool"
    )
    if record is None or (record.tool, record.name) != (tool, name):
        return made_elsewhere
    if record.uid is None:
        return None
    kube = live()
    if kube is None:
        return None
    try:
        uid = cluster_uid(kube)
    except ClusterbootError as err:
        log.info("cluster identity unreadable; trusting the record", error=err.message)
        return None
    if uid is not None and uid != record.uid:
        return (
            f"{tool} cluster {name} is not the one this profile created (its kube-system "
            f"Namespace is {uid}, the profile's was {record.uid}): it was deleted and made "
            "again by hand or by another tool"
        )
    return None


def _write(state_dir: Path, record: Record) -> None:
    text = json.dumps(dataclasses.asdict(record), indent=2) + "\n"
    write_private(record_path(state_dir), text.encode())
