"""docs/profiles.md names every key a profile accepts, so the reference cannot fall behind."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from bootstrap.profile.schema import Profile

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
# Keys documented once for several places: the components' shared keys, a secret reference's
# two forms, and the SSH target k3s_oci shares with k3s_ssh.
SHARED = [
    (
        r"^components\.(metallb|argocd|sealed_secrets)\.(enabled|version|mode|source|chart)\b",
        r"components.<name>.\2",
    ),
    (r"^root_app\.credentials\.\w+\.(env|file)$", r"root_app.credentials.<secret>.\1"),
    (r"^cluster\.k3s_ssh\.agents\.\w+$", "cluster.k3s_ssh.agents"),
]


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        path = prefix + name
        nested = [
            a
            for a in typing.get_args(info.annotation) or (info.annotation,)
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not nested:
            yield path
        for sub in nested:
            yield from keys(sub, path + ".")


def documented_as(key: str) -> str:
    for pattern, replacement in SHARED:
        key = re.sub(pattern, replacement, key)
    return key


def test_every_profile_key_is_in_the_reference() -> None:
    text = REFERENCE.read_text()
    missing = sorted(
        {documented_as(k) for k in keys(Profile)} - set(re.findall(r"`([^`]+)`", text))
    )
    assert missing == []


def test_the_walk_finds_nested_keys() -> None:
    found = set(keys(Profile))
    assert {
        "cluster.local.api_port",
        "waves.max_refreshes",
        "components.argocd.chart.values",
    } <= found
    assert "cluster.local" not in found  # sections are not keys of their own
