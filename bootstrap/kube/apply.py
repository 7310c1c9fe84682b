"""Apply many manifests in one call, in the order that works: Namespaces and CRDs first, wait
until the CRDs are Established and refresh discovery, then the rest — so a CRD and its custom
resources can share one file. Each object retries known transient errors under a named policy
(honouring Retry-After, never past the deadline); anything else fails at once, object named.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog
import yaml

from bootstrap import health, retry, wait, yaml_guard
from bootstrap.errors import InputError, TemporaryError
from bootstrap.kube.client import ApiError, Kube, NotFound, ObjectRef, split_documents
from bootstrap.wait import Verdict

if TYPE_CHECKING:
    from bootstrap.wait import Clock

Manifests = Iterable[Mapping[str, Any]] | str | Path
Action = Literal["created", "configured", "unchanged"]
log = structlog.get_logger("clusterboot.apply")

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
FIRST = {("", "Namespace"), CRD}
# Fields the server owns: equal objects differ only here, so a dry run ignores them.
_VOLATILE = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid")


@dataclass(frozen=True)
class Applied:
    """One object's outcome: created / configured / unchanged (would-be, in a dry run)."""

    ref: ObjectRef
    action: Action
    resource_version: str
    retries: int = 0


@dataclass
class ApplyResult:
    objects: list[Applied] = field(default_factory=list)
    dry_run: bool = False

    @property
    def retries(self) -> int:
        return sum(a.retries for a in self.objects)

    @property
    def changed(self) -> list[Applied]:
        return [a for a in self.objects if a.action != "unchanged"]

    def action(self, ref: str) -> Action:
        """The outcome for ``Kind ns/name`` (as ``str(ObjectRef)`` spells it)."""
        return next(a.action for a in self.objects if str(a.ref) == ref)

    def summary(self) -> str:
        counts = {k: sum(a.action == k for a in self.objects) for k in ("created", "configured")}
        same = len(self.objects) - sum(counts.values())
        if self.dry_run:
            words = [f"would create {counts['created']}", f"would change {counts['configured']}"]
        else:
            words = [f"{counts['created']} created", f"{counts['configured']} configured"]
        return ", ".join([*words, f"{same} unchanged"])


MAX_MANIFEST_VALUES = 5_000_000  # Argo CD's install.yaml holds about 60,000


def load_manifests(docs: Manifests) -> list[dict[str, Any]]:
    """Objects from YAML text, a YAML file, or mappings; empty documents and Lists unwrapped."""
    if isinstance(docs, Path):
        docs = docs.read_text()
    raw = list(yaml.safe_load_all(docs)) if isinstance(docs, str) else list(docs)
    try:
        yaml_guard.expanded_size(raw, limit=MAX_MANIFEST_VALUES)
    except yaml_guard.TooLarge as err:
        raise InputError(f"the manifest {err}", hint="is it the pinned file?") from None
    objects = split_documents(raw)
    for number, obj in enumerate(objects, 1):
        missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
        if not (obj.get("metadata") or {}).get("name"):
            missing.append("metadata.name")
        if missing:
            raise InputError(f"manifest object {number} has no {', '.join(missing)}")
    return objects


def apply_manifests(
    kube: Kube,
    docs: Manifests,
    *,
    namespace: str | None,
    clock: Clock,
    deadline: float,
    policy: str | retry.Policy = "api",
    dry_run: bool = False,
) -> ApplyResult:
    """Server-side apply ``docs`` in dependency order within ``deadline`` seconds."""
    objects = load_manifests(docs)
    until = clock.now() + deadline
    first = [o for o in objects if _kind(o) in FIRST]
    rest = [o for o in objects if _kind(o) not in FIRST]
    pending_kinds = {_defined_kind(o) for o in first if _kind(o) == CRD}
    result = ApplyResult(dry_run=dry_run)
    step = _Step(kube, namespace=namespace, clock=clock, until=until, policy=policy)
    result.objects += [step.apply(o, dry_run=dry_run) for o in first]
    if pending_kinds and not dry_run:
        _await_established(kube, [o for o in first if _kind(o) == CRD], clock, until)
        if any(a.ref.kind == CRD[1] and a.action != "unchanged" for a in result.objects):
            kube.refresh_discovery()  # (a kind still unknown later refreshes it on its own)
    for obj in rest:
        if dry_run and _kind(obj) in pending_kinds and not _served(kube, obj):
            result.objects.append(Applied(ObjectRef.of(obj), "created", ""))
            continue
        result.objects.append(step.apply(obj, dry_run=dry_run))
    return result


