"""clusterboot against the hand-written way on real kind clusters, from nothing to every
Application of the sample repository Synced and Healthy.

    bash toolchain/docker-tier.sh run -- .venv/bin/python bench/kind_baseline.py [--runs 5]

Runs inside the Docker tier (docs/docker-tier.md). Each run starts from nothing: no cluster.
The contenders alternate, clusterboot first:

- clusterboot: `invoke up --profile P`, P extending the shipped `kind` profile with the platform
  from its pinned upstream files and the sample repository (web's Service a LoadBalancer) as a
  `sandbox:`;
- the baseline: bench/kind_baseline.sh, the way the GitOps repositories' READMEs do it (kind
  create cluster, kubectl apply and rollout status per component, helm for Sealed Secrets'
  chart, kubeseal, a git push, kubectl apply of the root app, then a polling loop every
  ``--poll`` seconds). It serves the repository with the same in-cluster git server, so both
  install the same things from the same files.

Both use the same kind config: the registry mirror's containerd hosts, 1% eviction, and
kube-apiserver's audit log written to a directory of this machine. Per run: wall time; CPU
seconds of the contender's process tree on this machine (``RUSAGE_CHILDREN``) and of the
cluster's node container (its cgroup's cpuacct); API requests made with the admin kubeconfig,
counted in the audit log; and whether the result is right, checked afterwards by the bench
itself (every Application Synced and Healthy, web answering at its LoadBalancer address). Then
the cluster is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bootstrap.components.sandbox import server  # noqa: E402
from bootstrap.profile import loader  # noqa: E402
from stages import docker_nodes  # noqa: E402
from stages.cluster_common import lb_range_from_subnet  # noqa: E402
from stages.root_app import application  # noqa: E402
from tests.docker import sample  # noqa: E402
from tests.docker.tier import EVICTION_PATCH  # noqa: E402

INVOKE = str(REPO / ".venv" / "bin" / "invoke")
SCRIPT = str(REPO / "bench" / "kind_baseline.sh")
NODE_IMAGE = "kindest/node:v1.36.1"
ADMIN = "kubernetes-admin"
AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                "rules": [{"level": "Metadata"}]}
AUDIT_PATCH = """kind: ClusterConfiguration
apiServer:
  extraArgs:
    - {name: audit-log-path, value: /var/log/kubernetes/audit/audit.log}
    - {name: audit-policy-file, value: /etc/kubernetes/audit/policy.yaml}
  extraVolumes:
    - {name: audit-log, hostPath: /var/log/kubernetes/audit,
       mountPath: /var/log/kubernetes/audit, pathType: DirectoryOrCreate}
    - {name: audit-policy, hostPath: /etc/kubernetes/audit, mountPath: /etc/kubernetes/audit,
       readOnly: true, pathType: DirectoryOrCreate}
