"""The real Sealed Secrets controller (built by `toolchain/build.sh sealed-secrets`) as a local
process against a local cluster, standing in for the pod kwok only pretends to run.

It only knows `rest.InClusterConfig()`, so it runs inside the cluster's network namespace (the
API is https://127.0.0.1:6443 there) and in a mount namespace of its own, where a tmpfs over
/run holds /var/run/secrets/kubernetes.io/serviceaccount: a token from the TokenRequest API for
its ServiceAccount (so the manifest's RBAC really applies), the cluster CA and the namespace.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from bootstrap import kube, wait
from bootstrap.components.sealed_secrets import mounts
from bootstrap.components.sealed_secrets.processes import SERVICE_ACCOUNT_DIR
from bootstrap.errors import GateFailed
from bootstrap.processes import runner
from bootstrap.profile.schema import SealedSecrets
from bootstrap.stage import Verdict
from tests.integration import platform
from tests.integration.localcluster import LocalCluster

VERSION = SealedSecrets().version
BIN_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "clusterboot"
    / "bin"
    / f"sealed-secrets-{VERSION}"
)
ACCOUNT = "sealed-secrets-controller"


def built() -> bool:
    return all((BIN_DIR / name).is_file() for name in ("controller", "kubeseal"))


def service_account_token(api: kube.Kube, namespace: str) -> str:
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{ACCOUNT}/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = api.dyn.request("POST", path, body=body).to_dict()
    return str(answer["status"]["token"])


class Controller:
    """``with Controller(cluster, namespace):`` runs it; leaving the block stops it."""

    def __init__(self, cluster: LocalCluster, namespace: str = "kube-system") -> None:
        self.cluster, self.namespace = cluster, namespace
        self.home = cluster.state_dir / "sealed-secrets-controller"
        self.pid = 0

    def __enter__(self) -> Controller:
        account = self.home / "serviceaccount"
        account.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = service_account_token(self.cluster.kube(), self.namespace)
        for name, text in (("token", token), ("namespace", self.namespace)):
            (account / name).write_text(text)
            (account / name).chmod(0o600)
        shutil.copyfile(platform.ca_file(self.cluster), account / "ca.crt")
        argv = [
            "nsenter",
            f"--net=/proc/{platform.keeper_pid(self.cluster)}/ns/net",
            "--",
            *mounts.bound(
                tmpfs="/run",
                source=str(account),
                target=SERVICE_ACCOUNT_DIR,
                argv=[
                    str(BIN_DIR / "controller"),
                    "--listen-addr=127.0.0.1:8080",
                    "--listen-metrics-addr=127.0.0.1:8081",
                ],
            ),
        ]
        env = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": "6443",
            "POD_NAMESPACE": self.namespace,
        }
        self.pid = runner.LocalRunner().spawn_detached(argv, log_file=self.log, env=env)
        return self

    @property
    def log(self) -> Path:
        return self.home / "controller.log"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.pid:
            runner.terminate(self.pid, grace=5)

    def wait_for(self, what: str, check: Callable[[], Verdict], deadline: float = 60) -> None:
        """Wait (through ``wait.until``) for ``check``; a timeout shows the controller's log."""
        try:
            wait.until(check, what=what, deadline=deadline, clock=wait.RealClock())
        except GateFailed as err:
            tail = self.log.read_text()[-3000:] if self.log.exists() else "(no log)"
            raise AssertionError(f"{err}\ncontroller log:\n{tail}") from err
