"""Requests a process saves on a cluster another process already talked to: discovery learned
once per cluster (kept in the state directory, keyed by address and CA), and a gate over a
component's CRDs judged from one list, not one GET each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bootstrap import kube, wait
from bootstrap.kube import watch
from bootstrap.kube.client import ObjectRef
from tests.integration.localcluster import LocalCluster
from tests.integration.upstream_like import crd

pytestmark = pytest.mark.integration

CRD_VERSION = "apiextensions.k8s.io/v1"


class Recorded:
    """The (method, path) of every request a connection sends."""

    def __init__(self, api: kube.Kube) -> None:
        self.sent: list[tuple[str, str]] = []
        pool = api.api.rest_client.pool_manager
        send = pool.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.sent.append((method, url.split("//", 1)[-1].partition("/")[2].split("?")[0]))
            return send(method, url, *args, **kwargs)

        pool.request = request

    def discovery(self) -> list[str]:
        """Discovery requests: the group and group-version documents, and /version."""
        return [p for _, p in self.sent if p in {"api", "apis", "version"} or _is_group(p)]


def _is_group(path: str) -> bool:
    parts = path.split("/")
    return (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3)


@pytest.fixture
def connect(local_cluster: LocalCluster, tmp_path: Path) -> Any:
    def connected() -> tuple[kube.Kube, Recorded]:
        api = kube.Kube.connect(local_cluster.kubeconfig, discovery_dir=tmp_path / "discovery")
        return api, Recorded(api)

    return connected


def test_a_second_process_looks_kinds_up_without_asking_the_api_again(connect: Any) -> None:
    first, seen_first = connect()
    first.get("apps/v1", "Deployment", "none", "default")
    first.get("v1", "ConfigMap", "none", "default")
    assert len(seen_first.discovery()) >= 3, seen_first.sent

    second, seen_second = connect()
    second.get("apps/v1", "Deployment", "none", "default")
    second.get("v1", "ConfigMap", "none", "default")
    assert seen_second.discovery() == [], seen_second.sent
    assert [m for m, _ in seen_second.sent] == ["GET", "GET"]


def test_a_kind_added_after_the_cache_was_written_is_still_found(
    connect: Any, api: kube.Kube, clock: wait.RealClock
) -> None:
    first, _ = connect()
    first.get("v1", "ConfigMap", "none", "default")
    kube.apply_manifests(
        api,
        [crd("cache.itest.dev", "gadgets", "Gadget", ["v1"])],
        namespace=None,
        clock=clock,
        deadline=60,
    )
    second, seen = connect()
    assert second.list("cache.itest.dev/v1", "Gadget", namespace="default")[0] == []
    assert "apis/cache.itest.dev/v1" in seen.discovery()


def test_a_gate_over_several_crds_reads_them_with_one_list(
    connect: Any, api: kube.Kube, clock: wait.RealClock
) -> None:
    docs = [crd("lists.itest.dev", p, k, ["v1"]) for p, k in [("bolts", "Bolt"), ("nuts", "Nut")]]
    kube.apply_manifests(api, docs, namespace=None, clock=clock, deadline=60)
    names = ["bolts.lists.itest.dev", "nuts.lists.itest.dev", "absent.lists.itest.dev"]
    refs = [ObjectRef(CRD_VERSION, "CustomResourceDefinition", n) for n in names]
    reader_api, seen = connect()
    reader_api.resource(CRD_VERSION, "CustomResourceDefinition")  # discovery out of the count
    seen.sent.clear()

    verdict = watch.readiness(watch.Reader(reader_api), refs, grace=0)

    assert seen.sent == [("GET", "apis/apiextensions.k8s.io/v1/customresourcedefinitions")]
    assert not verdict.ok
    (blocking,) = verdict.blocking
    assert names[2] in blocking
    assert "not found" in blocking


def test_a_gate_reading_several_deployments_from_one_list_judges_each_by_its_kind(
    api: kube.Kube, clock: wait.RealClock
) -> None:
    namespace = "lists-judged"
    paused = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "paused", "namespace": namespace},
        "spec": {
            "paused": True,
            "selector": {"matchLabels": {"app": "paused"}},
            "template": {
                "metadata": {"labels": {"app": "paused"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]},
            },
        },
    }
    second = {**paused, "metadata": {"name": "second", "namespace": namespace}}
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    kube.apply_manifests(
        api, [namespace_doc, paused, second], namespace=None, clock=clock, deadline=60
    )
    items, _ = api.list("apps/v1", "Deployment", namespace=namespace)
    assert {(i["apiVersion"], i["kind"]) for i in items} == {("apps/v1", "Deployment")}
    refs = [ObjectRef("apps/v1", "Deployment", n, namespace) for n in ("paused", "second")]

    verdict = watch.readiness(watch.Reader(api), refs, grace=0)

    assert not verdict.ok
    assert len(verdict.blocking) == 2, verdict.blocking
    assert all("paused" in line for line in verdict.blocking), verdict.blocking
