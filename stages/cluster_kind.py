"""cluster_kind: a kind cluster (Kubernetes in Docker nodes).

kind writes its kubeconfig into the state directory only (`--kubeconfig`), never the user's;
the profile's copy comes from `kind get kubeconfig` with the context renamed to the profile.
kind's `--wait` exits 0 on a timeout and looks only at control-plane nodes (kind #2654), so
the gate checks every node itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from bootstrap.errors import InputError, MissingTool, StageFailed
from bootstrap.processes import tools
from bootstrap.stage import Change, Context
from stages.cluster_common import ToolCluster, kubeconfig_path

DOCKER_HINT = "is Docker running? `docker info` says"


class ClusterKind(ToolCluster):
    name = "cluster_kind"
    provider = "kind"

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

    def plan(self, ctx: Context) -> Iterator[Change]:
        name = ctx.profile.cluster.name
        try:
            exists = self.exists(ctx)
        except MissingTool:
            missing = f"kind is not installed: {tools.install_hint('kind')}"
            yield Change(f"{self.create_summary(ctx)} ({missing})", self._create)
            return
        if not exists and ctx.profile.cluster.attach:
            raise StageFailed(
                self.name, "find the cluster",
                cause=f"kind cluster {name} does not exist and the profile attaches to it",
                hint="create it with kind, or set cluster.attach: false so clusterboot creates it",
            )
        if not exists:
            yield Change(self.create_summary(ctx), self._create)
        else:
            yield from self.kubeconfig_plan(ctx)

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
        config = self.config_file(ctx)
        if config is not None:
            argv += ["--config", str(config)]
        return argv

    def _create(self, ctx: Context) -> None:
        self.run(ctx, "create the kind cluster", self.create_argv(ctx))
        self.sync_kubeconfig(ctx)

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

    def down(self, ctx: Context) -> list[str]:
        """Delete the cluster this profile created; never one it attaches to."""
        name = ctx.profile.cluster.name
        if ctx.profile.cluster.attach:
            return [f"kind cluster {name} is attached (cluster.attach: true), so it is never "
                    "torn down; nothing deleted"]
        if not self.exists(ctx):
            kubeconfig_path(ctx).unlink(missing_ok=True)
            return [f"no kind cluster {name}; nothing to delete"]
        self.run(ctx, "delete the kind cluster", ["kind", "delete", "cluster", "--name", name])
        kubeconfig_path(ctx).unlink(missing_ok=True)
        return [f"deleted kind cluster {name}; removed {kubeconfig_path(ctx)}"]
