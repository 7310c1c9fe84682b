"""What clusterboot adds to kind and k3d nodes: where they pull images from (a registry mirror)
and a kubelet that starts on a host still on cgroup v1.

A mirror (``cluster.registry_mirror``) holds each upstream registry's images under a path named
after its host, ``MIRROR/quay.io/argoproj/argocd``: the layout of a pull-through cache with one
project per upstream registry, and of an offline registry filled with `crane copy`/`docker push`.
k3s reads that as a ``registries.yaml`` with a rewrite per host; kind's containerd as a
``hosts.toml`` per host whose path is overridden.

kubelet >= 1.35 refuses cgroup v1 unless told otherwise (``failCgroupV1: false``); kind only
warns about it and k3s does not set it, so a cluster on such a host never gets a Ready node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bootstrap import secrets
from bootstrap.errors import CommandFailed, MissingTool
from bootstrap.stage import Context

MIRRORED_HOSTS = ("docker.io", "quay.io", "ghcr.io", "public.ecr.aws", "registry.k8s.io")
UPSTREAM_SERVER = {"docker.io": "https://registry-1.docker.io"}
HOSTS_DIR_IN_NODE = "/etc/containerd/certs.d"
KIND_CONTAINERD_PATCH = (
    '[plugins."io.containerd.grpc.v1.cri".registry]\n'
    f'  config_path = "{HOSTS_DIR_IN_NODE}"\n'
)
KIND_KUBELET_CGROUP_V1_PATCH = (
    "kind: KubeletConfiguration\n"
    "apiVersion: kubelet.config.k8s.io/v1beta1\n"
    "failCgroupV1: false\n"
)
K3S_KUBELET_CGROUP_V1_ARG = "--kubelet-arg=fail-cgroupv1=false@server:*;agent:*"


def k3s_registries(mirror: str) -> dict[str, Any]:
    """k3s's ``registries.yaml``: every mirrored host pulls from ``mirror``, under its name."""
    return {
        "mirrors": {
            host: {"endpoint": [mirror], "rewrite": {"^(.*)$": f"{host}/$1"}}
            for host in MIRRORED_HOSTS
        }
    }


def containerd_hosts(mirror: str) -> dict[str, str]:
    """One ``hosts.toml`` per mirrored host, for containerd's ``config_path`` directory."""
    files = {}
    for host in MIRRORED_HOSTS:
        upstream = UPSTREAM_SERVER.get(host, f"https://{host}")
        files[host] = (
            f'server = "{upstream}"\n\n'
            f'[host."{mirror}/v2/{host}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            "  override_path = true\n"
        )
    return files


def write_k3s_registries(state_dir: Path, mirror: str) -> Path:
    path = state_dir / "k3d-registries.yaml"
    _write_if_changed(path, yaml.safe_dump(k3s_registries(mirror), sort_keys=True))
    return path


def write_containerd_hosts(state_dir: Path, mirror: str) -> Path:
    root = state_dir / "containerd-hosts"
    for host, text in containerd_hosts(mirror).items():
        _write_if_changed(root / host / "hosts.toml", text)
    return root


def kind_config(user: dict[str, Any] | None, *, hosts_dir: Path | None,
                cgroup_v1: bool) -> dict[str, Any]:
    """The user's kind ``Cluster`` config (or kind's default, one control-plane node) with the
    mirror's hosts directory mounted into every node and the kubelet told about cgroup v1."""
    config: dict[str, Any] = dict(user or {})
    config.setdefault("kind", "Cluster")
    config.setdefault("apiVersion", "kind.x-k8s.io/v1alpha4")
    nodes = [dict(node) for node in config.get("nodes") or [{"role": "control-plane"}]]
    if hosts_dir is not None:
        mount = {"hostPath": str(hosts_dir), "containerPath": HOSTS_DIR_IN_NODE, "readOnly": True}
        for node in nodes:
            node["extraMounts"] = [*(node.get("extraMounts") or []), mount]
        config["containerdConfigPatches"] = [
            *(config.get("containerdConfigPatches") or []), KIND_CONTAINERD_PATCH
        ]
    if cgroup_v1:
        config["kubeadmConfigPatches"] = [
            *(config.get("kubeadmConfigPatches") or []), KIND_KUBELET_CGROUP_V1_PATCH
        ]
    config["nodes"] = nodes
    return config


def engine_on_cgroup_v1(ctx: Context) -> bool:
    """Whether the Docker engine runs containers on cgroup v1 (False when it cannot say: then
    nothing is added, and a kubelet that refuses v1 says so in its node's log)."""
    try:
        shown = ctx.runner.run(
            ["docker", "info", "--format", "{{.CgroupVersion}}"], timeout=60
        ).stdout
    except (CommandFailed, MissingTool):
        return False
    return shown.strip() == "1"


def _write_if_changed(path: Path, text: str) -> None:
    if not (path.is_file() and path.read_text() == text):
        secrets.write_private(path, text.encode())
