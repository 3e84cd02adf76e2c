"""The AWS adapters' errors: botocore's real exceptions become AwsCallErrors with the right code
and kind (throttling, transient, permanent), which is all the retry policies look at."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from detector import retry
from detector.adapters.aws_errors import aws_call, translate
from detector.errors import AwsCallError, ConditionFailed, Failure


def client_error(code: str, status: int, operation: str = "GetAccountSummary") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1"},
        },
        operation,
    )


CASES = [
    (client_error("Throttling", 400), "Throttling", Failure.THROTTLING),
    (client_error("ThrottlingException", 400), "ThrottlingException", Failure.THROTTLING),
    (client_error("TooManyRequestsException", 429), "TooManyRequestsException", Failure.THROTTLING),
    (client_error("RequestLimitExceeded", 400), "RequestLimitExceeded", Failure.THROTTLING),
    (client_error("LimitExceededException", 429), "LimitExceededException", Failure.THROTTLING),
    (client_error("SomethingNew", 429), "SomethingNew", Failure.THROTTLING),
    (client_error("InternalFailure", 500), "InternalFailure", Failure.TRANSIENT),
    (client_error("ServiceUnavailable", 503), "ServiceUnavailable", Failure.TRANSIENT),
    (client_error("SomethingNew", 502), "SomethingNew", Failure.TRANSIENT),
    (
        ReadTimeoutError(endpoint_url="https://iam.amazonaws.com"),
        "ReadTimeoutError",
        Failure.TRANSIENT,
    ),
    (
        ConnectTimeoutError(endpoint_url="https://iam.amazonaws.com"),
        "ConnectTimeoutError",
        Failure.TRANSIENT,
    ),
    (
        EndpointConnectionError(endpoint_url="https://securityhub.amazonaws.com"),
        "EndpointConnectionError",
        Failure.TRANSIENT,
    ),
    (
        ConnectionClosedError(endpoint_url="https://iam.amazonaws.com"),
        "ConnectionClosedError",
        Failure.TRANSIENT,
    ),
    (
        ConnectionResetError(104, "Connection reset by peer"),
        "ConnectionResetError",
        Failure.TRANSIENT,
    ),
    (TimeoutError("timed out"), "TimeoutError", Failure.TRANSIENT),
    (client_error("AccessDenied", 403), "AccessDenied", Failure.PERMANENT),
    (client_error("AccessDeniedException", 403), "AccessDeniedException", Failure.PERMANENT),
    (client_error("ValidationException", 400), "ValidationException", Failure.PERMANENT),
    (client_error("NoSuchEntity", 404), "NoSuchEntity", Failure.PERMANENT),
    # IAM's LimitExceeded (a user's third key) is a quota, not throttling.
    (client_error("LimitExceeded", 409, "CreateAccessKey"), "LimitExceeded", Failure.PERMANENT),
    (NoCredentialsError(), "NoCredentialsError", Failure.PERMANENT),
    (ParamValidationError(report="Findings: invalid"), "ParamValidationError", Failure.PERMANENT),
]


@pytest.mark.parametrize(
    ("exc", "code", "failure"), CASES, ids=[c[1] + "-" + c[2].value for c in CASES]
)
def test_sdk_failures_become_aws_call_errors_of_the_right_kind(
    exc: Exception, code: str, failure: Failure
) -> None:
    def call() -> None:
        raise exc

    with pytest.raises(AwsCallError) as raised:
        aws_call("iam.GetAccountSummary", call)

    error = raised.value
    assert (error.code, error.failure, error.service) == (code, failure, "iam.GetAccountSummary")
    assert retry.is_transient(error) is (failure is not Failure.PERMANENT)
    assert error.__cause__ is exc  # the SDK's exception stays at hand for a traceback


def test_an_aws_error_keeps_its_http_status() -> None:
    assert translate("iam.X", client_error("AccessDenied", 403)).status == 403
    assert translate("iam.X", NoCredentialsError()).status is None


def test_a_failed_condition_carries_the_item_as_it_stood() -> None:
    exc = ClientError(
        {
            "Error": {"Code": "ConditionalCheckFailedException", "Message": "The condition failed"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
            "Item": {"status": {"S": "DONE"}},
        },
        "UpdateItem",
    )

    error = translate("dynamodb.ledger.update_item", exc)

    assert isinstance(error, ConditionFailed)
    assert error.item == {"status": {"S": "DONE"}}
    assert retry.is_transient(error) is False


def test_other_failures_pass_through_untouched() -> None:
    def call() -> None:
        raise KeyError("SummaryMap")

    with pytest.raises(KeyError):
        aws_call("iam.GetAccountSummary", call)


def test_a_successful_call_returns_its_answer() -> None:
    assert aws_call("sts.GetCallerIdentity", lambda **kw: kw, Account="1") == {"Account": "1"}
