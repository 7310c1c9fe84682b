"""MetalLB, Argo CD and Sealed Secrets installed by `up` on a real local control plane, from
fixture manifests shaped like upstream and served offline (file:// URLs, sha256 computed here).

kwok makes the pods Ready but runs nothing, so MetalLB's webhook is a test webhook inside the
cluster's network namespace, and load-balancer addresses come from a stand-in controller.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.dynamic.exceptions import NotFoundError

from bootstrap import kube, secrets, wait
from bootstrap.artifacts import pins
from bootstrap.commands import app
from bootstrap.components.argocd import setup
from bootstrap.components.metallb import address_pool
from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import ClusterbootError
from bootstrap.processes import runner
from bootstrap.profile import loader
from bootstrap.wait import Verdict
from tests.integration import platform, upstream_like
from tests.integration import sealing_keys as keys
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.webhook_server import Policy, Webhook

pytestmark = pytest.mark.integration
POOL = "198.51.100.0/28"  # the local profile's lb_range (TEST-NET-2, never routed)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of this module's own: the platform stages change cluster-wide objects."""
    directory = tmp_path_factory.mktemp("platform")
    made = write_profile(directory, "platform", artifacts={"cache_dir": str(directory / "cache")})
    platform.up_ok(made)
    yield made
    made.down()


@pytest.fixture
def api(cluster: LocalCluster) -> kube.Kube:
    """This module's cluster (not the session's)."""
    return cluster.kube()


@pytest.fixture(scope="module")
def metallb(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """MetalLB installed by `up` while its webhook refuses the first three reviews, then `up`
    once more; the webhook keeps serving for the module."""
    directory = tmp_path_factory.mktemp("metallb")
    with Webhook(platform.keeper_pid(cluster), directory, Policy(refuse=3)) as hook:
        url = f"https://127.0.0.1:{hook.port}"
        ca = base64.b64encode(hook.ca).decode()

        def source(version: str) -> dict[str, str]:
            docs = upstream_like.metallb(version, webhook_url=url, ca_bundle=ca)
            return upstream_like.serve(docs, directory / f"native-{version}.yaml")

        sets = platform.component("metallb", source("v0.15.2"), version="v0.15.2")
        first = platform.up_ok(cluster, *sets)
        counts = (hook.policy.refused, hook.policy.allowed)
        second = platform.up_ok(cluster, *sets)
        yield {"first": first, "second": second, "counts": counts, "source": source, "sets": sets}


def stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["name"] == name)


def test_metallb_installs_and_applies_its_pool_once_the_webhook_serves(
    metallb: dict[str, Any], api: kube.Kube
) -> None:
    ran = stage(metallb["first"], "metallb")
    assert ran["changes"] == [
        "install MetalLB v0.15.2",
        f"apply IPAddressPool metallb-system/default {POOL} and L2Advertisement "
        "metallb-system/default (retried until the webhook serves)",
    ]
    refused, allowed = metallb["counts"]
    assert refused == 3  # the pool was retried through the webhook race ...
    assert allowed == 2  # ... then the pool and the L2Advertisement were admitted
    pool = api.get(address_pool.API, "IPAddressPool", "default", address_pool.NAMESPACE)
    assert pool is not None
    assert pool["spec"]["addresses"] == [POOL]
    namespace = api.get("v1", "Namespace", address_pool.NAMESPACE) or {}
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_metallb_gate_saw_the_webhook_endpoints_and_says_why_the_probe_was_skipped(
    metallb: dict[str, Any],
) -> None:
    why = stage(metallb["first"], "metallb")["why"]
    assert "metallb-webhook-service has 1 ready endpoints" in why
    assert "kwok runs no MetalLB controller" in why


def test_a_metallb_rerun_changes_nothing(metallb: dict[str, Any]) -> None:
    again = stage(metallb["second"], "metallb")
    assert again["status"] == "unchanged"
    assert again["changes"] == []


