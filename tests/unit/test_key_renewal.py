"""After a restore, a real Sealed Secrets controller renews a key older than its renewal period
at once: the period read from its flags, and whether renewal is due, as tables."""

from __future__ import annotations

import time

import pytest

from bootstrap.components.sealed_secrets import sealing
from tests.integration.sealing_keys import key_secret

DAY = 86400.0


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        ([], 30 * DAY),  # the controller's default
        (["--key-renew-period=720h"], 30 * DAY),
        (["--key-renew-period=1h30m"], 5400.0),
        (["--key-renew-period=0"], 0.0),
        (["--key-renew-period=90s", "--other=1"], 90.0),
        (["--key-renew-period=ten days"], 30 * DAY),  # unreadable: assume the default
    ],
)
def test_the_renewal_period_comes_from_the_controller_flags(
    args: list[str], seconds: float
) -> None:
    assert sealing.renew_period(args) == seconds


@pytest.mark.parametrize(
    ("ages_in_days", "period", "due"),
    [
        ([1], 30 * DAY, False),  # a fresh key: nothing to wait for
        ([40], 30 * DAY, True),
        ([40, 2], 30 * DAY, False),  # already renewed
        ([40], 0.0, False),  # renewal off
        ([], 30 * DAY, False),
    ],
)
def test_renewal_is_due_when_the_newest_restored_key_is_past_the_period(
    ages_in_days: list[int], period: float, due: bool
) -> None:
    keys = [
        key_secret(f"k{i}", "kube-system", days_later=-age) for i, age in enumerate(ages_in_days)
    ]
    why = sealing.renewal_due(keys, now=time.time(), period=period)
    assert (why is not None) is due
    if why:
        assert "renewal period" in why
