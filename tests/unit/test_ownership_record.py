"""The record of the cluster a profile created: what an unreadable or foreign record means."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.kube import ownership


def never_asked() -> None:
    raise AssertionError("no identity to compare, so the cluster must not be asked")


@pytest.mark.parametrize("text", ["{not json", "[]", '{"tool": "kind"}', "\udcff"])
def test_an_unreadable_record_owns_nothing(tmp_path: Path, text: str) -> None:
    ownership.record_path(tmp_path).write_text(text, errors="surrogateescape")

    assert ownership.read(tmp_path) is None
    why = ownership.not_ours(tmp_path, "kind", "cb-x", live=never_asked)
    assert why is not None
    assert "was not created by this profile" in why


def test_a_record_of_another_cluster_does_not_own_this_one(tmp_path: Path) -> None:
    ownership.claim(tmp_path, "k3d", "cb-other")

    assert ownership.not_ours(tmp_path, "k3d", "cb-x", live=never_asked) is not None
    assert ownership.not_ours(tmp_path, "kind", "cb-other", live=never_asked) is not None
    assert ownership.not_ours(tmp_path, "k3d", "cb-other", live=never_asked) is None


def test_forget_removes_the_record(tmp_path: Path) -> None:
    ownership.claim(tmp_path, "kind", "cb-x")
    ownership.forget(tmp_path)

    assert ownership.read(tmp_path) is None
