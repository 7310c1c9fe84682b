"""`invoke dr --backup FILE`: the disaster-recovery rebuild, then proof that it recovered.

`up` runs with the backup as ``components.sealed_secrets.key_backup`` (keys restored before the
controller starts, every wave gated). Then the rebuild is verified from the cluster itself:
every key of the backup is there, and every SealedSecret in the cluster has been unsealed into
its Secret. What was checked goes into the report (a ``dr`` section) and the summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bootstrap import health, wait
from bootstrap.commands import app, run_lock
from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import ClusterbootError, GateFailed, GateTimeout, InputError
from bootstrap.kube.client import Kube
from bootstrap.profile import loader
from bootstrap.profile.schema import Profile
from bootstrap.stage import Verdict

AGE_HEADER = b"age-encryption.org/v1\n"  # how every age file (not armored) begins
UNSEAL_SECONDS = 60.0  # a SealedSecret just applied by Argo CD may not be unsealed yet


@dataclasses.dataclass
class Findings:
    keys: list[str]
    unsealed: list[str]
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": "failed" if self.problems else "verified",
            "keys_restored": self.keys,
            "sealed_secrets_unsealed": self.unsealed,
            "problems": self.problems,
        }


def dr(
    inv: app.Invocation,
    backup: Path,
    *,
    report_path: Path | None = None,
    junit_path: Path | None = None,
) -> int:
    backup = backup.expanduser().resolve()
    scoped = dataclasses.replace(
        inv, sets=(*inv.sets, f"components.sealed_secrets.key_backup={backup}")
    )

    loaded: list[Profile] = []

    def check() -> int:
        check_backup(backup)
        loaded.append(loader.load(scoped.profile, overrides=scoped.sets))
        if not loaded[0].components.sealed_secrets.enabled:
            raise InputError(
                "components.sealed_secrets.enabled is false: there is nothing to restore the "
                "keys into",
                hint="enable it in the profile, or rebuild with `invoke up`",
            )
        refuse_foreign_cluster(scoped)
        return 0

    code = app.guarded(inv, check)
    if code != 0:
        return code
    state_dir = app.state_dir_for(loaded[0])
    report_file = report_path or state_dir / "reports" / "last-dr.json"

    def locked() -> int:
        with run_lock.held(state_dir, app.described("dr", inv), err=inv.err):
            code = app.up(scoped, report_path=report_file, junit_path=junit_path)
            if code != 0:
                return code
            return app.guarded(inv, lambda: _verify(scoped, report_file))

    return app.guarded(inv, locked)


def refuse_foreign_cluster(inv: app.Invocation) -> None:
    """A rebuild goes only into a cluster this profile created (or will create): never into
    an attached one, nor one of the same name made by hand or by another tool."""
    ctx, engine = app.context_for(inv)
    for stage in engine.stages.values():
        if stage.provides != "cluster" or stage.skip_reason(ctx.profile) is not None:
            continue
        try:
            why = stage.foreign(ctx)
        except InputError:
            raise
        except ClusterbootError:  # the cluster cannot be looked at: up says why, in context
            continue
        if why is not None:
            raise InputError(
                f"dr rebuilds only a cluster this profile owns: {why}",
                hint="to restore the sealing keys into that cluster anyway, run `invoke up "
                "--set components.sealed_secrets.key_backup=FILE`",
            )


def check_backup(backup: Path) -> None:
    """The file `invoke backup` wrote: there, readable and age-encrypted. Checked before the
    profile and the rest of preflight: a wrong --backup makes every other check moot."""
    hint = "give the file `invoke backup` wrote"
    if not backup.exists():
        raise InputError(f"no key backup at {backup}", hint=hint)
    if backup.is_dir():
        raise InputError(f"key backup {backup} is a directory, not a file", hint=hint)
    if not backup.is_file():  # a FIFO or a device would block, or never end
        raise InputError(f"key backup {backup} is not a regular file", hint=hint)
    try:
        with backup.open("rb") as file:
            head = file.read(len(AGE_HEADER))
    except OSError as err:
        raise InputError(f"key backup {backup} cannot be read: {err.strerror or err}") from err
    if head != AGE_HEADER:
        raise InputError(
            f"key backup {backup} is not an age-encrypted file (it does not start with "
            f"{AGE_HEADER.decode().strip()!r})",
            hint=hint,
        )


def _verify(inv: app.Invocation, report_file: Path) -> int:
    ctx = app.connected(inv)
    namespace = ctx.profile.components.sealed_secrets.namespace
    findings = Findings([], [], [])
    wanted = {
        k["metadata"]["name"]: sealing.fingerprint(k) for k in sealing.read_backup(ctx.profile)
    }
    have = {
        k["metadata"]["name"]: sealing.fingerprint(k)
        for k in sealing.list_keys(ctx.kube, namespace)
    }
    for name, fingerprint in sorted(wanted.items()):
        if have.get(name) == fingerprint:
            findings.keys.append(name)
        else:
            findings.problems.append(
                f"sealing key {namespace}/{name} from the backup is not in the cluster"
            )
    _check_unsealed(ctx.kube, findings, ctx.clock)
    data = json.loads(report_file.read_text())
    data["dr"] = {**findings.as_dict(), "checked": datetime.now(UTC).isoformat()}
    report_file.write_text(json.dumps(data, indent=2) + "\n")
    _print(inv, findings, report_file)
    return 1 if findings.problems else 0


def _check_unsealed(kube: Kube, findings: Findings, clock: wait.Clock) -> None:
    """Every SealedSecret in the cluster unsealed (Synced=True and its Secret present), waiting
    a little for ones applied moments ago; the failures with the controller's message."""
    latest: dict[str, str] = {}  # namespace/name -> why it is not unsealed ("" when it is)

    def all_unsealed() -> Verdict:
        items, _ = kube.list(*sealing.SEALED_SECRET)
        latest.clear()
        broken = False
        for item in items:
            meta = item["metadata"]
            where = f"{meta.get('namespace')}/{meta['name']}"
            state = health.assess(item, now=clock.now(), grace_seconds=0)
            secret = kube.get("v1", "Secret", meta["name"], meta.get("namespace"))
            broken = broken or state.failed
            latest[where] = (
                state.reason if not state.current else "" if secret else "its Secret is missing"
            )
        waiting = [w for w, why in latest.items() if why]
        if broken:  # the controller has said it cannot: waiting longer will not help
            return Verdict.broken("a SealedSecret cannot be unsealed")
        return Verdict.waiting("not unsealed yet", *waiting) if waiting else Verdict.passed()

    with contextlib.suppress(GateFailed, GateTimeout):  # the findings say which, and why
        wait.until(
            all_unsealed, what="SealedSecrets unsealed", deadline=UNSEAL_SECONDS, clock=clock
        )
    findings.unsealed = sorted(w for w, why in latest.items() if not why)
    findings.problems += [f"SealedSecret {w}: {why}" for w, why in sorted(latest.items()) if why]


def _print(inv: app.Invocation, findings: Findings, report_file: Path) -> None:
    if findings.problems:
        lines = ["✗ disaster recovery NOT verified:", *_bullets(findings.problems)]
    else:
        lines = [
            "✓ disaster recovery verified: "
            f"{len(findings.keys)} sealing keys restored from the backup, "
            f"{len(findings.unsealed)} SealedSecrets unsealed, every gate of up passed"
        ]
    lines += [f"  dr report: {report_file}"]
    print("\n".join(lines), file=inv.out)


def _bullets(lines: Iterable[str]) -> list[str]:
    return [f"  - {line}" for line in lines]
