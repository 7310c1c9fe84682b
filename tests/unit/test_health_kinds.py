"""Kinds that must never be ready by default: each in its ok, waiting and failed form, with the
exact reason. kstatus (contracts §2.1) where it has a rule, Argo CD's ``gitops-engine:pkg/health``
where it has none, and the orchestrator's stricter rules (§2.2) where those apply.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bootstrap import health

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
GRACE = 60.0
Row = tuple[str, dict[str, Any], str, str]


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


def judge(found: dict[str, Any], grace: float = GRACE) -> tuple[str, str]:
    verdict = health.assess(found, now=NOW, grace_seconds=grace)
    return verdict.status, verdict.reason


def check(rows: list[Row]) -> Any:
    return pytest.mark.parametrize(
        ("found", "status", "reason"), [r[1:] for r in rows], ids=[r[0] for r in rows]
    )


# -- ReplicaSet (kstatus replicasetConditions; Argo CD health_replicaset.go) ---------------------


def replicaset(
    want: int = 4, api: str = "apps/v1", kind: str = "ReplicaSet", **status: Any
) -> dict:
    full: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": want,
        "fullyLabeledReplicas": want,
        "readyReplicas": want,
        "availableReplicas": want,
    }
    full.update(status)
    return obj(api, kind, spec={"replicas": want}, status=full, generation=1)


QUOTA = cond(
    "ReplicaFailure",
    "True",
    "FailedCreate",
    'pods "x-1" is forbidden: exceeded quota',
    lastTransitionTime=ago(30),
)
QUOTA_DETAIL = 'ReplicaFailure=True (FailedCreate): pods "x-1" is forbidden: exceeded quota'

REPLICASETS: list[Row] = [
    ("all replicas available", replicaset(), "Current", "4/4 replicas available"),
    (
        "2 of 4 ready (was 'ok: exists')",
        replicaset(readyReplicas=2, availableReplicas=2),
        "InProgress",
        "2/4 replicas ready",
    ),
    (
        "ready, not yet available",
        replicaset(availableReplicas=3),
        "InProgress",
        "3/4 replicas available",
    ),
    (
        "pods not labelled yet",
        replicaset(fullyLabeledReplicas=3),
        "InProgress",
        "3/4 replicas labelled",
    ),
    ("extra pods", replicaset(replicas=5), "InProgress", "1 extra replicas pending termination"),
    (
        "no status yet",
        obj("apps/v1", "ReplicaSet", spec={"replicas": 2}, generation=1),
        "InProgress",
        "0/2 replicas labelled",
    ),
    ("scaled to zero", replicaset(0), "Current", "0/0 replicas available"),
    (
        "generation not observed",
        replicaset(observedGeneration=0),
        "InProgress",
        "controller has not observed generation 1 yet (at 0)",
    ),
    (
        "ReplicaFailure within grace",
        replicaset(readyReplicas=0, conditions=[QUOTA]),
        "InProgress",
        f"{QUOTA_DETAIL} (30s of 60s grace)",
    ),
    (
        "ReplicaFailure past grace",
        replicaset(conditions=[QUOTA | {"lastTransitionTime": ago(90)}]),
        "Failed",
        f"{QUOTA_DETAIL} (for 90s)",
    ),
    (
        "ReplicaFailure without a timestamp counts from creation",
        replicaset(conditions=[{k: v for k, v in QUOTA.items() if k != "lastTransitionTime"}])
        | {"metadata": {"name": "x", "creationTimestamp": ago(120)}},
        "Failed",
        f"{QUOTA_DETAIL} (for 120s)",
    ),
    (
        "ReplicaFailure=False is no failure",
        replicaset(conditions=[cond("ReplicaFailure", "False")]),
        "Current",
        "4/4 replicas available",
    ),
    (
        "extensions/v1beta1 ReplicaSet",
        replicaset(api="extensions/v1beta1", readyReplicas=1),
        "InProgress",
        "1/4 replicas ready",
    ),
    (
        "ReplicationController",
        replicaset(api="v1", kind="ReplicationController", readyReplicas=2),
        "InProgress",
        "2/4 replicas ready",
    ),
]


@check(REPLICASETS)
def test_replicaset(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


# -- DaemonSet (kstatus daemonsetConditions) -----------------------------------------------------

COUNTS = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberReady",
)


def daemonset(n: int = 3, *, generation: int | None = 1, **status: Any) -> dict:
    full: dict[str, Any] = {"observedGeneration": 1, **dict.fromkeys(COUNTS, n)}
    full.update(status)
    full = {k: v for k, v in full.items() if v is not None}
    meta = {"generation": generation} if generation is not None else {}
    return obj("apps/v1", "DaemonSet", status=full, **meta)


DAEMONSETS: list[Row] = [
    ("every pod ready", daemonset(), "Current", "3/3 pods ready"),
    (
        "no desiredNumberScheduled (was '0/0 ready')",
        daemonset(**dict.fromkeys(COUNTS)),
        "InProgress",
        "the DaemonSet controller has not counted its nodes yet",
    ),
    (
        "desiredNumberScheduled missing, the other counts present",
        daemonset(desiredNumberScheduled=None),
        "InProgress",
        "the DaemonSet controller has not counted its nodes yet",
    ),
    (
        "no status.observedGeneration",
        daemonset(observedGeneration=None),
        "InProgress",
        "the DaemonSet controller has not observed it yet",
    ),
    (
        "no metadata.generation",
        daemonset(generation=None),
        "InProgress",
        "the DaemonSet controller has not observed it yet",
    ),
    (
        "a pod not scheduled",
        daemonset(currentNumberScheduled=2),
        "InProgress",
        "2/3 pods scheduled",
    ),
    ("a pod not updated", daemonset(updatedNumberScheduled=1), "InProgress", "1/3 pods updated"),
    ("a pod not available", daemonset(numberAvailable=2), "InProgress", "2/3 pods available"),
    ("a pod not ready", daemonset(numberReady=0), "InProgress", "0/3 pods ready"),
    ("no node needs a pod", daemonset(0), "Current", "0/0 pods ready"),
]


@check(DAEMONSETS)
def test_daemonset(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


def test_a_daemonset_fails_through_its_stalled_pods_never_by_itself() -> None:
    """Neither kstatus nor Argo CD fails a DaemonSet; the watch fails it by its pods."""
    workload = daemonset(numberReady=2) | {"spec": {"selector": {"matchLabels": {"app": "agent"}}}}
    assert judge(workload) == ("InProgress", "2/3 pods ready")
    assert ("apps", "DaemonSet") in health.WORKLOAD_KINDS
    crashing = obj(
        "v1",
        "Pod",
        labels={"app": "agent"},
        status={
            "phase": "Running",
            "containerStatuses": [
                {"name": "agent", "restartCount": 3,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ],
        },
    )
    found = health.stalled_pods(health.pods_of(workload, [crashing]), NOW, GRACE)
    assert found == ["Pod ns/x: container agent: CrashLoopBackOff (restarted 3 times)"]


def test_replicasets_have_their_pods_checked_for_stalls_too() -> None:
    assert {("apps", "ReplicaSet"), ("", "ReplicationController")} <= health.WORKLOAD_KINDS
    assert ("batch", "Job") not in health.WORKLOAD_KINDS


# -- Ingress (Argo CD health_ingress.go; kstatus has no rule) ------------------------------------


def ingress(lb: Any = None, api: str = "networking.k8s.io/v1", **meta: Any) -> dict:
    status = {"loadBalancer": lb} if lb is not None else None
    return obj(api, "Ingress", spec={"ingressClassName": "nginx"}, status=status, **meta)


NO_ADDRESS = "no load-balancer address yet (is an ingress controller serving its class?)"
INGRESSES: list[Row] = [
    (
        "an IP",
        ingress({"ingress": [{"ip": "198.51.100.7"}]}),
        "Current",
        "Ingress address 198.51.100.7",
    ),
    (
        "a hostname",
        ingress({"ingress": [{"hostname": "lb.example"}]}),
        "Current",
        "Ingress address lb.example",
    ),
    ("empty loadBalancer status (was ok)", ingress({}), "InProgress", NO_ADDRESS),
    ("no status at all", ingress(), "InProgress", NO_ADDRESS),
    ("an entry with no address", ingress({"ingress": [{"ports": []}]}), "InProgress", NO_ADDRESS),
    (
        "never Failed, however long it waits",
        ingress({}, creationTimestamp=ago(86_400)),
        "InProgress",
        NO_ADDRESS,
    ),
    (
        "extensions/v1beta1 Ingress",
        ingress({}, api="extensions/v1beta1"),
        "InProgress",
        NO_ADDRESS,
    ),
]


@check(INGRESSES)
def test_ingress(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


# -- HorizontalPodAutoscaler (Argo CD health_hpa.go; kstatus has no rule) ------------------------

ABLE = cond(
    "AbleToScale",
    "True",
    "SucceededGetScale",
    "the HPA controller was able to get the target's current scale",
)
ACTIVE = cond("ScalingActive", "True", "ValidMetricFound", "the HPA was able to compute")
NO_SCALE = cond(
    "AbleToScale",
    "False",
    "FailedGetScale",
    'deployments/scale.apps "web" not found',
    lastTransitionTime=ago(30),
)
NO_SCALE_DETAIL = 'AbleToScale=False (FailedGetScale): deployments/scale.apps "web" not found'
ABLE_REASON = (
    "autoscaling: AbleToScale=True (SucceededGetScale): "
    "the HPA controller was able to get the target's current scale"
)
TO_AUTOSCALE = "waiting to autoscale: no AbleToScale=True from the HPA controller yet"


def hpa(*conds: dict, api: str = "autoscaling/v2", **meta: Any) -> dict:
    status: dict[str, Any] = {"currentReplicas": 1, "desiredReplicas": 1}
    if conds:
        status["conditions"] = list(conds)
    return obj(api, "HorizontalPodAutoscaler", spec={"maxReplicas": 3}, status=status, **meta)


def hpa_v1(*conds: dict) -> dict:
    annotations = {"autoscaling.alpha.kubernetes.io/conditions": json.dumps(list(conds))}
    return hpa(api="autoscaling/v1", annotations=annotations)


HPAS: list[Row] = [
    ("able to scale, metrics valid", hpa(ABLE, ACTIVE), "Current", ABLE_REASON),
    (
        "scaling disabled on purpose (replicas 0)",
        hpa(ABLE, cond("ScalingActive", "False", "ScalingDisabled", "scaling is disabled")),
        "Current",
        ABLE_REASON,
    ),
    (
        "limited by maxReplicas",
        hpa(cond("ScalingLimited", "True", "TooManyReplicas", "capped")),
        "Current",
        "autoscaling: ScalingLimited=True (TooManyReplicas): capped",
    ),
    ("no conditions yet", hpa(), "InProgress", TO_AUTOSCALE),
    (
        "in a scale back-off (not a failure)",
        hpa(cond("AbleToScale", "False", "BackoffBoth", "within the forbidden windows")),
        "InProgress",
        TO_AUTOSCALE,
    ),
    (
        "FailedGetScale within grace (was ok)",
        hpa(NO_SCALE, ACTIVE),
        "InProgress",
        f"{NO_SCALE_DETAIL} (30s of 60s grace)",
    ),
    (
        "FailedGetScale past grace (was ok)",
        hpa(NO_SCALE | {"lastTransitionTime": ago(90)}),
        "Failed",
        f"{NO_SCALE_DETAIL} (for 90s)",
    ),
    (
        "FailedGetScale without a timestamp counts from creation",
        hpa(
            {k: v for k, v in NO_SCALE.items() if k != "lastTransitionTime"},
            creationTimestamp=ago(600),
        ),
        "Failed",
        f"{NO_SCALE_DETAIL} (for 600s)",
    ),
    (
        "metrics failing behind AbleToScale=True (Argo CD would say Healthy)",
        hpa(
            ABLE,
            cond(
                "ScalingActive",
                "False",
                "FailedGetResourceMetric",
                "no metrics returned from resource metrics API",
                lastTransitionTime=ago(120),
            ),
        ),
        "Failed",
        "ScalingActive=False (FailedGetResourceMetric): "
        "no metrics returned from resource metrics API (for 120s)",
    ),
    (
        "autoscaling/v1 with its conditions in the annotation",
        hpa_v1(ABLE),
        "Current",
        ABLE_REASON,
    ),
    (
        "autoscaling/v1 that cannot get its scale",
        hpa_v1(NO_SCALE | {"lastTransitionTime": ago(300)}),
        "Failed",
        f"{NO_SCALE_DETAIL} (for 300s)",
    ),
    (
        "autoscaling/v1 without the annotation",
        hpa(api="autoscaling/v1"),
        "InProgress",
        TO_AUTOSCALE,
    ),
    (
        "autoscaling/v1 with a malformed annotation",
        hpa(api="autoscaling/v1", annotations={"autoscaling.alpha.kubernetes.io/conditions": "{"}),
        "InProgress",
        TO_AUTOSCALE,
    ),
]


@check(HPAS)
def test_hpa(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "FailedGetPodsMetric"),
        ("ScalingActive", "FailedGetExternalMetric"),
        ("ScalingActive", "FailedComputeMetricsReplicas"),
        ("ScalingActive", "InvalidSelector"),
        ("ScalingActive", "AmbiguousSelector"),
        ("ScalingActive", "InvalidMetricSourceType"),
    ],
)
def test_every_hpa_failure_reason_fails_after_the_grace(kind: str, reason: str) -> None:
    young = hpa(cond(kind, "False", reason, "broken", lastTransitionTime=ago(59)))
    old = hpa(cond(kind, "False", reason, "broken", lastTransitionTime=ago(60)))
    assert judge(young) == ("InProgress", f"{kind}=False ({reason}): broken (59s of 60s grace)")
    assert judge(old) == ("Failed", f"{kind}=False ({reason}): broken (for 60s)")


# -- Custom resources: a Ready condition decides, then generic conditions, then status.phase ------

WIDGET = "example.com/v1"


def widget(status: dict[str, Any], **meta: Any) -> dict:
    return obj(WIDGET, "Widget", spec={"size": 1}, status=status, **meta)


CR_CONDITIONS: list[Row] = [
    (
        "Ready=True decides over a Running phase",
        widget({"phase": "Running", "conditions": [cond("Ready", "True")]}),
        "Current",
        "Ready",
    ),
    (
        "Ready=False decides over a ready phase",
        widget({"phase": "Ready", "conditions": [cond("Ready", "False", "Waiting", "db down")]}),
        "InProgress",
        "not Ready: Ready=False (Waiting): db down",
    ),
    (
        "Ready=Unknown",
        widget({"conditions": [cond("Ready", "Unknown")]}),
        "InProgress",
        "not Ready: Ready=Unknown",
    ),
    (
        "Ready=True for an old generation",
        widget({"observedGeneration": 1, "conditions": [cond("Ready", "True")]}, generation=2),
        "InProgress",
        "controller has not observed generation 2 yet (at 1)",
    ),
    (
        "Stalled=True beats Ready=True",
        widget({"conditions": [cond("Ready", "True"), cond("Stalled", "True", "Bad", "no")]}),
        "Failed",
        "stalled: Stalled=True (Bad): no",
    ),
    (
        "Available=True without Ready",
        widget({"conditions": [cond("Available", "True")]}),
        "Current",
        "Available",
    ),
    (
        "Available=False without Ready",
        widget({"phase": "Ready", "conditions": [cond("Available", "False", "MinimumReplicas")]}),
        "InProgress",
        "not Available: Available=False (MinimumReplicas)",
    ),
    (
        "Degraded=True within grace",
        widget({"conditions": [cond("Degraded", "True", "X", "down", lastTransitionTime=ago(5))]}),
        "InProgress",
        "Degraded=True (X): down (5s of 60s grace)",
    ),
    (
        "Failed=True past grace, even if Available",
        widget(
            {
                "conditions": [
                    cond("Available", "True"),
                    cond("Failed", "True", "X", "gave up", lastTransitionTime=ago(61)),
                ]
            }
        ),
        "Failed",
        "Failed=True (X): gave up (for 61s)",
    ),
    (
        "Degraded=False is no failure",
        widget({"conditions": [cond("Degraded", "False")]}),
        "Current",
        "has a status, and no Ready condition or phase to wait for",
    ),
]


@check(CR_CONDITIONS)
def test_custom_resource_conditions(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


CR_PHASES: list[Row] = [
    (
        "only phase Running (used to pass)",
        widget({"phase": "Running"}),
        "InProgress",
        "phase Running (waiting for a ready phase)",
    ),
    (
        "phase Pending with a message",
        widget({"phase": "Pending", "message": "waiting for the database"}),
        "InProgress",
        "phase Pending: waiting for the database (waiting for a ready phase)",
    ),
    (
        "lower-case phase",
        widget({"phase": "provisioning"}),
        "InProgress",
        "phase provisioning (waiting for a ready phase)",
    ),
    (
        "phase Failed within grace of creation",
        widget({"phase": "Failed", "message": "bad config"}, creationTimestamp=ago(30)),
        "InProgress",
        "phase Failed: bad config (30s of 60s grace)",
    ),
    (
        "phase Failed past grace of creation",
        widget({"phase": "Failed", "message": "bad config"}, creationTimestamp=ago(120)),
        "Failed",
        "phase Failed: bad config (for 120s)",
    ),
    (
        "phase ending in Failed",
        widget({"phase": "ProvisioningFailed", "reason": "NoCapacity"}, creationTimestamp=ago(61)),
        "Failed",
        "phase ProvisioningFailed: NoCapacity (for 61s)",
    ),
    ("phase Succeeded", widget({"phase": "Succeeded"}), "Current", "phase Succeeded"),
    (
        "a phase it does not know (kstatus and Argo CD: Current)",
        widget({"phase": "Idle"}),
        "Current",
        "phase Idle, which names no failed or unfinished state",
    ),
    (
        "phase Running for an old generation",
        widget({"phase": "Running", "observedGeneration": 3}, generation=4),
        "InProgress",
        "controller has not observed generation 4 yet (at 3)",
    ),
]


@check(CR_PHASES)
def test_custom_resource_phase(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


@pytest.mark.parametrize(
    "phase",
    [
        "Pending",
        "Running",
        "Provisioning",
        "Progressing",
        "Creating",
        "Updating",
        "Initializing",
        "Deploying",
        "Installing",
        "Unknown",
        "Terminating",
    ],
)
def test_an_unfinished_phase_waits_however_old(phase: str) -> None:
    found = widget({"phase": phase}, creationTimestamp=ago(86_400))
    assert judge(found) == ("InProgress", f"phase {phase} (waiting for a ready phase)")


@pytest.mark.parametrize(
    "phase", ["Failed", "Error", "Errored", "Degraded", "Unhealthy", "CrashLoopBackOff"]
)
def test_a_failed_phase_fails_once_the_grace_is_over(phase: str) -> None:
    assert judge(widget({"phase": phase}, creationTimestamp=ago(59)))[0] == "InProgress"
    assert judge(widget({"phase": phase}, creationTimestamp=ago(60))) == (
        "Failed",
        f"phase {phase} (for 60s)",
    )


@pytest.mark.parametrize(
    "phase",
    [
        "Ready",
        "Succeeded",
        "Active",
        "Available",
        "Bound",
        "Healthy",
        "Complete",
        "Completed",
        "Deployed",
    ],
)
def test_a_terminal_good_phase_is_current(phase: str) -> None:
    assert judge(widget({"phase": phase})) == ("Current", f"phase {phase}")


def test_an_argo_workflow_follows_its_phase() -> None:
    """gitops-engine health_argo.go: Pending/Running Progressing, Succeeded Healthy, Failed and
    Error Degraded."""
    flow = obj("argoproj.io/v1alpha1", "Workflow", creationTimestamp=ago(600))
    assert judge(flow | {"status": {"phase": "Running"}})[0] == "InProgress"
    assert judge(flow | {"status": {"phase": "Succeeded"}})[0] == "Current"
    assert judge(flow | {"status": {"phase": "Error", "message": "pod deleted"}}) == (
        "Failed",
        "phase Error: pod deleted (for 600s)",
    )


# -- Pods Unschedulable: the grace counts from creationTimestamp without lastTransitionTime -------


def unschedulable(created: float | None, since: float | None = None) -> dict:
    scheduled = cond("PodScheduled", "False", "Unschedulable", "0/2 nodes are available")
    if since is not None:
        scheduled["lastTransitionTime"] = ago(since)
    meta = {"creationTimestamp": ago(created)} if created is not None else {}
    status = {"phase": "Pending", "conditions": [scheduled]}
    return obj("v1", "Pod", spec={"restartPolicy": "Always"}, status=status, **meta)


UNSCHEDULABLE = "PodScheduled=False (Unschedulable): 0/2 nodes are available"
UNSCHEDULABLE_PODS: list[Row] = [
    (
        "created 30s ago",
        unschedulable(30),
        "InProgress",
        f"{UNSCHEDULABLE} (30s of 60s grace)",
    ),
    (
        "created one second before the grace",
        unschedulable(59),
        "InProgress",
        f"{UNSCHEDULABLE} (59s of 60s grace)",
    ),
    ("created exactly the grace ago", unschedulable(60), "Failed", f"{UNSCHEDULABLE} (for 60s)"),
    (
        "created an hour ago (used to wait forever)",
        unschedulable(3600),
        "Failed",
        f"{UNSCHEDULABLE} (for 3600s)",
    ),
    (
        "lastTransitionTime, when present, wins over creation",
        unschedulable(3600, since=10),
        "InProgress",
        f"{UNSCHEDULABLE} (10s of 60s grace)",
    ),
    (
        "neither timestamp",
        unschedulable(None),
        "InProgress",
        f"{UNSCHEDULABLE} (start time unknown)",
    ),
]


@check(UNSCHEDULABLE_PODS)
def test_unschedulable_pod(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)


def test_an_unschedulable_pod_gets_kstatus_15_seconds_even_with_no_grace() -> None:
    assert judge(unschedulable(14), grace=0) == (
        "InProgress",
        f"{UNSCHEDULABLE} (14s of 15s grace)",
    )
    assert judge(unschedulable(15), grace=0) == ("Failed", f"{UNSCHEDULABLE} (for 15s)")


# -- Other kinds the peers judge more strictly than "exists" -------------------------------------


def pod(waiting: str, started: float, phase: str = "Pending") -> dict:
    container = {"name": "app", "state": {"waiting": {"reason": waiting, "message": "details"}}}
    status = {"phase": phase, "startTime": ago(started), "containerStatuses": [container]}
    return obj("v1", "Pod", spec={"restartPolicy": "Always"}, status=status)


def failed_pod(**terminated: Any) -> dict:
    container = {"name": "app", "state": {"terminated": terminated}}
    status = {"phase": "Failed", "containerStatuses": [container]}
    return obj("v1", "Pod", spec={"restartPolicy": "Never"}, status=status)


OTHERS: list[Row] = [
    (
        "paused Deployment (Argo CD: Suspended)",
        obj(
            "apps/v1",
            "Deployment",
            spec={"replicas": 1, "paused": True},
            status={"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1},
        ),
        "InProgress",
        "Deployment is paused: resume it with `kubectl rollout resume`",
    ),
    (
        "PVC Lost (Argo CD: Degraded)",
        obj("v1", "PersistentVolumeClaim", status={"phase": "Lost"}),
        "Failed",
        "PVC Lost: its PersistentVolume no longer exists",
    ),
    (
        "RunContainerError within grace (Argo CD: *Error is Degraded)",
        pod("RunContainerError", 30, "Running"),
        "InProgress",
        "container app: RunContainerError: details (30s of 60s grace)",
    ),
    (
        "CreateContainerError past grace",
        pod("CreateContainerError", 61),
        "Failed",
        "container app: CreateContainerError: details (for 61s)",
    ),
    (
        "ErrImageNeverPull past grace",
        pod("ErrImageNeverPull", 61),
        "Failed",
        "container app: ErrImageNeverPull: details (for 61s)",
    ),
    (
        "ContainerCreating is just waiting",
        pod("ContainerCreating", 600),
        "InProgress",
        "Pod pending",
    ),
    (
        "failed Pod names its container's exit code",
        failed_pod(exitCode=3, reason="Error"),
        "Failed",
        "Pod failed: container app exited with code 3",
    ),
    (
        "failed Pod that was OOMKilled",
        failed_pod(exitCode=137, reason="OOMKilled"),
        "Failed",
        "Pod failed: container app: OOMKilled",
    ),
    (
        "failed Pod with the node's reason",
        obj("v1", "Pod", status={"phase": "Failed", "reason": "Evicted", "message": "disk"}),
        "Failed",
        "Pod failed: Evicted: disk",
    ),
    (
        "Pod phase Unknown",
        obj("v1", "Pod", status={"phase": "Unknown"}),
        "InProgress",
        "Pod phase Unknown: its node may be unreachable",
    ),
]


@check(OTHERS)
def test_other_kinds(found: dict, status: str, reason: str) -> None:
    assert judge(found) == (status, reason)
