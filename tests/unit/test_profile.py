"""Loading profiles: the shipped ones, extends, --set, ${VAR} and secrets."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from bootstrap import secrets
from bootstrap.errors import ProfileError
from bootstrap.profile import loader
from bootstrap.profile.schema import Profile

SHIPPED = sorted(loader.PROFILES_DIR.glob("*.yaml"))
MINIMAL = "cluster: {provider: local, name: c}\n"


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()


def write(directory: Path, name: str, text: str, *, mode: int = 0o644) -> Path:
    path = directory / name
    path.write_text(dedent(text))
    path.chmod(mode)
    return path


def load(path: Path, *sets: str, **env: str) -> Profile:
    return loader.load(str(path), overrides=sets, env=env, profiles_dir=path.parent)


# --- the shipped profiles -------------------------------------------------------------------


def test_the_design_profiles_are_all_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"base", "local", "dev", "docker-desktop", "prodesk", "oci", "prod", "ci"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_loads_with_an_empty_environment(path: Path) -> None:
    loaded = loader.load(path.stem, env={})
    assert loaded.name == path.stem
    assert loaded.source == str(path.resolve())
    assert path.read_text().startswith("# "), "each profile opens with a comment saying what for"
    json.dumps(loader.describe(loaded))


def test_shipped_profiles_pin_the_component_versions_from_their_base() -> None:
    for path in SHIPPED:
        components = loader.load(path.stem, env={}).components
        assert components.metallb.version == "v0.15.2"
        assert components.argocd.version == "v3.2.11"
        assert components.sealed_secrets.version == "v0.36.6"


def test_shipped_profiles_pick_their_provider_and_settings() -> None:
    dev = loader.load("dev", env={})
    assert (dev.cluster.provider, dev.cluster.name) == ("k3d", "clusterboot-dev")
    assert (dev.cluster.k3d.servers, dev.cluster.k3d.agents) == (1, 2)
    local = loader.load("local", env={})
    assert local.cluster.lb_range == "198.51.100.0/28"
    assert local.root_app is not None
    assert local.root_app.repo_url == "sandbox:examples/gitops-sandbox"
    ci = loader.load("ci", env={})
    assert (ci.cluster.provider, ci.cluster.name, ci.cluster.ephemeral) == (
        "local",
        "clusterboot-ci",
        True,
    )
    assert ci.cluster.lb_range == local.cluster.lb_range
    prod = loader.load("prod", env={})
    assert prod.cluster.eks is not None
    assert prod.cluster.eks.region == "eu-west-1"
    assert not prod.components.metallb.enabled
    desktop = loader.load("docker-desktop", env={})
    assert desktop.cluster.attach
    assert desktop.cluster.context == "docker-desktop"


def test_shipped_defaults_give_way_to_the_environment() -> None:
    prodesk = loader.load("prodesk", env={"PRODESK_HOST": "10.1.2.3"})
    assert prodesk.cluster.k3s_ssh is not None
    assert prodesk.cluster.k3s_ssh.ssh.host == "10.1.2.3"
    assert loader.load("prodesk", env={}).cluster.k3s_ssh.ssh.host == "prodesk.lan"  # type: ignore[union-attr]
    dev = loader.load("dev", env={"GITOPS_REPO_URL": "https://git.example/team.git"})
    assert dev.root_app is not None
    assert dev.root_app.repo_url == "https://git.example/team.git"


# --- finding the file -----------------------------------------------------------------------


def test_a_profile_is_found_by_name_in_the_profiles_dir_or_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", MINIMAL)
    by_name = loader.load("mine", env={}, profiles_dir=tmp_path)
    by_path = loader.load(str(path), env={}, profiles_dir=Path("/nonexistent"))
    assert by_name == by_path
    assert by_name.source == str(path.resolve())


def test_name_defaults_to_the_file_stem_and_the_file_may_set_its_own(tmp_path: Path) -> None:
    assert load(write(tmp_path, "team-a.yaml", MINIMAL)).name == "team-a"
    assert load(write(tmp_path, "b.yaml", "name: other\n" + MINIMAL)).name == "other"


def test_name_is_not_inherited_so_two_profiles_never_share_a_state_dir(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "name: shared\n" + MINIMAL)
    child = write(tmp_path, "child.yaml", "extends: base\n")
    assert load(child).name == "child"


# --- extends --------------------------------------------------------------------------------


def test_extends_merges_mappings_deeply_and_lists_and_scalars_replace(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        """
        cluster:
          provider: k3s-ssh
          name: base
          k3s_ssh:
            ssh: {host: a.lan, user: admin, port: 2222}
            extra_args: [--one, --two]
        waves: {deadline_seconds: 100, per_wave_seconds: {1: 10, 2: 20}}
        """,
    )
    child = write(
        tmp_path,
        "child.yaml",
        """
        extends: base
        cluster:
          k3s_ssh:
            ssh: {host: b.lan}
            extra_args: [--three]
        waves: {per_wave_seconds: {2: 25}}
        """,
    )
    loaded = load(child)
    assert loaded.cluster.k3s_ssh is not None
    ssh = loaded.cluster.k3s_ssh.ssh
    assert (ssh.host, ssh.user, ssh.port) == ("b.lan", "admin", 2222)
    assert loaded.cluster.k3s_ssh.extra_args == ("--three",)
    assert loaded.cluster.name == "base"
    assert loaded.waves.deadline_seconds == 100
    assert loaded.waves.per_wave_seconds == {1: 10, 2: 25}


def test_a_key_set_to_null_in_the_child_deletes_the_base_value(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        """
        cluster: {provider: local, name: c, lb_range: 10.0.0.0/28, k3d: {agents: 3}}
        root_app: {repo_url: https://example.com/r.git}
        """,
    )
    child = write(
        tmp_path, "child.yaml", "extends: base\ncluster: {lb_range: null, k3d: {agents: null}}\n"
    )
    assert load(child).cluster.lb_range is None
    assert load(child).cluster.k3d.agents == 0
    gone = write(tmp_path, "gone.yaml", "extends: base\nroot_app: null\n")
    assert load(gone).root_app is None


def test_extends_a_list_applies_the_bases_in_order_then_the_file(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", MINIMAL + "concurrency: 1\nstate_dir: /one\n")
    write(tmp_path, "two.yaml", "concurrency: 2\ntimeouts: {stage_seconds: 5}\n")
    child = write(tmp_path, "child.yaml", "extends: [one, two.yaml]\nstate_dir: /child\n")
    loaded = load(child)
    assert (loaded.concurrency, loaded.state_dir, loaded.timeouts.stage_seconds) == (
        2,
        "/child",
        5,
    )


def test_extends_by_name_looks_beside_the_file_then_in_the_profiles_dir(tmp_path: Path) -> None:
    shipped, elsewhere = tmp_path / "profiles", tmp_path / "elsewhere"
    shipped.mkdir()
    elsewhere.mkdir()
    write(shipped, "local.yaml", MINIMAL + "concurrency: 3\n")
    mine = write(elsewhere, "mine.yaml", "extends: local\n")
    loaded = loader.load(str(mine), env={}, profiles_dir=shipped)
    assert loaded.concurrency == 3
    write(elsewhere, "local.yaml", MINIMAL + "concurrency: 4\n")
    assert loader.load(str(mine), env={}, profiles_dir=shipped).concurrency == 4


def test_a_diamond_of_bases_is_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, "root.yaml", MINIMAL)
    write(tmp_path, "left.yaml", "extends: root\nconcurrency: 3\n")
    write(tmp_path, "right.yaml", "extends: root\nstate_dir: /right\n")
    child = write(tmp_path, "child.yaml", "extends: [left, right]\n")
    loaded = load(child)
    assert (loaded.concurrency, loaded.state_dir) == (3, "/right")


def test_a_project_profile_can_extend_a_shipped_one_by_absolute_path(tmp_path: Path) -> None:
    mine = write(
        tmp_path,
        "itest.yaml",
        f"extends: {loader.PROFILES_DIR / 'local.yaml'}\ncluster: {{local: {{api_port: 7443}}}}\n",
    )
    loaded = load(mine)
    assert (loaded.name, loaded.cluster.provider, loaded.cluster.local.api_port) == (
        "itest",
        "local",
        7443,
    )


# --- --set ----------------------------------------------------------------------------------


def test_set_values_are_parsed_as_yaml_scalars_and_lists(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", MINIMAL.replace("provider: local", "provider: k3s-ssh"))
    loaded = load(
        path,
        "cluster.k3s_ssh.ssh.host=h.lan",
        "cluster.k3s_ssh.ssh.accept_new_host_key=true",
        "cluster.k3s_ssh.ssh.port=2200",
        "cluster.k3s_ssh.extra_args=[--a, --b]",
        "cluster.context=null",
        "waves.per_wave_seconds.3=60",
    )
    assert loaded.cluster.k3s_ssh is not None
    ssh = loaded.cluster.k3s_ssh.ssh
    assert (ssh.host, ssh.accept_new_host_key, ssh.port) == ("h.lan", True, 2200)
    assert loaded.cluster.k3s_ssh.extra_args == ("--a", "--b")
    assert loaded.cluster.context is None
    assert loaded.waves.per_wave_seconds == {3: 60}


def test_set_may_add_a_schema_key_the_file_never_mentions(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", MINIMAL)
    assert load(path, "cluster.local.api_port=7443").cluster.local.api_port == 7443


def test_set_overrides_the_file_and_a_later_set_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", MINIMAL + "concurrency: 4\n")
    assert load(path, "concurrency=5").concurrency == 5
    assert load(path, "concurrency=5", "concurrency=6").concurrency == 6
    assert load(path, "concurrency=null").concurrency == 2  # back to the schema default


def test_a_value_containing_an_equals_sign_is_kept_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", MINIMAL)
    loaded = load(path, "root_app.repo_url=https://git.example/r.git?a=b")
    assert loaded.root_app is not None
    assert loaded.root_app.repo_url == "https://git.example/r.git?a=b"


# --- ${VAR} ---------------------------------------------------------------------------------


def test_variables_are_interpolated_with_defaults_and_an_escape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        cluster: {provider: local, name: "cb-${WHO}", context: "${CTX:-fallback}"}
        state_dir: "${EMPTY:-/default}/x"
        root_app:
          repo_url: https://example.com/r.git
          path: "$${NOT_A_VAR}"
          target_revision: "${REV}"
        concurrency: ${CONC}
        """,
    )
    loaded = load(path, WHO="ann", EMPTY="", REV="", CONC="3")
    assert (loaded.cluster.name, loaded.cluster.context) == ("cb-ann", "fallback")
    assert loaded.state_dir == "/default/x"
    assert loaded.root_app is not None
    assert loaded.root_app.path == "${NOT_A_VAR}"
    assert loaded.root_app.target_revision == ""
    assert loaded.concurrency == 3


