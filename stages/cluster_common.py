"""What the k3d, kind and Docker Desktop stages share: the profile's private copy of the
cluster's kubeconfig (one context, renamed to the profile), the ClusterInfo they publish, the
gate (API ready and every node Ready, since the tools' own waits do not check that), and an
address range for MetalLB taken from a Docker network.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from bootstrap import secrets
from bootstrap.errors import ClusterbootError, CommandFailed, MissingTool, StageFailed
from bootstrap.health import workloads
from bootstrap.kube import kubeconfig, ownership
from bootstrap.kube.client import Kube
from bootstrap.processes import tools
from bootstrap.processes.runner import Result
from bootstrap.stage import Change, ClusterInfo, Context, Stage, Verdict

DOCKER_HINT = "is Docker running? `docker info` says"
State = Literal["absent", "stopped", "running"]

LB_SLICE = 16
"""Addresses handed to MetalLB from a subnet smaller than a /24 (the top ones, Docker assigns
containers from the bottom)."""


class ToolCluster(Stage):
    """A cluster made or run by another program; we only keep its kubeconfig and check it."""

    provides = "cluster"
    provider: ClassVar[str]

    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        """(kubeconfig text, the context to take from it, where it came from)."""
        raise NotImplementedError

    def expected_nodes(self, ctx: Context) -> int:
        return 1

    def lb_range(self, ctx: Context) -> str | None:
        return ctx.profile.cluster.lb_range

    def renamed_kubeconfig(self, ctx: Context) -> dict[str, Any]:
        """The tool's kubeconfig, its one context renamed to the profile."""
        text, context, source = self.source_kubeconfig(ctx)
        try:
            doc = kubeconfig.extract(kubeconfig.parse(text, source=source), context)
            return kubeconfig.rename_context(doc, context, ctx.profile.name)
        except kubeconfig.KubeconfigError as err:
            raise StageFailed(self.name, "read the kubeconfig", cause=str(err)) from err

    def desired_kubeconfig(self, ctx: Context) -> str:
        return kubeconfig.dump(kubeconfig.loopback_servers(self.renamed_kubeconfig(ctx)))

    def kubeconfig_plan(self, ctx: Context) -> Iterator[Change]:
        """Publish the cluster when our copy is current, else yield the change that fixes it."""
        text = self.desired_kubeconfig(ctx)
        if kubeconfig.is_current(kubeconfig_path(ctx), text):
            self.publish(ctx, text)
            return
        yield Change(
            f"write kubeconfig {kubeconfig_path(ctx)} (context {ctx.profile.name})",
            lambda c: self.sync_kubeconfig(c, text),
        )

    def sync_kubeconfig(self, ctx: Context, text: str | None = None) -> None:
        text = self.desired_kubeconfig(ctx) if text is None else text
        if not kubeconfig.is_current(kubeconfig_path(ctx), text):
            kubeconfig.write(kubeconfig_path(ctx), text)
        self.publish(ctx, text)

    def publish(self, ctx: Context, text: str) -> None:
        doc = kubeconfig.parse(text, source=str(kubeconfig_path(ctx)))
        ctx.publish_cluster(
            ClusterInfo(
                kubeconfig=kubeconfig_path(ctx),
                context=ctx.profile.name,
                api_url=kubeconfig.api_url_of(doc),
                lb_range=self.lb_range(ctx),
                provider=self.provider,
            )
        )

    def run(
        self, ctx: Context, step: str, argv: Sequence[str], *, hint: str = "", **kw: Any
    ) -> Result:
        """Run a tool; a failure names this stage and step and keeps the command's stderr."""
        try:
            return ctx.runner.run(argv, **kw)
        except CommandFailed as err:
            raise StageFailed(self.name, step, cause=err.message, hint=err.hint or hint) from err

    def docker_lb_range(self, ctx: Context, network: str) -> str | None:
        """The profile's range, else the top of the Docker network's IPv4 subnet."""
        if ctx.profile.cluster.lb_range:
            return ctx.profile.cluster.lb_range
        argv = ["docker", "network", "inspect", network, "--format", "{{json .IPAM.Config}}"]
        shown = self.run(ctx, f"inspect Docker network {network}", argv, timeout=60).stdout
        subnet = first_ipv4_subnet(shown)
        if subnet is None:
            raise StageFailed(
                self.name, f"inspect Docker network {network}",
                cause=f"no IPv4 subnet in {shown.strip() or 'its IPAM config'}",
                hint="set cluster.lb_range in the profile (a free range on that network)",
            )
        try:
            return lb_range_from_subnet(subnet)
        except ValueError as err:
            raise StageFailed(self.name, f"pick LoadBalancer addresses on {network}",
                              cause=str(err), hint="set cluster.lb_range in the profile") from err

    def gate(self, ctx: Context) -> Verdict:
        return nodes_ready(ctx, expected=self.expected_nodes(ctx))