def test_a_metallb_version_bump_plans_an_upgrade_and_changes_nothing(
    metallb: dict[str, Any], cluster: LocalCluster, api: kube.Kube
) -> None:
    bumped = platform.component("metallb", metallb["source"]("v0.15.3"), version="v0.15.3")
    inv, out, err = cluster.invocation(*bumped)
    assert app.plan(inv) == 0, err.getvalue()
    assert "upgrade MetalLB v0.15.2 → v0.15.3" in out.getvalue()
    controller = api.get("apps/v1", "Deployment", "controller", address_pool.NAMESPACE) or {}
    images = [c["image"] for c in controller["spec"]["template"]["spec"]["containers"]]
    assert images == ["quay.io/metallb/controller:v0.15.2"]


class AddressGiver(threading.Thread):
    """Stands in for MetalLB's controller: gives the probe Service ``address``."""

    def __init__(self, api: kube.Kube) -> None:
        super().__init__(daemon=True)
        self.api, self.address, self.stop = api, "", threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            service = self.api.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
            if service is not None and address_pool.probe_address(service) != self.address:
                self.api.apply_status(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {
                            "name": address_pool.PROBE,
                            "namespace": address_pool.NAMESPACE,
                        },
                        "status": {"loadBalancer": {"ingress": [{"ip": self.address}]}},
                    }
                )


def test_the_probe_service_must_get_an_address_from_the_pool(
    metallb: dict[str, Any], cluster: LocalCluster, api: kube.Kube
) -> None:
    giver = AddressGiver(api)
    giver.address = "203.0.113.9"  # not ours: as if k3s ServiceLB had answered
    giver.start()
    try:
        sets = [*metallb["sets"], "components.metallb.probe=true"]
        code, out, _ = cluster.up(*sets)
        assert code == 1, out
        failed = platform.stage_report(cluster, "metallb")
        assert "203.0.113.9, outside the MetalLB pool" in failed["why"]
        assert failed["changes"] == [
            f"apply LoadBalancer Service {address_pool.NAMESPACE}/{address_pool.PROBE} (probe)"
        ]
        giver.address = "198.51.100.7"

        def given() -> Verdict:  # the giver polls; up must not look before it answered
            service = api.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
            shown = address_pool.probe_address(service) if service is not None else None
            return Verdict.passed() if shown == giver.address else Verdict.waiting(str(shown))

        wait.until(given, what="the new probe address", deadline=60, clock=wait.RealClock())
        report = platform.up_ok(cluster, *sets)
        assert "LoadBalancer probe got 198.51.100.7" in stage(report, "metallb")["why"]
    finally:
        giver.stop.set()
        giver.join()
        api.delete("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)


# -- Argo CD ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def argocd(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("argocd")
    source = upstream_like.serve(upstream_like.argocd("v3.2.11"), directory / "install.yaml")
    sets = platform.component("argocd", source, mode="manifests")
    first, second = platform.up_ok(cluster, *sets), platform.up_ok(cluster, *sets)
    return {"first": first, "second": second, "sets": sets}


def test_argocd_lands_in_its_namespace_with_the_health_check_and_the_default_project(
    argocd: dict[str, Any], api: kube.Kube
) -> None:
    ran = stage(argocd["first"], "argocd")
    assert ran["changes"] == [
        "install Argo CD v3.2.11 into argocd (with the Application health check in argocd-cm)",
        "create AppProject argocd/default (argocd-server would at startup; no server runs here)",
    ]
    config = api.get("v1", "ConfigMap", "argocd-cm", "argocd") or {}
    assert config["data"][setup.HEALTH_KEY] == setup.HEALTH_LUA
    assert "resource.customizations.ignoreResourceUpdates.all" in config["data"]
    assert config["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert api.get("apps/v1", "StatefulSet", "argocd-application-controller", "argocd")
    assert api.get("argoproj.io/v1alpha1", "AppProject", "default", "argocd")
    assert "AppProject default present" in ran["why"]


def test_an_argocd_rerun_changes_nothing(argocd: dict[str, Any]) -> None:
    assert stage(argocd["second"], "argocd")["changes"] == []


def test_a_changed_sync_timeout_is_written_and_rolls_the_controller_once(
    argocd: dict[str, Any], cluster: LocalCluster, api: kube.Kube
) -> None:
    sets = [*argocd["sets"], "components.argocd.sync_timeout_seconds=900"]
    ran = stage(platform.up_ok(cluster, *sets), "argocd")
    assert len(ran["changes"]) == 1
    assert ran["changes"][0].startswith("repair Argo CD v3.2.11: StatefulSet")
    params = api.get("v1", "ConfigMap", setup.PARAMS, "argocd") or {}
    assert params["data"][setup.SYNC_TIMEOUT_KEY] == "900"
    controller = api.get("apps/v1", "StatefulSet", setup.CONTROLLER, "argocd") or {}
    template = controller["spec"]["template"]["metadata"]
    assert template["annotations"][setup.TIMEOUT_ANNOTATION] == "900"
    assert stage(platform.up_ok(cluster, *sets), "argocd")["changes"] == []


def test_the_argocd_password_is_printed_only_when_it_exists(
    argocd: dict[str, Any], cluster: LocalCluster, api: kube.Kube
) -> None:
    inv, out, err = cluster.invocation(*argocd["sets"])
    assert app.argocd_password(inv) == 1
    assert "argocd-initial-admin-secret has no password" in err.getvalue()
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": setup.ADMIN_SECRET, "namespace": "argocd"},
            "data": {"password": base64.b64encode(b"s3cr3t-initial").decode()},
        }
    )
    inv, out, err = cluster.invocation(*argocd["sets"])
    assert app.argocd_password(inv) == 0, err.getvalue()
    assert out.getvalue() == "s3cr3t-initial\n"


