"""The sample repository, published as a local git repository with its secrets sealed to the
cluster's key.

`repo` renders and publishes it; `seal` seals its secrets with kubeseal."""

from bootstrap.components.sandbox.repo import (
    PLACEHOLDER,
    REPO_ROOT,
    SCHEME,
    digest,
    effective_url,
    expected_revisions,
    is_sandbox,
    publish,
    published_digest,
    published_revision,
    rendered,
    repo_dir,
    root_children,
    source_dir,
)

__all__ = [
    "PLACEHOLDER",
    "REPO_ROOT",
    "SCHEME",
    "digest",
    "effective_url",
    "expected_revisions",
    "is_sandbox",
    "publish",
    "published_digest",
    "published_revision",
    "rendered",
    "repo_dir",
    "root_children",
    "source_dir",
]
