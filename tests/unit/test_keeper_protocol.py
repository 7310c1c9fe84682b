"""A keeper started by an older clusterboot cannot reload its spec: adding components to it
is refused with how to recover, and its spec is left as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bootstrap import wait
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.controlplane.layout import KEEPER_PROTOCOL, write_state
from bootstrap.errors import ClusterbootError
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster

SPEC = {"state_dir": "x", "isolation": "netns", "relays": [], "components": []}


def plane_with_state(tmp_path: Path, state: dict[str, object]) -> LocalControlPlane:
    plane = LocalControlPlane(
        LocalCluster(), name="old", state_dir=tmp_path, run=runner.LocalRunner()
    )
    plane.layout.create()
    plane.layout.spec_file.write_text(json.dumps(SPEC))
    write_state(plane.layout.state_file, state)
    return plane


@pytest.mark.parametrize("protocol", [None, KEEPER_PROTOCOL - 1])
def test_an_older_keeper_is_refused_with_how_to_recover(
    tmp_path: Path, protocol: int | None
) -> None:
    state: dict[str, object] = {"keeper_pid": os.getpid(), "phase": "ready", "generation": 0}
    if protocol is not None:
        state["protocol"] = protocol
    plane = plane_with_state(tmp_path, state)
    extra = [{"name": "argocd-repo-server", "argv": ["true"]}]
    with pytest.raises(ClusterbootError) as caught:
        plane.set_extra_components(extra, group="argocd", clock=wait.RealClock())
    assert "older clusterboot" in caught.value.message
    assert "cannot run argocd" in caught.value.message
    assert "invoke down" in caught.value.hint
    assert json.loads(plane.layout.spec_file.read_text()) == SPEC
