"""k3s on an OCI instance through cloud-init (the oci profile), against a fake `oci` CLI whose
instance is a real sshd host (tests/providers/k3shost.py): launching it runs the rendered
user-data there as cloud-init would, and the k3s install stand-in starts a real control plane.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.providers.fakeenv import FakeMachine
from tests.providers.k3shost import SshHost, free_port, install_script, start_host
from tests.providers.test_cluster_k3s_ssh import invoke

pytestmark = pytest.mark.timeout(600)
COMPARTMENT = "ocid1.compartment.oc1..test"


@pytest.fixture
def instance(
    cluster_machine: FakeMachine,
    hosts: list[SshHost],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SshHost:
    hosts.append(start_host(tmp_path / "instance", sudo="nopasswd"))
    host = hosts[-1]
    cluster_machine.install("oci")
    monkeypatch.setenv("FAKE_OCI_HOST_ROOT", str(host.root))
    monkeypatch.setenv("FAKE_OCI_MOUNTS", host._mounts())
    return host


def profile(machine: FakeMachine, name: str, host: SshHost, **oci: Any) -> Path:
    settings = {
        "compartment_id": COMPARTMENT,
        "availability_domain": "Uocm:EU-FRANKFURT-1-AD-1",
        "subnet_id": "ocid1.subnet.oc1..test",
        "image_id": "ocid1.image.oc1..ubuntu",
        "ssh": {
            "user": "ops",
            "port": host.port,
            "identity_file": str(host.client_key),
            "public_key_file": f"{host.client_key}.pub",
        },
        "api_port": free_port(),
        "install_script": install_script(machine.root, server=host),
        **oci,
    }
    return machine.profile(name, "k3s-oci", k3s_oci=settings)


def launches(machine: FakeMachine) -> list[list[str]]:
    return [argv for argv in machine.calls("oci") if argv[:3] == ["compute", "instance", "launch"]]


def test_launch_once_wait_for_cloud_init_then_a_no_op_and_terminate_only_when_confirmed(
    cluster_machine: FakeMachine, instance: SshHost
) -> None:
    machine = cluster_machine
    path = profile(machine, "oci", instance)
    first = invoke("up", path)
    assert first.code == 0, first.text[-3000:]
    [launch] = launches(machine)
    flags = dict(zip(launch[3::2], launch[4::2], strict=False))
    assert json.loads(flags["--freeform-tags"]) == {"clusterboot-profile": "oci"}
    assert json.loads(flags["--shape-config"]) == {"ocpus": 2, "memoryInGBs": 12}
    user_data = Path(flags["--user-data-file"])
    assert stat.S_IMODE(user_data.stat().st_mode) == 0o600
    text = user_data.read_text()
    port = yaml.safe_load(path.read_text())["cluster"]["k3s_oci"]["api_port"]
    assert text.startswith("#cloud-config\n")
    booted = [
        json.loads(line) for line in (instance.root / "cloud-init.jsonl").read_text().splitlines()
    ]
    assert {
        "recorded": f"iptables -I INPUT 6 -m state --state NEW -p tcp --dport {port} -j ACCEPT"
    } in booted
    [install] = instance.installs()
    assert install["INSTALL_K3S_VERSION"] == "v1.33.5+k3s1"
    assert install["INSTALL_K3S_EXEC"] == f"server --https-listen-port={port}"
    doc = yaml.safe_load((machine.root / "state-oci" / "kubeconfig").read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{port}"
    assert cluster["tls-server-name"] == "kubernetes"
    assert "1 nodes Ready" in machine.stage("oci", "cluster_k3s_oci")["why"]

    again = invoke("up", path)
    assert again.code == 0, again.text[-2000:]
    assert machine.stage("oci", "cluster_k3s_oci")["status"] == "unchanged"
    assert len(launches(machine)) == 1

    kept = invoke("down", path)
    assert "invoke down --yes" in kept.out
    gone = invoke("down", path, yes=True)
    assert gone.code == 0, gone.text
    assert "terminated OCI instance" in gone.out
    assert any(argv[:3] == ["compute", "instance", "terminate"] for argv in machine.calls("oci"))
    assert {"uninstalled": "server"} in instance.installs()


def test_an_interrupted_launch_is_found_again_and_never_launched_twice(
    cluster_machine: FakeMachine, instance: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = cluster_machine
    path = profile(machine, "ocikill", instance)
    monkeypatch.setenv("FAKE_OCI_LAUNCH_DIES", "1")
    died = invoke("up", path)
    assert died.code == 1
    monkeypatch.delenv("FAKE_OCI_LAUNCH_DIES")
    resumed = invoke("up", path)
    assert resumed.code == 0, resumed.text[-3000:]
    assert len(launches(machine)) == 1
    changes = machine.stage("ocikill", "cluster_k3s_oci")["changes"]
    assert changes[0].startswith("wait for OCI instance cb-ocikill (PROVISIONING) to run"), changes
    assert invoke("down", path, yes=True).code == 0


def test_launch_false_writes_the_user_data_and_says_how_to_attach(
    cluster_machine: FakeMachine, instance: SshHost
) -> None:
    machine = cluster_machine
    path = profile(machine, "byhand", instance, launch=False)
    told = invoke("up", path)
    assert told.code == 1
    written = machine.root / "state-byhand" / "oci-user-data.yaml"
    assert written.read_text().startswith("#cloud-config\n")
    assert f"--user-data-file {written}" in told.text
    assert "cluster.k3s_oci.ssh.host=" in told.text
    assert launches(machine) == []


def test_a_throttled_oci_api_is_waited_out_and_still_launches_once(
    cluster_machine: FakeMachine, instance: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = cluster_machine
    path = profile(machine, "throttled", instance)
    monkeypatch.setenv("FAKE_OCI_THROTTLE", "2")
    done = invoke("up", path)
    assert done.code == 0, done.text[-3000:]
    assert machine.stage("throttled", "cluster_k3s_oci")["attempts"] == 3
    assert len(launches(machine)) == 1
    assert invoke("down", path, yes=True).code == 0
