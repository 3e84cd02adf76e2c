"""The detector's exception hierarchy: every failure it raises is a DetectorError."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar


class DetectorError(Exception):
    """Base class of every error the detector raises on purpose."""


class ConfigError(DetectorError):
    """An environment variable is missing or invalid; raised once, at start-up."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class EventParseError(DetectorError):
    """The input is not a CloudTrail record (or envelope/log file of them).

    ``path`` is the JSON path of the offending value, e.g. ``$.detail.eventTime``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ExternalServiceError(DetectorError):
    """A call to AWS or Slack failed after its retry policy gave up.

    ``service`` names the call (``iam.GetAccountSummary``, ``slack.chat.postMessage``);
    ``code`` keeps the AWS error code, the Slack ``error`` field or the HTTP status.
    """

    def __init__(
        self,
        service: str,
        code: str,
        message: str,
        *,
        transient: bool,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{service} failed ({code}): {message}")
        self.service = service
        self.code = code
        self.transient = transient
        self.retry_after_s = retry_after_s  # the server's Retry-After, when it sent one


class Failure(Enum):
    """What a failed AWS call may do if it is made again."""

    THROTTLING = "throttling"  # AWS asked to slow down: the same call succeeds later
    TRANSIENT = "transient"  # a 5xx, a timeout or a dropped connection: it may pass
    PERMANENT = "permanent"  # denied, invalid, missing: repeating it changes nothing


class AwsCallError(ExternalServiceError):
    """An AWS call failed; the adapters raise it in place of the SDK's exceptions.

    ``code`` is AWS's error code, or the SDK's exception name when AWS never answered
    (``EndpointConnectionError``, ``NoCredentialsError``); ``status`` the HTTP status if any;
    ``detail`` the SDK's own text.
    """

    def __init__(
        self, service: str, code: str, message: str, *, failure: Failure, status: int | None = None
    ) -> None:
        super().__init__(service, code, message, transient=failure is not Failure.PERMANENT)
        self.failure = failure
        self.status = status
        self.detail = message


class ConditionFailed(AwsCallError):
    """DynamoDB refused a conditional write; ``item`` is the item as it stood when asked for."""

    def __init__(self, service: str, message: str, *, item: dict[str, Any]) -> None:
        super().__init__(
            service, "ConditionalCheckFailedException", message, failure=Failure.PERMANENT
        )
        self.item = item


class LedgerBusy(ExternalServiceError):
    """Another invocation holds the event or the key's alert right now (retry later)."""


class FindingImportError(ExternalServiceError):
    """Security Hub answered BatchImportFindings with FailedCount > 0."""


class AlertDeliveryError(ExternalServiceError):
    """Slack refused or never accepted the alert.

    Built from the failure's type, Slack's error code or the HTTP status only: the text of an
    error from the HTTP layer may quote the token or the webhook URL, so it is never kept, and
    the original exception is not chained (neither ``__cause__`` nor ``__context__``).
    ``maybe_delivered``: the request was sent but its answer never came (a read timeout, a
    dropped connection): Slack may have posted it, so it must not simply be posted again.
    """

    maybe_delivered: bool = False


class RedirectRefused(AlertDeliveryError):
    """Slack's host answered with a redirect: never followed, since the request carries the
    bot token (or is addressed by the webhook URL) and would take it to another host."""


class SecretError(DetectorError):
    """The Slack secret could not be read or has an unusable shape.

    The message names the secret (its id) and the problem; never the value, and no exception
    that might hold the value is chained to it.
    """

    def __init__(self, secret_id: str, problem: str) -> None:
        super().__init__(f"secret {secret_id!r} {problem}")
        self.secret_id = secret_id
        self.problem = problem


class RecordsFailed(DetectorError):
    """Some records of a multi-record input failed (each was tried; the input is retried)."""

    def __init__(self, failures: list[DetectorError], outcomes: Sequence[object]) -> None:
        names = "; ".join(f"{type(e).__name__}: {e}" for e in failures[:5])
        super().__init__(f"{len(failures)} record(s) failed: {names}")
        self.failures = failures
        self.outcomes = outcomes  # the records that were handled


class UnfileableEvent(DetectorError):
    """A root key event whose finding cannot be filed: a field it needs is not sound.

    Slack was told (the alert names the field); the event fails, for the dead-letter queue and
    its alarm, where an operator checks the record.
    """

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(f"event {event_id}: no finding filed: {reason}")
        self.reason = reason


class _HasEventId(Protocol):
    event_id: str


_Outcome = TypeVar("_Outcome", bound=_HasEventId)
_Summary = TypeVar("_Summary")


class PipelineError(DetectorError, Generic[_Outcome]):
    """One or more steps failed after their retries; the event must be retried or redriven.

    ``outcome`` records what did succeed (e.g. the finding imported, Slack failed); the
    ledger remembers it too, so a redrive completes only what is missing.
    """

    def __init__(self, outcome: _Outcome, failures: list[Exception]) -> None:
        steps = "; ".join(f"{type(e).__name__}: {e}" for e in failures)
        super().__init__(f"event {outcome.event_id}: {steps}")
        self.outcome = outcome
        self.failures = failures


class SweepError(DetectorError, Generic[_Summary]):
    """Every account was swept, but an alert, refresh or resolution failed: retry the sweep.

    ``failed`` names each such account with what went wrong; ``summary`` is the whole sweep.
    """

    def __init__(self, summary: _Summary, failed: Sequence[tuple[str, str]]) -> None:
        names = ", ".join(f"{account} ({detail})" for account, detail in failed[:10])
        super().__init__(f"sweep: {len(failed)} account(s) not fully handled: {names}")
        self.summary = summary


class UnreadableMessage(DetectorError):
    """A dead-letter message whose body cannot be decoded (it is left in the queue, counted)."""


class ArchiveError(DetectorError):
    """A CloudTrail archive in S3, or one of its objects, cannot be read after the retries."""


class StackError(DetectorError):
    """A deployed stack, its function or its queue cannot be read, or is not a detector's."""


class NotRootKey(DetectorError):
    """A removal refused before any deletion: IAM does not list the key among the account's
    root user's access keys (in the delete session's ListAccessKeys)."""

    def __init__(self, account_id: str, key_id: str) -> None:
        super().__init__(f"{key_id} is not an access key of the root user of {account_id}")
        self.account_id = account_id
        self.key_id = key_id


class Stop(DetectorError):
    """A command cannot go on (nothing more can work): it ends with this one line."""
