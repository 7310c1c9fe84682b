"""The stage graph: resolve ``needs`` (and aliases such as 'cluster'), reject unknown names and
cycles, and order stages topologically with ties broken by the one list in ``stages``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bootstrap.errors import DagError


@dataclass(frozen=True)
class Node:
    name: str
    needs: tuple[str, ...]
    provides: str | None = None


@dataclass(frozen=True)
class Graph:
    order: tuple[str, ...]
    needs: Mapping[str, tuple[str, ...]]
    """Each stage's resolved dependencies (aliases replaced by stage names)."""

    def dependents(self, name: str) -> set[str]:
        """Every stage that needs ``name``, directly or through others."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for stage, needs in self.needs.items():
                if current in needs and stage not in found:
                    found.add(stage)
                    frontier.append(stage)
        return found

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            for need in self.needs[frontier.pop()]:
                if need not in found:
                    found.add(need)
                    frontier.append(need)
        return found


def build(nodes: Sequence[Node], *, tie_order: Sequence[str]) -> Graph:
    """Resolve and sort ``nodes``. Raises DagError naming the unknown stage or the cycle."""
    by_name = {n.name: n for n in nodes}
    aliases = {n.provides: n.name for n in nodes if n.provides}
    rank = {name: i for i, name in enumerate(tie_order)}
    needs: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        resolved = []
        for need in node.needs:
            target = aliases.get(need, need)
            if target not in by_name:
                raise DagError(
                    f"stage {node.name!r} needs {need!r}, which is not a stage of this profile",
                    hint=f"known stages: {', '.join(sorted(by_name))}",
                )
            resolved.append(target)
        needs[node.name] = tuple(resolved)
    return Graph(order=_toposort(needs, rank), needs=needs)


def _toposort(needs: Mapping[str, tuple[str, ...]], rank: Mapping[str, int]) -> tuple[str, ...]:
    def key(name: str) -> tuple[int, str]:
        return (rank.get(name, len(rank)), name)

    remaining = {name: set(deps) for name, deps in needs.items()}
    order: list[str] = []
    while remaining:
        ready = sorted((n for n, deps in remaining.items() if not deps), key=key)
        if not ready:
            raise DagError(
                f"the stages form a cycle: {' -> '.join(_find_cycle(remaining))}",
                hint="remove one of these `needs` so the graph has a start",
            )
        first = ready[0]
        order.append(first)
        del remaining[first]
        for deps in remaining.values():
            deps.discard(first)
    return tuple(order)


def _find_cycle(remaining: Mapping[str, set[str]]) -> list[str]:
    start = min(remaining)
    path = [start]
    seen = {start: 0}
    current = start
    while True:
        current = min(remaining[current])
        if current in seen:
            return [*path[seen[current] :], current]
        seen[current] = len(path)
        path.append(current)


def select(graph: Graph, *, only: Sequence[str] = (), start_from: str | None = None) -> list[str]:
    """The stages to run: all, ``--only`` these, or ``--from`` one and everything after it.
    Empty names in ``only`` (``--only a,,b``) are dropped; ``--only`` naming none is refused."""
    given, only = bool(only), [name for name in only if name]
    if given and not only:
        raise DagError(
            "--only names no stage",
            hint=f"e.g. --only {graph.order[-1]}; stages of this profile, in order: "
            f"{', '.join(graph.order)}",
        )
    known = set(graph.order)
    for name in [*only, *([start_from] if start_from else [])]:
        if name not in known:
            raise DagError(
                f"unknown stage {name!r}",
                hint=f"stages of this profile, in order: {', '.join(graph.order)}",
            )
    if only and start_from:
        raise DagError("--only and --from cannot be combined", hint="use one of them")
    if only:
        return [n for n in graph.order if n in set(only)]
    if start_from:
        return list(graph.order[graph.order.index(start_from) :])
    return list(graph.order)
