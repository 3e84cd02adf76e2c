"""Retry policies over the detector's own errors: what is retried, how often, how long. No sleeping.

The adapters turn SDK and network failures into these errors (tests/unit/test_aws_errors.py for
AWS, tests/unit/test_slack_answers.py for Slack); the policies classify only them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from detector import metrics, retry
from detector.errors import (
    AlertDeliveryError,
    AwsCallError,
    ConditionFailed,
    ExternalServiceError,
    Failure,
    FindingImportError,
)
from detector.retry import AWS_CALL, IAM_VISIBILITY, SLACK_CALL, Policy, RetryEnv


@pytest.fixture(autouse=True)
def _never_really_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a test tried to really sleep {seconds}s")

    monkeypatch.setattr(time, "sleep", refuse)


# ---------------------------------------------------------------------------------------------
# The errors the adapters raise


def aws_error(code: str, failure: Failure, status: int = 400) -> AwsCallError:
    return AwsCallError(
        "iam.GetAccountSummary", code, f"{code} happened", failure=failure, status=status
    )


def throttled() -> AwsCallError:
    return aws_error("ThrottlingException", Failure.THROTTLING)


def slack_error(
    code: str, *, transient: bool, retry_after: float | None = None
) -> AlertDeliveryError:
    return AlertDeliveryError(
        "slack.chat.postMessage",
        code,
        f"Slack answered {code}",
        transient=transient,
        retry_after_s=retry_after,
    )


def ratelimited(after: float | None) -> AlertDeliveryError:
    return slack_error("ratelimited", transient=True, retry_after=after)


def external(*, transient: bool, retry_after: float | None = None) -> ExternalServiceError:
    return ExternalServiceError(
        "slack.webhook", "HTTP 429", "slow down", transient=transient, retry_after_s=retry_after
    )


TRANSIENT = [
    throttled(),
    aws_error("InternalFailure", Failure.TRANSIENT, 500),
    aws_error("ReadTimeoutError", Failure.TRANSIENT, 0),
    FindingImportError(
        "securityhub.BatchImportFindings", "ThrottlingException", "slow", transient=True
    ),
    ratelimited(1),
    slack_error("HTTP 503", transient=True),
    external(transient=True),
]
NOT_TRANSIENT = [
    aws_error("AccessDenied", Failure.PERMANENT, 403),
    aws_error("ValidationException", Failure.PERMANENT),
    aws_error("NoCredentialsError", Failure.PERMANENT, 0),
    ConditionFailed("dynamodb.ledger.update_item", "condition", item={}),
    slack_error("channel_not_found", transient=False),
    slack_error("invalid_auth", transient=False),
    external(transient=False),
    # Anything the adapters did not raise is a bug, not a reason to call again.
    ValueError("bad value"),
    KeyError("Findings"),
    TimeoutError("timed out"),
    ConnectionResetError(104, "Connection reset by peer"),
]


def _id(exc: BaseException) -> str:
    if isinstance(exc, ExternalServiceError):
        return f"{type(exc).__name__}-{exc.code}"
    return type(exc).__name__


@pytest.mark.parametrize("exc", TRANSIENT, ids=_id)
def test_transient_errors(exc: BaseException) -> None:
    assert retry.is_transient(exc) is True


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=_id)
def test_permanent_errors(exc: BaseException) -> None:
    assert retry.is_transient(exc) is False


def test_error_code_is_the_code_the_adapter_kept() -> None:
    assert retry.error_code(aws_error("AccessDenied", Failure.PERMANENT, 403)) == "AccessDenied"
    assert retry.error_code(slack_error("invalid_auth", transient=False)) == "invalid_auth"
    assert retry.error_code(ValueError("x")) == "ValueError"


def test_an_sdk_error_the_adapters_did_not_translate_is_not_retried() -> None:
    # The adapters raise the detector's own errors; botocore's own are a bug to surface at once.
    slow = ClientError(
        {
            "Error": {"Code": "SlowDown", "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": 503},
        },
        "GetObject",
    )
    sleeps: list[float] = []
    call = Flaky(slow)

    with pytest.raises(ClientError):
        retry.build(AWS_CALL, env(sleeps))(call)

    assert (call.calls, sleeps, retry.error_code(slow)) == (1, [], "ClientError")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "4"}, 4.0),
        ({"RETRY-AFTER": "1.5"}, 1.5),
        ({"Retry-After": ["3"]}, 3.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_header_is_read_case_insensitively_and_only_when_usable(
    headers: dict[str, Any], seconds: float | None
) -> None:
    assert retry.retry_after_s_from_headers(headers) == seconds


# ---------------------------------------------------------------------------------------------
# Policies on a plain callable


class Flaky:
    """Raises ``errors`` one per call, then returns ``result``; counts calls."""

    def __init__(self, *errors: BaseException, result: Any = "ok") -> None:
        self.errors: Iterator[BaseException] = iter(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        err = next(self.errors, None)
        if err is not None:
            raise err
        return self.result


class Always:
    """Raises a fresh error from ``make`` on every call."""

    def __init__(self, make: Callable[[], BaseException]) -> None:
        self.make = make
        self.calls = 0
        self.raised: list[BaseException] = []

    def __call__(self) -> Any:
        self.calls += 1
        err = self.make()
        self.raised.append(err)
        raise err


def env(
    sleeps: list[float], remaining: Callable[[], float] = lambda: math.inf, **kw: Any
) -> RetryEnv:
    return RetryEnv(sleep=sleeps.append, remaining_s=remaining, **kw)


def test_transient_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    call = Flaky(throttled(), aws_error("InternalFailure", Failure.TRANSIENT, 500))

    assert retry.build(AWS_CALL, env(sleeps))(call) == "ok"

    assert call.calls == 3
    assert len(sleeps) == 2


def test_aws_backoff_is_exponential_with_small_jitter_and_capped() -> None:
    sleeps: list[float] = []
    call = Always(throttled)
    policy = Policy("test", attempts=8, initial_s=0.2, max_s=5.0)

    with pytest.raises(AwsCallError):
        retry.build(policy, env(sleeps))(call)

    assert call.calls == 8
    expected = [min(0.2 * 2**n, 5.0) for n in range(7)]
    assert len(sleeps) == 7
    for got, base in zip(sleeps, expected, strict=True):
        assert base <= got <= min(base + 0.1, 5.0)


def test_retry_after_is_honoured_exactly() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(7), ratelimited(3))

    assert retry.build(SLACK_CALL, env(sleeps))(call) == "ok"

    assert sleeps == [7.0, 3.0]
    assert call.calls == 3


def test_webhook_error_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    call = Flaky(external(transient=True, retry_after=6.0))

    assert retry.build(SLACK_CALL, env(sleeps))(call) == "ok"

    assert sleeps == [6.0]


def test_without_a_retry_after_the_backoff_is_used() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(None))

    assert retry.build(SLACK_CALL, env(sleeps))(call) == "ok"

    assert len(sleeps) == 1
    assert SLACK_CALL.initial_s <= sleeps[0] <= SLACK_CALL.initial_s + 0.1


@pytest.mark.parametrize(
    "error",
    [
        slack_error("channel_not_found", transient=False),
        slack_error("invalid_auth", transient=False),
        aws_error("AccessDenied", Failure.PERMANENT, 403),
        aws_error("ValidationException", Failure.PERMANENT),
        external(transient=False),
    ],
    ids=_id,
)
@pytest.mark.parametrize("policy", [AWS_CALL, SLACK_CALL, IAM_VISIBILITY], ids=lambda p: p.name)
def test_permanent_errors_are_not_retried(error: BaseException, policy: Policy) -> None:
    sleeps: list[float] = []
    call = Flaky(error)

    with pytest.raises(type(error)) as info:
        retry.build(policy, env(sleeps))(call)

    assert info.value is error  # the original error, with its code, not a wrapper
    assert call.calls == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("policy", "make"),
    [
        (AWS_CALL, throttled),
        (AWS_CALL, lambda: aws_error("ReadTimeoutError", Failure.TRANSIENT, 0)),
        (SLACK_CALL, lambda: slack_error("HTTP 503", transient=True)),
        (SLACK_CALL, lambda: ratelimited(1)),
        (IAM_VISIBILITY, lambda: aws_error("Throttling", Failure.THROTTLING)),
    ],
    ids=["aws-throttling", "aws-timeout", "slack-503", "slack-429", "iam-visibility"],
)
def test_gives_up_after_the_policys_attempts(
    policy: Policy, make: Callable[[], BaseException]
) -> None:
    sleeps: list[float] = []
    call = Always(make)

    with pytest.raises(type(call.make())) as info:
        retry.build(policy, env(sleeps))(call)

    assert call.calls == policy.attempts
    assert len(sleeps) == policy.attempts - 1
    assert info.value is call.raised[-1]


def test_declared_attempt_counts() -> None:
    assert (AWS_CALL.attempts, SLACK_CALL.attempts, IAM_VISIBILITY.attempts) == (5, 6, 8)
    assert SLACK_CALL.honour_retry_after


def test_stops_before_a_sleep_that_would_overrun_the_deadline() -> None:
    sleeps: list[float] = []
    budget = 12.0
    call = Always(lambda: ratelimited(5))
    # The clock advances only by what the policy sleeps.
    clock = env(sleeps, remaining=lambda: budget - sum(sleeps), margin_s=2.0)

    with pytest.raises(AlertDeliveryError):
        retry.build(SLACK_CALL, clock)(call)

    # 12-5 >= 2: sleep; 7-5 >= 2: sleep; 2-5 < 2: stop.
    assert sleeps == [5.0, 5.0]
    assert call.calls == 3


def test_no_retry_when_the_remaining_time_is_below_sleep_plus_margin() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(5))

    with pytest.raises(AlertDeliveryError):
        retry.build(SLACK_CALL, env(sleeps, remaining=lambda: 6.9, margin_s=2.0))(call)

    assert call.calls == 1
    assert sleeps == []


def test_retry_when_the_remaining_time_covers_sleep_plus_margin() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(5))

    assert retry.build(SLACK_CALL, env(sleeps, remaining=lambda: 7.0, margin_s=2.0))(call) == "ok"

    assert sleeps == [5.0]


def test_retry_after_longer_than_the_maximum_ends_the_attempt() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(31))

    with pytest.raises(AlertDeliveryError) as info:
        retry.build(SLACK_CALL, env(sleeps, max_retry_after_s=30.0))(call)

    assert info.value.code == "ratelimited"
    assert call.calls == 1
    assert sleeps == []


def test_retry_after_at_the_maximum_is_waited() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(30))

    assert retry.build(SLACK_CALL, env(sleeps, max_retry_after_s=30.0))(call) == "ok"

    assert sleeps == [30.0]


def test_success_on_first_try_never_sleeps() -> None:
    sleeps: list[float] = []
    call = Flaky()
    assert retry.build(AWS_CALL, env(sleeps))(call) == "ok"
    assert (call.calls, sleeps) == (1, [])


# ---------------------------------------------------------------------------------------------
# Polling for a result (IAM eventual consistency)


def test_polling_repeats_until_the_result_is_ready() -> None:
    sleeps: list[float] = []
    answers = iter([0, 0, 1])
    calls: list[int] = []

    def summary() -> int:
        calls.append(1)
        return next(answers)

    policy = retry.build_for_result(IAM_VISIBILITY, env(sleeps), lambda present: present == 0)

    assert policy(summary) == 1
    assert len(calls) == 3
    assert len(sleeps) == 2


def test_polling_returns_the_last_result_when_it_gives_up() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def summary() -> int:
        calls.append(1)
        return 0

    policy = retry.build_for_result(IAM_VISIBILITY, env(sleeps), lambda present: present == 0)

    assert policy(summary) == 0
    assert len(calls) == IAM_VISIBILITY.attempts


def test_polling_is_bounded_by_max_idle() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def summary() -> int:
        calls.append(1)
        return 0

    policy = retry.build_for_result(
        IAM_VISIBILITY, env(sleeps), lambda present: present == 0, max_idle_s=2.0
    )

    assert policy(summary) == 0
    assert sum(sleeps) <= 2.0
    assert len(calls) < IAM_VISIBILITY.attempts


def test_polling_retries_transient_errors_and_raises_permanent_ones() -> None:
    sleeps: list[float] = []
    call = Flaky(aws_error("Throttling", Failure.THROTTLING), result=1)
    policy = retry.build_for_result(IAM_VISIBILITY, env(sleeps), lambda present: present == 0)
    assert policy(call) == 1
    assert call.calls == 2

    denied = Flaky(aws_error("AccessDenied", Failure.PERMANENT, 403), result=1)
    with pytest.raises(AwsCallError):
        retry.build_for_result(IAM_VISIBILITY, env([]), lambda p: p == 0)(denied)
    assert denied.calls == 1


def test_each_slack_retry_is_counted_in_the_invocations_metrics() -> None:
    metrics.RECORDER.document("test")  # start from nothing
    assert retry.build(SLACK_CALL, env([]))(Flaky(ratelimited(1.0), ratelimited(1.0))) == "ok"
    assert retry.build(AWS_CALL, env([]))(Flaky(external(transient=True))) == "ok"

    doc = metrics.RECORDER.document("test")
    assert doc is not None
    assert doc["SlackRetries"] == 2  # the AWS retry is not a Slack one
