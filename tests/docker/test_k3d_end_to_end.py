"""From nothing to the sample repository Synced and Healthy on a real k3d cluster: the `dev`
profile (`invoke up --profile dev`, a developer's laptop with Docker) made to fit the tier (one
server, no agents, the k3s arguments of test_real_k3d), with the platform as pods from its
pinned upstream manifests and chart, k3s's servicelb off for MetalLB, and the sample as a
`sandbox:` served to the in-cluster Argo CD. One cluster for the module (about four minutes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.docker import sample
from tests.docker.test_real_k3d import TIER_K3D
from tests.docker.tier import unique, write_profile

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("k3d-platform")
    name = unique("cb-dev")
    profile = write_profile(directory, "tierdev", {
        "extends": "dev",
        "cluster": {"name": name, "k3d": TIER_K3D},
        "components": sample.platform_components(directory),
        "root_app": sample.sample_with_load_balancer(directory),
    })
    with sample.brought_up(profile, ["k3d", "cluster", "delete", name]):
        yield profile


def test_every_platform_pod_runs_the_image_its_upstream_manifest_names(platform: Path) -> None:
    sample.assert_every_platform_image_is_the_upstream_manifests(platform)


def test_the_platform_runs_as_real_pods_every_one_ready_but_the_unbuildable_dex(
    platform: Path,
) -> None:
    sample.assert_the_platform_runs_as_real_pods_all_ready_but_dex(platform)


def test_every_app_of_the_sample_is_synced_and_healthy_wave_by_wave(platform: Path) -> None:
    sample.assert_every_app_synced_and_healthy_wave_by_wave(platform)


def test_the_samples_load_balancer_address_from_the_k3d_network_answers_from_the_tier(
    platform: Path,
) -> None:
    name = yaml.safe_load(platform.read_text())["cluster"]["name"]
    sample.assert_web_answers_at_its_load_balancer_address(platform, f"k3d-{name}")


def test_the_controller_pod_unsealed_the_samples_password_and_postgres_runs_with_it(
    platform: Path,
) -> None:
    sample.assert_postgres_runs_with_the_unsealed_password(platform)


def test_a_second_up_changes_nothing(platform: Path) -> None:
    sample.assert_a_second_up_changes_nothing(platform)
