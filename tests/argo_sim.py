"""An Argo CD stand-in for the integration tests and the benchmark: a small controller against a
real API server that plays Argo CD's application controller for one root app.

When the root Application appears it "syncs" it: creates the children (and ApplicationSets),
then writes each child's status following its ``Script`` — delays, Degraded, a stuck hook, a
ComparisonError that only a hard refresh clears, a Progressing health that only a refresh
(normal or hard) brings up to date, a pending retry, an auto-sync that failed for
the commit and recovers only through an explicit ``.operation``, apps that appear late. Like Argo
CD it consumes the refresh annotation (bumping ``reconciledAt``) and clears ``.operation`` when
the operation it started completes. It records what clusterboot asked of it, and when each
child turned healthy. Nothing here sleeps: timers wait on a condition.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bootstrap.errors import ClusterbootError
from bootstrap.kube.client import Cancel, Expired, Kube
from bootstrap.waves import argo

Obj = dict[str, Any]
MANAGER = "argocd-application-controller"
LANES = 8  # threads writing for different apps at once
REPO = "https://git.example.invalid/platform.git"
BEHAVIOURS = (
    "healthy",
    "progressing",
    "degraded",
    "stuck_hook",
    "retry_pending",
    "autosync_failed",
    "comparison_error",
    "comparison_error_forever",
    "missing_path",
    "stale_health",
    "stale_degraded",
)


def _crd(kind: str, plural: str, short: list[str]) -> Obj:
    """A CustomResourceDefinition shaped like Argo CD's (authored here, not copied): spec,
    status and operation are free-form, and there is no status subresource."""
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.argoproj.io",
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "spec": {
            "group": "argoproj.io",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
            },
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {
                            "name": "Sync Status",
                            "type": "string",
                            "jsonPath": ".status.sync.status",
                        },
                        {
                            "name": "Health Status",
                            "type": "string",
                            "jsonPath": ".status.health.status",
                        },
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["metadata", "spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": free,
                                "status": free,
                                "operation": free,
                            },
                        }
                    },
                }
            ],
        },
    }


APPLICATION_CRD = _crd("Application", "applications", ["app", "apps"])
APPLICATIONSET_CRD = _crd("ApplicationSet", "applicationsets", ["appset", "appsets"])


def install_crds(kube: Kube, *, timeout: float = 30.0) -> None:
    """Apply both CRDs and wait until they are Established and served."""
    for crd in (APPLICATION_CRD, APPLICATIONSET_CRD):
        kube.apply(crd)
    pause, until = threading.Event(), time.monotonic() + timeout
    for crd in (APPLICATION_CRD, APPLICATIONSET_CRD):
        while True:
            live = kube.get(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            )
            conditions = {
                c["type"]: c["status"]
                for c in ((live or {}).get("status") or {}).get("conditions") or []
            }
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > until:
                raise TimeoutError(f"CRD {crd['metadata']['name']} not Established")
            pause.wait(0.05)
    kube.refresh_discovery()
    for crd in (APPLICATION_CRD, APPLICATIONSET_CRD):
        _first_write(kube, crd["spec"]["names"]["kind"], pause, until)


def _first_write(kube: Kube, kind: str, pause: threading.Event, until: float) -> None:
    """Create and delete one object: the API server holds the first create of a new kind for
    about two seconds, which would otherwise land in the middle of a scenario's timing."""
    body = {
        "apiVersion": argo.API_VERSION,
        "kind": kind,
        "spec": {},
        "metadata": {"name": "sim-warm-up", "namespace": "default"},
    }
    resource = kube.resource(argo.API_VERSION, kind)
    while True:
        try:
            kube.dyn.create(resource, body=body, namespace="default")  # type: ignore[no-untyped-call]
            break
        except Exception:  # 429 while the new kind's storage initializes
            if time.monotonic() > until:
                raise
            pause.wait(0.05)
    kube.delete(argo.API_VERSION, kind, "sim-warm-up", "default")


