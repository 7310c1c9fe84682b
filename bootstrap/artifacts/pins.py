"""The artifact sources clusterboot ships for each pinned component version: an upstream
manifest with its sha256, or, where no manifest could be pinned, the upstream Helm chart. A
profile's own ``source`` or ``chart`` always wins; ``bootstrap.artifacts.store`` fetches and
verifies.
"""

from __future__ import annotations

from bootstrap.profile.schema import ChartSource, ManifestSource, Profile

# (component, version) -> the upstream manifest and its sha256, computed from the file at that
# tag (raw.githubusercontent.com serves the git blob, byte for byte).
DEFAULT_SOURCES: dict[tuple[str, str], ManifestSource] = {
    ("metallb", "v0.15.2"): ManifestSource(
        url="https://raw.githubusercontent.com/metallb/metallb/v0.15.2/config/manifests/metallb-native.yaml",
        sha256="a1b04c376fb39c93265f551fe23716a3ae6e09b790edb3bf257d3fc784c35a18",
    ),
    ("metallb", "v0.15.3"): ManifestSource(
        url="https://raw.githubusercontent.com/metallb/metallb/v0.15.3/config/manifests/metallb-native.yaml",
        sha256="84b4e102f2b65f5d69085f5816c29362b74641873d8ac3de996e5f86a8219176",
    ),
    ("argocd", "v3.2.11"): ManifestSource(
        url="https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.11/manifests/install.yaml",
        sha256="6cdd269e07f27b50f9e481cc7e685443b26b79372001ff7868ff1543610417bd",
    ),
    ("argocd", "v3.2.12"): ManifestSource(
        url="https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.12/manifests/install.yaml",
        sha256="1097a8e8cdc1ed00831ec35338584ecaa2f79d29868fc0c2c5be61cce96253b8",
    ),
}
# (component, version) -> its upstream Helm chart, where no manifest could be pinned. Sealed
# Secrets' controller.yaml is a release asset built by CI, not a file in git, so no sum could be
# verified for it; its chart is versioned in the official repository, whose index.yaml gives the
# digest. Without a sha256 here, the first download is checked against that digest and recorded
# in the cache (later runs accept no other file), and the pin to add is logged. The chart's
# version is the one in `helm/sealed-secrets/Chart.yaml` at the controller's tag; its image tag
# lags the controller's, so the values pin the image to the version the profile names.
DEFAULT_CHARTS: dict[tuple[str, str], ChartSource] = {
    ("sealed_secrets", "v0.36.6"): ChartSource(
        repository="https://bitnami-labs.github.io/sealed-secrets",
        chart="sealed-secrets",
        version="2.18.4",
        values={"image": {"tag": "0.36.6"}},
    ),
}


def chart_for(profile: Profile, component: str) -> ChartSource | None:
    """The Helm chart ``component`` comes from: the profile's, or the default chart for its
    version when the profile names no manifest and no default manifest exists."""
    settings = getattr(profile.components, component)
    own: ChartSource | None = settings.chart
    if own is not None or settings.source is not None:
        return own
    if (component, settings.version) in DEFAULT_SOURCES:
        return None
    return DEFAULT_CHARTS.get((component, settings.version))
