"""classify -> confirm -> record -> alert, for every record of one input.

Sees only the ports: tests and the CLI run it against the sandbox, the Lambda against AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detector.domain.confirmation import Confirmation
from detector.domain.event import RootKeyEvent, parse_input
from detector.domain.finding import (
    FindingContext,
    build_finding,
    cloudtrail_event_url,
    finding_id,
    securityhub_finding_url,
)
from detector.domain.message import Links, build_message, headline
from detector.domain.text import mask_key
from detector.domain.verdict import Verdict, classify
from detector.errors import DetectorError
from detector.log import get_logger
from detector.ports import Alerter, FindingSink, KeyConfirmer, SlackRef


@dataclass
class Dependencies:
    """What the pipeline needs, built once per container (see wiring.py)."""

    region: str
    confirmer: KeyConfirmer
    findings: FindingSink
    alerter: Alerter | None  # None only when Slack is explicitly disabled
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    partition: str = "aws"


@dataclass
class Outcome:
    """What happened to one record; the handler returns these as its summary."""

    event_id: str
    verdict: Verdict
    account: str | None
    access_key: str  # masked
    confirmation: str | None = None
    finding_id: str | None = None
    slack_ts: str | None = None
    actions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "event_id": self.event_id,
            "verdict": self.verdict.value,
            "account": self.account,
            "access_key": self.access_key,
            "confirmation": self.confirmation,
            "finding_id": self.finding_id,
            "slack_ts": self.slack_ts,
            "actions": self.actions,
        }


class PipelineError(DetectorError):
    """One or more steps failed after their retries; the event must be retried or redriven.

    ``outcome`` records what did succeed (e.g. the finding imported, Slack failed).
    """

    def __init__(self, outcome: Outcome, failures: list[Exception]) -> None:
        steps = "; ".join(f"{type(e).__name__}: {e}" for e in failures)
        super().__init__(f"event {outcome.event_id}: {steps}")
        self.outcome = outcome
        self.failures = failures


def run(doc: Any, deps: Dependencies) -> list[Outcome]:
    """Process every record of one decoded input, in order.

    Raises:
        EventParseError: the input is not CloudTrail.
        PipelineError: a record's finding or alert failed after retries.
    """
    return [process(event, deps) for event in parse_input(doc)]


def process(event: RootKeyEvent, deps: Dependencies) -> Outcome:
    """Classify one event and carry out what its verdict requires."""
    verdict = classify(event)
    outcome = Outcome(
        event_id=event.event_id,
        verdict=verdict,
        account=event.account_id,
        access_key=mask_key(event.access_key_id),
    )
    log = get_logger()
    if verdict is Verdict.IGNORED:
        log.debug("ignored", extra=_log_fields(event, verdict))
        return outcome
    log.info("classified", extra=_log_fields(event, verdict))
    if verdict is Verdict.CREATED:
        _handle_created(event, deps, outcome)
    else:
        # Lifecycle and notice verdicts are classified and logged; their handling (threads,
        # resolution, deduplicated notices) arrives with the ledger.
        outcome.actions.append("logged")
    return outcome


def _handle_created(event: RootKeyEvent, deps: Dependencies, outcome: Outcome) -> None:
    if event.account_id is None:
        # Without an account there is no finding to file, but a human must still know.
        confirmation = None
    else:
        confirmation = deps.confirmer.confirm(
            event.account_id,
            event.access_key_id,
            expect_present=True,
            event_time=event.event_time,
        )
        outcome.confirmation = confirmation.state.value
        outcome.actions.append(f"confirmed:{confirmation.state.value}")

    failures: list[Exception] = []
    fid: str | None = None
    if event.account_id is not None and confirmation is not None:
        fid = finding_id(event.account_id, event.access_key_id)
        try:
            _record(event, Verdict.CREATED, confirmation, deps)
            outcome.finding_id = fid
            outcome.actions.append("finding-imported")
        except DetectorError as exc:
            failures.append(exc)
            get_logger().error(
                "finding import failed",
                extra={**_log_fields(event, Verdict.CREATED), "error": str(exc)},
            )

    # The alert goes out even when the finding failed: a human must hear of the key.
    try:
        ref = _alert(event, Verdict.CREATED, confirmation, fid, deps)
        if ref is not None:
            outcome.slack_ts = ref.ts
        outcome.actions.append("alerted" if deps.alerter else "slack-disabled")
    except DetectorError as exc:
        failures.append(exc)
        get_logger().error(
            "slack alert failed", extra={**_log_fields(event, Verdict.CREATED), "error": str(exc)}
        )
    if failures:
        raise PipelineError(outcome, failures)
    get_logger().info("handled", extra={**_log_fields(event, Verdict.CREATED), **outcome.as_dict()})


def _record(
    event: RootKeyEvent, verdict: Verdict, confirmation: Confirmation, deps: Dependencies
) -> None:
    ctx = FindingContext(region=deps.region, now=deps.now(), partition=deps.partition)
    deps.findings.import_finding(build_finding(event, verdict, confirmation, ctx))


def _alert(
    event: RootKeyEvent,
    verdict: Verdict,
    confirmation: Confirmation | None,
    fid: str | None,
    deps: Dependencies,
    *,
    thread: SlackRef | None = None,
) -> SlackRef | None:
    if deps.alerter is None:
        return None
    links = Links(
        finding=securityhub_finding_url(deps.region, fid) if fid else None,
        cloudtrail_event=cloudtrail_event_url(deps.region, event.event_id),
    )
    message = build_message(event, verdict, confirmation, links=links, finding_id=fid)
    return deps.alerter.post(message, thread=thread)


def _log_fields(event: RootKeyEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.event_name,
        "verdict": verdict.value,
        "account": event.account_id,
        "access_key": mask_key(event.access_key_id),
        "headline": headline(verdict),
    }