def module_cache_install() -> tuple[str, Path] | None:
    """A pinned Argo CD version whose own install.yaml is in the Go module cache (building
    Argo CD for `argocd.mode: processes` puts it there), and that file."""
    try:
        root = runner.LocalRunner().run(["go", "env", "GOMODCACHE"], timeout=60).stdout.strip()
    except ClusterbootError:
        return None
    for component, version in pins.DEFAULT_SOURCES:
        path = Path(root) / f"github.com/argoproj/argo-cd/v3@{version}/manifests/install.yaml"
        if component == "argocd" and path.is_file():
            return version, path
    return None


def test_the_pinned_upstream_argocd_installs_air_gapped_from_a_bundle_directory(
    argocd: dict[str, Any], cluster: LocalCluster, tmp_path: Path, api: kube.Kube
) -> None:
    found = module_cache_install()
    if found is None:
        pytest.skip("no pinned Argo CD version in the Go module cache (make argocd)")
    version, upstream = found
    pinned = pins.DEFAULT_SOURCES[("argocd", version)]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / pinned.sha256).write_bytes(upstream.read_bytes())  # checked against the pin
    report = platform.up_ok(
        cluster,
        "components.argocd.enabled=true",
        "components.argocd.mode=manifests",
        f"components.argocd.version={version}",
        "components.argocd.namespace=argocd-upstream",
        f"artifacts.dir={bundle}",
    )
    ran = stage(report, "argocd")
    assert ran["changes"][0].startswith(f"install Argo CD {version} into argocd-upstream")
    for name in ("argocd-server", "argocd-repo-server", "argocd-redis", "argocd-dex-server"):
        assert api.get("apps/v1", "Deployment", name, "argocd-upstream"), name
    binding = api.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "argocd-server") or {}
    assert binding["subjects"][0]["namespace"] == "argocd-upstream"


