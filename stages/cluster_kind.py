"""cluster_kind: a kind cluster (Kubernetes in Docker nodes).

kind writes its kubeconfig into the state directory only (`--kubeconfig`), never the user's;
the profile's copy comes from `kind get kubeconfig` with the context renamed to the profile.
kind's `--wait` exits 0 on a timeout and looks only at control-plane nodes (kind #2654), so
the gate checks every node itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import InputError
from bootstrap.stage import Context
from stages import docker_nodes
from stages.cluster_common import DOCKER_HINT, CreatedCluster, State, kubeconfig_path


class ClusterKind(CreatedCluster):
    name = "cluster_kind"
    provider = "kind"
    tool = "kind"

    def preflight(self, ctx: Context) -> None:
        path = self.config_file(ctx)
        if path is None:
            return
        try:
            yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise InputError(
                f"cluster.kind.config: cannot read kind config {path}: {err}",
                hint="point cluster.kind.config at a kind `Cluster` YAML file "
                "(a relative path is relative to the profile file)",
            ) from err

    def config_file(self, ctx: Context) -> Path | None:
        config = ctx.profile.cluster.kind.config
        if not config:
            return None
        path = Path(config).expanduser()
        if not path.is_absolute() and ctx.profile.source:
            path = Path(ctx.profile.source).parent / path
        return path

    def observed_state(self, ctx: Context) -> tuple[State, str]:
        return ("running" if self.exists(ctx) else "absent"), ""

    def exists(self, ctx: Context) -> bool:
        argv = ["kind", "get", "clusters"]
        shown = self.run(ctx, "list kind clusters", argv, timeout=60, hint=DOCKER_HINT).stdout
        return ctx.profile.cluster.name in shown.split()

    def create_summary(self, ctx: Context) -> str:
        extra = [f"image {image}" for image in [ctx.profile.cluster.kind.node_image] if image]
        extra += [f"config {path}" for path in [self.config_file(ctx)] if path]
        return f"create kind cluster {ctx.profile.cluster.name}" + (
            f" ({', '.join(extra)})" if extra else ""
        )

    def create_argv(self, ctx: Context) -> list[str]:
        argv = ["kind", "create", "cluster", "--name", ctx.profile.cluster.name,
                "--wait", "300s", "--kubeconfig", str(kubeconfig_path(ctx))]
        if ctx.profile.cluster.kind.node_image:
            argv += ["--image", ctx.profile.cluster.kind.node_image]
        config = self.effective_config(ctx)
        if config is not None:
            argv += ["--config", str(config)]
        return argv

    def effective_config(self, ctx: Context) -> Path | None:
        """The kind config to create with: the profile's file as it is, or, when the nodes need
        a registry mirror or a kubelet on cgroup v1, a copy in the state directory with those
        added."""
        user = self.config_file(ctx)
        mirror = ctx.profile.cluster.registry_mirror
        cgroup_v1 = docker_nodes.engine_on_cgroup_v1(ctx)
        if not mirror and not cgroup_v1:
            return user
        hosts = docker_nodes.write_containerd_hosts(ctx.state_dir, mirror) if mirror else None
        loaded = yaml.safe_load(user.read_text()) if user is not None else None
        config = docker_nodes.kind_config(
            loaded if isinstance(loaded, dict) else None, hosts_dir=hosts, cgroup_v1=cgroup_v1
        )
        path = ctx.state_dir / "kind-config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def shape(self, ctx: Context) -> dict[str, Any]:
        config = self.config_file(ctx)
        return {
            "node_image": ctx.profile.cluster.kind.node_image,
            "config": hashlib.sha256(config.read_bytes()).hexdigest()[:16] if config else None,
            "registry_mirror": ctx.profile.cluster.registry_mirror,
        }

    def delete_argv(self, ctx: Context) -> list[str]:
        return ["kind", "delete", "cluster", "--name", ctx.profile.cluster.name]

    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        name = ctx.profile.cluster.name
        argv = ["kind", "get", "kubeconfig", "--name", name]
        text = self.run(ctx, "read the kubeconfig", argv, timeout=60).stdout
        return text, f"kind-{name}", f"`kind get kubeconfig --name {name}`"

    def expected_nodes(self, ctx: Context) -> int:
        """One per `nodes` entry of the kind config; kind's default is one node."""
        path = self.config_file(ctx)
        if path is None:
            return 1
        config = yaml.safe_load(path.read_text()) or {}
        nodes = config.get("nodes") if isinstance(config, dict) else None
        return len(nodes) if isinstance(nodes, list) and nodes else 1

    def lb_range(self, ctx: Context) -> str | None:
        return self.docker_lb_range(ctx, "kind")
