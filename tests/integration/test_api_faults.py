"""The API client through the fault proxy (tests/faults/proxy.py) in front of the real local
control plane: a watch cut mid-stream misses no object created or deleted meanwhile; a batch of
applies and the wait on them converge at a 20 % fault rate; a server that answers only 429
makes a read give up after bounded retries that honour Retry-After. The whole `up` at 5 % and
20 % is bench/api_faults.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import kube, wait
from bootstrap.errors import TemporaryError
from bootstrap.kube import watch
from bootstrap.kube.client import ObjectRef
from tests.faults.proxy import FaultProxy, Faults
from tests.integration.localcluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def through(local_cluster: LocalCluster, tmp_path: Path) -> Iterator[list[FaultProxy]]:
    """Proxies started by a test, all stopped after it."""
    started: list[FaultProxy] = []
    yield started
    for proxy in started:
        proxy.stop()


def proxied(
    local_cluster: LocalCluster,
    tmp_path: Path,
    started: list[FaultProxy],
    faults: Faults,
    *,
    request_timeout: float = 30.0,
) -> kube.Kube:
    proxy = FaultProxy(local_cluster.kubeconfig, faults).start()
    started.append(proxy)
    path = proxy.write_kubeconfig(tmp_path / f"proxy-{len(started)}.kubeconfig")
    return kube.Kube.connect(path, request_timeout=request_timeout)


def namespace(api: kube.Kube, name: str) -> str:
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def config_map(name: str, ns: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}


def test_a_watch_cut_mid_stream_misses_no_object_created_or_deleted_meanwhile(
    local_cluster: LocalCluster, api: kube.Kube, tmp_path: Path, through: list[FaultProxy]
) -> None:
    ns = namespace(api, f"faults-watch-{int(time.time())}")
    faults = Faults(1.0, seed=7, kinds=("reset", "half-close"), watches_only=True)
    faults.cut_after = (0.3, 1.5)
    cut = proxied(local_cluster, tmp_path, through, faults)
    store, stats, cancel = watch.Collections(), watch.Stats(), kube.Cancel()
    key: watch.Key = ("v1", "ConfigMap", ns)
    follower = watch.Follower(cut, key, store=store, stats=stats, cancel=cancel)
    follower.start()
    try:
        expected: set[str] = {"kube-root-ca.crt"}
        for number in range(40):  # writes straight to the API server, not through the proxy
            api.apply(config_map(f"cm-{number}", ns))
            expected.add(f"cm-{number}")
            if number % 7 == 6:
                api.delete("v1", "ConfigMap", f"cm-{number - 3}", ns)
                expected.discard(f"cm-{number - 3}")
            time.sleep(0.15)

        def seen() -> set[str]:
            with store.signal.changed:
                return set(store.objects.get(key, {}))

        give_up = time.monotonic() + 60
        while seen() != expected and time.monotonic() < give_up:
            store.signal.wait(store.signal.version, 0.5)
    finally:
        cancel.set()
        follower.join(timeout=5)

    assert seen() == expected
    assert sum(faults.injected.values()) >= 2, faults.summary()
    assert stats.errors >= 2  # the cuts were noticed, and each was recovered from
    assert store.fatal is None


@pytest.mark.parametrize("seed", [1, 2])
def test_applies_and_the_wait_on_them_converge_through_20_percent_faults(
    seed: int,
    local_cluster: LocalCluster,
    api: kube.Kube,
    tmp_path: Path,
    through: list[FaultProxy],
) -> None:
    ns = f"faults-apply-{seed}-{int(time.time())}"
    faults = Faults(0.20, seed=seed, stall_seconds=6.0)
    flaky = proxied(local_cluster, tmp_path, through, faults, request_timeout=5.0)
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    docs += [{**config_map(f"settings-{n}", ns), "data": {"n": str(n)}} for n in range(15)]
    clock = wait.RealClock()

    result = kube.apply_manifests(flaky, docs, namespace=ns, clock=clock, deadline=120)
    refs = [ObjectRef("v1", "ConfigMap", f"settings-{n}", ns) for n in range(15)]
    watch.await_objects(flaky, refs, clock=clock, deadline=60, grace_seconds=30, what="config maps")

    assert len(result.objects) == 16  # (a write the server did and the proxy said failed
    # reads "unchanged" on its retry: the outcome, not the action, is what must be right)
    found = {
        c["metadata"]["name"]: c["data"]
        for c in api.list("v1", "ConfigMap", namespace=ns)[0]
        if c["metadata"]["name"] != "kube-root-ca.crt"
    }
    assert found == {f"settings-{n}": {"n": str(n)} for n in range(15)}
    assert sum(faults.injected.values()) >= 3, faults.summary()


def test_a_server_that_only_answers_429_makes_a_read_give_up_after_bounded_retries(
    local_cluster: LocalCluster, tmp_path: Path, through: list[FaultProxy]
) -> None:
    faults = Faults(1.0, seed=1, kinds=("429",))
    busy = proxied(local_cluster, tmp_path, through, faults)
    started = time.monotonic()

    with pytest.raises(TemporaryError, match="429"):
        busy.server_version()

    took = time.monotonic() - started
    assert faults.injected["429"] == 5  # the first try and four retries, no more
    assert 4.0 <= took < 20.0  # each retry waited the Retry-After: 1 it was given


def test_a_token_not_the_proxys_goes_to_the_api_server_which_refuses_a_wrong_one(
    local_cluster: LocalCluster, tmp_path: Path, through: list[FaultProxy]
) -> None:
    proxy = FaultProxy(local_cluster.kubeconfig, Faults(0.0, seed=1)).start()
    through.append(proxy)
    text = proxy.kubeconfig().replace(proxy.token, "not-the-token")
    path = tmp_path / "wrong.kubeconfig"
    path.write_text(text)
    with pytest.raises(Exception, match="401"):
        kube.Kube.connect(path).server_version()
