"""Pinned sources: manifests and Helm charts, checksums, the cache, offline bundles, installs."""
