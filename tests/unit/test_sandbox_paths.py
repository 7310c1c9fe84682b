"""A ``sandbox:`` root app, or a child Application in it, naming a path its repository lacks:
refused before anything is touched (exit 2, the key or file named, what is there instead).
Argo CD would only say "<path>: app path does not exist" once the cluster was built."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml

from bootstrap.commands import app
from bootstrap.components.sandbox import paths
from bootstrap.errors import InputError

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "examples" / "gitops-sandbox"


def run_up(tmp_path: Path, **root_app: str) -> tuple[int, str]:
    profile = tmp_path / "p.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "state_dir": str(tmp_path / "state"),
        "root_app": root_app,
    }
    profile.write_text(yaml.safe_dump(body))
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
    return app.up(inv), out.getvalue() + err.getvalue()


def copied(tmp_path: Path) -> Path:
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    return source


def misspell_web(source: Path) -> None:
    web = source / "root" / "web.yaml"
    web.write_text(web.read_text().replace("apps/web/overlays/local", "apps/web/overlays/lcoal"))


CASES = [
    (
        "a root path that does not exist",
        "roots",
        ["root_app.path: roots does not exist in sandbox:", "the repository's top holds: apps,"],
    ),
    (
        "a misspelt directory deeper down lists its parent's directories",
        "apps/web/overlays/lcoal",
        ["apps/web/overlays/lcoal does not exist", "apps/web/overlays/ holds: kind, local"],
    ),
    ("a root path that is a file", "root/web.yaml", ["root/web.yaml is not a directory"]),
    ("a root path above the repository", "../..", ["../.. is outside the repository"]),
    ("an absolute root path", "/etc", ["/etc is absolute"]),
]


@pytest.mark.parametrize(("label", "path", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_a_sandbox_root_path_it_lacks_exits_2_naming_the_key_before_anything_runs(
    tmp_path: Path, label: str, path: str, phrases: list[str]
) -> None:
    source = copied(tmp_path)
    code, text = run_up(tmp_path, repo_url=f"sandbox:{source}", path=path)
    assert code == 2, text
    for phrase in phrases:
        assert phrase in text, text
    assert "hint: give root_app.path a directory of the repository" in text
    assert "stage.start" not in text
    assert "Traceback" not in text
    assert not (tmp_path / "state").exists(), "a run refused with exit 2 makes no state directory"


def test_a_child_application_naming_a_path_the_sandbox_lacks_exits_2_naming_the_file(
    tmp_path: Path,
) -> None:
    source = copied(tmp_path)
    misspell_web(source)
    code, text = run_up(tmp_path, repo_url=f"sandbox:{source}", path="root")
    assert code == 2, text
    assert (
        "root/web.yaml: Application web: spec.source.path apps/web/overlays/lcoal does not exist"
        in text
    )
    assert f"hint: fix spec.source.path in {source / 'root' / 'web.yaml'}" in text
    assert "apps/web/overlays/ holds: kind, local" in text
    assert "stage.start" not in text
    assert not (tmp_path / "state").exists()


def test_the_shipped_sandbox_and_remote_repositories_pass() -> None:
    paths.check("sandbox:examples/gitops-sandbox", "root")  # every path is there
    paths.check("https://git.example.invalid/platform.git", "no/such/path")  # not looked at


def test_children_of_a_root_kustomize_renders_or_of_other_repositories_are_not_checked(
    tmp_path: Path,
) -> None:
    source = copied(tmp_path)
    misspell_web(source)
    with pytest.raises(InputError, match="apps/web/overlays/lcoal"):
        paths.check(f"sandbox:{source}", "root")
    (source / "root" / "kustomization.yaml").write_text("resources: [web.yaml]\n")
    paths.check(f"sandbox:{source}", "root")  # what Kustomize renders is not guessed at
    (source / "root" / "kustomization.yaml").unlink()
    web = source / "root" / "web.yaml"
    web.write_text(web.read_text().replace("REPO_URL", "https://git.example.invalid/other.git"))
    paths.check(f"sandbox:{source}", "root")  # another repository: the walk names it
