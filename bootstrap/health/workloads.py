"""The verdict type, and the readiness rules for workloads: Deployment, StatefulSet, DaemonSet,
ReplicaSet (and ReplicationController), Job and Pod (kstatus, contracts §2.1, with the §2.2
changes, and Argo CD's ``gitops-engine:pkg/health`` where kstatus only waits), plus stall
detection among a workload's pods. ``bootstrap.health.assess`` is the public face; this module
does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Obj = Mapping[str, Any]
Status = Literal["Current", "InProgress", "Failed", "NotFound"]

# Waiting reasons that will not clear by themselves: failed at once (as kstatus does) ...
CRASHING = frozenset({"CrashLoopBackOff"})
# ... or once they have lasted the caller's grace period (an image or a Secret may still appear).
# Argo CD (health_pod.go) calls any ``Err*``, ``*Error`` or ``*BackOff`` reason Degraded too.
STUCK = frozenset({"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"})
CRASH_RESTARTS = 3
"""Restarts after which a container in CrashLoopBackOff fails its workload. Fewer are waited
on: on a cluster just made a controller often crashes once or twice before its Service routes
exist (MetalLB's controller: `dial tcp 10.96.0.1:443: i/o timeout`), and Kubernetes restarts it."""
# kstatus fails a pod Unschedulable for 15 s; we wait at least that, or the grace if longer.
UNSCHEDULABLE_SECONDS = 15.0


@dataclass(frozen=True)
class Health:
    status: Status
    reason: str

    @property
    def current(self) -> bool:
        return self.status == "Current"

    @property
    def failed(self) -> bool:
        return self.status == "Failed"


Rule = Callable[[Obj, float, float], Health]


def ok(reason: str) -> Health:
    return Health("Current", reason)


def waiting(reason: str) -> Health:
    return Health("InProgress", reason)


def failed(reason: str) -> Health:
    return Health("Failed", reason)


def conditions(obj: Obj) -> dict[str, Obj]:
    """``status.conditions`` by type."""
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def describe(cond: Obj) -> str:
    """``Ready=False (Reason): message`` in one line."""
    reason = f" ({cond['reason']})" if cond.get("reason") else ""
    message = f": {cond['message']}" if cond.get("message") else ""
    return f"{cond.get('type')}={cond.get('status')}{reason}{message}".splitlines()[0][:300]


def epoch(value: float | datetime | str) -> float:
    """Seconds since the epoch, from a number, a datetime (naive = UTC) or an RFC 3339 string."""
    if isinstance(value, int | float):
        return float(value)
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def ready(obj: Obj) -> bool:
    """Its ``Ready`` condition is True (a Pod's, a Node's)."""
    return conditions(obj).get("Ready", {}).get("status") == "True"


def epoch_of(stamp: object) -> float | None:
    """``epoch`` of an RFC 3339 stamp as objects carry them; None when missing or malformed."""
    if not stamp:
        return None
    try:
        return epoch(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def since_or_created(cond: Obj | None, obj: Obj) -> float | None:
    """When a condition last changed, else when the object was created (kstatus times an
    Unschedulable pod from ``creationTimestamp``); None when neither is known."""
    since = epoch_of((cond or {}).get("lastTransitionTime"))
    if since is not None:
        return since
    return epoch_of((obj.get("metadata") or {}).get("creationTimestamp"))


def _n(section: Obj, key: str, default: int = 0) -> int:
    value = section.get(key)
    return int(value) if value is not None else default


def _deployment(obj: Obj, _now: float, _grace: float) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):  # Argo CD: Suspended; Helm's legacy wait: not ready
        return waiting("Deployment is paused: resume it with `kubectl rollout resume`")
    conds = conditions(obj)
    progressing = conds.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return failed(f"ProgressDeadlineExceeded: {progressing.get('message', '')}".rstrip(": "))
    want = _n(spec, "replicas", 1)
    have, updated = _n(status, "replicas"), _n(status, "updatedReplicas")
    available, ready = _n(status, "availableReplicas"), _n(status, "readyReplicas")
    if want > have:
        return waiting(f"{have}/{want} replicas created")
    if want > updated:
        return waiting(f"{updated}/{want} replicas updated")
    if have > want:
        return waiting(f"{have - want} old replicas pending termination")
    if updated > available:
        return waiting(f"{available}/{updated} replicas available")
    if want > ready:
        return waiting(f"{ready}/{want} replicas ready")
    rolled_out = progressing.get("status") == "True" and (
        progressing.get("reason") == "NewReplicaSetAvailable"
    )
    if "progressDeadlineSeconds" in spec and not rolled_out:
        return waiting("new ReplicaSet not available yet")
    if conds.get("Available", {}).get("status") != "True":
        return waiting("Deployment not Available")
    return ok(f"{available}/{want} replicas available")


def _statefulset(obj: Obj, _now: float, _grace: float) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return ok("OnDelete update strategy: nothing to roll out")
    want, have = _n(spec, "replicas", 1), _n(status, "replicas")
    ready, updated = _n(status, "readyReplicas"), _n(status, "updatedReplicas")
    if want > have:
        return waiting(f"{have}/{want} replicas created")
    if want > ready:
        return waiting(f"{ready}/{want} replicas ready")
    if have > want:
        return waiting(f"{have - want} replicas pending termination")
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    if partition is not None:
        if updated < want - int(partition):
            return waiting(f"{updated}/{want - int(partition)} replicas updated (partitioned)")
        return ok(f"partitioned roll-out complete: {updated} updated")
    if want > _n(status, "currentReplicas"):
        return waiting(f"{_n(status, 'currentReplicas')}/{want} replicas at the current revision")
    if status.get("currentRevision") != status.get("updateRevision"):
        return waiting("waiting for the update revision to become current")
    return ok(f"{ready}/{want} replicas ready")


def _replicaset(obj: Obj, now: float, grace: float) -> Health:
    """kstatus's ``replicasetConditions`` (ready is checked before available, so the reason
    names the first gap); ReplicaFailure is Argo CD's Degraded, here after the grace, since a
    quota or an admission webhook that refuses pods may still clear (kstatus only waits)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    failure = conditions(obj).get("ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return after_grace(describe(failure), since_or_created(failure, obj), now, grace)
    want = _n(spec, "replicas", 1)
    for key, what in (
        ("fullyLabeledReplicas", "labelled"),
        ("readyReplicas", "ready"),
        ("availableReplicas", "available"),
    ):
        if want > _n(status, key):
            return waiting(f"{_n(status, key)}/{want} replicas {what}")
    if _n(status, "replicas") > want:
        return waiting(f"{_n(status, 'replicas') - want} extra replicas pending termination")
    return ok(f"{want}/{want} replicas available")


def _daemonset(obj: Obj, _now: float, _grace: float) -> Health:
    """kstatus's ``daemonsetConditions``: generation, observedGeneration and
    desiredNumberScheduled must all be set before the counts mean anything (else 0/0)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("generation") is None or status.get("observedGeneration") is None:
        return waiting("the DaemonSet controller has not observed it yet")
    if status.get("desiredNumberScheduled") is None:
        return waiting("the DaemonSet controller has not counted its nodes yet")
    desired = _n(status, "desiredNumberScheduled")
    for key, what in (
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ):
        if desired > _n(status, key):
            return waiting(f"{_n(status, key)}/{desired} pods {what}")
    return ok(f"{desired}/{desired} pods ready")


def _job(obj: Obj, _now: float, _grace: float) -> Health:
    """§2.2: a gated Job must complete; kstatus would call a running Job Current."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conds = conditions(obj)
    if conds.get("Failed", {}).get("status") == "True":
        cond = conds["Failed"]
        return failed(f"Job failed: {cond.get('reason', '')}: {cond.get('message', '')}".strip())
    if conds.get("Complete", {}).get("status") == "True":
        return ok(f"Job complete ({_n(status, 'succeeded')} succeeded)")
    if spec.get("suspend"):  # stricter than kstatus (Current when suspended), per §2.2
        return waiting("Job suspended")
    if not status.get("startTime"):
        return waiting("Job not started yet")
    want = _n(spec, "completions", 1)
    # Stricter than kstatus (Current once started): a gate Job must complete (§2.2).
    return waiting(
        f"Job running: {_n(status, 'active')} active, {_n(status, 'succeeded')}/{want} succeeded"
    )


def _pod(obj: Obj, now: float, grace: float) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return ok("Pod succeeded")
    if phase == "Failed":  # stricter than kstatus (Current), as Argo CD (Degraded), per §2.2
        return failed(f"Pod failed: {_pod_failure(status)}"[:300])
    stall = pod_stall(obj, now, grace)
    if stall is not None:
        return stall
    policy = spec.get("restartPolicy") or "Always"
    if phase == "Running" and policy != "Always":  # stricter than kstatus, per §2.2
        return waiting(f"Pod running; restartPolicy {policy} means it must succeed")
    if phase == "Running":
        if ready(obj):
            return ok("Pod running and Ready")
        return waiting("Pod running but not Ready")
    if phase != "Pending":
        return waiting(f"Pod phase {phase}: its node may be unreachable")
    scheduled = conditions(obj).get("PodScheduled")
    return waiting("Pod pending" + (f": {describe(scheduled)}" if scheduled else ""))


def _pod_failure(status: Obj) -> str:
    """Why a pod failed, as Argo CD words it: the pod's reason and message, else the first
    container that ended badly."""
    own = ": ".join(str(status[k]) for k in ("reason", "message") if status.get(k))
    if own:
        return own
    for cs in _container_statuses(status):
        done = (cs.get("state") or {}).get("terminated") or {}
        if done.get("message") or done.get("reason") == "OOMKilled":
            return f"container {cs.get('name')}: {done.get('message') or 'OOMKilled'}"
        if done.get("exitCode"):
            return f"container {cs.get('name')} exited with code {done['exitCode']}"
    return "exited"


def _container_statuses(status: Obj) -> list[Obj]:
    return [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]


def _stuck(reason: object) -> bool:
    """A waiting reason that may clear but usually will not: ours, and Argo CD's patterns."""
    if not isinstance(reason, str):
        return False
    return reason in STUCK or reason.startswith("Err") or reason.endswith(("Error", "BackOff"))


def pod_stall(pod: Obj, now: float, grace: float) -> Health | None:
    """A container crashing or stuck, or the pod Unschedulable: Failed once past its grace,
    InProgress (with the reason) before; None when nothing is stuck."""
    for cs in _container_statuses(pod.get("status") or {}):
        waiting_state = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting_state.get("reason")
        detail = f"container {cs.get('name')}: {reason}"
        if waiting_state.get("message"):
            detail += f": {waiting_state['message']}"
        if reason in CRASHING:
            restarts = int(cs.get("restartCount") or 0)
            if restarts >= CRASH_RESTARTS:
                return failed(f"{detail} (restarted {restarts} times)"[:300])
            return waiting(f"{detail} (restarted {restarts} times; a fresh cluster's first "
                           f"crashes are often a race, {CRASH_RESTARTS} fail)"[:300])
        if _stuck(reason):
            return after_grace(detail, _started(pod, cs), now, grace)
    scheduled = conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        limit = max(grace, UNSCHEDULABLE_SECONDS)
        return after_grace(describe(scheduled), since_or_created(scheduled, pod), now, limit)
    return None


def after_grace(detail: str, since: float | None, now: float, grace: float) -> Health:
    """Failed once ``detail`` has lasted ``grace`` seconds since ``since``; InProgress before,
    and while its start is unknown."""
    if since is None:
        return waiting(f"{detail} (start time unknown)"[:300])
    age = now - since
    if age >= grace:
        return failed(f"{detail} (for {age:.0f}s)"[:300])
    return waiting(f"{detail} ({age:.0f}s of {grace:.0f}s grace)"[:300])


def _started(pod: Obj, container_status: Obj) -> float | None:
    """When the current attempt began: the pod's start, or the container's last exit."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    last = ((container_status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
    stamps = [s for s in (status.get("startTime"), meta.get("creationTimestamp"), last) if s]
    return max(epoch(s) for s in stamps) if stamps else None


def stalled_pods(pods: list[dict[str, Any]], now: float | datetime, grace: float) -> list[str]:
    """Pods among a workload's that will not become ready by waiting: ``Pod ns/name: why``."""
    at = epoch(now)
    found = []
    for pod in pods:
        stall = pod_stall(pod, at, grace)
        if stall is not None and stall.failed:
            meta = pod.get("metadata") or {}
            found.append(f"Pod {meta.get('namespace')}/{meta.get('name')}: {stall.reason}")
    return found


def pods_of(workload: Obj, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods a workload's ``spec.selector`` picks, in its namespace."""
    selector = (workload.get("spec") or {}).get("selector") or {}
    namespace = (workload.get("metadata") or {}).get("namespace")
    if not selector:
        return []
    return [
        p
        for p in pods
        if (p.get("metadata") or {}).get("namespace") == namespace
        and selects(selector, (p.get("metadata") or {}).get("labels") or {})
    ]


def selects(selector: Obj, labels: Mapping[str, str]) -> bool:
    """A label selector (``matchLabels`` and ``matchExpressions``) against a set of labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


_WORKLOADS: dict[tuple[str, str], Rule] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    # kstatus also maps the long-gone extensions/v1beta1 workloads.
    ("extensions", "Deployment"): _deployment,
    ("extensions", "DaemonSet"): _daemonset,
    ("extensions", "ReplicaSet"): _replicaset,
    # Same status fields as a ReplicaSet; Helm's legacy wait checks it, kstatus does not.
    ("", "ReplicationController"): _replicaset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
}
# Workloads whose pods are checked for stalls while they are not Current.
WORKLOAD_KINDS = frozenset(key for key in _WORKLOADS if key[1] not in {"Job", "Pod"})


def workload_rule(group: str, kind: object) -> Rule | None:
    return _WORKLOADS.get((group, str(kind)))