"""


def kind_config(directory: Path) -> tuple[Path, Path]:
    """The kind config both contenders use (audit log, eviction at 1%), and where the audit
    log appears on this machine."""
    policy, log = directory / "audit-policy", directory / "audit-log"
    policy.mkdir()
    log.mkdir()
    (policy / "policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
    config = {
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
        "kubeadmConfigPatches": [AUDIT_PATCH, EVICTION_PATCH],
        "nodes": [{"role": "control-plane", "extraMounts": [
            {"hostPath": str(policy), "containerPath": "/etc/kubernetes/audit", "readOnly": True},
            {"hostPath": str(log), "containerPath": "/var/log/kubernetes/audit"},
        ]}],
    }
    path = directory / "kind-cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, log / "audit.log"


def admin_requests(audit_log: Path) -> int:
    """Requests the admin kubeconfig made (each request's ResponseComplete event)."""
    count = 0
    for line in audit_log.read_text(errors="replace").splitlines():
        event = json.loads(line)
        if event.get("stage") == "ResponseComplete" and (
            event.get("user") or {}
        ).get("username") == ADMIN:
            count += 1
    return count


def node_cpu_seconds(name: str) -> float | None:
    """CPU the cluster's node container used (cgroup v1 cpuacct), or None when unreadable."""
    found = subprocess.run(["docker", "inspect", "--format", "{{.Id}}", f"{name}-control-plane"],
                           capture_output=True, text=True, check=False).stdout.strip()
    if not found:
        return None
    # under the engine's cgroup parent (the tier's dockerd: clusterboot-tier; by default docker)
    for cgroup in sorted(Path("/sys/fs/cgroup").glob(f"cpu*/*/{found}/cpuacct.usage")):
        return int(cgroup.read_text()) / 1e9
    return None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def right(kubeconfig: Path, expected_apps: int) -> str:
    """'yes', or what is wrong: every Application Synced and Healthy, web's page answering."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    shown = subprocess.run(
        ["kubectl", "-n", "argocd", "get", "applications", "-o", "json"],
        capture_output=True, text=True, check=True, env=env).stdout
    apps = json.loads(shown)["items"]
    bad = [a["metadata"]["name"] for a in apps
           if (a["status"]["sync"]["status"], a["status"]["health"]["status"])
           != ("Synced", "Healthy")]
    if bad or len(apps) != expected_apps:
        return f"not Synced and Healthy: {bad} of {len(apps)}"
    service = json.loads(subprocess.run(
        ["kubectl", "-n", "web", "get", "service", "web", "-o", "json"],
        capture_output=True, text=True, check=True, env=env).stdout)
    address = service["status"]["loadBalancer"]["ingress"][0]["ip"]
    return "yes" if "Welcome to nginx!" in sample.http_get(address) else f"no page at {address}"


def run_clusterboot(directory: Path, name: str, config: Path) -> tuple[float, Path]:
    profile = directory / "bench.yaml"
    profile.write_text(yaml.safe_dump({
        "name": "bench", "extends": "kind", "state_dir": str(directory / "state"),
        "cluster": {"name": name, "kind": {"config": str(config)}},
        "components": sample.platform_components(directory),
        "root_app": sample.sample_with_load_balancer(directory),
    }))
    started = time.monotonic()
    subprocess.run([INVOKE, "up", "--profile", str(profile), "--log-format", "json"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started, directory / "state" / "kubeconfig"


def run_baseline(directory: Path, name: str, config: Path, poll: int) -> tuple[float, Path]:
    mirror = os.environ["CLUSTERBOOT_REGISTRY_MIRROR"]
    hosts = docker_nodes.write_containerd_hosts(directory, mirror)
    with_mirror = docker_nodes.kind_config(
        yaml.safe_load(config.read_text()), hosts_dir=hosts, cgroup_v1=cgroup_v1())
    config = directory / "kind-with-mirror.yaml"
    config.write_text(yaml.safe_dump(with_mirror))
    source = Path(sample.sample_with_load_balancer(directory)["repo_url"].removeprefix("sandbox:"))
    chart = next(sample.chart_repository(directory).glob("*.tgz"))
    git_server = directory / "git-server.yaml"
    git_server.write_text(yaml.safe_dump_all(
        server.objects("argocd", "quay.io/argoproj/argocd:v3.2.11")))
    root = loader.load("kind").root_app
    assert root is not None
    root_app = directory / "root.yaml"
    root_app.write_text(yaml.safe_dump(application(
        root.model_copy(update={"repo_url": server.url("argocd"), "path": "root"}), "argocd")))
    kubeconfig = directory / "kubeconfig"
    env = {
        **os.environ, "NAME": name, "KIND_CONFIG": str(config), "NODE_IMAGE": NODE_IMAGE,
        "KUBECONFIG": str(kubeconfig), "POOL": lb_range_from_subnet(kind_subnet()),
        "METALLB_YAML": str(sample.METALLB / "metallb-native.yaml"), "CHART": str(chart),
        "ARGOCD_YAML": str(sample.ARGOCD / "manifests" / "install.yaml"),
        "GIT_SERVER_YAML": str(git_server), "SAMPLE": str(source),
        "REPO_URL": server.url("argocd"), "ROOT_APP": str(root_app),
        "EXPECTED_APPS": str(1 + sum(len(a) for a in sample.WAVES.values())),
        "POLL": str(poll),
    }
    started = time.monotonic()
    with (directory / "baseline.log").open("w") as log:
        subprocess.run(["bash", SCRIPT], check=True, env=env, stdout=log, stderr=log)
    return time.monotonic() - started, kubeconfig


def kind_subnet() -> str:
    shown = subprocess.run(["docker", "network", "inspect", "kind", "--format",
                            "{{range .IPAM.Config}}{{.Subnet}} {{end}}"],
                           capture_output=True, text=True, check=True).stdout.split()
    return next(s for s in shown if ":" not in s)


def cgroup_v1() -> bool:
    shown = subprocess.run(["docker", "info", "--format", "{{.CgroupVersion}}"],
                           capture_output=True, text=True, check=True).stdout
    return shown.strip() == "1"


def one_run(contender: str, poll: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{contender}-") as tmp:
        directory = Path(tmp)
        name = f"bench-{contender[:4]}-{os.urandom(2).hex()}"
        config, audit_log = kind_config(directory)
        before = children_cpu()
        try:
            if contender == "clusterboot":
                wall, kubeconfig = run_clusterboot(directory, name, config)
            else:
                wall, kubeconfig = run_baseline(directory, name, config, poll)
            cpu_here = children_cpu() - before
            node_cpu = node_cpu_seconds(name)
            return {"contender": contender, "wall_s": round(wall, 1),
                    "cpu_here_s": round(cpu_here, 1),
                    "cpu_node_s": None if node_cpu is None else round(node_cpu, 1),
                    "api_requests": admin_requests(audit_log),
                    "right": right(kubeconfig, 1 + sum(len(a) for a in sample.WAVES.values()))}
        finally:
            subprocess.run(["kind", "delete", "cluster", "--name", name], check=False,
                           capture_output=True)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for contender in ("clusterboot", "baseline"):
        mine = [r for r in runs if r["contender"] == contender]
        out[contender] = {
            key: {"median": statistics.median(values), "min": min(values), "max": max(values)}
            for key in ("wall_s", "cpu_here_s", "cpu_node_s", "api_requests")
            if (values := [r[key] for r in mine if r[key] is not None])
        }
        out[contender]["right"] = [r["right"] for r in mine]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per contender")
    parser.add_argument("--poll", type=int, default=5, help="the baseline's polling interval")
    parser.add_argument("--out", type=Path, default=Path("bench-kind-baseline.json"))
    args = parser.parse_args()
    if not os.environ.get("CLUSTERBOOT_DOCKER_TIER"):
        sys.exit("run it inside the Docker tier: bash toolchain/docker-tier.sh run -- "
                 ".venv/bin/python bench/kind_baseline.py")
    # helm renders the chart for both (the one `make argocd` built), kubeseal seals for the
    # baseline, kubectl is the image factory's build of v1.36.1 (the node's own version)
    built_kubectl = sorted(Path.home().glob(".cache/clusterboot/images/go/kubernetes-node-*"))
    os.environ["PATH"] = os.pathsep.join([
        str(sample.ARGOCD), str(sample.SEALED_SECRETS), *map(str, built_kubectl[-1:]),
        os.environ["PATH"]])
    for tool in ("kind", "kubectl", "helm", "kubeseal", "git"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")
    runs = []
    for index in range(args.runs):
        for contender in ("clusterboot", "baseline"):
            result = one_run(contender, args.poll)
            runs.append(result)
            print(json.dumps({"run": index + 1, **result}), flush=True)
    args.out.write_text(json.dumps({"runs": runs, "summary": summary(runs)}, indent=2))
    print(json.dumps(summary(runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
