"""A stand-in for k3s's install script (get.k3s.io), run on the test's SSH host as root.

It takes the real script's environment (INSTALL_K3S_VERSION, INSTALL_K3S_EXEC,
INSTALL_K3S_SKIP_DOWNLOAD, K3S_URL, K3S_TOKEN), records it in /var/lib/rancher/install.jsonl
(the token only as its sha256; each test host has its own /var/lib/rancher), and behaves like
the script would:

- server: "downloads" k3s (a script that prints its version) unless told to skip the download
  (then the uploaded binary must be there), starts a real local control plane on the
  ``--https-listen-port`` (restarted when that port changes), writes /etc/rancher/k3s/k3s.yaml
  (0600, names "default", server https://127.0.0.1:PORT), the node token, and
  k3s-uninstall.sh;
- agent (K3S_URL set): checks K3S_TOKEN against the server's token and registers a node in the
  server's cluster (named as /var/lib/rancher/node-name says; $FAKE_K3S_SERVER_ROOT is where
  the server host's /var/lib/rancher is on this machine), and writes k3s-agent-uninstall.sh.

Called with ``--uninstall`` or ``--uninstall-agent`` by those scripts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

K3S_YAML = Path("/etc/rancher/k3s/k3s.yaml")
DATA = Path("/var/lib/rancher/k3s")
TOKEN = DATA / "server" / "node-token"
PLANE = DATA / "server" / "plane"
BIN = Path("/usr/local/bin")
PORT_FILE = DATA / "server" / "port"
LOG = Path("/var/lib/rancher/install.jsonl")
NODE_NAME = Path("/var/lib/rancher/node-name")


def log(entry: dict[str, object]) -> None:
    with LOG.open("a") as out:
        out.write(json.dumps(entry) + "\n")


def plane(port: int):  # type: ignore[no-untyped-def]
    from bootstrap.controlplane.cluster import LocalControlPlane
    from bootstrap.processes import runner
    from bootstrap.profile.schema import LocalCluster

    return LocalControlPlane(
        LocalCluster(api_port=port, nodes=1), name="k3s", state_dir=PLANE, run=runner.LocalRunner()
    )


def fakelib_running(cp) -> bool:  # type: ignore[no-untyped-def]
    """The keeper lives and says every component is up (an upgrade keeps the cluster)."""
    from bootstrap.controlplane.layout import read_pid, read_state

    pid = read_pid(cp.layout.keeper_pid)
    alive = pid is not None and Path(f"/proc/{pid}").is_dir()
    return alive and read_state(cp.layout.state_file).get("phase") == "ready"


def write_binary(version: str) -> None:
    k3s = BIN / "k3s"
    k3s.write_text(f"#!/bin/sh\necho 'k3s version {version} (fake)'\necho 'go version go1.24'\n")
    k3s.chmod(0o755)


def uninstaller(name: str, flag: str) -> None:
    script = BIN / name
    root = shlex.quote(os.environ.get("FAKE_K3S_SERVER_ROOT", "/nonexistent"))
    script.write_text(
        f"#!/bin/sh\nFAKE_K3S_SERVER_ROOT={root} "
        f"exec {shlex.quote(sys.executable)} {shlex.quote(__file__)} {flag}\n"
    )
    script.chmod(0o755)


def server(version: str, args: list[str]) -> None:
    from bootstrap import kube, wait
    from bootstrap.controlplane import binaries, pki
    from bootstrap.controlplane.cluster import write_kubeconfig
    from stages.cluster_local import fake_node

    ports = [int(a.split("=", 1)[1]) for a in args if a.startswith("--https-listen-port=")]
    port = ports[-1] if ports else 6443
    PLANE.parent.mkdir(parents=True, exist_ok=True)
    old = int(PORT_FILE.read_text()) if PORT_FILE.is_file() else None
    if old is not None and old != port:
        plane(old).destroy(clock=wait.RealClock())
    cp = plane(port)
    if not fakelib_running(cp):
        cp.clear_leftovers()
        cp.start(binaries.verify(cp.cfg, cp.run), clock=wait.RealClock())
    PORT_FILE.write_text(str(port))
    keys = pki.Pki(cp.layout.pki_dir)
    admin = cp.layout.root / "host.kubeconfig"
    write_kubeconfig(admin, server=cp.api_url, keys=keys, context="admin")
    kube.Kube.connect(admin).apply(fake_node("server", "8", "16Gi", 110))

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "default",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": b64(keys.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": "default",
                "user": {
                    "client-certificate-data": b64(keys.admin_cert),
                    "client-key-data": b64(keys.admin_key),
                },
            }
        ],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "current-context": "default",
    }
    K3S_YAML.parent.mkdir(parents=True, exist_ok=True)
    K3S_YAML.write_text(json.dumps(doc))
    K3S_YAML.chmod(0o600)
    if not TOKEN.is_file():
        TOKEN.write_text(f"K10{secrets.token_hex(24)}::server:{secrets.token_hex(16)}\n")
        TOKEN.chmod(0o600)
    uninstaller("k3s-uninstall.sh", "--uninstall")


def agent(url: str, token: str) -> None:
    from bootstrap import kube
    from stages.cluster_local import fake_node

    server_root = Path(os.environ["FAKE_K3S_SERVER_ROOT"])  # the server host's /var/lib/rancher
    want = (server_root / "k3s" / "server" / "node-token").read_text().strip()
    if token != want:
        print("Error: the node token was refused by the server", file=sys.stderr)
        sys.exit(1)
    admin = server_root / "k3s" / "server" / "plane" / "local-cluster" / "host.kubeconfig"
    node = NODE_NAME.read_text().strip() if NODE_NAME.is_file() else "agent"
    kube.Kube.connect(admin).apply(fake_node(node, "8", "16Gi", 110))
    uninstaller("k3s-agent-uninstall.sh", "--uninstall-agent")


def uninstall() -> None:
    from bootstrap import wait

    if PORT_FILE.is_file():
        plane(int(PORT_FILE.read_text())).destroy(clock=wait.RealClock())
    shutil.rmtree(K3S_YAML.parent, ignore_errors=True)
    shutil.rmtree(DATA, ignore_errors=True)
    for name in ("k3s", "k3s-uninstall.sh", "kubectl"):
        (BIN / name).unlink(missing_ok=True)
    log({"uninstalled": "server"})


def uninstall_agent() -> None:
    from bootstrap import kube

    server_root = Path(os.environ.get("FAKE_K3S_SERVER_ROOT", "/nonexistent"))
    admin = server_root / "k3s" / "server" / "plane" / "local-cluster" / "host.kubeconfig"
    if admin.is_file():
        node = NODE_NAME.read_text().strip() if NODE_NAME.is_file() else "agent"
        kube.Kube.connect(admin).delete("v1", "Node", node)
    shutil.rmtree(DATA, ignore_errors=True)
    for name in ("k3s", "k3s-agent-uninstall.sh"):
        (BIN / name).unlink(missing_ok=True)
    log({"uninstalled": "agent"})


def main() -> None:
    if sys.argv[1:] == ["--uninstall"]:
        uninstall()
        return
    if sys.argv[1:] == ["--uninstall-agent"]:
        uninstall_agent()
        return
    env = os.environ
    version = env.get("INSTALL_K3S_VERSION", "")
    args = shlex.split(env.get("INSTALL_K3S_EXEC", ""))
    token = env.get("K3S_TOKEN")
    log(
        {
            "INSTALL_K3S_VERSION": version,
            "INSTALL_K3S_EXEC": env.get("INSTALL_K3S_EXEC"),
            "INSTALL_K3S_SKIP_DOWNLOAD": env.get("INSTALL_K3S_SKIP_DOWNLOAD"),
            "K3S_URL": env.get("K3S_URL"),
            "K3S_TOKEN_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None,
            "user": os.geteuid(),
        }
    )
    if not version:
        sys.exit("[ERROR] INSTALL_K3S_VERSION is required by this stand-in")
    if env.get("INSTALL_K3S_SKIP_DOWNLOAD") == "true":
        if not (BIN / "k3s").is_file():
            sys.exit("[ERROR] INSTALL_K3S_SKIP_DOWNLOAD is set, /usr/local/bin/k3s is missing")
    else:
        write_binary(version)
    if env.get("K3S_URL"):
        if not token:
            sys.exit("[ERROR] K3S_URL is set, K3S_TOKEN is not")
        agent(env["K3S_URL"], token)
    else:
        server(version, args)


if __name__ == "__main__":
    main()
