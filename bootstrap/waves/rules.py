"""The wave walk's decisions: settings from the profile, a memoryless survey of the root's
children by wave (for plan and gate), and the bodies of the two nudges clusterboot may apply
to a child (a hard refresh, an explicit sync). The walk itself is ``bootstrap.waves.walk``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bootstrap.errors import GateFailed, GateTimeout
from bootstrap.profile.schema import Profile
from bootstrap.report import AppResult
from bootstrap.waves import argo, tree
from bootstrap.waves.feed import Obj


@dataclass(frozen=True)
class Settings:
    namespace: str
    root: str
    deadline: float
    per_wave: Mapping[int, float]
    grace: float
    refresh_after: float
    limits: argo.Limits
    revisions: Mapping[str, str] = field(default_factory=dict)
    """repoURL -> the commit clusterboot published there; apps must have compared it."""

    @classmethod
    def of(cls, profile: Profile, revisions: Mapping[str, str] | None = None) -> Settings:
        assert profile.root_app is not None
        waves = profile.waves
        return cls(
            namespace=profile.components.argocd.namespace,
            root=profile.root_app.name,
            deadline=float(waves.deadline_seconds),
            per_wave={w: float(s) for w, s in waves.per_wave_seconds.items()},
            grace=float(waves.progressing_grace_seconds),
            refresh_after=waves.refresh_after_seconds,
            limits=argo.Limits(
                waves.max_refreshes, waves.max_sync_attempts, waves.recheck_after_seconds
            ),
            revisions=dict(revisions or {}),
        )


@dataclass(frozen=True)
class Survey:
    """Every child's verdict by wave, and why the set of children may be incomplete."""

    waves: dict[int, dict[str, argo.AppVerdict]]
    blockers: list[str]

    def not_passing(self) -> list[tuple[int, str, argo.AppVerdict]]:
        return [
            (w, n, v) for w, apps in self.waves.items() for n, v in apps.items()
            if v.outcome != "passed"
        ]  # fmt: skip

    @property
    def converged(self) -> bool:
        return not self.blockers and not self.not_passing()

    def summary(self) -> str:
        sizes = ", ".join(f"{w} ({len(a)} app{'s' * (len(a) != 1)})" for w, a in self.waves.items())
        left = len(self.not_passing())
        total = sum(len(a) for a in self.waves.values())
        tail = f"; {left} of {total} not passing" if total else ""
        blocked = f" ({self.blockers[0]})" if self.blockers else ""
        return f"walk waves: {sizes or 'children not known yet'}{tail}{blocked}"


def survey(
    apps: Mapping[str, Obj], settings: Settings, *, now: float, appsets: Mapping[str, Obj]
) -> Survey:
    """One look at the root and its children, judged without any memory (plan and gate)."""
    root = apps.get(settings.root)
    kids = tree.children(root, apps.values()) if root else {}
    by_wave: dict[int, dict[str, argo.AppVerdict]] = {}
    for name, wave in sorted(kids.items(), key=lambda item: (item[1], item[0])):
        by_wave.setdefault(wave, {})[name] = argo.verdict(
            apps.get(name),
            changed_at=None,
            now=now,
            grace=settings.grace,
            revisions=settings.revisions,
        )
    pending = tree.unsettled(root, appsets) if root else []
    blockers = tree.root_blockers(root, settings.root, pending, settings.revisions)
    return Survey(by_wave, blockers)


def repository_moves(current: Mapping[str, int], wanted: Mapping[str, int]) -> list[str]:
    """What a repository change does to the walk, wave by wave: apps that move, appear or are
    pruned (``current``: the children the root lists now; ``wanted``: after the change)."""
    lines: list[tuple[int, str]] = []
    for name in sorted(current.keys() | wanted.keys()):
        before, after = current.get(name), wanted.get(name)
        if before is None and after is not None:
            lines.append((after, f"{name} appears in wave {after}"))
        elif after is None and before is not None:
            lines.append((before, f"{name} is pruned (was in wave {before})"))
        elif before != after and after is not None:
            lines.append((after, f"{name} moves from wave {before} to wave {after}"))
    return [text for _, text in sorted(lines)]


def signature(app: Obj | None) -> str:
    """What must stay the same for an app to count as not progressing (stuck detection)."""
    status = (app or {}).get("status") or {}
    op = status.get("operationState") or {}
    sync, health = (status.get(k) or {} for k in ("sync", "health"))
    facts = (op.get("phase"), op.get("finishedAt") is None, op.get("message"))
    return "|".join(map(str, (*facts, sync.get("status"), health.get("status"))))


def app_result(name: str, app: Obj | None, seconds: float) -> AppResult:
    status = (app or {}).get("status") or {}
    sync, health = ((status.get(k) or {}).get("status") or "Unknown" for k in ("sync", "health"))
    return AppResult(name, sync, health, round(seconds, 3))


@dataclass
class Memory:
    """All the walk remembers about one child: our writes, and since when it looked the same."""

    joined: float  # clock time it joined a gate
    changed_at: float | None = None  # wall time of our last write
    refreshes: int = 0
    rechecks: int = 0
    syncs: int = 0
    signature: str = ""
    since: float = 0.0  # wall time the signature was first seen
    version: str | None = None  # resourceVersion last judged
    judged: float = 0.0  # wall time of that verdict
    last: argo.AppVerdict = field(default_factory=lambda: argo.AppVerdict("waiting", "not seen"))


