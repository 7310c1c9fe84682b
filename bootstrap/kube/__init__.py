"""The API seam: the only package that talks to the Kubernetes API.

`client` holds the connection and its calls; `apply` the ordered server-side apply; `watch` the
list-then-watch waits; `kubeconfig` the files that point at a cluster. The names a caller needs
most are here."""

from bootstrap.kube.apply import Applied, ApplyResult, Manifests, apply_manifests, load_manifests
from bootstrap.kube.client import (
    FIELD_MANAGER,
    ApiError,
    Cancel,
    Expired,
    Kube,
    NotFound,
    Obj,
    ObjectRef,
    split_documents,
)

__all__ = [
    "FIELD_MANAGER",
    "ApiError",
    "Applied",
    "ApplyResult",
    "Cancel",
    "Expired",
    "Kube",
    "Manifests",
    "NotFound",
    "Obj",
    "ObjectRef",
    "apply_manifests",
    "load_manifests",
    "split_documents",
]
