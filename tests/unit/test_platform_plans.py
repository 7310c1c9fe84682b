"""The platform stages' decisions as tables: observed facts in, changes out, always with the
row where everything is already there (no change)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyrage
import pytest

from bootstrap.artifacts import install
from bootstrap.components.argocd import setup
from bootstrap.components.metallb import address_pool
from bootstrap.components.sealed_secrets import sealing
from bootstrap.kube.client import ObjectRef
from bootstrap.processes import runner
from bootstrap.profile.schema import Profile
from bootstrap.stage import ClusterInfo, Context
from bootstrap.wait import FakeClock
from stages.argocd import ArgoCD
from stages.metallb import MetalLB
from stages.sealed_secrets import SealedSecrets
from tests.integration import upstream_like

NS = ObjectRef("v1", "Namespace", "metallb-system")
CRD = ObjectRef(install.CRD_VERSION, "CustomResourceDefinition", "ipaddresspools.metallb.io")
CTRL = ObjectRef("apps/v1", "Deployment", "controller", "metallb-system")
KEYS = [
    install.Key(NS, {"label pod-security.kubernetes.io/enforce": "privileged"}),
    install.Key(CRD),
    install.Key(CTRL, {"image controller": "quay.io/metallb/controller:v0.15.2"}),
]
SAME = {
    NS: {"label pod-security.kubernetes.io/enforce": "privileged"},
    CRD: {},
    CTRL: {"image controller": "quay.io/metallb/controller:v0.15.2"},
}


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (SAME, None),
        ({}, "install MetalLB v0.15.2"),
        (
            {**SAME, CTRL: {"image controller": "quay.io/metallb/controller:v0.14.9"}},
            "upgrade MetalLB v0.14.9 → v0.15.2",
        ),
        ({**SAME, CRD: None}, f"repair MetalLB v0.15.2: {CRD} missing"),
        (
            {**SAME, NS: {}},
            f"repair MetalLB v0.15.2: {NS} label pod-security.kubernetes.io/enforce differs",
        ),
        (
            {
                NS: SAME[NS],
                CRD: {},
                CTRL: {"image controller": "quay.io/metallb/controller@sha256:ab"},
            },
            "upgrade MetalLB latest → v0.15.2",
        ),
    ],
    ids=[
        "up to date",
        "nothing installed",
        "older image",
        "crd missing",
        "label dropped",
        "digest pinned by hand",
    ],
)
def test_an_install_is_planned_only_when_the_cluster_differs(
    seen: dict[ObjectRef, dict[str, str] | None], expected: str | None
) -> None:
    assert install.decide("MetalLB", "v0.15.2", KEYS, seen) == expected


def test_keys_come_from_the_manifest_itself() -> None:
    docs = upstream_like.metallb("v0.15.2", webhook_url="https://127.0.0.1:1", ca_bundle="")
    keys = {str(k.ref): dict(k.want) for k in install.keys_of(docs, namespace="metallb-system")}
    assert keys["Deployment metallb-system/controller"] == {
        "image controller": "quay.io/metallb/controller:v0.15.2"
    }
    assert keys["DaemonSet metallb-system/speaker"] == {
        "image speaker": "quay.io/metallb/speaker:v0.15.2"
    }
    assert keys["CustomResourceDefinition ipaddresspools.metallb.io"] == {}
    assert keys["Namespace metallb-system"]["label pod-security.kubernetes.io/warn"] == "privileged"
    assert "Service metallb-system/metallb-webhook-service" not in keys


@pytest.mark.parametrize(
    ("have_pool", "have_l2", "expected"),
    [
        (["198.51.100.0/28"], ["default"], None),
        (
            None,
            None,
            "apply IPAddressPool metallb-system/default 198.51.100.0/28 and "
            "L2Advertisement metallb-system/default",
        ),
        (
            ["10.0.0.1-10.0.0.9"],
            ["default"],
            "apply IPAddressPool metallb-system/default 198.51.100.0/28 (was 10.0.0.1-10.0.0.9)",
        ),
        (["198.51.100.0/28"], None, "apply L2Advertisement metallb-system/default"),
    ],
    ids=["up to date", "nothing yet", "other addresses", "no advertisement"],
)
def test_the_pool_is_applied_only_when_it_differs(
    have_pool: list[str] | None, have_l2: list[str] | None, expected: str | None
) -> None:
    assert address_pool.pool_change("198.51.100.0/28", have_pool, have_l2) == expected


@pytest.mark.parametrize(
    ("endpoints", "ready"),
    [
        ([], 0),
        ([{"addresses": ["10.244.0.5"], "conditions": {"ready": False}}], 0),
        ([{"addresses": ["10.244.0.5"], "conditions": {"ready": True}}], 1),
        ([{"addresses": ["10.244.0.5"], "conditions": {}}], 1),
    ],
    ids=["no endpoints", "not ready", "ready", "ready unset means ready"],
)
def test_the_webhook_serves_only_with_ready_endpoints(
    endpoints: list[dict[str, Any]], ready: int
) -> None:
    assert address_pool.ready_endpoints([{"endpoints": endpoints}]) == ready


def test_a_webhook_without_its_ca_bundle_is_not_serving_yet() -> None:
    config = {
        "webhooks": [
            {"name": "a", "clientConfig": {"caBundle": "LS0t"}},
            {"name": "b", "clientConfig": {"service": {"name": "s"}}},
        ]
    }
    assert address_pool.missing_ca([config]) == ["b"]
    assert address_pool.missing_ca([None]) == []


@pytest.mark.parametrize(
    ("controller_runs", "probe", "wanted"),
    [
        (True, None, True),
        (False, None, False),
        (False, True, True),
        (True, False, False),
    ],
)
def test_the_load_balancer_probe_runs_where_a_load_balancer_can_work(
    controller_runs: bool, probe: bool | None, wanted: bool
) -> None:
    profile = make_profile(metallb={"probe": probe})
    got, why = address_pool.probe_wanted(profile, controller_runs=controller_runs)
    assert got is wanted
    assert got or why


def test_a_probe_address_must_lie_in_the_pool() -> None:
    assert address_pool.in_pool("198.51.100.3", "198.51.100.0/28")
    assert not address_pool.in_pool("198.51.100.30", "198.51.100.0/28")
    assert address_pool.in_pool("172.18.255.200", "172.18.255.200-172.18.255.250")


def test_metallb_is_skipped_on_eks_with_a_reason() -> None:
    eks = Profile.model_validate(
        {"name": "p", "cluster": {"provider": "eks", "name": "c", "eks": {"region": "eu-west-1"}}}
    )
    assert "EKS" in (MetalLB().skip_reason(eks) or "")
    assert MetalLB().skip_reason(make_profile(metallb={"enabled": True})) is None
    assert "components.metallb.enabled" in (MetalLB().skip_reason(make_profile()) or "")


# -- stages over a fake cluster: facts in, change summaries out ------------------------------
class FakeKube:
    """Just enough of bootstrap.kube.client.Kube for ``plan``: get and list over a dict."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {str(ObjectRef.of(o)): o for o in objects}

    def get(self, api: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return copy.deepcopy(self.objects.get(str(ObjectRef(api, kind, name, namespace))))

    def list(
        self,
        api: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        wanted = dict(p.split("=") for p in (label_selector or "").split(",") if "=" in p)
        present = [p for p in (label_selector or "").split(",") if p and "=" not in p]
        found = []
        for obj in self.objects.values():
            meta = obj["metadata"]
            labels = meta.get("labels") or {}
            if (
                obj["kind"] == kind
                and meta.get("namespace") == namespace
                and all(labels.get(k) == v for k, v in wanted.items())
                and all(p in labels for p in present)
            ):
                found.append(copy.deepcopy(obj))
        return found, "1"


def make_profile(**components: Any) -> Profile:
    off = {n: {"enabled": False} for n in ("metallb", "argocd", "sealed_secrets")}
    return Profile.model_validate(
        {
            "name": "p",
            "cluster": {"provider": "local", "name": "c", "lb_range": "198.51.100.0/28"},
            "components": {**off, **components},
        }
    )


def context(tmp_path: Path, profile: Profile, cluster: list[dict[str, Any]]) -> Context:
    profile = profile.model_copy(
        update={
            "artifacts": profile.artifacts.model_copy(update={"cache_dir": str(tmp_path / "cache")})
        }
    )
    ctx = Context(
        profile=profile, runner=runner.LocalRunner(), state_dir=tmp_path, clock=FakeClock()
    )
    ctx.publish_cluster(
        ClusterInfo(
            tmp_path / "k", "p", "https://127.0.0.1:1", provider="local", lb_range="198.51.100.0/28"
        )
    )
    ctx._kube = FakeKube(cluster)  # type: ignore[assignment]
    return ctx


def source(tmp_path: Path, docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    return upstream_like.serve(docs, tmp_path / name)


def metallb_docs(version: str) -> list[dict[str, Any]]:
    return upstream_like.metallb(version, webhook_url="https://127.0.0.1:1", ca_bundle="")


def installed(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The cluster after an install of ``docs``: every object, namespaced where it belongs."""
    out = []
    for doc in docs:
        ref = install.ref_of(doc, namespace)
        obj = copy.deepcopy(doc)
        if ref.namespace:
            obj["metadata"]["namespace"] = ref.namespace
        out.append(obj)
    return out


POOL = [
    {
        "apiVersion": address_pool.API,
        "kind": "IPAddressPool",
        "metadata": {"name": "default", "namespace": address_pool.NAMESPACE},
        "spec": {"addresses": ["198.51.100.0/28"]},
    },
    {
        "apiVersion": address_pool.API,
        "kind": "L2Advertisement",
        "metadata": {"name": "default", "namespace": address_pool.NAMESPACE},
        "spec": {"ipAddressPools": ["default"]},
    },
]


@pytest.mark.parametrize(
    ("cluster_version", "pool", "expected"),
    [
        ("v0.15.2", True, []),
        (
            None,
            False,
            [
                "install MetalLB v0.15.2",
                "apply IPAddressPool metallb-system/default 198.51.100.0/28 and "
                "L2Advertisement metallb-system/default (retried until the webhook serves)",
            ],
        ),
        ("v0.14.9", True, ["upgrade MetalLB v0.14.9 → v0.15.2"]),
    ],
    ids=["re-run changes nothing", "fresh cluster", "version bump"],
)
def test_the_metallb_stage_plans_from_what_the_cluster_has(
    tmp_path: Path, cluster_version: str | None, pool: bool, expected: list[str]
) -> None:
    src = source(tmp_path, metallb_docs("v0.15.2"), "native.yaml")
    have = (
        installed(metallb_docs(cluster_version), address_pool.NAMESPACE) if cluster_version else []
    )
    ctx = context(tmp_path, make_profile(metallb={"source": src}), have + (POOL if pool else []))
    assert [c.summary for c in MetalLB().plan(ctx)] == expected


def test_the_argocd_stage_repairs_a_missing_health_check_and_the_default_project(
    tmp_path: Path,
) -> None:
    src = source(tmp_path, upstream_like.argocd("v3.2.11"), "install.yaml")
    profile = make_profile(argocd={"source": src})
    docs = setup.prepare(upstream_like.argocd("v3.2.11"), "argocd", sync_timeout=600)
    have = installed(docs, "argocd")
    project = setup.default_project("argocd")
    assert [c.summary for c in ArgoCD().plan(context(tmp_path, profile, [*have, project]))] == []
    for obj in have:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "argocd-cm":
            del obj["data"][setup.HEALTH_KEY]
    assert [c.summary for c in ArgoCD().plan(context(tmp_path, profile, have))] == [
        "repair Argo CD v3.2.11: ConfigMap argocd/argocd-cm data "
        f"{setup.HEALTH_KEY} differs into argocd (with the Application health check in "
        "argocd-cm)",
        "create AppProject argocd/default (argocd-server would at startup; no server runs here)",
    ]


def test_argocd_objects_go_to_the_profile_namespace_with_the_health_check_merged() -> None:
    docs = setup.prepare(upstream_like.argocd("v3.2.11"), "gitops")
    binding = install.find(docs, "ClusterRoleBinding", "argocd-server")
    assert binding is not None
    assert binding["subjects"][0]["namespace"] == "gitops"
    assert docs[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gitops"}}
    config = install.find(docs, "ConfigMap", "argocd-cm")
    assert config is not None
    assert config["data"][setup.HEALTH_KEY] == setup.HEALTH_LUA
    assert "resource.customizations.ignoreResourceUpdates.all" in config["data"]
    assert config["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    refs = setup.gated_workloads(docs, "gitops")
    assert [str(r) for r in refs] == [
        "Deployment gitops/argocd-repo-server",
        "StatefulSet gitops/argocd-application-controller",
        "Deployment gitops/argocd-redis",
        "Deployment gitops/argocd-server",
    ]


# -- Sealed Secrets keys ---------------------------------------------------------------------
B = {"k1": "f1", "k2": "f2"}


@pytest.mark.parametrize(
    ("backup", "cluster", "pods", "expected"),
    [
        ({}, {}, [100.0], sealing.Restore((), (), False)),
        (B, {"k1": ("f1", 50.0), "k2": ("f2", 60.0)}, [100.0], sealing.Restore((), (), False)),
        (B, {}, [], sealing.Restore(("k1", "k2"), (), False)),
        (B, {}, [None], sealing.Restore(("k1", "k2"), (), False)),
        (B, {"k1": ("f1", 50.0)}, [100.0], sealing.Restore(("k2",), (), True)),
        (B, {"k1": ("f1", 150.0), "k2": ("f2", 60.0)}, [100.0], sealing.Restore((), (), True)),
        (
            B,
            {"k1": ("other", 50.0), "k2": ("f2", 60.0)},
            [100.0],
            sealing.Restore((), ("k1",), False),
        ),
    ],
    ids=[
        "no backup",
        "restored and loaded",
        "before the controller",
        "controller pending",
        "controller already running",
        "controller started before a key",
        "name taken",
    ],
)
def test_keys_are_restored_before_the_controller_and_it_restarts_only_if_it_started_first(
    backup: dict[str, str],
    cluster: dict[str, tuple[str, float]],
    pods: list[float | None],
    expected: sealing.Restore,
) -> None:
    assert sealing.restore_plan(backup, cluster, pods) == expected


def key_secret(name: str, created: str, cert: str = "Y2VydA==") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "creationTimestamp": created,
            "resourceVersion": "7",
            "uid": "u-1",
            "managedFields": [{"manager": "x"}],
            "ownerReferences": [{"kind": "Deployment", "name": "old", "uid": "u-0"}],
            "generateName": "sealed-secrets-key",
            "annotations": {sealing.LAST_APPLIED: "{}"},
            "labels": {sealing.KEY_LABEL: "active"},
        },
        "data": {"tls.crt": cert, "tls.key": "a2V5"},
    }


def test_a_restored_key_has_no_server_set_fields_and_is_active() -> None:
    restored = sealing.strip(key_secret("sealed-secrets-keyabc", "2026-01-01T00:00:00Z"), "ss")
    assert restored["metadata"] == {
        "name": "sealed-secrets-keyabc",
        "namespace": "ss",
        "labels": {sealing.KEY_LABEL: "active"},
    }
    assert restored["data"] == {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}
    unlabelled = key_secret("sealed-secrets-keyx", "2026-01-01T00:00:00Z")
    del unlabelled["metadata"]["labels"]
    assert sealing.strip(unlabelled, "kube-system")["metadata"]["labels"] == {
        sealing.KEY_LABEL: "active"
    }
    legacy = key_secret(sealing.LEGACY_KEY, "2020-01-01T00:00:00Z")
    del legacy["metadata"]["labels"]
    assert "labels" not in sealing.strip(legacy, "kube-system")["metadata"]


def test_a_missing_backup_of_the_newest_key_is_warned_about() -> None:
    old = key_secret("sealed-secrets-keyold", "2026-01-01T00:00:00Z", cert="b2xk")
    new = key_secret("sealed-secrets-keynew", "2026-02-01T00:00:00Z", cert="bmV3")
    assert sealing.stale_backup([old, new], {sealing.fingerprint(new)}) is None
    assert sealing.stale_backup([], set()) is None
    warning = sealing.stale_backup([old, new], {sealing.fingerprint(old)})
    assert warning is not None
    assert "sealed-secrets-keynew" in warning
    assert "invoke backup" in warning


def sealed_docs() -> list[dict[str, Any]]:
    return upstream_like.sealed_secrets("v0.36.6")


def test_the_sealed_secrets_stage_restores_keys_first_and_restarts_a_controller_that_ran_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = tmp_path / "age.key"
    ident = pyrage.x25519.Identity.generate()
    identity.write_text(f"# test\n{ident}\n")
    identity.chmod(0o600)
    key = sealing.strip(key_secret("sealed-secrets-keyabc", "2026-01-01T00:00:00Z"), "kube-system")
    backup = tmp_path / "keys.age"
    backup.write_bytes(sealing.encrypt([key], [ident.to_public()]))
    src = source(tmp_path, sealed_docs(), "controller.yaml")
    profile = make_profile(
        sealed_secrets={"source": src, "key_backup": str(backup), "age_identity": str(identity)}
    )
    running = [
        *installed(sealed_docs(), "kube-system"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "sealed-secrets-controller-x",
                "namespace": "kube-system",
                "labels": {"name": "sealed-secrets-controller"},
            },
            "status": {"startTime": "2026-01-01T00:00:00Z"},
        },
    ]
    fresh = [c.summary for c in SealedSecrets().plan(context(tmp_path, profile, []))]
    assert fresh == [
        "restore 1 sealing keys into kube-system before the controller starts "
        "(sealed-secrets-keyabc)",
        "install Sealed Secrets v0.36.6 into kube-system",
    ]
    late = [c.summary for c in SealedSecrets().plan(context(tmp_path, profile, running))]
    assert late == [
        "restore 1 sealing keys into kube-system before the controller starts "
        "(sealed-secrets-keyabc)",
        "restart the controller: it started before the restored keys existed and loads keys "
        "only at startup",
    ]
    restored = {**key, "metadata": {**key["metadata"], "creationTimestamp": "2025-12-31T00:00:00Z"}}
    done = [
        c.summary for c in SealedSecrets().plan(context(tmp_path, profile, [*running, restored]))
    ]
    assert done == []


@pytest.mark.parametrize(
    ("ingress", "address", "inside"),
    [
        ([{"ip": "198.51.100.3"}], "198.51.100.3", True),  # already there
        ([{"ip": "10.0.0.7"}], "10.0.0.7", False),
        ([{"ip": "2001:db8::1"}], "2001:db8::1", False),
        ([{"hostname": "address_pool.elsewhere.example"}], "address_pool.elsewhere.example", False),
        ([], None, None),
    ],
)
def test_the_probe_address_is_judged_against_the_pool_whatever_shape_it_has(
    ingress: list[dict[str, str]], address: str | None, inside: bool | None
) -> None:
    from bootstrap.components.metallb import address_pool

    service = {"status": {"loadBalancer": {"ingress": ingress}}}
    assert address_pool.probe_address(service) == address
    if address is not None:
        assert address_pool.in_pool(address, "198.51.100.0/28") is inside


NESTED = """argoproj.io/Application:
  health.lua: |
    hs = {}
    hs.status = "Healthy"
    return hs
"""


@pytest.mark.parametrize(
    ("nested", "flat_added"),
    [
        (None, True),  # a plain install: clusterboot's flat key
        (NESTED, False),  # the chart's values already hold one, nested: no second form
        ("apps/Deployment:\n  health.lua: x\n", True),  # nested, but not for Applications
        ("{not: [yaml", True),
    ],
)
def test_the_health_check_is_added_only_where_argocd_cm_has_none_in_either_form(
    nested: str | None, flat_added: bool
) -> None:
    docs = upstream_like.argocd("v3.2.11")
    config = install.find(docs, "ConfigMap", "argocd-cm")
    assert config is not None
    if nested is not None:
        config.setdefault("data", {})[setup.NESTED_KEY] = nested
    prepared = install.find(setup.prepare(docs, "argocd"), "ConfigMap", "argocd-cm")
    data = (prepared or {}).get("data") or {}
    assert (setup.HEALTH_KEY in data) is flat_added
    assert setup.has_health_check(data)
    wanted = setup.keys(setup.prepare(docs, "argocd"), "argocd")[-1].want
    assert list(wanted) == [f"data {setup.HEALTH_KEY if flat_added else setup.NESTED_KEY}"]


def _pod(name: str, created: str, *, ready: bool, app: str = "argocd-repo-server") -> Any:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"app.kubernetes.io/name": app},
        },
        "status": {"conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def _stuck(pod: Any) -> Any:
    """``pod`` as the kubelet reports it when Secret argocd-redis is missing."""
    waiting = {
        "reason": "CreateContainerConfigError",
        "message": f'secret "{setup.REDIS_SECRET}" not found',
    }
    pod["status"]["containerStatuses"] = [{"name": "c", "state": {"waiting": waiting}}]
    return pod


@pytest.mark.parametrize(
    ("pod", "restarted"),
    [
        (_pod("before", "2026-01-01T10:00:00Z", ready=False), True),
        (_pod("same-second-starting", "2026-01-01T10:00:05Z", ready=False), False),
        (_stuck(_pod("same-second-stuck", "2026-01-01T10:00:05Z", ready=False)), True),
        (_pod("before-but-ready", "2026-01-01T10:00:00Z", ready=True), False),
        (_pod("after", "2026-01-01T10:00:06Z", ready=False), False),
        (_pod("not-argo", "2026-01-01T10:00:00Z", ready=False, app="redis-ha"), False),
    ],
)
def test_only_unready_argocd_pods_older_than_the_redis_secret_are_restarted(
    pod: Any, restarted: bool
) -> None:
    secret = {"metadata": {"creationTimestamp": "2026-01-01T10:00:05Z"}}
    names = [pod["metadata"]["name"]] if restarted else []
    assert setup.redis_race_victims([pod], secret) == names


def test_no_pod_is_restarted_while_the_redis_secret_is_missing() -> None:
    stuck = _pod("stuck", "2026-01-01T10:00:00Z", ready=False)
    assert setup.redis_race_victims([stuck], None) == []
    assert "argocd-redis-secret-init" in setup.redis_secret_missing_hint("argocd")


def test_a_new_sync_timeout_is_written_and_rolls_the_controller_pods(tmp_path: Path) -> None:
    src = source(tmp_path, upstream_like.argocd("v3.2.11"), "install.yaml")
    profile = make_profile(argocd={"source": src, "sync_timeout_seconds": 900})
    before = setup.prepare(upstream_like.argocd("v3.2.11"), "argocd", sync_timeout=600)
    have = [*installed(before, "argocd"), setup.default_project("argocd")]
    rolled = f"template-annotation {setup.TIMEOUT_ANNOTATION}"
    assert [c.summary for c in ArgoCD().plan(context(tmp_path, profile, have))] == [
        f"repair Argo CD v3.2.11: StatefulSet argocd/argocd-application-controller {rolled} "
        f"differs; ConfigMap argocd/argocd-cmd-params-cm data {setup.SYNC_TIMEOUT_KEY} "
        "differs into argocd (with the Application health check in argocd-cm)"
    ]
    after = setup.prepare(upstream_like.argocd("v3.2.11"), "argocd", sync_timeout=900)
    controller = install.find(after, "StatefulSet", setup.CONTROLLER) or {}
    template = controller["spec"]["template"]["metadata"]["annotations"]
    assert template[setup.TIMEOUT_ANNOTATION] == "900"  # the change rolls its pods


def test_an_interrupted_change_of_the_timeout_still_rolls_the_controller(tmp_path: Path) -> None:
    """The ConfigMap got the new value, the StatefulSet did not yet: not up to date."""
    src = source(tmp_path, upstream_like.argocd("v3.2.11"), "install.yaml")
    profile = make_profile(argocd={"source": src, "sync_timeout_seconds": 900})
    have = installed(
        setup.prepare(upstream_like.argocd("v3.2.11"), "argocd", sync_timeout=600),
        "argocd",
    )
    for obj in have:
        if obj["metadata"]["name"] == setup.PARAMS:
            obj["data"][setup.SYNC_TIMEOUT_KEY] = "900"
    have.append(setup.default_project("argocd"))
    planned = [c.summary for c in ArgoCD().plan(context(tmp_path, profile, have))]
    assert len(planned) == 1
    assert planned[0].startswith(
        "repair Argo CD v3.2.11: StatefulSet argocd/argocd-application-controller "
        f"template-annotation {setup.TIMEOUT_ANNOTATION} differs into"
    )


@pytest.mark.parametrize(
    ("manifest_value", "profile_value", "expected"),
    [
        (None, 600, "600"),  # upstream's argocd-cmd-params-cm has no data: ours goes in
        ("120", 600, "120"),  # a value the manifest or chart sets is kept
        (None, 0, None),  # 0: Argo CD's default (no timeout), nothing written
    ],
)
def test_the_sync_timeout_goes_into_argocd_cmd_params_cm_unless_already_set(
    manifest_value: str | None, profile_value: int, expected: str | None
) -> None:
    docs = upstream_like.argocd("v3.2.11")
    if manifest_value is not None:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": setup.PARAMS},
                "data": {setup.SYNC_TIMEOUT_KEY: manifest_value},
            }
        )
    prepared = setup.prepare(docs, "argocd", sync_timeout=profile_value)
    params = install.find(prepared, "ConfigMap", setup.PARAMS) or {}
    assert (params.get("data") or {}).get(setup.SYNC_TIMEOUT_KEY) == expected
    assert setup.sync_timeout(prepared) == int(expected or 0)


def test_the_installs_other_workloads_are_not_waited_for_but_named() -> None:
    docs = upstream_like.argocd("v3.2.11")

    ungated = setup.ungated_workloads(docs, "argocd")

    names = {ref.name for ref in ungated}
    assert names == {"argocd-applicationset-controller"}
    assert names.isdisjoint({ref.name for ref in setup.gated_workloads(docs, "argocd")})
    assert all(ref.namespace == "argocd" for ref in ungated)


def test_the_root_gate_waits_for_a_reconcile_of_the_spec_just_applied(tmp_path: Path) -> None:
    from stages.root_app import RootApp

    profile = make_profile(argocd={"enabled": True}).model_copy(update={
        "root_app": Profile.model_validate({
            "name": "p", "cluster": {"provider": "local", "name": "c"},
            "root_app": {"repo_url": "https://git.example/r.git", "path": "clusters/new"},
        }).root_app,
    })
    new = {"repoURL": "https://git.example/r.git", "path": "clusters/new",
           "targetRevision": "HEAD"}
    old = {**new, "path": "clusters/old"}
    root = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "root", "namespace": "argocd"},
            "spec": {"source": new},
            "status": {"reconciledAt": "2026-12-07T03:00:47Z",
                       "sync": {"status": "Synced", "comparedTo": {"source": old}}}}
    verdict = RootApp().gate(context(tmp_path, profile, [root]))
    assert not verdict.ok
    assert "new spec: status compared against an older spec" in verdict.why
    root["status"]["sync"]["comparedTo"]["source"] = new
    assert RootApp().gate(context(tmp_path, profile, [root])).ok
