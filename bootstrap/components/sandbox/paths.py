"""Whether the paths a ``sandbox:`` root app and its children name are directories of the
sandbox, checked before anything is touched: Argo CD would only say "<path>: app path does not
exist" once the cluster, the platform and the root app are in place.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bootstrap.components.sandbox.repo import (
    MAX_ROOT_FILE,
    PLACEHOLDER,
    RENDERED_BY_TOOLS,
    is_sandbox,
    source_dir,
)
from bootstrap.errors import InputError
from bootstrap.waves import argo

SHOWN = 12  # directory names listed in a hint


def check(repo_url: str, path: str) -> None:
    """``root_app.path`` names a directory of the sandbox, and every child Application its
    plain YAML files declare in the sandbox itself (``repoURL: REPO_URL``) names one too;
    InputError naming the key or the file, with what is there instead. Remote repositories
    are not checked (the wave walk names a missing path there)."""
    if not is_sandbox(repo_url):
        return
    source = source_dir(repo_url)
    problem = path_problem(source, path)
    if problem is not None:
        raise InputError(
            f"root_app.path: {path} {problem} in {repo_url} ({source})",
            hint=f"give root_app.path a directory of the repository, relative to its top; "
            f"{nearby(source, path)}",
        )
    for file, name, child in children(source / path):
        problem = path_problem(source, child)
        if problem is not None:
            where = file.relative_to(source)
            raise InputError(
                f"{where}: Application {name}: spec.source.path {child} {problem} in "
                f"{repo_url} ({source})",
                hint=f"fix spec.source.path in {file}, or add the directory; "
                f"{nearby(source, child)}",
            )


def path_problem(source: Path, path: str) -> str | None:
    """What Argo CD's repo-server would refuse about ``path`` in ``source`` (util/app/path):
    absolute, outside the repository, missing, not a directory; None when it is fine."""
    if Path(path).is_absolute():
        return "is absolute"
    top = source.resolve()
    target = (top / path).resolve()
    if not target.is_relative_to(top):
        return "is outside the repository"
    if not target.exists():
        return "does not exist"
    if not target.is_dir():
        return "is not a directory"
    return None


def nearby(source: Path, path: str) -> str:
    """The directories of the nearest existing directory above ``path``: what is there."""
    top = source.resolve()
    above = top if Path(path).is_absolute() else (top / path).resolve()
    if not above.is_relative_to(top):
        above = top
    while not above.is_dir():  # ends at the top at the latest
        above = above.parent
    names = sorted(p.name for p in above.iterdir() if p.is_dir() and p.name != ".git")
    where = f"{above.relative_to(top)}/" if above != top else "the repository's top"
    if not names:
        return f"{where} holds no directories"
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{where} holds: {', '.join(names[:SHOWN])}{more}"


def children(directory: Path) -> list[tuple[Path, str, str]]:
    """(file, name, spec.source.path) of each Application in the plain YAML files of the root
    directory whose source is the sandbox itself; none for a root Kustomize or Helm renders,
    or files that do not parse (Argo CD names those)."""
    if not directory.is_dir() or any((directory / n).exists() for n in RENDERED_BY_TOOLS):
        return []
    found = []
    for file in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if file.stat().st_size > MAX_ROOT_FILE:
            continue
        try:
            docs = list(yaml.safe_load_all(file.read_text(errors="replace")))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != argo.KIND:
                continue
            name = str((doc.get("metadata") or {}).get("name") or "?")
            spec = doc.get("spec")
            if not isinstance(spec, dict):
                continue
            sources = [spec.get("source"), *(spec.get("sources") or [])]
            for source in sources:
                if isinstance(source, dict) and source.get("repoURL") == PLACEHOLDER:
                    path = source.get("path")
                    if isinstance(path, str) and path:
                        found.append((file, name, path))
    return found
