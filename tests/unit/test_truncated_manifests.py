"""A platform manifest cut short: downloaded from a pinned URL that sends fewer bytes (a real
HTTP server on 127.0.0.1), left in the download cache, copied into an air-gapped bundle, pinned
as it was, or a local build (no checksum) ending mid-YAML. Each is refused with the artifact,
where it came from, what was expected and what to do; nothing cut short is kept or trusted on
the next run, and nothing is applied: the refusal comes before any stage runs (exit 2)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from bootstrap import artifacts
from bootstrap.artifacts import install
from bootstrap.commands import app
from bootstrap.controlplane import binaries
from bootstrap.errors import InputError, TemporaryError
from bootstrap.profile.schema import LocalCluster as LocalClusterConfig

REPO = Path(__file__).resolve().parents[2]
BODY = b"".join(
    b"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: part-%d\n"
    b'  namespace: metallb-system\ndata:\n  note: "%s"\n' % (i, b"x" * 200)
    for i in range(40)
)
SUM = hashlib.sha256(BODY).hexdigest()
HALF = len(BODY) // 2
BINARIES = binaries.cache_dir(LocalClusterConfig())
needs_binaries = pytest.mark.skipif(
    not (BINARIES / "metallb-v0.15.2").is_dir(), reason=f"no local build in {BINARIES}"
)


def artifact(url: str) -> artifacts.Artifact:
    return artifacts.Artifact("metallb", "v0.15.2", url, SUM)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """On 127.0.0.1: /cut sends a Content-Length for the whole file, half of it, and closes;
    /short is a whole response of half the file (a mirror holding a file cut short);
    /flaky is /cut once, then the whole file; /whole is the whole file."""
    seen: list[str] = []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            cut = self.path == "/cut" or (self.path == "/flaky" and seen.count("/flaky") == 1)
            body = BODY[:HALF] if self.path == "/short" else BODY
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:HALF] if cut else body)
            self.close_connection = True

        def log_message(self, *_args: Any) -> None:
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}", seen
    http.shutdown()
    http.server_close()


def kept(cache: Path) -> list[str]:
    """Every file the cache holds (partial downloads included)."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_a_download_cut_mid_file_is_retried_and_only_the_whole_file_is_kept(
    tmp_path: Path, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    pauses: list[float] = []
    store = artifacts.Store(cache_dir=tmp_path / "cache", sleep=pauses.append)
    got = store.path(artifact(f"{base}/flaky"))
    assert got.read_bytes() == BODY
    assert seen == ["/flaky", "/flaky"]
    assert len(pauses) == 1
    assert kept(tmp_path / "cache") == [SUM]


