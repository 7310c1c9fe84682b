"""What clusterboot adds to kind and k3d nodes: the registry mirror, rendered the ways k3s and
containerd read it, a kubelet that starts on cgroup v1, and drift against the shape a cluster
was created with (refused, or recreated with --recreate)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.errors import StageFailed
from bootstrap.kube import ownership
from stages import docker_nodes
from stages.cluster_common import write_shape
from stages.cluster_k3d import ClusterK3d
from stages.cluster_kind import ClusterKind
from tests.unit.test_cluster_tools import DOCKER_CGROUP, context, k3d_row, profile

MIRROR = "http://172.31.251.1:5000"


def test_k3s_registries_send_every_upstream_host_to_the_mirror_under_its_own_name() -> None:
    doc = docker_nodes.k3s_registries(MIRROR)

    assert set(doc["mirrors"]) == {"docker.io", "quay.io", "ghcr.io", "public.ecr.aws",
                                   "registry.k8s.io"}
    quay = doc["mirrors"]["quay.io"]
    assert quay["endpoint"] == [MIRROR]
    assert quay["rewrite"] == {"^(.*)$": "quay.io/$1"}


def test_containerd_hosts_override_the_path_so_each_host_keeps_its_own_namespace() -> None:
    files = docker_nodes.containerd_hosts(MIRROR)

    pause = tomllib.loads(files["registry.k8s.io"])
    assert pause["server"] == "https://registry.k8s.io"
    assert pause["host"] == {f"{MIRROR}/v2/registry.k8s.io": {
        "capabilities": ["pull", "resolve"], "override_path": True}}
    assert tomllib.loads(files["docker.io"])["server"] == "https://registry-1.docker.io"


def test_kind_config_keeps_the_users_nodes_and_patches_and_adds_the_mirror_to_each(
    tmp_path: Path,
) -> None:
    user = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
            "nodes": [{"role": "control-plane", "extraMounts": [{"hostPath": "/a",
                                                                  "containerPath": "/a"}]},
                      {"role": "worker"}],
            "containerdConfigPatches": ["# the user's own\n"]}

    config = docker_nodes.kind_config(user, hosts_dir=tmp_path, cgroup_v1=True)

    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker"]
    assert config["nodes"][0]["extraMounts"][0] == {"hostPath": "/a", "containerPath": "/a"}
    for node in config["nodes"]:
        assert {"hostPath": str(tmp_path), "containerPath": "/etc/containerd/certs.d",
                "readOnly": True} in node["extraMounts"]
    assert config["containerdConfigPatches"][0] == "# the user's own\n"
    patch = tomllib.loads(config["containerdConfigPatches"][1])
    assert patch["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == (
        "/etc/containerd/certs.d")
    assert yaml.safe_load(config["kubeadmConfigPatches"][0])["failCgroupV1"] is False
    assert user["nodes"][1] == {"role": "worker"}  # the user's dict is left as it was


def test_kind_config_without_a_mirror_on_cgroup_v2_adds_nothing() -> None:
    config = docker_nodes.kind_config(None, hosts_dir=None, cgroup_v1=False)
    assert config == {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                      "nodes": [{"role": "control-plane"}]}


def test_k3d_create_on_cgroup_v1_behind_a_mirror(tmp_path: Path) -> None:
    prof = profile("k3d", registry_mirror=MIRROR,
                   k3d={"load_balancer": False, "k3s_args": ["--disable=traefik",
                                                              "--flannel-backend=none@server:0"]})
    ctx = context(tmp_path, prof, {DOCKER_CGROUP: "1"})

    argv = ClusterK3d().create_argv(ctx)

    assert "--no-lb" in argv
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--k3s-arg"]
    assert pairs == ["--disable=servicelb@server:*", "--disable=traefik@server:*",
                     "--flannel-backend=none@server:0", docker_nodes.K3S_KUBELET_CGROUP_V1_ARG]
    registries = Path(argv[argv.index("--registry-config") + 1])
    assert yaml.safe_load(registries.read_text()) == docker_nodes.k3s_registries(MIRROR)


def test_kind_create_behind_a_mirror_writes_a_config_with_the_hosts_mounted(
    tmp_path: Path,
) -> None:
    user_config = tmp_path / "kind.yaml"
    user_config.write_text(yaml.safe_dump({"kind": "Cluster",
                                           "apiVersion": "kind.x-k8s.io/v1alpha4",
                                           "nodes": [{"role": "control-plane"}]}))
    prof = profile("kind", registry_mirror=MIRROR, kind={"config": str(user_config)})
    argv = ClusterKind().create_argv(context(tmp_path, prof, {}))

    written = Path(argv[argv.index("--config") + 1])
    assert written == tmp_path / "kind-config.yaml"
    config = yaml.safe_load(written.read_text())
    hosts = Path(config["nodes"][0]["extraMounts"][0]["hostPath"])
    assert (hosts / "quay.io" / "hosts.toml").is_file()
    assert "kubeadmConfigPatches" not in config  # cgroup v2: the kubelet needs nothing


@pytest.mark.parametrize("mirror", ["http://u:p@m:5000", "https://m/v2", "m:5000", "ftp://m",
                                    "http://m:5000?x=1"])
def test_a_mirror_that_is_not_a_registry_base_url_is_refused(mirror: str) -> None:
    with pytest.raises(ValueError, match="registry's base URL"):
        profile("kind", registry_mirror=mirror)


def created(tmp_path: Path, **k3d: Any) -> None:
    """The state a k3d create leaves: the owner record and the shape it was made with."""
    ctx = context(tmp_path, profile("k3d", k3d=k3d), {})
    ownership.claim(tmp_path, "k3d", "c1")
    write_shape(tmp_path, ClusterK3d().shape(ctx))


def test_a_cluster_created_with_another_shape_is_refused_without_recreate(
    tmp_path: Path,
) -> None:
    created(tmp_path, servers=1, agents=0)
    ctx = context(tmp_path, profile("k3d", k3d={"servers": 1, "agents": 2}),
                  {"k3d cluster list -o json": k3d_row(1)})

    with pytest.raises(StageFailed) as err:
        list(ClusterK3d().plan(ctx))

    assert "agents: 0 -> 2" in str(err.value)
    assert "--recreate" in str(err.value.hint)


def test_recreate_deletes_and_creates_a_drifted_cluster_this_profile_made(
    tmp_path: Path,
) -> None:
    created(tmp_path, servers=1, agents=0)
    prof = profile("k3d", k3d={"servers": 1, "agents": 2})
    ctx = context(tmp_path, prof, {"k3d cluster list -o json": k3d_row(1)})
    ctx.options["recreate"] = True

    changes = list(ClusterK3d().plan(ctx))

    assert [c.summary for c in changes] == ["recreate k3d cluster c1 (agents: 0 -> 2)"]


def test_an_unchanged_shape_plans_no_recreate(tmp_path: Path) -> None:
    created(tmp_path, servers=1, agents=0)
    ctx = context(tmp_path, profile("k3d", k3d={"servers": 1, "agents": 0}), {})
    assert ClusterK3d().drift(ctx) == []
