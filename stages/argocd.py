"""argocd: Argo CD's pinned install.yaml, server-side applied into its namespace, with the
Application health check in ``argocd-cm`` (applied with the install, so before any root app).

Gates (contracts §3): the CRDs Established (then discovery refreshed), repo-server,
application-controller, redis and server rolled out, the ``default`` AppProject present and the
health check in place. argocd-server creates that project at startup; on the local cluster no
server process runs (kwok), so there this stage creates it the way the server would, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator

from bootstrap import argocd_setup as setup
from bootstrap import artifacts, install
from bootstrap.config import Profile
from bootstrap.errors import TemporaryError
from bootstrap.stage import Change, Context, Stage, Verdict

TITLE = "Argo CD"
REDIS_RACE = (
    "argocd-redis Secret race (#18993): delete the stuck pods "
    "(kubectl -n {ns} delete pod -l app.kubernetes.io/part-of=argocd) and run up again"
)


class ArgoCD(Stage):
    name = "argocd"
    needs = ("cluster",)

    def skip_reason(self, profile: Profile) -> str | None:
        if not profile.components.argocd.enabled:
            return "not enabled in the profile (components.argocd.enabled)"
        return None

    def preflight(self, ctx: Context) -> None:
        """The pinned manifest is at hand and verified (downloaded now, or from the bundle)."""
        artifact = artifacts.artifact_for(ctx.profile, "argocd")
        artifacts.Store.for_profile(ctx.profile).path(artifact)

    @staticmethod
    def namespace(ctx: Context) -> str:
        return ctx.profile.components.argocd.namespace

    def docs(self, ctx: Context) -> list[install.Doc]:
        return setup.prepare(install.manifest(ctx, "argocd"), self.namespace(ctx))

    def plan(self, ctx: Context) -> Iterator[Change]:
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
                "kwok runs no server)",
                lambda c: _apply(c, setup.default_project(ns)),
            )

    def _makes_project(self, ctx: Context) -> bool:
        return ctx.cluster.provider == "local" and ctx.profile.components.argocd.mode == "manifests"

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
        workloads = setup.gated_workloads(docs, ns)
        ready = install.await_ready(ctx, workloads, what="Argo CD components")
        if not ready.ok:
            stuck = any("CreateContainerConfigError" in b for b in ready.blocking)
            hint = (REDIS_RACE.format(ns=ns),) if stuck else ()
            return Verdict(False, ready.why, (*ready.blocking, *hint), failed=ready.failed)
        if not setup.has_project(ctx.kube, ns):
            return Verdict.waiting(
                f"AppProject {ns}/default not created yet (argocd-server creates it at startup)",
                f"AppProject {ns}/default",
            )
        config = ctx.kube.get("v1", "ConfigMap", "argocd-cm", ns) or {}
        if (config.get("data") or {}).get(setup.HEALTH_KEY) != setup.HEALTH_LUA:
            return Verdict.waiting(
                "argocd-cm lacks the Application health check", f"ConfigMap {ns}/argocd-cm"
            )
        names = ", ".join(r.name for r in workloads)
        return Verdict.passed(
            f"{len(crds)} CRDs Established; {names} ready; AppProject default "
            "present; Application health check in argocd-cm"
        )


def _apply(ctx: Context, obj: install.Doc) -> None:
    ctx.kube.apply(obj)
