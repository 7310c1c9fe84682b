"""Apply, health and waiting on the real local control plane: a CRD and its CRs in one call,
idempotent re-apply, a flaky admission webhook, a killed kube-apiserver, and gates that fail
fast (progress deadline, CrashLoopBackOff) or return as soon as a status changes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bootstrap import kube, retry, wait
from bootstrap.controlplane.layout import read_pid
from bootstrap.errors import GateFailed, GateTimeout, TemporaryError
from bootstrap.kube import watch
from bootstrap.kube.client import ApiError, ObjectRef
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.webhook_server import NAME, Policy, Webhook

pytestmark = pytest.mark.integration

GROUP = "itest.clusterboot.dev"
WIDGET = f"{GROUP}/v1"
CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{GROUP}}}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def manifests(namespace: str, *widgets: str) -> str:
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}, labels: {{t: a}}}}"]
    docs += [
        f"apiVersion: {WIDGET}\nkind: Widget\nmetadata: {{name: {w}}}\nspec: {{size: 1}}"
        for w in widgets
    ]
    docs += [CRD, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}"]
    return "\n---\n".join(docs)


def ready(api: kube.Kube, namespace: str, name: str, status: str = "True") -> None:
    """Write a Widget's status directly, as its controller would."""
    condition = {"type": "Ready", "status": status, "reason": "Test", "message": "set by test"}
    api.apply_status(
        {
            "apiVersion": WIDGET,
            "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "status": {"conditions": [condition]},
        }
    )


def eventually(check: Callable[[], bool], *, seconds: float = 30, what: str = "") -> None:
    """A bounded loop for test helpers (no sleeps): ``check`` until true or fail."""
    pause = threading.Event()
    give_up = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        pause.wait(0.05)


class Background:
    """``watch.await_objects`` in a thread, so a test can change the world meanwhile."""

    def __init__(self, api: kube.Kube, refs: list[ObjectRef], **options: Any) -> None:
        self.stats = watch.Stats()
        self.error: BaseException | None = None
        defaults: dict[str, Any] = {"deadline": 60, "grace_seconds": 60, "what": "itest gate"}
        defaults.update(options)
        self.thread = threading.Thread(target=self._run, args=(api, refs, defaults), daemon=True)
        self.thread.start()
        eventually(lambda: self.stats.watches >= 1 or not self.thread.is_alive(), what="watch")

    def _run(self, api: kube.Kube, refs: list[ObjectRef], options: dict[str, Any]) -> None:
        try:
            watch.await_objects(api, refs, clock=wait.RealClock(), stats=self.stats, **options)
        except BaseException as err:
            self.error = err

    def result(self, seconds: float = 60) -> BaseException | None:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the wait did not return"
        return self.error


@pytest.fixture
def ns(api: kube.Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    api.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"t": "a"}}}
    )
    yield name
    api.delete("v1", "Namespace", name)


def apply(api: kube.Kube, docs: Any, namespace: str, **kw: Any) -> Any:
    options: dict[str, Any] = {"clock": wait.RealClock(), "deadline": 60}
    options.update(kw)
    return kube.apply_manifests(api, docs, namespace=namespace, **options)


def test_a_crd_and_its_custom_resources_apply_in_one_call(api: kube.Kube, ns: str) -> None:
    result = apply(api, manifests(ns, "one", "two"), ns)
    assert [str(a.ref) for a in result.objects[:2]] == [
        f"Namespace {ns}",
        f"CustomResourceDefinition widgets.{GROUP}",
    ]
    assert result.action(f"Widget {ns}/one") == "created"
    assert result.action(f"Widget {ns}/two") == "created"
    assert api.get(WIDGET, "Widget", "two", ns) is not None


def test_applying_the_same_manifests_again_changes_nothing(api: kube.Kube, ns: str) -> None:
    first = apply(api, manifests(ns, "w"), ns)
    again = apply(api, manifests(ns, "w"), ns)
    assert {a.action for a in again.objects} == {"unchanged"}
    assert [a.resource_version for a in again.objects] == [
        (api.get(a.ref.api_version, a.ref.kind, a.ref.name, a.ref.namespace) or {})["metadata"][
            "resourceVersion"
        ]
        for a in first.objects
    ]
    for applied in again.objects:
        found = api.get(
            applied.ref.api_version, applied.ref.kind, applied.ref.name, applied.ref.namespace
        )
        managers = {
            m["manager"]
            for m in (found or {})["metadata"]["managedFields"]
            if m.get("subresource") != "status"
        }
        assert managers == {"clusterboot"}, applied.ref


def test_a_dry_run_says_what_would_change_without_changing_it(api: kube.Kube, ns: str) -> None:
    apply(api, manifests(ns, "w"), ns)
    plan = apply(api, manifests(ns, "w").replace("size: 1", "size: 2"), ns, dry_run=True)
    assert plan.summary() == "would create 0, would change 1, 3 unchanged"
    assert (api.get(WIDGET, "Widget", "w", ns) or {})["spec"] == {"size": 1}


@pytest.fixture
def webhook(
    local_cluster: LocalCluster, api: kube.Kube, ns: str, tmp_path: Path
) -> Iterator[Webhook]:
    """A webhook for ConfigMaps in ``ns`` only, proven active before the test starts."""
    keeper = read_pid(local_cluster.state_dir / "local-cluster" / "keeper.pid")
    assert keeper is not None
    with Webhook(keeper, tmp_path, Policy()) as server:
        config = server.configuration(ns)
        try:
            api.apply(config)
            probe = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "probe-1", "namespace": ns},
            }

            def answered() -> bool:
                retry.call("api", lambda: api.apply(probe, dry_run=True), what="probe webhook")
                return server.policy.probes > 0

            eventually(answered, what="the webhook to be called")
            yield server
        finally:
            api.delete(config["apiVersion"], config["kind"], config["metadata"]["name"])


def test_a_webhook_that_is_not_serving_yet_is_retried_until_it_serves(
    api: kube.Kube, ns: str, webhook: Webhook
) -> None:
    webhook.policy.refuse = 3
    target = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded"}}
    with structlog.testing.capture_logs() as logs:
        result = apply(api, [target], ns, deadline=30)
    assert result.action(f"ConfigMap {ns}/guarded") == "created"
    assert result.retries == webhook.policy.refused == 3
    scheduled = [e for e in logs if e["event"] == "retry.scheduled"]
    assert len(scheduled) == 3
    assert all(NAME in e["error"] for e in scheduled)


def test_a_webhook_that_never_serves_fails_within_the_deadline_naming_it(
    api: kube.Kube, ns: str, webhook: Webhook
) -> None:
    webhook.policy.refuse = -1
    target = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded"}}
    started = time.monotonic()
    with pytest.raises(TemporaryError) as err:
        apply(api, [target], ns, deadline=3)
    assert time.monotonic() - started < 3 + 2  # the deadline, plus one request in flight
    assert f"apply ConfigMap {ns}/guarded: gave up after" in err.value.message
    assert f'failed calling webhook "{NAME}"' in err.value.message
    assert "admission webhook" in err.value.hint


def test_a_webhook_denial_fails_at_once_with_the_servers_message(
    api: kube.Kube, ns: str, webhook: Webhook
) -> None:
    webhook.policy.deny = True
    target = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded"}}
    with pytest.raises(ApiError) as err:
        apply(api, [target], ns)
    assert f"apply ConfigMap {ns}/guarded" in str(err.value)
    assert "denied by the test webhook" in str(err.value)
    assert webhook.policy.allowed == 1


def widget_refs(ns: str, *names: str) -> list[ObjectRef]:
    return [ObjectRef(WIDGET, "Widget", n, ns) for n in names]


def test_a_status_patched_directly_ends_the_wait_through_one_watch(api: kube.Kube, ns: str) -> None:
    apply(api, manifests(ns, "a", "b", "c"), ns)
    ready(api, ns, "a")
    waiting = Background(api, widget_refs(ns, "a", "b", "c"))
    ready(api, ns, "b")
    ready(api, ns, "c")
    assert waiting.result() is None
    assert (waiting.stats.lists, waiting.stats.watches) == (1, 1)
    assert [t.name for t in threading.enumerate() if t.name.startswith("watch ")] == []


def test_a_timeout_names_every_object_still_blocking(api: kube.Kube, ns: str) -> None:
    apply(api, manifests(ns, "a", "b"), ns)
    ready(api, ns, "b", status="False")
    with pytest.raises(GateTimeout) as err:
        watch.await_objects(
            api,
            widget_refs(ns, "a", "b", "ghost"),
            clock=wait.RealClock(),
            deadline=1,
            grace_seconds=60,
            what="widgets",
        )
    assert err.value.blocking == [
        f"Widget {ns}/a: no status yet: its controller has not reconciled it",
        f"Widget {ns}/b: not Ready: Ready=False (Test): set by test",
        f"Widget {ns}/ghost: not found",
    ]


