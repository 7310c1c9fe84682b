"""The Argo CD Application rules as tables: facts in, verdicts (and nudges) out. Every table
has its "already there" row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bootstrap.profile.schema import Destination, RepoCredentials, RootApp, SecretRef
from bootstrap.secrets import Secret
from bootstrap.waves import argo, rules, tree
from stages import root_app

Obj = dict[str, Any]
T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()
GRACE = 60.0


def at(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def app(
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    health_message: str = "",
    health_since: float | None = None,
    phase: str | None = "Succeeded",
    message: str = "successfully synced",
    started: float = 0,
    finished: float | None = 10,
    reconciled: float | None = 20,
    conditions: tuple[Obj, ...] = (),
    resources: tuple[Obj, ...] = (),
    hooks: tuple[Obj, ...] = (),
    operation: Obj | None = None,
    annotations: dict[str, str] | None = None,
    compared_path: str = "apps/a",
) -> Obj:
    source = {"repoURL": "https://git.example/p.git", "path": "apps/a", "targetRevision": "main"}
    health_state: Obj = {"status": health}
    if health_message:
        health_state["message"] = health_message
    if health_since is not None:
        health_state["lastTransitionTime"] = at(health_since)
    status: Obj = {
        "sync": {"status": sync, "comparedTo": {"source": {**source, "path": compared_path}}},
        "health": health_state,
        "resources": list(resources),
    }
    if reconciled is not None:
        status["reconciledAt"] = at(reconciled)
    if phase is not None:
        state: Obj = {"phase": phase, "message": message, "startedAt": at(started)}
        if finished is not None:
            state["finishedAt"] = at(finished)
        if hooks:
            state["syncResult"] = {"resources": list(hooks)}
        status["operationState"] = state
    if conditions:
        status["conditions"] = list(conditions)
    obj: Obj = {
        "metadata": {"name": "a", "namespace": "argocd", "annotations": annotations or {}},
        "spec": {"source": source},
        "status": status,
    }
    if operation is not None:
        obj["operation"] = operation
    return obj


DEPLOYMENT_DEGRADED = {
    "kind": "Deployment",
    "namespace": "shop",
    "name": "payment",
    "health": {"status": "Degraded", "message": "exceeded its progress deadline"},
}
SERVICE_OK = {
    "kind": "Service",
    "namespace": "shop",
    "name": "payment",
    "health": {"status": "Healthy"},
}
HOOK = {
    "kind": "Job",
    "namespace": "shop",
    "name": "migrate",
    "hookType": "PreSync",
    "hookPhase": "Running",
    "message": "job has not completed",
}
COMPARISON = {"type": "ComparisonError", "message": "Manifest generation error (cached): boom"}
NO_PATH = {  # as Argo CD v3.2 writes it (tests/integration/test_real_argocd.py)
    "type": "ComparisonError",
    "message": "Failed to load target state: failed to generate manifest for source 1 of 1: "
    "rpc error: code = Unknown desc = apps/a: app path does not exist",
}
SYNC_ERROR = {"type": "SyncError", "message": "Failed sync attempt to main: invalid Job"}

# id, app, keyword facts, outcome, remedy, text the reason contains
ROWS: list[tuple[str, Obj | None, dict[str, Any], str, str | None, str]] = [
    ("already passing", app(), {}, "passed", None, "Synced and Healthy"),
    ("not created yet", None, {}, "waiting", None, "not created yet"),
    ("never reconciled", {**app(), "status": {}}, {}, "waiting", None, "not reconciled"),
    ("no reconciledAt", app(reconciled=None), {}, "waiting", None, "never reconciled"),
    (
        "our hard refresh not consumed yet",
        app(annotations={argo.REFRESH: "hard"}),
        {},
        "waiting",
        None,
        "hard refresh requested",
    ),
    (
        "an operation in flight hides even Degraded",
        app(health="Degraded", operation={"initiatedBy": {"username": "bob"}}),
        {},
        "waiting",
        None,
        "initiated by bob",
    ),
    (
        "status older than our last change",
        app(reconciled=20),
        {"changed_at": T0 + 25},
        "waiting",
        "refresh",
        "older than our last change",
    ),
    (
        "a reconcile in the same second as our change counts",
        app(reconciled=20),
        {"changed_at": T0 + 20.7},
        "passed",
        None,
        "Synced and Healthy",
    ),
    (
        "status compared against an older spec",
        app(compared_path="apps/old"),
        {},
        "waiting",
        "refresh",
        "older spec",
    ),
    (
        "Degraded within the grace waits, naming the resource",
        app(health="Degraded", health_since=100, resources=(DEPLOYMENT_DEGRADED,)),
        {},
        "waiting",
        None,
        "Degraded for 20s of 60s grace: Deployment shop/payment: Degraded: exceeded",
    ),
    (
        "Degraded with no time known waits",
        app(health="Degraded", health_message="payment down"),
        {},
        "waiting",
        None,
        "grace: payment down",
    ),
    (
        "Degraded for a third of the grace asks for a hard refresh",
        app(health="Degraded", health_since=90, resources=(DEPLOYMENT_DEGRADED,)),
        {},
        "waiting",
        "refresh",
        "Degraded for 30s of 60s grace",
    ),
    (
        "Degraded past the grace is re-checked with a hard refresh before it fails",
        app(health="Degraded", health_since=0, resources=(DEPLOYMENT_DEGRADED,)),
        {},
        "waiting",
        "refresh",
        "re-checking with a hard refresh",
    ),
    (
        "Degraded past the grace and a refresh fails, naming the resource",
        app(health="Degraded", health_since=0, resources=(DEPLOYMENT_DEGRADED,)),
        {"refreshes": 1},
        "failed",
        None,
        "Degraded for 120s: Deployment shop/payment: Degraded: exceeded its progress deadline",
    ),
    (
        "Degraded with no transition time counts from when the walk first saw it",
        app(health="Degraded", resources=(DEPLOYMENT_DEGRADED,)),
        {"since": T0 + 110, "refreshes": 1},
        "waiting",
        None,
        "Degraded for 10s of 60s grace",
    ),
    (
        "Degraded by a kind no CRD defines fails at once",
        app(
            health="Degraded",
            health_since=119,
            resources=(
                {
                    "kind": "ServiceMonitor",
                    "namespace": "shop",
                    "name": "payment",
                    "health": {
                        "status": "Degraded",
                        "message": 'no matches for kind "ServiceMonitor" in version '
                        '"monitoring.coreos.com/v1"',
                    },
                },
            ),
        ),
        {},
        "failed",
        None,
        "Degraded: ServiceMonitor shop/payment: no matches for kind",
    ),
    (
        "a pending retry is waited on however long",
        app(sync="OutOfSync", health="Missing", phase="Running", message="Retrying attempt #3"),
        {"since": T0 - 3600},
        "waiting",
        None,
        "retry pending: Retrying attempt #3",
    ),
    (
        "a sync running within the grace",
        app(phase="Running", finished=None, message="waiting for completion of hook"),
        {"since": T0 + 100},
        "waiting",
        None,
        "sync Running",
    ),
    (
        "a hook unchanged past the grace is stuck",
        app(phase="Running", finished=None, message="waiting for hook", hooks=(HOOK,)),
        {"since": T0},
        "failed",
        None,
        "with no progress: waiting for hook",
    ),
    (
        "without our own sighting the operation's start counts",
        app(phase="Running", finished=None, started=-100, message="waiting for hook"),
        {},
        "failed",
        None,
        "sync Running for 220s",
    ),
    (
        "auto-sync failed for the commit asks for a sync",
        app(sync="OutOfSync", phase="Failed", message="invalid Job", conditions=(SYNC_ERROR,)),
        {},
        "waiting",
        "sync",
        "auto-sync will not retry the same commit",
    ),
    (
        "failed again after the explicit syncs allowed",
        app(sync="OutOfSync", phase="Error", message="invalid Job", conditions=(SYNC_ERROR,)),
        {"syncs": 2},
        "failed",
        None,
        "sync Error after 2 explicit sync(s): invalid Job",
    ),
    (
        "a cached ComparisonError asks for a hard refresh",
        app(sync="Unknown", phase=None, conditions=(COMPARISON,)),
        {},
        "waiting",
        "refresh",
        "ComparisonError: Manifest generation error (cached)",
    ),
    (
        "an InvalidSpecError asks for a hard refresh",
        app(conditions=({"type": "InvalidSpecError", "message": "no project"},)),
        {},
        "waiting",
        "refresh",
        "InvalidSpecError: no project",
    ),
    (
        "Unknown sync asks for a hard refresh",
        app(sync="Unknown"),
        {},
        "waiting",
        "refresh",
        "Unknown",
    ),
    (
        "a ComparisonError surviving every refresh fails with its message",
        app(sync="Unknown", phase=None, conditions=(COMPARISON,)),
        {"refreshes": 3},
        "failed",
        None,
        "(cached): boom (still, after 3 hard refreshes)",
    ),
    (
        "a source path the repository lacks is hard-refreshed once at once",
        app(sync="Unknown", phase=None, conditions=(NO_PATH,)),
        {},
        "waiting",
        "refresh",
        "source path apps/a does not exist in https://git.example/p.git at revision main; "
        "re-checking with a hard refresh before failing",
    ),
    (
        "a source path still missing after that refresh fails, naming path, repo and revision",
        app(sync="Unknown", phase=None, conditions=(NO_PATH,)),
        {"refreshes": 1},
        "failed",
        None,
        "source path apps/a does not exist in https://git.example/p.git at revision main",
    ),
    (
        "a source path missing fails before a failed operation asks for a sync",
        app(sync="Unknown", phase="Failed", conditions=(NO_PATH,)),
        {"refreshes": 1},
        "failed",
        None,
        "source path apps/a does not exist",
    ),
    (
        "another error condition is waited on",
        app(conditions=({"type": "UnknownError", "message": "hmm"},)),
        {},
        "waiting",
        None,
        "UnknownError: hmm",
    ),
    (
        "a warning condition does not block",
        app(conditions=({"type": "OrphanedResourceWarning", "message": "1 orphan"},)),
        {},
        "passed",
        None,
        "Synced and Healthy",
    ),
    ("OutOfSync waits for the sync", app(sync="OutOfSync"), {}, "waiting", None, "OutOfSync"),
    (
        "Progressing within the grace, reconciled lately",
        app(health="Progressing", health_since=100, reconciled=110),
        {},
        "waiting",
        None,
        "Synced, Progressing",
    ),
    (
        # Argo CD has not looked for 20 s: its health may predate the resources settling.
        "Progressing within the grace, not reconciled for a while, asks for a normal refresh",
        app(health="Progressing", health_since=100, reconciled=100),
        {},
        "waiting",
        "recheck",
        "Synced, Progressing",
    ),
    (
        # now is T0+120: health Progressing since T0+90, 30 s > grace/3 but < grace.
        "Progressing past a third of the grace asks for a fresh look",
        app(health="Progressing", health_since=90),
        {},
        "waiting",
        "refresh",
        "Synced, Progressing",
    ),
    (
        "Synced but Progressing past the grace fails",
        app(health="Progressing", health_since=-100, resources=(SERVICE_OK,)),
        {},
        "failed",
        None,
        "Synced but Progressing for 220s",
    ),
    ("Suspended is waited on", app(health="Suspended"), {}, "waiting", None, "Suspended"),
]


@pytest.mark.parametrize(
    ("obj", "facts", "outcome", "remedy", "why"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_verdict_of_one_application(
    obj: Obj | None, facts: dict[str, Any], outcome: str, remedy: str | None, why: str
) -> None:
    facts = {"changed_at": None, "now": T0 + 120, "grace": GRACE, **facts}
    verdict = argo.verdict(obj, **facts)
    assert (verdict.outcome, verdict.remedy) == (outcome, remedy), verdict
    assert why in verdict.why


def test_a_failure_lists_each_unhealthy_resource_and_hook_with_its_message() -> None:
    obj = app(
        health="Degraded",
        phase="Running",
        finished=None,
        resources=(DEPLOYMENT_DEGRADED, SERVICE_OK),
        hooks=(HOOK, {**HOOK, "name": "done", "hookPhase": "Succeeded"}),
    )
    assert argo.diagnosis(obj) == [
        "Deployment shop/payment: Degraded: exceeded its progress deadline",
        "PreSync hook Job shop/migrate: Running: job has not completed",
    ]
    verdict = argo.verdict(obj, changed_at=None, now=T0 + 120, grace=GRACE)
    assert verdict.details == tuple(argo.diagnosis(obj))


def test_a_diagnosis_without_resource_health_falls_back_to_the_app_health() -> None:
    obj = app(health="Progressing", health_message="1 of 2 replicas")
    assert argo.diagnosis(obj) == ["health Progressing: 1 of 2 replicas"]
    assert argo.diagnosis(app()) == ["health Healthy"]


@pytest.mark.parametrize(
    ("annotations", "wave"),
    [({}, 0), ({argo.WAVE: "-1"}, -1), ({argo.WAVE: " 30 "}, 30), ({argo.WAVE: "soon"}, 0)],
)
def test_wave_of_reads_the_annotation(annotations: dict[str, str], wave: int) -> None:
    assert argo.wave_of({"metadata": {"annotations": annotations}}) == wave


def entry(name: str, kind: str = "Application", **extra: Any) -> Obj:
    return {"group": "argoproj.io", "kind": kind, "namespace": "argocd", "name": name, **extra}


def root(*resources: Obj, sync: str = "Synced", reconciled: bool = True) -> Obj:
    status: Obj = {"sync": {"status": sync}, "resources": list(resources)}
    if reconciled:
        status["reconciledAt"] = at(0)
    return {"metadata": {"name": "root", "namespace": "argocd"}, "status": status}


def child(name: str, *, wave: int | None = None, **meta: Any) -> Obj:
    annotations = {} if wave is None else {argo.WAVE: str(wave)}
    return {"metadata": {"name": name, "annotations": annotations, **meta}}


def test_child_refs_are_the_applications_the_root_lists_with_their_wave() -> None:
    parent = root(
        entry("ns", syncWave=-1),
        entry("web"),
        entry("cm", kind="ConfigMap"),
        {**entry("other"), "group": "example.com"},
        {**entry("elsewhere"), "namespace": "team-a"},
    )
    assert argo.child_refs(parent) == [argo.ChildRef("ns", -1), argo.ChildRef("web", None)]
    assert argo.child_refs(root()) == []


def test_children_come_from_the_root_its_tracking_and_its_applicationsets() -> None:
    parent = root(entry("listed", syncWave=2), entry("unborn"), entry("svc", kind="ApplicationSet"))
    apps = [
        parent,
        child("listed", wave=9),  # the root's syncWave wins
        child("tracked", wave=1, annotations={argo.TRACKING: "root:argoproj.io/Application:x"}),
        child("labelled", labels={argo.INSTANCE: "root"}),
        child("owned", wave=3, ownerReferences=[{"kind": "Application", "name": "root"}]),
        child("generated", wave=4, ownerReferences=[{"kind": "ApplicationSet", "name": "svc"}]),
        child("stranger", ownerReferences=[{"kind": "ApplicationSet", "name": "not-listed"}]),
    ]
    assert tree.children(parent, apps) == {
        "listed": 2,
        "tracked": 0,
        "labelled": 0,
        "owned": 3,
        "generated": 4,
        "unborn": 0,
    }
    assert tree.children(parent, [parent]) == {"listed": 2, "unborn": 0}


def test_the_child_index_looks_only_at_apps_that_came_or_went() -> None:
    parent = root(entry("listed", syncWave=2), entry("svc", kind="ApplicationSet"))
    parent["metadata"]["resourceVersion"] = "1"
    index = tree.ChildIndex()
    assert index.update(parent, {"root": parent}, members=1) == {"listed": 2}
    first = index.version
    stranger = child("stranger", wave=5)
    assert index.update(parent, {"root": parent, "stranger": stranger}, members=2) == {"listed": 2}
    assert index.version == first  # nothing changed for the walk
    generated = child(
        "generated", wave=4, ownerReferences=[{"kind": "ApplicationSet", "name": "svc"}]
    )
    apps = {"root": parent, "stranger": stranger, "generated": generated}
    assert index.update(parent, apps, members=3) == {"listed": 2, "generated": 4}
    assert index.version == first + 1
    del apps["generated"]
    assert index.update(parent, apps, members=4) == {"listed": 2}
    moved = {**parent, "metadata": {**parent["metadata"], "resourceVersion": "2"}}
    moved["status"] = {**parent["status"], "resources": [entry("listed", syncWave=3)]}
    assert index.update(moved, apps, members=4) == {"listed": 3}
    assert index.update(None, apps, members=4) == {}


def appset(reason: str | None, status: str = "True", message: str = "") -> Obj:
    conditions = (
        []
        if reason is None
        else [{"type": "ResourcesUpToDate", "status": status, "reason": reason, "message": message}]
    )
    return {"metadata": {"name": "svc"}, "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("appsets", "pending"),
    [
        ({"svc": appset("ApplicationSetUpToDate")}, []),
        ({}, ["ApplicationSet svc: not found yet"]),
        ({"svc": appset(None)}, ["ApplicationSet svc: not reported up to date yet"]),
        (
            {"svc": appset("ApplicationSetModified", "False", "generating")},
            ["ApplicationSet svc: generating"],
        ),
        (
            {"svc": appset("CreateApplicationError", "True", "quota exceeded")},
            ["ApplicationSet svc: quota exceeded"],
        ),
    ],
    ids=["up to date", "missing", "no condition yet", "generating", "an error is not up to date"],
)
def test_an_applicationset_is_settled_only_when_it_says_all_apps_exist(
    appsets: dict[str, Obj], pending: list[str]
) -> None:
    parent = root(entry("svc", kind="ApplicationSet"))
    assert tree.unsettled(parent, appsets) == pending
    assert tree.unsettled(root(entry("web")), {}) == []


@pytest.mark.parametrize(
    ("parent", "pending", "blockers"),
    [
        (root(), [], []),
        (None, [], ["root Application root not found"]),
        (root(reconciled=False), [], ["root Application root: not reconciled by Argo CD yet"]),
        (root(), ["ApplicationSet svc: generating"], ["ApplicationSet svc: generating"]),
        (root(sync="OutOfSync"), [], ["root Application root: OutOfSync"]),
    ],
)
def test_root_blockers_say_why_the_children_may_be_incomplete(
    parent: Obj | None, pending: list[str], blockers: list[str]
) -> None:
    assert tree.root_blockers(parent, "root", pending) == blockers


def test_a_hard_refresh_carries_the_judged_resource_version_and_nothing_else() -> None:
    obj = app()
    obj["metadata"]["resourceVersion"] = "42"
    body = rules.nudge(obj, "refresh")
    assert body["metadata"] == {
        "name": "a",
        "namespace": "argocd",
        "resourceVersion": "42",
        "annotations": {argo.REFRESH: "hard"},
    }
    assert set(body) == {"apiVersion", "kind", "metadata"}


def test_an_explicit_sync_targets_the_apps_revision_as_clusterboot() -> None:
    obj = app()
    obj["metadata"]["resourceVersion"] = "42"
    retry = {"limit": 2}
    obj["spec"]["syncPolicy"] = {"automated": {"prune": True}, "retry": retry}
    operation = rules.nudge(obj, "sync")["operation"]
    assert operation == {
        "initiatedBy": {"username": "clusterboot"},
        "sync": {"prune": True, "syncStrategy": {"hook": {}}, "revision": "main"},
        "retry": retry,
    }
    obj["spec"] = {"sources": [{"targetRevision": "v1"}, {}]}
    assert rules.nudge(obj, "sync")["operation"]["sync"]["revisions"] == ["v1", "HEAD"]


def test_a_survey_summarises_the_waves_and_what_is_not_passing() -> None:
    settings = rules.Settings("argocd", "root", 60, {}, GRACE, 1.0, argo.Limits())
    parent = root(entry("ns", syncWave=-1), entry("web", syncWave=1), entry("api", syncWave=1))
    ready = {"ns": app(), "web": app(), "api": app()}
    for name, obj in ready.items():
        obj["metadata"] = {**obj["metadata"], "name": name}
    converged = rules.survey({"root": parent, **ready}, settings, now=T0 + 120, appsets={})
    assert converged.converged
    assert converged.summary() == "walk waves: -1 (1 app), 1 (2 apps); 0 of 3 not passing"
    apps = {"root": parent, **ready, "api": app(sync="OutOfSync")}
    behind = rules.survey(apps, settings, now=T0, appsets={})
    assert not behind.converged
    assert behind.summary().endswith("; 1 of 3 not passing")
    unknown = rules.survey({}, settings, now=T0, appsets={})
    assert (
        unknown.summary() == "walk waves: children not known yet (root Application root not found)"
    )


ROOT = RootApp(repo_url="https://git.example/p.git", target_revision="main", path="apps")


@pytest.mark.parametrize(
    ("live", "differences"),
    [
        (root_app.application(ROOT, "argocd"), []),
        (None, ["missing"]),
        (
            {**root_app.application(ROOT, "argocd"), "status": {"sync": {}}, "operation": {}},
            [],
        ),
        (
            root_app.application(ROOT.model_copy(update={"target_revision": "v1"}), "argocd"),
            ["spec.source.targetRevision: 'v1' → 'main'"],
        ),
        (
            root_app.application(
                ROOT.model_copy(update={"destination": Destination(namespace="x")}), "argocd"
            ),
            ["spec.destination.namespace: 'x' → 'argocd'"],
        ),
    ],
    ids=["already there", "missing", "Argo CD's fields ignored", "revision", "destination"],
)
def test_root_application_drift(live: Obj | None, differences: list[str]) -> None:
    assert root_app.drift(live, root_app.application(ROOT, "argocd")) == differences


def test_repository_secret_drift_names_the_key_never_the_value() -> None:
    def creds(password: str) -> RootApp:
        ref = SecretRef(env="TOKEN", value=Secret(password, source="test"))
        user = SecretRef(env="USER", value=Secret("deployer", source="test"))
        return ROOT.model_copy(update={"credentials": RepoCredentials(username=user, password=ref)})

    want = root_app.repository_secret(creds("new-password-1"), "argocd")
    live = root_app.repository_secret(creds("old-password-1"), "argocd")
    assert want is not None
    assert root_app.drift(want, want) == []
    assert root_app.drift(live, want) == ["data.password: changed"]
    assert root_app.repository_secret(ROOT, "argocd") is None


# -- a commit clusterboot published itself (a sandbox repository) ---------------------------
REPO = "https://git.example/p.git"
NEW, OLD = "a" * 40, "b" * 40


def at_revision(revision: str | None, **kw: Any) -> Obj:
    found = app(**kw)
    if revision is not None:
        found["status"]["sync"]["revision"] = revision
    return found


@pytest.mark.parametrize(
    ("revision", "revisions", "outcome", "remedy"),
    [
        (NEW, {REPO: NEW}, "passed", None),  # already there
        (OLD, {REPO: NEW}, "waiting", "refresh"),
        (None, {REPO: NEW}, "waiting", "refresh"),
        (OLD, {"https://other.example/x.git": NEW}, "passed", None),  # another repository
        (OLD, {}, "passed", None),  # nothing published by clusterboot
    ],
)
def test_an_app_must_have_compared_the_commit_clusterboot_published(
    revision: str | None, revisions: dict[str, str], outcome: str, remedy: str | None
) -> None:
    found = argo.verdict(
        at_revision(revision), changed_at=None, now=T0 + 30, grace=GRACE, revisions=revisions
    )
    assert (found.outcome, found.remedy) == (outcome, remedy)
    if outcome == "waiting":
        assert found.at_once
        assert NEW[:8] in found.why


def test_a_root_behind_the_published_commit_blocks_its_children() -> None:
    root = at_revision(OLD)
    assert tree.root_blockers(root, "root", [], {REPO: NEW}) == [
        f"root Application root: Argo CD has not compared commit {NEW[:8]} yet "
        f"(its status is of {OLD[:8]})"
    ]
    assert tree.root_blockers(at_revision(NEW), "root", [], {REPO: NEW}) == []


def test_a_comparison_error_is_reported_rather_than_waited_out_as_an_old_commit() -> None:
    error = {"type": "ComparisonError", "message": "kustomize build: missing-patch.yaml"}
    found = argo.verdict(
        at_revision(OLD, conditions=(error,)),
        changed_at=None,
        now=T0 + 30,
        grace=GRACE,
        revisions={REPO: NEW},
    )
    assert found.why == "ComparisonError: kustomize build: missing-patch.yaml"
    assert found.remedy == "refresh"
    root = at_revision(OLD, sync="Unknown", conditions=(error,))
    blockers = tree.root_blockers(root, "root", [], {REPO: NEW})
    assert blockers == [
        "root Application root: Unknown; ComparisonError: kustomize build: missing-patch.yaml"
    ]


UNREACHABLE = {"type": "ComparisonError", "message": "dial tcp 127.0.0.1:8081: connection refused"}


@pytest.mark.parametrize(
    ("root", "changed_at", "refreshes", "outcome", "remedy"),
    [
        (app(sync="OutOfSync"), None, 0, None, None),  # creating children: nothing to do
        (app(), None, 0, None, None),  # already Synced
        (app(phase=None, reconciled=None), None, 0, None, None),  # not reconciled yet
        (app(sync="Unknown", conditions=(UNREACHABLE,)), None, 0, "waiting", "refresh"),
        (app(sync="Unknown"), None, 0, "waiting", "refresh"),  # Unknown with no reason given
        (app(conditions=({"type": "SyncError", "message": "x"},)), None, 0, None, None),
        (app(sync="Unknown", conditions=(UNREACHABLE,)), T0 + 25, 1, "waiting", "refresh"),
        (app(sync="Unknown", conditions=(UNREACHABLE,)), None, 3, "failed", None),
        (app(annotations={argo.REFRESH: "hard"}), T0 + 25, 1, None, None),  # ours, pending
    ],
)
def test_the_root_is_refreshed_only_for_what_a_hard_refresh_clears(
    root: Obj, changed_at: float | None, refreshes: int, outcome: str | None, remedy: str | None
) -> None:
    found = argo.root_verdict(root, changed_at=changed_at, now=T0 + 30, refreshes=refreshes)
    judged = (found.outcome, found.remedy) if found else (None, None)
    assert judged == (outcome, remedy)


def test_a_missing_path_fails_after_one_refresh_and_at_once_when_refreshes_are_off() -> None:
    missing = app(sync="Unknown", phase=None, conditions=(NO_PATH,))
    first = argo.verdict(missing, changed_at=None, now=T0 + 30, grace=GRACE)
    assert (first.outcome, first.remedy, first.at_once) == ("waiting", "refresh", True)
    off = argo.Limits(max_refreshes=0)
    never = argo.verdict(missing, changed_at=None, now=T0 + 30, grace=GRACE, limits=off)
    assert never.outcome == "failed"
    assert never.details == (f"Argo CD: ComparisonError: {NO_PATH['message']}",)
    assert never.hint == (
        "name a directory that is there (`git ls-tree -d --name-only main -- apps/` in a clone "
        "lists them), or commit and push apps/a at main"
    )
    assert argo.known_broken(missing) == (
        "source path apps/a does not exist in https://git.example/p.git at revision main"
    )


def test_a_missing_path_of_a_multi_source_app_names_the_source_that_lacks_it() -> None:
    missing = app(sync="Unknown", phase=None, conditions=(NO_PATH,))
    missing["spec"] = {
        "sources": [
            {"repoURL": "https://charts.example/", "chart": "redis", "targetRevision": "1.0"},
            {"repoURL": "https://git.example/values.git", "path": "apps/a", "targetRevision": "v2"},
        ]
    }
    found = argo.missing_path(missing)
    assert found is not None
    assert (
        found.why
        == "source path apps/a does not exist in https://git.example/values.git at revision v2"
    )
    assert argo.missing_path(app(conditions=(COMPARISON,))) is None
    assert argo.missing_path(app()) is None


def test_a_root_whose_path_is_missing_fails_at_once_after_one_refresh_with_the_key_to_fix() -> None:
    root = app(sync="Unknown", phase=None, conditions=(NO_PATH,))
    first = argo.root_verdict(root, changed_at=None, now=T0 + 30, refreshes=0)
    assert first is not None
    assert (first.outcome, first.remedy, first.at_once) == ("waiting", "refresh", True)
    verdict = argo.root_verdict(root, changed_at=T0 + 20, now=T0 + 30, refreshes=1)
    assert verdict is not None
    assert verdict.outcome == "failed"
    failed = rules.root_failure("root", verdict, root)
    assert failed.why == (
        "root Application root: source path apps/a does not exist in "
        "https://git.example/p.git at revision main"
    )
    assert failed.blocking[1] == f"Argo CD: ComparisonError: {NO_PATH['message']}"
    assert failed.hint.startswith("check root_app.path (relative to the repository's top) and ")
    assert "`git ls-tree -d --name-only main -- apps/`" in failed.hint


def test_a_child_whose_path_is_missing_gets_its_own_hint_beside_the_general_one() -> None:
    missing = argo.verdict(
        app(sync="Unknown", phase=None, conditions=(NO_PATH,)),
        changed_at=None,
        now=T0 + 30,
        grace=GRACE,
        refreshes=1,
    )
    degraded = argo.AppVerdict("failed", "Degraded for 120s: Deployment shop/payment")
    alone = rules.failure(3, {"web": missing}, {"web": 3})
    assert alone.why == (
        "wave 3: web failed: source path apps/a does not exist in https://git.example/p.git "
        "at revision main"
    )
    assert alone.hint.startswith("web: in its spec.source.path (in the root app's repository), ")
    assert "waiting longer" not in alone.hint
    both = rules.failure(3, {"web": missing, "shop": degraded}, {"web": 3, "shop": 3})
    assert both.hint.startswith("web: in its spec.source.path")
    assert both.hint.endswith("waiting longer will not help")


def test_a_root_that_stays_unrenderable_names_its_source() -> None:
    verdict = argo.AppVerdict("failed", "ComparisonError: x (still, after 3 hard refreshes)")
    failed = rules.root_failure("root", verdict, app())
    assert failed.why == "root Application root: ComparisonError: x (still, after 3 hard refreshes)"
    assert failed.blocking == [
        "root Application root renders repoURL=https://git.example/p.git path=apps/a "
        "targetRevision=main"
    ]
