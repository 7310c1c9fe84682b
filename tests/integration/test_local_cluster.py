"""The local control plane is a real cluster: API, storage, controllers, scheduling, kwok."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
import threading
import uuid
from pathlib import Path

import pytest

from bootstrap import kube, wait
from bootstrap.controlplane import netns
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.controlplane.layout import KEEPER_PROTOCOL, read_pid, read_state
from bootstrap.processes import runner
from bootstrap.profile import loader
from bootstrap.stage import Verdict
from tests.integration.localcluster import LocalCluster

pytestmark = pytest.mark.integration


def test_kubeconfig_is_private_and_names_the_profile_context(local_cluster: LocalCluster) -> None:
    mode = stat.S_IMODE(local_cluster.kubeconfig.stat().st_mode)
    assert mode == 0o600
    assert "current-context: itest" in local_cluster.kubeconfig.read_text()


def test_api_reports_the_pinned_version_and_nodes_are_ready(api: kube.Kube) -> None:
    assert api.server_version() == "v1.36.1"
    nodes, _ = api.list("v1", "Node")
    assert len(nodes) == 2
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert [c["status"] for c in ready] == ["True"]


def test_server_side_apply_is_idempotent_and_keeps_one_field_manager(api: kube.Kube) -> None:
    name = f"cm-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"a": "1"},
    }
    first = api.apply(body)
    second = api.apply(body)
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    managers = {m["manager"] for m in second["metadata"]["managedFields"]}
    assert managers == {"clusterboot"}


def test_a_crd_becomes_established_and_serves_its_custom_resources(
    api: kube.Kube, clock: wait.RealClock
) -> None:
    group = f"t{uuid.uuid4().hex[:6]}.clusterboot.test"
    api.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )

    def established() -> Verdict:
        crd = api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}")
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        ok = any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
        return Verdict.passed() if ok else Verdict.waiting("not established")

    wait.until(established, what="crd", deadline=30, clock=clock)
    api.refresh_discovery()
    created = api.apply(
        {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default"},
            "spec": {"size": 3},
        }
    )
    assert created["spec"] == {"size": 3}


def test_a_deployment_gets_a_replicaset_and_ready_pods_on_kwok_nodes(
    api: kube.Kube, clock: wait.RealClock
) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}"
    labels = {"app": name}
    api.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                },
            },
        }
    )

    def available() -> Verdict:
        obj = api.get("apps/v1", "Deployment", name, "default") or {}
        ready = (obj.get("status") or {}).get("readyReplicas") or 0
        return Verdict.passed() if ready == 3 else Verdict.waiting(f"{ready}/3 ready")

    wait.until(available, what="deployment", deadline=60, clock=clock)
    replicasets, _ = api.list(
        "apps/v1", "ReplicaSet", namespace="default", label_selector=f"app={name}"
    )
    pods, _ = api.list("v1", "Pod", namespace="default", label_selector=f"app={name}")
    assert len(replicasets) == 1
    assert len(pods) == 3
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    assert all(p["status"]["podIP"].startswith("10.") for p in pods)


def test_a_watch_sees_changes_after_the_listed_resource_version(api: kube.Kube) -> None:
    name = f"watched-{uuid.uuid4().hex[:6]}"
    _, version = api.list("v1", "ConfigMap", namespace="default")
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
        }
    )
    for kind, obj in api.watch(
        "v1", "ConfigMap", namespace="default", resource_version=version, timeout_seconds=10
    ):
        if obj["metadata"]["name"] == name:
            assert kind == "ADDED"
            break
    else:
        pytest.fail("the watch ended without the new ConfigMap")


def _inside_cluster_namespace(
    local_cluster: LocalCluster, action: callable[[], object]
) -> object:  # type: ignore[valid-type]
    keeper = read_pid(local_cluster.state_dir / "local-cluster" / "keeper.pid")
    assert keeper is not None
    result: dict[str, object] = {}

    def run() -> None:
        with netns.entered(keeper):
            try:
                result["value"] = action()
            except OSError as err:
                result["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return result.get("value", result.get("error"))


def test_the_cluster_namespace_has_only_loopback(local_cluster: LocalCluster) -> None:
    names = _inside_cluster_namespace(local_cluster, lambda: [n for _, n in socket.if_nameindex()])
    assert names == ["lo"]


@pytest.mark.reaches_unroutable
@pytest.mark.parametrize("address", ["10.96.0.1", "10.244.0.7", "192.168.1.1", "1.1.1.1"])
def test_from_inside_the_cluster_namespace_a_non_loopback_address_fails_at_once(
    local_cluster: LocalCluster, address: str
) -> None:
    def dial() -> object:
        with socket.socket() as sock:
            sock.settimeout(2)
            sock.connect((address, 443))
        return "connected"

    outcome = _inside_cluster_namespace(local_cluster, dial)
    assert isinstance(outcome, OSError)
    assert outcome.errno == errno.ENETUNREACH


def test_component_processes_run_inside_the_cluster_namespace(local_cluster: LocalCluster) -> None:
    host_ns = os.readlink("/proc/self/ns/net")
    pids = local_cluster.state_dir / "local-cluster" / "pids"
    for pid_file in pids.glob("*.pid"):
        pid = read_pid(pid_file)
        assert pid is not None
        assert os.readlink(f"/proc/{pid}/ns/net") != host_ns, pid_file.name


def test_every_component_listens_on_loopback_only(local_cluster: LocalCluster) -> None:
    keeper = read_pid(local_cluster.state_dir / "local-cluster" / "keeper.pid")
    # /proc/PID/net shows the network namespace of PID, whoever reads it.
    tcp = Path(f"/proc/{keeper}/net/tcp").read_text()
    listening = [line.split() for line in tcp.splitlines()[1:] if line.split()[3] == "0A"]
    assert listening, "nothing listens inside the namespace"
    assert {row[1].split(":")[0] for row in listening} == {"0100007F"}


def test_the_keeper_states_the_protocol_it_speaks(local_cluster: LocalCluster) -> None:
    state = read_state(local_cluster.state_dir / "local-cluster" / "state.json")
    assert state["protocol"] == KEEPER_PROTOCOL
    assert state["keeper_pid"] == read_pid(local_cluster.state_dir / "local-cluster" / "keeper.pid")


def test_a_process_whose_spec_changed_is_started_again_from_the_new_spec(
    local_cluster: LocalCluster,
) -> None:
    """The keeper only starts what is new or dead: a changed argv must still take effect."""
    settings = loader.load(str(local_cluster.profile_file))
    plane = LocalControlPlane(
        settings.cluster.local,
        name=settings.cluster.name,
        state_dir=local_cluster.state_dir,
        run=runner.LocalRunner(),
    )
    port = 18777  # inside the cluster's own network namespace

    def listener(tag: str) -> dict[str, object]:
        code = (
            "import socket, time; s = socket.socket(); "
            f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(3600)"
        )
        return {
            "name": "itest-listener",
            "argv": [sys.executable, "-c", code, tag],
            "log": str(local_cluster.state_dir / "itest-listener.log"),
            "ready": {"kind": "tcp", "host": "127.0.0.1", "port": port},
            "ready_timeout": 30,
        }

    clock = wait.RealClock()
    try:
        plane.set_extra_components([listener("first")], group="itest", clock=clock)
        first = plane.pid("itest-listener")
        assert first is not None
        plane.set_extra_components([listener("first")], group="itest", clock=clock)
        assert plane.pid("itest-listener") == first  # unchanged: left running
        plane.set_extra_components([listener("second")], group="itest", clock=clock)
        second = plane.pid("itest-listener")
        assert second not in {None, first}
        assert b"second" in Path(f"/proc/{second}/cmdline").read_bytes()
        assert not runner.pid_alive(first)
    finally:
        plane.set_extra_components([], group="itest", clock=clock)
    assert plane.pid("itest-listener") is None