class CreatedCluster(ToolCluster):
    """A cluster that a tool (kind, k3d) creates, starts and deletes; the plan and ``down`` are
    the same for every such tool, only its commands differ."""

    tool: ClassVar[str]

    def observed_state(self, ctx: Context) -> tuple[State, str]:
        """The cluster's state as the tool reports it, and for a stopped one what is down."""
        raise NotImplementedError

    def create_summary(self, ctx: Context) -> str:
        raise NotImplementedError

    def create_argv(self, ctx: Context) -> list[str]:
        raise NotImplementedError

    def start_argv(self, ctx: Context) -> list[str]:
        raise NotImplementedError(f"{self.tool} clusters are never reported stopped")

    def delete_argv(self, ctx: Context) -> list[str]:
        raise NotImplementedError

    def shape(self, ctx: Context) -> dict[str, Any]:
        """What the profile says the cluster is made of (nodes, image, mirror, ...): a cluster
        created with another shape has drifted, and only ``--recreate`` makes it again."""
        raise NotImplementedError

    def plan(self, ctx: Context) -> Iterator[Change]:
        name = ctx.profile.cluster.name
        try:
            state, detail = self.observed_state(ctx)
        except MissingTool:
            missing = f"{self.tool} is not installed: {tools.install_hint(self.tool)}"
            yield Change(f"{self.create_summary(ctx)} ({missing})", self.create)
            return
        if state == "absent" and ctx.profile.cluster.attach:
            raise StageFailed(
                self.name,
                "find the cluster",
                cause=f"{self.tool} cluster {name} does not exist and the profile attaches to it",
                hint=f"create it with {self.tool}, or set cluster.attach: false so clusterboot "
                "creates it",
            )
        if state == "absent":
            yield Change(self.create_summary(ctx), self.create)
            return
        drift = self.drift(ctx)
        if drift:
            yield self.recreate_change(ctx, drift)
        elif state == "stopped":
            yield Change(f"start {self.tool} cluster {name} ({detail})", self.start)
        else:
            yield from self.kubeconfig_plan(ctx)

    def drift(self, ctx: Context) -> list[str]:
        """How the profile's shape differs from the one the cluster was created with ([] when
        it does not, or when clusterboot did not create it and so never recorded one)."""
        recorded = read_shape(ctx.state_dir)
        if recorded is None:
            return []
        wanted = json.loads(json.dumps(self.shape(ctx)))
        return [
            f"{key}: {recorded.get(key)!r} -> {wanted.get(key)!r}"
            for key in sorted(set(recorded) | set(wanted))
            if recorded.get(key) != wanted.get(key)
        ]

    def recreate_change(self, ctx: Context, drift: list[str]) -> Change:
        name = ctx.profile.cluster.name
        if not ctx.options.get("recreate"):
            raise StageFailed(
                self.name, "compare the cluster with the profile",
                cause=f"{self.tool} cluster {name} was created with another shape "
                f"({'; '.join(drift)}), which {self.tool} cannot change in place",
                hint="`invoke up --recreate` deletes it and creates it again (its workloads go; "
                "the GitOps repository brings them back), or set the profile back",
            )
        foreign = self.foreign(ctx)
        if foreign is not None:
            raise StageFailed(
                self.name, "recreate the cluster", cause=f"{foreign}; not deleting it",
                hint=f"delete it yourself ({' '.join(self.delete_argv(ctx))}), then `invoke up`",
            )
        return Change(f"recreate {self.tool} cluster {name} ({'; '.join(drift)})", self.recreate)

    def recreate(self, ctx: Context) -> None:
        self.run(ctx, f"delete the {self.tool} cluster", self.delete_argv(ctx))
        kubeconfig_path(ctx).unlink(missing_ok=True)
        self.create(ctx)

    def create(self, ctx: Context) -> None:
        # Claimed before the command runs: a create cut short still names the cluster this
        # profile made, so the next `up` finishes it and `down` may delete it.
        ownership.claim(ctx.state_dir, self.tool, ctx.profile.cluster.name)
        write_shape(ctx.state_dir, self.shape(ctx))
        self.run(ctx, f"create the {self.tool} cluster", self.create_argv(ctx))
        self.sync_kubeconfig(ctx)

    def record(self, ctx: Context) -> None:
        super().record(ctx)
        ownership.identify(ctx.state_dir, ctx.kube, self.tool, ctx.profile.cluster.name)

    def foreign(self, ctx: Context) -> str | None:
        name = ctx.profile.cluster.name
        if ctx.profile.cluster.attach:
            return f"{self.tool} cluster {name} is attached (cluster.attach: true)"
        try:
            if self.observed_state(ctx)[0] == "absent":
                return None
        except MissingTool:
            return None
        return ownership.not_ours(ctx.state_dir, self.tool, name, live=lambda: self._live(ctx))

    def _live(self, ctx: Context) -> Kube | None:
        """A connection to the existing cluster, to read its identity; None when it does not
        answer (then the record's tool and name decide)."""
        try:
            self.sync_kubeconfig(ctx)
            return ctx.kube
        except ClusterbootError:
            return None

    def start(self, ctx: Context) -> None:
        self.run(ctx, f"start the {self.tool} cluster", self.start_argv(ctx), hint=DOCKER_HINT)
        self.sync_kubeconfig(ctx)

    def down(self, ctx: Context) -> list[str]:
        """Delete the cluster this profile created; never one it attaches to."""
        name, path = ctx.profile.cluster.name, kubeconfig_path(ctx)
        if ctx.profile.cluster.attach:
            return [
                f"{self.tool} cluster {name} is attached (cluster.attach: true), so it is never "
                "torn down; nothing deleted"
            ]
        if self.observed_state(ctx)[0] == "absent":
            path.unlink(missing_ok=True)
            ownership.forget(ctx.state_dir)
            return [f"no {self.tool} cluster {name}; nothing to delete"]
        foreign = self.foreign(ctx)
        if foreign is not None:
            return [
                f"{foreign}; left as it is, nothing deleted (to delete it anyway: "
                f"{' '.join(self.delete_argv(ctx))})"
            ]
        self.run(ctx, f"delete the {self.tool} cluster", self.delete_argv(ctx))
        path.unlink(missing_ok=True)
        ownership.forget(ctx.state_dir)
        shape_path(ctx.state_dir).unlink(missing_ok=True)
        return [f"deleted {self.tool} cluster {name}; removed {path}"]


