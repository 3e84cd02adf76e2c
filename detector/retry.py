"""Every retry policy, by name, and the one "is this transient?" function.

The only retry layer (botocore makes one attempt, Slack's opener none). The policies classify
the detector's own errors, which the adapters raise; they stop before the Lambda's time runs out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from detector import metrics
from detector.errors import ExternalServiceError
from detector.log import get_logger

# Slack `ok: false` errors that mean "our side had trouble, try again" (sent with HTTP 200).
SLACK_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def is_transient(exc: BaseException) -> bool:
    """True when the same call may succeed if repeated: throttling, 5xx, timeouts, network.

    The adapters decide it (``ExternalServiceError.transient``); anything else is not
    transient: Slack ``ok: false`` answers such as ``channel_not_found`` or ``invalid_auth``,
    AWS access denied or validation errors, a bug.
    """
    return isinstance(exc, ExternalServiceError) and exc.transient


def retry_after_s(exc: BaseException | None) -> float | None:
    """The server's Retry-After, in seconds, when the error carries one."""
    if isinstance(exc, ExternalServiceError):
        return exc.retry_after_s
    return None


def retry_after_s_from_headers(headers: Any) -> float | None:
    """Retry-After of a raw HTTP answer (e.g. a webhook's 429)."""
    return _seconds(_header(headers, "Retry-After"))


def _header(headers: Any, name: str) -> Any:
    if not hasattr(headers, "items"):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return value[0] if isinstance(value, list) and value else value
    return None


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class RetryEnv:
    """What every policy needs from the outside world: a sleep and the time left."""

    sleep: Callable[[float], None] = time.sleep
    remaining_s: Callable[[], float] = field(default=lambda: math.inf)
    margin_s: float = 2.0  # keep this much time to report the failure cleanly
    max_retry_after_s: float = 30.0  # a longer Retry-After ends the attempt (-> DLQ, redrive)


@dataclass(frozen=True, slots=True)
class Policy:
    """A named retry policy: how many attempts and how long between them."""

    name: str
    attempts: int
    initial_s: float
    max_s: float
    honour_retry_after: bool = False


AWS_CALL = Policy("aws-call", attempts=5, initial_s=0.2, max_s=5.0)
SLACK_CALL = Policy("slack-call", attempts=6, initial_s=0.5, max_s=10.0, honour_retry_after=True)
# IAM eventual consistency: a brand-new key may take seconds to show in GetAccountSummary.
IAM_VISIBILITY = Policy("iam-visibility", attempts=8, initial_s=0.5, max_s=3.0)
# Another invocation is posting a key's top-level alert: wait a little for its ts.
LEDGER_WAIT = Policy("ledger-wait", attempts=6, initial_s=0.2, max_s=1.0)


def build(policy: Policy, env: RetryEnv) -> Retrying:
    """A tenacity Retrying for ``policy`` that retries transient exceptions only."""
    return Retrying(
        retry=retry_if_exception(is_transient),
        **_common(policy, env),
    )


def build_for_result(
    policy: Policy,
    env: RetryEnv,
    retry_on: Callable[[Any], bool],
    *,
    max_idle_s: float = math.inf,
) -> Retrying:
    """A Retrying that also repeats while ``retry_on(result)`` is true (polling).

    ``max_idle_s`` bounds the total time spent sleeping between attempts; when the policy
    gives up, the last result is returned (the caller decides what "not yet" means).
    """
    common = _common(policy, env)
    common["stop"] = stop_any(
        common["stop"], _StopWhen(lambda rs: rs.idle_for + rs.upcoming_sleep > max_idle_s)
    )
    return Retrying(
        retry=lambda rs: (
            (rs.outcome is not None and rs.outcome.failed and is_transient(_exc(rs)))
            or (rs.outcome is not None and not rs.outcome.failed and retry_on(rs.outcome.result()))
        ),
        retry_error_callback=lambda rs: rs.outcome.result() if rs.outcome else None,
        **common,
    )


class _StopWhen(stop_base):
    """A stop condition from a predicate over the retry state."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


def _exc(rs: RetryCallState) -> BaseException:
    assert rs.outcome is not None  # noqa: S101 - tenacity sets it before calling retry
    exc = rs.outcome.exception()
    assert exc is not None  # noqa: S101
    return exc


def _common(policy: Policy, env: RetryEnv) -> dict[str, Any]:
    backoff = wait_exponential_jitter(multiplier=policy.initial_s, max=policy.max_s, jitter=0.1)

    def wait(rs: RetryCallState) -> float:
        if policy.honour_retry_after and rs.outcome is not None and rs.outcome.failed:
            after = retry_after_s(rs.outcome.exception())
            if after is not None:
                return after
        return float(backoff(rs))

    def out_of_time(rs: RetryCallState) -> bool:
        # Evaluated after the wait is chosen: stop if sleeping would overrun the deadline,
        # or if the server asks for a longer pause than one invocation should spend.
        if rs.upcoming_sleep > env.max_retry_after_s:
            return True
        return env.remaining_s() - rs.upcoming_sleep < env.margin_s

    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome is not None and rs.outcome.failed else None
        if policy is SLACK_CALL:
            metrics.count(metrics.SLACK_RETRIES)
        get_logger().warning(
            "retrying",
            extra={
                "policy": policy.name,
                "attempt": rs.attempt_number,
                "wait_s": round(rs.upcoming_sleep, 3),
                "error_type": type(exc).__name__ if exc else None,
                "error_code": error_code(exc) if exc else None,
            },
        )

    return {
        "stop": stop_any(stop_after_attempt(policy.attempts), _StopWhen(out_of_time)),
        "wait": wait,
        "sleep": env.sleep,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def error_code(exc: BaseException) -> str:
    """The most specific code an error carries: AWS code, Slack error, HTTP status, or type."""
    return exc.code if isinstance(exc, ExternalServiceError) else type(exc).__name__
