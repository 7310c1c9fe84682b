"""Is an object ready? kstatus's rules (contracts §2.1) plus what kstatus misses (§2.2), as pure
functions over the dicts the API returns. Where kstatus has no rule for a kind (Ingress, HPA) or
would call Current what Argo CD (``gitops-engine:pkg/health``) calls Progressing or Degraded,
Argo CD's rule applies: no kind is ready by default when a peer would say it is not. Every
verdict carries a reason a person can act on.

Workloads, Jobs and Pods (and stall detection among a workload's pods) live in
``bootstrap.health.workloads``; this module dispatches and holds the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bootstrap.health.workloads import (
    Health,
    after_grace,
    conditions,
    describe,
    epoch,
    failed,
    ok,
    since_or_created,
    waiting,
    workload_rule,
)

Obj = Mapping[str, Any]
Rule = Callable[[Obj, float, float], Health]

# Groups served by kube-apiserver itself: their kinds follow kstatus's defaults. Anything else
# is a custom resource, and a custom resource without status has not been reconciled yet.
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "extensions",
        "batch",
        "policy",
        "autoscaling",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "certificates.k8s.io",
        "node.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "events.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "internal.apiserver.k8s.io",
    }
)


def assess(obj: Obj | None, *, now: float | datetime, grace_seconds: float) -> Health:
    """kstatus's ``Compute`` order: deletion, observedGeneration, Reconciling/Stalled, the
    kind's own rule, then the ``Ready`` condition; custom resources need a status."""
    if obj is None:
        return Health("NotFound", "not found")
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return waiting("being deleted")
    status = obj.get("status") or {}
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    if observed is not None and generation is not None and observed != generation:
        return waiting(f"controller has not observed generation {generation} yet (at {observed})")
    conds = conditions(obj)
    if conds.get("Reconciling", {}).get("status") == "True":
        return waiting(f"reconciling: {describe(conds['Reconciling'])}")
    if conds.get("Stalled", {}).get("status") == "True":
        return failed(f"stalled: {describe(conds['Stalled'])}")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", "")))) or workload_rule(group, obj.get("kind"))
    if rule is not None:
        return rule(obj, epoch(now), grace_seconds)
    if group in BUILTIN_GROUPS:
        return _ready_condition(conds) or ok("exists")
    return _custom(obj, conds, epoch(now), grace_seconds)


def _ready_condition(conds: Mapping[str, Obj]) -> Health | None:
    ready = conds.get("Ready")
    if ready is None:
        return None
    if ready.get("status") == "True":
        return ok("Ready")
    return waiting(f"not Ready: {describe(ready)}")


# A custom resource's ``status.phase``, by what it says (compared case-insensitively). Argo CD's
# Workflow rule (health_argo.go) is the model: Pending and Running are Progressing.
WAITING_PHASES = frozenset(
    p.casefold()
    for p in (
        "Pending",
        "Running",
        "Provisioning",
        "Progressing",
        "Creating",
        "Updating",
        "Upgrading",
        "Installing",
        "Initializing",
        "Deploying",
        "Starting",
        "Reconciling",
        "Scaling",
        "Waiting",
        "InProgress",
        "Unknown",
        "Terminating",
        "Deleting",
    )
)
FAILED_PHASES = frozenset(
    p.casefold() for p in ("Failed", "Error", "Errored", "Degraded", "Unhealthy", "Crashed")
)
READY_PHASES = frozenset(
    p.casefold()
    for p in (
        "Ready",
        "Succeeded",
        "Active",
        "Available",
        "Bound",
        "Healthy",
        "Complete",
        "Completed",
        "Deployed",
        "Installed",
        "Provisioned",
        "Established",
    )
)


def _custom(obj: Obj, conds: Mapping[str, Obj], now: float, grace: float) -> Health:
    """A Ready condition decides; then kstatus-style generic conditions; then ``status.phase``;
    a status with none of these is Current, as kstatus and Argo CD would say."""
    verdict = _ready_condition(conds)
    if verdict is not None:
        return verdict
    if not obj.get("status"):
        return waiting("no status yet: its controller has not reconciled it")
    verdict = _generic_conditions(obj, conds, now, grace) or _custom_phase(obj, now, grace)
    if verdict is not None:
        return verdict
    return ok("has a status, and no Ready condition or phase to wait for")