def missing_path_message(path: str) -> str:
    """The ComparisonError Argo CD v3.2 writes when an app's source path is not in its
    repository at the revision: the application controller's "Failed to load target state"
    around the repo-server's "<path>: app path does not exist" (util/app/path), as a real
    Argo CD wrote it in tests/integration/test_real_argocd.py."""
    return (
        "Failed to load target state: failed to generate manifest for source 1 of 1: "
        f"rpc error: code = Unknown desc = {path}: app path does not exist"
    )


@dataclass
class Script:
    """How one child behaves. Times are seconds after its creation (``ready_at``: after the
    root appeared, for schedules across many apps)."""

    name: str
    wave: int | None = 0  # None: no sync-wave annotation at all
    behaviour: str = "healthy"
    ready_after: float = 0.2
    ready_at: float | None = None
    hold: float = 0.0  # retry_pending: how long the retry backoff lasts
    appear_after: float = 0.0  # late apps: created this long after the root appeared
    generator: str | None = None  # the ApplicationSet that "generates" it

    def __post_init__(self) -> None:
        assert self.behaviour in BEHAVIOURS, self.behaviour


@dataclass
class Scenario:
    namespace: str
    root: str
    apps: list[Script]
    generators: list[str] = field(default_factory=list)
    revision: str = "main"
    root_behaviour: str = "healthy"
    """comparison_error: the root's first comparison fails (a repo-server not up yet) until a
    hard refresh; comparison_error_forever: every comparison fails; missing_path: every
    comparison fails because the root's path is not in the repository at its revision."""


@dataclass
class Records:
    """What the simulator saw clusterboot do, and when children turned healthy (epoch s)."""

    refreshes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (value, manager)
    operations: dict[str, list[tuple[Obj, str]]] = field(default_factory=dict)  # (op, manager)
    healthy_at: dict[str, float] = field(default_factory=dict)  # the healthy status sent
    healthy_acked: dict[str, float] = field(default_factory=dict)  # ... and its write answered
    errors: list[str] = field(default_factory=list)
    hiccups: list[str] = field(default_factory=list)  # transient API answers while watching
    timeline: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic, app, step)


def stamp(at: float | None = None) -> str:
    """RFC 3339 in whole seconds, as Argo CD writes its timestamps."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def manager_of(obj: Obj, *path: str) -> str:
    """The field manager that owns ``path`` (e.g. "metadata", "annotations", key)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        node = entry.get("fieldsV1") or {}
        for key in path:
            node = node.get(f"f:{key}")
            if node is None:
                break
        else:
            return str(entry.get("manager"))
    return ""


