"""The integration tier: a real local control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok) started through clusterboot's own `up`, shared by the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import kube, wait
from tests.integration.localcluster import LocalCluster, write_profile


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = write_profile(tmp_path_factory.mktemp("cluster"), "itest")
    code, out, err = cluster.up()
    assert code == 0, f"up failed:\n{out}\n{err}"
    yield cluster
    cluster.down()


@pytest.fixture
def api(local_cluster: LocalCluster) -> kube.Kube:
    return local_cluster.kube()


@pytest.fixture
def clock() -> wait.RealClock:
    return wait.RealClock()


@pytest.fixture(scope="session")
def local_bin_dir() -> Path:
    from bootstrap.controlplane import binaries
    from bootstrap.profile.schema import LocalCluster as LocalClusterConfig

    return binaries.cache_dir(LocalClusterConfig())
