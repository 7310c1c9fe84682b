"""Argo CD Applications read as facts: a child's wave, a root's children, and whether one has
converged, is still on its way, needs a nudge (hard refresh, explicit sync) or is stuck.

Pure: dicts in, verdicts out (contracts §1.3–1.5). The walk in
``bootstrap.waves.walk`` does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bootstrap.health.workloads import epoch_of
from bootstrap.kube.client import FIELD_MANAGER

API_VERSION = "argoproj.io/v1alpha1"
GROUP = "argoproj.io"
KIND = "Application"
WAVE = "argocd.argoproj.io/sync-wave"
REFRESH = "argocd.argoproj.io/refresh"
TRACKING = "argocd.argoproj.io/tracking-id"
INSTANCE = "app.kubernetes.io/instance"
NEEDS_REFRESH = ("ComparisonError", "InvalidSpecError")
CACHED = "(cached)"  # "Manifest generation error (cached)": only a hard refresh clears it

Obj = Mapping[str, Any]
Outcome = Literal["passed", "waiting", "failed"]
Remedy = Literal["refresh", "recheck", "sync"]
"""refresh: a hard refresh (manifests generated anew); recheck: a normal refresh (compare and
assess health again from Argo CD's live cache); sync: an explicit sync operation."""


@dataclass(frozen=True)
class Limits:
    max_refreshes: int = 3
    max_syncs: int = 2
    recheck_after: float = 15.0
    """Seconds a Synced but Progressing app may go without a reconcile before a recheck."""


@dataclass(frozen=True)
class AppVerdict:
    outcome: Outcome
    why: str
    remedy: Remedy | None = None
    details: tuple[str, ...] = ()
    """For a failure: each unhealthy resource or hook and its message."""
    at_once: bool = False
    """The first remedy need not wait for ``refresh_after``: Argo CD cannot know without it."""
    hint: str = ""
    """For a failure whose fix is known: what to do (the gate's hint)."""


@dataclass(frozen=True)
class Seen:
    """Besides the object: the time, our last write, since when it looked the same, nudges."""

    now: float
    grace: float
    changed_at: float | None = None
    since: float | None = None
    refreshes: int = 0
    syncs: int = 0
    limits: Limits = Limits()
    revisions: Mapping[str, str] = field(default_factory=dict)
    """repoURL -> the commit clusterboot itself published there (a sandbox repository)."""


def wave_of(app: Obj) -> int:
    """The sync-wave annotation; 0 when absent or not an integer (as Argo CD reads it)."""
    raw = ((app.get("metadata") or {}).get("annotations") or {}).get(WAVE, "0")
    try:
        return int(str(raw).strip())
    except ValueError:
        return 0


@dataclass(frozen=True)
class ChildRef:
    name: str
    wave: int | None
    """From the root's ``.status.resources[].syncWave``; None when the entry has none."""


def child_refs(root: Obj) -> list[ChildRef]:
    """The Applications the root's last comparison lists as desired children, in the root's own
    namespace (the one clusterboot watches). An entry marked ``requiresPruning`` is one the
    root no longer renders: it is on its way out, not a child (see ``pruned_refs``)."""
    return [
        ChildRef(r["name"], int(r["syncWave"]) if "syncWave" in r else None)
        for r in _listed_apps(root)
        if not r.get("requiresPruning")
    ]


def pruned_refs(root: Obj) -> list[str]:
    """The Applications the root lists only to prune them."""
    return [r["name"] for r in _listed_apps(root) if r.get("requiresPruning")]


def _listed_apps(root: Obj) -> list[Obj]:
    namespace = (root.get("metadata") or {}).get("namespace")
    return [
        r
        for r in resources(root)
        if r.get("kind") == KIND
        and r.get("group") == GROUP
        and r.get("name")
        and r.get("namespace", namespace) in {namespace, None, ""}
    ]


def applied_at(app: Obj, manager: str = FIELD_MANAGER) -> float | None:
    """When ``manager`` last changed the fields it applies (managedFields' ``time``): for the
    root, when clusterboot last changed the spec Argo CD must compare."""
    times = [
        epoch_of(entry.get("time"))
        for entry in (app.get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == manager and entry.get("operation") == "Apply"
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def picture_stale(app: Obj) -> str | None:
    """Why the app's status is not yet about the spec clusterboot applied: reconciled before
    that apply (whole seconds, as Argo CD stamps them), or compared against another source."""
    status = app.get("status") or {}
    reconciled = epoch_of(status.get("reconciledAt"))
    applied = applied_at(app)
    if reconciled is not None and applied is not None and reconciled < int(applied):
        return "status older than the spec clusterboot applied"
    compared = ((status.get("sync") or {}).get("comparedTo") or {}).get("source")
    source = (app.get("spec") or {}).get("source")
    if compared and source and _source_key(compared) != _source_key(source):
        return "status compared against an older spec"
    return None


def verdict(
    app: Obj | None,
    *,
    changed_at: float | None,
    now: float,
    grace: float,
    since: float | None = None,
    refreshes: int = 0,
    syncs: int = 0,
    limits: Limits = Limits(),
    revisions: Mapping[str, str] | None = None,
) -> AppVerdict:
    """Whether one child Application has converged (contracts §1.3), and if not, whether to
    wait, nudge it (``remedy``) or fail now (§1.5). ``now``, ``changed_at`` and ``since`` are
    epoch seconds, comparable with the timestamps Argo CD writes."""
    if app is None:
        return AppVerdict("waiting", "not created yet")
    seen = Seen(now, grace, changed_at, since, refreshes, syncs, limits, revisions or {})
    rules = (
        _ours_pending,
        _stale,
        _behind,
        _missing_path,
        _operation,
        _conditions,
        _degraded,
        _sync_and_health,
    )
    for rule in rules:
        found = rule(app, seen)
        if found is not None:
            return found
    return AppVerdict("passed", "Synced and Healthy")


def root_verdict(
    root: Obj,
    *,
    changed_at: float | None,
    now: float,
    refreshes: int,
    limits: Limits = Limits(),
    revisions: Mapping[str, str] | None = None,
) -> AppVerdict | None:
    """What the root app itself needs before its list of children can be trusted: a fresh
    look when it is behind the commit clusterboot published, or when it shows an error only a
    hard refresh clears (a ComparisonError from a repo-server that was not up yet, a cached
    manifest error), failed once ``limits.max_refreshes`` did not clear it. None: nothing to do
    for the root (its sync and children are judged elsewhere)."""
    seen = Seen(now, 0.0, changed_at, None, refreshes, 0, limits, revisions or {})
    for rule in (_ours_pending, _stale, _behind, _missing_path, _conditions):
        found = rule(root, seen)
        if found is not None:
            return found if found.remedy is not None or found.outcome == "failed" else None
    return None


def _ours_pending(app: Obj, seen: Seen) -> AppVerdict | None:
    """A refresh or an operation not consumed yet: the status is about to change."""
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    if REFRESH in annotations:
        return AppVerdict("waiting", f"{annotations[REFRESH]} refresh requested, not done yet")
    operation = app.get("operation")
    if operation:
        who = ((operation.get("initiatedBy") or {}).get("username")) or "auto-sync"
        return AppVerdict("waiting", f"sync operation pending (initiated by {who})")
    if not app.get("status"):
        return AppVerdict("waiting", "Argo CD has not reconciled it yet")
    return None


def _stale(app: Obj, seen: Seen) -> AppVerdict | None:
    """Status older than our last change, or compared against an older spec (PR #29649)."""
    status = app["status"]
    reconciled = epoch_of(status.get("reconciledAt"))
    if reconciled is None:
        return AppVerdict("waiting", "never reconciled (no reconciledAt)")
    # Argo CD stamps whole seconds: a reconcile in the same second as our change counts.
    if seen.changed_at is not None and reconciled < int(seen.changed_at):
        return AppVerdict("waiting", "status older than our last change", remedy="refresh")
    compared = ((status.get("sync") or {}).get("comparedTo") or {}).get("source")
    source = (app.get("spec") or {}).get("source")
    if compared and source and _source_key(compared) != _source_key(source):
        return AppVerdict("waiting", "status compared against an older spec", remedy="refresh")
    return None


def _behind(app: Obj, seen: Seen) -> AppVerdict | None:
    """Status of an older commit than the one clusterboot published to the app's repository:
    Argo CD polls git every few minutes, so ask for a fresh look (a hard refresh)."""
    behind = revision_behind(app, seen.revisions)
    if behind is None:
        return None
    return AppVerdict("waiting", behind, remedy="refresh", at_once=True)


def revision_behind(app: Obj, revisions: Mapping[str, str]) -> str | None:
    """Why ``app``'s status is not about the commit expected in its repository; None if it is
    (or nothing is expected there, or a comparison error says why it could not be: that error
    is the news, and its own rule refreshes and, in the end, fails)."""
    source = (app.get("spec") or {}).get("source") or {}
    want = revisions.get(str(source.get("repoURL") or ""))
    if not want:
        return None
    conditions = (app.get("status") or {}).get("conditions") or []
    if any(c.get("type") in NEEDS_REFRESH for c in conditions):
        return None
    have = str(((app.get("status") or {}).get("sync") or {}).get("revision") or "")
    if have == want:
        return None
    return f"Argo CD has not compared commit {want[:8]} yet (its status is of {have[:8] or 'none'})"


PERMANENT = (
    "no matches for kind",
    "could not find the requested resource",
    "plugin not found",
    "unable to find plugin",
    "could not find plugin",
    "couldn't find plugin",
)
"""Messages that say waiting cannot help: a kind no CRD defines, a config-management plugin
that is not installed."""


def permanent_cause(app: Obj) -> str | None:
    """A reason already known to be permanent, from the app's conditions, its health or its
    resources' health; None when nothing says so."""
    status = app.get("status") or {}
    texts = [f"{c.get('type')}: {c.get('message', '')}" for c in status.get("conditions") or []]
    health = status.get("health") or {}
    texts.append(str(health.get("message") or ""))
    texts += [
        f"{_where(r)}: {(r.get('health') or {}).get('message', '')}"
        for r in status.get("resources") or []
    ]
    return next((t for t in texts if any(p in t.lower() for p in PERMANENT)), None)


def known_broken(app: Obj) -> str | None:
    """Why ``app`` will fail whatever the walk waits for, if that is known already: a source
    path its repository lacks, a ComparisonError or InvalidSpecError (Argo CD cannot render
    it), or a permanent cause."""
    missing = missing_path(app)
    if missing is not None:
        return missing.why
    for condition in (app.get("status") or {}).get("conditions") or []:
        if condition.get("type") in NEEDS_REFRESH:
            return f"{condition['type']}: {condition.get('message', '')}".rstrip(": ")
    return permanent_cause(app)


_NO_PATH = re.compile(r"(\S+): app path (does not exist|is not a directory)")
"""The repo-server's words (util/app/path: ``<path>: app path does not exist``), quoted in
the ComparisonError as "Failed to load target state: ... desc = <path>: app path ..."."""


@dataclass(frozen=True)
class MissingPath:
    """The source path Argo CD did not find in its repository at the revision."""

    path: str
    repo: str
    revision: str
    problem: str  # "does not exist" | "is not a directory"
    condition: str  # Argo CD's condition, verbatim

    @property
    def why(self) -> str:
        return f"source path {self.path} {self.problem} in {self.repo} at revision {self.revision}"

    def listing(self) -> str:
        """The command that lists what is there instead, in a clone of the repository."""
        parent = self.path.rstrip("/").rpartition("/")[0]
        where = f" -- {parent}/" if parent else ""
        return f"git ls-tree -d --name-only {self.revision}{where}"


def missing_path(app: Obj) -> MissingPath | None:
    """Argo CD's word that the app's source path is not a directory of its repository at its
    target revision, read from a ComparisonError; None when no condition says so. Permanent for
    that revision: only a commit that adds the path, or a profile or spec that names another,
    helps."""
    for condition in (app.get("status") or {}).get("conditions") or []:
        message = str(condition.get("message") or "")
        found = _NO_PATH.search(message) if condition.get("type") == "ComparisonError" else None
        if found is None:
            continue
        spec = app.get("spec") or {}
        sources = [spec["source"]] if spec.get("source") else list(spec.get("sources") or [])
        named = found.group(1)
        source = next(
            (s for s in sources if str(s.get("path") or "").strip("./") == named.strip("./")),
            sources[0] if len(sources) == 1 else {},
        )
        return MissingPath(
            path=str(source.get("path") or named),
            repo=str(source.get("repoURL") or "its repository"),
            revision=str(source.get("targetRevision") or "HEAD"),
            problem=found.group(2),
            condition=f"ComparisonError: {message}",
        )
    return None


def _missing_path(app: Obj, seen: Seen) -> AppVerdict | None:
    """A source path the repository lacks fails at once after one hard refresh (so the
    verdict is about the revision as it is now, not a cached one); waiting cannot help."""
    missing = missing_path(app)
    if missing is None:
        return None
    if seen.refreshes == 0 and seen.limits.max_refreshes > 0:
        why = f"{missing.why}; re-checking with a hard refresh before failing"
        return AppVerdict("waiting", why, remedy="refresh", at_once=True)
    return AppVerdict(
        "failed",
        missing.why,
        details=(f"Argo CD: {missing.condition}",),
        hint=f"name a directory that is there (`{missing.listing()}` in a clone lists them), "
        f"or commit and push {missing.path} at {missing.revision}",
    )


def _degraded(app: Obj, seen: Seen) -> AppVerdict | None:
    """Degraded is tolerated for the grace (Argo CD may judge an app Degraded while a CRD it
    installs is still being Established, and keep that verdict until its next resync), then
    re-checked with a hard refresh, and only then a failure; at once when the cause is known to
    be permanent. The verdict names the resource inside the app that is Degraded."""
    health = app["status"].get("health") or {}
    if health.get("status") != "Degraded":
        return None
    lines = diagnosis(app)
    what = (
        lines[0]
        if lines and not lines[0].startswith("health ")
        else (health.get("message") or "a resource is Degraded")
    )
    permanent = permanent_cause(app)
    if permanent is not None:
        return AppVerdict("failed", f"Degraded: {permanent}", details=tuple(lines))
    starts = [t for t in (seen.since, epoch_of(health.get("lastTransitionTime"))) if t is not None]
    age = seen.now - min(starts) if starts else 0.0
    if age <= seen.grace:
        remedy: Remedy | None = "refresh" if age > seen.grace / 3 else None
        return AppVerdict(
            "waiting", f"Degraded for {age:.0f}s of {seen.grace:.0f}s grace: {what}", remedy=remedy
        )
    if seen.refreshes == 0:
        return AppVerdict(
            "waiting",
            f"Degraded for {age:.0f}s: {what}; re-checking with a hard refresh before failing",
            remedy="refresh",
            at_once=True,
        )
    return AppVerdict("failed", f"Degraded for {age:.0f}s: {what}", details=tuple(lines))


def _operation(app: Obj, seen: Seen) -> AppVerdict | None:
    """The last operation: running, retrying, stuck on a hook, or failed for this commit."""
    state = app["status"].get("operationState") or {}
    phase, message = state.get("phase"), state.get("message") or ""
    if phase in {"Running", "Terminating"}:
        if state.get("finishedAt"):
            return AppVerdict("waiting", f"retry pending: {message}")
        started = seen.since if seen.since is not None else epoch_of(state.get("startedAt"))
        age = seen.now - started if started is not None else 0.0
        if age > seen.grace:
            why = f"sync {phase} for {age:.0f}s with no progress: {message}"
            return AppVerdict("failed", why, details=tuple(diagnosis(app)))
        return AppVerdict("waiting", f"sync {phase}: {message}")
    if phase in {"Failed", "Error"}:
        if seen.syncs < seen.limits.max_syncs:
            why = f"last sync {phase}; auto-sync will not retry the same commit: {message}"
            return AppVerdict("waiting", why, remedy="sync")
        why = f"sync {phase} after {seen.syncs} explicit sync(s): {message}"
        return AppVerdict("failed", why, details=tuple(diagnosis(app)))
    return None


def _conditions(app: Obj, seen: Seen) -> AppVerdict | None:
    """``*Error`` conditions; render errors and Unknown sync need a hard refresh (§1.5)."""
    status = app["status"]
    errors = [c for c in status.get("conditions") or [] if str(c.get("type", "")).endswith("Error")]
    refreshable = [
        c for c in errors if c["type"] in NEEDS_REFRESH or CACHED in str(c.get("message"))
    ]
    if refreshable or (status.get("sync") or {}).get("status") == "Unknown":
        first = refreshable[0] if refreshable else {"type": "sync Unknown", "message": ""}
        what = f"{first.get('type')}: {first.get('message', '')}".rstrip(": ")
        if seen.refreshes >= seen.limits.max_refreshes:
            return AppVerdict("failed", f"{what} (still, after {seen.refreshes} hard refreshes)")
        return AppVerdict("waiting", what, remedy="refresh")
    if errors:
        return AppVerdict("waiting", f"{errors[0].get('type')}: {errors[0].get('message', '')}")
    return None


def _sync_and_health(app: Obj, seen: Seen) -> AppVerdict | None:
    status = app["status"]
    sync = (status.get("sync") or {}).get("status")
    health = status.get("health") or {}
    if sync != "Synced":
        return AppVerdict("waiting", f"{sync}, waiting for the sync")
    state = health.get("status") or "Unknown"
    if state == "Healthy":
        return None
    message = health.get("message") or ""
    starts = [t for t in (seen.since, epoch_of(health.get("lastTransitionTime"))) if t is not None]
    age = seen.now - min(starts) if starts else 0.0
    if state == "Progressing" and age > seen.grace:
        why = f"Synced but Progressing for {age:.0f}s: {message}".rstrip(": ")
        return AppVerdict("failed", why, details=tuple(diagnosis(app)))
    waiting = f"Synced, {state}: {message}".rstrip(": ")
    # Argo CD may hold a health computed before its resources settled (a CRD assessed before
    # it was Established) until its periodic resync, minutes away: ask for a fresh look, first
    # a cheap one once it has not reconciled for a while, then a hard one.
    if state == "Progressing" and age > seen.grace / 3:
        return AppVerdict("waiting", waiting, remedy="refresh")
    reconciled = epoch_of(status.get("reconciledAt"))
    unseen = seen.now - reconciled if reconciled is not None else 0.0
    if state == "Progressing" and unseen > seen.limits.recheck_after:
        return AppVerdict("waiting", waiting, remedy="recheck")
    return AppVerdict("waiting", waiting)


def diagnosis(app: Obj) -> list[str]:
    """Each resource or hook of the app that is not Healthy, with its message."""
    status = app.get("status") or {}
    lines = []
    for res in status.get("resources") or []:
        health = res.get("health") or {}
        if health.get("status") and health["status"] != "Healthy":
            lines.append(f"{_where(res)}: {health['status']}: {health.get('message', '')}")
    result = (status.get("operationState") or {}).get("syncResult") or {}
    for res in result.get("resources") or []:
        if res.get("hookType") and res.get("hookPhase") not in {None, "Succeeded"}:
            hook = f"{res['hookType']} hook {_where(res)}"
            lines.append(f"{hook}: {res.get('hookPhase')}: {res.get('message', '')}")
    if not lines:
        health = status.get("health") or {}
        lines.append(f"health {health.get('status', 'Unknown')}: {health.get('message', '')}")
    return [line.rstrip(": ") for line in lines]


def resources(app: Obj) -> list[Obj]:
    return list((app.get("status") or {}).get("resources") or [])


def _where(res: Obj) -> str:
    namespace = f"{res['namespace']}/" if res.get("namespace") else ""
    return f"{res.get('kind', '?')} {namespace}{res.get('name', '?')}"


def _source_key(source: Obj) -> tuple[str, ...]:
    revision = str(source.get("targetRevision") or "HEAD")
    return (*(str(source.get(k) or "") for k in ("repoURL", "path", "chart")), revision)
