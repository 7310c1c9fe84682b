"""The sandbox repository served inside the cluster, for an Argo CD that runs there as pods.

A repo-server pod cannot read ``file://`` paths on this machine. So when clusterboot installs
Argo CD as pods (``mode: manifests``), the published repository is pushed to a small git server
in Argo CD's namespace: one pod of Argo CD's own image (it has git) running ``git daemon``,
read-only, behind the Service ``clusterboot-sandbox-git``; Argo CD reads
``git://clusterboot-sandbox-git.<namespace>.svc/gitops-sandbox.git``.

Pushes never use the daemon (it serves no receive-pack): git runs ``git receive-pack`` in the
pod through the Kubernetes API's exec (``bootstrap.kube.podexec`` as an ``ext::`` transport),
so writing the repository takes the rights of the kubeconfig, and no port is opened on this
machine or in the cluster for it. The repository lives in the pod (an emptyDir): a new pod
starts empty, and the next run pushes the publication again.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from bootstrap.errors import ClusterbootError
from bootstrap.kube.client import Kube
from bootstrap.processes.runner import Runner
from bootstrap.profile.schema import Profile

NAME = "clusterboot-sandbox-git"
PORT = 9418
BASE = "/srv/git"
REPO = "gitops-sandbox.git"
PATH = f"{BASE}/{REPO}"
IMAGE_FROM = ("argocd-repo-server", "argocd-repo-server")
"""(Deployment, container) whose image the server runs: Argo CD's, as the install pins it."""
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "clusterboot"}
SCRIPT = (
    f"git init -q --bare -b main {PATH} && "
    f"exec git daemon --reuseaddr --export-all --informative-errors --verbose "
    f"--base-path={BASE} --port={PORT} {BASE}"
)
Obj = dict[str, Any]


def served_in(profile: Profile) -> str | None:
    """Argo CD's namespace when the sandbox is served in the cluster (Argo CD installed by
    clusterboot as pods); None when Argo CD reads it on this machine (``file://``)."""
    argocd = profile.components.argocd
    return argocd.namespace if argocd.enabled and argocd.mode == "manifests" else None


def url(namespace: str) -> str:
    return f"git://{NAME}.{namespace}.svc/{REPO}"


def image(kube: Kube, namespace: str) -> str:
    """The image Argo CD's repo-server runs (the server needs nothing else: it has git)."""
    deployment, container = IMAGE_FROM
    live = kube.get("apps/v1", "Deployment", deployment, namespace)
    for spec in (
        (((live or {}).get("spec") or {}).get("template") or {})
        .get("spec", {})
        .get("containers", [])
    ):
        if spec.get("name") == container and spec.get("image"):
            return str(spec["image"])
    raise ClusterbootError(
        f"Deployment {namespace}/{deployment} has no container {container} to take Argo CD's "
        "image from",
        hint="the sandbox's git server runs Argo CD's image; is Argo CD installed?",
    )


def objects(namespace: str, image_ref: str) -> list[Obj]:
    """The server's Deployment and Service, hardened as Argo CD's own pods are."""
    meta = {"name": NAME, "namespace": namespace, "labels": dict(LABELS)}
    container = {
        "name": "git",
        "image": image_ref,
        "args": ["sh", "-c", SCRIPT],
        "ports": [{"name": "git", "containerPort": PORT}],
        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "repositories", "mountPath": BASE}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 999,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "repositories", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "git", "port": PORT, "targetPort": "git"}],
        },
    }
    return [deployment, service]


def ready_pod(kube: Kube, namespace: str) -> str | None:
    """A Ready pod of the server, not being deleted."""
    pods, _ = kube.list(
        "v1", "Pod", namespace=namespace, label_selector=f"app.kubernetes.io/name={NAME}"
    )
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if not meta.get("deletionTimestamp") and conditions.get("Ready") == "True":
            return str(meta["name"])
    return None


def served_revision(kube: Kube, namespace: str, pod: str) -> str | None:
    """The commit the server's ``main`` holds (None for a new, empty repository)."""
    out, err = io.BytesIO(), io.BytesIO()
    code = kube.exec(
        namespace,
        pod,
        ["git", "--git-dir", PATH, "rev-parse", "--verify", "-q", "main^{commit}"],
        stdout=out,
        stderr=err,
    )
    if code != 0:
        return None
    return out.getvalue().decode().strip() or None


def push(
    runner: Runner, local_repo: Path, kubeconfig: Path, context: str, namespace: str, pod: str
) -> None:
    """Push the local repository's HEAD to the server's ``main`` (forced: the publication is
    the truth), through the Kubernetes API's exec."""
    podexec = [sys.executable, "-m", "bootstrap.kube.podexec", str(kubeconfig), context]
    command = [*podexec, namespace, pod, "git", "receive-pack", PATH]
    package_root = str(Path(__file__).resolve().parents[3])  # the one holding bootstrap/
    push_through(runner, local_repo, command, env={"PYTHONPATH": package_root})


def push_through(
    runner: Runner, local_repo: Path, command: list[str], env: dict[str, str] | None = None
) -> None:
    """Force-push HEAD to ``main`` of the repository whose ``git receive-pack`` ``command``
    runs (git's ``ext::`` transport: the command speaks git's protocol on its stdio)."""
    remote = "ext::" + " ".join(_ext_escape(part) for part in command)
    git = ["git", "-C", str(local_repo), "-c", "protocol.ext.allow=always"]
    runner.run([*git, "push", "-q", "--force", remote, "HEAD:refs/heads/main"], env=env)


def _ext_escape(part: str) -> str:
    """One argument of an ``ext::`` command: ``%`` and spaces escaped as git-remote-ext says."""
    return part.replace("%", "%%").replace(" ", "% ")
