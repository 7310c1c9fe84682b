"""Publishing a sandbox GitOps directory as a local git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bootstrap.components import sandbox
from bootstrap.errors import InputError
from bootstrap.processes import runner


def make_source(root: Path) -> Path:
    source = root / "gitops"
    (source / "root").mkdir(parents=True)
    (source / "root" / "app.yaml").write_text("spec: {source: {repoURL: REPO_URL, path: apps}}\n")
    (source / "apps").mkdir()
    (source / "apps" / "cm.yaml").write_text("kind: ConfigMap\n")
    return source


def log(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def test_publish_commits_the_tree_with_the_repo_url_filled_in(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    url = sandbox.publish(f"sandbox:{source}", tmp_path / "state", runner.LocalRunner())
    repo = tmp_path / "state" / "gitops-sandbox"
    assert url == f"file://{repo}"
    assert (
        repo / "root" / "app.yaml"
    ).read_text() == f"spec: {{source: {{repoURL: {url}, path: apps}}}}\n"
    assert (repo / "apps" / "cm.yaml").is_file()
    assert len(log(repo)) == 1


def test_the_digest_tells_whether_publishing_is_needed(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    state = tmp_path / "state"
    url = sandbox.effective_url(f"sandbox:{source}", state)
    assert sandbox.published_digest(sandbox.repo_dir(state)) is None
    sandbox.publish(f"sandbox:{source}", state, runner.LocalRunner())
    same = sandbox.digest(sandbox.rendered(source, url))
    assert sandbox.published_digest(sandbox.repo_dir(state)) == same
    (source / "apps" / "cm.yaml").write_text("kind: ConfigMap\ndata: {a: b}\n")
    assert sandbox.digest(sandbox.rendered(source, url)) != same


def test_a_file_removed_from_the_source_leaves_the_repository_too(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    state = tmp_path / "state"
    sandbox.publish(f"sandbox:{source}", state, runner.LocalRunner())
    (source / "apps" / "cm.yaml").unlink()
    sandbox.publish(f"sandbox:{source}", state, runner.LocalRunner())
    assert not (sandbox.repo_dir(state) / "apps" / "cm.yaml").exists()
    assert len(log(sandbox.repo_dir(state))) == 2


def test_a_missing_sandbox_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        sandbox.source_dir(f"sandbox:{tmp_path / 'nope'}")


def test_remote_urls_pass_through() -> None:
    assert (
        sandbox.effective_url("https://git.example/p.git", Path("/s"))
        == "https://git.example/p.git"
    )