def test_a_download_always_cut_short_gives_up_naming_the_url_and_keeps_nothing(
    tmp_path: Path, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    pauses: list[float] = []
    store = artifacts.Store(cache_dir=tmp_path / "cache", sleep=pauses.append)
    with pytest.raises(TemporaryError) as caught:
        store.path(artifact(f"{base}/cut"))
    assert f"GET {base}/cut" in caught.value.message
    assert f"received {HALF} bytes, expected {len(BODY)}" in caught.value.message
    assert len(seen) == artifacts.DOWNLOAD.attempts
    assert kept(tmp_path / "cache") == []


def test_a_whole_response_of_a_file_cut_short_is_a_mismatch_naming_it_all(
    tmp_path: Path, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    store = artifacts.Store(cache_dir=tmp_path / "cache", sleep=lambda _s: None)
    with pytest.raises(artifacts.ChecksumMismatch) as caught:
        store.path(artifact(f"{base}/short"))
    short = hashlib.sha256(BODY[:HALF]).hexdigest()
    assert caught.value.message == (
        f"checksum mismatch for metallb v0.15.2 from {base}/short: expected sha256 {SUM}, "
        f"got {short} ({HALF:,} bytes)"
    )
    assert "nothing was kept or applied" in caught.value.hint
    assert "components.metallb.source.sha256" in caught.value.hint
    assert seen == ["/short"]  # not retried: the same bytes would come again
    assert kept(tmp_path / "cache") == []


def test_a_cached_file_cut_short_is_never_trusted_and_is_fetched_again(
    tmp_path: Path, server: tuple[str, list[str]]
) -> None:
    base, seen = server
    cached = tmp_path / "cache" / "sha256" / SUM
    cached.parent.mkdir(parents=True)
    cached.write_bytes(BODY[:HALF])
    store = artifacts.Store(cache_dir=tmp_path / "cache")
    with structlog.testing.capture_logs() as logs:
        assert store.path(artifact(f"{base}/whole")).read_bytes() == BODY
    assert seen == ["/whole"]
    [damaged] = [e for e in logs if e["event"] == "artifact.cache_damaged"]
    assert damaged["file"] == str(cached)
    assert damaged["bytes"] == HALF


# -- through `up` and `bundle`: refused before any stage runs ------------------------------
def run(command: str, tmp_path: Path, body: dict[str, object], **kwargs: Any) -> tuple[int, str]:
    profile = tmp_path / "p.yaml"
    base = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "state_dir": str(tmp_path / "state"),
        "artifacts": {"cache_dir": str(tmp_path / "cache")},
        "root_app": None,
    }
    profile.write_text(yaml.safe_dump({**base, **body}))
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
    code = getattr(app, command)(inv, **kwargs)
    return code, out.getvalue() + err.getvalue()


def metallb(url: str, sha256: str = SUM, **extra: object) -> dict[str, object]:
    component = {"enabled": True, "mode": "manifests", "source": {"url": url, "sha256": sha256}}
    return {"components": {"metallb": {**component, **extra}}}


def refused_before_anything_ran(code: int, text: str, tmp_path: Path) -> None:
    assert code == 2, text
    assert "stage.start" not in text
    assert "Traceback" not in text
    assert not (tmp_path / "state").exists(), "a run refused with exit 2 makes no state directory"


def test_up_refuses_a_cut_cached_copy_when_the_source_is_cut_too_and_drops_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "metallb-native.yaml"
    source.write_bytes(BODY[: HALF + 7])
    cached = tmp_path / "cache" / "sha256" / SUM
    cached.parent.mkdir(parents=True)
    cached.write_bytes(BODY[:HALF])
    code, text = run("up", tmp_path, metallb(source.as_uri()))
    refused_before_anything_ran(code, text, tmp_path)
    assert f"checksum mismatch for metallb v0.15.2 from {source.as_uri()}: " in text
    assert f"expected sha256 {SUM}, got " in text
    assert f"({HALF + 7:,} bytes)" in text
    assert not cached.exists(), "the cut copy in the cache is not kept for the next run"
    assert kept(tmp_path / "cache") == []


def test_a_bundle_file_cut_short_is_refused_naming_the_file_with_the_way_to_bundle_again(
    tmp_path: Path,
) -> None:
    source = tmp_path / "metallb-native.yaml"
    source.write_bytes(BODY)
    bundle = tmp_path / "bundle"
    code, text = run("bundle", tmp_path, metallb(source.as_uri()), out_dir=bundle)
    assert code == 0, text
    index = json.loads((bundle / artifacts.INDEX).read_text())
    [entry] = index["artifacts"]
    copy = bundle / entry["file"]
    copy.write_bytes(copy.read_bytes()[:HALF])  # a copy to the air-gapped machine cut short
    source.unlink()  # no network there: only the bundle
    code, text = run(
        "up", tmp_path, {**metallb(source.as_uri()), "artifacts": {"dir": str(bundle)}}
    )
    refused_before_anything_ran(code, text, tmp_path)
    assert f"checksum mismatch for metallb v0.15.2 from {copy}: expected sha256 {SUM}" in text
    assert f"({HALF:,} bytes)" in text
    assert "hint: the bundle's copy is damaged" in text
    assert "invoke bundle --profile P --out DIR" in text


def test_bundle_refuses_a_source_cut_short_and_writes_no_index(tmp_path: Path) -> None:
    source = tmp_path / "metallb-native.yaml"
    source.write_bytes(BODY[:HALF])
    bundle = tmp_path / "bundle"
    code, text = run("bundle", tmp_path, metallb(source.as_uri()), out_dir=bundle)
    assert code == 2, text
    assert f"checksum mismatch for metallb v0.15.2 from {source.as_uri()}" in text
    assert not (bundle / artifacts.INDEX).exists()


CUTS = [
    # label, where the file ends, what the error says
    (
        "inside a quoted string",
        BODY.index(b'"x') + 50,
        "not valid YAML at line 8, column 59: found unexpected end of stream",
    ),
    ("inside a flow mapping", None, "not valid YAML at line 4, column 1: did not find"),
    (
        "after a key, mid-object",
        BODY.index(b"metadata:\n  name: part-5") + len(b"metadata:\n"),
        "manifest object 6 has no metadata.name",
    ),
]


def cut(label: str, at: int | None) -> bytes:
    if at is None:  # a document written in flow style, cut before it closes
        return b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a,\n"
    return BODY[:at]


@pytest.mark.parametrize(("label", "at", "phrase"), CUTS, ids=[c[0] for c in CUTS])
def test_a_pinned_file_that_does_not_parse_is_refused_naming_file_and_line_before_any_apply(
    tmp_path: Path, label: str, at: int | None, phrase: str
) -> None:
    """Its sha256 is the pinned one (the pin was taken of a file cut short): the checksum
    cannot tell, so the parse, in preflight, does."""
    data = cut(label, at)
    source = tmp_path / "metallb-native.yaml"
    source.write_bytes(data)
    install._parsed.cache_clear()
    code, text = run("up", tmp_path, metallb(source.as_uri(), hashlib.sha256(data).hexdigest()))
    refused_before_anything_ran(code, text, tmp_path)
    cached = tmp_path / "cache" / "sha256" / hashlib.sha256(data).hexdigest()
    assert f"metallb v0.15.2 manifest from {source.as_uri()}: {cached}: " in text
    assert phrase in text
    assert "hint: its sha256 is the pinned one, so the pin names a damaged file" in text


@needs_binaries
@pytest.mark.parametrize(("label", "at", "phrase"), CUTS, ids=[c[0] for c in CUTS])
def test_a_local_build_manifest_cut_mid_yaml_is_refused_naming_the_file_and_how_to_rebuild(
    tmp_path: Path, label: str, at: int | None, phrase: str
) -> None:
    """MetalLB as processes: its manifest is copied by `make binaries`, with no checksum."""
    bins = tmp_path / "bins"  # the real build, but for MetalLB's
    bins.mkdir()
    for built in BINARIES.iterdir():
        if built.name != "metallb-v0.15.2":
            (bins / built.name).symlink_to(built)
    build = bins / "metallb-v0.15.2"
    build.mkdir()
    (build / "controller").write_text("#!/bin/sh\nexit 1\n")
    (build / "controller").chmod(0o755)
    manifest = build / "metallb-native.yaml"
    manifest.write_bytes(cut(label, at))
    body = {
        "components": {"metallb": {"enabled": True, "mode": "processes"}},
        "cluster": {"local": {"binaries_dir": str(bins)}},
    }
    code, text = run("up", tmp_path, body, only=["metallb"])
    refused_before_anything_ran(code, text, tmp_path)
    assert f"✗ {manifest}: " in text
    assert phrase in text
    assert "hint: it is a local build with no pinned checksum" in text
    assert "delete it and run `make binaries`" in text


def test_a_whole_manifest_still_parses_and_every_error_names_its_file(tmp_path: Path) -> None:
    whole = tmp_path / "whole.yaml"
    whole.write_bytes(BODY)
    assert len(install.manifest_file(whole)) == 40
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(BODY[: BODY.index(b'"x') + 50])
    with pytest.raises(InputError, match=f"^{broken}: not valid YAML at line 8, column 59"):
        install.manifest_file(broken)
