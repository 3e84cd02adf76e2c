"""Who opened a root session, whichever of its two records arrives first.

A member account's Root record and the caller's ``AssumeRoot`` record (see
:mod:`detector.domain.root_session`) meet in the ledger under (member account, session key id).
Each side makes one atomic write there that also reads the other side's: the member record adds
its mark and reads the session (:func:`label_for`, called by the pipeline); the AssumeRoot
record stores the session and reads the marks (:func:`run_sessions`). So of two records
arriving together exactly one sees the other:

- the session first: the member record's alert and finding carry the label from the start;
- the member record first: the AssumeRoot record labels it afterwards, in one job per member
  record (its own event-ledger claim, so retries do each step once): a reply in the key's
  thread naming who opened the session and for which task, the finding re-imported with the
  label, and the key's alert redrawn with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from detector import metrics, retry
from detector.config import SlackMode
from detector.domain.delivery import KeyRecord, Progress, SlackRef
from detector.domain.event import RootKeyEvent
from detector.domain.finding import PRODUCT_FIELD_PREFIX
from detector.domain.message import ALERT_GONE, SlackMessage
from detector.domain.root_access import RootSession
from detector.domain.root_session import (
    Rejected,
    Touch,
    is_labelled,
    label_reply,
    labelled_finding,
    labelled_message,
    labels,
    reply_id,
    session_key,
    sessions_in,
)
from detector.domain.triage import TriageState, with_triage
from detector.errors import AlertDeliveryError, DetectorError, ExternalServiceError
from detector.log import get_logger
from detector.ports import SessionLedger

if TYPE_CHECKING:
    from detector.pipeline import Dependencies

LABEL_VERDICT = "root-session-label"  # the event ledger's verdict for a label job
# The relabelled finding's UpdatedAt: one millisecond after the state it labels, so Security Hub
# takes it, and any later state (a later second) still wins. A session's task policies allow no
# key call but DeleteAccessKey, the last of a second's ranks (verdict.same_second_rank), so no
# later state of the same second can tie with it.
_BUMP = timedelta(milliseconds=1)


def label_for(event: RootKeyEvent, fid: str | None, ledger: SessionLedger) -> RootSession | None:
    """The member path: mark ``event`` (a Root record) under its session key, and return the
    session that covers it, if one is recorded (None for any other record).

    ``fid``: the key finding the record tells of (None for a notice: only read, never marked,
    since a notice is not relabelled afterwards).
    """
    where = session_key(event)
    if where is None:
        return None
    mark = Touch(fid, event.event_id, event.event_time).dump() if fid else None
    session = ledger.touch_session(*where, mark)
    return session if labels(session, event) else None


@dataclass
class SessionOutcome:
    """What an AssumeRoot record did: the member records it labelled afterwards."""

    event_id: str
    account: str
    caller: str
    labelled: list[str] = field(default_factory=list)  # finding ids
    duplicates: int = 0  # label jobs already done

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "event_id": self.event_id,
            "account": self.account,
            "caller": self.caller,
            "labelled": self.labelled,
            "duplicates": self.duplicates,
        }


def run_sessions(
    doc: Any, deps: Dependencies, ledger: SessionLedger
) -> tuple[list[SessionOutcome], list[DetectorError]]:
    """Every AssumeRoot record of one decoded input: record its session and label the member
    records that met its key before it. One failing session does not stop the others."""
    outcomes: list[SessionOutcome] = []
    failures: list[DetectorError] = []
    for item in sessions_in(doc):
        if isinstance(item, Rejected):
            metrics.count(metrics.ROOT_SESSIONS, label="rejected")
            get_logger().warning(
                "AssumeRoot record not trusted", extra={"path": item.path, "reason": item.reason}
            )
            continue
        try:
            outcome = open_session(item, deps, ledger)
            outcomes.append(outcome)
            metrics.count(metrics.ROOT_SESSIONS, label="opened")
            if outcome.labelled:
                metrics.count(metrics.ROOT_SESSIONS, len(outcome.labelled), label="labelled")
        except DetectorError as exc:
            metrics.count(metrics.ROOT_SESSIONS, label="failed")
            get_logger().error(
                "root session failed",
                extra={
                    "event_id": item.event_id,
                    "error_type": type(exc).__name__,
                    "error": str(exc),
                },
            )
            failures.append(exc)
    return outcomes, failures


def open_session(session: RootSession, deps: Dependencies, ledger: SessionLedger) -> SessionOutcome:
    """Record one session, then label each member record it covers that arrived before it.

    Raises:
        DetectorError: a label job failed (its retry resumes where it stopped).
    """
    outcome = SessionOutcome(session.event_id, session.account, session.caller_arn)
    get_logger().info(
        "root session",
        extra={
            "event_id": session.event_id,
            "account": session.account,
            "caller": session.caller_arn,
            "task": session.task,
        },
    )
    failures: list[DetectorError] = []
    for raw in ledger.open_session(session):
        touch = Touch.load(raw)
        if touch is None or not session.covers(touch.at):
            continue  # another session's time (the same key id, reused) or a garbled mark
        try:
            if _Label(session, touch, deps).run():
                outcome.labelled.append(touch.fid)
            else:
                outcome.duplicates += 1
        except DetectorError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return outcome


@dataclass
class _Label:
    """One label job: a session and one member record that arrived before it."""

    session: RootSession
    touch: Touch
    deps: Dependencies
    token: str | None = None
    progress: Progress = field(default_factory=Progress)

    @property
    def job(self) -> str:
        return reply_id(self.session, self.touch)

    def run(self) -> bool:
        """Label the record once; False when an earlier delivery already did."""
        ledger = self.deps.ledger
        claim = ledger.begin_event(self.job, LABEL_VERDICT, self.deps.lease_s)
        if claim.done:
            return False
        assert claim.token is not None  # noqa: S101 - a claim that is not done has a token
        self.token, self.progress = claim.token, claim.progress
        try:
            self._steps()
            ledger.finish_event(self.job, claim.token, self.progress)
        except BaseException:
            self._give_back()
            raise
        return True

    def _give_back(self) -> None:
        assert self.token is not None  # noqa: S101 - set by run
        try:
            self.deps.ledger.release_event(self.job, self.token, self.progress)
        except DetectorError as exc:  # the lease frees it by itself
            get_logger().warning("label release failed", extra={"error": str(exc)})

    def _steps(self) -> None:
        self._wait_for_record()
        record = self._record()
        if record is None:
            return
        current = _shows(record, self.touch.event_id)
        if current and is_labelled(record.finding) and not self.progress.message_sent:
            return  # the member record's own retry met the session and labelled itself
        if not self.progress.message_sent:
            self._reply(record)
        if not current:
            return  # the key's newest state is a later record's: the reply tells the rest
        drawn = self._relabel(record)
        if drawn is not None and not self.progress.update_done:
            self._redraw(record, drawn)

    def _wait_for_record(self) -> None:
        """The member record's own attempt must be done (its alert and finding recorded)."""
        ledger, event_id = self.deps.ledger, self.touch.event_id
        done: bool = retry.build_for_result(
            retry.LEDGER_WAIT, self.deps.retry_env, retry_on=lambda finished: not finished
        )(lambda: ledger.event_message(event_id)[0])
        if not done:
            raise ExternalServiceError(
                "ledger",
                "RecordInProgress",
                "the member record is not handled yet",
                transient=True,
            )

    def _record(self) -> KeyRecord | None:
        """The record that holds the key's story (its own, or the sweep's it continues)."""
        record = self.deps.ledger.read_key(self.touch.fid)
        if record is not None and record.alias:
            record = self.deps.ledger.read_key(record.alias)
        return record

    def _reply(self, record: KeyRecord) -> None:
        alerter = self.deps.alerter
        if alerter is not None:
            fields = (record.finding or {}).get("ProductFields", {})
            name = (
                fields.get(f"{PRODUCT_FIELD_PREFIX}/EventName")
                if _shows(record, self.touch.event_id)
                else None
            )
            message = label_reply(self.session, self.touch, name)
            thread = _thread(record) if alerter.supports_threads else None
            ref = None
            if self.progress.attempts > 1:  # an earlier attempt may have posted and died
                ref = alerter.find_posted(message, thread=thread, since=self.session.started)
            if ref is None:
                ref = alerter.post(message, thread=thread)
            self.progress = replace(self.progress, message=ref)
        self.progress = replace(self.progress, message_sent=True)

    def _relabel(self, record: KeyRecord) -> SlackMessage | None:
        """Record and import the labelled finding; the labelled alert to draw (None: none, or
        a newer state was recorded meanwhile)."""
        assert record.finding is not None  # noqa: S101 - checked by _shows
        finding = record.finding
        if not is_labelled(finding):
            finding = labelled_finding(finding, self.session, bump=_BUMP)
        shown = (
            labelled_message(SlackMessage.from_payload(record.shown), self.session)
            if record.shown is not None
            else None
        )
        observed = (record.observed or self.session.started) + (
            timedelta(0) if is_labelled(record.finding) else _BUMP
        )
        recorded = self.deps.ledger.record_state(
            record.fid,
            observed=observed,
            open_=record.open,
            finding=finding,
            shown=shown.payload() if shown is not None else None,
        )
        if not recorded:
            return None  # a later state of the key won: it is drawn and filed by its record
        if not self.progress.finding_done:
            self.deps.findings.import_finding(finding)
            self.progress = replace(self.progress, finding_done=True)
        return shown

    def _redraw(self, record: KeyRecord, drawn: SlackMessage) -> None:
        alerter, ref = self.deps.alerter, _thread(record)
        if alerter is None or ref is None or self.deps.slack_mode is not SlackMode.BOT:
            return
        if self.deps.triage:
            state = TriageState.from_dict(record.triage)
            drawn = with_triage(drawn, record.fid, state, key_present=record.open)
        try:
            alerter.update(ref, drawn)
        except AlertDeliveryError as exc:
            if exc.code not in ALERT_GONE:
                raise
            # The alert was deleted or frozen: the reply and the finding carry the label.
            get_logger().warning("labelled alert could not be redrawn", extra={"code": exc.code})
        self.progress = replace(self.progress, update_done=True)


def _shows(record: KeyRecord, event_id: str) -> bool:
    """Whether the key's newest recorded state (its finding) is ``event_id``'s."""
    fields = (record.finding or {}).get("ProductFields", {})
    return isinstance(fields, dict) and fields.get(f"{PRODUCT_FIELD_PREFIX}/EventId") == event_id


def _thread(record: KeyRecord) -> SlackRef | None:
    return record.slot.ref if record.slot is not None else None
