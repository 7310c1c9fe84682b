"""Hostile profile values, generated: shell syntax, newlines, `../`, NUL, very long text and
bytes that are not UTF-8, at every key a profile has and through every door a value reaches a
command line, a path, a kubeconfig or a manifest by. Each property says what must hold for
any value: it loads or is refused with an InputError (never another exception); it never
names a directory outside the one it belongs in; a shell sees it as exactly one word, and a
canary file that the shell syntax in it would create never appears; YAML written with it
reads back as the same data, no key added.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bootstrap.artifacts import helm, store
from bootstrap.commands import app, ci
from bootstrap.components.k3s import cloud_init, config
from bootstrap.errors import InputError
from bootstrap.kube import kubeconfig
from bootstrap.processes import runner
from bootstrap.processes.runner import Result
from bootstrap.processes.ssh import SshRunner
from bootstrap.profile import loader, paths
from bootstrap.profile.schema import Profile, SshTarget

CANARY = "CANARY"
"""Every shell here runs in an empty directory of its own; shell syntax that ran would leave
this file behind."""
ATTACKS = [
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"&& touch {CANARY}",
    f"| touch {CANARY}",
    f"\ntouch {CANARY}\n",
    f"'; touch {CANARY}; '",
    f'"; touch {CANARY}; "',
    f"'$(touch {CANARY})'",
    f"-oProxyCommand=touch {CANARY}",
    f"!!python/object/apply:os.system ['touch {CANARY}']",
    "'\\''",
    "\\",
    "'",
    '"',
    "../",
    "../../../../etc/passwd",
    "..",
    ".",
    "/",
    "~",
    "~root/",
    "-",
    "--",
    "-rf",
    "--help",
    "${HOME}",
    "$HOME",
    "$${X}",
    "${X:-y}",
    "*",
    "?",
    "[a]",
    "{a,b}",
    "#",
    ": ",
    "- ",
    "&a ",
    "*a",
    "&a [*a]",
    "!tag ",
    "%h",
    "@",
    "{{ .Values }}",
    "\t",
    "\r\n",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "é",
    "日本語",
    "\U0001f600",
    "\x00",
    "\udcff",
    "\ud800",
    "x" * 1000,
]
NOT_TEXT = re.compile(r"[\x00\ud800-\udfff]")
"""What no path, argv, kubeconfig or report can carry; the loader refuses it."""

piece = st.sampled_from(ATTACKS) | st.text(max_size=8)
hostile = st.lists(piece, max_size=6).map("".join)
"""Any text: the attacks above glued to each other and to random text (NUL, lone surrogates)."""
text = hostile.map(lambda t: NOT_TEXT.sub("", t))
"""Text a profile can hold once loaded: no NUL, no lone surrogate."""
file_name = (
    st.lists(piece, min_size=1, max_size=4)
    .map(lambda parts: NOT_TEXT.sub("", "".join(parts)).replace("/", "")[:50])
    .filter(lambda name: name not in ("", ".", ".."))
)
"""One file name this machine can create (no `/`, no NUL, at most 200 bytes)."""

FEW = settings(max_examples=100, deadline=None)
SHELL = settings(
    max_examples=50,  # each example writes files or starts a shell
    deadline=None,
    # The fixture is a directory every example may reuse: each writes its own files.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

SHA = "a" * 64
BOMB = (
    "{"
    + ", ".join(
        ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    )
    + "}"
)
"""Aliases inside aliases: 10**8 values once expanded ("billion laughs"), 460 bytes of text."""
BASE: dict[str, Any] = {
    "cluster": {
        "provider": "local",
        "name": "ok",
        "k3s_ssh": {"ssh": {"host": "h.lan"}},
        "k3s_oci": {
            "compartment_id": "ocid1.compartment.oc1..c",
            "availability_domain": "ad",
            "subnet_id": "ocid1.subnet.oc1..s",
            "image_id": "ocid1.image.oc1..i",
        },
        "eks": {"region": "eu-west-1"},
    },
    "components": {
        "metallb": {
            "chart": {"repository": "https://charts.example/", "chart": "c", "version": "1.0.0"}
        }
    },
    "root_app": {"repo_url": "https://example.com/r.git"},
}


def every_key(node: paths.Node = Profile, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every dotted key the schema has: sections, leaves, and a key inside each mapping."""
    for key in paths.keys_of(node):
        here = (*prefix, key)
        below = paths.child(node, key)
        yield ".".join(here)
        if isinstance(below, type):
            yield from every_key(below, here)
        elif below == "dict":
            yield ".".join((*here, "x"))


