"""cluster_local: the embedded control plane (etcd, kube-apiserver, controller-manager,
scheduler; kwok plays the nodes), in a loopback-only network namespace of its own.

A healthy cluster is reused in seconds; a half-dead one is repaired (dead components restarted
by their keeper, or leftovers of a dead keeper cleared and the cluster started again on the
same etcd data).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bootstrap.controlplane import binaries, netns
from bootstrap.controlplane.cluster import COMPONENTS, LocalControlPlane, write_kubeconfig
from bootstrap.controlplane.pki import Pki
from bootstrap.errors import ClusterbootError, InputError, Interrupted, StageFailed
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, ClusterInfo, Context, Stage, Verdict
from stages.cluster_common import nodes_verdict

PROBE_NAMESPACE = "clusterboot-system"
PROBE_NAME = "probe"


class ClusterLocal(Stage):
    name = "cluster_local"
    provides = "cluster"

    def skip_reason(self, profile: Profile) -> str | None:
        return None

    def preflight(self, ctx: Context) -> None:
        """Refuse before touching anything: missing binaries, or no isolation available."""
        cfg = ctx.profile.cluster.local
        binaries.verify(cfg, ctx.runner)
        if cfg.isolation == "netns" and not ctx.options.get("unisolated"):
            ok, why = netns.available()
            if not ok:
                raise InputError(
                    f"cannot isolate the local cluster: {why}",
                    hint="its fake pod and Service addresses must not reach a real network; "
                    "pass --unisolated only on a machine where that is acceptable",
                )

    def plane(self, ctx: Context) -> LocalControlPlane:
        return LocalControlPlane.for_profile(
            ctx.profile,
            state_dir=ctx.state_dir,
            unisolated=bool(ctx.options.get("unisolated")),
            run=ctx.runner,
        )

    def info(self, ctx: Context, plane: LocalControlPlane) -> ClusterInfo:
        return ClusterInfo(
            kubeconfig=ctx.state_dir / "kubeconfig",
            context=ctx.profile.name,
            api_url=plane.api_url,
            lb_range=ctx.profile.cluster.lb_range,
            provider="local",
        )

    def plan(self, ctx: Context) -> Iterator[Change]:
        plane = self.plane(ctx)
        seen = plane.observe()
        if seen.healthy:
            yield from self._kubeconfig_change(ctx, plane)
            ctx.publish_cluster(self.info(ctx, plane))
            yield from self._objects_plan(ctx)
            return
        if seen.keeper_alive:
            dead = ", ".join(seen.dead_components) or "components"
            yield Change(
                f"restart {dead} (exited; {seen.error or 'see logs'})",
                lambda c: self._restart(c, plane),
            )
        else:
            if seen.port_taken:
                raise StageFailed(
                    self.name,
                    "start",
                    cause=f"127.0.0.1:{plane.cfg.api_port} is already in use by another program",
                    hint="stop that program, or pick another port: --set cluster.local.api_port=N",
                )
            what = f"start local control plane ({', '.join(COMPONENTS)})"
            if seen.stale_pid_files:
                what += (
                    f"; clear leftovers of a stopped cluster ({', '.join(seen.stale_pid_files)})"
                )
            yield Change(what, lambda c: self._start(c, plane))
        yield Change(f"register {plane.cfg.nodes} kwok nodes", self._apply_nodes)
        yield Change(f"apply Deployment {PROBE_NAMESPACE}/{PROBE_NAME}", self._apply_probe)

    def _kubeconfig_change(self, ctx: Context, plane: LocalControlPlane) -> Iterator[Change]:
        if not (ctx.state_dir / "kubeconfig").is_file():
            yield Change("write kubeconfig", lambda c: self._write_kubeconfig(c, plane))

    def _write_kubeconfig(self, ctx: Context, plane: LocalControlPlane) -> None:
        write_kubeconfig(
            ctx.state_dir / "kubeconfig",
            server=plane.api_url,
            keys=Pki(plane.layout.pki_dir),
            context=ctx.profile.name,
        )

    def _start(self, ctx: Context, plane: LocalControlPlane) -> None:
        plane.clear_leftovers()
        plane.start(binaries.verify(plane.cfg, ctx.runner), clock=ctx.clock)
        self._write_kubeconfig(ctx, plane)
        ctx.publish_cluster(self.info(ctx, plane))

    def _restart(self, ctx: Context, plane: LocalControlPlane) -> None:
        try:
            plane.restart_dead(clock=ctx.clock)
        except Interrupted:
            raise
        except ClusterbootError:
            if plane.keeper_alive():
                raise
            # The keeper died after the plan saw it alive: start the cluster afresh instead.
            ctx.log.warning("cluster_local.keeper_gone", action="starting the cluster again")
            self._start(ctx, plane)
            return
        self._write_kubeconfig(ctx, plane)
        ctx.publish_cluster(self.info(ctx, plane))

    def _objects_plan(self, ctx: Context) -> Iterator[Change]:
        nodes, _ = ctx.kube.list("v1", "Node", label_selector="type=kwok")
        if len(nodes) < ctx.profile.cluster.local.nodes:
            yield Change(
                f"register {ctx.profile.cluster.local.nodes - len(nodes)} kwok nodes",
                self._apply_nodes,
            )
        if ctx.kube.get("apps/v1", "Deployment", PROBE_NAME, PROBE_NAMESPACE) is None:
            yield Change(f"apply Deployment {PROBE_NAMESPACE}/{PROBE_NAME}", self._apply_probe)

    def _apply_nodes(self, ctx: Context) -> None:
        cfg = ctx.profile.cluster.local
        for index in range(cfg.nodes):
            ctx.kube.apply(
                fake_node(f"kwok-node-{index}", cfg.node_cpu, cfg.node_memory, cfg.node_pods)
            )

    def _apply_probe(self, ctx: Context) -> None:
        ctx.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PROBE_NAMESPACE}}
        )
        ctx.kube.apply(probe_deployment())

    def down(self, ctx: Context) -> list[str]:
        """Stop every process of this profile's local cluster and remove its state."""
        plane = self.plane(ctx)
        stopped = plane.destroy(clock=ctx.clock)
        (ctx.state_dir / "kubeconfig").unlink(missing_ok=True)
        if stopped:
            return [f"stopped {', '.join(stopped)}; removed {plane.layout.root}"]
        return ["no local cluster was running; state removed"]

    def gate(self, ctx: Context) -> Verdict:
        nodes = nodes_verdict(ctx, expected=ctx.profile.cluster.local.nodes)
        if not nodes.ok:
            return nodes
        if ctx.kube.get("v1", "ServiceAccount", "default", "default") is None:
            return Verdict.waiting("ServiceAccount default/default not created yet")
        probe = ctx.kube.get("apps/v1", "Deployment", PROBE_NAME, PROBE_NAMESPACE)
        if probe is None or not _condition(probe, "Available"):
            return Verdict.waiting(
                "probe Deployment has no Ready pod yet",
                f"Deployment {PROBE_NAMESPACE}/{PROBE_NAME}",
            )
        return Verdict.passed(
            f"{nodes.why}, {ctx.kube.server_version()}, "
            f"kubeconfig {Path(ctx.cluster.kubeconfig)}"
        )


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def fake_node(name: str, cpu: str, memory: str, pods: int) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def probe_deployment() -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": PROBE_NAME, "app.kubernetes.io/managed-by": "clusterboot"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": PROBE_NAME, "namespace": PROBE_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": PROBE_NAME}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }
