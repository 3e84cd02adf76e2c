"""classify -> confirm -> record -> alert, for every record of one input, exactly once.

Sees only the ports: tests and the CLI run it against the sandbox, the Lambda against AWS.
The ledger makes redelivered and retried events safe: each event is handled once, each key has
one top-level Slack alert, and every later event of that key is one reply in its thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from detector import retry
from detector.domain.confirmation import Confirmation
from detector.domain.event import RootKeyEvent, parse_input
from detector.domain.finding import (
    FindingContext,
    build_finding,
    cloudtrail_event_url,
    finding_id,
    securityhub_finding_url,
)
from detector.domain.message import Links, SlackMessage, build_message, headline
from detector.domain.text import mask_key
from detector.domain.verdict import Verdict, classify
from detector.errors import DetectorError, ExternalServiceError
from detector.log import get_logger
from detector.ports import (
    AlertClaim,
    Alerter,
    EventState,
    FindingSink,
    KeyConfirmer,
    Ledger,
    SlackRef,
)

# Same-second events of one key sort in the order a key's story can happen.
_ORDER_RANK = {Verdict.CREATED: 0, Verdict.ACTIVATED: 1, Verdict.DEACTIVATED: 1, Verdict.DELETED: 2}
_MAX_RECONCILE = 3


@dataclass
class Dependencies:
    """What the pipeline needs, built once per container (see wiring.py)."""

    region: str
    confirmer: KeyConfirmer
    findings: FindingSink
    alerter: Alerter | None  # None only when Slack is explicitly disabled
    ledger: Ledger
    retry_env: retry.RetryEnv = field(default_factory=retry.RetryEnv)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    partition: str = "aws"
    lease_s: float = 300.0  # how long an invocation owns an event it is processing


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

    ``outcome`` records what did succeed (e.g. the finding imported, Slack failed); the
    ledger remembers it too, so a redrive completes only what is missing.
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
    """Classify one event and carry out what its verdict requires, once."""
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

    state = deps.ledger.begin_event(event.event_id, verdict.value, deps.lease_s)
    if state.done:
        outcome.actions.append("already-done")
        log.info("duplicate delivery skipped", extra=_log_fields(event, verdict))
        return outcome
    attempt = _Run(event, verdict, deps, state, outcome)
    try:
        attempt.go()
    except BaseException:
        _release(deps, event.event_id, attempt.steps)
        raise
    deps.ledger.finish_event(event.event_id)
    log.info("handled", extra={**_log_fields(event, verdict), **outcome.as_dict()})
    return outcome


def _release(deps: Dependencies, event_id: str, steps: dict[str, bool]) -> None:
    try:
        deps.ledger.release_event(event_id, **steps)
    except DetectorError as exc:  # the lease expires by itself; the original error matters
        get_logger().warning(
            "ledger release failed", extra={"event_id": event_id, "error": str(exc)}
        )


@dataclass
class _Run:
    """One attempt at one event: each step is skipped when an earlier attempt finished it."""

    event: RootKeyEvent
    verdict: Verdict
    deps: Dependencies
    state: EventState
    outcome: Outcome
    failures: list[Exception] = field(default_factory=list)
    # Steps finished in this attempt, recorded with the release if a later step fails (a
    # finding re-import is idempotent, so it needs no write of its own on the happy path).
    steps: dict[str, bool] = field(default_factory=dict)

    def go(self) -> None:
        if self.verdict.key_expected_present is not None and self.event.account_id is not None:
            self._key_event(self.event.account_id)
        else:
            # Notices (root made a user's key, a failed attempt) and key events without an
            # account: one top-level message each, no finding.
            self._step("alert", lambda: self._post_once(self._message(None, None), None))
        if self.failures:
            raise PipelineError(self.outcome, self.failures)

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except DetectorError as exc:
            self.failures.append(exc)
            get_logger().error(
                f"{name} failed",
                extra={**_log_fields(self.event, self.verdict), "error": str(exc)},
            )

    # -- a root key's event: confirm, record, alert ---------------------------------------

    def _key_event(self, account: str) -> None:
        event, verdict, deps = self.event, self.verdict, self.deps
        fid = finding_id(account, event.access_key_id)
        self.outcome.finding_id = fid
        confirmation = deps.confirmer.confirm(
            account,
            event.access_key_id,
            expect_present=bool(verdict.key_expected_present),
            event_time=event.event_time,
        )
        self.outcome.confirmation = confirmation.state.value
        self.outcome.actions.append(f"confirmed:{confirmation.state.value}")

        newest = True
        if self.state.finding_done:
            current = deps.ledger.finding_state(fid)
            newest = current is None or current.event_id == event.event_id
        else:
            newest = self._record(fid, confirmation)

        message = self._message(confirmation, fid)
        self._step("alert", lambda: self._alert(fid, message, newest))

    def _record(self, fid: str, confirmation: Confirmation) -> bool:
        """Import the finding if this event is the key's newest; returns whether it is."""
        deps, event = self.deps, self.event
        ctx = FindingContext(region=deps.region, now=deps.now(), partition=deps.partition)
        finding = build_finding(event, self.verdict, confirmation, ctx)
        order = f"{event.event_time.isoformat()}|{_ORDER_RANK[self.verdict]}|{event.event_id}"
        newest = False

        def record() -> None:
            nonlocal newest
            newest = deps.ledger.propose_finding(fid, order, event.event_id, finding)
            if not newest:
                self.outcome.actions.append("finding-superseded")
            else:
                deps.findings.import_finding(finding)
                self._reconcile(fid, finding)
                self.outcome.actions.append("finding-imported")
            self.steps["finding_done"] = True

        self._step("finding", record)
        return newest

    def _reconcile(self, fid: str, imported: dict[str, Any]) -> None:
        """A later event may have recorded its state while we imported ours: converge on it."""
        for _ in range(_MAX_RECONCILE):
            current = self.deps.ledger.finding_state(fid)
            if current is None or current.finding == imported:
                return
            imported = current.finding
            self.deps.findings.import_finding(imported)

    def _alert(self, fid: str, message: SlackMessage, newest: bool) -> None:
        deps, event = self.deps, self.event
        alerter = deps.alerter
        if alerter is None:
            self.outcome.actions.append("slack-disabled")
            return
        if not alerter.supports_threads:
            self._post_once(message, None)  # webhooks: every event is its own message
            return
        lease = deps.lease_s
        posted = self.state.message
        if posted is not None and self.state.message_kind == "alert":
            # An earlier attempt posted the key's alert but may not have recorded it.
            deps.ledger.claim_alert(fid, event.event_id, lease)
            deps.ledger.set_alert(fid, posted)
            self.outcome.slack_ts = posted.ts
            return
        claim = deps.ledger.claim_alert(fid, event.event_id, lease)
        if posted is None and not claim.mine and claim.ref is None:
            claim = self._wait_for_alert(fid)
        if claim.mine and posted is None:
            try:
                ref = self._post_once(message, None, kind="alert")
            except BaseException:
                deps.ledger.release_alert(fid, event.event_id)  # nothing was posted
                raise
            deps.ledger.set_alert(fid, ref)
            return
        parent = claim.ref
        if parent is None:
            raise ExternalServiceError(
                "ledger", "AlertInProgress", f"the alert of {fid} is not posted yet", transient=True
            )
        self._post_once(message, parent, kind="reply")
        if newest and self.verdict.is_lifecycle and not self.state.update_done:
            # The top-level alert shows the key's current state (e.g. resolved after delete);
            # it keeps its own metadata, which names the event that posted it.
            alerter.update(parent, replace(message, metadata=None))
            self.steps["update_done"] = True
            self.outcome.actions.append("alert-updated")

    def _wait_for_alert(self, fid: str) -> AlertClaim:
        """Another event is posting the key's alert right now: wait briefly for its ts.

        If that attempt fails and frees its claim, this event claims and posts instead.
        """
        ledger, event = self.deps.ledger, self.event

        def check() -> AlertClaim:
            return ledger.claim_alert(fid, event.event_id, self.deps.lease_s)

        claim: AlertClaim = retry.build_for_result(
            retry.LEDGER_WAIT,
            self.deps.retry_env,
            retry_on=lambda c: not c.mine and c.ref is None,
        )(check)
        return claim

    def _post_once(
        self, message: SlackMessage, thread: SlackRef | None, *, kind: str = "notice"
    ) -> SlackRef | None:
        """Post this event's message unless an earlier attempt already did."""
        alerter = self.deps.alerter
        if alerter is None:
            self.outcome.actions.append("slack-disabled")
            return None
        if self.state.message is not None:
            self.outcome.slack_ts = self.state.message.ts
            return self.state.message
        ref = alerter.post(message, thread=thread)
        self.outcome.actions.append("replied" if kind == "reply" else "alerted")
        if ref is not None:
            self.outcome.slack_ts = ref.ts
        self.deps.ledger.mark_event(
            self.event.event_id,
            msg_channel=ref.channel if ref else "",
            msg_ts=ref.ts if ref else "",
            msg_kind=kind,
        )
        return ref

    def _message(self, confirmation: Confirmation | None, fid: str | None) -> SlackMessage:
        region = self.deps.region
        links = Links(
            finding=securityhub_finding_url(region, fid) if fid else None,
            cloudtrail_event=cloudtrail_event_url(region, self.event.event_id),
        )
        return build_message(self.event, self.verdict, confirmation, links=links, finding_id=fid)


def _log_fields(event: RootKeyEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.event_name,
        "verdict": verdict.value,
        "account": event.account_id,
        "access_key": mask_key(event.access_key_id),
        "headline": headline(verdict),
    }
