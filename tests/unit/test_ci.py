"""`invoke ci`'s pieces that need no cluster: a run's own settings and the command's words."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tasks
from bootstrap.commands import ci
from bootstrap.profile.schema import Profile


def profile(provider: str, name: str = "clusterboot-ci") -> Profile:
    return Profile.model_validate(
        {"name": "ci", "state_dir": "/state/ci", "cluster": {"provider": provider, "name": name}}
    )


def test_an_ephemeral_local_run_gets_its_own_name_state_and_port() -> None:
    assert ci.ephemeral_sets(profile("local"), "a1b2c3", port=40123) == [
        "cluster.name=clusterboot-ci-a1b2c3",
        f"state_dir={Path('/state/ci/runs/a1b2c3')}",
        "cluster.local.api_port=40123",
    ]


def test_a_run_name_stays_a_valid_cluster_name() -> None:
    sets = ci.ephemeral_sets(profile("kind", name="x" * 63), "a1b2c3")
    assert sets[0] == f"cluster.name={'x' * 56}-a1b2c3"
    assert len(sets[0].partition("=")[2]) == 63
    assert not any(s.startswith("cluster.local") for s in sets)


@pytest.mark.parametrize(
    ("argv", "remainder", "expected"),
    [
        (
            ["invoke", "ci", "--", "pytest", "-k", "a and b"],
            "pytest -k a and b",
            ["pytest", "-k", "a and b"],
        ),
        (["python"], "pytest -k 'a and b'", ["pytest", "-k", "a and b"]),
        (["invoke", "ci"], "", []),
    ],
)
def test_the_command_after_the_dashes_keeps_its_words(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], remainder: str, expected: list[str]
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    assert tasks.command_after_dashes(remainder) == expected
