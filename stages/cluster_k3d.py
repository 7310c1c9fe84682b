"""cluster_k3d: a k3s cluster in Docker through k3d (the dev profile).

Created without touching the user's ~/.kube/config; a stopped one is started; the profile's
kubeconfig comes from `k3d kubeconfig get` with the context renamed to the profile. `--wait`
only matches a log line (k3d #512), so the gate checks every node itself.
"""

from __future__ import annotations

import json
from typing import Any

from bootstrap.errors import StageFailed
from bootstrap.stage import Context
from stages import docker_nodes
from stages.cluster_common import DOCKER_HINT, CreatedCluster, State


def state_of(found: dict[str, Any] | None) -> State:
    """What `k3d cluster list -o json` says about one cluster."""
    if found is None:
        return "absent"
    servers = (int(found.get("serversRunning", 0)), int(found.get("serversCount", 0)))
    agents = (int(found.get("agentsRunning", 0)), int(found.get("agentsCount", 0)))
    return "stopped" if servers[0] < servers[1] or agents[0] < agents[1] else "running"


class ClusterK3d(CreatedCluster):
    name = "cluster_k3d"
    provider = "k3d"
    tool = "k3d"

    def observed_state(self, ctx: Context) -> tuple[State, str]:
        found = self.observe(ctx)
        if found is None:
            return "absent", ""
        running = (
            f"{found.get('serversRunning')}/{found.get('serversCount')} servers, "
            f"{found.get('agentsRunning')}/{found.get('agentsCount')} agents running"
        )
        return state_of(found), running

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
        if not k3d.load_balancer:
            argv += ["--no-lb"]
        if ctx.profile.components.metallb.enabled:
            # k3s's own ServiceLB would answer LoadBalancer Services beside MetalLB (pitfall 18).
            argv += ["--k3s-arg", "--disable=servicelb@server:*"]
        for arg in k3d.k3s_args:
            argv += ["--k3s-arg", arg if "@" in arg else f"{arg}@server:*"]
        if docker_nodes.engine_on_cgroup_v1(ctx):
            argv += ["--k3s-arg", docker_nodes.K3S_KUBELET_CGROUP_V1_ARG]
        mirror = ctx.profile.cluster.registry_mirror
        if mirror:
            path = docker_nodes.write_k3s_registries(ctx.state_dir, mirror)
            argv += ["--registry-config", str(path)]
        return argv

    def shape(self, ctx: Context) -> dict[str, Any]:
        k3d = ctx.profile.cluster.k3d
        return {
            "servers": k3d.servers, "agents": k3d.agents, "image": k3d.image,
            "api_port": k3d.api_port, "load_balancer": k3d.load_balancer,
            "k3s_args": list(k3d.k3s_args),
            "servicelb": not ctx.profile.components.metallb.enabled,
            "registry_mirror": ctx.profile.cluster.registry_mirror,
        }

    def start_argv(self, ctx: Context) -> list[str]:
        return ["k3d", "cluster", "start", ctx.profile.cluster.name, "--wait"]

    def delete_argv(self, ctx: Context) -> list[str]:
        return ["k3d", "cluster", "delete", ctx.profile.cluster.name]

    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        name = ctx.profile.cluster.name
        argv = ["k3d", "kubeconfig", "get", name]
        text = self.run(ctx, "read the kubeconfig", argv, timeout=60).stdout
        return text, f"k3d-{name}", f"`k3d kubeconfig get {name}`"

    def expected_nodes(self, ctx: Context) -> int:
        return ctx.profile.cluster.k3d.servers + ctx.profile.cluster.k3d.agents

    def lb_range(self, ctx: Context) -> str | None:
        return self.docker_lb_range(ctx, f"k3d-{ctx.profile.cluster.name}")
