"""A fake `k3d` (v5 command line) whose clusters are real local control planes.

Supports: version; cluster list -o json; cluster create/start/stop/delete; kubeconfig get.
Unknown flags fail like the real tool's (usage error), so a stage cannot pass one unnoticed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import fakelib

TOOL = "k3d"


def main(argv: list[str]) -> None:
    fakelib.record(TOOL)
    if argv[:1] == ["version"]:
        print("k3d version v5.9.0\nk3s version v1.33.5-k3s1 (default)")
        return
    parser = argparse.ArgumentParser(prog="k3d")
    sub = parser.add_subparsers(dest="group", required=True)
    cluster = sub.add_parser("cluster").add_subparsers(dest="verb", required=True)
    listing = cluster.add_parser("list")
    listing.add_argument("-o", "--output", default="table")
    create = cluster.add_parser("create")
    create.add_argument("name")
    create.add_argument("--servers", type=int, default=1)
    create.add_argument("--agents", type=int, default=0)
    create.add_argument("--wait", action="store_true")
    create.add_argument("--timeout", default="0s")
    create.add_argument("--image")
    create.add_argument("--api-port")
    create.add_argument("--kubeconfig-update-default", default="true")
    create.add_argument("--kubeconfig-switch-context", default="true")
    create.add_argument("--k3s-arg", action="append", default=[])
    create.add_argument("--no-lb", action="store_true")
    create.add_argument("--registry-config")
    for verb in ("start", "stop"):
        one = cluster.add_parser(verb)
        one.add_argument("name")
        one.add_argument("--wait", action="store_true")
    delete = cluster.add_parser("delete")
    delete.add_argument("name", nargs="?")
    delete.add_argument("-a", "--all", action="store_true")
    kubeconfig = sub.add_parser("kubeconfig").add_subparsers(dest="verb", required=True)
    kubeconfig.add_parser("get").add_argument("name")
    args = parser.parse_args(argv)
    {
        ("cluster", "list"): cluster_list,
        ("cluster", "create"): cluster_create,
        ("cluster", "start"): cluster_start,
        ("cluster", "stop"): cluster_stop,
        ("cluster", "delete"): cluster_delete,
        ("kubeconfig", "get"): kubeconfig_get,
    }[(args.group, args.verb)](args)


def cluster_list(args: argparse.Namespace) -> None:
    rows = []
    for name, entry in fakelib.load(TOOL).items():
        up = fakelib.running(TOOL, name, entry)
        servers, agents = entry["servers"], entry["agents"]
        rows.append({
            "name": name,
            "network": {"name": f"k3d-{name}"},
            "serversCount": servers, "serversRunning": servers if up else 0,
            "agentsCount": agents, "agentsRunning": agents if up else 0,
            "hasLoadbalancer": True,
            "nodes": [{"name": n, "role": "agent" if "-agent-" in n else "server",
                       "State": {"Running": up}} for n in entry["nodes"]],
        })
    if args.output == "json":
        print(json.dumps(rows))
    else:
        print("NAME   SERVERS   AGENTS")
        for row in rows:
            print(f"{row['name']}   {row['serversRunning']}/{row['serversCount']}   "
                  f"{row['agentsRunning']}/{row['agentsCount']}")


def cluster_create(args: argparse.Namespace) -> None:
    clusters = fakelib.load(TOOL)
    if args.name in clusters:
        fakelib.fail(f"FATA[0000] Failed to create cluster '{args.name}' because a cluster "
                     "with that name already exists")
    if args.registry_config and not Path(args.registry_config).is_file():
        # k3d v5.9 reads the file before anything else
        fakelib.fail(f"FATA[0000] failed to read registry config file "
                     f"'{args.registry_config}': no such file or directory")
    host, _, port = (args.api_port or "").rpartition(":")
    entry = {
        "servers": args.servers, "agents": args.agents, "image": args.image,
        "host": host or "0.0.0.0", "port": int(port) if port else fakelib.free_port(),
        "subnet": f"172.{19 + len(clusters)}.0.0/16", "k3s_args": args.k3s_arg,
        "load_balancer": not args.no_lb,
        "nodes": [f"k3d-{args.name}-server-{i}" for i in range(args.servers)]
        + [f"k3d-{args.name}-agent-{i}" for i in range(args.agents)],
    }
    fakelib.create(TOOL, args.name, entry)
    if args.kubeconfig_update_default != "false":
        fakelib.merge_into(fakelib.default_kubeconfig(), own_kubeconfig(args.name, entry),
                           switch=args.kubeconfig_switch_context != "false")
    print(f"INFO[0000] Cluster '{args.name}' created successfully!")


def cluster_start(args: argparse.Namespace) -> None:
    entry = known(args.name)
    if not fakelib.running(TOOL, args.name, entry):
        fakelib.start(TOOL, args.name, entry)
    print(f"INFO[0000] Started cluster '{args.name}'")


def cluster_stop(args: argparse.Namespace) -> None:
    fakelib.stop(TOOL, args.name, known(args.name))
    print(f"INFO[0000] Stopped cluster '{args.name}'")


def cluster_delete(args: argparse.Namespace) -> None:
    clusters = fakelib.load(TOOL)
    names = list(clusters) if args.all else [args.name]
    for name in names:
        if name not in clusters:
            print(f"INFO[0000] No nodes found for given cluster '{name}'", file=sys.stderr)
            continue
        fakelib.destroy(TOOL, name, clusters.pop(name))
        fakelib.save(TOOL, clusters)
        print(f"INFO[0000] Successfully deleted cluster {name}!")


def kubeconfig_get(args: argparse.Namespace) -> None:
    import yaml

    print(yaml.safe_dump(own_kubeconfig(args.name, known(args.name)), sort_keys=False), end="")


def own_kubeconfig(name: str, entry: fakelib.Entry) -> dict[str, object]:
    return fakelib.kubeconfig(TOOL, name, entry, context=f"k3d-{name}", user=f"admin@k3d-{name}")


def known(name: str) -> fakelib.Entry:
    entry = fakelib.load(TOOL).get(name)
    if entry is None:
        fakelib.fail(f"FATA[0000] failed to get cluster '{name}': No nodes found for given "
                     "cluster")
    return entry


if __name__ == "__main__":
    main(sys.argv[1:])
