"""Pinned sources: manifests and Helm charts, checksums, the cache, offline bundles, installs.

`store` fetches and verifies; `pins` holds the versions; `helm` renders charts; `install`
applies them."""

from bootstrap.artifacts.store import (
    COMPONENTS,
    DOWNLOAD,
    INDEX,
    TIMEOUT,
    UPSTREAM_HINTS,
    Artifact,
    ChecksumMismatch,
    IndexEntry,
    Store,
    artifact_for,
    bundle,
    cluster_artifacts,
    default_cache_dir,
    k3s_artifact,
    needed,
    not_bundled,
    sha256_of,
)

__all__ = [
    "COMPONENTS",
    "DOWNLOAD",
    "INDEX",
    "TIMEOUT",
    "UPSTREAM_HINTS",
    "Artifact",
    "ChecksumMismatch",
    "IndexEntry",
    "Store",
    "artifact_for",
    "bundle",
    "cluster_artifacts",
    "default_cache_dir",
    "k3s_artifact",
    "needed",
    "not_bundled",
    "sha256_of",
]
