"""Publishing a sandbox GitOps directory as a local git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bootstrap.components import sandbox
from bootstrap.components.sandbox import server
from bootstrap.errors import InputError
from bootstrap.processes import runner
from bootstrap.profile.schema import Profile


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


def test_served_in_the_cluster_the_url_is_the_git_servers() -> None:
    url = sandbox.effective_url("sandbox:examples", Path("/s"), "argocd")
    assert url == "git://clusterboot-sandbox-git.argocd.svc/gitops-sandbox.git"
    assert sandbox.effective_url("https://git.example/p.git", Path("/s"), "argocd") == (
        "https://git.example/p.git"
    )


@pytest.mark.parametrize(
    ("argocd", "where"),
    [
        ({"mode": "manifests"}, "argocd"),
        ({"mode": "manifests", "namespace": "gitops"}, "gitops"),
        ({"mode": "processes"}, None),
        ({"enabled": False}, None),
    ],
)
def test_the_sandbox_is_served_in_the_cluster_only_to_an_argocd_running_there(
    argocd: dict[str, object], where: str | None
) -> None:
    profile = Profile.model_validate(
        {"name": "p", "cluster": {"provider": "kind", "name": "c"},
         "components": {"argocd": argocd}}
    )
    assert sandbox.served_in(profile) == where


def test_the_git_server_runs_argocds_image_read_only_with_no_push_port() -> None:
    deployment, service = server.objects("argocd", "quay.io/argoproj/argocd:v3.2.11")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "quay.io/argoproj/argocd:v3.2.11"
    script = container["args"][-1]
    assert "git daemon" in script
    assert "receive-pack" not in script  # pushes go through exec, not the daemon
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["ports"] == [{"name": "git", "port": 9418, "targetPort": "git"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_a_push_through_a_command_reaches_a_repository_at_an_awkward_path(
    tmp_path: Path,
) -> None:
    source = make_source(tmp_path)
    state = tmp_path / "state"
    sandbox.publish(f"sandbox:{source}", state, runner.LocalRunner())
    served = tmp_path / "a dir with 100% spaces" / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(served)], check=True)
    command = ["git", "receive-pack", str(served)]
    server.push_through(runner.LocalRunner(), sandbox.repo_dir(state), command)
    head = sandbox.published_revision(state, runner.LocalRunner())
    assert _rev(served, "main") == head
    # a publication made afresh (its history unrelated) replaces what the server held
    subprocess.run(["rm", "-rf", str(sandbox.repo_dir(state))], check=True)
    (source / "apps" / "cm.yaml").write_text("kind: ConfigMap\ndata: {a: b}\n")
    sandbox.publish(f"sandbox:{source}", state, runner.LocalRunner())
    server.push_through(runner.LocalRunner(), sandbox.repo_dir(state), command)
    assert _rev(served, "main") == sandbox.published_revision(state, runner.LocalRunner())
    assert _rev(served, "main") != head


def _rev(repo: Path, ref: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "rev-parse", ref], capture_output=True,
                          text=True, check=True).stdout.strip()
