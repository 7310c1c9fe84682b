"""Helm charts as artifacts: found in the repository's index.yaml (relative or absolute URLs),
verified against the index digest or the profile's pin, recorded so a later run needs no
index, bundled with their identity so an offline directory serves them without a pin."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import artifacts
from bootstrap.artifacts import helm
from bootstrap.commands import preflight
from bootstrap.errors import InputError
from bootstrap.profile.schema import ChartSource, Profile

CHART = b"not really a tarball, but bytes with a digest"
DIGEST = hashlib.sha256(CHART).hexdigest()


def repository(
    directory: Path,
    *,
    url: str = "demo-1.2.3.tgz",
    digest: str | None = DIGEST,
    body: bytes = CHART,
) -> str:
    """A chart repository on disk: index.yaml plus the packaged chart; its file:// URL."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "demo-1.2.3.tgz").write_bytes(body)
    entry: dict[str, Any] = {"name": "demo", "version": "1.2.3", "urls": [url]}
    if digest is not None:
        entry["digest"] = digest
    older = {"name": "demo", "version": "1.0.0", "urls": ["demo-1.0.0.tgz"], "digest": "0" * 64}
    index = {"apiVersion": "v1", "entries": {"demo": [entry, older]}}
    (directory / "index.yaml").write_text(yaml.safe_dump(index))
    return directory.as_uri()


def profile(chart: dict[str, Any], **artifacts_cfg: str) -> Profile:
    off = {name: {"enabled": False} for name in artifacts.COMPONENTS}
    return Profile.model_validate(
        {
            "name": "p",
            "cluster": {"provider": "local", "name": "c"},
            "components": {**off, "metallb": {"chart": chart}},
            "artifacts": artifacts_cfg,
        }
    )


def chart(repo: str, **extra: Any) -> dict[str, Any]:
    return {"repository": repo, "chart": "demo", "version": "1.2.3", **extra}