class RaceKubelet(threading.Thread):
    """Stands in for the kubelet of node ``NODE`` (no Node object, so kwok leaves its pods
    alone): a pod it first sees before Secret argocd-redis exists waits in
    CreateContainerConfigError, as in Argo CD #18993; a later pod runs and is Ready."""

    NODE = "redis-race-node"

    def __init__(self, api: kube.Kube, namespace: str) -> None:
        super().__init__(daemon=True)
        self.api, self.namespace, self.stop = api, namespace, threading.Event()
        self.stuck: list[str] = []
        self.ran: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.1):
            pods, _ = self.api.list("v1", "Pod", namespace=self.namespace)
            secret = self.api.get("v1", "Secret", setup.REDIS_SECRET, self.namespace)
            for pod in pods:
                name = pod["metadata"]["name"]
                if pod["spec"].get("nodeName") != self.NODE:
                    continue
                if pod["metadata"].get("deletionTimestamp"):  # its containers have stopped
                    with contextlib.suppress(NotFoundError):
                        self.api.resource("v1", "Pod").delete(
                            name=name, namespace=self.namespace, grace_period_seconds=0
                        )
                if name in self.stuck + self.ran:
                    continue
                (self.ran if secret else self.stuck).append(name)
                self.api.apply_status(self._status(pod, running=secret is not None))

    def _status(self, pod: dict[str, Any], *, running: bool) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ready = "True" if running else "False"
        state = (
            {"running": {"startedAt": now}}
            if running
            else {
                "waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": f'secret "{setup.REDIS_SECRET}" not found',
                }
            }
        )
        container = pod["spec"]["containers"][0]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod["metadata"]["name"], "namespace": self.namespace},
            "status": {
                "phase": "Running" if running else "Pending",
                "startTime": now,
                "conditions": [
                    {"type": t, "status": s, "lastTransitionTime": now}
                    for t, s in (("PodScheduled", "True"), ("Ready", ready))
                ],
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "ready": running,
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            },
        }


def test_argocd_pods_that_lost_the_redis_secret_race_are_restarted_and_the_gate_passes(
    argocd: dict[str, Any], cluster: LocalCluster, api: kube.Kube, tmp_path: Path
) -> None:
    namespace = "argocd-redis-race"
    docs = upstream_like.argocd("v3.2.11")
    repo = next(d for d in docs if d["metadata"]["name"] == "argocd-repo-server")
    repo["spec"]["template"]["spec"]["nodeName"] = RaceKubelet.NODE
    source = upstream_like.serve(docs, tmp_path / "install.yaml")
    sets = [
        *platform.component("argocd", source, mode="manifests", namespace=namespace),
        "waves.progressing_grace_seconds=2",
    ]
    kubelet = RaceKubelet(api, namespace)
    kubelet.start()

    def secret_comes_late() -> None:  # as install.yaml's argocd-redis-secret-init Job would
        while not kubelet.stuck and not kubelet.stop.wait(0.1):
            pass
        api.apply(upstream_like.plain("Secret", setup.REDIS_SECRET, namespace))

    late = threading.Thread(target=secret_comes_late, daemon=True)
    late.start()
    try:
        ran = stage(platform.up_ok(cluster, *sets), "argocd")
        stuck, replaced = list(kubelet.stuck), list(kubelet.ran)
        again = stage(platform.up_ok(cluster, *sets), "argocd")
    finally:
        kubelet.stop.set()
        kubelet.join()
        late.join()
    assert len(stuck) == 1, stuck
    assert replaced, "no pod ran after the Secret existed"
    restarts = [c for c in ran["changes"] if c.startswith("restart ")]
    assert restarts == [
        f"restart {stuck[0]}: created before Secret {namespace}/{setup.REDIS_SECRET} "
        "(argocd-redis Secret race, #18993)"
    ], ran["changes"]
    assert api.get("v1", "Pod", stuck[0], namespace) is None
    assert again["changes"] == []


