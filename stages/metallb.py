"""metallb: MetalLB in native mode from its pinned manifest, the address pool from the profile
(or the range the cluster stage found on the Docker network), and a probe LoadBalancer.

Gates (contracts §4): controller and speaker rolled out; the webhook really serving (ready
endpoints behind its Service, and its CA injected where a controller runs); the pool and
L2Advertisement in place; and, where a load balancer can work, a probe Service with an address.
Skipped on EKS, where MetalLB does not work.

``mode: processes`` (local provider): upstream's manifest from the module the controller is
built from, its webhooks pointed at 127.0.0.1, and the real controller run by the local
cluster's keeper (bootstrap/components/metallb/processes.py): the pool goes through its real
webhook and the probe Service gets a real address from the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bootstrap import artifacts
from bootstrap.artifacts import install
from bootstrap.components.metallb import address_pool, processes
from bootstrap.controlplane import accounts, pki
from bootstrap.errors import InputError, StageFailed, TemporaryError
from bootstrap.kube.client import ObjectRef
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, Context, Verdict
from stages.platform_component import PlatformComponent

TITLE = "MetalLB"


class MetalLB(PlatformComponent):
    name = "metallb"
    build_dir = staticmethod(processes.bin_dir)

    def skip_reason(self, profile: Profile) -> str | None:
        if (off := super().skip_reason(profile)) is not None:
            return off
        if profile.cluster.provider == "eks":
            return (
                "MetalLB does not work on EKS (AWS is not a supported cloud); LoadBalancer "
                "Services there use AWS load balancers"
            )
        return None

    def preflight(self, ctx: Context) -> None:
        """The pinned manifest is at hand and verified (downloaded now, or from the bundle);
        in processes mode, the local build, and an isolated namespace to run it in."""
        if not self._processes(ctx):
            artifact = artifacts.artifact_for(ctx.profile, "metallb")
            artifacts.Store.for_profile(ctx.profile).path(artifact)
            return
        processes.verify(self._bin_dir(ctx))
        isolated = ctx.profile.cluster.local.isolation == "netns"
        if not isolated or ctx.options.get("unisolated"):
            raise InputError(
                "components.metallb.mode: processes needs the cluster's own network namespace: "
                "MetalLB's controller listens on every interface",
                hint="drop --unisolated (and cluster.local.isolation: none), or turn MetalLB off",
            )

    def docs(self, ctx: Context) -> list[install.Doc]:
        """The manifest, its namespace labelled privileged for Pod Security Admission."""
        if self._processes(ctx):
            layout = self._plane(ctx).layout
            upstream = install.manifest_file(self._bin_dir(ctx) / processes.MANIFEST)
            ca = pki.Pki(layout.pki_dir).ca_cert.read_bytes()
            docs = processes.local_objects(upstream, ca)
        else:
            docs = install.manifest(ctx, "metallb", namespace=address_pool.NAMESPACE)
        return install.ensure_namespace(docs, address_pool.NAMESPACE, address_pool.PRIVILEGED)

    def pool(self, ctx: Context) -> str:
        pool = address_pool.addresses(ctx.profile, ctx.cluster)
        if pool is None:
            raise StageFailed(
                self.name,
                "choose the address pool",
                cause=f"the {ctx.cluster.provider} cluster has no address range",
                hint="set components.metallb.address_pool (or cluster.lb_range)",
            )
        return pool

    def plan(self, ctx: Context) -> Iterator[Change]:
        ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster exists; fetch nothing
        docs = self.docs(ctx)
        keys = install.keys_of(docs, namespace=address_pool.NAMESPACE)
        version = ctx.profile.components.metallb.version
        what = install.decide(TITLE, version, keys, install.observe(ctx.kube, keys))
        if what:
            yield Change(
                what, lambda c: install.apply(c, docs, namespace=address_pool.NAMESPACE, what=what)
            )
        if self._processes(ctx):
            yield from self._processes_plan(ctx)
        pool = self.pool(ctx)
        change = address_pool.pool_change(pool, *address_pool.observe_pool(ctx.kube))
        if change:
            yield Change(f"{change} (retried until the webhook serves)", self._apply_pool)
        wanted, _ = address_pool.probe_wanted(ctx.profile, ctx.cluster)
        if (
            wanted
            and ctx.kube.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE) is None
        ):
            yield Change(
                f"apply LoadBalancer Service {address_pool.NAMESPACE}/{address_pool.PROBE} (probe)",
                lambda c: _apply(c, address_pool.probe_service()),
            )

    def _processes_plan(self, ctx: Context) -> Iterator[Change]:
        plane = self._plane(ctx)
        wanted = processes.components(
            plane.layout, directory=self._bin_dir(ctx), namespace=address_pool.NAMESPACE
        )
        running = plane.extra_components(group=processes.GROUP)
        credentials = processes.kubeconfig(plane.layout).is_file()
        if running != wanted or not plane.alive(processes.NAME) or not credentials:
            yield Change(
                "run MetalLB's controller as a local process in the cluster's namespace "
                f"(webhooks on 127.0.0.1:{processes.WEBHOOK_PORT}, its ServiceAccount's rights)",
                lambda c: self._start_process(c, wanted),
            )

    def _start_process(self, ctx: Context, wanted: list[dict[str, Any]]) -> None:
        plane = self._plane(ctx)
        secret = accounts.token_secret(
            processes.TOKEN_SECRET, address_pool.NAMESPACE, processes.ACCOUNT
        )
        token = self._account_token(ctx, secret)
        processes.write_kubeconfig(plane.layout, token=token, namespace=address_pool.NAMESPACE)
        processes.write_serving_cert(plane.layout)
        plane.set_extra_components(wanted, group=processes.GROUP, clock=ctx.clock)

    def _apply_pool(self, ctx: Context) -> None:
        """The pool once the controller has rolled out, retried while its webhook comes up:
        the race window starts when the webhook can serve, not while images are pulled."""
        controllers = [
            install.ref_of(d, address_pool.NAMESPACE)
            for d in self.docs(ctx)
            if install.kind_of(d) == ("apps", "Deployment")
        ]
        if controllers:
            rolled = install.await_ready(ctx, controllers, what="MetalLB controller rollout")
            if not rolled.ok:
                raise StageFailed(
                    self.name,
                    "wait for the controller before applying the pool",
                    cause="; ".join((rolled.why, *rolled.blocking)),
                    hint="its webhook validates the pool; see the controller pod's events",
                )
        try:
            address_pool.apply_pool(ctx, self.pool(ctx))
        except TemporaryError as err:
            kwok_only = ctx.cluster.provider == "local" and not self._processes(ctx)
            if not kwok_only or "failed calling webhook" not in err.message:
                raise
            raise StageFailed(
                self.name,
                "apply the address pool",
                cause=err.message,
                hint="kwok runs no containers, so on the local cluster a webhook served by a "
                "MetalLB pod never answers; turn MetalLB off there (components.metallb.enabled)",
            ) from err

    def gate(self, ctx: Context) -> Verdict:
        docs = self.docs(ctx)
        workloads = [
            install.ref_of(d, address_pool.NAMESPACE)
            for d in docs
            if install.kind_of(d) in install.WORKLOADS
        ]
        ready = install.await_ready(
            ctx, [*install.crd_refs(docs), *workloads], what="MetalLB controller and speaker"
        )
        if not ready.ok:
            return ready
        local = ctx.cluster.provider == "local"
        if self._processes(ctx):
            serving = self._process_serving(ctx)
        else:
            serving = address_pool.webhook_serving(ctx.kube, docs, check_ca=not local)
        if not serving.ok:
            return serving
        pool = self.pool(ctx)
        if address_pool.pool_change(pool, *address_pool.observe_pool(ctx.kube)):
            return Verdict.waiting(
                f"IPAddressPool {address_pool.NAMESPACE}/{address_pool.POOL} is not {pool} yet"
            )
        probe = self._probe(ctx, pool)
        if not probe.ok:
            return probe
        ca = (
            ""
            if not local or self._processes(ctx)
            else (" (CA injection not checked: kwok runs no controller)")
        )
        return Verdict.passed(f"{ready.why}; webhook: {serving.why}{ca}; pool {pool}; {probe.why}")

    def _process_serving(self, ctx: Context) -> Verdict:
        plane = self._plane(ctx)
        if plane.alive(processes.NAME):
            return Verdict.passed(
                f"served by the local controller on 127.0.0.1:{processes.WEBHOOK_PORT}"
            )
        log = plane.layout.log_file(processes.NAME)
        return Verdict.waiting("MetalLB's controller process is not running", f"see {log}")

    def _probe(self, ctx: Context, pool: str) -> Verdict:
        wanted, why_not = address_pool.probe_wanted(ctx.profile, ctx.cluster)
        if not wanted:
            return Verdict.passed(f"LoadBalancer probe {why_not}")
        ref = ObjectRef("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
        got = install.await_ready(ctx, [ref], what="the probe LoadBalancer address")
        if not got.ok:
            return got
        address = address_pool.probe_address(
            ctx.kube.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
        )
        if address is None or not address_pool.in_pool(address, pool):
            return Verdict.broken(
                f"probe Service got {address}, outside the MetalLB pool {pool}: another load "
                "balancer answers (k3s ServiceLB? disable it before MetalLB)",
                str(ref),
            )
        return Verdict.passed(f"LoadBalancer probe got {address}")


def _apply(ctx: Context, obj: install.Doc) -> None:
    ctx.kube.apply(obj)
