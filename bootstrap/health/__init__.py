"""Health verdicts for Kubernetes objects: kstatus rules and what kstatus misses.

`assess` judges one object and dispatches by kind; `workloads` holds the rules for Pods and the
controllers that own them, and stall detection among a workload's pods.
"""

from bootstrap.health.assess import BUILTIN_GROUPS, Obj, Rule, assess
from bootstrap.health.workloads import (
    WORKLOAD_KINDS,
    Health,
    Status,
    conditions,
    failed,
    ok,
    pods_of,
    stalled_pods,
    waiting,
)

__all__ = [
    "BUILTIN_GROUPS",
    "WORKLOAD_KINDS",
    "Health",
    "Obj",
    "Rule",
    "Status",
    "assess",
    "conditions",
    "failed",
    "ok",
    "pods_of",
    "stalled_pods",
    "waiting",
]