NUDGE_MANAGER = "clusterboot-nudge"
"""Nudges are partial objects: applied as clusterboot itself, they would drop the root app's
spec, which clusterboot applied whole."""


def nudge(app: Obj, remedy: argo.Remedy) -> dict[str, Any]:
    """The apply body for a hard refresh or an explicit sync of ``app``. It carries the
    resourceVersion we judged, so the server refuses it (409) if the app changed since:
    an operation someone started meanwhile is never overwritten."""
    meta = app["metadata"]
    body: dict[str, Any] = {
        "apiVersion": argo.API_VERSION,
        "kind": argo.KIND,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "resourceVersion": meta["resourceVersion"],
        },
    }
    if remedy != "sync":
        kind = "hard" if remedy == "refresh" else "normal"
        body["metadata"]["annotations"] = {argo.REFRESH: kind}
        return body
    spec = app.get("spec") or {}
    policy = spec.get("syncPolicy") or {}
    sync: dict[str, Any] = {
        "prune": bool((policy.get("automated") or {}).get("prune")),
        "syncStrategy": {"hook": {}},
    }
    if spec.get("sources"):
        sync["revisions"] = [s.get("targetRevision") or "HEAD" for s in spec["sources"]]
    else:
        sync["revision"] = (spec.get("source") or {}).get("targetRevision") or "HEAD"
    operation: dict[str, Any] = {"initiatedBy": {"username": "clusterboot"}, "sync": sync}
    if policy.get("retry"):
        operation["retry"] = policy["retry"]
    body["operation"] = operation
    return body


GATE = "sync_waves"


def failure(
    wave: int | None,
    failed: Mapping[str, argo.AppVerdict],
    kids: Mapping[str, int],
    *,
    later: Mapping[str, str] | None = None,
    pending: Mapping[str, str] | None = None,
) -> GateFailed:
    """Every failed app of the wave with its reason and each of its unhealthy resources, then
    the apps not passed yet that are already known to be broken (``would also fail``), then the
    wave's other apps not passing yet with their state: one run names everything that is
    wrong."""
    lines: list[str] = []
    for name, verdict in sorted(failed.items()):
        lines.append(f"{name} (wave {kids[name]}): {verdict.why}")
        lines += [f"{name}: {detail}" for detail in verdict.details if detail not in verdict.why]
    for name, why in (later or {}).items():
        lines.append(f"would also fail: {name} (wave {kids[name]}): {why}")
    for name, why in sorted((pending or {}).items()):
        lines.append(f"not passing yet: {name} (wave {kids[name]}): {why}")
    names = sorted(failed)
    if len(names) == 1:
        head = f"{names[0]} failed: {failed[names[0]].why}"
    else:
        head = f"{len(names)} apps failed: {', '.join(names)}"
    if later:
        head += f"; {len(later)} in later waves would also fail"
    return GateFailed(GATE, f"wave {wave}: {head}", blocking=lines, hint=_hint(failed))


def _hint(failed: Mapping[str, argo.AppVerdict]) -> str:
    """What to do: each failed app's own hint (a source path its repository lacks), and the
    general one when some failure has none."""
    general = (
        "fix the resources listed (their manifests in git, or the cluster); "
        "waiting longer will not help"
    )
    known = [
        f"{name}: in its spec.source.path (in the root app's repository), {verdict.hint}"
        for name, verdict in sorted(failed.items())
        if verdict.hint
    ]
    if len(known) < len(failed):
        known.append(general)
    return "; ".join(known)


def root_failure(name: str, verdict: argo.AppVerdict, root: Obj) -> GateFailed:
    source = (root.get("spec") or {}).get("source") or {}
    where = " ".join(
        f"{key}={source[key]}"
        for key in ("repoURL", "path", "chart", "targetRevision")
        if source.get(key)
    )
    hint = (
        "Argo CD cannot render the root app: check root_app.repo_url, path and "
        "target_revision, and the repo-server's log"
    )
    if verdict.hint:  # its path is not in the repository at that revision
        hint = (
            "check root_app.path (relative to the repository's top) and "
            f"root_app.target_revision: {verdict.hint}"
        )
    return GateFailed(
        GATE,
        f"root Application {name}: {verdict.why}",
        blocking=[
            f"root Application {name} renders {where or 'its spec.source'}",
            *verdict.details,
        ],
        hint=hint,
    )


def timeout(
    wave: int | None, seconds: float, blocking: Mapping[str, str], kids: Mapping[str, int]
) -> GateTimeout:
    """Every app still blocking, with its last status."""
    where = f"wave {wave}" if wave is not None else "waiting for the children"
    return GateTimeout(
        GATE,
        f"{where}: {len(blocking)} not passing after {seconds:.0f}s",
        blocking=[f"{n} (wave {kids.get(n, '?')}): {why}" for n, why in blocking.items()],
        hint="the apps listed are still converging or stuck; raise waves.per_wave_seconds "
        "or waves.deadline_seconds only if they progress",
    )