# -- Sealed Secrets (kwok: no controller runs; see test_sealed_secrets_dr for the real one) --
@pytest.fixture
def sealed(cluster: LocalCluster, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Settings for Sealed Secrets in a namespace of the test's own."""
    namespace = f"ss-{abs(hash(request.node.name)) % 10**6}"
    source = upstream_like.serve(upstream_like.sealed_secrets("v0.36.6"), tmp_path / "c.yaml")
    return namespace, platform.component("sealed_secrets", source, namespace=namespace)


def test_sealed_secrets_installs_and_a_rerun_changes_nothing(
    sealed: Any, cluster: LocalCluster
) -> None:
    namespace, sets = sealed
    first = stage(platform.up_ok(cluster, *sets), "sealed_secrets")
    assert first["changes"] == [f"install Sealed Secrets v0.36.6 into {namespace}"]
    assert "kwok runs no controller" in first["why"]
    assert stage(platform.up_ok(cluster, *sets), "sealed_secrets")["changes"] == []


def test_restored_keys_restart_a_controller_that_started_first_and_a_backup_covers_them(
    sealed: Any, cluster: LocalCluster, tmp_path: Path, api: kube.Kube
) -> None:
    namespace, sets = sealed
    platform.up_ok(cluster, *sets)  # the controller runs, with no key of ours
    pods, _ = api.list(
        "v1", "Pod", namespace=namespace, label_selector="name=sealed-secrets-controller"
    )
    started = {p["metadata"]["name"]: p["status"]["startTime"] for p in pods}
    identity, key = keys.identity(tmp_path), keys.key_secret("sealed-secrets-keyrest1", namespace)
    threading.Event().wait(1.1)  # startTime has one-second resolution: restore in a later second
    backup = tmp_path / "keys.age"
    secrets.write_private(backup, sealing.encrypt([key], [identity[1].to_public()]))
    dr = [
        *sets,
        f"components.sealed_secrets.key_backup={backup}",
        f"components.sealed_secrets.age_identity={identity[0]}",
    ]
    ran = stage(platform.up_ok(cluster, *dr), "sealed_secrets")
    assert ran["changes"] == [
        f"restore 1 sealing keys into {namespace} before the controller starts "
        "(sealed-secrets-keyrest1)",
        "restart the controller: it started before the restored keys existed and loads keys "
        "only at startup",
    ]
    assert "1 sealing keys (1 from the backup)" in ran["why"]
    restored = api.get("v1", "Secret", "sealed-secrets-keyrest1", namespace) or {}
    assert restored["metadata"]["labels"][sealing.KEY_LABEL] == "active"
    assert restored["data"] == key["data"]
    now, _ = api.list(
        "v1", "Pod", namespace=namespace, label_selector="name=sealed-secrets-controller"
    )
    assert not {p["metadata"]["name"] for p in now} & set(started)
    # The gate passed only once the replacement pod had started (and the old one was gone).
    assert now
    assert all(p["status"].get("startTime") for p in now)
    assert not any(p["metadata"].get("deletionTimestamp") for p in now)
    assert stage(platform.up_ok(cluster, *dr), "sealed_secrets")["changes"] == []

    renewed = keys.key_secret("sealed-secrets-keyrest2", namespace, days_later=1)
    api.apply(renewed)  # what the controller's 30-day renewal does
    warned = stage(platform.up_ok(cluster, *dr), "sealed_secrets")["why"]
    assert "WARNING: the newest sealing key sealed-secrets-keyrest2" in warned
    inv, out, err = cluster.invocation(*dr)
    assert app.backup(inv, out_file=tmp_path / "again.age") == 0, err.getvalue()
    assert "2 sealing keys backed up" in out.getvalue()
    assert "WARNING" not in stage(platform.up_ok(cluster, *dr), "sealed_secrets")["why"]

    api.apply(keys.key_secret("sealed-secrets-keyrest3", namespace, days_later=2))
    settings = loader.load(str(cluster.profile_file), overrides=dr)
    sealing.backup(api, settings, tmp_path / "elsewhere.age", state_dir=tmp_path / "elsewhere")
    assert "WARNING" not in stage(platform.up_ok(cluster, *dr), "sealed_secrets")["why"]
