"""sealed_secrets: the Sealed Secrets controller from its pinned manifest, and on a rebuild
(``components.sealed_secrets.key_backup``) its keys restored *before* the controller starts.

The controller loads keys only at startup, so the order is: key Secrets (server-set fields
stripped), then the controller; a controller that started before the keys existed is restarted
(its pods deleted, or its process). The gate warns when the newest key is in no backup (after
an install, a restore that triggered renewal, or a renewal every 30 days).

``mode: processes``: the objects come from the chart built beside the controller (its CRD,
ServiceAccount and RBAC, no Deployment), and the controller itself runs as a process in the
cluster's network namespace, or on the process host
(bootstrap/components/sealed_secrets/processes.py); the gate then waits for the key that real
controller makes (or loads).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

from bootstrap.artifacts import install
from bootstrap.components.argocd import processes as argocd_processes
from bootstrap.components.sealed_secrets import processes, sealing
from bootstrap.controlplane import binaries
from bootstrap.errors import InputError, StageFailed
from bootstrap.processes import runner
from bootstrap.stage import Change, Context, Verdict
from stages import platform_component
from stages.platform_component import PlatformComponent

TITLE = "Sealed Secrets"
CONTROLLER = "sealed-secrets-controller"
UPSTREAM_NAMESPACE = "kube-system"
Keys = list[install.Doc]
RESTART_WHY = "it started before the restored keys existed and loads keys only at startup"


def _namespace(ctx: Context) -> str:
    return ctx.profile.components.sealed_secrets.namespace


def _controller(docs: list[install.Doc]) -> install.Doc | None:
    return install.find(docs, "Deployment", CONTROLLER) or install.find(docs, "Deployment")


class FromManifest(platform_component.FromManifest):
    def docs(self, ctx: Context) -> list[install.Doc]:
        ns = _namespace(ctx)
        docs = self.manifest(ctx, ns)
        source = ((_controller(docs) or {}).get("metadata") or {}).get("namespace")
        docs = install.relocate(docs, source=source or UPSTREAM_NAMESPACE, target=ns)
        return docs if ns in {"kube-system", "default"} else install.ensure_namespace(docs, ns)

    def pods(self, ctx: Context, docs: list[install.Doc]) -> list[install.Doc]:
        spec = (_controller(docs) or {}).get("spec") or {}
        labels = spec.get("selector", {}).get("matchLabels")
        if not labels:
            return []
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods, _ = ctx.kube.list("v1", "Pod", namespace=_namespace(ctx), label_selector=selector)
        return pods

    def started(self, ctx: Context, docs: list[install.Doc]) -> list[float | None]:
        """When each controller started (it loads keys only then)."""
        return sealing.pod_starts(self.pods(ctx, docs))

    def controller_plan(
        self, ctx: Context, docs: list[install.Doc], *, restart: bool
    ) -> Iterator[Change]:
        if restart:
            yield Change(
                f"restart the controller: {RESTART_WHY}", lambda c: self._restart(c, docs)
            )

    def _restart(self, ctx: Context, docs: list[install.Doc]) -> None:
        for pod in self.pods(ctx, docs):
            ctx.kube.delete("v1", "Pod", pod["metadata"]["name"], _namespace(ctx))

    def restarting(self, ctx: Context, docs: list[install.Doc]) -> list[str]:
        """Controller pods on their way out or not started yet: after a restart for restored
        keys, a Deployment may still look available while its new pod has not loaded them."""
        return [
            f"Pod {_namespace(ctx)}/{pod['metadata']['name']}: "
            + ("terminating" if pod["metadata"].get("deletionTimestamp") else "not started yet")
            for pod in self.pods(ctx, docs)
            if pod["metadata"].get("deletionTimestamp")
            or not (pod.get("status") or {}).get("startTime")
        ]


class AsProcesses(platform_component.AsProcesses):
    group = processes.GROUP

    def preflight(self, ctx: Context) -> None:
        processes.verify(self.bin_dir())
        self.helm(ctx)

    @staticmethod
    def helm(ctx: Context) -> str:
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

    def docs(self, ctx: Context) -> list[install.Doc]:
        """The chart built beside the controller: its CRD, ServiceAccount and RBAC, no
        Deployment (the controller runs as a process)."""
        ns = _namespace(ctx)
        chart = install.chart_objects(
            ctx,
            self.bin_dir() / "chart",
            "sealed_secrets",
            ns,
            {"fullnameOverride": processes.ACCOUNT},
            helm_binary=self.helm(ctx),
        )
        objects = [d for d in chart if install.kind_of(d) not in install.WORKLOADS]
        return [*objects, processes.token_secret(ns)]

    def started(self, ctx: Context, docs: list[install.Doc]) -> list[float | None]:
        return [self.plane(ctx).started(processes.NAME)]

    def controller_plan(
        self, ctx: Context, docs: list[install.Doc], *, restart: bool
    ) -> Iterator[Change]:
        plane = self.plane(ctx)
        wanted = processes.components(
            plane.layout,
            directory=self.bin_dir(),
            namespace=_namespace(ctx),
            api_port=self.api_port_inside(ctx),
        )
        running = plane.extra_components(group=self.group)
        account = processes.account_dir(plane.layout) / "token"
        alive = plane.alive(processes.NAME) and self.plane_current(ctx)
        if running != wanted or not alive or not account.is_file():
            yield Change(
                f"run the Sealed Secrets controller as a local process {plane.where}",
                lambda c: self._start(c, wanted),
            )
        elif restart:
            yield Change(
                f"restart the controller process: {RESTART_WHY}", lambda c: self._restart(c)
            )

    def _start(self, ctx: Context, wanted: list[dict[str, object]]) -> None:
        plane, ns = self.started_plane(ctx), _namespace(ctx)
        token = self.account_token(ctx, processes.token_secret(ns))
        processes.write_account(plane.layout, token=token, namespace=ns, ca=self.cluster_ca(ctx))
        if plane.alive(processes.NAME):  # new credentials or arguments: start it afresh
            self._restart(ctx)
        plane.set_extra_components(wanted, group=self.group, clock=ctx.clock)

    def _restart(self, ctx: Context) -> None:
        plane = self.plane(ctx)
        pid = plane.pid(processes.NAME)
        if pid is not None:
            runner.terminate(pid, grace=10.0)
        plane.restart_dead(clock=ctx.clock)

    def running(self, ctx: Context) -> Verdict:
        return self.process_running(
            ctx, processes.NAME, "the Sealed Secrets controller process", tail=5
        )

    def restarting(self, ctx: Context, docs: list[install.Doc]) -> list[str]:
        return []  # the process was restarted synchronously: `started` already says when


class SealedSecrets(PlatformComponent):
    name = "sealed_secrets"
    build_dir = staticmethod(processes.bin_dir)

    def mode(self, ctx: Context) -> FromManifest | AsProcesses:
        chosen = AsProcesses if self.runs_processes(ctx.profile) else FromManifest
        return chosen(self, ctx.profile)

    def preflight(self, ctx: Context) -> None:
        """The manifest (or, in processes mode, the local build and helm) is at hand and
        verified; a key backup decrypts with our identity."""
        super().preflight(ctx)
        sealing.read_backup(ctx.profile)

    @staticmethod
    def namespace(ctx: Context) -> str:
        return _namespace(ctx)

    def docs(self, ctx: Context) -> list[install.Doc]:
        return self.mode(ctx).docs(ctx)

    def restore(
        self, ctx: Context, docs: list[install.Doc]
    ) -> tuple[sealing.Restore, Keys, Keys]:
        """What the key backup asks for, observed against the cluster (facts in, plan out),
        the backup's keys and the cluster's."""
        backup = sealing.read_backup(ctx.profile)
        keys = sealing.list_keys(ctx.kube, self.namespace(ctx))
        pods = self.mode(ctx).started(ctx, docs)
        wanted = {k["metadata"]["name"]: sealing.fingerprint(k) for k in backup}
        return sealing.restore_plan(wanted, sealing.cluster_keys(keys), pods), backup, keys

    def plan(self, ctx: Context) -> Iterator[Change]:
        ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster exists; fetch nothing
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        restore, backup, _ = self.restore(ctx, docs)
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
        yield from self.mode(ctx).controller_plan(ctx, docs, restart=restore.restart)

    def gate(self, ctx: Context) -> Verdict:
        ns = self.namespace(ctx)
        docs = self.docs(ctx)
        workloads = [install.ref_of(d, ns) for d in docs if install.kind_of(d) in install.WORKLOADS]
        ready = install.readiness(ctx, [*install.crd_refs(docs), *workloads])
        if not ready.ok:
            return ready
        how = self.mode(ctx)
        running = how.running(ctx)
        if not running.ok:
            return running
        restore, backup, keys = self.restore(ctx, docs)
        if restore.missing or restore.restart:
            return Verdict.waiting(
                "the controller has not loaded the restored keys yet",
                *(f"Secret {ns}/{n} missing" for n in restore.missing),
            )
        if backup:
            restarting = how.restarting(ctx, docs)
            if restarting:
                return Verdict.waiting(
                    "the controller is restarting: the restored keys count once a pod that "
                    "started after them runs",
                    *restarting,
                )
        if not keys and how.controllers_run:
            return Verdict.waiting("no sealing key yet: the controller creates one at startup")
        renewing = self._renewing(docs, keys) if backup and how.controllers_run else None
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

    @staticmethod
    def _renewing(docs: list[install.Doc], keys: list[install.Doc]) -> str | None:
        """After restoring old keys, a real controller renews at once; the warning about the
        backup must be about that new key, so wait for it (where a controller runs)."""
        found = _controller(docs)
        containers = (((found or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        args = [
            str(a)
            for c in containers.get("containers") or []
            for a in [*(c.get("command") or []), *(c.get("args") or [])]
        ]
        period = sealing.renew_period(args)
        return sealing.renewal_due(keys, now=time.time(), period=period)
