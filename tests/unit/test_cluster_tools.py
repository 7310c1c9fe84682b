"""The k3d, kind and Docker Desktop stages' decisions as tables: observed facts in (what the
tools print, the kubeconfig on disk), changes out, always with the "already there" row.
Processes are replaced by a scripted runner; the providers tier runs the real thing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import wait
from bootstrap.errors import CommandFailed, InputError, MissingTool, StageFailed
from bootstrap.kube import kubeconfig
from bootstrap.processes import tools
from bootstrap.processes.runner import Result
from bootstrap.profile.schema import Profile
from bootstrap.stage import ClusterInfo, Context
from stages.cluster_common import first_ipv4_subnet, lb_range_from_subnet, nodes_ready
from stages.cluster_docker_desktop import ClusterDockerDesktop
from stages.cluster_k3d import ClusterK3d, state_of
from stages.cluster_kind import ClusterKind

Answer = str | BaseException


class ScriptedRunner:
    """Answers each argv (joined by spaces) from a table; records what was asked."""

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self.answers = dict(answers)
        self.calls: list[str] = []

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}"

    def run(self, argv: Sequence[str], **_: Any) -> Result:
        line = " ".join(argv)
        self.calls.append(line)
        answer = self.answers.get(line)
        if answer is None:
            raise AssertionError(f"unexpected command: {line}")
        if isinstance(answer, BaseException):
            raise answer
        return Result(list(argv), 0, answer, "")


def profile(provider: str, **cluster: Any) -> Profile:
    return Profile.model_validate(
        {"name": "p", "cluster": {"provider": provider, "name": "c1", **cluster}}
    )


DOCKER_CGROUP = "docker info --format {{.CgroupVersion}}"


def context(tmp_path: Path, prof: Profile, answers: Mapping[str, Answer]) -> Context:
    """A context whose runner answers ``answers`` (and, unless they say otherwise, an engine on
    cgroup v2, which needs nothing added to the nodes)."""
    return Context(profile=prof, runner=ScriptedRunner({DOCKER_CGROUP: "2", **answers}),
                   state_dir=tmp_path, clock=wait.FakeClock())


def tool_kubeconfig(context_name: str, server: str = "https://0.0.0.0:6550") -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": context_name, "cluster": {"server": server}}],
        "users": [{"name": f"admin@{context_name}", "user": {"token": "t"}}],
        "contexts": [{"name": context_name,
                      "context": {"cluster": context_name, "user": f"admin@{context_name}"}}],
        "current-context": context_name,
    })


def k3d_row(running: int, count: int = 1) -> str:
    return json.dumps([{"name": "c1", "serversRunning": running, "serversCount": count,
                        "agentsRunning": 0, "agentsCount": 0}])


K3D_LIST = "k3d cluster list -o json"
K3D_KUBECONFIG = "k3d kubeconfig get c1"
K3D_NETWORK = "docker network inspect k3d-c1 --format {{json .IPAM.Config}}"


# -- pure decisions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("172.18.0.0/16", "172.18.255.200-172.18.255.250"),
        ("10.89.0.0/12", "10.95.255.200-10.95.255.250"),
        ("192.168.97.0/24", "192.168.97.200-192.168.97.250"),
        ("192.168.97.0/25", "192.168.97.111-192.168.97.126"),
        ("192.168.97.0/28", "192.168.97.8-192.168.97.14"),
        ("192.168.97.0/30", "192.168.97.2-192.168.97.2"),
        ("172.18.0.1/16", "172.18.255.200-172.18.255.250"),
    ],
    ids=["kind default /16", "/12", "/24", "/25", "/28 upper half", "/30", "host bits set"],
)
def test_lb_range_is_a_slice_at_the_top_of_the_subnet(cidr: str, expected: str) -> None:
    assert lb_range_from_subnet(cidr) == expected


@pytest.mark.parametrize("cidr", ["10.0.0.0/31", "10.0.0.1/32", "fc00:f853:ccd:e793::/64"])
def test_lb_range_refuses_subnets_with_no_room_or_not_ipv4(cidr: str) -> None:
    with pytest.raises(ValueError, match=r"too small|IPv4"):
        lb_range_from_subnet(cidr)


@pytest.mark.parametrize(
    ("ipam", "expected"),
    [
        ('[{"Subnet":"fc00:f853:ccd:e793::/64"},{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]',
         "172.18.0.0/16"),
        ('[{"Subnet":"172.19.0.0/16"}]', "172.19.0.0/16"),
        ('[{"Subnet":"fc00::/64"}]', None),
        ("[]", None),
        ("null", None),
        ("not json", None),
    ],
    ids=["ipv6 first", "ipv4 only", "ipv6 only", "empty", "null", "garbage"],
)
def test_the_first_ipv4_subnet_is_taken_from_the_ipam_config(
    ipam: str, expected: str | None
) -> None:
    assert first_ipv4_subnet(ipam) == expected


@pytest.mark.parametrize(
    ("found", "state"),
    [
        (None, "absent"),
        ({"serversRunning": 0, "serversCount": 1, "agentsRunning": 0, "agentsCount": 2}, "stopped"),
        ({"serversRunning": 1, "serversCount": 1, "agentsRunning": 1, "agentsCount": 2}, "stopped"),
        ({"serversRunning": 3, "serversCount": 3, "agentsRunning": 2, "agentsCount": 2}, "running"),
    ],
    ids=["absent", "all stopped", "an agent stopped", "running"],
)
def test_k3d_cluster_state_from_its_list_entry(found: dict[str, int] | None, state: str) -> None:
    assert state_of(found) == state


@pytest.mark.parametrize(
    ("k3d", "tail"),
    [
        ({}, []),
        ({"image": "rancher/k3s:v1.33.5-k3s1"}, ["--image", "rancher/k3s:v1.33.5-k3s1"]),
        ({"api_port": 6550}, ["--api-port", "127.0.0.1:6550"]),
    ],
    ids=["defaults", "image", "api port on loopback"],
)
def test_k3d_create_never_touches_the_users_kubeconfig(
    tmp_path: Path, k3d: dict[str, Any], tail: list[str]
) -> None:
    prof = profile("k3d", k3d={"servers": 1, "agents": 2, **k3d})
    off = prof.model_copy(update={"components": prof.components.model_copy(
        update={"metallb": prof.components.metallb.model_copy(update={"enabled": False})})})
    assert ClusterK3d().create_argv(context(tmp_path, off, {})) == [
        "k3d", "cluster", "create", "c1", "--servers", "1", "--agents", "2", "--wait",
        "--timeout", "300s", "--kubeconfig-update-default=false",
        "--kubeconfig-switch-context=false", *tail,
    ]


def test_k3d_create_turns_servicelb_off_when_metallb_answers_load_balancers(
    tmp_path: Path,
) -> None:
    argv = ClusterK3d().create_argv(context(tmp_path, profile("k3d", k3d={}), {}))
    assert argv[-2:] == ["--k3s-arg", "--disable=servicelb@server:*"]


def test_kind_create_writes_its_kubeconfig_into_the_state_dir_only(tmp_path: Path) -> None:
    prof = profile("kind", kind={"node_image": "kindest/node:v1.33.1", "config": "/k/kind.yaml"})
    ctx = context(tmp_path, prof, {})
    assert ClusterKind().create_argv(ctx) == [
        "kind", "create", "cluster", "--name", "c1", "--wait", "300s",
        "--kubeconfig", str(tmp_path / "kubeconfig"),
        "--image", "kindest/node:v1.33.1", "--config", "/k/kind.yaml",
    ]


# -- plans as tables ----------------------------------------------------------------------------
def write_current_copy(tmp_path: Path, server: str = "https://0.0.0.0:6550") -> None:
    """Set up the "already there" row: the copy as the stage itself writes it (checked on its
    own in the providers tier and in test_kubeconfig)."""
    text = tool_kubeconfig("k3d-c1", server)
    ctx = context(tmp_path, profile("k3d", lb_range="198.51.100.0/28"), {K3D_KUBECONFIG: text})
    ClusterK3d().sync_kubeconfig(ctx)
    assert kubeconfig.context_names(yaml.safe_load((tmp_path / "kubeconfig").read_text())) == ["p"]


@pytest.mark.parametrize(
    ("listed", "copy_current", "changes"),
    [
        ("[]", False, ["create k3d cluster c1 (1 servers, 0 agents)"]),
        (k3d_row(0), False, ["start k3d cluster c1 (0/1 servers, 0/0 agents running)"]),
        (k3d_row(1), False, ["write kubeconfig {state}/kubeconfig (context p)"]),
        (k3d_row(1), True, []),
    ],
    ids=["absent", "stopped", "running, no copy yet", "already there"],
)
def test_k3d_plan(tmp_path: Path, listed: str, copy_current: bool, changes: list[str]) -> None:
    if copy_current:
        write_current_copy(tmp_path)
    answers = {K3D_LIST: listed, K3D_KUBECONFIG: tool_kubeconfig("k3d-c1"),
               K3D_NETWORK: '[{"Subnet":"172.20.0.0/16"}]'}
    ctx = context(tmp_path, profile("k3d"), answers)

    planned = [c.summary for c in ClusterK3d().plan(ctx)]

    assert planned == [c.format(state=tmp_path) for c in changes]
    assert ctx.has_cluster == copy_current


def test_an_up_to_date_k3d_cluster_is_published_with_the_network_lb_range(tmp_path: Path) -> None:
    write_current_copy(tmp_path)
    answers = {K3D_LIST: k3d_row(1), K3D_KUBECONFIG: tool_kubeconfig("k3d-c1"),
               K3D_NETWORK: '[{"Subnet":"172.20.0.0/16"}]'}
    ctx = context(tmp_path, profile("k3d"), answers)

    assert list(ClusterK3d().plan(ctx)) == []

    info = ctx.cluster
    assert (info.context, info.api_url, info.lb_range, info.provider) == (
        "p", "https://127.0.0.1:6550", "172.20.255.200-172.20.255.250", "k3d"
    )


def test_the_profiles_lb_range_wins_and_docker_is_not_asked(tmp_path: Path) -> None:
    write_current_copy(tmp_path)
    ctx = context(tmp_path, profile("k3d", lb_range="198.51.100.0/28"),
                  {K3D_LIST: k3d_row(1), K3D_KUBECONFIG: tool_kubeconfig("k3d-c1")})

    assert list(ClusterK3d().plan(ctx)) == []

    assert ctx.cluster.lb_range == "198.51.100.0/28"
    assert not [c for c in ctx.runner.calls if c.startswith("docker")]  # type: ignore[attr-defined]


def test_a_docker_network_without_ipv4_fails_with_a_hint_to_set_the_range(tmp_path: Path) -> None:
    write_current_copy(tmp_path)
    ctx = context(tmp_path, profile("k3d"), {K3D_LIST: k3d_row(1), K3D_KUBECONFIG:
                  tool_kubeconfig("k3d-c1"), K3D_NETWORK: '[{"Subnet":"fc00::/64"}]'})

    with pytest.raises(StageFailed, match="no IPv4 subnet") as caught:
        list(ClusterK3d().plan(ctx))
    assert "cluster.lb_range" in caught.value.hint


def test_plan_without_k3d_still_shows_the_create_with_how_to_install_it(tmp_path: Path) -> None:
    missing = MissingTool("k3d", needed_for="x", install=tools.install_hint("k3d"))
    ctx = context(tmp_path, profile("k3d"), {K3D_LIST: missing})

    planned = [c.summary for c in ClusterK3d().plan(ctx)]

    assert planned == [f"create k3d cluster c1 (1 servers, 0 agents) (k3d is not installed: "
                       f"{tools.install_hint('k3d')})"]


def test_a_failing_k3d_list_names_the_stage_the_command_and_docker(tmp_path: Path) -> None:
    failed = CommandFailed(["k3d", "cluster", "list", "-o", "json"], exit_code=1,
                           stderr_tail="Cannot connect to the Docker daemon")
    ctx = context(tmp_path, profile("k3d"), {K3D_LIST: failed})

    with pytest.raises(StageFailed) as caught:
        list(ClusterK3d().plan(ctx))

    assert "cluster_k3d: list k3d clusters failed: `k3d cluster list -o json` exited with 1" in str(
        caught.value
    )
    assert "Cannot connect to the Docker daemon" in str(caught.value)
    assert "docker info" in caught.value.hint


@pytest.mark.parametrize(
    ("listed", "copy_current", "changes"),
    [
        ("", False, ["create kind cluster c1"]),
        ("other\nc1\n", False, ["write kubeconfig {state}/kubeconfig (context p)"]),
        ("c1\n", True, []),
    ],
    ids=["absent", "present, no copy yet", "already there"],
)
def test_kind_plan(tmp_path: Path, listed: str, copy_current: bool, changes: list[str]) -> None:
    text = tool_kubeconfig("kind-c1", server="https://127.0.0.1:39201")
    if copy_current:
        setup = context(tmp_path, profile("kind", lb_range="198.51.100.0/28"),
                        {"kind get kubeconfig --name c1": text})
        ClusterKind().sync_kubeconfig(setup)
    answers = {"kind get clusters": listed, "kind get kubeconfig --name c1": text,
               "docker network inspect kind --format {{json .IPAM.Config}}":
               '[{"Subnet":"fc00::/64"},{"Subnet":"172.18.0.0/16"}]'}
    ctx = context(tmp_path, profile("kind"), answers)

    planned = [c.summary for c in ClusterKind().plan(ctx)]

    assert planned == [c.format(state=tmp_path) for c in changes]
    if copy_current:
        assert ctx.cluster.lb_range == "172.18.255.200-172.18.255.250"


def test_docker_desktop_plan_copies_its_context_once(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(tool_kubeconfig("docker-desktop", "https://127.0.0.1:6443"))
    prof = profile("docker-desktop", attach=True, kubeconfig=str(tmp_path / "config"))
    ctx = context(tmp_path / "state", prof, {})
    stage = ClusterDockerDesktop()

    changes = list(stage.plan(ctx))
    assert [c.summary for c in changes] == [
        f"write kubeconfig {tmp_path / 'state' / 'kubeconfig'} (context p)"
    ]
    changes[0].apply(ctx)

    assert list(stage.plan(ctx)) == [], "already there"
    assert (ctx.cluster.context, ctx.cluster.api_url, ctx.cluster.lb_range) == (
        "p", "https://127.0.0.1:6443", None
    )
    assert ctx.runner.calls == []  # type: ignore[attr-defined]


def test_docker_desktop_without_a_kubeconfig_file_says_which_file_it_looked_for(
    tmp_path: Path,
) -> None:
    prof = profile("docker-desktop", attach=True, kubeconfig=str(tmp_path / "absent"))
    ctx = context(tmp_path, prof, {})

    with pytest.raises(InputError, match=r"not in kubeconfig .*absent \(no such file\); "
                                          r"contexts there: none"):
        ClusterDockerDesktop().preflight(ctx)


# -- the gate -----------------------------------------------------------------------------------
class StubKube:
    def __init__(self, ready: tuple[bool, str], nodes: list[tuple[str, str]]) -> None:
        self.ready = ready
        self.nodes = [{"metadata": {"name": name},
                       "status": {"conditions": [{"type": "Ready", "status": status}]}}
                      for name, status in nodes]

    def readyz(self) -> tuple[bool, str]:
        return self.ready

    def list(self, api_version: str, kind: str) -> tuple[list[dict[str, Any]], str]:
        assert (api_version, kind) == ("v1", "Node")
        return self.nodes, "1"

    def server_version(self) -> str:
        return "v1.33.5+k3s1"


@pytest.mark.parametrize(
    ("ready", "nodes", "expected", "why", "blocking"),
    [
        ((False, "API server unreachable at https://127.0.0.1:6550: refused"), [], 1,
         "API server unreachable at https://127.0.0.1:6550: refused", ()),
        ((True, "ok"), [("s0", "True")], 3, "1/3 nodes Ready", ()),
        ((True, "ok"), [("s0", "True"), ("a0", "Unknown")], 2, "1/2 nodes Ready",
         ("Node a0 not Ready",)),
        ((True, "ok"), [], 1, "0/1 nodes Ready", ()),
    ],
    ids=["API down", "agents not joined yet", "a node not Ready", "no node at all"],
)
def test_the_gate_waits_for_the_api_and_every_node(
    tmp_path: Path, ready: tuple[bool, str], nodes: list[tuple[str, str]], expected: int,
    why: str, blocking: tuple[str, ...],
) -> None:
    verdict = nodes_ready(gate_context(tmp_path, StubKube(ready, nodes)), expected=expected)

    assert (verdict.ok, verdict.why, verdict.blocking) == (False, why, blocking)


def test_the_gate_passes_when_every_expected_node_is_ready(tmp_path: Path) -> None:
    kube = StubKube((True, "ok"), [("s0", "True"), ("a0", "True")])

    verdict = nodes_ready(gate_context(tmp_path, kube), expected=2)

    assert verdict.ok
    assert verdict.why == (f"2 nodes Ready, v1.33.5+k3s1, kubeconfig {tmp_path / 'kubeconfig'} "
                           "(context p)")


def gate_context(tmp_path: Path, kube: StubKube) -> Context:
    info = ClusterInfo(kubeconfig=tmp_path / "kubeconfig", context="p",
                       api_url="https://127.0.0.1:6550")
    return Context(profile=profile("k3d"), runner=ScriptedRunner({}), state_dir=tmp_path,
                   clock=wait.FakeClock(), _cluster=info, _kube=kube)  # type: ignore[arg-type]
