"""argocd: Argo CD's pinned install.yaml, server-side applied into its namespace, with the
Application health check in ``argocd-cm`` (applied with the install, so before any root app).

Gates (contracts §3): the CRDs Established, repo-server,
application-controller, redis and server rolled out, the ``default`` AppProject present and the
health check in place. argocd-server creates that project at startup; on the local cluster no
server process runs (kwok), so there this stage creates it the way the server would, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bootstrap.artifacts import install
from bootstrap.components.argocd import processes, setup
from bootstrap.errors import TemporaryError
from bootstrap.kube.client import ObjectRef
from bootstrap.stage import Change, Context, Verdict
from stages import platform_component
from stages.platform_component import PlatformComponent

TITLE = "Argo CD"


def _namespace(ctx: Context) -> str:
    return ctx.profile.components.argocd.namespace


def _sync_timeout(ctx: Context) -> int:
    return ctx.profile.components.argocd.sync_timeout_seconds


class FromManifest(platform_component.FromManifest):
    @property
    def makes_project(self) -> bool:
        """Whether this stage creates the ``default`` AppProject: argocd-server does at
        startup, where it runs."""
        return not self.controllers_run

    def docs(self, ctx: Context) -> list[install.Doc]:
        manifest = self.manifest(ctx, _namespace(ctx))
        return setup.prepare(manifest, _namespace(ctx), sync_timeout=_sync_timeout(ctx))

    def ready_names(self, workloads: list[ObjectRef]) -> list[str]:
        return [r.name for r in workloads]


class AsProcesses(platform_component.AsProcesses):
    makes_project = True  # no argocd-server process runs
    group = "argocd"

    def preflight(self, ctx: Context) -> None:
        """The local build is there and its manifest parses whole."""
        processes.install_objects(processes.verify(self.bin_dir()))

    def docs(self, ctx: Context) -> list[install.Doc]:
        objects = processes.install_objects(self.bin_dir())
        return setup.prepare(objects, _namespace(ctx), sync_timeout=_sync_timeout(ctx))

    def plan(self, ctx: Context, docs: list[install.Doc]) -> Iterator[Change]:
        plane = self.plane(ctx)
        wanted = processes.components(
            plane.layout,
            directory=self.bin_dir(),
            namespace=_namespace(ctx),
            sync_timeout=setup.sync_timeout(docs),
        )
        running = plane.extra_components(group=self.group)
        alive = all(plane.alive(c["name"]) for c in wanted)
        if running != wanted or not alive or not self.plane_current(ctx):
            names = ", ".join(processes.NAMES)
            yield Change(
                f"run Argo CD as local processes {plane.where} ({names})",
                lambda c: self._start(c, wanted),
            )

    def _start(self, ctx: Context, wanted: list[dict[str, Any]]) -> None:
        plane = self.started_plane(ctx)
        processes.write_kubeconfig(plane.layout, namespace=_namespace(ctx))
        plane.set_extra_components(wanted, group=self.group, clock=ctx.clock)

    def running(self, ctx: Context) -> Verdict:
        plane = self.plane(ctx)
        dead = [name for name in processes.NAMES if not plane.alive(name)]
        if dead:
            return Verdict.waiting(
                f"Argo CD processes not running: {', '.join(dead)}",
                *(f"see {plane.layout.log_file(name)}" for name in dead),
            )
        return Verdict.passed()

    def ready_names(self, workloads: list[ObjectRef]) -> list[str]:
        return list(processes.NAMES)


class ArgoCD(PlatformComponent):
    name = "argocd"
    build_dir = staticmethod(processes.bin_dir)

    def mode(self, ctx: Context) -> FromManifest | AsProcesses:
        chosen = AsProcesses if self.runs_processes(ctx.profile) else FromManifest
        return chosen(self, ctx.profile)

    @staticmethod
    def namespace(ctx: Context) -> str:
        return _namespace(ctx)

    def docs(self, ctx: Context) -> list[install.Doc]:
        return self.mode(ctx).docs(ctx)

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
        how = self.mode(ctx)
        if how.makes_project and not self._has_project(ctx):
            yield Change(
                f"create AppProject {ns}/default (argocd-server would at startup; "
                "no server runs here)",
                lambda c: _apply(c, setup.default_project(ns)),
            )
        yield from how.plan(ctx, docs)
        victims = self._redis_race_victims(ctx)
        if victims:
            yield Change(
                f"restart {', '.join(victims)}: created before Secret "
                f"{ns}/{setup.REDIS_SECRET} (argocd-redis Secret race, #18993)",
                lambda c: self._restart(c, victims),
            )

    def _redis_race_victims(self, ctx: Context) -> list[str]:
        """Pods that lost the argocd-redis Secret race: restarting them is the contract's
        remedy (they never pick the Secret up by themselves)."""
        ns = self.namespace(ctx)
        try:
            pods, _ = ctx.kube.list("v1", "Pod", namespace=ns)
        except TemporaryError:
            return []
        return setup.redis_race_victims(pods, ctx.kube.get("v1", "Secret", setup.REDIS_SECRET, ns))

    def _restart(self, ctx: Context, victims: list[str]) -> None:
        ns = self.namespace(ctx)
        for name in victims:
            ctx.kube.delete("v1", "Pod", name, ns)
        ctx.log.warning("argocd.redis_race", namespace=ns, restarted=victims)

    def _has_project(self, ctx: Context) -> bool:
        try:
            return setup.has_project(ctx.kube, self.namespace(ctx))
        except TemporaryError:  # AppProject is not served yet: its CRD comes with the install
            return False

    def gate(self, ctx: Context) -> Verdict:
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        crds = install.crd_refs(docs)
        established = install.readiness(ctx, crds)
        if not established.ok:
            return established
        how = self.mode(ctx)
        running = how.running(ctx)
        if not running.ok:
            return running
        workloads = setup.gated_workloads(docs, ns)
        ready = install.readiness(ctx, workloads)
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
        names = ", ".join(how.ready_names(workloads))
        return Verdict.passed(
            f"{len(crds)} CRDs Established; {names} ready; AppProject default "
            "present; Application health check in argocd-cm" + self._ungated_note(ctx, docs)
        )

    def _ungated_note(self, ctx: Context, docs: list[setup.Doc]) -> str:
        """What of the rest of the install is not ready (dex without its image, say): nothing
        clusterboot needs, so it does not wait, but a user should not have to find it."""
        if ctx.profile.components.argocd.mode != "manifests":
            return ""  # as processes, only the gated components run
        others = install.readiness(ctx, setup.ungated_workloads(docs, self.namespace(ctx)))
        if others.ok:
            return ""
        return f"; not waited for, and not ready: {'; '.join((others.why, *others.blocking))}"

    def _not_ready(self, ctx: Context, ready: Verdict) -> Verdict:
        """Pods that lost the argocd-redis Secret race make the engine plan again (the plan
        restarts them); anything else is reported as it is."""
        ns = self.namespace(ctx)
        victims = self._redis_race_victims(ctx)
        if victims:
            return Verdict(
                False,
                f"{len(victims)} Argo CD pods were created before Secret "
                f"{ns}/{setup.REDIS_SECRET} (#18993): they must be restarted",
                tuple(f"Pod {ns}/{name}" for name in victims),
                watching=ready.watching,
                replan=True,
            )
        secret = ctx.kube.get("v1", "Secret", setup.REDIS_SECRET, ns)
        waits_for_secret = any(
            "CreateContainerConfigError" in b and setup.REDIS_SECRET in b for b in ready.blocking
        )
        hint = (setup.redis_secret_missing_hint(ns),) if waits_for_secret and not secret else ()
        return Verdict(
            False,
            ready.why,
            (*ready.blocking, *hint),
            failed=ready.failed,
            watching=ready.watching,
        )


def _apply(ctx: Context, obj: install.Doc) -> None:
    ctx.kube.apply(obj)
