"""One connection shared by stages running side by side: a kind looked up in one thread while
another refreshes discovery (as the Argo CD stage does after its CRDs are Established). The
dynamic client's cache is not thread-safe (a refresh empties it under a running lookup, which
then raised KeyError('resources')), so the two must not overlap."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bootstrap import kube

pytestmark = pytest.mark.integration


def test_a_discovery_refresh_waits_for_a_lookup_in_progress(
    api: kube.Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    discoverer = api.dyn.resources
    original = discoverer.get
    inside, release = threading.Event(), threading.Event()

    def slow_get(**kwargs: Any) -> Any:
        inside.set()
        release.wait(10)
        return original(**kwargs)

    monkeypatch.setattr(discoverer, "get", slow_get)
    found: list[Any] = []
    lookup = threading.Thread(target=lambda: found.append(api.resource("v1", "Pod")))
    lookup.start()
    assert inside.wait(10)
    refresh = threading.Thread(target=api.refresh_discovery)
    refresh.start()
    refresh.join(0.5)
    overlapped = not refresh.is_alive()
    release.set()
    lookup.join(30)
    refresh.join(30)
    assert not overlapped, "discovery was refreshed in the middle of a lookup"
    assert [r.kind for r in found] == ["Pod"]
