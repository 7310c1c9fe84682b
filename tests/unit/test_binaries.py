"""The local cluster's binaries: where they are looked for, version checks, doctor rows, and
that the profile's default versions are the ones toolchain/ builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bootstrap.controlplane import binaries
from bootstrap.errors import InputError
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster

REPO = Path(__file__).resolve().parents[2]


def fake_tree(root: Path, *, apiserver_says: str = "Kubernetes v1.36.1") -> LocalCluster:
    cfg = LocalCluster(binaries_dir=str(root))
    found = binaries.locate(cfg)
    says = {
        found.etcd: "etcd Version: 3.6.16",
        found.kube_apiserver: apiserver_says,
        found.kube_controller_manager: "Kubernetes v1.36.1",
        found.kube_scheduler: "Kubernetes v1.36.1",
        found.kwok: "kwok version v0.8.0 go1.26.8 (linux/amd64)",
    }
    for path, text in says.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\necho '{text}'\n")
        path.chmod(0o755)
    for stage in found.kwok_stages:
        stage.parent.mkdir(parents=True, exist_ok=True)
        stage.write_text("kind: Stage\n")
    return cfg


def test_a_complete_tree_at_the_pinned_versions_verifies(tmp_path: Path) -> None:
    cfg = fake_tree(tmp_path)
    found = binaries.verify(cfg, runner.LocalRunner())
    assert found.kube_apiserver == tmp_path / "kubernetes-v1.36.1" / "kube-apiserver"


def test_a_wrong_version_is_refused_naming_what_it_says(tmp_path: Path) -> None:
    cfg = fake_tree(tmp_path, apiserver_says="Kubernetes v1.31.0")
    with pytest.raises(
        InputError, match=r"is not version v1\.36\.1 \(it says: Kubernetes v1\.31\.0\)"
    ):
        binaries.verify(cfg, runner.LocalRunner())


def test_missing_binaries_are_listed_with_how_to_build_them(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        binaries.verify(LocalCluster(binaries_dir=str(tmp_path)), runner.LocalRunner())
    assert "kube-apiserver" in str(err.value)
    assert "make binaries" in err.value.hint


def test_doctor_rows_mark_a_version_mismatch_as_not_ok(tmp_path: Path) -> None:
    cfg = fake_tree(tmp_path, apiserver_says="Kubernetes v1.31.0")
    rows = {row.name: row for row in binaries.statuses(cfg, runner.LocalRunner())}
    assert rows["kube-apiserver"].version == "v1.31.0"
    assert not rows["kube-apiserver"].ok
    assert rows["etcd"].ok
    assert rows["kwok"].ok


def test_the_default_versions_are_the_ones_the_toolchain_builds() -> None:
    kube_mod = (REPO / "toolchain" / "kube" / "go.mod").read_text()
    etcd_mod = (REPO / "toolchain" / "etcd" / "go.mod").read_text()
    build = (REPO / "toolchain" / "build.sh").read_text()
    cfg = LocalCluster()
    assert re.search(rf"k8s.io/kubernetes {re.escape(cfg.kubernetes_version)}\b", kube_mod)
    assert re.search(rf"go.etcd.io/etcd/server/v3 {re.escape(cfg.etcd_version)}\b", etcd_mod)
    assert f"KWOK_VERSION:-{cfg.kwok_version}" in build


def test_a_version_is_asked_once_per_binary_file_and_again_when_it_is_rebuilt(
    tmp_path: Path,
) -> None:
    cfg = fake_tree(tmp_path / "bin")
    apiserver = binaries.locate(cfg).kube_apiserver
    asked = tmp_path / "asked"
    apiserver.write_text(f"#!/bin/sh\necho x >> {asked}\necho 'Kubernetes v1.36.1'\n")
    binaries.verify(cfg, runner.LocalRunner())
    binaries.verify(cfg, runner.LocalRunner())
    assert asked.read_text().count("x") == 1

    apiserver.write_text(f"#!/bin/sh\necho x >> {asked}\necho 'Kubernetes v1.31.0'\n")
    with pytest.raises(InputError, match=r"it says: Kubernetes v1\.31\.0"):
        binaries.verify(cfg, runner.LocalRunner())
    assert asked.read_text().count("x") == 2


def test_a_broken_record_of_versions_is_asked_again(tmp_path: Path) -> None:
    cfg = fake_tree(tmp_path / "bin")
    (tmp_path / "bin" / binaries.VERSIONS_SEEN).write_text("[not json")
    assert binaries.verify(cfg, runner.LocalRunner()).etcd.is_file()
