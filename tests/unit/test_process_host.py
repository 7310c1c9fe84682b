"""Processes mode off the local cluster: the process host reaches only an API server on this
machine's loopback, and a profile that names another host is refused before anything runs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bootstrap.controlplane import relay
from bootstrap.controlplane.process_host import ProcessHost
from bootstrap.errors import InputError
from bootstrap.processes import runner
from bootstrap.profile.schema import Profile
from bootstrap.stage import Context
from bootstrap.wait import FakeClock
from stages.argocd import ArgoCD
from stages.metallb import MetalLB
from stages.sealed_secrets import SealedSecrets


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://127.0.0.1:6443", ("127.0.0.1", 6443)),
        ("https://localhost:7000", ("127.0.0.1", 7000)),
        ("https://127.0.0.2", ("127.0.0.2", 443)),
        ("https://[::1]:6443", ("::1", 6443)),
    ],
)
def test_an_api_server_on_loopback_is_the_one_way_out(url: str, target: tuple[str, int]) -> None:
    assert ProcessHost.api_target(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5:6443",
        "https://192.168.1.20:6443",
        "https://kubernetes.docker.internal:6443",
        "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
        "https://0.0.0.0:6443",
    ],
)
def test_an_api_server_elsewhere_is_refused_with_a_hint(url: str) -> None:
    with pytest.raises(InputError) as caught:
        ProcessHost.api_target(url)
    assert url in str(caught.value)
    assert "not on this machine's loopback" in str(caught.value)
    assert "mode: manifests" in (caught.value.hint or "")


def prodesk(host: str, component: str) -> Context:
    off = {n: {"enabled": False} for n in ("metallb", "argocd", "sealed_secrets")}
    profile = Profile.model_validate(
        {
            "name": "prodesk",
            "cluster": {
                "provider": "k3s-ssh",
                "name": "c",
                "k3s_ssh": {"ssh": {"host": host}},
            },
            "components": {**off, component: {"enabled": True, "mode": "processes"}},
        }
    )
    return Context(
        profile=profile,
        runner=runner.LocalRunner(),
        state_dir=Path("/nonexistent"),
        clock=FakeClock(),
    )


@pytest.mark.parametrize(
    ("stage", "component"),
    [(ArgoCD(), "argocd"), (SealedSecrets(), "sealed_secrets"), (MetalLB(), "metallb")],
)
def test_processes_for_a_server_elsewhere_are_refused_in_preflight(
    stage: ArgoCD | SealedSecrets | MetalLB, component: str
) -> None:
    with pytest.raises(InputError, match=r"192\.0\.2\.10, cluster\.k3s_ssh\.ssh\.host"):
        stage.preflight(prodesk("192.0.2.10", component))


def test_the_dialer_connects_only_to_its_targets_from_where_it_started() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            nothing = closed.getsockname()[1]  # bound, never listening: refused
            dialer = relay.Dialer.start([("127.0.0.1", port), ("127.0.0.1", nothing)])
            with dialer.connect(0) as client:
                accepted, _ = server.accept()
                with accepted:
                    client.sendall(b"ping")
                    assert accepted.recv(4) == b"ping"
            with pytest.raises(ConnectionRefusedError, match=str(nothing)):
                dialer.connect(1)
            dialer.channel.close()
