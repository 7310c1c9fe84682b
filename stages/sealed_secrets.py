"""sealed_secrets: the Sealed Secrets controller from its pinned manifest, and on a rebuild
(``components.sealed_secrets.key_backup``) its keys restored *before* the controller starts.

The controller loads keys only at startup, so the order is: key Secrets (server-set fields
stripped), then the controller; a controller that started before the keys existed is restarted
(its pods deleted, or its process). The gate warns when the newest key is in no backup (after
an install, a restore that triggered renewal, or a renewal every 30 days).

``mode: processes`` (local provider): the objects come from the chart built beside the
controller (its CRD, ServiceAccount and RBAC, no Deployment), and the controller itself runs as
a process in the cluster's network namespace (bootstrap/components/sealed_secrets/processes.py);
the gate then waits for the key that real controller makes (or loads).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

from bootstrap import artifacts
from bootstrap.artifacts import install
from bootstrap.components.argocd import processes as argocd_processes
from bootstrap.components.sealed_secrets import processes, sealing
from bootstrap.controlplane import binaries
from bootstrap.errors import InputError, StageFailed
from bootstrap.processes import runner
from bootstrap.stage import Change, Context, Verdict
from stages.platform_component import PlatformComponent

TITLE = "Sealed Secrets"
CONTROLLER = "sealed-secrets-controller"
UPSTREAM_NAMESPACE = "kube-system"
Keys = list[install.Doc]


class SealedSecrets(PlatformComponent):
    name = "sealed_secrets"
    build_dir = staticmethod(processes.bin_dir)

    def preflight(self, ctx: Context) -> None:
        """The manifest (or, in processes mode, the local build and helm) is at hand and
        verified; a key backup decrypts with our identity."""
        if self._processes(ctx):  # the profile allows it on the local provider only
            processes.verify(self._bin_dir(ctx))
            self._helm(ctx)
        else:
            artifact = artifacts.artifact_for(ctx.profile, "sealed_secrets")
            artifacts.Store.for_profile(ctx.profile).path(artifact)
        sealing.read_backup(ctx.profile)

    @staticmethod
    def _helm(ctx: Context) -> str:
        """helm from PATH, else the one `make argocd` builds."""
        root = binaries.cache_dir(ctx.profile.cluster.local)
        built = argocd_processes.bin_dir(root, ctx.profile.components.argocd.version) / "helm"
        found = shutil.which("helm") or (str(built) if built.is_file() else None)
        if found is None:
            raise InputError(
                "helm is needed to render Sealed Secrets' chart (its ServiceAccount and RBAC) "
                "for processes mode",
                hint=f"run `make argocd` (builds helm into {built.parent}), or install helm",
            )
        return found

    @staticmethod
    def namespace(ctx: Context) -> str:
        return ctx.profile.components.sealed_secrets.namespace

    def docs(self, ctx: Context) -> list[install.Doc]:
        ns = self.namespace(ctx)
        if self._processes(ctx):
            chart = install.chart_objects(
                ctx,
                self._bin_dir(ctx) / "chart",
                "sealed_secrets",
                ns,
                {"fullnameOverride": processes.ACCOUNT},
                helm_binary=self._helm(ctx),
            )
            objects = [d for d in chart if install.kind_of(d) not in install.WORKLOADS]
            return [*objects, processes.token_secret(ns)]
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
        if self._processes(ctx):
            pods = [self._plane(ctx).started(processes.NAME)]
        else:
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
        if self._processes(ctx):
            yield from self._processes_plan(ctx, restart=restore.restart)
        elif restore.restart:
            yield Change(
                "restart the controller: it started before the restored keys existed and "
                "loads keys only at startup",
                lambda c: self._restart(c, docs),
            )

    def _restart(self, ctx: Context, docs: list[install.Doc]) -> None:
        for pod in self.controller_pods(ctx, docs):
            ctx.kube.delete("v1", "Pod", pod["metadata"]["name"], self.namespace(ctx))

    def _processes_plan(self, ctx: Context, *, restart: bool) -> Iterator[Change]:
        plane = self._plane(ctx)
        wanted = processes.components(
            plane.layout, directory=self._bin_dir(ctx), namespace=self.namespace(ctx)
        )
        running = plane.extra_components(group=processes.GROUP)
        account = processes.account_dir(plane.layout) / "token"
        if running != wanted or not plane.alive(processes.NAME) or not account.is_file():
            yield Change(
                "run the Sealed Secrets controller as a local process in the cluster's namespace",
                lambda c: self._start_process(c, wanted),
            )
        elif restart:
            yield Change(
                "restart the controller process: it started before the restored keys existed "
                "and loads keys only at startup",
                lambda c: self._restart_process(c),
            )

    def _start_process(self, ctx: Context, wanted: list[dict[str, object]]) -> None:
        plane, ns = self._plane(ctx), self.namespace(ctx)
        token = self._account_token(ctx, processes.token_secret(ns))
        processes.write_account(plane.layout, token=token, namespace=ns)
        if plane.alive(processes.NAME):  # new credentials or arguments: start it afresh
            self._restart_process(ctx)
        plane.set_extra_components(wanted, group=processes.GROUP, clock=ctx.clock)

    def _restart_process(self, ctx: Context) -> None:
        plane = self._plane(ctx)
        pid = plane.pid(processes.NAME)
        if pid is not None:
            runner.terminate(pid, grace=10.0)
        plane.restart_dead(clock=ctx.clock)

    def gate(self, ctx: Context) -> Verdict:
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        workloads = [install.ref_of(d, ns) for d in docs if install.kind_of(d) in install.WORKLOADS]
        ready = install.await_ready(
            ctx, [*install.crd_refs(docs), *workloads], what="Sealed Secrets controller"
        )
        if not ready.ok:
            return ready
        if self._processes(ctx):
            running = self._process_running(ctx)
            if not running.ok:
                return running
        restore, backup = self.restore(ctx, docs)
        if restore.missing or restore.restart:
            return Verdict.waiting(
                "the controller has not loaded the restored keys yet",
                *(f"Secret {ns}/{n} missing" for n in restore.missing),
            )
        if backup and not self._processes(ctx):
            restarting = self._restarting(ctx, docs)
            if restarting:
                return Verdict.waiting(
                    "the controller is restarting: the restored keys count once a pod that "
                    "started after them runs",
                    *restarting,
                )
        keys = sealing.list_keys(ctx.kube, ns)
        if not keys and (ctx.cluster.provider != "local" or self._processes(ctx)):
            return Verdict.waiting("no sealing key yet: the controller creates one at startup")
        renewing = self._renewing(ctx, docs, keys) if backup else None
        if renewing:
            return Verdict.waiting(f"{renewing}; waiting for it")
        found = (
            f"{len(keys)} sealing keys ({len(backup)} from the backup)"
            if keys
            else "no sealing key: kwok runs no controller to create one on the local cluster"
        )
        covered = sealing.backed_up(ctx.state_dir, ctx.kube, ns)
        covered |= {sealing.fingerprint(k) for k in backup}
        warning = sealing.stale_backup(keys, covered)
        if warning:
            ctx.log.warning("sealed_secrets.backup_missing", why=warning)
            found += f"; WARNING: {warning}"
        return Verdict.passed(f"controller ready; {found}")

    def _restarting(self, ctx: Context, docs: list[install.Doc]) -> list[str]:
        """Controller pods on their way out or not started yet: after a restart for restored
        keys, a Deployment may still look available while its new pod has not loaded them."""
        return [
            f"Pod {self.namespace(ctx)}/{pod['metadata']['name']}: "
            + ("terminating" if pod["metadata"].get("deletionTimestamp") else "not started yet")
            for pod in self.controller_pods(ctx, docs)
            if pod["metadata"].get("deletionTimestamp")
            or not (pod.get("status") or {}).get("startTime")
        ]

    def _renewing(
        self, ctx: Context, docs: list[install.Doc], keys: list[install.Doc]
    ) -> str | None:
        """After restoring old keys, a real controller renews at once; the warning about the
        backup must be about that new key, so wait for it (kwok runs no controller to make
        one: not on the local cluster without the controller process)."""
        if ctx.cluster.provider == "local" and not self._processes(ctx):
            return None
        found = install.find(docs, "Deployment", CONTROLLER) or install.find(docs, "Deployment")
        containers = (((found or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        args = [
            str(a)
            for c in containers.get("containers") or []
            for a in [*(c.get("command") or []), *(c.get("args") or [])]
        ]
        period = sealing.renew_period(args)
        return sealing.renewal_due(keys, now=time.time(), period=period)

    def _process_running(self, ctx: Context) -> Verdict:
        plane = self._plane(ctx)
        if plane.alive(processes.NAME):
            return Verdict.passed()
        log = plane.layout.log_file(processes.NAME)
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        return Verdict.waiting(
            "the Sealed Secrets controller process is not running", *tail, f"see {log}"
        )
