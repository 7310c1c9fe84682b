"""A fake `docker` client that knows the networks of the fake k3d and kind clusters.

Supports: --version; info (fails: no engine, like this machine); network inspect NAME
[--format '{{json .IPAM.Config}}'].
"""

from __future__ import annotations

import json
import sys

import fakelib

KIND_IPAM = [{"Subnet": "fc00:f853:ccd:e793::/64"},
             {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]


def main(argv: list[str]) -> None:
    fakelib.record("docker")
    if argv[:1] == ["--version"]:
        print("Docker version 28.1.1, build 4eba377")
    elif argv[:1] == ["info"]:
        fakelib.fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                     "Is the docker daemon running?")
    elif argv[:2] == ["network", "inspect"] and len(argv) >= 3:
        inspect(argv[2], argv[3:])
    else:
        fakelib.fail(f"fake docker: unsupported command: {' '.join(argv)}", code=125)


def inspect(name: str, rest: list[str]) -> None:
    ipam = networks().get(name)
    if ipam is None:
        fakelib.fail(f"Error response from daemon: network {name} not found")
    if rest == ["--format", "{{json .IPAM.Config}}"]:
        print(json.dumps(ipam))
    elif not rest:
        print(json.dumps([{"Name": name, "Driver": "bridge", "IPAM": {"Config": ipam}}], indent=4))
    else:
        fakelib.fail(f"fake docker: unsupported inspect flags: {' '.join(rest)}", code=125)


def networks() -> dict[str, list[dict[str, str]]]:
    found = {f"k3d-{name}": [{"Subnet": entry["subnet"]}]
             for name, entry in fakelib.load("k3d").items()}
    if fakelib.load("kind"):
        found["kind"] = KIND_IPAM
    return found


if __name__ == "__main__":
    main(sys.argv[1:])