def kubeconfig_path(ctx: Context) -> Path:
    return ctx.state_dir / "kubeconfig"


SHAPE = "cluster-shape.json"


def shape_path(state_dir: Path) -> Path:
    return state_dir / SHAPE


def write_shape(state_dir: Path, shape: dict[str, Any]) -> None:
    """Remember the shape a cluster is created with (before the create, as the owner record)."""
    secrets.write_private(shape_path(state_dir), json.dumps(shape, sort_keys=True).encode())


def read_shape(state_dir: Path) -> dict[str, Any] | None:
    """The recorded shape; None when there is none or it does not parse (nothing to compare)."""
    try:
        data = json.loads(shape_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def nodes_verdict(ctx: Context, *, expected: int) -> Verdict:
    """Passed when /readyz answers and at least ``expected`` nodes exist, every one Ready; else
    what is not (every cluster stage's gate starts here)."""
    ok, why = ctx.kube.readyz()
    if not ok:
        cluster = ctx.cluster
        return Verdict.waiting(
            why,
            hint=f"is the cluster running, and does {cluster.api_url} reach its API server? "
            f"check with `kubectl --kubeconfig {cluster.kubeconfig} cluster-info`",
        )
    nodes, _ = ctx.kube.list("v1", "Node")
    not_ready = [n["metadata"]["name"] for n in nodes if not workloads.ready(n)]
    ready = len(nodes) - len(not_ready)
    if ready < expected or not_ready:
        return Verdict.waiting(
            f"{ready}/{max(expected, len(nodes))} nodes Ready",
            *(f"Node {name} not Ready" for name in not_ready),
        )
    return Verdict.passed(f"{len(nodes)} nodes Ready")


def nodes_ready(ctx: Context, *, expected: int) -> Verdict:
    """The API answers /readyz and at least ``expected`` nodes exist, every one Ready."""
    nodes = nodes_verdict(ctx, expected=expected)
    if not nodes.ok:
        return nodes
    return Verdict.passed(
        f"{nodes.why}, {ctx.kube.server_version()}, "
        f"kubeconfig {ctx.cluster.kubeconfig} (context {ctx.cluster.context})"
    )


def first_ipv4_subnet(ipam_config_json: str) -> str | None:
    """The first IPv4 ``Subnet`` of `docker network inspect --format '{{json .IPAM.Config}}'`."""
    try:
        entries = json.loads(ipam_config_json or "null") or []
    except json.JSONDecodeError:
        return None
    for entry in entries if isinstance(entries, list) else []:
        subnet = entry.get("Subnet") if isinstance(entry, dict) else None
        if subnet and ipaddress.ip_network(subnet, strict=False).version == 4:
            return str(subnet)
    return None


def lb_range_from_subnet(cidr: str) -> str:
    """A slice at the top of an IPv4 subnet for LoadBalancer addresses: .200-.250 of its last
    /24 (what kind's MetalLB guide uses), or its top 16 addresses (at most its upper half, never
    the broadcast) when it is smaller than a /24."""
    try:
        net = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as err:
        raise ValueError(f"{cidr} is not an IPv4 subnet ({err})") from None
    top = int(net.broadcast_address)
    if net.num_addresses >= 256:
        block = top - 255
        first, last = block + 200, block + 250
    else:
        last = top - 1
        first = max(last - LB_SLICE + 1, int(net.network_address) + net.num_addresses // 2)
    if first > last:
        raise ValueError(f"subnet {cidr} is too small to spare addresses for LoadBalancers")
    return f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(last)}"