def deployment(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    pod_spec = {
        "nodeSelector": {"no-such-node": "true"},
        "containers": [{"name": "app", "image": "busybox"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            **spec,
        },
    }


def test_a_deployment_past_its_progress_deadline_fails_the_gate_fast(
    api: kube.Kube, ns: str
) -> None:
    apply(api, [deployment(ns, "stuck", progressDeadlineSeconds=1)], ns)
    with pytest.raises(GateFailed) as err:
        watch.await_objects(
            api,
            [ObjectRef("apps/v1", "Deployment", "stuck", ns)],
            clock=wait.RealClock(),
            deadline=60,
            grace_seconds=300,
            what="rollout",
        )
    assert not isinstance(err.value, GateTimeout)
    assert f"Deployment {ns}/stuck: ProgressDeadlineExceeded" in str(err.value)


def crash(api: kube.Kube, ns: str, name: str, phase: str) -> None:
    """Write a container status held in CrashLoopBackOff, as a kubelet would."""
    waiting = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
    status = {
        "name": "app",
        "image": "busybox",
        "imageID": "",
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": waiting},
    }
    api.apply_status(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "status": {"phase": phase, "containerStatuses": [status]},
        }
    )


def test_a_pod_in_crashloopbackoff_fails_the_gate_fast(api: kube.Kube, ns: str) -> None:
    # nodeName "ghost" names no node, so kwok leaves the pod's status to us.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crashy"},
        "spec": {"nodeName": "ghost", "containers": [{"name": "app", "image": "busybox"}]},
    }
    apply(api, [pod], ns)
    crash(api, ns, "crashy", "Running")
    with pytest.raises(GateFailed) as err:
        watch.await_objects(
            api,
            [ObjectRef("v1", "Pod", "crashy", ns)],
            clock=wait.RealClock(),
            deadline=60,
            grace_seconds=300,
            what="pods",
        )
    assert not isinstance(err.value, GateTimeout)
    assert f"Pod {ns}/crashy: container app: CrashLoopBackOff" in str(err.value)


def test_a_deployment_whose_pod_crashes_fails_fast_naming_the_pod(api: kube.Kube, ns: str) -> None:
    apply(api, [deployment(ns, "web")], ns)
    pods: list[dict[str, Any]] = []

    def created() -> bool:
        pods[:] = api.list("v1", "Pod", namespace=ns, label_selector="app=web")[0]
        return bool(pods)

    eventually(created, what="the Deployment's pod")
    name = pods[0]["metadata"]["name"]
    waiting = Background(api, [ObjectRef("apps/v1", "Deployment", "web", ns)], grace_seconds=300)
    crash(api, ns, name, "Pending")
    error = waiting.result()
    assert isinstance(error, GateFailed), error
    assert not isinstance(error, GateTimeout), error
    assert f"Deployment {ns}/web: Pod {ns}/{name}: container app: CrashLoopBackOff" in str(error)


@pytest.fixture(scope="module")
def spare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of our own: its kube-apiserver gets killed."""
    cluster = write_profile(tmp_path_factory.mktemp("victim"), "victim")
    code, out, err = cluster.up()
    assert code == 0, out + err
    yield cluster
    cluster.down()


def test_the_wait_survives_a_killed_apiserver_and_ends_when_ready(spare: LocalCluster) -> None:
    api = spare.kube()
    apply(api, manifests("survive", "phoenix"), "survive")
    waiting = Background(api, widget_refs("survive", "phoenix"), deadline=300)
    pids = spare.state_dir / "local-cluster" / "pids"
    apiserver = read_pid(pids / "kube-apiserver.pid")
    assert apiserver is not None
    os.kill(apiserver, signal.SIGKILL)
    eventually(lambda: waiting.stats.errors >= 1, what="the wait to notice the outage")
    code, out, err = spare.up()  # repairs the cluster: restarts kube-apiserver, waits for it
    assert code == 0, out + err
    retry.call("api", lambda: ready(api, "survive", "phoenix"), what="mark phoenix ready")
    assert waiting.result(120) is None
    assert waiting.stats.lists >= 2, waiting.stats
