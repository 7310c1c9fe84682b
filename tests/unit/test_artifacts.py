"""Pinned artifacts: checksums verified, a cache that spares the network, the offline bundle
directory that never touches it, and honest refusals (no verified default)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap import artifacts
from bootstrap.artifacts import helm
from bootstrap.errors import InputError, TemporaryError
from bootstrap.profile.schema import Profile

BODY = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: metallb-system\n"
SUM = hashlib.sha256(BODY).hexdigest()
URL = "https://example.invalid/metallb-native.yaml"


def artifact(url: str = URL, sha256: str = SUM) -> artifacts.Artifact:
    return artifacts.Artifact("metallb", "v0.15.2", url, sha256)


def profile(**components: Any) -> Profile:
    off = {name: {"enabled": False} for name in artifacts.COMPONENTS}
    return Profile.model_validate(
        {
            "name": "p",
            "cluster": {"provider": "local", "name": "c"},
            "components": {**off, **components},
        }
    )


class Counting:
    """A transport that answers from a table and counts every request."""

    def __init__(self, answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        return self.answers[min(len(self.requests), len(self.answers)) - 1]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def store(tmp_path: Path, counting: Counting, **kw: Any) -> artifacts.Store:
    return artifacts.Store(cache_dir=tmp_path / "cache", transport=counting.transport(), **kw)


def test_a_download_is_verified_and_kept_under_its_sha256(tmp_path: Path) -> None:
    counting = Counting([httpx.Response(200, content=BODY)])
    path = store(tmp_path, counting).path(artifact())
    assert path == tmp_path / "cache" / "sha256" / SUM
    assert path.read_bytes() == BODY
    assert counting.requests == [URL]


def test_a_cache_hit_makes_no_request(tmp_path: Path) -> None:
    counting = Counting([httpx.Response(200, content=BODY)])
    store(tmp_path, counting).path(artifact())
    again = store(tmp_path, counting).path(artifact())
    assert again.read_bytes() == BODY
    assert len(counting.requests) == 1


def test_a_checksum_mismatch_names_url_expected_and_actual_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    tampered = BODY + b"# one more line\n"
    counting = Counting([httpx.Response(200, content=tampered)])
    with pytest.raises(artifacts.ChecksumMismatch) as caught:
        store(tmp_path, counting).path(artifact())
    message = str(caught.value)
    assert URL in message
    assert f"expected sha256 {SUM}" in message
    assert f"got {hashlib.sha256(tampered).hexdigest()}" in message
    assert list((tmp_path / "cache" / "sha256").iterdir()) == []
    assert len(counting.requests) == 1  # a mismatch is not retried


def test_a_damaged_cache_entry_is_fetched_again(tmp_path: Path) -> None:
    cached = tmp_path / "cache" / "sha256" / SUM
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    counting = Counting([httpx.Response(200, content=BODY)])
    assert store(tmp_path, counting).path(artifact()).read_bytes() == BODY
    assert len(counting.requests) == 1


def test_a_server_error_is_retried_and_a_missing_file_is_not(tmp_path: Path) -> None:
    pauses: list[float] = []
    flaky = Counting([httpx.Response(503), httpx.Response(200, content=BODY)])
    assert store(tmp_path, flaky, sleep=pauses.append).path(artifact()).read_bytes() == BODY
    assert len(flaky.requests) == 2
    assert len(pauses) == 1

    gone = Counting([httpx.Response(404)])
    with pytest.raises(InputError, match="404"):
        store(tmp_path / "other", gone, sleep=pauses.append).path(artifact())
    assert len(gone.requests) == 1


def test_an_unreachable_host_gives_up_with_a_temporary_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    pauses: list[float] = []
    plain = artifacts.Store(
        cache_dir=tmp_path, transport=httpx.MockTransport(refuse), sleep=pauses.append
    )
    with pytest.raises(TemporaryError, match="connection refused") as raised:
        plain.path(artifact())
    assert len(pauses) == artifacts.DOWNLOAD.attempts - 1
    assert raised.value.message.startswith("this machine cannot reach ")
    assert "invoke bundle" in raised.value.hint
    assert "artifacts.dir" in raised.value.hint


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that redirects /old to /new and logs every path."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path == "/old":
                self.send_response(302)
                self.send_header("Location", "/new")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_downloads_follow_redirects_over_real_http(
    tmp_path: Path, http_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = http_server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    got = artifacts.Store(cache_dir=tmp_path).path(artifact(url=f"{base}/old"))
    assert got.read_bytes() == BODY
    assert seen == ["/old", "/new"]


def test_a_file_url_is_verified_like_a_download(tmp_path: Path) -> None:
    source = tmp_path / "native.yaml"
    source.write_bytes(BODY)
    plain = artifacts.Store(cache_dir=tmp_path / "cache")
    assert plain.path(artifact(url=source.as_uri())).read_bytes() == BODY
    with pytest.raises(artifacts.ChecksumMismatch, match=source.as_uri()):
        plain.path(artifact(url=source.as_uri(), sha256="0" * 64))


def fail_on_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the offline store touched the network: {request.url}")


def test_an_offline_directory_never_touches_the_network(tmp_path: Path) -> None:
    offline = tmp_path / "bundle"
    offline.mkdir()
    (offline / "anything.yaml").write_bytes(BODY)
    (offline / artifacts.INDEX).write_text(
        json.dumps({"artifacts": [{"sha256": SUM, "file": "anything.yaml"}]})
    )
    cut_off = artifacts.Store(
        cache_dir=tmp_path / "cache",
        offline_dir=offline,
        transport=httpx.MockTransport(fail_on_request),
    )
    assert cut_off.path(artifact()).read_bytes() == BODY
    assert not (tmp_path / "cache").exists()


def test_an_offline_directory_also_finds_a_file_named_by_its_sha256(tmp_path: Path) -> None:
    (tmp_path / SUM).write_bytes(BODY)
    cut_off = artifacts.Store(
        cache_dir=tmp_path / "cache",
        offline_dir=tmp_path,
        transport=httpx.MockTransport(fail_on_request),
    )
    assert cut_off.path(artifact()) == tmp_path / SUM


def test_a_missing_offline_file_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    cut_off = artifacts.Store(
        cache_dir=tmp_path / "cache",
        offline_dir=tmp_path,
        transport=httpx.MockTransport(fail_on_request),
    )
    with pytest.raises(InputError) as caught:
        cut_off.path(artifact())
    assert str(tmp_path / SUM) in str(caught.value)
    assert "invoke bundle" in caught.value.hint


def test_a_changed_offline_file_is_a_checksum_mismatch(tmp_path: Path) -> None:
    (tmp_path / SUM).write_bytes(BODY + b"#")
    cut_off = artifacts.Store(cache_dir=tmp_path / "cache", offline_dir=tmp_path)
    with pytest.raises(artifacts.ChecksumMismatch, match="expected sha256"):
        cut_off.path(artifact())


def test_bundle_writes_every_enabled_artifact_and_an_index_an_offline_store_reads(
    tmp_path: Path,
) -> None:
    argo = b"kind: List\n"
    sources = {
        "metallb": {
            "enabled": True,
            "source": {"url": "https://h.invalid/native.yaml", "sha256": SUM},
        },
        "argocd": {
            "enabled": True,
            "source": {
                "url": "https://h.invalid/install.yaml",
                "sha256": hashlib.sha256(argo).hexdigest(),
            },
        },
    }
    counting = Counting([httpx.Response(200, content=BODY), httpx.Response(200, content=argo)])
    out = tmp_path / "bundle"
    entries = artifacts.bundle(profile(**sources), out, store=store(tmp_path, counting))
    index = json.loads((out / artifacts.INDEX).read_text())
    assert [e["component"] for e in index["artifacts"]] == ["metallb", "argocd"]
    assert index["artifacts"][0] == {
        "component": "metallb",
        "version": "v0.15.2",
        "url": "https://h.invalid/native.yaml",
        "sha256": SUM,
        "file": "metallb-v0.15.2-native.yaml",
        "identity": "https://h.invalid/native.yaml",
    }
    assert [e.file for e in entries] == [
        "metallb-v0.15.2-native.yaml",
        "argocd-v3.2.11-install.yaml",
    ]
    offline = artifacts.Store(
        cache_dir=tmp_path / "c2", offline_dir=out, transport=httpx.MockTransport(fail_on_request)
    )
    for entry in entries:
        found = offline.path(
            artifacts.Artifact(entry.component, entry.version, entry.url, entry.sha256)
        )
        assert found == out / entry.file


def test_a_disabled_component_is_not_bundled(tmp_path: Path) -> None:
    counting = Counting([httpx.Response(200, content=BODY)])
    entries = artifacts.bundle(profile(), tmp_path / "b", store=store(tmp_path, counting))
    assert entries == []
    assert counting.requests == []
    assert artifacts.not_bundled(profile()) == [
        (name, f"components.{name}.enabled is false") for name in artifacts.COMPONENTS
    ]


def test_a_component_run_as_a_local_process_is_not_bundled_and_says_why() -> None:
    local = profile(argocd={"mode": "processes"}, metallb={"version": "v0.15.2"})
    assert [a.component for a in artifacts.needed(local)] == ["metallb"]
    assert ("argocd", "mode: processes, built locally from its Go module") in (
        artifacts.not_bundled(local)
    )


@pytest.mark.parametrize(
    ("component", "version", "expected"),
    [
        ("metallb", "v0.15.2", "metallb/metallb/v0.15.2/config/manifests/metallb-native.yaml"),
        ("metallb", "v0.15.3", "metallb/metallb/v0.15.3/config/manifests/metallb-native.yaml"),
        ("argocd", "v3.2.11", "argoproj/argo-cd/v3.2.11/manifests/install.yaml"),
        ("argocd", "v3.2.12", "argoproj/argo-cd/v3.2.12/manifests/install.yaml"),
    ],
)
def test_pinned_versions_have_default_sources_at_their_tag(
    component: str, version: str, expected: str
) -> None:
    found = artifacts.artifact_for(profile(**{component: {"version": version}}), component)
    assert found.url.endswith(expected)
    assert len(found.sha256) == 64


def test_a_version_without_a_verified_default_asks_the_profile_for_a_source() -> None:
    with pytest.raises(InputError) as caught:
        artifacts.artifact_for(profile(sealed_secrets={"version": "v0.36.5"}), "sealed_secrets")
    assert "components.sealed_secrets.source is needed" in caught.value.message
    assert "sha256" in caught.value.hint
    assert "components.sealed_secrets.chart" in caught.value.hint


def test_sealed_secrets_defaults_to_its_official_chart_with_the_controller_image_pinned() -> None:
    found = artifacts.artifact_for(profile(sealed_secrets={"version": "v0.36.6"}), "sealed_secrets")
    assert found.chart is not None
    assert found.url == "https://bitnami-labs.github.io/sealed-secrets/index.yaml"
    assert (found.chart.chart, found.chart.version) == ("sealed-secrets", "2.18.4")
    assert found.sha256 == ""  # the index's digest, checked and recorded on first use
    values = helm.values_for("sealed_secrets", found.chart)
    assert values["image"] == {"tag": "0.36.6"}
    assert values["fullnameOverride"] == "sealed-secrets-controller"


def test_a_profile_manifest_source_wins_over_the_default_chart() -> None:
    own = {"url": "file:///srv/mirror/controller.yaml", "sha256": SUM}
    found = artifacts.artifact_for(
        profile(sealed_secrets={"version": "v0.36.6", "source": own}), "sealed_secrets"
    )
    assert (found.chart, found.url) == (None, own["url"])


def test_the_profile_source_wins_over_the_default() -> None:
    own = {"url": "file:///srv/mirror/native.yaml", "sha256": SUM}
    found = artifacts.artifact_for(profile(metallb={"source": own}), "metallb")
    assert (found.url, found.sha256) == (own["url"], SUM)


def test_a_component_takes_a_manifest_or_a_chart_not_both() -> None:
    chart = {"repository": "https://r.invalid", "chart": "metallb", "version": "0.15.2"}
    with pytest.raises(ValueError, match="not both"):
        profile(metallb={"chart": chart, "source": {"url": URL, "sha256": SUM}})


def test_a_redirect_loop_is_an_input_error_naming_the_url(tmp_path: Path) -> None:
    loop = Counting([httpx.Response(302, headers={"location": URL})])
    with pytest.raises(InputError, match="TooManyRedirects") as caught:
        store(tmp_path, loop).path(artifact())
    assert URL in caught.value.message


def test_an_air_gapped_k3s_profile_bundles_the_install_script_binary_and_images(
    tmp_path: Path,
) -> None:
    files = {name: tmp_path / name for name in ("install.sh", "k3s", "images.tar")}
    for name, path in files.items():
        path.write_bytes(f"the {name} of k3s\n".encode())

    def pin(name: str) -> dict[str, str]:
        digest = hashlib.sha256(files[name].read_bytes()).hexdigest()
        return {"url": f"file://{files[name]}", "sha256": digest}

    off = {name: {"enabled": False} for name in artifacts.COMPONENTS}
    prodesk = Profile.model_validate(
        {
            "name": "prodesk",
            "cluster": {
                "provider": "k3s-ssh",
                "name": "c",
                "k3s_ssh": {
                    "ssh": {"host": "192.0.2.10"},
                    "install_script": pin("install.sh"),
                    "airgap": {"binary": pin("k3s"), "images": pin("images.tar")},
                },
            },
            "components": off,
        }
    )
    out = tmp_path / "bundle"
    counting = Counting([])
    entries = artifacts.bundle(prodesk, out, store=store(tmp_path, counting))
    assert [e.component for e in entries] == ["k3s-install-script", "k3s-binary", "k3s-images"]
    assert {e.version for e in entries} == {"v1.33.5+k3s1"}
    offline = artifacts.Store(cache_dir=tmp_path / "empty", offline_dir=out)
    for part, name in zip(("k3s-install-script", "k3s-binary", "k3s-images"), files, strict=True):
        wanted = artifacts.k3s_artifact(part, "v1.33.5+k3s1", prodesk_source(prodesk, part))
        assert offline.path(wanted).read_bytes() == files[name].read_bytes()


def prodesk_source(prodesk: Profile, part: str) -> Any:
    settings = prodesk.cluster.k3s_ssh
    assert settings is not None
    assert settings.airgap is not None
    return {
        "k3s-install-script": settings.install_script,
        "k3s-binary": settings.airgap.binary,
        "k3s-images": settings.airgap.images,
    }[part]


def test_a_parsed_manifest_is_kept_by_its_content_and_read_back_without_parsing_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bootstrap.artifacts import install

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    install._parsed.cache_clear()
    assert [d["metadata"]["name"] for d in install.manifest_file(manifest)] == ["a"]
    [cached] = list(install.parsed_cache_dir().glob("*.json"))
    assert cached.name == f"{hashlib.sha256(manifest.read_bytes()).hexdigest()}.json"
    # What is read back is the cache, not a new parse: change it and see it come back.
    cached.write_text('[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}]')
    install._parsed.cache_clear()
    assert [d["metadata"]["name"] for d in install.manifest_file(manifest)] == ["b"]
    # Another content is another entry.
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    install._parsed.cache_clear()
    assert [d["metadata"]["name"] for d in install.manifest_file(manifest)] == ["c"]
    install._parsed.cache_clear()
