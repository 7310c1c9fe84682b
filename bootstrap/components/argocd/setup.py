"""Argo CD beyond its manifest (contracts §3, §1.3): the namespace its objects go to, the
Application health check written into ``argocd-cm`` (applied with the install, so before any
root app), what the gate waits for, and the initial admin password.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from bootstrap.artifacts import install
from bootstrap.errors import ClusterbootError
from bootstrap.health import workloads
from bootstrap.kube.client import Kube, ObjectRef

UPSTREAM_NAMESPACE = "argocd"  # the ClusterRoleBindings' subjects name it
CONFIG = "argocd-cm"
PARAMS = "argocd-cmd-params-cm"
SYNC_TIMEOUT_KEY = "controller.sync.timeout.seconds"
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
NESTED_KEY = "resource.customizations"
# Argo CD removed Application health in v1.8 (#3781); this is the restore snippet from
# docs/operator-manual/health.md, so child apps gate their waves again.
HEALTH_LUA = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""
WORKLOADS = (
    ("apps/v1", "Deployment", "argocd-repo-server"),
    ("apps/v1", "StatefulSet", "argocd-application-controller"),
    ("apps/v1", "Deployment", "argocd-redis"),
    ("apps/v1", "Deployment", "argocd-server"),
)
PROJECT = ("argoproj.io/v1alpha1", "AppProject", "default")
CONTROLLER = "argocd-application-controller"
TIMEOUT_ANNOTATION = "clusterboot.io/sync-timeout-seconds"
ADMIN_SECRET = "argocd-initial-admin-secret"  # noqa: S105 - a name, not a password
REDIS_SECRET = "argocd-redis"  # noqa: S105 - a name; key ``auth`` holds the Redis password
Doc = dict[str, Any]


def prepare(docs: list[Doc], namespace: str, *, sync_timeout: int = 0) -> list[Doc]:
    """Upstream install.yaml, aimed at ``namespace``, with the health check in argocd-cm and
    (unless the manifest sets one, or ``sync_timeout`` is 0) a sync timeout in
    argocd-cmd-params-cm (pitfall 7: a hook can hang forever).

    Both are merged into the manifest's own ConfigMaps: applying a separate one with the same
    field manager would drop the fields the install set, and the reverse.
    """
    docs = install.relocate(docs, source=UPSTREAM_NAMESPACE, target=namespace)
    docs = install.ensure_namespace(docs, namespace)
    config = _config_map(docs, CONFIG)
    data = config.get("data") or {}
    if not nested_health_check(data):  # both forms at once is a ComparisonError (#5423)
        config["data"] = {**data, HEALTH_KEY: HEALTH_LUA}
    if sync_timeout:
        params = _config_map(docs, PARAMS)
        params["data"] = {SYNC_TIMEOUT_KEY: str(sync_timeout), **(params.get("data") or {})}
    _roll_on_timeout_change(docs)
    return docs


def _roll_on_timeout_change(docs: list[Doc]) -> None:
    """The application-controller reads the timeout only at startup: carry it in its pod
    template too, so a changed value rolls its pods (the config-hash pattern), and a run
    interrupted after the ConfigMap changed still rolls them next time."""
    timeout = sync_timeout(docs)
    controller = install.find(docs, "StatefulSet", CONTROLLER)
    if not timeout or controller is None:
        return
    template = controller.setdefault("spec", {}).setdefault("template", {})
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[TIMEOUT_ANNOTATION] = str(timeout)


def _config_map(docs: list[Doc], name: str) -> Doc:
    """The manifest's ConfigMap ``name``, added (labelled as upstream does) when it has none."""
    found = install.find(docs, "ConfigMap", name)
    if found is None:
        found = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"},
            },
        }
        docs.append(found)
    return found


def sync_timeout(docs: list[Doc]) -> int:
    """The sync timeout the prepared install configures (0: none)."""
    data = (install.find(docs, "ConfigMap", PARAMS) or {}).get("data") or {}
    try:
        return max(0, int(str(data.get(SYNC_TIMEOUT_KEY) or 0)))
    except ValueError:
        return 0


def nested_health_check(data: Mapping[str, Any]) -> bool:
    """Whether argocd-cm's older nested form (``resource.customizations``, e.g. from chart
    values) already holds an Application health check: then clusterboot adds none."""
    try:
        nested = yaml.safe_load(str(data.get(NESTED_KEY) or "")) or {}
    except yaml.YAMLError:
        return False
    app = nested.get("argoproj.io/Application") if isinstance(nested, dict) else None
    return isinstance(app, dict) and bool(app.get("health.lua"))


def has_health_check(data: Mapping[str, Any]) -> bool:
    """argocd-cm holds the Application health check, in clusterboot's form or the nested one."""
    return data.get(HEALTH_KEY) == HEALTH_LUA or nested_health_check(data)