def test_a_chart_is_found_in_its_index_and_verified_against_the_digest(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    p = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    store = artifacts.Store.for_profile(p)
    path = store.path(artifacts.artifact_for(p, "metallb"))
    assert path.read_bytes() == CHART
    assert path.name == DIGEST


def test_a_recorded_lookup_spares_the_index_on_later_runs(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    p = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    (tmp_path / "repo" / "index.yaml").unlink()
    (tmp_path / "repo" / "demo-1.2.3.tgz").unlink()
    again = artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert again.read_bytes() == CHART


def test_an_absolute_url_in_the_index_is_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "assets" / "demo-1.2.3.tgz"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(CHART)
    repo = repository(tmp_path / "repo", url=elsewhere.as_uri())
    (tmp_path / "repo" / "demo-1.2.3.tgz").unlink()
    p = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    resolved = artifacts.Store.for_profile(p).resolve(artifacts.artifact_for(p, "metallb"))
    assert (resolved.url, resolved.sha256) == (elsewhere.as_uri(), DIGEST)


def test_a_pin_that_disagrees_with_the_index_names_both_sums(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    pinned = "a" * 64
    p = profile(chart(repo, sha256=pinned), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(artifacts.ChecksumMismatch) as caught:
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert pinned in caught.value.message
    assert DIGEST in caught.value.message
    assert "index.yaml" in caught.value.message


def test_bytes_that_are_not_the_indexed_chart_are_refused_and_not_kept(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", body=b"swapped after the index was written")
    p = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(artifacts.ChecksumMismatch, match=DIGEST):
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert not (tmp_path / "cache" / "sha256" / DIGEST).exists()


def test_a_pinned_chart_in_an_index_without_digests_is_verified_by_the_pin(
    tmp_path: Path,
) -> None:
    repo = repository(tmp_path / "repo", digest=None)
    p = profile(chart(repo, sha256=DIGEST), cache_dir=str(tmp_path / "cache"))
    assert artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb")).is_file()


def test_an_unpinned_chart_in_an_index_without_digests_must_be_pinned(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", digest=None)
    p = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(InputError, match="lists no digest") as caught:
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert "chart.sha256" in caught.value.hint


def test_a_missing_version_lists_the_versions_the_repository_has(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    p = profile({**chart(repo), "version": "9.9.9"}, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(InputError, match=r"no version 9\.9\.9") as caught:
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert "1.2.3" in caught.value.hint
    assert "1.0.0" in caught.value.hint


def test_a_missing_chart_names_the_charts_there(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    p = profile({**chart(repo), "chart": "other"}, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(InputError, match="'other' is not in") as caught:
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert "demo" in caught.value.hint


@pytest.mark.parametrize("text", ["{not yaml", "just: a mapping", "- a list"])
def test_a_file_that_is_not_an_index_is_said_to_be_so(text: str) -> None:
    source = ChartSource(repository="https://charts.invalid", chart="demo", version="1.2.3")
    with pytest.raises(InputError, match="not a Helm repository index"):
        helm.find_in_index(text, source)


@pytest.mark.parametrize(
    ("repo", "why"),
    [
        ("oci://ghcr.io/org/charts", "OCI registries are not supported"),
        ("http://charts.example.com", "https:// or file://"),
    ],
)
def test_a_repository_url_clusterboot_cannot_verify_is_refused_in_the_profile(
    repo: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        profile(chart(repo))


def test_a_bundle_serves_an_unpinned_chart_offline_without_its_index(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    online = profile(chart(repo), cache_dir=str(tmp_path / "cache"))
    entries = artifacts.bundle(online, tmp_path / "bundle")
    assert [(e.file, e.sha256) for e in entries] == [("metallb-v0.15.2-demo-1.2.3.tgz", DIGEST)]
    index = json.loads((tmp_path / "bundle" / "index.json").read_text())
    assert index["artifacts"][0]["identity"] == f"{repo} demo 1.2.3"

    (tmp_path / "repo" / "index.yaml").unlink()
    offline = profile(chart(repo), dir=str(tmp_path / "bundle"), cache_dir=str(tmp_path / "c2"))
    path = artifacts.Store.for_profile(offline).path(artifacts.artifact_for(offline, "metallb"))
    assert path.read_bytes() == CHART
    assert path.parent == tmp_path / "bundle"


def test_an_offline_directory_without_the_chart_says_how_to_fill_it(tmp_path: Path) -> None:
    (tmp_path / "bundle").mkdir()
    offline = profile(chart("https://charts.invalid"), dir=str(tmp_path / "bundle"))
    missing = r"lists no https://charts\.invalid demo 1\.2\.3"
    with pytest.raises(InputError, match=missing) as caught:
        artifacts.Store.for_profile(offline).path(artifacts.artifact_for(offline, "metallb"))
    assert "invoke bundle" in caught.value.hint


def test_a_profile_with_an_enabled_chart_needs_helm_and_a_disabled_one_does_not() -> None:
    on = profile(chart("https://charts.invalid"))
    assert [n.name for n in preflight.tools_for(on) if n.name == "helm"] == ["helm"]
    off_cfg = on.model_dump(mode="json")
    off_cfg["components"]["metallb"]["enabled"] = False
    assert "helm" not in [n.name for n in preflight.tools_for(Profile.model_validate(off_cfg))]


def test_profile_values_override_the_component_defaults_deeply() -> None:
    source = ChartSource(
        repository="https://charts.invalid",
        chart="sealed-secrets",
        version="2.18.4",
        values={"image": {"tag": "x"}, "fullnameOverride": "mine"},
    )
    merged = helm.values_for("sealed_secrets", source)
    assert merged == {"fullnameOverride": "mine", "image": {"tag": "x"}}
    plain = source.model_copy(update={"values": {}})
    assert helm.values_for("sealed_secrets", plain) == {
        "fullnameOverride": "sealed-secrets-controller"
    }


def test_a_mismatch_for_a_chart_names_the_charts_own_pin_field(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    p = profile(chart(repo, sha256="b" * 64), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(artifacts.ChecksumMismatch) as caught:
        artifacts.Store.for_profile(p).path(artifacts.artifact_for(p, "metallb"))
    assert "components.metallb.chart.sha256" in caught.value.hint


def test_metallb_from_its_chart_is_rendered_in_native_mode_unless_the_values_say_otherwise() -> (
    None
):
    source = ChartSource(
        repository="https://metallb.github.io/metallb", chart="metallb", version="0.15.2"
    )
    assert helm.values_for("metallb", source) == {
        "speaker": {"frr": {"enabled": False}},
        "frrk8s": {"enabled": False},
    }
