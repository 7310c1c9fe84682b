"""argocd: Argo CD's pinned install.yaml, server-side applied into its namespace, with the
Application health check in ``argocd-cm`` (applied with the install, so before any root app).

Gates (contracts §3): the CRDs Established (then discovery refreshed), repo-server,
application-controller, redis and server rolled out, the ``default`` AppProject present and the
health check in place. argocd-server creates that project at startup; on the local cluster no
server process runs (kwok), so there this stage creates it the way the server would, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bootstrap import artifacts
from bootstrap.artifacts import install
from bootstrap.components.argocd import processes, setup
from bootstrap.errors import TemporaryError
from bootstrap.stage import Change, Context, Verdict
from stages.platform_component import PlatformComponent

TITLE = "Argo CD"


class ArgoCD(PlatformComponent):
    name = "argocd"
    build_dir = staticmethod(processes.bin_dir)

    def __init__(self) -> None:
        self.restarted: list[str] = []

    def preflight(self, ctx: Context) -> None:
        """The pinned manifest is at hand and verified (downloaded now, or from the bundle);
        in processes mode, the locally built Argo CD instead."""
        if self._processes(ctx):  # the profile allows it on the local provider only
            processes.verify(self._bin_dir(ctx))
            return
        artifact = artifacts.artifact_for(ctx.profile, "argocd")
        artifacts.Store.for_profile(ctx.profile).path(artifact)

    @staticmethod
    def namespace(ctx: Context) -> str:
        return ctx.profile.components.argocd.namespace

    def docs(self, ctx: Context) -> list[install.Doc]:
        ns, timeout = self.namespace(ctx), ctx.profile.components.argocd.sync_timeout_seconds
        if self._processes(ctx):
            objects = processes.install_objects(self._bin_dir(ctx))
            return setup.prepare(objects, ns, sync_timeout=timeout)
        manifest = install.manifest(ctx, "argocd", namespace=ns)
        return setup.prepare(manifest, ns, sync_timeout=timeout)

    def plan(self, ctx: Context) -> Iterator[Change]:
        ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster exists; fetch nothing
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        keys = setup.keys(docs, ns)
        version = ctx.profile.components.argocd.version
        what = install.decide(TITLE, version, keys, install.observe(ctx.kube, keys))
        if what:
            summary = f"{what} into {ns} (with the Application health check in argocd-cm)"
            yield Change(summary, lambda c: install.apply(c, docs, namespace=ns, what=summary))
        if self._makes_project(ctx) and not self._has_project(ctx):
            yield Change(
                f"create AppProject {ns}/default (argocd-server would at startup; "
                "no server runs here)",
                lambda c: _apply(c, setup.default_project(ns)),
            )
        if self._processes(ctx):
            yield from self._processes_plan(ctx, docs)

    def _makes_project(self, ctx: Context) -> bool:
        return ctx.cluster.provider == "local" or self._processes(ctx)

    def _processes_plan(self, ctx: Context, docs: list[install.Doc]) -> Iterator[Change]:
        plane = self._plane(ctx)
        wanted = processes.components(
            plane.layout,
            directory=self._bin_dir(ctx),
            namespace=self.namespace(ctx),
            sync_timeout=setup.sync_timeout(docs),
        )
        running = plane.extra_components(group="argocd")
        if running != wanted or not all(plane.alive(c["name"]) for c in wanted):
            names = ", ".join(processes.NAMES)
            yield Change(
                f"run Argo CD as local processes in the cluster's namespace ({names})",
                lambda c: self._start_processes(c, wanted),
            )

    def _start_processes(self, ctx: Context, wanted: list[dict[str, Any]]) -> None:
        plane = self._plane(ctx)
        processes.write_kubeconfig(plane.layout, namespace=self.namespace(ctx))
        plane.set_extra_components(wanted, group="argocd", clock=ctx.clock)

    def _has_project(self, ctx: Context) -> bool:
        try:
            return setup.has_project(ctx.kube, self.namespace(ctx))
        except TemporaryError:  # AppProject is not served yet: its CRD comes with the install
            return False

    def gate(self, ctx: Context) -> Verdict:
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        crds = install.crd_refs(docs)
        established = install.await_ready(ctx, crds, what="Argo CD CRDs Established")
        if not established.ok:
            return established
        ctx.kube.refresh_discovery()  # the new kinds, for the root app applied next
        if self._processes(ctx):
            plane = self._plane(ctx)
            dead = [name for name in processes.NAMES if not plane.alive(name)]
            if dead:
                return Verdict.waiting(
                    f"Argo CD processes not running: {', '.join(dead)}",
                    *(f"see {plane.layout.log_file(name)}" for name in dead),
                )
        workloads = setup.gated_workloads(docs, ns)
        ready = install.await_ready(ctx, workloads, what="Argo CD components")
        if not ready.ok:
            return self._not_ready(ctx, ready)
        if not setup.has_project(ctx.kube, ns):
            return Verdict.waiting(
                f"AppProject {ns}/default not created yet (argocd-server creates it at startup)",
                f"AppProject {ns}/default",
            )
        config = ctx.kube.get("v1", "ConfigMap", "argocd-cm", ns) or {}
        if not setup.has_health_check(config.get("data") or {}):
            return Verdict.waiting(
                "argocd-cm lacks the Application health check", f"ConfigMap {ns}/argocd-cm"
            )
        names = ", ".join(processes.NAMES if self._processes(ctx) else (r.name for r in workloads))
        restarted = (
            f"; restarted {', '.join(self.restarted)} (argocd-redis Secret race)"
            if self.restarted
            else ""
        )
        return Verdict.passed(
            f"{len(crds)} CRDs Established; {names} ready; AppProject default "
            f"present; Application health check in argocd-cm{restarted}"
        )

    def _not_ready(self, ctx: Context, ready: Verdict) -> Verdict:
        """Pods that lost the argocd-redis Secret race are restarted, as the contract says to,
        and the gate waits again; anything else is reported as it is."""
        ns = self.namespace(ctx)
        pods, _ = ctx.kube.list("v1", "Pod", namespace=ns)
        secret = ctx.kube.get("v1", "Secret", setup.REDIS_SECRET, ns)
        victims = setup.redis_race_victims(pods, secret)
        if victims:
            for name in victims:
                ctx.kube.delete("v1", "Pod", name, ns)
            self.restarted.extend(v for v in victims if v not in self.restarted)
            ctx.log.warning("argocd.redis_race", namespace=ns, restarted=victims)
            return Verdict.waiting(
                f"restarted {len(victims)} Argo CD pods created before Secret "
                f"{ns}/{setup.REDIS_SECRET} (#18993); waiting for them again",
                *(f"Pod {ns}/{name}" for name in victims),
            )
        waits_for_secret = any(
            "CreateContainerConfigError" in b and setup.REDIS_SECRET in b for b in ready.blocking
        )
        hint = (setup.redis_secret_missing_hint(ns),) if waits_for_secret and not secret else ()
        return Verdict(False, ready.why, (*ready.blocking, *hint), failed=ready.failed)


def _apply(ctx: Context, obj: install.Doc) -> None:
    ctx.kube.apply(obj)
