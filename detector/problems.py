"""What stops a command from working at all (credentials, a missing table or queue, an endpoint
that cannot be reached), said in one line a user can act on."""

from __future__ import annotations

import os

from detector import retry
from detector.errors import ExternalServiceError

# Errors that mean "these credentials cannot sign anything": botocore found none, or AWS
# refused them (codes from the AWS error references of STS, DynamoDB, SQS and IAM).
CREDENTIAL_ERRORS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "NoAuthTokenError",
        "UnauthorizedSSOTokenError",
        "SSOTokenLoadError",
        "TokenRetrievalError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AuthFailure",
    }
)
# botocore's errors for an endpoint that cannot be reached (not a slow answer).
UNREACHABLE_ERRORS = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ProxyConnectionError", "SSLError"}
)
MISSING_QUEUE_ERRORS = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})
_MAX_DETAIL = 200


def environment_problem(
    exc: BaseException, *, ledger_table: str | None = None, queue_url: str | None = None
) -> str | None:
    """One line saying what must be fixed before anything can work, or None for any other error.

    ``ledger_table`` and ``queue_url`` name what the command was told to use.
    """
    code = retry.error_code(exc)
    service = exc.service if isinstance(exc, ExternalServiceError) else ""
    if code == "ProfileNotFound":
        profile = os.environ.get("AWS_PROFILE", "")
        return f"AWS_PROFILE: no profile {profile!r} in the AWS config or credentials files"
    if code in CREDENTIAL_ERRORS:
        return (
            f"AWS credentials: none found or not accepted ({code}). Set AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them."
        )
    if code in UNREACHABLE_ERRORS:
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
        where = f"AWS_ENDPOINT_URL {endpoint}" if endpoint else "the AWS endpoint"
        return f"cannot reach {where} ({code}): {_detail(exc)}"
    if code in MISSING_QUEUE_ERRORS:
        return f"--queue-url: no such queue: {queue_url or _detail(exc)}"
    if code == "ResourceNotFoundException" and service.startswith("dynamodb"):
        table = f" {ledger_table!r}" if ledger_table else ""
        return (
            f"LEDGER_TABLE: the DynamoDB table{table} does not exist in this account and region "
            "(AWS_REGION)"
        )
    return None


def one_line(exc: BaseException) -> str:
    """An error as one short line (its type when it says nothing)."""
    return _detail(exc) or type(exc).__name__


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
