"""A fake `aws` CLI for EKS: eks describe-cluster / wait cluster-active / update-kubeconfig /
get-token, with the real CLI's JSON and errors (ResourceNotFoundException, exit 254).

get-token issues a real ServiceAccount token of the fake cluster, bound to a Secret of its own
so it can be revoked: each call revokes the tokens older than $FAKE_AWS_REVOKE_AFTER seconds
(default: never), and says the token expires $FAKE_AWS_TOKEN_SECONDS from now (default 900, as
EKS's). A client that does not re-run the plugin when a token expires is then refused.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import fakelib

TOOL = "eks"
ACCOUNT = "eks-admin"


def not_found(name: str) -> None:
    print(
        f"\nAn error occurred (ResourceNotFoundException) when calling the DescribeCluster "
        f"operation: No cluster found for name: {name}.",
        file=sys.stderr,
    )
    sys.exit(254)


def main(argv: list[str]) -> None:
    fakelib.record("aws")
    if argv[:1] == ["--version"]:
        print("aws-cli/2.22.0 Python/3.12.6 Linux/6.8 exe/x86_64")
        return
    parser = argparse.ArgumentParser(prog="aws")
    parser.add_argument("service", choices=["eks"])
    parser.add_argument(
        "verb", choices=["describe-cluster", "wait", "update-kubeconfig", "get-token"]
    )
    parser.add_argument("condition", nargs="?")
    parser.add_argument("--name")
    parser.add_argument("--cluster-name")
    parser.add_argument("--region")
    parser.add_argument("--profile")
    parser.add_argument("--output")
    parser.add_argument("--alias")
    parser.add_argument("--kubeconfig")
    args = parser.parse_args(argv)
    name = args.name or args.cluster_name
    clusters = fakelib.load(TOOL)
    entry = clusters.get(name)
    if entry is None or entry.get("region") != args.region:
        not_found(name)
    ca = fakelib.state_dir() / TOOL / name / "local-cluster" / "pki"
    arn = f"arn:aws:eks:{args.region}:123456789012:cluster/{name}"
    if args.verb == "describe-cluster":
        print(
            json.dumps(
                {
                    "cluster": {
                        "name": name,
                        "arn": arn,
                        "status": entry["status"],
                        "version": entry["version"],
                        "endpoint": f"https://{entry['host']}:{entry['port']}",
                        "tags": entry["tags"],
                        "certificateAuthority": {"data": b64((ca / "ca.crt").read_bytes())},
                    }
                }
            )
        )
        return
    if args.verb == "wait":
        entry["status"] = "ACTIVE"
        fakelib.save(TOOL, clusters)
        return
    if args.verb == "update-kubeconfig":
        exec_args = [
            "--region",
            args.region,
            "eks",
            "get-token",
            "--cluster-name",
            name,
            "--output",
            "json",
            *(["--profile", args.profile] if args.profile else []),
        ]
        alias = args.alias or arn
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": arn,
                    "cluster": {
                        "server": f"https://{entry['host']}:{entry['port']}",
                        "certificate-authority-data": b64((ca / "ca.crt").read_bytes()),
                    },
                }
            ],
            "users": [
                {
                    "name": arn,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": exec_args,
                            "interactiveMode": "IfAvailable",
                        }
                    },
                }
            ],
            "contexts": [{"name": alias, "context": {"cluster": arn, "user": arn}}],
            "current-context": alias,
        }
        path = args.kubeconfig or os.path.expanduser("~/.kube/config")
        fakelib.merge_into(__import__("pathlib").Path(path), doc, switch=True)
        print(f"Added new context {alias} to {path}")
        return
    print(json.dumps(get_token(name)))


def get_token(name: str) -> dict[str, object]:
    from kubernetes import client, config

    admin = fakelib.state_dir() / TOOL / name / "local-cluster" / "host.kubeconfig"
    api = client.CoreV1Api(config.new_client_from_config(str(admin)))
    now = time.time()
    revoke_after = float(os.environ.get("FAKE_AWS_REVOKE_AFTER", "0") or 0)
    if revoke_after:
        for secret in api.list_namespaced_secret(
            "kube-system", label_selector="fake-eks-token=1"
        ).items:
            if now - float(secret.metadata.annotations["issued"]) > revoke_after:
                api.delete_namespaced_secret(secret.metadata.name, "kube-system")
    secret_name = f"eks-token-{int(now * 1000)}"
    secret = api.create_namespaced_secret(
        "kube-system",
        {
            "metadata": {
                "name": secret_name,
                "labels": {"fake-eks-token": "1"},
                "annotations": {"issued": str(now)},
            },
        },
    )
    request = api.create_namespaced_service_account_token(
        ACCOUNT,
        "kube-system",
        {
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": secret_name,
                    "uid": secret.metadata.uid,
                },
            },
        },
    )
    seconds = float(os.environ.get("FAKE_AWS_TOKEN_SECONDS", "900"))
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    return {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": request.status.token,
        },
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


if __name__ == "__main__":
    main(sys.argv[1:])
