"""cluster_k3d: a k3s cluster in Docker through k3d (the dev profile).

Created without touching the user's ~/.kube/config; a stopped one is started; the profile's
kubeconfig comes from `k3d kubeconfig get` with the context renamed to the profile. `--wait`
only matches a log line (k3d #512), so the gate checks every node itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from bootstrap.errors import MissingTool, StageFailed
from bootstrap.processes import tools
from bootstrap.stage import Change, Context
from stages.cluster_common import ToolCluster, kubeconfig_path

DOCKER_HINT = "is Docker running? `docker info` says"

State = Literal["absent", "stopped", "running"]


def state_of(found: dict[str, Any] | None) -> State:
    """What `k3d cluster list -o json` says about one cluster."""
    if found is None:
        return "absent"
    servers = (int(found.get("serversRunning", 0)), int(found.get("serversCount", 0)))
    agents = (int(found.get("agentsRunning", 0)), int(found.get("agentsCount", 0)))
    return "stopped" if servers[0] < servers[1] or agents[0] < agents[1] else "running"


class ClusterK3d(ToolCluster):
    name = "cluster_k3d"
    provider = "k3d"

    def plan(self, ctx: Context) -> Iterator[Change]:
        name = ctx.profile.cluster.name
        try:
            found = self.observe(ctx)
        except MissingTool:
            missing = f"k3d is not installed: {tools.install_hint('k3d')}"
            yield Change(f"{self.create_summary(ctx)} ({missing})", self._create)
            return
        state = state_of(found)
        if state == "absent" and ctx.profile.cluster.attach:
            raise StageFailed(
                self.name, "find the cluster",
                cause=f"k3d cluster {name} does not exist and the profile attaches to it",
                hint="create it with k3d, or set cluster.attach: false so clusterboot creates it",
            )
        if state == "absent":
            yield Change(self.create_summary(ctx), self._create)
        elif state == "stopped" and found is not None:
            running = (f"{found.get('serversRunning')}/{found.get('serversCount')} servers, "
                       f"{found.get('agentsRunning')}/{found.get('agentsCount')} agents running")
            yield Change(f"start k3d cluster {name} ({running})", self._start)
        else:
            yield from self.kubeconfig_plan(ctx)

    def observe(self, ctx: Context) -> dict[str, Any] | None:
        argv = ["k3d", "cluster", "list", "-o", "json"]
        shown = self.run(ctx, "list k3d clusters", argv, timeout=60, hint=DOCKER_HINT).stdout
        try:
            clusters = json.loads(shown or "[]")
        except json.JSONDecodeError as err:
            raise StageFailed(self.name, "list k3d clusters",
                              cause=f"`k3d cluster list -o json` printed no JSON: {err}") from err
        name = ctx.profile.cluster.name
        return next((c for c in clusters or [] if c.get("name") == name), None)

    def create_summary(self, ctx: Context) -> str:
        k3d = ctx.profile.cluster.k3d
        return (f"create k3d cluster {ctx.profile.cluster.name} "
                f"({k3d.servers} servers, {k3d.agents} agents)")

    def create_argv(self, ctx: Context) -> list[str]:
        k3d = ctx.profile.cluster.k3d
        argv = [
            "k3d", "cluster", "create", ctx.profile.cluster.name,
            "--servers", str(k3d.servers), "--agents", str(k3d.agents),
            "--wait", "--timeout", "300s",
            "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false",
        ]
        if k3d.image:
            argv += ["--image", k3d.image]
        if k3d.api_port:
            argv += ["--api-port", f"127.0.0.1:{k3d.api_port}"]
        if ctx.profile.components.metallb.enabled:
            # k3s's own ServiceLB would answer LoadBalancer Services beside MetalLB (pitfall 18).
            argv += ["--k3s-arg", "--disable=servicelb@server:*"]
        return argv

    def _create(self, ctx: Context) -> None:
        self.run(ctx, "create the k3d cluster", self.create_argv(ctx))
        self.sync_kubeconfig(ctx)

    def _start(self, ctx: Context) -> None:
        argv = ["k3d", "cluster", "start", ctx.profile.cluster.name, "--wait"]
        self.run(ctx, "start the k3d cluster", argv, hint=DOCKER_HINT)
        self.sync_kubeconfig(ctx)

    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        name = ctx.profile.cluster.name
        argv = ["k3d", "kubeconfig", "get", name]
        text = self.run(ctx, "read the kubeconfig", argv, timeout=60).stdout
        return text, f"k3d-{name}", f"`k3d kubeconfig get {name}`"

    def expected_nodes(self, ctx: Context) -> int:
        return ctx.profile.cluster.k3d.servers + ctx.profile.cluster.k3d.agents

    def lb_range(self, ctx: Context) -> str | None:
        return self.docker_lb_range(ctx, f"k3d-{ctx.profile.cluster.name}")

    def down(self, ctx: Context) -> list[str]:
        """Delete the cluster this profile created; never one it attaches to."""
        name = ctx.profile.cluster.name
        if ctx.profile.cluster.attach:
            return [f"k3d cluster {name} is attached (cluster.attach: true), so it is never "
                    "torn down; nothing deleted"]
        if self.observe(ctx) is None:
            kubeconfig_path(ctx).unlink(missing_ok=True)
            return [f"no k3d cluster {name}; nothing to delete"]
        self.run(ctx, "delete the k3d cluster", ["k3d", "cluster", "delete", name])
        kubeconfig_path(ctx).unlink(missing_ok=True)
        return [f"deleted k3d cluster {name}; removed {kubeconfig_path(ctx)}"]
