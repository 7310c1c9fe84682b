"""The Docker tier's tests run inside the tier's network namespace (`make e2e`), where the
engine, its bridges and the clusters are, and where nothing has a route out. There the loopback
guard also lets them reach the namespace's own bridges (a node's NodePort), nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import own_networks
from tests.docker import tier


@pytest.fixture(scope="session", autouse=True)
def inside_the_tier() -> None:
    why = tier.outside_tier()
    if why:
        pytest.skip(why)
    if any(r["dst"] == "default" for r in tier.routes()):
        pytest.fail(f"namespace {tier.NETNS} has a default route: refusing to run anything in it")


@pytest.fixture(autouse=True)
def own_bridges() -> Iterator[None]:
    """The bridges as they are now (a cluster's network appears when it is created)."""
    own_networks.OWN_NETWORKS[:] = tier.own_networks_now()
    yield
    own_networks.OWN_NETWORKS.clear()
