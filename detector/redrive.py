"""Replay dead-lettered events (and sweeps) through the pipeline; delete each once it succeeded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from detector import pipeline
from detector.domain.event import RecordError, RootKeyEvent, parse_records
from detector.domain.verdict import classify
from detector.errors import DetectorError, EventParseError, UnreadableMessage
from detector.log import get_logger
from detector.ports import DeadLetterQueue, QueuedMessage


@dataclass
class RedriveSummary:
    """What a redrive did; printed by the CLI."""

    received: int = 0
    redriven: int = 0  # with dry_run: the messages that would be redriven
    failed: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run ended early: nothing more could work
    dry_run: bool = False  # nothing was done: what would have been

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (at most 20 error texts)."""
        out: dict[str, Any] = {"dry_run": True} if self.dry_run else {}
        out |= {
            "received": self.received,
            "redriven": self.redriven,
            "failed": self.failed,
            "unreadable": self.unreadable,
            "errors": self.errors[:20],
        }
        if self.stopped:
            out["stopped"] = self.stopped
        return out


def _would_record(item: RootKeyEvent | RecordError) -> dict[str, Any]:
    """One record of a message, as a dry run shows it: its event and verdict."""
    if isinstance(item, RecordError):
        return {"index": item.index, "error": f"not CloudTrail: {item.error}"}
    return {
        "event_id": item.event_id,
        "event_name": item.event_name,
        "account": item.account_id,
        "verdict": classify(item).value,
    }


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


def drain(
    queue: DeadLetterQueue,
    deps: pipeline.Dependencies,
    *,
    max_messages: int = 10_000,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    sweep: Callable[[], Any] | None = None,
    stop: Callable[[BaseException], str | None] = lambda _exc: None,
    dry_run: bool = False,
) -> RedriveSummary:
    """Drain ``queue`` through the pipeline (with ``dry_run``: say, per message, what it
    would do, and do nothing: no pipeline, no sweep, no delete; the messages received come
    back after the queue's visibility timeout).

    A message is deleted only after every record in it was handled; a failure leaves it in
    the queue (it becomes visible again after the visibility timeout) and is counted. An
    unreadable message (not JSON, not CloudTrail) is left too and counted: nothing is ever
    dropped, and one bad message never stops the others. ``stop`` tells a failure that no
    later message can escape (missing credentials, table...): the run then ends, with the
    reason in ``stopped``.

    Raises:
        ExternalServiceError: the queue cannot be read or a message deleted, after the
            queue's retry policy.
    """
    run = _Run(queue, deps, on_result, sweep, stop, dry_run=dry_run)
    run.summary.dry_run = dry_run
    seen: set[str] = set()
    summary = run.summary
    while summary.received < max_messages:
        batch = queue.receive(min(10, max_messages - summary.received))
        fresh = [m for m in batch if m.message_id not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message.message_id)
            summary.received += 1
            if not run.one(message):
                return summary
    return summary


@dataclass
class _Run:
    queue: DeadLetterQueue
    deps: pipeline.Dependencies
    on_result: Callable[[dict[str, Any]], None] | None
    sweep: Callable[[], Any] | None
    stop: Callable[[BaseException], str | None]
    summary: RedriveSummary = field(default_factory=RedriveSummary)
    dry_run: bool = False

    def one(self, message: QueuedMessage) -> bool:
        """Handle one message; False when the run must stop."""
        try:
            doc = original_event(message.body)
        except UnreadableMessage as exc:
            self.summary.unreadable += 1
            self.summary.errors.append(f"{message.message_id}: {exc}")
            return True
        if self.dry_run:
            return self._would(message, doc)
        if isinstance(doc, dict) and doc.get("detector") == "sweep":
            return self._sweep(message)
        return self._events(message, doc)

    def _would(self, message: QueuedMessage, doc: Any) -> bool:
        """Say what redriving ``message`` would do; do none of it."""
        if isinstance(doc, dict) and doc.get("detector") == "sweep":
            self._say({"message_id": message.message_id, "would": "run the sweep"})
            self.summary.redriven += 1
            return True
        try:
            items = parse_records(doc)
        except EventParseError as exc:
            self.summary.unreadable += 1
            self.summary.errors.append(f"{message.message_id}: not CloudTrail: {exc}")
            return True
        records = [_would_record(item) for item in items]
        self._say({"message_id": message.message_id, "would": "process", "records": records})
        self.summary.redriven += 1
        return True

    def _say(self, line: dict[str, Any]) -> None:
        if self.on_result is not None:
            self.on_result({"dry_run": True, **line})

    def _sweep(self, message: QueuedMessage) -> bool:
        """A scheduled sweep that failed its retries: run it again (it is idempotent)."""
        summary = self.summary
        if self.sweep is None:
            summary.failed += 1
            summary.errors.append(f"{message.message_id}: a sweep; run it with sweep")
            return True
        try:
            result = self.sweep()
        except DetectorError as exc:  # e.g. SweepError: an account's action failed
            return self._failed(message, exc)
        if self.on_result is not None:
            self.on_result({"sweep": result})
        self._delete(message)
        return True

    def _events(self, message: QueuedMessage, doc: Any) -> bool:
        """The pipeline over a message's records; deleted once every record was handled."""
        try:
            outcomes = pipeline.run(doc, self.deps)
        except EventParseError as exc:
            self.summary.unreadable += 1
            self.summary.errors.append(f"{message.message_id}: not CloudTrail: {exc}")
            return True
        except DetectorError as exc:
            get_logger().error(
                "redrive failed", extra={"message_id": message.message_id, "error": str(exc)}
            )
            return self._failed(message, exc)
        self._delete(message)
        if self.on_result is not None:
            for outcome in outcomes:
                self.on_result(outcome.as_dict())
        return True

    def _failed(self, message: QueuedMessage, exc: DetectorError) -> bool:
        """Count a failure; False when it is one no later message can escape."""
        self.summary.failed += 1
        self.summary.errors.append(f"{message.message_id}: {exc}")
        self.summary.stopped = self.stop(exc)
        return self.summary.stopped is None

    def _delete(self, message: QueuedMessage) -> None:
        self.queue.delete(message)
        self.summary.redriven += 1
