"""cluster_eks: an EKS cluster (the prod profile), created from a rendered eksctl ClusterConfig
or attached to (``cluster.attach: true``).

The cluster is observed with `aws eks describe-cluster` (absent, CREATING, ACTIVE, ...). One
this profile creates carries the tag ``clusterboot-profile``; ``down --yes`` deletes only such
a cluster and refuses an attached one. The kubeconfig comes from `aws eks update-kubeconfig`
into the state directory (never the user's own file): its user runs `aws eks get-token`, and
the API client re-runs that plugin when a token expires, so a long wait outlives a token.
MetalLB is skipped on EKS (its stage says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from bootstrap.errors import CommandFailed, StageFailed, TemporaryError
from bootstrap.profile.schema import EksCluster
from bootstrap.stage import Change, Context
from stages.cluster_common import ToolCluster, kubeconfig_path

TAG = "clusterboot-profile"
NOT_FOUND = "ResourceNotFoundException"
THROTTLED = ("ThrottlingException", "TooManyRequestsException", "Rate exceeded")
CONFIG = "eksctl.yaml"
AWS_KUBECONFIG = "kubeconfig.aws"


def eks_of(ctx: Context) -> EksCluster:
    found = ctx.profile.cluster.eks
    assert found is not None  # the profile check requires it for this provider
    return found


def cluster_config(ctx: Context) -> dict[str, Any]:
    """The eksctl ClusterConfig for the profile (managed nodes, this profile's tag)."""
    settings, name = eks_of(ctx), ctx.profile.cluster.name
    return {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": {
            "name": name,
            "region": settings.region,
            "version": settings.kubernetes_version,
            "tags": {TAG: ctx.profile.name},
        },
        "managedNodeGroups": [
            {
                "name": f"{name}-nodes",
                "instanceType": settings.node_type,
                "desiredCapacity": settings.nodes,
                "minSize": settings.nodes,
                "maxSize": settings.nodes,
                "tags": {TAG: ctx.profile.name},
            }
        ],
    }


