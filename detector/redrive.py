"""Replay dead-lettered events through the pipeline; delete each only once it succeeded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from detector import pipeline, retry
from detector.errors import DetectorError, EventParseError
from detector.log import get_logger

_T = TypeVar("_T")


@dataclass
class RedriveSummary:
    """What a redrive did; printed by the CLI."""

    received: int = 0
    redriven: int = 0
    failed: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run ended early: nothing more could work

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (at most 20 error texts)."""
        out: dict[str, Any] = {
            "received": self.received,
            "redriven": self.redriven,
            "failed": self.failed,
            "unreadable": self.unreadable,
            "errors": self.errors[:20],
        }
        if self.stopped:
            out["stopped"] = self.stopped
        return out


class UnreadableMessage(ValueError):
    """A DLQ message whose body cannot be decoded (it is left in the queue, and counted)."""


def original_event(body: str) -> Any:
    """The event inside a DLQ message.

    EventBridge's target DLQ holds the event itself; Lambda's on-failure destination wraps it
    in an invocation record (``requestPayload``).

    Raises:
        UnreadableMessage: not JSON, nested too deeply, or a number too long to read.
    """
    try:
        doc = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise UnreadableMessage(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise UnreadableMessage("JSON nested too deeply") from exc
    if isinstance(doc, dict) and "requestPayload" in doc and "requestContext" in doc:
        return doc["requestPayload"]
    return doc


def redrive(
    sqs: Any,
    queue_url: str,
    deps: pipeline.Dependencies,
    *,
    max_messages: int = 10_000,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    sweep: Callable[[], Any] | None = None,
    stop: Callable[[BaseException], str | None] = lambda _exc: None,
) -> RedriveSummary:
    """Drain ``queue_url`` through the pipeline.

    A message is deleted only after every record in it was handled; a failure leaves it in
    the queue (it becomes visible again after the visibility timeout) and is counted. An
    unreadable message (not JSON, not CloudTrail) is left too and counted: nothing is ever
    dropped, and one bad message never stops the others. ``stop`` tells a failure that no
    later message can escape (missing credentials, table...): the run then ends, with the
    reason in ``stopped``.

    Raises:
        botocore.exceptions.ClientError, BotoCoreError: the queue cannot be read or a
            message deleted, after the AWS_CALL retries.
    """
    run = _Run(sqs, queue_url, deps, on_result, sweep, stop)
    seen: set[str] = set()
    summary = run.summary
    while summary.received < max_messages:
        resp = run.call(
            lambda: sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, max_messages - summary.received),
                WaitTimeSeconds=1,
                VisibilityTimeout=300,
            )
        )
        fresh = [m for m in resp.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            summary.received += 1
            if not run.one(message):
                return summary
    return summary


@dataclass
class _Run:
    sqs: Any
    queue_url: str
    deps: pipeline.Dependencies
    on_result: Callable[[dict[str, Any]], None] | None
    sweep: Callable[[], Any] | None
    stop: Callable[[BaseException], str | None]
    summary: RedriveSummary = field(default_factory=RedriveSummary)

    def call(self, fn: Callable[[], _T]) -> _T:
        """One SQS call under the AWS_CALL policy (botocore itself makes one attempt)."""
        result: _T = retry.build(retry.AWS_CALL, self.deps.retry_env)(fn)
        return result

    def delete(self, message: dict[str, Any]) -> None:
        handle = message["ReceiptHandle"]
        self.call(lambda: self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=handle))
        self.summary.redriven += 1

    def one(self, message: dict[str, Any]) -> bool:
        """Handle one message; False when the run must stop."""
        summary, message_id = self.summary, message["MessageId"]
        try:
            doc = original_event(message.get("Body") or "")
        except UnreadableMessage as exc:
            summary.unreadable += 1
            summary.errors.append(f"{message_id}: {exc}")
            return True
        if isinstance(doc, dict) and doc.get("detector") == "sweep":
            # A scheduled sweep that failed its retries: run it again (it is idempotent).
            if self.sweep is None:
                summary.failed += 1
                summary.errors.append(f"{message_id}: a sweep; run it with sweep")
                return True
            try:
                result = self.sweep()
            except DetectorError as exc:  # e.g. SweepError: an account's action failed
                summary.failed += 1
                summary.errors.append(f"{message_id}: {exc}")
                summary.stopped = self.stop(exc)
                return summary.stopped is None
            if self.on_result is not None:
                self.on_result({"sweep": result})
            self.delete(message)
            return True
        try:
            outcomes = pipeline.run(doc, self.deps)
        except EventParseError as exc:
            summary.unreadable += 1
            summary.errors.append(f"{message_id}: not CloudTrail: {exc}")
            return True
        except DetectorError as exc:
            summary.failed += 1
            summary.errors.append(f"{message_id}: {exc}")
            get_logger().error(
                "redrive failed", extra={"message_id": message_id, "error": str(exc)}
            )
            summary.stopped = self.stop(exc)
            return summary.stopped is None
        self.delete(message)
        if self.on_result is not None:
            for outcome in outcomes:
                self.on_result(outcome.as_dict())
        return True
