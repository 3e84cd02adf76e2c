"""AWS failures as the detector's own errors: botocore's exceptions go no further than adapters/.

Every AWS call an adapter makes goes through :func:`aws_call`, which raises an
:class:`~detector.errors.AwsCallError` saying whether the failure is throttling, transient or
permanent; the retry policies (:mod:`detector.retry`) classify that error, not the SDK's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import botocore.exceptions

from detector.errors import AwsCallError, ConditionFailed, Failure

_P = ParamSpec("_P")
_T = TypeVar("_T")

# AWS error codes that mean "slow down and try again" (the throttling codes of botocore's
# standard retry mode, "Retry behavior" in the AWS SDKs and Tools reference guide).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
# AWS error codes of a service-side failure that may pass (sent with a 5xx, or sometimes not).
TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServerError",
        "InternalException",
    }
)
# No answer at all: the connection failed, was closed, or timed out.
_NETWORK_ERRORS = (
    botocore.exceptions.HTTPClientError,  # connection closed, read/connect timeouts, proxy
    botocore.exceptions.ConnectionError,  # endpoint unreachable
    ConnectionError,
    TimeoutError,
)
_SDK_ERRORS = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    ConnectionError,
    TimeoutError,
)


def failure_of_code(code: str, status: int = 0) -> Failure:
    """How an AWS error code (and its HTTP status, 0 when unknown) may go if repeated."""
    if code in THROTTLING_CODES or status == 429:
        return Failure.THROTTLING
    if code in TRANSIENT_CODES or status >= 500:
        return Failure.TRANSIENT
    return Failure.PERMANENT


def translate(service: str, exc: BaseException) -> AwsCallError:
    """The detector's error for an SDK or network exception raised by an AWS call."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error") or {})
        meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata") or {})
        code = str(error.get("Code") or "ClientError")
        status = int(meta.get("HTTPStatusCode") or 0)
        if code == "ConditionalCheckFailedException":
            item: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            return ConditionFailed(service, str(exc), item=item)
        return AwsCallError(
            service, code, str(exc), failure=failure_of_code(code, status), status=status or None
        )
    failure = Failure.TRANSIENT if isinstance(exc, _NETWORK_ERRORS) else Failure.PERMANENT
    return AwsCallError(service, type(exc).__name__, str(exc), failure=failure)


def aws_call(service: str, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)``, with any SDK or network failure raised as an AwsCallError.

    ``service`` names the call in the error (``iam.GetAccountSummary``).
    """
    try:
        return fn(*args, **kwargs)
    except _SDK_ERRORS as exc:
        raise translate(service, exc) from exc