def _generic_conditions(
    obj: Obj, conds: Mapping[str, Obj], now: float, grace: float
) -> Health | None:
    """Abnormal-true ``Failed``/``Degraded`` (like kstatus's Stalled, but after the grace: an
    operator may report either while what it needs starts), then ``Available``."""
    for name in ("Failed", "Degraded"):
        cond = conds.get(name)
        if cond is not None and cond.get("status") == "True":
            return after_grace(describe(cond), since_or_created(cond, obj), now, grace)
    available = conds.get("Available")
    if available is None:
        return None
    if available.get("status") == "True":
        return ok("Available")
    return waiting(f"not Available: {describe(available)}")


def _custom_phase(obj: Obj, now: float, grace: float) -> Health | None:
    """A ``status.phase`` that names a failed or unfinished state is no sign of readiness."""
    status = obj.get("status") or {}
    phase = status.get("phase")
    if not isinstance(phase, str) or not phase:
        return None
    said = next((str(status[k]) for k in ("message", "reason") if status.get(k)), "")
    detail = f"phase {phase}" + (f": {said}" if said else "")
    key = phase.casefold()
    if key in FAILED_PHASES or key.endswith(("failed", "error", "backoff")):
        # No peer times a phase; we count the grace from creation (Argo CD fails at once).
        return after_grace(detail[:300], since_or_created(None, obj), now, grace)
    if key in WAITING_PHASES:
        return waiting(f"{detail} (waiting for a ready phase)"[:300])
    if key in READY_PHASES:
        return ok(f"phase {phase}")
    # kstatus and Argo CD ignore a phase they do not know; so do we, but say so.
    return ok(f"phase {phase}, which names no failed or unfinished state")


def _lb_address(obj: Obj) -> str | None:
    """The first ``status.loadBalancer.ingress`` entry's IP or hostname."""
    for entry in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        address = entry.get("ip") or entry.get("hostname")
        if address:
            return str(address)
    return None


def _service(obj: Obj, _now: float, _grace: float) -> Health:
    spec = obj.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return ok(f"{spec.get('type', 'ClusterIP')} Service exists")
    if not spec.get("clusterIP"):
        return waiting("no cluster IP yet")
    # Stricter than kstatus (clusterIP only): the LB address must be assigned (§2.2).
    address = _lb_address(obj)
    if address:
        return ok(f"LoadBalancer address {address}")
    return waiting("no LoadBalancer address yet (is a load-balancer pool configured?)")


def _ingress(obj: Obj, _now: float, _grace: float) -> Health:
    """Argo CD's health_ingress.go: Progressing until the controller publishes an address
    (kstatus has no rule); it never fails."""
    # Argo CD accepts any ingress entry; like the LoadBalancer rule we want an IP or hostname.
    address = _lb_address(obj)
    if address:
        return ok(f"Ingress address {address}")
    return waiting("no load-balancer address yet (is an ingress controller serving its class?)")


HPA_V1_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
# Argo CD's degraded reasons (FailedGetScale, FailedUpdateScale, FailedGetResourceMetric,
# InvalidSelector) and the HPA controller's other ``Failed*`` reasons and refusals.
HPA_REFUSALS = frozenset({"InvalidSelector", "AmbiguousSelector", "InvalidMetricSourceType"})


def _hpa(obj: Obj, now: float, grace: float) -> Health:
    """Argo CD's health_hpa.go (kstatus has no rule): a failure on AbleToScale or ScalingActive
    is Degraded (here Failed after the grace: metrics lag a fresh install); AbleToScale=True or
    ScalingLimited=True is Healthy; otherwise waiting to autoscale."""
    conds = _hpa_conditions(obj)
    # Stricter than Argo CD, which stops at the first AbleToScale=True even if metrics fail.
    for cond in conds:
        if _hpa_failure(cond):
            return after_grace(describe(cond), since_or_created(cond, obj), now, grace)
    for cond in conds:
        if cond.get("type") in {"AbleToScale", "ScalingLimited"} and cond.get("status") == "True":
            return ok(f"autoscaling: {describe(cond)}")
    return waiting("waiting to autoscale: no AbleToScale=True from the HPA controller yet")


def _hpa_failure(cond: Obj) -> bool:
    reason = str(cond.get("reason") or "")
    return (
        cond.get("type") in {"AbleToScale", "ScalingActive"}
        and cond.get("status") == "False"
        and (reason.startswith("Failed") or reason in HPA_REFUSALS)
    )