KEYS = sorted(every_key())
STRING_KEYS = [
    "cluster.context",
    "cluster.kubeconfig",
    "cluster.kind.node_image",
    "cluster.kind.config",
    "cluster.k3d.image",
    "cluster.local.node_cpu",
    "cluster.k3s_ssh.ssh.identity_file",
    "cluster.k3s_ssh.ssh.known_hosts",
    "cluster.k3s_oci.compartment_id",
    "cluster.eks.region",
    "components.sealed_secrets.key_backup",
    "root_app.path",
    "root_app.target_revision",
    "artifacts.dir",
    "state_dir",
]
"""Free-text keys: whatever loads there must be exactly the text written."""


def put(doc: Mapping[str, Any], key: str, value: object) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` at the dotted ``key``."""
    head, _, rest = key.partition(".")
    below = doc.get(head)
    if rest:
        value = put(below if isinstance(below, dict) else {}, rest, value)
    return {**doc, head: value}


def at(model: object, key: str) -> object:
    for part in key.split("."):
        model = getattr(model, part)
    return model


def load(ref: Path | str, *, sets: Sequence[str] = (), profiles_dir: Path | None = None) -> Any:
    """The loaded profile, or None when it was refused as bad input; any other exception
    (a traceback for the user) fails the test."""
    try:
        return loader.load(str(ref), overrides=sets, env={}, profiles_dir=profiles_dir)
    except InputError:
        return None


def strings(value: object) -> Iterator[str]:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


def assert_plain_text(profile: Profile) -> None:
    for found in strings(profile):
        assert not NOT_TEXT.search(found), f"{found!r} passed the loader"
        found.encode("utf-8")  # a report, a kubeconfig, stdout: all of them UTF-8


def sh_words(command_line: str, work: Path) -> list[str]:
    """The words a POSIX shell makes of ``command_line`` (run by ``sh`` in ``work``: any
    substitution in it runs for real)."""
    script = f'set -- {command_line}\nprintf "%s\\000" "$@"'
    out = runner.LocalRunner(timeout=10).run(["sh", "-c", script], cwd=work).stdout
    return out.split("\0")[:-1]


def no_canary(work: Path) -> bool:
    return not any(work.rglob(CANARY))


@pytest.fixture(scope="module")
def base_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "p.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


def fresh(parent: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=parent))


# -- loading: any text at any key loads or is bad input ---------------------------------------


@FEW
@given(key=st.sampled_from(KEYS), value=hostile)
@example(key="cluster.context", value='"a\\0b"')  # YAML's \0: was accepted, then a traceback
@example(key="cluster.kind.node_image", value="\udcff")  # --set $'\xff': was a traceback on stdout
@example(key="components.metallb.chart.values", value="&a [*a]")  # was a RecursionError
@example(key="components.metallb.chart.values.x", value="2020-01-01")  # was a TypeError in helm
@example(key="components.metallb.chart.values", value=BOMB)  # was minutes, then out of memory
@example(key="state_dir", value="~nosuchuser/x")  # was a RuntimeError in every command
@example(key="root_app.credentials.password.file", value="~nosuchuser/x")  # RuntimeError
def test_a_set_value_of_any_text_at_any_key_loads_or_is_bad_input(
    base_file: Path, key: str, value: str
) -> None:
    profile = load(base_file, sets=[f"{key}={value}"])
    if profile is not None:
        assert_plain_text(profile)
        json.dumps(loader.describe(profile))  # `invoke plan` prints it
        app.state_dir_for(profile)  # every command's first use of the profile
        chart = profile.components.metallb.chart
        if chart is not None:
            json.dumps(helm.values_for("metallb", chart))  # the values file `helm template` reads


@FEW
@given(
    key=hostile | st.sampled_from(KEYS).flatmap(lambda k: hostile.map(lambda h: k + h)),
    value=hostile,
)
def test_a_set_key_of_any_text_loads_or_is_bad_input(base_file: Path, key: str, value: str) -> None:
    profile = load(base_file, sets=[f"{key}={value}"])
    if profile is not None:
        assert_plain_text(profile)


@SHELL
@given(
    key=st.sampled_from(KEYS),
    raw=st.binary(max_size=40) | hostile.map(lambda t: t.encode("utf-8", "surrogatepass")),
)
@example(key="cluster.context", raw=b"&a [*a]")  # was a RecursionError
def test_any_bytes_written_as_a_value_in_a_profile_file_load_or_are_bad_input(
    tmp_path: Path, key: str, raw: bytes
) -> None:
    path = tmp_path / "spliced.yaml"
    path.write_bytes(
        yaml.safe_dump(put(BASE, key, "HOSTILE_VALUE")).encode().replace(b"HOSTILE_VALUE", raw)
    )
    profile = load(path)
    if profile is not None:
        assert_plain_text(profile)


@SHELL
@given(key=st.sampled_from(STRING_KEYS), value=hostile)
def test_a_text_value_in_a_profile_file_is_kept_exactly_or_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    path = tmp_path / "dumped.yaml"
    path.write_text(yaml.safe_dump(put(BASE, key, value.replace("${", "$${"))))
    profile = load(path)
    if NOT_TEXT.search(value):
        assert profile is None
    elif profile is not None:
        assert at(profile, key) == value


@FEW
@given(value=hostile)
@example(value="/state/x #y")  # a YAML comment
@example(value="${HOME}")
def test_a_setting_made_by_the_loader_reads_back_as_exactly_its_text(
    base_file: Path, value: str
) -> None:
    profile = load(base_file, sets=[loader.setting("cluster.context", value)])
    if NOT_TEXT.search(value):
        assert profile is None
    else:
        assert profile is not None
        assert profile.cluster.context == value


# -- paths: a name never leads out of its directory ---------------------------------------------


@SHELL
@given(stem=file_name, name=hostile, by_name=st.booleans())
def test_a_profile_name_never_names_a_state_directory_outside_the_state_root(
    tmp_path: Path, stem: str, name: str, by_name: bool
) -> None:
    profiles, root = fresh(tmp_path), tmp_path / "state"
    path = profiles / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(BASE if by_name else {**BASE, "name": name}))
    with mock.patch.dict(os.environ, {"XDG_STATE_HOME": str(root)}):
        profile = load(stem if by_name else path, profiles_dir=profiles)
        state = app.state_dir_for(profile) if profile is not None else None
    if profile is None or state is None:
        return
    assert state.parent == root / "clusterboot"
    assert state.name == profile.name
    assert state.name not in (".", "..")
    assert Path(profile.source).parent == profiles.resolve()


@SHELL
@given(state=text)
@example(state="/state/x #y")  # was read as /state/x: the run's state went into the parent
@example(state="/state/a: b")  # was read as a mapping: bad input for a valid path
@example(state="/state/${HOME}")
def test_an_ephemeral_ci_run_keeps_its_state_below_the_profiles_state_dir(
    tmp_path: Path, state: str
) -> None:
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump({**BASE, "state_dir": state.replace("${", "$${")}))
    profile = load(path)
    assume(profile is not None)  # `~nosuchuser/...` is refused
    sets = ci.ephemeral_sets(profile, "a1b2c3", port=40123)
    run = load(path, sets=sets)
    assert run is not None
    assert app.state_dir_for(run) == app.state_dir_for(profile) / "runs" / "a1b2c3"


@FEW
@given(chart=hostile, version=hostile, k3s=hostile)
@example(chart="../../x", version="1.0.0", k3s="v1.33.5+k3s1")  # was a name with a '/'
@example(chart="c", version="1.0.0", k3s="v1.33.5+k3s1/../../x")  # was a name with a '/'
def test_every_file_name_in_a_bundle_stays_one_name_in_the_bundle_directory(
    base_file: Path, chart: str, version: str, k3s: str
) -> None:
    sets = [
        loader.setting("components.metallb.chart.chart", chart),
        loader.setting("components.metallb.chart.version", version),
        "cluster.provider=k3s-ssh",
        loader.setting("cluster.k3s_ssh.k3s_version", k3s),
        f"cluster.k3s_ssh.install_script={{url: 'https://get.k3s.io/', sha256: {SHA}}}",
    ]
    profile = load(base_file, sets=sets)
    if profile is None:
        return
    out = Path("/bundle")
    for artifact in store.needed(profile):
        name = artifact.bundle_name
        assert (out / name).parent == out, name
        assert name not in (".", "..")


# -- commands: a value is one word for the shell that reads it ----------------------------------


class ShellAsRemote:
    """A ``Runner`` under SshRunner whose "remote" is ``sh`` here, in ``work``: the command
    string SshRunner builds meets a real POSIX shell."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.local = runner.LocalRunner(timeout=10)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
        secret_args: Sequence[str] = (),
    ) -> Result:
        assert argv[0] == "ssh"
        assert argv[-3] == "--"
        return self.local.run(["sh", "-c", argv[-1]], input=input, cwd=self.work, check=check)

    def which(self, tool: str) -> str | None:
        return None


def ssh_into(work: Path) -> SshRunner:
    return SshRunner(SshTarget(host="h.lan"), runner=ShellAsRemote(work), known_hosts=work / "kh")


PRINT_ALL = 'printf "%s\\000" "$PWD" "$CB_VALUE" "$@"'


@SHELL
@given(values=st.lists(text, max_size=4), env_value=text, directory=file_name)
@example(values=[f"$(touch {CANARY})", "a b", "-n"], env_value="'; x", directory="a'b")
def test_argv_env_and_cwd_reach_the_remote_shell_as_exactly_those_words(
    work: Path, values: list[str], env_value: str, directory: str
) -> None:
    here = fresh(work)
    cwd = here / directory
    cwd.mkdir()
    got = ssh_into(here).run(
        ["sh", "-c", PRINT_ALL, "sh", *values], env={"CB_VALUE": env_value}, cwd=cwd
    )
    assert got.stdout.split("\0")[:-1] == [str(cwd), env_value, *values]
    assert no_canary(here)


@SHELL
@given(name=file_name, content=text)
def test_a_copied_file_lands_at_exactly_its_remote_path_and_nowhere_else(
    work: Path, name: str, content: str
) -> None:
    here, local = fresh(work), fresh(work) / "local.txt"
    local.write_text(content)
    ssh_into(here).copy_to(local, str(here / name))
    assert os.listdir(here) == [name]
    assert (here / name).read_bytes() == local.read_text().encode()
    assert stat.S_IMODE((here / name).stat().st_mode) == 0o600


@SHELL
@given(values=st.lists(text, max_size=5))
def test_the_local_runner_passes_each_value_as_one_argv_element(values: list[str]) -> None:
    got = runner.LocalRunner(timeout=10).run(["printf", "%s\\000", *values] if values else ["true"])
    assert got.stdout.split("\0")[:-1] == values


@SHELL
@given(
    host=st.sampled_from(["h.lan", "192.0.2.1", "::1", "fe80::1%eth0"]).flatmap(
        lambda good: st.sampled_from([good, ""]).flatmap(lambda g: hostile.map(lambda h: g + h))
    )
    | hostile,
    user=hostile | st.just("ops"),
)
@example(host="-oProxyCommand=touch CANARY", user="ops")
@example(host="$(touch CANARY)", user="ops")  # ssh before 9.6 puts %h into a shell
@example(host="fe80::1%$(touch CANARY)", user="ops")  # Python's ip_address takes any zone
@example(host="evil.example/#", user="ops")  # was https://evil.example/#:6443 for the API
@example(host="h.lan", user="x@evil.example")
def test_an_ssh_host_and_user_that_load_are_plain_words_for_ssh_and_the_api_url(
    base_file: Path, host: str, user: str
) -> None:
    sets = [
        "cluster.provider=k3s-ssh",
        loader.setting("cluster.k3s_ssh.ssh.host", host),
        loader.setting("cluster.k3s_ssh.ssh.user", user),
    ]
    profile = load(base_file, sets=sets)
    if profile is None:
        return
    target = profile.cluster.k3s_ssh.ssh
    assert (target.host, target.user) == (host, user)
    argv = SshRunner(target, runner=ShellAsRemote(Path("/nonexistent"))).ssh_argv("true")
    assert argv[-3:] == ["--", f"{user}@{host}", "true"]
    assert not re.search(r"""[\s'`"$\\;&<>|(){}@/#?*\[\]~!]""", host + user)
    assert not host.startswith("-")
    assert not user.startswith("-")
    bracketed = f"[{host}]" if ":" in host else host  # as stages/k3s_server.py writes it
    url = urlsplit(f"https://{bracketed}:6443")
    assert (str(url.hostname).lower(), url.port, url.username) == (host.lower(), 6443, None)


