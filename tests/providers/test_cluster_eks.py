"""EKS (the prod profile) against fake `eksctl` and `aws` executables whose cluster is a real
local control plane; its kubeconfig authenticates through `aws eks get-token`, which issues
real ServiceAccount tokens that expire and are revoked, so a long wait must re-run the plugin.
"""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
import yaml

from bootstrap import kube
from tests.providers.fakeenv import FakeMachine
from tests.providers.test_cluster_k3s_ssh import invoke

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def prod(cluster_machine: FakeMachine) -> FakeMachine:
    cluster_machine.install("eksctl", "aws")
    return cluster_machine


def profile(machine: FakeMachine, name: str, **cluster: object) -> Path:
    return machine.profile(
        name, "eks", eks={"region": "eu-central-1", "nodes": 2, "node_type": "m6i.large"}, **cluster
    )


def calls(machine: FakeMachine, tool: str, *head: str) -> list[list[str]]:
    return [argv for argv in machine.calls(tool) if argv[: len(head)] == list(head)]


def test_create_once_a_no_op_and_delete_only_when_confirmed(prod: FakeMachine) -> None:
    path = profile(prod, "prod")
    body = yaml.safe_load(path.read_text())
    body["components"]["metallb"] = {"enabled": True}  # on EKS it is skipped, saying why
    path.write_text(yaml.safe_dump(body))
    first = invoke("up", path)
    assert first.code == 0, first.text[-3000:]
    [create] = calls(prod, "eksctl", "create", "cluster")
    config = yaml.safe_load(Path(create[create.index("-f") + 1]).read_text())
    assert config["metadata"] == {
        "name": "cb-prod",
        "region": "eu-central-1",
        "version": "1.33",
        "tags": {"clusterboot-profile": "prod"},
    }
    assert config["managedNodeGroups"][0]["desiredCapacity"] == 2
    kubeconfig = prod.root / "state-prod" / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"][2:4] == ["eks", "get-token"]
    assert not (prod.home / ".kube" / "config").exists()
    assert "2 nodes Ready" in prod.stage("prod", "cluster_eks")["why"]
    metallb = next(s for s in prod.report("prod")["stages"] if s["name"] == "metallb")
    assert "MetalLB does not work on EKS" in metallb["why"]

    again = invoke("up", path)
    assert again.code == 0, again.text[-2000:]
    assert prod.stage("prod", "cluster_eks")["status"] == "unchanged"
    assert len(calls(prod, "eksctl", "create", "cluster")) == 1

    kept = invoke("down", path)
    assert "invoke down --yes" in kept.out
    assert calls(prod, "eksctl", "delete") == []
    gone = invoke("down", path, yes=True)
    assert gone.code == 0, gone.text
    assert calls(prod, "eksctl", "delete", "cluster")
    assert not kubeconfig.exists()


def test_an_attached_cluster_that_does_not_exist_is_an_error_and_one_is_never_deleted(
    prod: FakeMachine,
) -> None:
    path = profile(prod, "attached", attach=True)
    missing = invoke("up", path)
    assert missing.code == 1
    assert "does not exist in eu-central-1 and the profile attaches to it" in missing.text
    assert calls(prod, "eksctl", "create") == []
    made = profile(prod, "maker")
    assert invoke("up", made).code == 0
    body = yaml.safe_load(path.read_text())
    body["cluster"]["name"] = "cb-maker"
    path.write_text(yaml.safe_dump(body))
    attached = invoke("up", path)
    assert attached.code == 0, attached.text[-2000:]
    refused = invoke("down", path, yes=True)
    assert "is attached (cluster.attach: true): never deleted" in refused.out
    assert calls(prod, "eksctl", "delete") == []
    assert invoke("down", made, yes=True).code == 0


def test_a_long_wait_outlives_its_token_because_the_client_runs_the_plugin_again(
    prod: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profile(prod, "tokens")
    assert invoke("up", path).code == 0
    # Tokens now say they expire in 5.5 minutes (the client refreshes 5 minutes before: after
    # 30 s), and the cluster refuses any token older than 45 s.
    monkeypatch.setenv("FAKE_AWS_TOKEN_SECONDS", "330")
    monkeypatch.setenv("FAKE_AWS_REVOKE_AFTER", "45")
    api = kube.Kube.connect(prod.root / "state-tokens" / "kubeconfig", context="tokens")
    before = len(calls(prod, "aws", "--region"))
    pause = threading.Event()
    for _ in range(14):  # 70 s of a wait that asks the API every 5 s
        nodes, _ = api.list("v1", "Node")
        assert len(nodes) == 2
        pause.wait(5)
    issued = len(calls(prod, "aws", "--region")) - before
    assert issued >= 2, "the plugin was not run again after its token expired"
    assert invoke("down", path, yes=True).code == 0
