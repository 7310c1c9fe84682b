"""MetalLB beyond its manifest (contracts §4): the address pool and L2Advertisement, applied
while retrying the webhook race; whether the webhook really serves (ready endpoints behind its
Service, its CA injected); and the probe LoadBalancer Service that must receive an address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bootstrap import kube, retry
from bootstrap.errors import TemporaryError
from bootstrap.kube.client import Kube
from bootstrap.profile.schema import Profile, parse_address_range
from bootstrap.stage import ClusterInfo, Context, Verdict

NAMESPACE = "metallb-system"
POOL = "default"
PROBE = "clusterboot-lb-probe"
API = "metallb.io/v1beta1"
PRIVILEGED = {f"pod-security.kubernetes.io/{m}": "privileged" for m in ("enforce", "audit", "warn")}
MANAGED = {"app.kubernetes.io/managed-by": "clusterboot"}
# The controller's probes hit /metrics, so a Ready pod does not mean its webhook serves: retry
# the pool every second or two for up to two minutes (contracts §4, "Webhook race").
WEBHOOK_RACE = retry.Policy("metallb-webhook", attempts=80, first_delay=0.5, max_delay=2.0)
WEBHOOK_RACE_SECONDS = 120.0
Doc = dict[str, Any]


def addresses(profile: Profile, cluster: ClusterInfo) -> str | None:
    """The pool: the profile's, else the range the cluster stage found (Docker network)."""
    return profile.components.metallb.address_pool or cluster.lb_range


def pool_docs(pool: str) -> list[Doc]:
    meta = {"namespace": NAMESPACE, "labels": MANAGED}
    return [
        {
            "apiVersion": API,
            "kind": "IPAddressPool",
            "metadata": {"name": POOL, **meta},
            "spec": {"addresses": [pool]},
        },
        {
            "apiVersion": API,
            "kind": "L2Advertisement",
            "metadata": {"name": POOL, **meta},
            "spec": {"ipAddressPools": [POOL]},
        },
    ]


def observe_pool(kube: Kube) -> tuple[list[str] | None, list[str] | None]:
    """(the pool's addresses, the L2Advertisement's pools); None where absent or not served."""
    found: list[list[str] | None] = []
    for kind, field in (("IPAddressPool", "addresses"), ("L2Advertisement", "ipAddressPools")):
        try:
            obj = kube.get(API, kind, POOL, NAMESPACE)
        except TemporaryError:  # the CRDs are not installed yet
            obj = None
        found.append(None if obj is None else list((obj.get("spec") or {}).get(field) or []))
    return found[0], found[1]


def pool_change(pool: str, have_pool: list[str] | None, have_l2: list[str] | None) -> str | None:
    """What to apply so the pool and its L2Advertisement match ``pool``; None when they do."""
    parts = []
    if have_pool != [pool]:
        was = f" (was {', '.join(have_pool)})" if have_pool else ""
        parts.append(f"IPAddressPool {NAMESPACE}/{POOL} {pool}{was}")
    if have_l2 != [POOL]:
        parts.append(f"L2Advertisement {NAMESPACE}/{POOL}")
    return f"apply {' and '.join(parts)}" if parts else None


def apply_pool(ctx: Context, pool: str) -> None:
    deadline = min(WEBHOOK_RACE_SECONDS, float(ctx.profile.timeouts.stage_seconds))
    result = kube.apply_manifests(
        ctx.kube,
        pool_docs(pool),
        namespace=NAMESPACE,
        clock=ctx.clock,
        deadline=deadline,
        policy=WEBHOOK_RACE,
    )
    ctx.log.info("metallb.pool", pool=pool, summary=result.summary(), retries=result.retries)


# -- the webhook ----------------------------------------------------------------------------
def webhook_services(docs: Iterable[Doc]) -> list[str]:
    """The webhook's Service: `metallb-webhook-service` (≥ v0.14), `webhook-service` before."""
    return [
        d["metadata"]["name"]
        for d in docs
        if d.get("kind") == "Service" and d["metadata"]["name"].endswith("webhook-service")
    ]


def ready_endpoints(slices: Iterable[Mapping[str, Any]]) -> int:
    """Addresses of ready endpoints (an unset ``ready`` counts as ready, as the API says)."""
    return sum(
        len(e.get("addresses") or [])
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False
    )


def missing_ca(webhook_configs: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """Webhooks whose caBundle the controller has not injected yet."""
    return [
        str(w.get("name"))
        for config in webhook_configs
        if config is not None
        for w in config.get("webhooks") or []
        if not (w.get("clientConfig") or {}).get("caBundle")
    ]


def webhook_serving(kube: Kube, docs: Sequence[Doc], *, check_ca: bool) -> Verdict:
    """Ready endpoints behind the webhook Service (and its CA injected, where a controller
    really runs): the stronger gate of contracts §4."""
    counts = {}
    for service in webhook_services(docs):
        slices, _ = kube.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace=NAMESPACE,
            label_selector=f"kubernetes.io/service-name={service}",
        )
        counts[service] = ready_endpoints(slices)
    idle = [
        f"Service {NAMESPACE}/{name}: no ready endpoints" for name, n in counts.items() if not n
    ]
    if idle:
        return Verdict.waiting("the webhook has no ready endpoints yet", *idle)
    why = ", ".join(f"{name} has {n} ready endpoints" for name, n in counts.items())
    if check_ca:
        configs = [
            kube.get(d["apiVersion"], d["kind"], d["metadata"]["name"])
            for d in docs
            if d.get("kind") == "ValidatingWebhookConfiguration"
        ]
        pending = missing_ca(configs)
        if pending:
            return Verdict.waiting(
                "the controller has not injected the webhook CA yet",
                *(f"webhook {name}: no caBundle" for name in pending),
            )
        why += ", CA injected"
    return Verdict.passed(why or "no webhook Service in the manifest")


# -- the probe ------------------------------------------------------------------------------
def probe_wanted(profile: Profile, *, controller_runs: bool) -> tuple[bool, str]:
    """Whether a LoadBalancer can get an address here, and why not."""
    asked = profile.components.metallb.probe
    if asked is not None:
        return asked, "turned off in the profile (components.metallb.probe: false)"
    if not controller_runs:
        return False, (
            "skipped on the local cluster: kwok runs no MetalLB controller, so "
            "nothing would assign the address (mode: processes runs a real one)"
        )
    return True, ""


def probe_service() -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": PROBE,
            "namespace": NAMESPACE,
            "labels": MANAGED,
            "annotations": {"metallb.io/address-pool": POOL},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": PROBE},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
        },
    }


def probe_address(service: Mapping[str, Any] | None) -> str | None:
    """The probe's first address: an IP, else a hostname (another load balancer's)."""
    ingress = ((service or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    ips = [str(i["ip"]) for i in ingress if i.get("ip")]
    names = [str(i["hostname"]) for i in ingress if i.get("hostname")]
    return next(iter(ips + names), None)


def in_pool(address: str, pool: str) -> bool:
    """Whether ``address`` lies in the IPv4 ``pool``; a hostname or an IPv6 address does not."""
    first, last = parse_address_range(pool)
    try:
        found = ipaddress.ip_address(address)
    except ValueError:
        return False
    return found.version == 4 and int(first) <= int(found) <= int(last)
