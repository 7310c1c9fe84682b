"""What the fake k3d, kind and docker share: the argv log (JSON lines in $FAKE_LOG), injected
faults ($FAKE_FAIL), the cluster registry (JSON in $FAKE_STATE) and real local control planes.

A fake cluster is a real embedded control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok) in its own network namespace, its API relayed to 127.0.0.1:PORT.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from bootstrap.controlplane.layout import Layout, read_pid, read_state  # noqa: E402

if TYPE_CHECKING:
    from bootstrap.controlplane.cluster import LocalControlPlane

Entry = dict[str, Any]


def _quiet() -> None:
    """The real tools print only their own output: keep clusterboot's debug events off stdout.
    (clusterboot's modules are imported only where needed: every fake call costs a start-up.)"""
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def record(tool: str) -> None:
    """Append this call's argv to $FAKE_LOG, then fail if $FAKE_FAIL names this command."""
    log = os.environ.get("FAKE_LOG")
    if log:
        with open(log, "a") as out:
            out.write(json.dumps({"tool": tool, "argv": sys.argv[1:]}) + "\n")
    fault = os.environ.get("FAKE_FAIL", "")
    if fault and " ".join([tool, *sys.argv[1:]]).startswith(fault):
        fail(os.environ.get("FAKE_FAIL_STDERR", f"injected fault in `{fault}`"))


def fail(message: str, code: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(code)


def state_dir() -> Path:
    path = Path(os.environ["FAKE_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(tool: str) -> dict[str, Entry]:
    path = state_dir() / f"{tool}.json"
    data: dict[str, Entry] = json.loads(path.read_text()) if path.is_file() else {}
    return data


def save(tool: str, clusters: dict[str, Entry]) -> None:
    (state_dir() / f"{tool}.json").write_text(json.dumps(clusters, indent=2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plane(tool: str, name: str, entry: Entry) -> LocalControlPlane:
    _quiet()
    from bootstrap.controlplane.cluster import LocalControlPlane
    from bootstrap.processes import runner
    from bootstrap.profile.schema import LocalCluster

    cfg = LocalCluster(api_port=entry["port"], nodes=len(entry["nodes"]))
    return LocalControlPlane(
        cfg, name=f"{tool}-{name}", state_dir=state_dir() / tool / name, run=runner.LocalRunner()
    )


def running(tool: str, name: str, entry: Entry) -> bool:
    """The keeper lives and says every component is up (what LocalControlPlane.observe reads)."""
    layout = Layout(state_dir() / tool / name / "local-cluster")
    pid = read_pid(layout.keeper_pid)
    alive = pid is not None and Path(f"/proc/{pid}").is_dir()
    return alive and read_state(layout.state_file).get("phase") == "ready"


def start(tool: str, name: str, entry: Entry) -> None:
    """Start the control plane (again: etcd data and PKI are kept) and register its nodes."""
    from bootstrap import kube, wait
    from bootstrap.controlplane import binaries, pki
    from bootstrap.controlplane.cluster import write_kubeconfig
    from stages.cluster_local import fake_node

    cp = plane(tool, name, entry)
    cp.clear_leftovers()
    cp.start(binaries.verify(cp.cfg, cp.run), clock=wait.RealClock())
    host = cp.layout.root / "host.kubeconfig"
    write_kubeconfig(host, server=cp.api_url, keys=pki.Pki(cp.layout.pki_dir), context="admin")
    api = kube.Kube.connect(host)
    for node in entry["nodes"]:
        api.apply(fake_node(node, "8", "16Gi", 110))


def create(tool: str, name: str, entry: Entry) -> None:
    """Register and start a cluster; on failure roll back, as k3d and kind do."""
    clusters = load(tool)
    clusters[name] = entry
    save(tool, clusters)
    try:
        start(tool, name, entry)
    except Exception as err:
        destroy(tool, name, entry)
        save(tool, {k: v for k, v in load(tool).items() if k != name})
        fail(f"failed to create cluster {name!r}, rolled back: {err}")


def stop(tool: str, name: str, entry: Entry) -> None:
    from bootstrap import wait

    plane(tool, name, entry).stop(clock=wait.RealClock())


def destroy(tool: str, name: str, entry: Entry) -> None:
    from bootstrap import wait

    plane(tool, name, entry).destroy(clock=wait.RealClock())
    shutil.rmtree(state_dir() / tool / name, ignore_errors=True)


def kubeconfig(tool: str, name: str, entry: Entry, *, context: str, user: str) -> dict[str, Any]:
    """What the real tool prints: its own names for cluster, user and context."""
    from bootstrap.controlplane import pki

    keys = pki.Pki(state_dir() / tool / name / "local-cluster" / "pki")

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": f"https://{entry['host']}:{entry['port']}",
            "certificate-authority-data": b64(keys.ca_cert)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(keys.admin_cert),
            "client-key-data": b64(keys.admin_key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def merge_into(path: Path, doc: dict[str, Any], *, switch: bool) -> None:
    """Like the tools do with ~/.kube/config: add our entries, replacing same-named ones."""
    old = yaml.safe_load(path.read_text()) if path.is_file() else None
    merged: dict[str, Any] = old if isinstance(old, dict) else {"apiVersion": "v1",
                                                                "kind": "Config"}
    for section in ("clusters", "users", "contexts"):
        names = {e["name"] for e in doc[section]}
        kept = [e for e in merged.get(section) or [] if e.get("name") not in names]
        merged[section] = kept + doc[section]
    if switch or not merged.get("current-context"):
        merged["current-context"] = doc["current-context"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    path.chmod(0o600)


def default_kubeconfig() -> Path:
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(listed[0]) if listed else Path.home() / ".kube" / "config"