def test_environment_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_NAME", "from-os")
    path = write(tmp_path, "p.yaml", "cluster: {provider: local, name: '${CB_TEST_NAME}'}\n")
    assert loader.load(str(path)).cluster.name == "from-os"


# --- secrets --------------------------------------------------------------------------------


CREDENTIALS = """
cluster: {provider: local, name: c}
root_app:
  repo_url: https://example.com/r.git
  credentials:
    username: {env: GIT_USER}
    password: ${GIT_TOKEN}
"""


def test_a_secret_from_the_environment_resolves_and_never_prints(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", CREDENTIALS)
    loaded = load(path, GIT_USER="robot", GIT_TOKEN="ghp_verysecret123")
    creds = loaded.root_app.credentials  # type: ignore[union-attr]
    assert creds is not None
    assert creds.password is not None
    assert creds.username is not None
    assert creds.password.env == "GIT_TOKEN"
    assert creds.password.reveal() == "ghp_verysecret123"
    assert creds.username.reveal() == "robot"
    assert "ghp_verysecret123" not in repr(loaded)
    assert "ghp_verysecret123" not in str(loaded)
    shown = json.dumps(loader.describe(loaded))
    assert "ghp_verysecret123" not in shown
    described = loader.describe(loaded)["root_app"]
    assert isinstance(described, dict)
    assert described["credentials"]["password"] == {"env": "GIT_TOKEN", "value": "***"}
    assert secrets.redact("token ghp_verysecret123") == "token ***"


def test_a_secret_from_a_0600_file_beside_the_profile_resolves(tmp_path: Path) -> None:
    write(tmp_path, "token.txt", "file-secret-value\n", mode=0o600)
    path = write(
        tmp_path,
        "p.yaml",
        """
        cluster: {provider: local, name: c}
        root_app:
          repo_url: https://example.com/r.git
          credentials: {password: {file: token.txt}}
        """,
    )
    loaded = load(path)
    password = loaded.root_app.credentials.password  # type: ignore[union-attr]
    assert password is not None
    assert password.reveal() == "file-secret-value"  # one line: the newline is dropped
    assert repr(password.value) == f"Secret(from file:{tmp_path / 'token.txt'})"
    assert "file-secret-value" not in json.dumps(loader.describe(loaded))


def test_a_multi_line_secret_file_keeps_its_content(tmp_path: Path) -> None:
    key = "-----BEGIN KEY-----\nabcdefgh12345678\n-----END KEY-----\n"
    write(tmp_path, "id_deploy", key, mode=0o600)
    path = write(
        tmp_path,
        "p.yaml",
        """
        cluster: {provider: local, name: c}
        root_app:
          repo_url: git@example.com:r.git
          credentials: {ssh_private_key: {file: id_deploy}}
        """,
    )
    ref = load(path).root_app.credentials.ssh_private_key  # type: ignore[union-attr]
    assert ref is not None
    assert ref.reveal() == key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    write(tmp_path, "token.txt", "file-secret-value", mode=mode)
    path = write(
        tmp_path,
        "p.yaml",
        """
        cluster: {provider: local, name: c}
        root_app:
          repo_url: https://example.com/r.git
          credentials: {password: {file: token.txt}}
        """,
    )
    with pytest.raises(ProfileError) as caught:
        load(path)
    assert f"chmod 600 {tmp_path / 'token.txt'}" in str(caught.value)
    assert "file-secret-value" not in str(caught.value)


def test_a_secret_can_be_given_by_set_as_an_env_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "root_app: {repo_url: https://example.com/r.git}\n" + MINIMAL)
    loaded = load(path, "root_app.credentials.password=${TOKEN}", TOKEN="set-secret-1")
    assert loaded.root_app.credentials.password.reveal() == "set-secret-1"  # type: ignore[union-attr]


