"""Named retry policies over tenacity. Retry delays are data; only ``TemporaryError`` retries.

A policy that gives up re-raises the last error unchanged, so the caller's message stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
import tenacity

from bootstrap.errors import TemporaryError

T = TypeVar("T")
log = structlog.get_logger("clusterboot.retry")


@dataclass(frozen=True)
class Policy:
    name: str
    attempts: int
    first_delay: float
    max_delay: float
    multiplier: float = 2.0


POLICIES: dict[str, Policy] = {
    # An API call that hit a webhook not yet serving, a 429/5xx or a dropped connection.
    "api": Policy("api", attempts=8, first_delay=0.25, max_delay=5.0),
    # One read whose connection broke mid-answer (the client library retries the rest itself).
    "api-read": Policy("api-read", attempts=3, first_delay=0.2, max_delay=1.0),
    # A whole stage that failed with a TemporaryError: plan again from fresh observations.
    "stage": Policy("stage", attempts=3, first_delay=1.0, max_delay=10.0),
    # Reaching a host that is booting (SSH on a new VM, a cloud API).
    "host": Policy("host", attempts=10, first_delay=2.0, max_delay=15.0),
}


def call(
    policy: str | Policy,
    fn: Callable[[], T],
    *,
    what: str,
    sleep: Callable[[float], None] | None = None,
    retry_on: tuple[type[BaseException], ...] = (TemporaryError,),
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run ``fn`` under ``policy``; retries only ``retry_on`` errors, each one logged."""
    chosen = POLICIES[policy] if isinstance(policy, str) else policy

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info(
            "retry.scheduled",
            what=what,
            policy=chosen.name,
            attempt=state.attempt_number,
            error=str(error).splitlines()[0] if error else "",
        )
        if on_retry is not None and error is not None:
            on_retry(state.attempt_number, error)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(chosen.attempts),
        wait=tenacity.wait_exponential(
            multiplier=chosen.first_delay, max=chosen.max_delay, exp_base=chosen.multiplier
        ),
        retry=tenacity.retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep or tenacity.nap.sleep,
    )
    return retrying(fn)
