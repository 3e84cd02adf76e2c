"""Retry policies with real exception objects: what is retried, how often, how long. No sleeping."""

from __future__ import annotations

import http.client
import math
import time
import urllib.error
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.exceptions import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from detector import retry
from detector.errors import ExternalServiceError
from detector.retry import AWS_CALL, IAM_VISIBILITY, SLACK_CALL, Policy, RetryEnv


@pytest.fixture(autouse=True)
def _never_really_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"a test tried to really sleep {seconds}s")

    monkeypatch.setattr(time, "sleep", refuse)


# ---------------------------------------------------------------------------------------------
# Real exceptions


def aws_error(code: str, status: int, operation: str = "BatchImportFindings") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1"},
        },
        operation,
    )


def slack_error(
    status: int, error: str | None = None, headers: dict[str, Any] | None = None
) -> SlackApiError:
    data: dict[str, Any] = {"ok": False, "error": error} if error else {"ok": False}
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(f"The request to the Slack API failed. ({error or status})", response)


def ratelimited(after: Any, header: str = "Retry-After") -> SlackApiError:
    return slack_error(429, "ratelimited", {header: str(after)})


def external(*, transient: bool, retry_after: float | None = None) -> ExternalServiceError:
    err = ExternalServiceError("slack.webhook", "HTTP 429", "slow down", transient=transient)
    if retry_after is not None:
        err.retry_after_s = retry_after  # type: ignore[attr-defined]
    return err


TRANSIENT = [
    aws_error("Throttling", 400),
    aws_error("ThrottlingException", 400),
    aws_error("TooManyRequestsException", 429),
    aws_error("RequestLimitExceeded", 400),
    aws_error("LimitExceededException", 429),
    aws_error("InternalFailure", 500),
    aws_error("ServiceUnavailable", 503),
    aws_error("SomethingNew", 502),
    aws_error("SomethingNew", 429),
    slack_error(429, "ratelimited", {"Retry-After": "1"}),
    slack_error(500),
    slack_error(502),
    slack_error(503, "service_unavailable"),
    botocore.exceptions.ReadTimeoutError(endpoint_url="https://iam.amazonaws.com"),
    botocore.exceptions.ConnectTimeoutError(endpoint_url="https://iam.amazonaws.com"),
    botocore.exceptions.EndpointConnectionError(endpoint_url="https://securityhub.amazonaws.com"),
    botocore.exceptions.ConnectionClosedError(endpoint_url="https://iam.amazonaws.com"),
    urllib.error.URLError("timed out"),
    http.client.RemoteDisconnected("Remote end closed connection without response"),
    http.client.IncompleteRead(b"partial"),
    TimeoutError("timed out"),
    TimeoutError("timed out"),
    ConnectionResetError(104, "Connection reset by peer"),
    ConnectionRefusedError(111, "Connection refused"),
    external(transient=True),
]
NOT_TRANSIENT = [
    slack_error(200, "channel_not_found"),
    slack_error(200, "invalid_auth"),
    slack_error(200, "not_in_channel"),
    slack_error(200, "invalid_blocks"),
    slack_error(404, "channel_not_found"),
    aws_error("AccessDenied", 403),
    aws_error("AccessDeniedException", 403),
    aws_error("ValidationException", 400),
    aws_error("InvalidInputException", 400),
    aws_error("NoSuchEntity", 404),
    aws_error("LimitExceeded", 409, "CreateAccessKey"),
    external(transient=False),
    ValueError("bad value"),
    KeyError("Findings"),
]


def _id(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        meta = exc.response["ResponseMetadata"]
        return f"aws-{exc.response['Error']['Code']}-{meta['HTTPStatusCode']}"
    if isinstance(exc, SlackApiError):
        return f"slack-{exc.response.status_code}-{exc.response.get('error')}"
    return type(exc).__name__


@pytest.mark.parametrize("exc", TRANSIENT, ids=_id)
def test_transient_errors(exc: BaseException) -> None:
    assert retry.is_transient(exc) is True


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=_id)
def test_permanent_errors(exc: BaseException) -> None:
    assert retry.is_transient(exc) is False


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
    call = Flaky(aws_error("ThrottlingException", 400), aws_error("InternalFailure", 500))

    assert retry.build(AWS_CALL, env(sleeps))(call) == "ok"

    assert call.calls == 3
    assert len(sleeps) == 2


def test_aws_backoff_is_exponential_with_small_jitter_and_capped() -> None:
    sleeps: list[float] = []
    call = Always(lambda: aws_error("Throttling", 400))
    policy = Policy("test", attempts=8, initial_s=0.2, max_s=5.0)

    with pytest.raises(ClientError):
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


def test_retry_after_header_name_is_case_insensitive() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(4, header="retry-after"), ratelimited("1.5", header="RETRY-AFTER"))

    retry.build(SLACK_CALL, env(sleeps))(call)

    assert sleeps == [4.0, 1.5]


def test_webhook_error_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    call = Flaky(external(transient=True, retry_after=6.0))

    assert retry.build(SLACK_CALL, env(sleeps))(call) == "ok"

    assert sleeps == [6.0]


@pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2026 07:28:00 GMT", "-5", "nan", ""])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    sleeps: list[float] = []
    call = Flaky(slack_error(429, "ratelimited", {"Retry-After": value}))

    assert retry.build(SLACK_CALL, env(sleeps))(call) == "ok"

    assert len(sleeps) == 1
    assert SLACK_CALL.initial_s <= sleeps[0] <= SLACK_CALL.initial_s + 0.1


@pytest.mark.parametrize(
    "error",
    [
        slack_error(200, "channel_not_found"),
        slack_error(200, "invalid_auth"),
        aws_error("AccessDenied", 403),
        aws_error("ValidationException", 400),
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
        (AWS_CALL, lambda: aws_error("ThrottlingException", 400)),
        (AWS_CALL, lambda: botocore.exceptions.ReadTimeoutError(endpoint_url="https://iam")),
        (SLACK_CALL, lambda: slack_error(503)),
        (SLACK_CALL, lambda: ratelimited(1)),
        (IAM_VISIBILITY, lambda: aws_error("Throttling", 400)),
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

    with pytest.raises(SlackApiError):
        retry.build(SLACK_CALL, clock)(call)

    # 12-5 >= 2: sleep; 7-5 >= 2: sleep; 2-5 < 2: stop.
    assert sleeps == [5.0, 5.0]
    assert call.calls == 3


def test_no_retry_when_the_remaining_time_is_below_sleep_plus_margin() -> None:
    sleeps: list[float] = []
    call = Flaky(ratelimited(5))

    with pytest.raises(SlackApiError):
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

    with pytest.raises(SlackApiError) as info:
        retry.build(SLACK_CALL, env(sleeps, max_retry_after_s=30.0))(call)

    assert info.value.response.status_code == 429
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
    call = Flaky(aws_error("Throttling", 400), result=1)
    policy = retry.build_for_result(IAM_VISIBILITY, env(sleeps), lambda present: present == 0)
    assert policy(call) == 1
    assert call.calls == 2

    denied = Flaky(aws_error("AccessDenied", 403), result=1)
    with pytest.raises(ClientError):
        retry.build_for_result(IAM_VISIBILITY, env([]), lambda p: p == 0)(denied)
    assert denied.calls == 1
