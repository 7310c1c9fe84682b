"""metallb: MetalLB in native mode from its pinned manifest, the address pool from the profile
(or the range the cluster stage found on the Docker network), and a probe LoadBalancer.

Gates (contracts §4): controller and speaker rolled out; the webhook really serving (ready
endpoints behind its Service, and its CA injected where a controller runs); the pool and
L2Advertisement in place; and, where a load balancer can work, a probe Service with an address.
Skipped on EKS, where MetalLB does not work.

``mode: processes``: upstream's manifest from the module the controller is
built from, its webhooks pointed at 127.0.0.1, and the real controller run by the local
cluster's keeper (bootstrap/components/metallb/processes.py): the pool goes through its real
webhook and the probe Service gets a real address from the pool. For another cluster it runs on
the process host, without webhooks (the API server cannot call it there).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bootstrap.artifacts import install
from bootstrap.components.metallb import address_pool, processes
from bootstrap.controlplane import accounts
from bootstrap.errors import GateFailed, InputError, StageFailed, TemporaryError
from bootstrap.kube.client import ObjectRef
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, Context, Verdict
from stages import platform_component
from stages.platform_component import PlatformComponent

TITLE = "MetalLB"
SIMULATED = platform_component.SIMULATED


class FromManifest(platform_component.FromManifest):
    def docs(self, ctx: Context) -> list[install.Doc]:
        return self.manifest(ctx, address_pool.NAMESPACE)

    def serving(self, ctx: Context, docs: list[install.Doc]) -> Verdict:
        """The webhook's endpoints, and its CA where a controller runs to inject it."""
        serving = address_pool.webhook_serving(ctx.kube, docs, check_ca=self.controllers_run)
        if serving.ok and not self.controllers_run:
            return Verdict.passed(f"{serving.why} (CA injection not checked: {SIMULATED})")
        return serving


