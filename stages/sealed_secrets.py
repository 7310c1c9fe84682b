"""sealed_secrets: the Sealed Secrets controller from its pinned manifest, and on a rebuild
(``components.sealed_secrets.key_backup``) its keys restored *before* the controller starts.

The controller loads keys only at startup, so the order is: key Secrets (server-set fields
stripped), then the controller; a controller that started before the keys existed is restarted
(its pods deleted). The gate warns when the newest key is in no backup (after an install, a
restore that triggered renewal, or a renewal every 30 days).
"""

from __future__ import annotations

from collections.abc import Iterator

from bootstrap import artifacts, install, sealing
from bootstrap.config import Profile
from bootstrap.errors import StageFailed
from bootstrap.stage import Change, Context, Stage, Verdict

TITLE = "Sealed Secrets"
CONTROLLER = "sealed-secrets-controller"
UPSTREAM_NAMESPACE = "kube-system"
Keys = list[install.Doc]


class SealedSecrets(Stage):
    name = "sealed_secrets"
    needs = ("cluster",)

    def skip_reason(self, profile: Profile) -> str | None:
        if not profile.components.sealed_secrets.enabled:
            return "not enabled in the profile (components.sealed_secrets.enabled)"
        return None

    def preflight(self, ctx: Context) -> None:
        """The manifest is at hand and verified; a key backup decrypts with our identity."""
        artifact = artifacts.artifact_for(ctx.profile, "sealed_secrets")
        artifacts.Store.for_profile(ctx.profile).path(artifact)
        sealing.read_backup(ctx.profile)

    @staticmethod
    def namespace(ctx: Context) -> str:
        return ctx.profile.components.sealed_secrets.namespace

    def docs(self, ctx: Context) -> list[install.Doc]:
        ns = self.namespace(ctx)
        docs = install.manifest(ctx, "sealed_secrets", namespace=ns)
        found = install.find(docs, "Deployment", CONTROLLER) or install.find(docs, "Deployment")
        source = ((found or {}).get("metadata") or {}).get("namespace") or UPSTREAM_NAMESPACE
        docs = install.relocate(docs, source=source, target=ns)
        return docs if ns in {"kube-system", "default"} else install.ensure_namespace(docs, ns)

    def controller_pods(self, ctx: Context, docs: list[install.Doc]) -> list[install.Doc]:
        found = install.find(docs, "Deployment", CONTROLLER) or install.find(docs, "Deployment")
        labels = ((found or {}).get("spec") or {}).get("selector", {}).get("matchLabels")
        if not labels:
            return []
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods, _ = ctx.kube.list("v1", "Pod", namespace=self.namespace(ctx), label_selector=selector)
        return pods

    def restore(self, ctx: Context, docs: list[install.Doc]) -> tuple[sealing.Restore, Keys]:
        """What the key backup asks for, observed against the cluster (facts in, plan out)."""
        backup = sealing.read_backup(ctx.profile)
        have = sealing.cluster_keys(sealing.list_keys(ctx.kube, self.namespace(ctx)))
        pods = sealing.pod_starts(self.controller_pods(ctx, docs))
        wanted = {k["metadata"]["name"]: sealing.fingerprint(k) for k in backup}
        return sealing.restore_plan(wanted, have, pods), backup

    def plan(self, ctx: Context) -> Iterator[Change]:
        ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster exists; fetch nothing
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        restore, backup = self.restore(ctx, docs)
        if restore.conflicts:
            raise StageFailed(
                self.name,
                "restore keys",
                cause=f"{ns} has other keys under the names {', '.join(restore.conflicts)}",
                hint="restore into a new cluster, or remove those Secrets if they are unused",
            )
        if restore.missing:
            keys = [k for k in backup if k["metadata"]["name"] in restore.missing]
            yield Change(
                f"restore {len(keys)} sealing keys into {ns} before the controller starts "
                f"({', '.join(restore.missing)})",
                lambda c: install.apply(
                    c, install.ensure_namespace([], ns) + keys, namespace=ns, what="sealing keys"
                ),
            )
        parts = install.keys_of(docs, namespace=ns)
        version = ctx.profile.components.sealed_secrets.version
        what = install.decide(TITLE, version, parts, install.observe(ctx.kube, parts))
        if what:
            yield Change(
                f"{what} into {ns}", lambda c: install.apply(c, docs, namespace=ns, what=what)
            )
        if restore.restart:
            yield Change(
                "restart the controller: it started before the restored keys existed and "
                "loads keys only at startup",
                lambda c: self._restart(c, docs),
            )

    def _restart(self, ctx: Context, docs: list[install.Doc]) -> None:
        for pod in self.controller_pods(ctx, docs):
            ctx.kube.delete("v1", "Pod", pod["metadata"]["name"], self.namespace(ctx))

    def gate(self, ctx: Context) -> Verdict:
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        workloads = [install.ref_of(d, ns) for d in docs if install.kind_of(d) in install.WORKLOADS]
        ready = install.await_ready(
            ctx, [*install.crd_refs(docs), *workloads], what="Sealed Secrets controller"
        )
        if not ready.ok:
            return ready
        restore, backup = self.restore(ctx, docs)
        if restore.missing or restore.restart:
            return Verdict.waiting(
                "the controller has not loaded the restored keys yet",
                *(f"Secret {ns}/{n} missing" for n in restore.missing),
            )
        keys = sealing.list_keys(ctx.kube, ns)
        if not keys and ctx.cluster.provider != "local":
            return Verdict.waiting("no sealing key yet: the controller creates one at startup")
        found = (
            f"{len(keys)} sealing keys ({len(backup)} from the backup)"
            if keys
            else "no sealing key: kwok runs no controller to create one on the local cluster"
        )
        covered = sealing.backed_up(ctx.state_dir) | {sealing.fingerprint(k) for k in backup}
        warning = sealing.stale_backup(keys, covered)
        if warning:
            ctx.log.warning("sealed_secrets.backup_missing", why=warning)
            found += f"; WARNING: {warning}"
        return Verdict.passed(f"controller ready; {found}")
