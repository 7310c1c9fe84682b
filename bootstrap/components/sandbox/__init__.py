"""The sample repository, published as a local git repository with its secrets sealed to the
cluster's key.

`repo` renders and publishes it; `seal` seals its secrets with kubeseal; `server` serves it in
the cluster for an Argo CD running there."""

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
from bootstrap.components.sandbox.server import served_in

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
    "served_in",
    "source_dir",
]