def _kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj["apiVersion"]).rpartition("/")[0], str(obj["kind"])


def _defined_kind(crd: Mapping[str, Any]) -> tuple[str, str]:
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def _served(kube: Kube, obj: Mapping[str, Any]) -> bool:
    try:
        kube.locate(obj)
    except TemporaryError:
        return False
    return True


class _Step:
    """Applies one object at a time under the retry policy, pacing retries with the clock."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str | None,
        clock: Clock,
        until: float,
        policy: str | retry.Policy,
    ) -> None:
        self.kube, self.namespace, self.clock = kube, namespace, clock
        self.until, self.policy = until, policy

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool) -> Applied:
        pacer = _Pacer(self.clock, self.until)
        name = self._name(obj)
        started = self.clock.now()
        try:
            ref, action, version = retry.call(
                self.policy,
                lambda: self._once(obj, dry_run=dry_run),
                what=f"apply {name}",
                sleep=pacer.sleep,
                on_retry=pacer.on_retry,
            )
        except TemporaryError as err:
            spent = self.clock.now() - started
            raise TemporaryError(
                f"apply {name}: gave up after {pacer.retries + 1} attempts in {spent:.1f}s: "
                + err.message.removeprefix(f"apply {name}: "),
                hint=_hint(err),
            ) from err
        log.debug("apply.object", object=str(ref), action=action, dry_run=dry_run)
        return Applied(ref, action, version, pacer.retries)

    def _name(self, obj: Mapping[str, Any]) -> str:
        """``Kind ns/name`` for messages, even when the kind is not served yet."""
        try:
            return str(self.kube.locate(obj, namespace=self.namespace))
        except TemporaryError:
            return str(ObjectRef.of(obj))

    def _once(self, obj: Mapping[str, Any], *, dry_run: bool) -> tuple[ObjectRef, Action, str]:
        ref = self.kube.locate(obj, namespace=self.namespace)
        before = self.kube.get(ref.api_version, ref.kind, ref.name, ref.namespace)
        try:
            after = self.kube.apply(obj, namespace=self.namespace, dry_run=dry_run)
        except NotFound as err:
            if dry_run:  # its namespace comes with the same manifests
                return ref, "created", ""
            raise ApiError(err.message, status=404, hint="create its namespace first") from err
        version = str((after.get("metadata") or {}).get("resourceVersion", ""))
        if before is None:
            return ref, "created", version
        same = _stable(before) == _stable(after) if dry_run else _version(before) == version
        return ref, "unchanged" if same else "configured", version


class _Pacer:
    """The sleep ``retry.call`` uses: at least the server's Retry-After, and never past the
    deadline (then it gives up with the last error instead of sleeping)."""

    def __init__(self, clock: Clock, until: float) -> None:
        self.clock, self.until = clock, until
        self.retries = 0
        self.floor = 0.0
        self.last: BaseException | None = None

    def on_retry(self, _attempt: int, error: BaseException) -> None:
        self.floor = float(getattr(error, "retry_after", None) or 0.0)
        self.last = error

    def sleep(self, seconds: float) -> None:
        pause = max(seconds, self.floor)
        if self.clock.now() + pause > self.until and self.last is not None:
            raise self.last
        self.retries += 1
        self.clock.sleep(pause)


def _hint(err: TemporaryError) -> str:
    if "failed calling webhook" in err.message:
        return "an admission webhook is not answering: check its pods and Service, then retry"
    if "no matches for kind" in err.message:
        return "the CustomResourceDefinition for this kind is missing; apply it first"
    return err.hint or "the API server kept answering with a temporary error; try again"


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _stable(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
    return {**obj, "metadata": meta}


def _await_established(kube: Kube, crds: list[dict[str, Any]], clock: Clock, until: float) -> None:
    """Wait (through ``wait.until``) until every CRD just applied is Established."""
    names = [str(c["metadata"]["name"]) for c in crds]

    def check() -> Verdict:
        blocking = []
        for name in names:
            try:
                found = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            except TemporaryError as err:
                return Verdict.waiting(str(err.message))
            state = health.assess(found, now=time.time(), grace_seconds=0)
            line = f"CustomResourceDefinition {name}: {state.reason}"
            if state.failed:
                return Verdict.broken(state.reason, line)
            if not state.current:
                blocking.append(line)
        if blocking:
            return Verdict.waiting(f"{len(blocking)} CRDs not Established", *blocking)
        return Verdict.passed(f"{len(names)} CRDs Established")

    left = max(0.0, until - clock.now())
    wait.until(check, what="CRDs Established", deadline=left, clock=clock, max_interval=0.5)