# -- kubeconfigs and manifests: YAML written with a value reads back the same -------------------

TOOL_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "default", "user": {"token": "t"}}],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
    "current-context": "default",
}


@FEW
@given(name=hostile)
def test_a_context_name_round_trips_through_the_kubeconfig_and_adds_no_key(name: str) -> None:
    renamed = kubeconfig.rename_context(TOOL_KUBECONFIG, "default", name)
    written = kubeconfig.dump(renamed)
    written.encode("utf-8")  # kubeconfig.write's encoding
    read = yaml.safe_load(written)
    assert read == renamed
    assert set(read) == set(TOOL_KUBECONFIG)
    assert kubeconfig.extract(read, name)["current-context"] == name


@SHELL
@given(version=text, args=st.lists(text, max_size=4), profile_name=text)
def test_the_cloud_init_install_line_runs_exactly_the_profiles_words(
    work: Path, version: str, args: list[str], profile_name: str
) -> None:
    written = cloud_init.user_data(
        script=b"#!/bin/sh\n", version=version, exec_args=args, api_port=6443, profile=profile_name
    )
    assert written.startswith("#cloud-config\n")
    doc = yaml.safe_load(written)
    assert set(doc) == {"write_files", "runcmd"}
    assert [f["path"] for f in doc["write_files"]] == [config.REMOTE_SCRIPT, config.MARKER]
    marker = json.loads(doc["write_files"][1]["content"])
    assert (marker["version"], marker["exec"], marker["profile"]) == (version, args, profile_name)
    here = fresh(work)
    words = sh_words(doc["runcmd"][-1], here)
    exec_line = f"INSTALL_K3S_EXEC={shlex.join(args)}"
    assert words == ["env", f"INSTALL_K3S_VERSION={version}", exec_line, "sh", config.REMOTE_SCRIPT]
    assert shlex.split(words[2].partition("=")[2]) == args
    assert no_canary(here)