class AsProcesses(platform_component.AsProcesses):
    group = processes.GROUP

    def preflight(self, ctx: Context) -> None:
        """The local build (its manifest parses whole), and an isolated namespace to run it
        in."""
        processes.verify(self.bin_dir())
        install.manifest_file(self.bin_dir() / processes.MANIFEST, rebuild=processes.BUILD_HINT)
        isolated = ctx.profile.cluster.local.isolation == "netns"
        local = ctx.profile.cluster.provider == "local"
        if local and (not isolated or ctx.options.get("unisolated")):
            raise InputError(
                "components.metallb.mode: processes needs the cluster's own network namespace: "
                "MetalLB's controller listens on every interface",
                hint="drop --unisolated (and cluster.local.isolation: none), or turn MetalLB off",
            )

    def webhooks(self, ctx: Context) -> bool:
        """The API server can call the controller (it runs in the cluster's namespace)."""
        return self.plane(ctx).webhooks_reachable

    def docs(self, ctx: Context) -> list[install.Doc]:
        """Upstream's manifest from the module, its webhooks pointed at the local process (or
        left out where the API server cannot call it)."""
        upstream = install.manifest_file(
            self.bin_dir() / processes.MANIFEST, rebuild=processes.BUILD_HINT
        )
        if not self.webhooks(ctx):
            return processes.without_webhooks(upstream)
        return processes.local_objects(upstream, self.cluster_ca(ctx))

    def plan(self, ctx: Context, docs: list[install.Doc]) -> Iterator[Change]:
        plane, webhooks = self.plane(ctx), self.webhooks(ctx)
        wanted = processes.components(
            plane.layout,
            directory=self.bin_dir(),
            namespace=address_pool.NAMESPACE,
            webhooks=webhooks,
        )
        running = plane.extra_components(group=self.group)
        credentials = processes.kubeconfig(plane.layout).is_file()
        alive = plane.alive(processes.NAME) and self.plane_current(ctx)
        if running != wanted or not alive or not credentials:
            serves = (
                f"webhooks on 127.0.0.1:{processes.WEBHOOK_PORT}"
                if webhooks
                else "no webhooks: the API server cannot call this machine"
            )
            yield Change(
                f"run MetalLB's controller as a local process {plane.where} ({serves}, its "
                "ServiceAccount's rights)",
                lambda c: self._start(c, wanted, webhooks=webhooks),
            )

    def _start(self, ctx: Context, wanted: list[dict[str, Any]], *, webhooks: bool) -> None:
        plane = self.started_plane(ctx)
        secret = accounts.token_secret(
            processes.TOKEN_SECRET, address_pool.NAMESPACE, processes.ACCOUNT
        )
        token = self.account_token(ctx, secret)
        processes.write_kubeconfig(plane.layout, token=token, namespace=address_pool.NAMESPACE)
        if webhooks:
            processes.write_serving_cert(plane.layout)
        plane.set_extra_components(wanted, group=self.group, clock=ctx.clock)

    def serving(self, ctx: Context, docs: list[install.Doc]) -> Verdict:
        running = self.process_running(ctx, processes.NAME, "MetalLB's controller process")
        if not running.ok:
            return running
        if not self.webhooks(ctx):
            return Verdict.passed(
                "no webhooks to serve: the API server cannot call a process on this machine"
            )
        port = processes.WEBHOOK_PORT
        return Verdict.passed(f"served by the local controller on 127.0.0.1:{port}")


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

    def mode(self, ctx: Context) -> FromManifest | AsProcesses:
        chosen = AsProcesses if self.runs_processes(ctx.profile) else FromManifest
        return chosen(self, ctx.profile)

    def docs(self, ctx: Context) -> list[install.Doc]:
        """The mode's objects, their namespace labelled privileged for Pod Security Admission."""
        docs = self.mode(ctx).docs(ctx)
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
        how = self.mode(ctx)
        docs = self.docs(ctx)
        keys = install.keys_of(docs, namespace=address_pool.NAMESPACE)
        version = ctx.profile.components.metallb.version
        what = install.decide(TITLE, version, keys, install.observe(ctx.kube, keys))
        if what:
            yield Change(
                what, lambda c: install.apply(c, docs, namespace=address_pool.NAMESPACE, what=what)
            )
        yield from how.plan(ctx, docs)
        pool = self.pool(ctx)
        change = address_pool.pool_change(pool, *address_pool.observe_pool(ctx.kube))
        if change:
            yield Change(f"{change} (retried until the webhook serves)", self._apply_pool)
        wanted, _ = address_pool.probe_wanted(ctx.profile, controller_runs=how.controllers_run)
        if (
            wanted
            and ctx.kube.get("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE) is None
        ):
            yield Change(
                f"apply LoadBalancer Service {address_pool.NAMESPACE}/{address_pool.PROBE} (probe)",
                lambda c: _apply(c, address_pool.probe_service()),
            )

    def _apply_pool(self, ctx: Context) -> None:
        """The pool once the controller has rolled out, retried while its webhook comes up:
        the race window starts when the webhook can serve, not while images are pulled."""
        controllers = [
            install.ref_of(d, address_pool.NAMESPACE)
            for d in self.docs(ctx)
            if install.kind_of(d) == ("apps", "Deployment")
        ]
        try:
            install.await_ready(ctx, controllers, what="MetalLB controller rollout")
        except GateFailed as err:  # GateTimeout too
            raise StageFailed(
                self.name,
                "wait for the controller before applying the pool",
                cause="; ".join((err.why, *err.blocking)),
                hint="its webhook validates the pool; see the controller pod's events",
            ) from err
        try:
            address_pool.apply_pool(ctx, self.pool(ctx))
        except TemporaryError as err:
            if self.mode(ctx).controllers_run or "failed calling webhook" not in err.message:
                raise
            raise StageFailed(
                self.name,
                "apply the address pool",
                cause=err.message,
                hint=f"{SIMULATED}, so a webhook served by a MetalLB pod never answers; turn "
                "MetalLB off there (components.metallb.enabled)",
            ) from err

    def gate(self, ctx: Context) -> Verdict:
        how = self.mode(ctx)
        docs = self.docs(ctx)
        workloads = [
            install.ref_of(d, address_pool.NAMESPACE)
            for d in docs
            if install.kind_of(d) in install.WORKLOADS
        ]
        ready = install.readiness(ctx, [*install.crd_refs(docs), *workloads])
        if not ready.ok:
            return ready
        serving = how.serving(ctx, docs)
        if not serving.ok:
            return serving
        pool = self.pool(ctx)
        if address_pool.pool_change(pool, *address_pool.observe_pool(ctx.kube)):
            return Verdict.waiting(
                f"IPAddressPool {address_pool.NAMESPACE}/{address_pool.POOL} is not {pool} yet"
            )
        probe = self._probe(ctx, pool, controller_runs=how.controllers_run)
        if not probe.ok:
            return probe
        return Verdict.passed(f"{ready.why}; webhook: {serving.why}; pool {pool}; {probe.why}")

    def _probe(self, ctx: Context, pool: str, *, controller_runs: bool) -> Verdict:
        wanted, why_not = address_pool.probe_wanted(ctx.profile, controller_runs=controller_runs)
        if not wanted:
            return Verdict.passed(f"LoadBalancer probe {why_not}")
        ref = ObjectRef("v1", "Service", address_pool.PROBE, address_pool.NAMESPACE)
        got = install.readiness(ctx, [ref])
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