class ClusterEks(ToolCluster):
    name = "cluster_eks"
    provider = "eks"

    def aws(self, ctx: Context, *args: str, check: bool = True) -> Any:
        profile = eks_of(ctx).aws_profile
        argv = ["aws", *args, "--region", eks_of(ctx).region]
        argv += ["--profile", profile] if profile else []
        return self._call(ctx, argv, check=check)

    def _call(self, ctx: Context, argv: list[str], *, check: bool = True, **kw: Any) -> Any:
        try:
            return ctx.runner.run(argv, check=check, **kw)
        except CommandFailed as err:
            if any(text in err.stderr_tail for text in THROTTLED):
                raise TemporaryError(f"{argv[0]} is throttled: {err.stderr_tail[:200]}") from err
            raise StageFailed(
                self.name, " ".join(argv[:3]), cause=err.message, hint=err.hint
            ) from err

    def observe(self, ctx: Context) -> dict[str, Any] | None:
        """`aws eks describe-cluster`: the cluster, or None when there is none."""
        found = self.aws(
            ctx,
            "eks",
            "describe-cluster",
            "--name",
            ctx.profile.cluster.name,
            "--output",
            "json",
            check=False,
        )
        if found.returncode != 0:
            if NOT_FOUND in found.stderr:
                return None
            if any(text in found.stderr for text in THROTTLED):
                raise TemporaryError(f"aws is throttled: {found.stderr.strip()[:200]}")
            raise StageFailed(
                self.name,
                "describe the EKS cluster",
                cause=found.stderr.strip()[:400] or f"aws exited {found.returncode}",
                hint="are the AWS credentials valid for this region? `aws sts get-caller-identity`",
            )
        cluster: dict[str, Any] = json.loads(found.stdout or "{}").get("cluster") or {}
        return cluster

    def ours(self, cluster: dict[str, Any], ctx: Context) -> bool:
        return (cluster.get("tags") or {}).get(TAG) == ctx.profile.name

    def foreign(self, ctx: Context) -> str | None:
        name = ctx.profile.cluster.name
        if ctx.profile.cluster.attach:
            return f"EKS cluster {name} is attached (cluster.attach: true)"
        cluster = self.observe(ctx)
        if cluster is not None and not self.ours(cluster, ctx):
            return f"EKS cluster {name} was not created by this profile (no {TAG} tag)"
        return None

    # -- plan -------------------------------------------------------------------------------
    def plan(self, ctx: Context) -> Iterator[Change]:
        name, region = ctx.profile.cluster.name, eks_of(ctx).region
        cluster = self.observe(ctx)
        if cluster is None:
            if ctx.profile.cluster.attach:
                raise StageFailed(
                    self.name,
                    "find the cluster",
                    cause=f"EKS cluster {name} does not exist in {region} and the profile "
                    "attaches to it",
                    hint="create it, or set cluster.attach: false so clusterboot creates it",
                )
            yield Change(
                f"create EKS cluster {name} in {region} (Kubernetes "
                f"{eks_of(ctx).kubernetes_version}, {eks_of(ctx).nodes} {eks_of(ctx).node_type} "
                f"nodes) with `eksctl create cluster -f {ctx.state_dir / CONFIG}`",
                self.create,
            )
            return
        status = str(cluster.get("status"))
        if status == "CREATING":
            yield Change(f"wait for EKS cluster {name} (CREATING) to be ACTIVE", self.await_active)
        elif status in {"DELETING", "FAILED"}:
            raise StageFailed(
                self.name,
                "use the cluster",
                cause=f"EKS cluster {name} is {status}",
                hint="wait for the deletion to finish, or look at its CloudFormation stacks",
            )
        else:
            yield from self.kubeconfig_plan(ctx)

    # -- changes ----------------------------------------------------------------------------
    def create(self, ctx: Context) -> None:
        path = ctx.state_dir / CONFIG
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cluster_config(ctx), sort_keys=False))
        profile = eks_of(ctx).aws_profile
        argv = ["eksctl", "create", "cluster", "-f", str(path)]
        argv += ["--profile", profile] if profile else []
        self._call(ctx, argv, timeout=float(ctx.profile.timeouts.command_seconds))
        self.sync_kubeconfig(ctx)

    def await_active(self, ctx: Context) -> None:
        self.aws(ctx, "eks", "wait", "cluster-active", "--name", ctx.profile.cluster.name)
        self.sync_kubeconfig(ctx)

    # -- the kubeconfig ---------------------------------------------------------------------
    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        """`aws eks update-kubeconfig` into a file of the state directory, context aliased to
        the profile; its user runs `aws eks get-token`."""
        path = ctx.state_dir / AWS_KUBECONFIG
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.aws(
            ctx,
            "eks",
            "update-kubeconfig",
            "--name",
            ctx.profile.cluster.name,
            "--alias",
            ctx.profile.name,
            "--kubeconfig",
            str(path),
        )
        text = path.read_text()
        path.unlink(missing_ok=True)
        return text, ctx.profile.name, f"aws eks update-kubeconfig ({path})"

    def expected_nodes(self, ctx: Context) -> int:
        return eks_of(ctx).nodes

    # -- down -------------------------------------------------------------------------------
    def down(self, ctx: Context) -> list[str]:
        """Delete only a cluster this profile created, only with --yes; never an attached one."""
        name, path = ctx.profile.cluster.name, kubeconfig_path(ctx)
        if ctx.profile.cluster.attach:
            return [f"EKS cluster {name} is attached (cluster.attach: true): never deleted"]
        cluster = self.observe(ctx)
        if cluster is None:
            path.unlink(missing_ok=True)
            return [f"no EKS cluster {name}; nothing to delete"]
        if not self.ours(cluster, ctx):
            return [
                f"EKS cluster {name} was not created by this profile (no {TAG} tag): left as it is"
            ]
        if not ctx.options.get("yes"):
            return [
                f"EKS cluster {name} was created by this profile; deleting it destroys it and "
                "everything in it: run `invoke down --yes` to do it"
            ]
        profile = eks_of(ctx).aws_profile
        argv = [
            "eksctl",
            "delete",
            "cluster",
            "--name",
            name,
            "--region",
            eks_of(ctx).region,
            "--wait",
            *(["--profile", profile] if profile else []),
        ]
        self._call(ctx, argv, timeout=float(ctx.profile.timeouts.command_seconds))
        path.unlink(missing_ok=True)
        return [f"deleted EKS cluster {name}; removed {path}"]
