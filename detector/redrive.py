"""Replay dead-lettered events through the pipeline; delete each only once it succeeded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from detector import pipeline
from detector.errors import DetectorError
from detector.log import get_logger


@dataclass
class RedriveSummary:
    """What a redrive did; printed by the CLI."""

    received: int = 0
    redriven: int = 0
    failed: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (at most 20 error texts)."""
        return {
            "received": self.received,
            "redriven": self.redriven,
            "failed": self.failed,
            "unreadable": self.unreadable,
            "errors": self.errors[:20],
        }


def original_event(body: str) -> Any:
    """The event inside a DLQ message.

    EventBridge's target DLQ holds the event itself; Lambda's on-failure destination wraps it
    in an invocation record (``requestPayload``).
    """
    doc = json.loads(body)
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
) -> RedriveSummary:
    """Drain ``queue_url`` through the pipeline.

    A message is deleted only after every record in it was handled; a failure leaves it in
    the queue (it becomes visible again after the visibility timeout) and is counted. An
    unreadable message is left too: nothing is ever dropped.
    """
    summary = RedriveSummary()
    seen: set[str] = set()
    while summary.received < max_messages:
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=300,
        )
        messages = resp.get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            summary.received += 1
            try:
                doc = original_event(message["Body"])
            except json.JSONDecodeError as exc:
                summary.unreadable += 1
                summary.errors.append(f"{message['MessageId']}: not JSON: {exc}")
                continue
            if isinstance(doc, dict) and doc.get("detector") == "sweep":
                # A scheduled sweep that failed its retries: run it again (it is idempotent).
                if sweep is None:
                    summary.failed += 1
                    summary.errors.append(f"{message['MessageId']}: a sweep; run it with sweep")
                    continue
                if on_result is not None:
                    on_result({"sweep": sweep()})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                summary.redriven += 1
                continue
            try:
                outcomes = pipeline.run(doc, deps)
            except DetectorError as exc:
                summary.failed += 1
                summary.errors.append(f"{message['MessageId']}: {exc}")
                get_logger().error(
                    "redrive failed", extra={"message_id": message["MessageId"], "error": str(exc)}
                )
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            summary.redriven += 1
            if on_result is not None:
                for outcome in outcomes:
                    on_result(outcome.as_dict())
    return summary
