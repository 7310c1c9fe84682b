"""Applying many manifests against a fake API: order, outcomes, retries, Retry-After, deadline."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap import kube, retry, wait
from bootstrap.errors import InputError, TemporaryError
from bootstrap.kube.client import ApiError, ObjectRef

MANIFESTS = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 1}
---
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, names: {kind: Widget, plural: widgets}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c1}}
- {apiVersion: v1, kind: Namespace, metadata: {name: apps}}
"""
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition"}


class FakeApi:
    """Stores objects by ref; ``failures`` queues errors for the next applies."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.failures: list[Exception] = []
        self.version = 0
        self.crd_checks = 0

    def locate(self, obj: dict[str, Any], *, namespace: str | None = None) -> ObjectRef:
        ref = ObjectRef.of(obj)
        where = None if ref.kind in CLUSTER_SCOPED else ref.namespace or namespace or "default"
        return ObjectRef(ref.api_version, ref.kind, ref.name, where)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        found = self.store.get(str(ObjectRef(api_version, kind, name, namespace)))
        if kind == "CustomResourceDefinition" and found is not None:
            self.crd_checks += 1
            self.calls.append(f"check {name}")
            established = "True" if self.crd_checks > 1 else "False"
            reason = "" if established == "True" else "Installing"
            cond = {"type": "Established", "status": established, "reason": reason}
            return {**found, "status": {"conditions": [cond]}}
        return found

    def apply(self, obj: dict[str, Any], *, namespace: str | None, dry_run: bool) -> Any:
        if self.failures:
            raise self.failures.pop(0)
        ref = self.locate(obj, namespace=namespace)
        self.calls.append(f"apply {ref}")
        old = self.store.get(str(ref))
        if old is not None and old["spec"] == obj.get("spec"):
            return old
        self.version += 1
        new = {**obj, "spec": obj.get("spec"), "metadata": {"resourceVersion": str(self.version)}}
        self.store[str(ref)] = new
        return new

    def refresh_discovery(self) -> None:
        self.calls.append("refresh discovery")


def apply(api: FakeApi, docs: Any, **kw: Any) -> kube.ApplyResult:
    options: dict[str, Any] = {"namespace": "apps", "clock": wait.FakeClock(), "deadline": 60}
    options.update(kw)
    return kube.apply_manifests(api, docs, **options)  # type: ignore[arg-type]


def temporary(message: str, retry_after: float | None = None) -> TemporaryError:
    err = TemporaryError(message)
    err.retry_after = retry_after  # type: ignore[attr-defined]
    return err


def test_namespaces_and_crds_go_first_then_established_then_the_custom_resources() -> None:
    api = FakeApi()
    result = apply(api, MANIFESTS)
    assert api.calls == [
        "apply CustomResourceDefinition widgets.example.com",
        "apply Namespace apps",
        "check widgets.example.com",
        "check widgets.example.com",
        "refresh discovery",
        "apply Widget apps/w1",
        "apply ConfigMap apps/c1",
    ]
    assert result.summary() == "4 created, 0 configured, 0 unchanged"


def test_applying_the_same_manifests_again_reports_every_object_unchanged() -> None:
    api = FakeApi()
    apply(api, MANIFESTS)
    api.calls.clear()
    again = apply(api, MANIFESTS)
    assert [a.action for a in again.objects] == ["unchanged"] * 4
    assert again.changed == []
    assert "refresh discovery" not in api.calls


def test_a_changed_spec_is_configured_and_the_rest_unchanged() -> None:
    api = FakeApi()
    apply(api, MANIFESTS)
    again = apply(api, MANIFESTS.replace("size: 1", "size: 2"))
    assert again.action("Widget apps/w1") == "configured"
    assert again.summary() == "0 created, 1 configured, 3 unchanged"


def test_transient_errors_are_retried_and_counted() -> None:
    api = FakeApi()
    api.failures = [temporary('failed calling webhook "v.example.com"')] * 3
    clock = wait.FakeClock()
    result = apply(
        api, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}], clock=clock
    )
    assert result.retries == 3
    assert result.objects[0].action == "created"
    assert clock.sleeps == [0.25, 0.5, 1.0]


def test_retry_after_is_a_floor_for_the_pause() -> None:
    api = FakeApi()
    api.failures = [temporary("429 Too Many Requests", retry_after=7)]
    clock = wait.FakeClock()
    apply(api, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}], clock=clock)
    assert clock.sleeps == [7]


def test_endless_transient_errors_give_up_within_the_deadline_naming_the_object() -> None:
    api = FakeApi()
    api.failures = [
        temporary('apply ConfigMap apps/c: 500 failed calling webhook "v.example.com"')
    ] * 50
    clock = wait.FakeClock()
    many = retry.Policy("test", attempts=50, first_delay=0.5, max_delay=1.0)
    with pytest.raises(TemporaryError) as err:
        apply(
            api,
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
            clock=clock,
            deadline=5,
            policy=many,
        )
    assert "apply ConfigMap apps/c: gave up after" in err.value.message
    assert 'failed calling webhook "v.example.com"' in err.value.message
    assert "admission webhook" in err.value.hint
    assert clock.now() <= 5


def test_a_permanent_error_fails_at_once_without_retrying() -> None:
    api = FakeApi()
    api.failures = [ApiError('apply ConfigMap apps/c: 422 ConfigMap "c" is invalid', status=422)]
    clock = wait.FakeClock()
    with pytest.raises(ApiError, match='ConfigMap "c" is invalid'):
        apply(
            api, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}], clock=clock
        )
    assert clock.sleeps == []


def test_an_object_without_a_name_is_bad_input_before_anything_is_applied() -> None:
    api = FakeApi()
    with pytest.raises(InputError, match=r"manifest object 2 has no metadata\.name"):
        apply(
            api,
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\n"
            "{apiVersion: v1, kind: Secret}",
        )
    assert api.calls == []
