"""A fake `eksctl` (create cluster -f, delete cluster, version) whose EKS clusters are real
local control planes (fakelib), with a ServiceAccount the fake `aws eks get-token` issues
short-lived tokens for. "AlreadyExists" when the cluster's stack exists, as the real one says.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import fakelib
import yaml

TOOL = "eks"
ACCOUNT = "eks-admin"


def main(argv: list[str]) -> None:
    fakelib.record("eksctl")
    if argv[:1] == ["version"]:
        print("0.200.0")
        return
    parser = argparse.ArgumentParser(prog="eksctl")
    parser.add_argument("verb", choices=["create", "delete"])
    parser.add_argument("what", choices=["cluster"])
    parser.add_argument("-f", "--config-file")
    parser.add_argument("--name")
    parser.add_argument("--region")
    parser.add_argument("--profile")
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)
    clusters = fakelib.load(TOOL)
    if args.verb == "create":
        config = yaml.safe_load(Path(args.config_file).read_text())
        if (
            config.get("kind") != "ClusterConfig"
            or config.get("apiVersion") != "eksctl.io/v1alpha5"
        ):
            fakelib.fail("Error: loading config file: not an eksctl.io/v1alpha5 ClusterConfig")
        meta = config["metadata"]
        name, region = meta["name"], meta["region"]
        if name in clusters:
            fakelib.fail(
                f'Error: creating CloudFormation stack "eksctl-{name}-cluster": operation error '
                "CloudFormation: CreateStack, https response error StatusCode: 400, "
                f"AlreadyExistsException: Stack [eksctl-{name}-cluster] already exists"
            )
        nodes = sum(int(g.get("desiredCapacity", 1)) for g in config.get("managedNodeGroups") or [])
        entry = {
            "host": "127.0.0.1",
            "port": fakelib.free_port(),
            "nodes": [f"ip-192-168-0-{i + 10}.ec2.internal" for i in range(max(nodes, 1))],
            "region": region,
            "version": str(meta.get("version", "1.33")),
            "tags": meta.get("tags") or {},
            "status": "CREATING",
        }
        print(f"[ℹ]  eksctl version 0.200.0\n[ℹ]  using region {region}", flush=True)
        fakelib.create(TOOL, name, entry)
        admin_account(name, entry)
        clusters = fakelib.load(TOOL)
        clusters[name]["status"] = "ACTIVE"
        fakelib.save(TOOL, clusters)
        print(f'[✔]  EKS cluster "{name}" in "{region}" region is ready')
        return
    name = args.name
    if name not in clusters:
        fakelib.fail(
            "Error: cannot delete cluster: ResourceNotFoundException: "
            f"No cluster found for name: {name}."
        )
    fakelib.destroy(TOOL, name, clusters[name])
    fakelib.save(TOOL, {k: v for k, v in clusters.items() if k != name})
    print("[✔]  all cluster resources were deleted")


def admin_account(name: str, entry: dict[str, object]) -> None:
    """What IAM access entries give the cluster's creator: here a ServiceAccount bound to
    cluster-admin, whose tokens `aws eks get-token` hands out."""
    from bootstrap import kube

    api = kube.Kube.connect(fakelib.state_dir() / TOOL / name / "local-cluster" / "host.kubeconfig")
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": "kube-system"},
        }
    )
    api.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ACCOUNT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": "kube-system"}],
        }
    )


if __name__ == "__main__":
    main(sys.argv[1:])
