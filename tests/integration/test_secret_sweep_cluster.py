"""The secrets sweep against the real API: repository credentials (`${VAR}`, `{env}` and
`{file}` references, a token-shaped password, an SSH key), the admin client key of the attached
cluster's kubeconfig, Argo CD's initial admin password and an environment credential go
through `ci` (whose `up` an admission webhook refuses with a message that echoes the repository
Secret's data, so a diagnostics bundle is written), `up --junit` with the console log, `plan`,
`status`, `argocd-password` and `report --out`; then every output and every file they wrote is
scanned (tests/secret_sweep.py). Each value may be only in a 0600 file it belongs in.

The cluster is the session's, attached as docker-desktop (so `ci`'s teardown leaves it alone);
no Argo CD runs: the refusal comes before anything would need one.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import kube, retry, wait
from bootstrap.commands import app, ci, timeline
from bootstrap.components.argocd import setup
from bootstrap.controlplane.layout import read_pid
from bootstrap.stage import Verdict
from tests import secret_sweep as sweep
from tests.argo_sim import install_crds
from tests.integration.localcluster import REPO, LocalCluster
from tests.integration.webhook_server import Policy, Webhook

pytestmark = pytest.mark.integration
REFUSED = "refused by the sweep webhook"


def echo(obj: dict[str, Any]) -> str:
    """A careless policy's denial: the Secret's data as it came (base64) and decoded."""
    data = obj.get("data") or {}
    decoded = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return f"{REFUSED}: data {json.dumps(data)}, that is {json.dumps(decoded)}"


@pytest.fixture
def namespace(api: kube.Kube) -> Iterator[str]:
    install_crds(api)
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    api.delete("v1", "Namespace", name)


@pytest.fixture
def admin(api: kube.Kube, namespace: str) -> str:
    """Argo CD's initial admin password, as argocd-server writes it (before the webhook)."""
    password = sweep.value("argocd-admin")
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": setup.ADMIN_SECRET, "namespace": namespace},
            "data": {"password": base64.b64encode(password.encode()).decode()},
        }
    )
    return password


@pytest.fixture
def webhook(
    local_cluster: LocalCluster, api: kube.Kube, namespace: str, admin: str, tmp_path: Path
) -> Iterator[Webhook]:
    """Denies every Secret in ``namespace`` (but ``probe-*``), echoing its data; proven active
    before the test starts."""
    keeper = read_pid(local_cluster.state_dir / "local-cluster" / "keeper.pid")
    assert keeper is not None
    with Webhook(keeper, tmp_path, Policy(deny=True, message=echo)) as server:
        config = server.configuration(namespace, "secrets")
        api.apply(config)
        try:
            probe = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "probe-1", "namespace": namespace},
            }

            def answered() -> Verdict:
                retry.call("api", lambda: api.apply(probe, dry_run=True), what="probe webhook")
                if server.policy.probes:
                    return Verdict.passed()
                return Verdict.waiting("the webhook was not called yet")

            wait.until(
                answered,
                what="the sweep webhook to be called",
                deadline=30,
                clock=wait.RealClock(),
                interval=0.1,
            )
            yield server
        finally:
            api.delete(config["apiVersion"], config["kind"], config["metadata"]["name"])


def client_key(kubeconfig: Path) -> str:
    doc = yaml.safe_load(kubeconfig.read_text())
    return str(doc["users"][0]["user"]["client-key-data"])


