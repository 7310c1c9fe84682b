"""Readiness verdicts as a table: kstatus (contracts §2.1) plus the orchestrator's rules (§2.2).

Every kind has its "already healthy" row; grace periods are checked at their edges with fixed
timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bootstrap import health

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
GRACE = 60.0


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(kind: str, status: str, reason: str = "", message: str = "", **extra: Any) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message, **extra}


def obj(api: str, kind: str, *, status: Any = None, spec: Any = None, **meta: Any) -> dict:
    found: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", **meta},
    }
    if spec is not None:
        found["spec"] = spec
    if status is not None:
        found["status"] = status
    return found


def deployment(want: int = 3, **status: Any) -> dict:
    full = {
        "observedGeneration": 1,
        "replicas": want,
        "updatedReplicas": want,
        "readyReplicas": want,
        "availableReplicas": want,
        "conditions": [
            cond("Available", "True"),
            cond("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    }
    full.update(status)
    spec = {"replicas": want, "progressDeadlineSeconds": 600}
    return obj("apps/v1", "Deployment", spec=spec, status=full, generation=1)


def pod(
    phase: str = "Running",
    *,
    waiting: str | None = None,
    started: float = 600,
    ready: bool = True,
    policy: str = "Always",
    init: bool = False,
    restarts: int = 0,
    **status: Any,
) -> dict:
    container: dict[str, Any] = {"name": "app", "ready": ready, "state": {"running": {}},
                                 "restartCount": restarts}
    if waiting:
        container["state"] = {"waiting": {"reason": waiting, "message": "details"}}
    body: dict[str, Any] = {
        "phase": phase,
        "startTime": ago(started),
        "conditions": [cond("Ready", "True" if ready else "False")],
        ("initContainerStatuses" if init else "containerStatuses"): [container],
    }
    body.update(status)
    return obj("v1", "Pod", spec={"restartPolicy": policy}, status=body, labels={"app": "web"})


def app(**status: Any) -> dict:
    full: dict[str, Any] = {
        "sync": {"status": "Synced"},
        "health": {"status": "Healthy"},
        "operationState": {"phase": "Succeeded", "message": "successfully synced"},
    }
    full.update(status)
    return obj("argoproj.io/v1alpha1", "Application", status=full)


CRD = "apiextensions.k8s.io/v1"
WIDGET = "example.com/v1"
ROWS: list[tuple[str, dict | None, str, str]] = [
    # -- generic kstatus steps -------------------------------------------------------------
    ("missing object", None, "NotFound", "not found"),
    ("being deleted", obj("v1", "ConfigMap", deletionTimestamp=ago(1)), "InProgress", "deleted"),
    (
        "observedGeneration behind generation",
        deployment(observedGeneration=1) | {"metadata": {"name": "x", "generation": 2}},
        "InProgress",
        "generation 2",
    ),
    (
        "Reconciling=True",
        obj(WIDGET, "Widget", status={"conditions": [cond("Reconciling", "True", "Progress")]}),
        "InProgress",
        "reconciling",
    ),
    (
        "Stalled=True",
        obj(WIDGET, "Widget", status={"conditions": [cond("Stalled", "True", "Broken", "no")]}),
        "Failed",
        "stalled: Stalled=True (Broken): no",
    ),
    # -- custom resources ------------------------------------------------------------------
    (
        "CR Ready",
        obj(WIDGET, "Widget", status={"conditions": [cond("Ready", "True")]}),
        "Current",
        "Ready",
    ),
    (
        "CR not Ready",
        obj(WIDGET, "Widget", status={"conditions": [cond("Ready", "False", "Wait", "db down")]}),
        "InProgress",
        "db down",
    ),
    ("CR without status", obj(WIDGET, "Widget", spec={"a": 1}), "InProgress", "no status yet"),
    ("CR with an empty status", obj(WIDGET, "Widget", status={}), "InProgress", "no status yet"),
    (
        "CR with status, no conditions or phase",
        obj(WIDGET, "Widget", status={"message": "configured"}),
        "Current",
        "no Ready condition or phase",
    ),
    # -- always ready once they exist ------------------------------------------------------
    *[
        (f"{kind} exists", obj(api, kind), "Current", "exists")
        for api, kind in (
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "ServiceAccount"),
            ("rbac.authorization.k8s.io/v1", "Role"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            ("batch/v1", "CronJob"),
        )
    ],
    ("Namespace Active", obj("v1", "Namespace", status={"phase": "Active"}), "Current", "Active"),
    (
        "Namespace Terminating",
        obj("v1", "Namespace", status={"phase": "Terminating"}),
        "InProgress",
        "Terminating",
    ),
    (
        "PVC Bound",
        obj("v1", "PersistentVolumeClaim", status={"phase": "Bound"}),
        "Current",
        "Bound",
    ),
    (
        "PVC Pending",
        obj("v1", "PersistentVolumeClaim", status={"phase": "Pending"}),
        "InProgress",
        "Pending",
    ),
    # -- CRDs ------------------------------------------------------------------------------
    (
        "CRD Established",
        obj(
            CRD,
            "CustomResourceDefinition",
            status={"conditions": [cond("NamesAccepted", "True"), cond("Established", "True")]},
        ),
        "Current",
        "Established",
    ),
    (
        "CRD installing",
        obj(
            CRD,
            "CustomResourceDefinition",
            status={"conditions": [cond("Established", "False", "Installing")]},
        ),
        "InProgress",
        "Installing",
    ),
    (
        "CRD without conditions",
        obj(CRD, "CustomResourceDefinition", status={}),
        "InProgress",
        "not Established",
    ),
    (
        "CRD names rejected",
        obj(
            CRD,
            "CustomResourceDefinition",
            status={"conditions": [cond("NamesAccepted", "False", "NameConflict", "taken")]},
        ),
        "Failed",
        "taken",
    ),
    # -- Services --------------------------------------------------------------------------
    ("ClusterIP Service", obj("v1", "Service", spec={"type": "ClusterIP"}), "Current", "exists"),
    (
        "LoadBalancer with an IP",
        obj(
            "v1",
            "Service",
            spec={"type": "LoadBalancer", "clusterIP": "10.96.0.9"},
            status={"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}},
        ),
        "Current",
        "198.51.100.1",
    ),
    (
        "LoadBalancer with a hostname",
        obj(
            "v1",
            "Service",
            spec={"type": "LoadBalancer", "clusterIP": "10.96.0.9"},
            status={"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}},
        ),
        "Current",
        "lb.example",
    ),
    (
        "LoadBalancer without an address (kstatus would say Current)",
        obj(
            "v1",
            "Service",
            spec={"type": "LoadBalancer", "clusterIP": "10.96.0.9"},
            status={"loadBalancer": {}},
        ),
        "InProgress",
        "no LoadBalancer address",
    ),
    (
        "LoadBalancer without a cluster IP",
        obj("v1", "Service", spec={"type": "LoadBalancer"}),
        "InProgress",
        "cluster IP",
    ),
    # -- Deployments -----------------------------------------------------------------------
    ("Deployment available", deployment(), "Current", "3/3 replicas available"),
    (
        "Deployment partly available",
        deployment(availableReplicas=2),
        "InProgress",
        "2/3 replicas available",
    ),
    ("Deployment creating replicas", deployment(replicas=1), "InProgress", "1/3 replicas created"),
    (
        "Deployment with old replicas",
        deployment(replicas=4),
        "InProgress",
        "1 old replicas pending",
    ),
    ("Deployment not ready", deployment(readyReplicas=1), "InProgress", "1/3 replicas ready"),
    (
        "Deployment past its progress deadline",
        deployment(
            availableReplicas=0,
            conditions=[
                cond(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    'ReplicaSet "x" has timed out progressing.',
                )
            ],
        ),
        "Failed",
        "ProgressDeadlineExceeded",
    ),
    (
        "Deployment whose new ReplicaSet is not available",
        deployment(
            conditions=[cond("Available", "True"), cond("Progressing", "True", "ReplicaSetUpdated")]
        ),
        "InProgress",
        "new ReplicaSet",
    ),
    # -- StatefulSets and DaemonSets -------------------------------------------------------
    (
        "StatefulSet ready",
        obj(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 2},
            status={
                "replicas": 2,
                "readyReplicas": 2,
                "currentReplicas": 2,
                "updatedReplicas": 2,
                "currentRevision": "a",
                "updateRevision": "a",
            },
        ),
        "Current",
        "2/2",
    ),
    (
        "StatefulSet rolling to a new revision",
        obj(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 2},
            status={
                "replicas": 2,
                "readyReplicas": 2,
                "currentReplicas": 2,
                "currentRevision": "a",
                "updateRevision": "b",
            },
        ),
        "InProgress",
        "revision",
    ),
    (
        "StatefulSet with a ready replica missing",
        obj(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 2},
            status={"replicas": 2, "readyReplicas": 1},
        ),
        "InProgress",
        "1/2 replicas ready",
    ),
    (
        "StatefulSet OnDelete",
        obj("apps/v1", "StatefulSet", spec={"updateStrategy": {"type": "OnDelete"}}, status={}),
        "Current",
        "OnDelete",
    ),
    (
        "DaemonSet ready",
        obj(
            "apps/v1",
            "DaemonSet",
            generation=1,
            status={
                "observedGeneration": 1,
                **dict.fromkeys(
                    (
                        "desiredNumberScheduled",
                        "currentNumberScheduled",
                        "updatedNumberScheduled",
                        "numberAvailable",
                        "numberReady",
                    ),
                    2,
                ),
            },
        ),
        "Current",
        "2/2",
    ),
    (
        "DaemonSet with an unavailable pod",
        obj(
            "apps/v1",
            "DaemonSet",
            generation=1,
            status={
                "observedGeneration": 1,
                "desiredNumberScheduled": 2,
                "currentNumberScheduled": 2,
                "updatedNumberScheduled": 2,
                "numberAvailable": 1,
            },
        ),
        "InProgress",
        "1/2 pods available",
    ),
    (
        "DaemonSet not observed yet",
        obj("apps/v1", "DaemonSet", status={}),
        "InProgress",
        "not observed",
    ),
    # -- Jobs ------------------------------------------------------------------------------
    (
        "Job complete",
        obj("batch/v1", "Job", status={"succeeded": 1, "conditions": [cond("Complete", "True")]}),
        "Current",
        "complete",
    ),
    (
        "Job failed",
        obj(
            "batch/v1",
            "Job",
            status={"conditions": [cond("Failed", "True", "BackoffLimitExceeded", "too many")]},
        ),
        "Failed",
        "Job failed: BackoffLimitExceeded",
    ),
    (
        "Job running (kstatus would say Current)",
        obj("batch/v1", "Job", status={"startTime": ago(5), "active": 1}),
        "InProgress",
        "1 active",
    ),
    ("Job not started", obj("batch/v1", "Job", status={}), "InProgress", "not started"),
    (
        "Job suspended",
        obj("batch/v1", "Job", spec={"suspend": True}, status={}),
        "InProgress",
        "suspended",
    ),
    # -- Pods ------------------------------------------------------------------------------
    ("Pod running and ready", pod(), "Current", "Ready"),
    ("Pod running, not ready", pod(ready=False), "InProgress", "not Ready"),
    (
        "Pod pending",
        pod("Pending", ready=False, conditions=[cond("PodScheduled", "True")]),
        "InProgress",
        "pending",
    ),
    ("Pod succeeded", pod("Succeeded", policy="Never"), "Current", "succeeded"),
    ("run-once Pod still running", pod(policy="Never"), "InProgress", "must succeed"),
    (
        "run-once Pod failed",
        pod("Failed", policy="OnFailure", reason="Error"),
        "Failed",
        "Pod failed: Error",
    ),
    (
        "CrashLoopBackOff fails once restarted 3 times, grace or not",
        pod(waiting="CrashLoopBackOff", started=1, ready=False, restarts=3),
        "Failed",
        "container app: CrashLoopBackOff: details (restarted 3 times)",
    ),
    (
        "a first crash is waited on: Kubernetes restarts it",
        pod(waiting="CrashLoopBackOff", started=1, ready=False, restarts=1),
        "InProgress",
        "container app: CrashLoopBackOff: details (restarted 1 times",
    ),
    (
        "init container in CrashLoopBackOff",
        pod(waiting="CrashLoopBackOff", init=True, ready=False, restarts=5),
        "Failed",
        "CrashLoopBackOff",
    ),
    (
        "ImagePullBackOff within grace",
        pod(waiting="ImagePullBackOff", started=30, ready=False),
        "InProgress",
        "ImagePullBackOff: details (30s of 60s grace)",
    ),
    (
        "ImagePullBackOff one second before grace",
        pod(waiting="ImagePullBackOff", started=59, ready=False),
        "InProgress",
        "59s of 60s",
    ),
    (
        "ImagePullBackOff exactly at grace",
        pod(waiting="ImagePullBackOff", started=60, ready=False),
        "Failed",
        "ImagePullBackOff",
    ),
    (
        "ErrImagePull past grace",
        pod(waiting="ErrImagePull", started=61, ready=False),
        "Failed",
        "ErrImagePull",
    ),
    (
        "CreateContainerConfigError past grace",
        pod(waiting="CreateContainerConfigError", started=600, ready=False),
        "Failed",
        "CreateContainerConfigError",
    ),
    (
        "a recent restart restarts the grace period",
        pod(
            waiting="ImagePullBackOff",
            started=600,
            ready=False,
            containerStatuses=[
                {
                    "name": "app",
                    "state": {"waiting": {"reason": "ImagePullBackOff"}},
                    "lastState": {"terminated": {"finishedAt": ago(10)}},
                }
            ],
        ),
        "InProgress",
        "10s of 60s",
    ),
    (
        "Pod unschedulable within grace",
        pod(
            "Pending",
            ready=False,
            conditions=[
                cond(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/2 nodes",
                    lastTransitionTime=ago(30),
                )
            ],
        ),
        "InProgress",
        "Unschedulable",
    ),
    (
        "Pod unschedulable past grace",
        pod(
            "Pending",
            ready=False,
            conditions=[
                cond(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/2 nodes",
                    lastTransitionTime=ago(90),
                )
            ],
        ),
        "Failed",
        "0/2 nodes",
    ),
    # -- SealedSecret ----------------------------------------------------------------------
    (
        "SealedSecret synced",
        obj(
            "bitnami.com/v1alpha1", "SealedSecret", status={"conditions": [cond("Synced", "True")]}
        ),
        "Current",
        "Synced",
    ),
    (
        "SealedSecret that cannot be unsealed",
        obj(
            "bitnami.com/v1alpha1",
            "SealedSecret",
            status={"conditions": [cond("Synced", "False", "", "no key could decrypt secret")]},
        ),
        "Failed",
        "no key could decrypt",
    ),
    (
        "SealedSecret not synced yet",
        obj("bitnami.com/v1alpha1", "SealedSecret", spec={}),
        "InProgress",
        "not synced",
    ),
    # -- Argo CD Application ---------------------------------------------------------------
    ("Application synced and healthy", app(), "Current", "Synced and Healthy"),
    (
        "Application without status (kstatus would say Current)",
        obj("argoproj.io/v1alpha1", "Application"),
        "InProgress",
        "no status",
    ),
    ("Application out of sync", app(sync={"status": "OutOfSync"}), "InProgress", "OutOfSync"),
    (
        "Application progressing",
        app(health={"status": "Progressing", "message": "rolling"}),
        "InProgress",
        "Progressing",
    ),
    (
        "Application with a sync running",
        app(operationState={"phase": "Running", "message": "waiting for hook"}),
        "InProgress",
        "sync Running",
    ),
    (
        "Application whose last sync failed",
        app(operationState={"phase": "Failed", "message": "one or more objects failed"}),
        "Failed",
        "last sync Failed",
    ),
    (
        "Application with a ComparisonError",
        app(conditions=[{"type": "ComparisonError", "message": "repo unreachable"}]),
        "InProgress",
        "ComparisonError: repo unreachable",
    ),
    (
        "Application with a warning condition only",
        app(conditions=[{"type": "OrphanedResourceWarning", "message": "x"}]),
        "Current",
        "Healthy",
    ),
    (
        "Application Degraded within grace",
        app(health={"status": "Degraded", "message": "crash", "lastTransitionTime": ago(10)}),
        "InProgress",
        "10s of 60s",
    ),
    (
        "Application Degraded past grace",
        app(health={"status": "Degraded", "message": "crash", "lastTransitionTime": ago(60)}),
        "Failed",
        "Degraded: crash",
    ),
    (
        "Application Degraded with no timestamp",
        app(health={"status": "Degraded"}),
        "Failed",
        "Degraded",
    ),
    # -- APIService ------------------------------------------------------------------------
    (
        "APIService available",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            status={"conditions": [cond("Available", "True")]},
        ),
        "Current",
        "Available",
    ),
    (
        "APIService unavailable",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            status={"conditions": [cond("Available", "False", "MissingEndpoints")]},
        ),
        "InProgress",
        "MissingEndpoints",
    ),
]


def test_an_application_with_a_pending_operation_waits_even_if_it_looks_healthy() -> None:
    verdict = health.assess(app() | {"operation": {"sync": {}}}, now=NOW, grace_seconds=GRACE)
    assert (verdict.status, verdict.reason) == ("InProgress", "a sync operation is pending")


@pytest.mark.parametrize(("name", "found", "status", "reason"), ROWS, ids=[r[0] for r in ROWS])
def test_each_object_gets_the_verdict_and_reason_of_its_rule(
    name: str, found: dict | None, status: str, reason: str
) -> None:
    verdict = health.assess(found, now=NOW, grace_seconds=GRACE)
    assert verdict.status == status, verdict
    assert reason in verdict.reason


def test_now_may_be_epoch_seconds_instead_of_a_datetime() -> None:
    stuck = pod(waiting="ImagePullBackOff", started=61, ready=False)
    assert health.assess(stuck, now=NOW.timestamp(), grace_seconds=GRACE).failed
    assert not health.assess(stuck, now=NOW.timestamp() - 2, grace_seconds=GRACE).failed


def test_stalled_pods_names_only_the_pods_that_waiting_cannot_fix() -> None:
    pods = [
        pod() | {"metadata": {"name": "fine", "namespace": "ns"}},
        pod(waiting="CrashLoopBackOff", restarts=3)
        | {"metadata": {"name": "crash", "namespace": "ns"}},
        pod(waiting="ErrImagePull", started=5) | {"metadata": {"name": "young", "namespace": "ns"}},
        pod(waiting="ErrImagePull", started=300) | {"metadata": {"name": "old", "namespace": "ns"}},
    ]
    found = health.stalled_pods(pods, NOW, GRACE)
    assert [line.split(":")[0] for line in found] == ["Pod ns/crash", "Pod ns/old"]
    assert "CrashLoopBackOff" in found[0]
    assert "ErrImagePull" in found[1]


def test_stalled_pods_is_empty_for_healthy_pods() -> None:
    assert health.stalled_pods([pod(), pod("Pending", ready=False)], NOW, GRACE) == []


@pytest.mark.parametrize(
    ("selector", "labels", "picked"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            {"tier": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, {}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
            {"tier": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": "a"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "a"}, False),
    ],
)
def test_a_workload_picks_its_pods_by_label_selector(
    selector: dict, labels: dict, picked: bool
) -> None:
    workload = obj("apps/v1", "Deployment", spec={"selector": selector})
    candidate = obj("v1", "Pod", labels=labels)
    assert (health.pods_of(workload, [candidate]) == [candidate]) is picked


def test_a_workload_never_picks_pods_of_another_namespace() -> None:
    workload = obj("apps/v1", "Deployment", spec={"selector": {"matchLabels": {"app": "web"}}})
    elsewhere = obj("v1", "Pod", labels={"app": "web"}) | {
        "metadata": {"name": "p", "namespace": "other", "labels": {"app": "web"}}
    }
    assert health.pods_of(workload, [elsewhere]) == []
