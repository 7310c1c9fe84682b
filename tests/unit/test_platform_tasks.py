"""The platform tasks through the command layer: `bundle`, `argocd-password` and `backup`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from invoke import Collection

import tasks
from bootstrap import artifacts
from bootstrap.commands import app
from bootstrap.profile import loader
from tests.integration import upstream_like
from tests.integration.localcluster import free_port

REPO = Path(__file__).resolve().parents[2]


def local_profile(tmp_path: Path, **extra: object) -> Path:
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "state_dir": str(tmp_path / "state"),
        "artifacts": {"cache_dir": str(tmp_path / "cache")},
        **extra,
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def invocation(profile: Path, *sets: str) -> tuple[app.Invocation, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return (
        app.Invocation(profile=str(profile), sets=sets, log_format="json", out=out, err=err),
        out,
        err,
    )


def test_every_task_loads_with_help_for_each_of_its_options() -> None:
    contexts = Collection.from_module(tasks).to_contexts()
    names = {c.name for c in contexts}
    assert {"bundle", "argocd-password", "backup"} <= names


def test_invoke_bundle_fills_a_directory_that_an_air_gapped_profile_reads(tmp_path: Path) -> None:
    docs = upstream_like.metallb("v0.15.2", webhook_url="https://127.0.0.1:1", ca_bundle="")
    source = upstream_like.serve(docs, tmp_path / "native.yaml")
    profile = local_profile(
        tmp_path, components={"metallb": {"enabled": True, "mode": "manifests", "source": source}}
    )
    inv, out, err = invocation(profile)
    assert app.bundle(inv, out_dir=tmp_path / "bundle") == 0, err.getvalue()
    index = json.loads((tmp_path / "bundle" / artifacts.INDEX).read_text())
    assert [(e["component"], e["sha256"]) for e in index["artifacts"]] == [
        ("metallb", source["sha256"])
    ]
    assert "metallb v0.15.2" in out.getvalue()
    (tmp_path / "native.yaml").unlink()  # the source is gone: only the bundle has it now
    offline = loader.load(str(profile), overrides=[f"artifacts.dir={tmp_path / 'bundle'}"])
    found = artifacts.Store.for_profile(offline).path(artifacts.artifact_for(offline, "metallb"))
    assert found.parent == tmp_path / "bundle"


def test_bundle_refuses_a_component_without_a_verified_source(tmp_path: Path) -> None:
    profile = local_profile(
        tmp_path,
        components={
            "sealed_secrets": {"enabled": True, "mode": "manifests", "version": "v0.36.5"}
        },
    )
    inv, _, err = invocation(profile)
    assert app.bundle(inv, out_dir=tmp_path / "bundle") == 2
    assert "components.sealed_secrets.source is needed" in err.getvalue()


def test_a_bundle_that_fails_part_way_leaves_no_out_directory_it_made(tmp_path: Path) -> None:
    docs = upstream_like.metallb("v0.15.2", webhook_url="https://127.0.0.1:1", ca_bundle="")
    source = upstream_like.serve(docs, tmp_path / "native.yaml")
    tampered = {**source, "sha256": "0" * 64}
    profile = local_profile(
        tmp_path, components={"metallb": {"enabled": True, "mode": "manifests",
                                          "source": tampered}}
    )
    inv, _, err = invocation(profile)
    assert app.bundle(inv, out_dir=tmp_path / "bundle") != 0
    assert "sha256" in err.getvalue()
    assert not (tmp_path / "bundle").exists()  # the --out it made is not left behind


def test_a_failed_bundle_into_an_existing_directory_leaves_the_directory(tmp_path: Path) -> None:
    profile = local_profile(
        tmp_path,
        components={
            "sealed_secrets": {"enabled": True, "mode": "manifests", "version": "v0.36.5"}
        },
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept\n")
    inv, _, _ = invocation(profile)
    assert app.bundle(inv, out_dir=tmp_path / "mine") == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "kept\n"


def test_argocd_password_and_backup_need_a_running_cluster(tmp_path: Path) -> None:
    profile = local_profile(tmp_path, cluster={"local": {"api_port": free_port()}})
    for command in (app.argocd_password, lambda i: app.backup(i, out_file=tmp_path / "k.age")):
        inv, out, err = invocation(profile)
        assert command(inv) == 1
        assert "is not running" in err.getvalue()
        assert "invoke up --profile" in err.getvalue()
        assert out.getvalue() == ""
    assert not (tmp_path / "k.age").exists()
