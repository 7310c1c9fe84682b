"""A corpus of bad profiles: each is refused before anything runs, with the file, the key and
what was wrong, and never with a secret's value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import pytest

from bootstrap import secrets
from bootstrap.errors import ProfileError
from bootstrap.profile import loader

OK = "cluster:\n  provider: local\n  name: ok\n"
ROOT_APP = "root_app:\n  repo_url: https://example.com/r.git\n  credentials:\n"
SHA = "a" * 64
OCI = {"compartment_id": "ocid1.compartment.oc1..aa", "availability_domain": "Uocm:EU-AD-1",
       "subnet_id": "ocid1.subnet.oc1..aa", "image_id": "ocid1.image.oc1..aa"}


@dataclass(frozen=True)
class Bad:
    id: str
    files: dict[str, str]  # written into tmp_path; the first one is loaded unless `ref` says
    file: str  # the file the error must name: a file name, or "--set"
    key: str  # the dotted key it must name ("" when the problem is the file itself)
    phrase: str  # words that describe the problem
    sets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    ref: str = ""
    secret: str = ""  # must not appear anywhere in the error


CASES = [
    # --- the shape of the schema -------------------------------------------------------------
    Bad("unknown top-level key", {"p.yaml": OK + "clustr_name: x\n"}, "p.yaml", "clustr_name",
        "unknown key"),
    Bad("unknown nested key suggests the near one", {"p.yaml": OK + "  provder: kind\n"},
        "p.yaml", "cluster.provder", "did you mean 'provider'?"),
    Bad("unknown key lists the valid ones", {"p.yaml": OK + "waves: {deadline: 5}\n"},
        "p.yaml", "waves.deadline", "expected one of: deadline_seconds, per_wave_seconds"),
    Bad("string where an integer goes", {"p.yaml": OK + "  local: {api_port: abc}\n"},
        "p.yaml", "cluster.local.api_port", "expected an integer (got 'abc')"),
    Bad("negative port", {"p.yaml": OK + "  local: {api_port: -1}\n"},
        "p.yaml", "cluster.local.api_port", "expected a number >= 1 (got -1)"),
    Bad("port above 65535", {"p.yaml": OK + "  k3d: {api_port: 70000}\n"},
        "p.yaml", "cluster.k3d.api_port", "expected a number <= 65535"),
    Bad("mapping where a section goes", {"p.yaml": "cluster: local\n"},
        "p.yaml", "cluster", "expected a mapping of keys (got 'local')"),
    Bad("boolean that is not one", {"p.yaml": OK + "  attach: sometimes\n"},
        "p.yaml", "cluster.attach", "expected true or false"),
    Bad("invalid provider", {"p.yaml": OK.replace("local", "minikube")},
        "p.yaml", "cluster.provider", "expected one of 'local', 'kind', 'k3d'"),
    Bad("invalid argocd mode", {"p.yaml": OK + "components: {argocd: {mode: helm}}\n"},
        "p.yaml", "components.argocd.mode", "expected one of 'manifests' or 'processes'"),
    Bad("missing cluster", {"p.yaml": "concurrency: 2\n"},
        "p.yaml", "cluster", "required key is missing"),
    Bad("missing cluster name names the loaded file, not the base",
        {"p.yaml": "extends: base\n", "base.yaml": "cluster: {provider: local}\n"},
        "p.yaml", "cluster.name", "required key is missing"),
    Bad("uppercase cluster name", {"p.yaml": OK.replace("name: ok", "name: MyCluster")},
        "p.yaml", "cluster.name", "expected a lowercase name"),
    Bad("file stem that is no valid profile name", {"My_Profile.yaml": OK},
        "My_Profile.yaml", "name", "expected a lowercase name"),
    Bad("version without the v", {"p.yaml": OK + "components: {argocd: {version: 3.2.12}}\n"},
        "p.yaml", "components.argocd.version", "expected a version like v1.2.3"),
    Bad("bad sha256",
        {"p.yaml": OK + "components:\n  metallb:\n    source:\n"
         "      url: https://example.com/m.yaml\n      sha256: ABC123\n"},
        "p.yaml", "components.metallb.source.sha256", "expected a sha256"),
    Bad("plain http manifest url",
        {"p.yaml": OK + "components:\n  metallb:\n    source:\n"
         f"      url: http://e.com/m.yaml\n      sha256: {SHA}\n"},
        "p.yaml", "components.metallb.source.url", "must start with https://"),
    Bad("address pool that is no CIDR",
        {"p.yaml": OK + "components: {metallb: {address_pool: 10.0.0.0/33}}\n"},
        "p.yaml", "components.metallb.address_pool", "expected a CIDR"),
    Bad("address range that ends before it starts",
        {"p.yaml": OK + "components: {metallb: {address_pool: 10.0.0.9-10.0.0.1}}\n"},
        "p.yaml", "components.metallb.address_pool", "ends before it starts"),
    Bad("lb_range garbage", {"p.yaml": OK + "  lb_range: lots-of-ips\n"},
        "p.yaml", "cluster.lb_range", "expected a CIDR"),
    Bad("k3s-ssh provider without its section", {"p.yaml": OK.replace("local", "k3s-ssh")},
        "p.yaml", "cluster", "needs a `cluster.k3s_ssh` section"),
    Bad("eks provider without a region",
        {"p.yaml": OK.replace("local", "eks") + "  eks: {nodes: 2}\n"},
        "p.yaml", "cluster.eks.region", "required key is missing"),
    *[
        Bad(f"eks {key} {value!r}",
            {"p.yaml": OK.replace("local", "eks") + "  eks: "
             + json.dumps({"region": "eu-west-1", key: value}) + "\n"},
            "p.yaml", f"cluster.eks.{key}", phrase)
        for key, value, phrase in [
            ("region", "eu west 1", "expected an AWS region like eu-west-1"),
            ("region", "Frankfurt", "expected an AWS region"),
            ("kubernetes_version", "latest", "expected an EKS Kubernetes version like 1.33"),
            ("kubernetes_version", "v1.33.0", "expected an EKS Kubernetes version"),
            ("node_type", "m6i large", "expected an EC2 instance type like m6i.large"),
            ("aws_profile", "--debug", "expected a CLI profile name"),
            ("aws_profile", "prod; rm -rf /", "expected a CLI profile name"),
        ]
    ],
    *[
        Bad(f"k3s-oci {key} {value!r}",
            {"p.yaml": OK.replace("local", "k3s-oci") + "  k3s_oci: "
             + json.dumps({**OCI, key: value}) + "\n"},
            "p.yaml", f"cluster.k3s_oci.{key}", phrase)
        for key, value, phrase in [
            ("compartment_id", "my-compartment", "expected an OCID"),
            ("subnet_id", "ocid1.subnet.oc1..x y", "expected an OCID"),
            ("image_id", "--image", "expected an OCID"),
            ("shape", "big one", "expected an OCI shape like VM.Standard.A1.Flex"),
            ("availability_domain", "AD 1", "expected an availability domain"),
            ("oci_profile", "--profile", "expected a CLI profile name"),
        ]
    ],
    *[
        Bad(f"k3s tls_san {value!r}",
            {"p.yaml": OK.replace("local", "k3s-ssh")
             + f"  k3s_ssh: {{ssh: {{host: h.example}}, tls_san: [{value}]}}\n"},
            "p.yaml", "cluster.k3s_ssh.tls_san[0]", "expected a host name (or *.domain)")
        for value in ['"a b"', '"h;reboot"', '"line\\nbreak"', '"--flag"']
    ],
    Bad("wave deadline of zero", {"p.yaml": OK + "waves: {deadline_seconds: 0}\n"},
        "p.yaml", "waves.deadline_seconds", "expected a number >= 1"),
    Bad("concurrency of 100", {"p.yaml": OK + "concurrency: 100\n"},
        "p.yaml", "concurrency", "expected a number <= 16 (got 100)"),
    Bad("wave number that is no integer",
        {"p.yaml": OK + "waves: {per_wave_seconds: {first: 60}}\n"},
        "p.yaml", "waves.per_wave_seconds.first", "the key: expected an integer"),
    Bad("the loader's own key written in a profile", {"p.yaml": OK + "source: elsewhere\n"},
        "p.yaml", "source", "set by the loader"),
    # --- which file is blamed ----------------------------------------------------------------
    Bad("bad value in a base is blamed on the base",
        {"p.yaml": "extends: base\n",
         "base.yaml": OK + "components: {metallb: {version: latest}}\n"},
        "base.yaml", "components.metallb.version", "expected a version"),
    Bad("bad override in the child is blamed on the child",
        {"p.yaml": "extends: base\nconcurrency: 100\n", "base.yaml": OK + "concurrency: 4\n"},
        "p.yaml", "concurrency", "expected a number <= 16"),
    # --- the file itself ---------------------------------------------------------------------
    Bad("missing profile file", {}, "nope.yaml", "", "no such profile file", ref="nope.yaml"),
    Bad("missing profile by name lists the ones there", {"dev.yaml": OK},
        "nope.yaml", "", "profiles in", ref="nope"),
    Bad("YAML syntax error gives the line",
        {"p.yaml": "cluster:\n  provider: local\n name: x\n"},
        "p.yaml", "", "invalid YAML at line 3, column 2"),
    Bad("a key written twice", {"p.yaml": OK + "  provider: kind\n"},
        "p.yaml", "", "key 'provider' is written twice"),
    Bad("top-level list", {"p.yaml": "- cluster\n- name\n"},
        "p.yaml", "", "the top level must be a mapping of keys, not a list"),
    Bad("top-level scalar", {"p.yaml": "just words\n"},
        "p.yaml", "", "not a str"),
    # --- extends -----------------------------------------------------------------------------
    Bad("extends a file that does not exist", {"p.yaml": "extends: ghost\n" + OK},
        "p.yaml", "extends", "profile 'ghost' does not exist"),
    Bad("extends itself", {"p.yaml": "extends: p\n" + OK}, "p.yaml", "extends", "cycle"),
    Bad("extends cycle a to b to a",
        {"a.yaml": "extends: b.yaml\n" + OK, "b.yaml": "extends: a\n"},
        "b.yaml", "extends", "a.yaml -> ", ref="a.yaml"),
    Bad("extends that is not a name", {"p.yaml": "extends: {file: b}\n" + OK},
        "p.yaml", "extends", "expected a profile name or path"),
    # --- ${VAR} ------------------------------------------------------------------------------
    Bad("undefined environment variable",
        {"p.yaml": "cluster: {provider: local, name: '${CLUSTER_NAME}'}\n"},
        "p.yaml", "cluster.name", "environment variable CLUSTER_NAME is not set"),
    Bad("undefined variable in a base is blamed on the base",
        {"p.yaml": "extends: base\n", "base.yaml": OK + "state_dir: ${STATE_HOME}/x\n"},
        "base.yaml", "state_dir", "STATE_HOME is not set"),
    Bad("malformed variable reference", {"p.yaml": OK + "state_dir: ${HOME\n"},
        "p.yaml", "state_dir", "malformed variable reference"),
    # --- secrets -----------------------------------------------------------------------------
    Bad("secret written inline",
        {"p.yaml": OK + ROOT_APP + "    password: hunter2-inline-secret\n"},
        "p.yaml", "root_app.credentials.password", "secret written inline",
        secret="hunter2-inline-secret"),
    Bad("secret inline beside a reference",
        {"p.yaml": OK + ROOT_APP + "    password: {env: T, value: s3cr3t-beside-ref}\n"},
        "p.yaml", "root_app.credentials.password", "secret written inline",
        secret="s3cr3t-beside-ref"),
    Bad("secret inline as a number", {"p.yaml": OK + ROOT_APP + "    password: 918273645\n"},
        "p.yaml", "root_app.credentials.password", "secret written inline", secret="918273645"),
    Bad("secret with a default is still inline",
        {"p.yaml": OK + ROOT_APP + "    password: ${TOKEN:-fallback-secret}\n"},
        "p.yaml", "root_app.credentials.password", "secret written inline",
        secret="fallback-secret"),
    Bad("secret-looking key that is no field",
        {"p.yaml": OK + "root_app: {repo_url: https://e.com/r, token: ghp_notechoed99}\n"},
        "p.yaml", "root_app.token", "unknown key", secret="ghp_notechoed99"),
    Bad("a password in the repository URL",
        {"p.yaml": OK + "root_app: {repo_url: 'https://deploy:pw-in-url-5150@e.com/r.git'}\n"},
        "p.yaml", "root_app.repo_url", "holds a password", secret="pw-in-url-5150"),
    Bad("a password in the repository URL from the environment",
        {"p.yaml": OK + "root_app: {repo_url: 'https://deploy:${GIT_PW}@e.com/r.git'}\n"},
        "p.yaml", "root_app.repo_url", "root_app.credentials.password",
        env={"GIT_PW": "env-pw-in-url-6160"}, secret="env-pw-in-url-6160"),
    Bad("a token in the repository URL's query string",
        {"p.yaml": OK + "root_app: {repo_url: 'https://e.com/r.git?private_token=glpat-q8x7'}\n"},
        "p.yaml", "root_app.repo_url", "holds a credential in its query string (?private_token",
        secret="glpat-q8x7"),
    Bad("a signature in the repository URL's query string, percent-encoded name",
        {"p.yaml": OK + "root_app: {repo_url: 'https://e.com/r.git?ref=x&X-Amz-Si%67nature=ab12f'}\n"},
        "p.yaml", "root_app.repo_url", "holds a credential in its query string",
        secret="ab12f"),
    Bad("--set null removing a required section is blamed on --set", {"p.yaml": OK},
        "--set", "cluster", "required key is missing", sets=("cluster=null",)),
    Bad("--set null removing a required key is blamed on --set", {"p.yaml": OK},
        "--set", "cluster.name", "required key is missing", sets=("cluster.name=null",)),
    Bad("a password in the repository URL by --set", {"p.yaml": OK},
        "--set", "root_app.repo_url", "holds a password",
        sets=("root_app.repo_url=ssh://git:pw-by-set-7170@e.com/r.git",), secret="pw-by-set-7170"),
    Bad("a secret too short to mask",
        {"p.yaml": OK + ROOT_APP + "    password: {env: SHORT_TOKEN}\n"},
        "p.yaml", "root_app.credentials.password",
        "the secret from env SHORT_TOKEN is 3 characters; clusterboot needs at least 8",
        env={"SHORT_TOKEN": "q7z"}, secret="q7z"),
    Bad("a secret file too short to mask",
        {"p.yaml": OK + ROOT_APP + "    password: {file: token.txt}\n", "token.txt": "w9x4k\n"},
        "p.yaml", "root_app.credentials.password", "is 5 characters", modes={"token.txt": 0o600},
        secret="w9x4k"),
    Bad("secret env var undefined",
        {"p.yaml": OK + ROOT_APP + "    password: ${GITOPS_TOKEN}\n"},
        "p.yaml", "root_app.credentials.password", "environment variable GITOPS_TOKEN is not set"),
    Bad("secret env var empty", {"p.yaml": OK + ROOT_APP + "    password: {env: GITOPS_TOKEN}\n"},
        "p.yaml", "root_app.credentials.password", "GITOPS_TOKEN is empty",
        env={"GITOPS_TOKEN": ""}),
    Bad("secret reference with both env and file",
        {"p.yaml": OK + ROOT_APP + "    password: {env: A, file: b}\n"},
        "p.yaml", "root_app.credentials.password", "exactly one of `env` or `file`"),
    Bad("secret file missing",
        {"p.yaml": OK + ROOT_APP + "    password: {file: token.txt}\n"},
        "p.yaml", "root_app.credentials.password", "token.txt does not exist"),
    Bad("secret file world-readable",
        {"p.yaml": OK + ROOT_APP + "    password: {file: token.txt}\n",
         "token.txt": "world-readable-secret\n"},
        "p.yaml", "root_app.credentials.password", "chmod 600",
        modes={"token.txt": 0o644}, secret="world-readable-secret"),
    Bad("secret file empty",
        {"p.yaml": OK + ROOT_APP + "    password: {file: token.txt}\n", "token.txt": "\n"},
        "p.yaml", "root_app.credentials.password", "token.txt is empty",
        modes={"token.txt": 0o600}),
    # --- --set -------------------------------------------------------------------------------
    Bad("set of an unknown path lists the keys at that level", {"p.yaml": OK},
        "--set", "cluster.nodes", "keys under cluster: provider, name", sets=("cluster.nodes=3",)),
    Bad("set of an unknown top-level key", {"p.yaml": OK},
        "--set", "extends", "keys under the top level: name, cluster", sets=("extends=x",)),
    Bad("set below a single value", {"p.yaml": OK},
        "--set", "cluster.name.first", "cluster.name is a single value",
        sets=("cluster.name.first=x",)),
    Bad("set without an equals sign", {"p.yaml": OK},
        "--set", "cluster.name", "expected key.path=value", sets=("cluster.name",)),
    Bad("set with an empty path", {"p.yaml": OK}, "--set", "", "expected key.path=value",
        sets=("=3",)),
    Bad("set with an empty path segment", {"p.yaml": OK},
        "--set", "cluster..name", "expected key.path=value", sets=("cluster..name=x",)),
    Bad("set of the wrong type", {"p.yaml": OK},
        "--set", "concurrency", "expected an integer (got 'lots')", sets=("concurrency=lots",)),
    Bad("set that makes a section but not its required keys", {"p.yaml": OK},
        "--set", "cluster.k3s_ssh.ssh", "required key is missing",
        sets=("cluster.k3s_ssh.extra_args=[--x]",)),
    Bad("set of an inline secret", {"p.yaml": OK + "root_app: {repo_url: https://e.com/r}\n"},
        "--set", "root_app.credentials.password", "secret written inline",
        sets=("root_app.credentials.password=typed-on-cli-secret",),
        secret="typed-on-cli-secret"),
]


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_profile_is_refused_naming_the_file_the_key_and_the_problem(
    case: Bad, tmp_path: Path
) -> None:
    for name, text in case.files.items():
        path = tmp_path / name
        path.write_text(dedent(text))
        path.chmod(case.modes.get(name, 0o644))
    ref = case.ref or next(iter(case.files))
    with pytest.raises(ProfileError) as caught:
        loader.load(
            str(tmp_path / ref) if ref.endswith(".yaml") else ref,  # a path, or a name
            overrides=case.sets,
            env=case.env,
            profiles_dir=tmp_path,
        )
    err, text = caught.value, str(caught.value)
    assert err.exit_code == 2
    if case.file == "--set":
        assert err.file == "--set"
    else:
        assert Path(err.file).name == case.file
    assert text.startswith(f"{err.file}: ")
    assert err.key == case.key
    if case.key:
        assert f": {case.key}: " in text.splitlines()[0]
    assert case.phrase in text
    if case.secret:
        assert case.secret not in text
        assert case.secret not in repr(err.args)


def test_the_corpus_has_no_two_cases_alike() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(tuple(c.files.items()), c.sets, c.ref) for c in CASES}) == len(CASES)
