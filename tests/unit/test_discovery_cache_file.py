"""The discovery cache file a connection keeps per cluster: named by address and CA, trusted
only while fresh and whole."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bootstrap.kube import discovery_cache

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("other_host", "other_ca", "same"),
    [
        ("https://127.0.0.1:6443", CA, True),
        ("https://127.0.0.1:6444", CA, False),  # another address
        ("https://127.0.0.1:6443", CA + b"x", False),  # a cluster rebuilt on the same address
        ("https://127.0.0.1:6443", None, False),  # system CAs
    ],
)
def test_a_cluster_s_cache_file_is_named_by_its_address_and_its_ca(
    tmp_path: Path, other_host: str, other_ca: bytes | None, same: bool
) -> None:
    mine = discovery_cache.path_for(tmp_path, host="https://127.0.0.1:6443", ca=CA)
    other = discovery_cache.path_for(tmp_path, host=other_host, ca=other_ca)
    assert (mine == other) is same
    assert mine.parent == tmp_path


@pytest.mark.parametrize(
    ("content", "age", "usable"),
    [
        (b'{"library_version": "1"}', 5.0, True),
        (b'{"library_version": "1"}', discovery_cache.TTL + 1, False),  # stale
        (b'{"library_versi', 5.0, False),  # cut short by a killed writer
        (b"", 5.0, False),
        (b'{"library_version": "1"}', -3600.0, False),  # stamped in the future
    ],
)
def test_a_cache_file_is_used_only_while_fresh_and_whole(
    tmp_path: Path, content: bytes, age: float, usable: bool
) -> None:
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    assert discovery_cache.usable(path) is usable


def test_prepare_removes_a_stale_file_and_keeps_a_fresh_one(tmp_path: Path) -> None:
    directory = tmp_path / "cache" / "discovery"
    path = discovery_cache.prepare(directory, host="https://h", ca=CA)
    assert not path.exists()
    assert directory.stat().st_mode & 0o777 == 0o700
    path.write_text("{}")
    assert discovery_cache.prepare(directory, host="https://h", ca=CA).exists()
    old = time.time() - discovery_cache.TTL - 10
    os.utime(path, (old, old))
    assert not discovery_cache.prepare(directory, host="https://h", ca=CA).exists()


def test_no_cache_file_at_all_is_not_usable(tmp_path: Path) -> None:
    assert not discovery_cache.usable(tmp_path / "absent.json")
