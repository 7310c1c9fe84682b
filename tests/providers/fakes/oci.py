"""A fake `oci` CLI (compute instance launch/list/get/list-vnics/action/terminate) whose one
instance is the test's sshd host (tests/providers/k3shost.py): launching it "boots" that host
in the background the way cloud-init would (write_files, then the k3s install from runcmd; the
iptables lines are recorded, never run here), with a `cloud-init status` there that says
running until the boot is done. Output is the real CLI's JSON ({"data": ...}, kebab-case keys).

Environment: FAKE_OCI_HOST_ROOT (the host's directory), FAKE_OCI_MOUNTS (its mount commands),
FAKE_OCI_LAUNCH_DIES=1 (the launch call dies after the instance was created, as a cancelled or
timed-out call does), FAKE_OCI_THROTTLE=N (the next N calls are refused with 429
TooManyRequests, as the real service throttles).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fakelib
import yaml

TOOL = "oci"


def host_root() -> Path:
    return Path(os.environ["FAKE_OCI_HOST_ROOT"])


def on_host(path: str) -> Path:
    """Where a path of the instance is on this machine (the host's bind-mounted directories)."""
    for bound in ("/etc/rancher", "/var/lib/rancher", "/usr/local/bin"):
        if path == bound or path.startswith(bound + "/"):
            base = host_root() / "fs" / bound.strip("/").replace("/", "-")
            return base / path[len(bound) :].lstrip("/")
    raise SystemExit(f"fake oci: {path} is outside the instance's writable directories")


def in_namespace(command: str) -> subprocess.CompletedProcess[str]:
    mounts = os.environ["FAKE_OCI_MOUNTS"]
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{mounts} && {command}"],
        capture_output=True,
        text=True,
        check=False,
    )


def cloud_init_says(state: str) -> None:
    script = on_host("/usr/local/bin/cloud-init")
    script.write_text(f"#!/bin/sh\necho 'status: {state}'\n")
    script.chmod(0o755)


def boot(user_data: Path) -> None:
    """What cloud-init does on the first boot (run in the background by `launch`)."""
    doc = yaml.safe_load(user_data.read_text())
    log = host_root() / "cloud-init.jsonl"
    for item in doc.get("write_files") or []:
        target = on_host(item["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        content = item["content"]
        data = (
            __import__("base64").b64decode(content)
            if item.get("encoding") == "b64"
            else content.encode()
        )
        target.write_bytes(data)
        target.chmod(int(str(item.get("permissions", "0644")), 8))
    for command in doc.get("runcmd") or []:
        text = command if isinstance(command, str) else " ".join(command)
        if text.startswith(("iptables", "(netfilter-persistent")):
            with log.open("a") as out:
                out.write(json.dumps({"recorded": text}) + "\n")
            continue
        done = in_namespace(text)
        with log.open("a") as out:
            out.write(
                json.dumps({"ran": text, "exit": done.returncode, "stderr": done.stderr[-500:]})
                + "\n"
            )
        if done.returncode != 0:
            cloud_init_says("error")
            return
    cloud_init_says("done")


def instance_json(ocid: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ocid,
        "display-name": entry["name"],
        "lifecycle-state": entry["state"],
        "shape": entry["shape"],
        "freeform-tags": entry["tags"],
        "compartment-id": entry["compartment"],
    }


def throttled() -> bool:
    budget = int(os.environ.get("FAKE_OCI_THROTTLE", "0") or 0)
    counter = fakelib.state_dir() / "oci-throttled"
    spent = int(counter.read_text()) if counter.is_file() else 0
    if spent >= budget:
        return False
    counter.write_text(str(spent + 1))
    return True


def main(argv: list[str]) -> None:
    fakelib.record(TOOL)
    if argv[:1] == ["--version"]:
        print("3.51.0")
        return
    if throttled():
        fakelib.fail(
            json.dumps(
                {
                    "code": "TooManyRequests",
                    "message": "Too many requests for the user",
                    "opc-request-id": "fake",
                    "status": 429,
                },
                indent=4,
            ),
            1,
        )
    parser = argparse.ArgumentParser(prog="oci")
    parser.add_argument("--profile")
    parser.add_argument("group", choices=["compute"])
    parser.add_argument("resource", choices=["instance"])
    parser.add_argument(
        "verb", choices=["list", "launch", "get", "list-vnics", "action", "terminate"]
    )
    for flag in (
        "--compartment-id",
        "--display-name",
        "--availability-domain",
        "--shape",
        "--shape-config",
        "--image-id",
        "--subnet-id",
        "--assign-public-ip",
        "--ssh-authorized-keys-file",
        "--user-data-file",
        "--freeform-tags",
        "--wait-for-state",
        "--instance-id",
        "--action",
    ):
        parser.add_argument(flag)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    instances = fakelib.load(TOOL)
    if args.verb == "list":
        rows = [
            instance_json(i, e)
            for i, e in instances.items()
            if e["compartment"] == args.compartment_id
            and (args.display_name is None or e["name"] == args.display_name)
        ]
        print(json.dumps({"data": rows}))
        return
    if args.verb == "launch":
        for needed in (
            "compartment_id",
            "availability_domain",
            "shape",
            "image_id",
            "subnet_id",
            "user_data_file",
            "ssh_authorized_keys_file",
        ):
            if getattr(args, needed) is None:
                fakelib.fail(f"Error: Missing option(s) --{needed.replace('_', '-')}.", 2)
        json.loads(args.shape_config or "{}")
        ocid = f"ocid1.instance.oc1..fake{len(instances) + 1}"
        instances[ocid] = {
            "name": args.display_name,
            "state": "PROVISIONING",
            "shape": args.shape,
            "tags": json.loads(args.freeform_tags or "{}"),
            "compartment": args.compartment_id,
            "user_data": args.user_data_file,
        }
        fakelib.save(TOOL, instances)
        if os.environ.get("FAKE_OCI_LAUNCH_DIES") == "1":
            fakelib.fail("ServiceError: connection reset while waiting for the work request")
        run(ocid, instances)
        print(json.dumps({"data": instance_json(ocid, instances[ocid])}))
        return
    entry = instances.get(str(args.instance_id))
    if entry is None:
        fakelib.fail(json.dumps({"code": "NotAuthorizedOrNotFound", "status": 404}), 1)
    ocid = str(args.instance_id)
    if args.verb == "list-vnics":
        print(json.dumps({"data": [{"public-ip": "127.0.0.1", "private-ip": "10.0.0.17"}]}))
        return
    waits = args.wait_for_state == "RUNNING" and entry["state"] != "RUNNING"
    if args.verb in {"get", "action"} and waits:
        run(ocid, instances)
    if args.verb == "terminate":
        uninstall = on_host("/usr/local/bin/k3s-uninstall.sh")
        if uninstall.is_file():
            in_namespace("sh /usr/local/bin/k3s-uninstall.sh")
        entry["state"] = "TERMINATED"
        fakelib.save(TOOL, instances)
        return
    print(json.dumps({"data": instance_json(ocid, instances[ocid])}))


def run(ocid: str, instances: dict[str, Any]) -> None:
    """RUNNING at once; cloud-init goes on in the background, as on a real first boot."""
    entry = instances[ocid]
    entry["state"] = "RUNNING"
    fakelib.save(TOOL, instances)
    cloud_init_says("running")
    subprocess.Popen(
        [sys.executable, __file__, "--boot", entry["user_data"]],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--boot"]:
        boot(Path(sys.argv[2]))
    else:
        main(sys.argv[1:])