def keys(docs: list[Doc], namespace: str) -> list[install.Key]:
    """What proves the install: the manifest's keys plus the health check in argocd-cm and the
    sync timeout in argocd-cmd-params-cm."""
    config = ObjectRef("v1", "ConfigMap", CONFIG, namespace)
    data = (install.find(docs, "ConfigMap", CONFIG) or {}).get("data") or {}
    wanted = (
        {f"data {NESTED_KEY}": str(data[NESTED_KEY])}
        if nested_health_check(data)
        else {f"data {HEALTH_KEY}": HEALTH_LUA}
    )
    found = [*install.keys_of(docs, namespace=namespace), install.Key(config, wanted)]
    timeout = sync_timeout(docs)
    if timeout:
        params = ObjectRef("v1", "ConfigMap", PARAMS, namespace)
        found.append(install.Key(params, {f"data {SYNC_TIMEOUT_KEY}": str(timeout)}))
        rolled = {f"template-annotation {TIMEOUT_ANNOTATION}": str(timeout)}
        found = [  # the controller's pods must have started with it, too
            install.Key(k.ref, {**k.want, **rolled}) if k.ref.name == CONTROLLER else k
            for k in found
        ]
    return found


def gated_workloads(docs: Iterable[Doc], namespace: str) -> list[ObjectRef]:
    """repo-server, application-controller, redis and server, as far as the manifest has them
    (the core install has no server)."""
    present = {(d["kind"], d["metadata"]["name"]) for d in docs}
    return [
        ObjectRef(api, kind, name, namespace)
        for api, kind, name in WORKLOADS
        if (kind, name) in present
    ]


ROLLED_OUT = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")}


def ungated_workloads(docs: Iterable[Doc], namespace: str) -> list[ObjectRef]:
    """The manifest's other workloads (dex, notifications, applicationset): clusterboot does
    not wait for them, but says so when one is not ready."""
    docs = list(docs)
    gated = set(gated_workloads(docs, namespace))
    return [
        ref
        for ref in (install.ref_of(d, namespace) for d in docs if install.kind_of(d) in ROLLED_OUT)
        if ref not in gated
    ]


def default_project(namespace: str) -> Doc:
    """AppProject default as argocd-server creates it at startup (server.go
    ``initializeDefaultProject``): for clusters where no server process runs."""
    api, kind, name = PROJECT
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


def has_project(kube: Kube, namespace: str) -> bool:
    api, kind, name = PROJECT
    return kube.get(api, kind, name, namespace) is not None


def initial_password(kube: Kube, namespace: str) -> str:
    """The initial admin password (Secret argocd-initial-admin-secret, key ``password``)."""
    secret = kube.get("v1", "Secret", ADMIN_SECRET, namespace)
    encoded = ((secret or {}).get("data") or {}).get("password")
    if not encoded:
        raise ClusterbootError(
            f"Secret {namespace}/{ADMIN_SECRET} has no password",
            hint="argocd-server creates it at its first start, and the docs say to delete it "
            "once the password is changed: if it was, use the password you chose",
        )
    return base64.b64decode(encoded).decode()


def redis_race_victims(pods: Iterable[Doc], secret: Mapping[str, Any] | None) -> list[str]:
    """Argo CD pods that lost the race with Secret ``argocd-redis`` (contracts §3, #18993,
    argo-helm #2836) and that a restart fixes: not Ready, and created before the Secret was
    (NOAUTH without the password, or CreateContainerConfigError naming it). Empty while the
    Secret is missing: a restart cannot help then. A pod restarted once is created after the
    Secret, so it is never picked twice."""
    if secret is None:
        return []
    created = workloads.epoch(secret["metadata"]["creationTimestamp"])
    victims = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if not str((meta.get("labels") or {}).get("app.kubernetes.io/name", "")).startswith(
            "argocd-"
        ):
            continue
        if workloads.ready(pod) or meta.get("deletionTimestamp"):
            continue
        born = workloads.epoch(meta["creationTimestamp"])
        # Timestamps have whole seconds: a pod of the Secret's second may be the replacement
        # of one restarted a moment ago, so only its own symptom makes it a victim.
        if born < created or (born == created and _waits_for_redis_secret(pod)):
            victims.append(str(meta["name"]))
    return victims


def _waits_for_redis_secret(pod: Mapping[str, Any]) -> bool:
    """The kubelet could not start a container for want of Secret ``argocd-redis``."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError" and REDIS_SECRET in str(
            waiting.get("message", "")
        ):
            return True
    return False


def redis_secret_missing_hint(namespace: str) -> str:
    return (
        f"Secret {namespace}/{REDIS_SECRET} does not exist, so Argo CD pods cannot start: "
        "install.yaml's argocd-redis-secret-init Job creates it "
        f"(kubectl -n {namespace} logs job/argocd-redis-secret-init)"
    )