def test_secrets_through_every_path_appear_only_in_the_0600_files_they_belong_in(
    local_cluster: LocalCluster,
    api: kube.Kube,
    namespace: str,
    admin: str,
    webhook: Webhook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    user, token, key = sweep.value("repo-user"), sweep.github_token(), sweep.private_key("repokey")
    env_token, jwt = sweep.value("env-github"), sweep.jwt()
    canaries = [
        sweep.Canary("repository username (${VAR})", user),
        sweep.Canary("repository password ({env}, ghp_ shape)", token),
        sweep.Canary("repository SSH key ({file})", key),
        sweep.Canary("Argo CD admin password", admin),
        sweep.Canary("GITHUB_TOKEN in the environment", env_token),
        sweep.Canary("a JWT a controller printed", jwt),
        sweep.Canary(
            "the cluster's admin client key",
            client_key(local_cluster.kubeconfig),
            belongs=(f"{state}/kubeconfig",),
        ),
    ]
    monkeypatch.setenv("SWEEP_REPO_USER", user)
    monkeypatch.setenv("SWEEP_REPO_TOKEN", token)
    monkeypatch.setenv("GITHUB_TOKEN", env_token)
    key_file = tmp_path / "secrets" / "repo_key"
    key_file.parent.mkdir()
    key_file.write_text(key)
    key_file.chmod(0o600)

    # A Warning event in which a controller echoed credentials.
    api.apply(
        warning_event(
            namespace,
            f"login as {user} with {token} failed; sa token {jwt}, GITHUB_TOKEN={env_token}",
        )
    )

    profile = tmp_path / "sweep.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "extends": str(REPO / "profiles" / "base.yaml"),
                "name": "sweep",
                "state_dir": str(state),
                "cluster": {
                    "provider": "docker-desktop",
                    "name": "cb-sweep",
                    "attach": True,
                    "context": local_cluster.profile_file.stem,
                    "kubeconfig": str(local_cluster.kubeconfig),
                },
                "components": {
                    "metallb": {"enabled": False},
                    "sealed_secrets": {"enabled": False},
                    "argocd": {"enabled": False, "namespace": namespace},
                },
                "root_app": {  # explicitly on: Argo CD is disabled, the sweep needs the root
                    "enabled": True,
                    "name": "root",
                    "repo_url": "https://git.example.invalid/platform.git",
                    "credentials": {
                        "username": "${SWEEP_REPO_USER}",
                        "password": {"env": "SWEEP_REPO_TOKEN"},
                        "ssh_private_key": {"file": str(key_file)},
                    },
                },
                "timeouts": {"stage_seconds": 60, "command_seconds": 60},
            }
        )
    )
    found = sweep.Sweep(canaries, roots=[state])

    def run(name: str, body: Any, *args: Any, log_format: str = "json", **flags: Any) -> int:
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(profile=str(profile), log_format=log_format, out=out, err=err)
        code: int = body(inv, *args, **flags)
        found.output(f"{name} stdout", out.getvalue())
        found.output(f"{name} stderr", err.getvalue())
        return code

    junit = tmp_path / "junit.xml"
    assert run("ci", ci.ci, ["true"], junit_path=junit) == 1
    [bundle] = sorted((state / "reports").glob("ci-*-diagnostics.tar.gz"))
    [ci_report] = sorted((state / "reports").glob("ci-*.json"))
    assert run("up", app.up, log_format="console", junit_path=junit) == 1
    run("plan", app.plan)
    run("status", app.status)
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
    assert app.argocd_password(inv) == 0, err.getvalue()
    assert out.getvalue() == f"{admin}\n"  # printed where it belongs, when asked, and only there
    found.output("argocd-password stderr", err.getvalue())
    html = tmp_path / "timeline.html"
    timeline.write(state / "reports" / "last-up.json", html)
    found.roots += [junit, html]

    # The values reached every path they were pushed through, masked: the refusal echoed the
    # Secret's data into the report, the bundle holds the event, the kubeconfig copy its key.
    why = next(
        s["why"] for s in json.loads(ci_report.read_text())["stages"] if s["name"] == "root_app"
    )
    assert REFUSED in why, why
    assert sweep.MASKED in why, why
    with tarfile.open(bundle) as opened:
        names = opened.getnames()
    assert any(n.endswith("cluster/warning-events.txt") for n in names), names
    leaks = found.leaks()
    assert not leaks, sweep.report(leaks)
    assert {f.canary for f in found.findings()} == {"the cluster's admin client key"}


def warning_event(namespace: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"sweep.{uuid.uuid4().hex[:8]}", "namespace": namespace},
        "type": "Warning",
        "reason": "SweepLoginFailed",
        "message": message,
        "involvedObject": {"kind": "Secret", "namespace": namespace, "name": "root-repo"},
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