def test_describe_masks_a_secret_that_leaked_into_an_ordinary_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        CREDENTIALS.replace(
            "repo_url: https://example.com/r.git",
            "repo_url: https://example.com/r.git\n  path: apps/${GIT_TOKEN}",
        ),
    )
    loaded = load(path, GIT_USER="robot", GIT_TOKEN="ghp_leakyleaky")
    assert "ghp_leakyleaky" not in json.dumps(loader.describe(loaded))


# --- errors that need more than one line of setup -------------------------------------------


def test_a_bad_value_is_blamed_on_the_file_that_set_it(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", MINIMAL + "concurrency: 99\ntimeouts: {stage_seconds: 10}\n")
    child = write(tmp_path, "child.yaml", "extends: base\ntimeouts: {stage_seconds: 0}\n")
    with pytest.raises(ProfileError) as caught:
        load(child)
    text = str(caught.value)
    assert f"{tmp_path / 'base.yaml'}: concurrency: expected a number <= 16 (got 99)" in text
    assert f"{tmp_path / 'child.yaml'}: timeouts.stage_seconds: expected a number >= 1" in text


def test_every_problem_is_listed_in_one_error_one_per_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        cluster: {provider: local, name: c, local: {api_port: 0, nodes: many}}
        concurrency: 0
        colour: blue
        """,
    )
    with pytest.raises(ProfileError) as caught:
        load(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{tmp_path / 'p.yaml'}: ") for line in lines)
    assert caught.value.key == "cluster.local.api_port"
    assert caught.value.file == str(tmp_path / "p.yaml")


def test_loading_writes_nothing_and_leaves_the_environment_alone(tmp_path: Path) -> None:
    write(tmp_path, "token.txt", "file-secret-value", mode=0o600)
    path = write(
        tmp_path,
        "p.yaml",
        MINIMAL + "root_app:\n  repo_url: https://e.com/r\n"
        "  credentials: {password: {file: token.txt}}\n",
    )
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    environ = dict(os.environ)
    load(path, "cluster.name=other")
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert dict(os.environ) == environ


def test_a_repository_url_with_a_harmless_query_is_kept() -> None:
    from bootstrap.profile.schema import RootApp

    url = "https://git.example/r.git?ref=main&depth=1"
    assert RootApp.model_validate({"repo_url": url}).repo_url == url