class _Timers:
    """A heap of callables due at monotonic times, each for a lane (an app's name)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.heap: list[tuple[float, int, str, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.stopped = False

    def at(self, due: float, lane: str, action: Callable[[], None]) -> None:
        with self.changed:
            heapq.heappush(self.heap, (due, next(self.seq), lane, action))
            self.changed.notify()

    def next(self) -> tuple[str, Callable[[], None]] | None:
        with self.changed:
            while not self.stopped:
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    _, _, lane, action = heapq.heappop(self.heap)
                    return lane, action
                self.changed.wait(self.heap[0][0] - now if self.heap else None)
            return None

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


@dataclass
class _Child:
    script: Script
    sync: str = "OutOfSync"
    health: str = "Missing"
    message: str = ""
    health_since: str = ""
    op: Obj | None = None  # .status.operationState
    conditions: list[Obj] = field(default_factory=list)
    resources: list[Obj] = field(default_factory=list)
    created: bool = False
    operating: bool = False  # an explicit operation is being run
    handled: int = 0  # resourceVersion of our last write that consumed a request


class ArgoSim:
    """Plays Argo CD for ``scenario`` while it runs (a context manager)."""

    def __init__(self, kube: Kube, scenario: Scenario) -> None:
        self.kube, self.scenario, self.ns = kube, scenario, scenario.namespace
        self.records = Records()
        self.children = {s.name: _Child(s) for s in scenario.apps}
        self.timers = _Timers()
        self.cancel, self.stopping = Cancel(), threading.Event()
        self.root_started: float | None = None
        self.root_refused = False
        self.root_flush_due = False
        self.sets: dict[str, str] = {}  # ApplicationSet name -> uid
        self.ungenerated: dict[str, int] = {}  # ApplicationSet name -> apps still to create
        self.lock = threading.Lock()
        self.apps = kube.resource(argo.API_VERSION, argo.KIND)
        self.appsets = kube.resource(argo.API_VERSION, "ApplicationSet")
        self.threads = [
            threading.Thread(target=self._watch, name="argo-sim watch", daemon=True),
            threading.Thread(target=self._execute, name="argo-sim controller", daemon=True),
        ]
        self.lanes: list[queue.Queue[Callable[[], None] | None]] = [
            queue.Queue() for _ in range(LANES)
        ]
        self.threads += [
            threading.Thread(target=self._lane, args=(q,), name=f"argo-sim lane {i}", daemon=True)
            for i, q in enumerate(self.lanes)
        ]
        self.listening = threading.Event()

    def __enter__(self) -> ArgoSim:
        for thread in self.threads:
            thread.start()
        if not self.listening.wait(10):
            raise TimeoutError("the simulator could not list Applications")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self.cancel.set()
        self.timers.stop()
        for thread in self.threads:
            thread.join(timeout=5)

    # -- the two threads ---------------------------------------------------------------
    def _watch(self) -> None:
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    items, version = self.kube.list(argo.API_VERSION, argo.KIND, namespace=self.ns)
                    for item in items:
                        self.timers.at(
                            0, item["metadata"]["name"], functools.partial(self._react, item)
                        )
                    self.listening.set()
                for kind, obj in self.kube.watch(
                    argo.API_VERSION,
                    argo.KIND,
                    namespace=self.ns,
                    resource_version=version,
                    timeout_seconds=30,
                    cancel=self.cancel,
                ):
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind in {"ADDED", "MODIFIED"}:
                        self.timers.at(
                            0, obj["metadata"]["name"], functools.partial(self._react, obj)
                        )
            except Expired:
                version = None
            except ClusterbootError as err:
                self.records.hiccups.append(f"watch: {err.message}")
                self.stopping.wait(0.2)

    def _execute(self) -> None:
        """Hand each due action to its app's lane: one app's steps stay in order, while many
        apps' writes overlap (each write is a round trip through the cluster's relay)."""
        while (due := self.timers.next()) is not None:
            lane, action = due
            self.lanes[zlib.crc32(lane.encode()) % LANES].put(action)
        for lane_queue in self.lanes:
            lane_queue.put(None)

    def _lane(self, actions: queue.Queue[Callable[[], None] | None]) -> None:
        while (action := actions.get()) is not None:
            try:
                action()
            except Exception as err:  # keep playing; the test reads the errors
                self.records.errors.append(f"{type(err).__name__}: {err}"[:400])

    # -- reactions to what clusterboot (or anyone) wrote ---------------------------------
    def _react(self, obj: Obj) -> None:
        meta = obj["metadata"]
        name, version = meta["name"], int(meta["resourceVersion"])
        if name == self.scenario.root:
            self._react_root(obj)
            return
        child = self.children.get(name)
        if child is None or version <= child.handled:
            return
        if argo.REFRESH in (meta.get("annotations") or {}):
            self._refresh(obj, child)
        elif obj.get("operation") and not child.operating:
            self._operate(obj, child)

    def _refresh(self, obj: Obj, child: _Child) -> None:
        value = obj["metadata"]["annotations"][argo.REFRESH]
        who = manager_of(obj, "metadata", "annotations", argo.REFRESH)
        self.records.refreshes.setdefault(child.script.name, []).append((value, who))
        path = "/metadata/annotations/" + argo.REFRESH.replace("/", "~1")
        consume = [{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}]
        if value == "hard" and child.script.behaviour == "comparison_error" and child.conditions:
            child.conditions = []
            self._syncing(child)
            due = time.monotonic() + child.script.ready_after
            self.timers.at(due, child.script.name, lambda: self._done(child))
        if child.script.behaviour == "stale_health" and child.health == "Progressing":
            self._done(child, consume)  # its resources had settled: a fresh look sees it
            return
        if child.script.behaviour == "stale_degraded" and child.health == "Degraded":
            self._done(child, consume)  # its CRD is Established by now: a fresh look sees it
            return
        self._write(child, consume)

    def _operate(self, obj: Obj, child: _Child) -> None:
        operation = obj["operation"]
        who = manager_of(obj, "operation")
        self.records.operations.setdefault(child.script.name, []).append((operation, who))
        child.operating, child.conditions = True, []
        who_asked = (operation.get("initiatedBy") or {}).get("username", "someone")
        child.op = {
            "phase": "Running",
            "startedAt": stamp(),
            "operation": operation,
            "message": f"syncing (initiated by {who_asked})",
        }
        self._write(child)
        due = time.monotonic() + 0.15
        self.timers.at(due, child.script.name, lambda: self._finish_operation(child))

    def _finish_operation(self, child: _Child) -> None:
        child.operating = False
        self._done(child, [{"op": "remove", "path": "/operation"}])

    # -- the root and its children -------------------------------------------------------
    def _react_root(self, obj: Obj) -> None:
        meta = obj["metadata"]
        value = (meta.get("annotations") or {}).get(argo.REFRESH)
        if value is not None:
            who = manager_of(obj, "metadata", "annotations", argo.REFRESH)
            self.records.refreshes.setdefault(self.scenario.root, []).append((value, who))
            path = "/metadata/annotations/" + argo.REFRESH.replace("/", "~1")
            self._patch(
                self.scenario.root,
                [{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}],
            )
        if self.root_started is not None:
            return
        behaviour = self.scenario.root_behaviour
        fixed = behaviour == "comparison_error" and value == "hard"
        if behaviour == "healthy" or fixed:
            self._sync_root()
        elif value is not None or not self.root_refused:
            self.root_refused = True
            self._root_comparison_error(obj)

    def _root_comparison_error(self, root: Obj) -> None:
        message = (
            "Failed to load target state: failed to generate manifest for source 1 of 1: "
            "rpc error: code = Unavailable desc = connection error: dial tcp 127.0.0.1:8081: "
            "connect: connection refused"
        )
        if self.scenario.root_behaviour == "missing_path":
            message = missing_path_message(root["spec"]["source"]["path"])
        status = {
            "sync": {"status": "Unknown"},
            "health": {"status": "Healthy"},
            "reconciledAt": stamp(),
            "conditions": [
                {"type": "ComparisonError", "message": message, "lastTransitionTime": stamp()}
            ],
        }
        self._patch(self.scenario.root, [{"op": "add", "path": "/status", "value": status}])

    def _sync_root(self) -> None:
        """The root appeared: create what its sync would (ApplicationSets, children)."""
        self.root_started = started = time.monotonic()
        self.records.timeline.append((started, self.scenario.root, "root"))
        for name in self.scenario.generators:
            body = {
                "apiVersion": argo.API_VERSION,
                "kind": "ApplicationSet",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"generators": [{"list": {"elements": []}}], "template": {}},
            }
            made = self.kube.dyn.create(  # type: ignore[no-untyped-call]
                self.appsets, body=body, namespace=self.ns, field_manager=MANAGER
            )
            self.sets[name] = made.metadata.uid
        self.ungenerated = {
            name: sum(c.script.generator == name for c in self.children.values())
            for name in self.scenario.generators
        }
        for child in self.children.values():
            due = started + child.script.appear_after
            self.timers.at(due, child.script.name, functools.partial(self._create, child))
        self._flush_root()

    def _create(self, child: _Child) -> None:
        script = child.script
        self.records.timeline.append((time.monotonic(), script.name, "create"))
        annotations = {} if script.wave is None else {argo.WAVE: str(script.wave)}
        meta: Obj = {"name": script.name, "namespace": self.ns, "annotations": annotations}
        if script.generator:
            meta["ownerReferences"] = [
                {
                    "apiVersion": argo.API_VERSION,
                    "kind": "ApplicationSet",
                    "name": script.generator,
                    "uid": self.sets[script.generator],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        else:
            annotations[argo.TRACKING] = (
                f"{self.scenario.root}:argoproj.io/Application:{self.ns}/{script.name}"
            )
        spec = {
            "project": "default",
            "source": self._source(script.name),
            "destination": {"server": "https://kubernetes.default.svc", "namespace": script.name},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        }
        body = {"apiVersion": argo.API_VERSION, "kind": argo.KIND, "metadata": meta, "spec": spec}
        self.kube.dyn.create(  # type: ignore[no-untyped-call]
            self.apps, body=body, namespace=self.ns, field_manager=MANAGER
        )
        child.created = True
        if not script.generator:
            self._root_changed()
        else:
            self._generated(script.generator)
        self._begin(child)

    def _generated(self, generator: str) -> None:
        """Like the ApplicationSet controller: up to date once every Application it
        generates exists (an app of each lane may finish last, so count under a lock)."""
        with self.lock:
            self.ungenerated[generator] -= 1
            if self.ungenerated[generator]:
                return
        names = [c.script.name for c in self.children.values() if c.script.generator == generator]
        status = {
            "conditions": [
                {
                    "type": "ResourcesUpToDate",
                    "status": "True",
                    "reason": "ApplicationSetUpToDate",
                    "message": "All applications have been generated successfully",
                }
            ],
            "resources": [
                {
                    "group": argo.GROUP,
                    "version": "v1alpha1",
                    "kind": argo.KIND,
                    "namespace": self.ns,
                    "name": name,
                    "status": "OutOfSync",
                }
                for name in names
            ],
        }
        path = self.appsets.path(name=generator, namespace=self.ns)
        step = [{"op": "add", "path": "/status", "value": status}]
        self.kube.dyn.request(
            "PATCH",
            path,
            body=step,
            field_manager=MANAGER,
            content_type="application/json-patch+json",
        )

    def _source(self, name: str) -> Obj:
        return {"repoURL": REPO, "path": f"apps/{name}", "targetRevision": self.scenario.revision}

    def _root_changed(self) -> None:
        """Write the root's status soon, once for many children created together."""
        if not self.root_flush_due:
            self.root_flush_due = True
            self.timers.at(time.monotonic() + 0.05, self.scenario.root, self._flush_root)

    def _flush_root(self) -> None:
        self.root_flush_due = False
        entries: list[Obj] = []
        for child in self.children.values():
            script = child.script
            if script.generator:
                continue
            entry: Obj = {
                "group": argo.GROUP,
                "version": "v1alpha1",
                "kind": argo.KIND,
                "namespace": self.ns,
                "name": script.name,
                "status": "Synced" if child.created else "OutOfSync",
            }
            if script.wave:  # Argo CD omits a zero syncWave
                entry["syncWave"] = script.wave
            entries.append(entry)
        entries += [
            {
                "group": argo.GROUP,
                "version": "v1alpha1",
                "kind": "ApplicationSet",
                "namespace": self.ns,
                "name": name,
                "status": "Synced",
            }
            for name in self.scenario.generators
        ]
        synced = all(e["status"] == "Synced" for e in entries)
        status = {
            "sync": {"status": "Synced" if synced else "OutOfSync", "revision": "0123abc"},
            "health": {"status": "Healthy"},
            "reconciledAt": stamp(),
            "operationState": {
                "phase": "Succeeded",
                "startedAt": stamp(),
                "finishedAt": stamp(),
                "message": "successfully synced (all tasks run)",
            },
            "resources": entries,
        }
        self._patch(self.scenario.root, [{"op": "add", "path": "/status", "value": status}])

    # -- a child's life -----------------------------------------------------------------
    def _begin(self, child: _Child) -> None:
        script = child.script
        if script.behaviour.startswith("comparison_error") or script.behaviour == "missing_path":
            child.sync, child.health = "Unknown", "Healthy"
            message = (
                missing_path_message(self._source(script.name)["path"])
                if script.behaviour == "missing_path"
                else "Manifest generation error (cached): rpc error: "
                "failed to list refs: repository not found"
            )
            child.conditions = [
                {"type": "ComparisonError", "lastTransitionTime": stamp(), "message": message}
            ]
            self._write(child)
            return
        self._syncing(child)
        self._write(child)
        start = self.root_started if script.ready_at is not None else time.monotonic()
        delay = script.ready_at if script.ready_at is not None else script.ready_after
        self.timers.at((start or 0.0) + delay, script.name, lambda: self._act(child))

    def _syncing(self, child: _Child) -> None:
        self._set_health(child, "Missing", "")
        child.sync = "OutOfSync"
        child.op = {"phase": "Running", "startedAt": stamp(), "message": "syncing"}

    def _act(self, child: _Child) -> None:
        """The moment the script is about: healthy, or the trouble it plays."""
        self.records.timeline.append((time.monotonic(), child.script.name, "act"))
        plays = {
            "healthy": self._done,
            "progressing": self._progressing,
            "stale_health": self._progressing,
            "degraded": self._progressing,
            "stale_degraded": self._progressing,
            "stuck_hook": self._stuck_hook,
            "retry_pending": self._retry_pending,
            "autosync_failed": self._autosync_failed,
        }
        plays[child.script.behaviour](child)

    def _finished(self, child: _Child) -> Obj:
        return {"startedAt": (child.op or {}).get("startedAt", stamp()), "finishedAt": stamp()}

    def _progressing(self, child: _Child) -> None:
        name = child.script.name
        if child.script.behaviour in {"degraded", "stale_degraded"}:
            state, message = "Degraded", f'Deployment "{name}" exceeded its progress deadline'
        else:
            state, message = "Progressing", "Waiting for rollout to finish: 0 of 2 available"
        child.sync = "Synced"
        self._set_health(child, state, message)
        child.op = {"phase": "Succeeded", "message": "successfully synced", **self._finished(child)}
        child.resources = [
            self._resource("apps", "Deployment", name, state, message),
            self._resource("", "Service", name, "Healthy", ""),
        ]
        self._write(child)

    def _stuck_hook(self, child: _Child) -> None:
        name = child.script.name
        hook = {"group": "batch", "kind": "Job", "namespace": name, "name": f"{name}-db-migrate"}
        self._set_health(child, "Progressing", "")
        child.op = {
            "phase": "Running",
            "startedAt": self._finished(child)["startedAt"],
            "message": f"waiting for completion of hook batch/Job/{hook['name']}",
            "syncResult": {
                "resources": [
                    {
                        **hook,
                        "hookType": "PreSync",
                        "hookPhase": "Running",
                        "message": "job has not completed",
                    },
                ]
            },
        }
        job = self._resource("batch", "Job", hook["name"], "Progressing", "job has not completed")
        child.resources = [job]
        self._write(child)

    def _retry_pending(self, child: _Child) -> None:
        child.op = {
            "phase": "Running",
            **self._finished(child),
            "retryCount": 1,
            "message": "one or more objects failed to apply (retried 1 times). "
            f"Retrying attempt #1 at {stamp()[11:19]}.",
        }
        self._write(child)
        due = time.monotonic() + child.script.hold
        self.timers.at(due, child.script.name, lambda: self._done(child))

    def _autosync_failed(self, child: _Child) -> None:
        name, revision = child.script.name, self.scenario.revision
        reason = f'one or more objects failed to apply, reason: Job.batch "{name}-init" is invalid'
        child.op = {"phase": "Failed", "message": reason, **self._finished(child)}
        child.conditions = [
            {
                "type": "SyncError",
                "lastTransitionTime": stamp(),
                "message": f"Failed sync attempt to {revision}: {reason}",
            }
        ]
        self._write(child)

    def _done(self, child: _Child, extra: list[Obj] | None = None) -> None:
        name = child.script.name
        child.sync, child.conditions = "Synced", []
        self._set_health(child, "Healthy", "")
        child.op = {
            "phase": "Succeeded",
            "startedAt": (child.op or {}).get("startedAt", stamp()),
            "finishedAt": stamp(),
            "message": "successfully synced (all tasks run)",
        }
        child.resources = [
            self._resource("apps", "Deployment", name, "Healthy", ""),
            self._resource("", "Service", name, "Healthy", ""),
        ]
        self.records.healthy_at[name] = time.time()
        self._write(child, extra)
        self.records.healthy_acked[name] = time.time()

    def _set_health(self, child: _Child, state: str, message: str) -> None:
        if state != child.health or not child.health_since:
            child.health_since = stamp()
        child.health, child.message = state, message

    def _resource(self, group: str, kind: str, name: str, health: str, message: str) -> Obj:
        state = {"status": health, **({"message": message} if message else {})}
        return {
            "group": group,
            "version": "v1",
            "kind": kind,
            "namespace": name,
            "name": name,
            "status": "Synced",
            "health": state,
        }

    # -- writes -----------------------------------------------------------------------------
    def _write(self, child: _Child, extra: list[Obj] | None = None) -> None:
        """Replace the child's status (and run ``extra`` JSON-patch steps in the same write)."""
        health = {
            "status": child.health,
            "lastTransitionTime": child.health_since,
            **({"message": child.message} if child.message else {}),
        }
        status: Obj = {
            "sync": {
                "status": child.sync,
                "revision": "0123abc",
                "comparedTo": {"source": self._source(child.script.name)},
            },
            "health": health,
            "reconciledAt": stamp(),
            "resources": child.resources,
        }
        if child.op:
            status["operationState"] = child.op
        if child.conditions:
            status["conditions"] = child.conditions
        written = self._patch(
            child.script.name, [*(extra or []), {"op": "add", "path": "/status", "value": status}]
        )
        if written is not None and extra:
            child.handled = int(written["metadata"]["resourceVersion"])

    def _patch(self, name: str, steps: list[Obj]) -> Obj | None:
        path = self.apps.path(name=name, namespace=self.ns)
        try:
            made = self.kube.dyn.request(
                "PATCH",
                path,
                body=steps,
                field_manager=MANAGER,
                content_type="application/json-patch+json",
            )
        except Exception as err:
            if steps[0].get("op") != "test":  # a request consumed twice is not an error
                self.records.errors.append(f"patch {name}: {err}"[:400])
            return None
        return dict(made.to_dict())


def serve(kubeconfig: str, scenario: Scenario, out: str, ready: Any, stop: Any) -> None:
    """Run the simulator in a process of its own (the benchmark); write its records to
    ``out`` (JSON) when ``stop`` is set. ``ready`` is set once it listens."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    with ArgoSim(Kube.connect(Path(kubeconfig)), scenario) as sim:
        ready.set()
        stop.wait()
    Path(out).write_text(json.dumps(asdict(sim.records)))


def run_records(sim: ArgoSim) -> Iterator[str]:
    """Debugging aid: one line per thing the simulator recorded."""
    for name, seen in sim.records.refreshes.items():
        yield f"refresh {name}: {seen}"
    for name, ops in sim.records.operations.items():
        yield f"operation {name}: {ops}"
    yield from sim.records.errors
