from __future__ import annotations

import pytest

from bootstrap.engine import dag
from bootstrap.errors import DagError

ORDER = ("cluster_local", "metallb", "sealed_secrets", "argocd", "root_app", "sync_waves")


def graph(*nodes: dag.Node) -> dag.Graph:
    return dag.build(nodes, tie_order=ORDER)


STANDARD = (
    dag.Node("sync_waves", ("root_app",)),
    dag.Node("root_app", ("argocd",)),
    dag.Node("argocd", ("cluster",)),
    dag.Node("sealed_secrets", ("cluster",)),
    dag.Node("metallb", ("cluster",)),
    dag.Node("cluster_local", (), provides="cluster"),
)


def test_order_is_topological_with_ties_broken_by_the_stage_list() -> None:
    assert graph(*STANDARD).order == ORDER


def test_aliases_resolve_to_the_stage_that_provides_them() -> None:
    assert graph(*STANDARD).needs["metallb"] == ("cluster_local",)


def test_unknown_need_is_rejected_with_the_known_stages_listed() -> None:
    with pytest.raises(DagError) as err:
        graph(dag.Node("metallb", ("clustr",)), dag.Node("cluster_local", (), provides="cluster"))
    assert "'clustr'" in str(err.value)
    assert "cluster_local" in err.value.hint
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("nodes", "cycle"),
    [
        ((dag.Node("a", ("b",)), dag.Node("b", ("a",))), "a -> b -> a"),
        ((dag.Node("a", ("a",)),), "a -> a"),
        (
            (
                dag.Node("x", ()),
                dag.Node("a", ("c", "x")),
                dag.Node("b", ("a",)),
                dag.Node("c", ("b",)),
            ),
            "a -> c -> b -> a",
        ),
    ],
)
def test_a_cycle_is_rejected_naming_its_members(nodes: tuple[dag.Node, ...], cycle: str) -> None:
    with pytest.raises(DagError, match="cycle") as err:
        graph(*nodes)
    assert cycle in str(err.value)


def test_select_only_keeps_graph_order() -> None:
    g = graph(*STANDARD)
    assert dag.select(g, only=["root_app", "metallb"]) == ["metallb", "root_app"]


def test_select_from_runs_that_stage_and_every_later_one() -> None:
    g = graph(*STANDARD)
    assert dag.select(g, start_from="argocd") == ["argocd", "root_app", "sync_waves"]


@pytest.mark.parametrize(("only", "start"), [(["metalb"], None), ([], "nope")])
def test_select_rejects_unknown_stage_names(only: list[str], start: str | None) -> None:
    with pytest.raises(DagError, match="unknown stage") as err:
        dag.select(graph(*STANDARD), only=only, start_from=start)
    assert "cluster_local, metallb" in err.value.hint


def test_dependents_include_indirect_ones() -> None:
    assert graph(*STANDARD).dependents("argocd") == {"root_app", "sync_waves"}
