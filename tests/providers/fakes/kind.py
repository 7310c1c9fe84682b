"""A fake `kind` whose clusters are real local control planes.

Supports: version; get clusters; get kubeconfig; create cluster; delete cluster(s).
Like the real tool, `--wait` needs a unit and creating an existing name fails.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import fakelib
import yaml

TOOL = "kind"


def main(argv: list[str]) -> None:
    fakelib.record(TOOL)
    if argv[:1] == ["version"]:
        print("kind v0.32.0 go1.26.0 linux/amd64")
        return
    parser = argparse.ArgumentParser(prog="kind")
    verbs = parser.add_subparsers(dest="verb", required=True)
    get = verbs.add_parser("get").add_subparsers(dest="what", required=True)
    get.add_parser("clusters")
    get.add_parser("kubeconfig").add_argument("--name", default="kind")
    create = verbs.add_parser("create").add_subparsers(dest="what", required=True)
    cluster = create.add_parser("cluster")
    cluster.add_argument("--name", default="kind")
    cluster.add_argument("--wait", default="0s")
    cluster.add_argument("--kubeconfig")
    cluster.add_argument("--image")
    cluster.add_argument("--config")
    delete = verbs.add_parser("delete").add_subparsers(dest="what", required=True)
    delete.add_parser("cluster").add_argument("--name", default="kind")
    delete.add_parser("clusters").add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    {
        ("get", "clusters"): get_clusters,
        ("get", "kubeconfig"): get_kubeconfig,
        ("create", "cluster"): create_cluster,
        ("delete", "cluster"): delete_cluster,
        ("delete", "clusters"): delete_cluster,
    }[(args.verb, args.what)](args)


def get_clusters(args: argparse.Namespace) -> None:
    names = list(fakelib.load(TOOL))
    if not names:
        print("No kind clusters found.", file=sys.stderr)
    for name in names:
        print(name)


def get_kubeconfig(args: argparse.Namespace) -> None:
    entry = fakelib.load(TOOL).get(args.name)
    if entry is None:
        fakelib.fail(f"ERROR: could not locate any control plane nodes for cluster named "
                     f"'{args.name}'. Use the --name option to select a different cluster")
    print(yaml.safe_dump(own_kubeconfig(args.name, entry), sort_keys=False), end="")


def create_cluster(args: argparse.Namespace) -> None:
    if not re.fullmatch(r"\d+(\.\d+)?(ns|us|ms|s|m|h)", args.wait):
        fakelib.fail(f'ERROR: invalid argument "{args.wait}" for "--wait" flag: time: missing '
                     f'unit in duration "{args.wait}"')
    clusters = fakelib.load(TOOL)
    if args.name in clusters:
        fakelib.fail(f'ERROR: failed to create cluster: node(s) already exist for a cluster '
                     f'with the name "{args.name}"')
    entry = {"host": "127.0.0.1", "port": fakelib.free_port(), "image": args.image,
             "nodes": node_names(args.name, args.config)}
    fakelib.create(TOOL, args.name, entry)
    path = Path(args.kubeconfig) if args.kubeconfig else fakelib.default_kubeconfig()
    fakelib.merge_into(path, own_kubeconfig(args.name, entry), switch=True)
    print(f"Set kubectl context to \"kind-{args.name}\"")


def node_names(name: str, config: str | None) -> list[str]:
    roles = ["control-plane"]
    if config:
        nodes = (yaml.safe_load(Path(config).read_text()) or {}).get("nodes") or []
        roles = [str(node.get("role", "control-plane")) for node in nodes] or roles
    names, seen = [], {"control-plane": 0, "worker": 0}
    for role in roles:
        seen[role] = seen.get(role, 0) + 1
        names.append(f"{name}-{role}" + (str(seen[role]) if seen[role] > 1 else ""))
    return names


def delete_cluster(args: argparse.Namespace) -> None:
    clusters = fakelib.load(TOOL)
    names = list(clusters) if getattr(args, "all", False) else [args.name]
    for name in names:
        print(f"Deleting cluster \"{name}\" ...")
        if name in clusters:
            fakelib.destroy(TOOL, name, clusters.pop(name))
            fakelib.save(TOOL, clusters)


def own_kubeconfig(name: str, entry: fakelib.Entry) -> dict[str, object]:
    return fakelib.kubeconfig(TOOL, name, entry, context=f"kind-{name}", user=f"kind-{name}")


if __name__ == "__main__":
    main(sys.argv[1:])
