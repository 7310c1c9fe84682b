"""The walk's picture of the children as tables: the root's state and the children in, the
waves and the pruned apps out; and when the root's state cannot be trusted yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bootstrap.components import sandbox
from bootstrap.waves import argo, rules, tree

Obj = dict[str, Any]
TRACKED = {argo.TRACKING: "root:argoproj.io/Application:argocd/x"}


def entry(name: str, wave: int | None = None, **extra: Any) -> Obj:
    found: Obj = {"group": "argoproj.io", "kind": "Application", "namespace": "argocd"}
    found.update(name=name, **extra)
    if wave is not None:
        found["syncWave"] = wave
    return found


def root(*entries: Obj) -> Obj:
    return {
        "metadata": {"name": "root", "namespace": "argocd", "resourceVersion": "7"},
        "status": {"sync": {"status": "Synced"}, "resources": list(entries)},
    }


def child(name: str, wave: int, **meta: Any) -> Obj:
    annotations = {argo.WAVE: str(wave), **TRACKED}
    return {"metadata": {"name": name, "annotations": annotations, **meta}}


GONE = {"deletionTimestamp": "2026-01-01T00:00:00Z"}

# id, the root's entries, the child objects, waves out, pruned out
ROWS: list[tuple[str, tuple[Obj, ...], tuple[Obj, ...], dict[int, list[str]], set[str]]] = [
    (
        "no change",
        (entry("a", -1), entry("b", 1)),
        (child("a", -1), child("b", 1)),
        {-1: ["a"], 1: ["b"]},
        set(),
    ),
    (
        "moved to an earlier wave: the root's comparison wins over the old annotation",
        (entry("a", -2), entry("b", 1)),
        (child("a", -1), child("b", 1)),
        {-2: ["a"], 1: ["b"]},
        set(),
    ),
    (
        "moved to a later wave",
        (entry("a", -1), entry("b", 7)),
        (child("a", -1), child("b", 1)),
        {-1: ["a"], 7: ["b"]},
        set(),
    ),
    (
        "removed from git: listed to be pruned, never a member of its old wave",
        (entry("a", -1), entry("b", 1, requiresPruning=True)),
        (child("a", -1), child("b", 1)),
        {-1: ["a"]},
        {"b"},
    ),
    (
        "being deleted by the prune: not a member, whatever the root still lists",
        (entry("a", -1), entry("b", 1)),
        (child("a", -1), child("b", 1, **GONE)),
        {-1: ["a"]},
        {"b"},
    ),
    (
        "tracked but being deleted, no longer listed",
        (entry("a", -1),),
        (child("a", -1), child("b", 1, **GONE)),
        {-1: ["a"]},
        {"b"},
    ),
    (
        "added to an existing wave, not created yet",
        (entry("a", -1), entry("b", 1), entry("d", 1)),
        (child("a", -1), child("b", 1)),
        {-1: ["a"], 1: ["b", "d"]},
        set(),
    ),
    (
        "the root pointed at another path: one name shared, the old ones pruned",
        (
            entry("web", 2),
            entry("x", 0),
            entry("a", -1, requiresPruning=True),
            entry("b", 1, requiresPruning=True),
        ),
        (child("a", -1), child("b", 1), child("web", 5)),
        {0: ["x"], 2: ["web"]},
        {"a", "b"},
    ),
]


@pytest.mark.parametrize(
    ("entries", "apps", "waves", "pruned"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_the_waves_come_from_the_roots_comparison(
    entries: tuple[Obj, ...], apps: tuple[Obj, ...], waves: dict[int, list[str]], pruned: set[str]
) -> None:
    parent = root(*entries)
    index = tree.ChildIndex()
    named = {"root": parent, **{a["metadata"]["name"]: a for a in apps}}
    kids = index.update(parent, named, members=1)
    grouped: dict[int, list[str]] = {}
    for name, wave in sorted(kids.items(), key=lambda item: (item[1], item[0])):
        grouped.setdefault(wave, []).append(name)
    assert grouped == waves
    assert index.pruned == pruned
    assert tree.children(parent, named.values()) == kids


def stamped(*, reconciled: str, applied: str | None, compared: str = "root") -> Obj:
    source = {"repoURL": "https://git.example/p.git", "path": "root", "targetRevision": "main"}
    managed = [{"manager": "clusterboot", "operation": "Apply", "time": applied}] if applied else []
    managed.append({"manager": "argocd-controller", "operation": "Update", "time": reconciled})
    return {
        "metadata": {"name": "root", "namespace": "argocd", "managedFields": managed},
        "spec": {"source": source},
        "status": {
            "sync": {"status": "Synced", "comparedTo": {"source": {**source, "path": compared}}},
            "reconciledAt": reconciled,
            "resources": [],
        },
    }


@pytest.mark.parametrize(
    ("parent", "blocker"),
    [
        (stamped(reconciled="2026-01-01T00:00:10Z", applied="2026-01-01T00:00:05Z"), None),
        (stamped(reconciled="2026-01-01T00:00:05Z", applied="2026-01-01T00:00:05Z"), None),
        (stamped(reconciled="2026-01-01T00:00:10Z", applied=None), None),
        (
            stamped(reconciled="2026-01-01T00:00:04Z", applied="2026-01-01T00:00:05Z"),
            "root Application root: status older than the spec clusterboot applied",
        ),
        (
            stamped(reconciled="2026-01-01T00:00:10Z", applied=None, compared="old/root"),
            "root Application root: status compared against an older spec",
        ),
    ],
    ids=["compared after the apply", "same second", "never applied by us", "older", "old path"],
)
def test_the_children_are_planned_only_from_a_root_that_compared_what_we_applied(
    parent: Obj, blocker: str | None
) -> None:
    assert tree.root_blockers(parent, "root", []) == ([blocker] if blocker else [])


@pytest.mark.parametrize(
    ("current", "wanted", "lines"),
    [
        ({"a": -1, "b": 1}, {"a": -1, "b": 1}, []),
        (
            {"a": -1, "b": 1, "c": 1, "e": 3},
            {"a": -2, "b": 7, "d": 1, "e": 3},
            [
                "a moves from wave -1 to wave -2",
                "c is pruned (was in wave 1)",
                "d appears in wave 1",
                "b moves from wave 1 to wave 7",
            ],
        ),
        ({}, {"x": 0}, ["x appears in wave 0"]),
    ],
    ids=["no change", "moved, pruned, added", "first run"],
)
def test_a_repository_change_is_told_wave_by_wave(
    current: dict[str, int], wanted: dict[str, int], lines: list[str]
) -> None:
    assert rules.repository_moves(current, wanted) == lines


def test_the_children_a_sandbox_root_will_list_are_read_from_its_plain_files(
    tmp_path: Path,
) -> None:
    root_dir = tmp_path / "root"
    root_dir.mkdir()
    app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: %s%s}\n"
    (root_dir / "a.yaml").write_text(
        app % ("a", ", annotations: {argocd.argoproj.io/sync-wave: '-2'}")
        + "---\n"
        + app % ("b", "")
    )
    (root_dir / "c.yml").write_text(app % ("c", ", namespace: elsewhere"))
    (root_dir / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (root_dir / "broken.yaml").write_text("kind: [unclosed\n")
    url = f"sandbox:{tmp_path}"
    assert sandbox.root_children(url, "root", "argocd") == {"a": -2, "b": 0}
    (root_dir / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    assert sandbox.root_children(url, "root", "argocd") is None
    assert sandbox.root_children("https://git.example/p.git", "root", "argocd") is None


def _root(sync: str, listed: dict[str, str]) -> dict[str, Any]:
    return {"status": {"sync": {"status": sync}, "resources": [
        {"group": argo.GROUP, "kind": "Application", "name": n, "status": s}
        for n, s in listed.items()]}}


@pytest.mark.parametrize(
    ("root", "child", "updating"),
    [
        (None, "ns", False),
        (_root("Synced", {"ns": "Synced"}), "ns", False),
        (_root("OutOfSync", {"ns": "OutOfSync", "web": "Synced"}), "ns", True),
        (_root("OutOfSync", {"ns": "OutOfSync", "web": "Synced"}), "web", False),
        (_root("OutOfSync", {"ns": "Unknown"}), "ns", True),
        (_root("OutOfSync", {"web": "OutOfSync"}), "ns", False),  # not the root's child
        (_root("Synced", {"ns": "OutOfSync"}), "ns", False),  # a root Synced changes nothing
    ],
    ids=["no root", "root synced", "listed out of sync", "another child", "listed unknown",
         "not listed", "root synced, stale entry"],
)
def test_a_child_is_being_updated_only_while_the_root_says_it_will_change_it(
    root: dict[str, Any] | None, child: str, updating: bool
) -> None:
    why = tree.updating(root, child)
    assert (why is not None) is updating
    if why is not None:
        assert why.startswith("waiting for the root to update it")
