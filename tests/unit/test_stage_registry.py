"""The stage registry names only stages that exist, each once, and every profile's DAG resolves."""

from __future__ import annotations

import importlib

import pytest

import stages
from bootstrap.stage import Stage


def test_order_is_the_names_of_the_registered_stages_each_once() -> None:
    names = [stage.name for stage in stages.STAGES]
    assert list(stages.ORDER) == names
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", stages.ORDER)
def test_every_named_stage_is_a_module_of_its_own(name: str) -> None:
    module = importlib.import_module(f"stages.{name}")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Stage)
        and value.__module__ == module.__name__
    ]
    assert [cls.name for cls in found if getattr(cls, "name", None) == name] == [name]


@pytest.mark.parametrize("provider", sorted(stages.CLUSTER_STAGES))
def test_each_provider_gets_one_cluster_stage_and_every_need_is_provided(provider: str) -> None:
    cluster = stages.CLUSTER_STAGES[provider]
    chosen = [cluster(), *(stage() for stage in stages.PLATFORM_STAGES)]
    provided = {s.name for s in chosen} | {s.provides for s in chosen if s.provides}
    assert [s for s in chosen if s.provides == "cluster"] == chosen[:1]
    assert {need for s in chosen for need in s.needs} <= provided