def _hpa_conditions(obj: Obj) -> list[Obj]:
    """``status.conditions``, or for autoscaling/v1 the JSON in its conditions annotation."""
    found = (obj.get("status") or {}).get("conditions")
    if not found:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        try:
            found = json.loads(annotations.get(HPA_V1_CONDITIONS) or "[]")
        except ValueError:
            found = []
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def _pvc(obj: Obj, _now: float, _grace: float) -> Health:
    """kstatus's ``pvcConditions``; Lost (its volume is gone) is Argo CD's Degraded."""
    phase = (obj.get("status") or {}).get("phase") or "unknown"
    if phase == "Bound":
        return ok("PVC Bound")
    if phase == "Lost":
        return failed("PVC Lost: its PersistentVolume no longer exists")
    return waiting(f"PVC is {phase}, not Bound")


def _crd(obj: Obj, _now: float, _grace: float) -> Health:
    conds = conditions(obj)
    names = conds.get("NamesAccepted")
    if names is not None and names.get("status") == "False":
        return failed(f"names not accepted: {describe(names)}")
    established = conds.get("Established")
    if established is None:
        return waiting("not Established yet")
    if established.get("status") == "True":
        return ok("Established")
    if established.get("reason") == "Installing":
        return waiting(f"installing: {describe(established)}")
    return failed(f"not Established: {describe(established)}")


def _phase(want: str, what: str) -> Rule:
    def rule(obj: Obj, _now: float, _grace: float) -> Health:
        phase = (obj.get("status") or {}).get("phase") or "unknown"
        if phase == want:
            return ok(f"{what} {want}")
        return waiting(f"{what} is {phase}, not {want}")

    return rule


def _condition(name: str, what: str) -> Rule:
    def rule(obj: Obj, _now: float, _grace: float) -> Health:
        cond = conditions(obj).get(name)
        if cond is not None and cond.get("status") == "True":
            return ok(f"{what}: {name}")
        return waiting(f"{what} not {name} yet" + (f": {describe(cond)}" if cond else ""))

    return rule


def _sealed_secret(obj: Obj, _now: float, _grace: float) -> Health:
    synced = conditions(obj).get("Synced")
    if synced is None:
        return waiting("not synced yet: the controller has not unsealed it")
    if synced.get("status") == "True":
        return ok("unsealed into its Secret (Synced)")
    return failed(f"cannot unseal: {describe(synced)}")


def _application(obj: Obj, now: float, grace: float) -> Health:
    """Contracts §1.3: Synced and Healthy, nothing pending, last operation Succeeded, no
    ``*Error`` condition. (``reconciledAt`` against our last change is the caller's check.)"""
    status = obj.get("status") or {}
    if not status:
        return waiting("no status yet: Argo CD has not reconciled it")
    health = status.get("health") or {}
    op_state = status.get("operationState") or {}
    phase = op_state.get("phase")
    message = op_state.get("message") or health.get("message") or ""
    if health.get("status") == "Degraded":
        since = health.get("lastTransitionTime")
        age = now - epoch(since) if since else grace
        if age >= grace:
            return failed(f"Degraded: {health.get('message') or 'a resource is Degraded'}")
        return waiting(f"Degraded for {age:.0f}s of {grace:.0f}s grace: {health.get('message')}")
    if obj.get("operation"):
        return waiting("a sync operation is pending")
    if phase in {"Failed", "Error"}:
        return failed(f"last sync {phase}: {message}")
    if phase and phase != "Succeeded":
        return waiting(f"sync {phase}: {message}")
    errors = [c for c in status.get("conditions") or [] if str(c.get("type")).endswith("Error")]
    if errors:
        return waiting(f"{errors[0].get('type')}: {errors[0].get('message', '')}")
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    if sync != "Synced":
        return waiting(f"sync status {sync}")
    if health.get("status") != "Healthy":
        return waiting(f"health {health.get('status') or 'Unknown'}: {health.get('message', '')}")
    return ok("Synced and Healthy")


_ALWAYS: Rule = lambda obj, _now, _grace: ok(f"{obj.get('kind')} exists")  # noqa: E731

_RULES: dict[tuple[str, str], Rule] = {
    ("", "Service"): _service,
    ("", "Namespace"): _phase("Active", "Namespace"),
    ("", "PersistentVolumeClaim"): _pvc,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("apiregistration.k8s.io", "APIService"): _condition("Available", "APIService"),
    ("bitnami.com", "SealedSecret"): _sealed_secret,
    ("argoproj.io", "Application"): _application,
    **{
        (group, kind): _ALWAYS
        for group, kind in (
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("batch", "CronJob"),
            ("policy", "PodDisruptionBudget"),
        )
    },
}
