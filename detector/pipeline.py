"""classify -> confirm -> record -> alert, for every record of one input, exactly once.

Sees only the ports. The ledger's records say what earlier attempts finished; the planner
(:mod:`detector.domain.delivery`) turns them into the steps this attempt takes; this module
runs them, in parallel where they are independent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from detector import metrics, retry
from detector.config import SlackMode
from detector.controls import ROOT_ACCESS_KEYS, Control
from detector.domain.confirmation import Confirmation
from detector.domain.delivery import (
    Action,
    AlertSlot,
    Facts,
    KeyRecord,
    MessageKind,
    Plan,
    Progress,
    SlackRef,
    SlotState,
    Status,
    bind_target,
    notice_group,
    plan,
    refusal,
)
from detector.domain.event import (
    RecordError,
    RootKeyEvent,
    finding_fields_sound,
    parse_records,
)
from detector.domain.finding import (
    FindingContext,
    build_finding,
    event_finding_id,
    observed_at,
)
from detector.domain.message import (
    ALERT_GONE,
    SlackMessage,
    alert_links,
    build_message,
    headline,
    replacement,
    with_count,
    without_ledger,
)
from detector.domain.removal import drawing as removal_drawing
from detector.domain.root_access import RootSession
from detector.domain.text import clean, mask_key
from detector.domain.triage import TriageState, with_triage
from detector.domain.verdict import Verdict, classify
from detector.errors import (
    AlertDeliveryError,
    DetectorError,
    ExternalServiceError,
    LedgerBusy,
    PipelineError,
    RecordsFailed,
    UnfileableEvent,
)
from detector.log import get_logger
from detector.ports import Alerter, FindingSink, KeyConfirmer, Ledger, SessionLedger

_MAX_REDRAWS = 5  # each newer state recorded meanwhile costs one more redraw
# After a post whose answer was lost (Slack had the whole request), how long to let it show in
# the channel before looking for it. Slack documents no bound; a post is normally visible at
# once, so this only needs to outlast one slow answer.
_LOST_ANSWER_WAIT_S = 2.0


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
    account_name: Callable[[str], str | None] = field(default=lambda _account: None)
    # Whose events this detector acts on: an organization's (through member roles), or only
    # its own account's (``own_account``, asked lazily: the Lambda's ARN or STS).
    organization: bool = True
    own_account: Callable[[], str | None] = field(default=lambda: None)
    # Cold start: create what round 2 needs (clients) while round 1 waits on the network.
    warm_up: Callable[[str], None] = field(default=lambda _account: None)
    # Slack interactivity: a key's alert carries the triage status line and buttons.
    triage: bool = False
    removal: bool = False  # ...and the Remove key button (ROOT_KEY_REMOVAL)
    # Uses of an alerted root key (root calls signed with it): replies in its thread.
    key_uses: bool = False
    control: Control = ROOT_ACCESS_KEYS  # what findings and alerts report (FINDING_SEVERITY)
    # Centralized root access: who opened a root session (detector.sessions); None: not tracked.
    sessions: SessionLedger | None = None
    _pool: ThreadPoolExecutor | None = None

    def pool(self) -> ThreadPoolExecutor:
        """Threads for the parallel calls of one event (created once per container)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="detector")
        return self._pool

    @property
    def slack_mode(self) -> SlackMode:
        """What the configured alerter can do."""
        if self.alerter is None:
            return SlackMode.DISABLED
        return SlackMode.BOT if self.alerter.supports_threads else SlackMode.WEBHOOK


@dataclass
class Outcome:
    """What happened to one record; the handler returns these as its summary."""

    event_id: str
    verdict: Verdict
    account: str | None
    access_key: str  # masked
    status: Status = Status.HANDLED
    confirmation: str | None = None
    finding_id: str | None = None
    slack_ts: str | None = None
    actions: list[Action] = field(default_factory=list)
    key_use: str | None = None  # the record as a use of an alerted root key (key_use.py)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        use = {"key_use": self.key_use} if self.key_use else {}
        return {
            "event_id": self.event_id,
            "verdict": self.verdict.value,
            "account": self.account,
            "access_key": self.access_key,
            "status": self.status.value,
            "confirmation": self.confirmation,
            "finding_id": self.finding_id,
            "slack_ts": self.slack_ts,
            "actions": [a.value for a in self.actions],
        } | use


def run(doc: Any, deps: Dependencies) -> list[Outcome]:
    """Process every record of one decoded input, in order; one failing record does not stop
    the ones after it.

    Raises:
        EventParseError: the input is not CloudTrail.
        DetectorError: a record failed after retries (the only record's own error; with
            several records, :class:`RecordsFailed` once all were tried).
    """
    items = parse_records(doc)
    outcomes: list[Outcome] = []
    failures: list[DetectorError] = []
    for item in items:
        if isinstance(item, RecordError):  # not CloudTrail: it costs only itself
            get_logger().error("record is not CloudTrail", extra={"error": str(item.error)})
            failures.append(item.error)
            continue
        try:
            outcomes.append(process(item, deps))
        except DetectorError as exc:
            failures.append(exc)
    if deps.sessions is not None:  # the AssumeRoot records among them
        from detector.sessions import run_sessions  # noqa: PLC0415 - root access only

        failures += run_sessions(doc, deps, deps.sessions)[1]
    if len(items) == 1 and failures:
        raise failures[0]
    if failures:
        raise RecordsFailed(failures, outcomes)
    return outcomes


def process(event: RootKeyEvent, deps: Dependencies) -> Outcome:
    """Classify one event and carry out what its verdict requires, once; then, with
    ``deps.key_uses``, note it as a use of the alerted root key that signed it (if one did:
    a root CreateAccessKey signed with an alerted key is both).

    Raises:
        DetectorError: a step failed after retries (see :func:`_process`, and
            :func:`detector.key_use.note_event`).
    """
    outcome = _process(event, deps)
    if deps.key_uses:
        from detector.key_use import UseOutcome, note_event  # noqa: PLC0415 - key uses only

        noted = note_event(event, deps)
        outcome.key_use = None if noted is UseOutcome.NOT_A_USE else noted.value
        if outcome.key_use is not None:
            metrics.count(metrics.KEY_USES, label=outcome.key_use)
    return outcome


def _process(event: RootKeyEvent, deps: Dependencies) -> Outcome:
    """Classify one event and carry out what its verdict requires, once.

    Three rounds of parallel calls, each waiting only for what it depends on: (1) claim the
    event, ask IAM, open the key's record (claiming its top-level alert); (2) import the
    finding and post to Slack; (3) record what happened in the ledger.
    """
    verdict = classify(event)
    outcome = Outcome(
        event_id=event.event_id,
        verdict=verdict,
        account=event.account_id,
        access_key=mask_key(event.access_key_id),
    )
    log = get_logger()
    if verdict is Verdict.IGNORED:
        outcome.status = Status.IGNORED
        log.debug("ignored", extra=_log_fields(event, verdict))
        return outcome
    reason = refusal(
        event,
        organization=deps.organization,
        own_account=None if deps.organization else deps.own_account(),
    )
    if reason is not None:
        outcome.status = Status.REFUSED
        log.warning("refused", extra={**_log_fields(event, verdict), "reason": reason})
        return outcome
    log.info("classified", extra=_log_fields(event, verdict))
    attempt = _Attempt(event, verdict, deps, outcome)
    try:
        attempt.run()
    except BaseException:
        attempt.give_back()
        raise
    finally:
        metrics.outcome(outcome.actions, outcome.confirmation)
    if outcome.status is Status.DUPLICATE:
        log.info("duplicate delivery skipped", extra=_log_fields(event, verdict))
    else:
        log.info("handled", extra={**_log_fields(event, verdict), **outcome.as_dict()})
    return outcome


@dataclass
class _Attempt:
    """One attempt at one event: runs the planner's steps and records its progress."""

    event: RootKeyEvent
    verdict: Verdict
    deps: Dependencies
    outcome: Outcome
    token: str | None = None  # this attempt's claim on the event
    progress: Progress = field(default_factory=Progress)  # earlier attempts' and this one's
    failures: list[Exception] = field(default_factory=list)
    account_name: str | None = None
    replaced: SlackRef | None = None  # this event's post replaced the key's lost alert
    session: RootSession | None = None  # the root session this record was made in, if known

    @property
    def unfiled(self) -> str | None:
        """Why a root key event's finding cannot be filed (a field it needs is not sound)."""
        if self.verdict.key_expected_present is None:
            return None
        return finding_fields_sound(self.event)

    @property
    def observed(self) -> datetime:
        return observed_at(self.event, self.verdict)

    @property
    def key_id(self) -> str | None:
        """The event's key id as findings carry it (None when missing or blank)."""
        raw = self.event.access_key_id
        return (clean(raw, 128) or None) if raw else None

    @property
    def grouped(self) -> bool:
        """A notice that joins its account's group for the hour (bot mode only)."""
        return self.verdict.key_expected_present is None and self.deps.slack_mode is SlackMode.BOT

    def run(self) -> None:
        opened = self._round_one()
        if opened is None:
            return
        key, confirmation = opened
        fid = key.fid if key and not self.grouped else None
        self.outcome.finding_id = fid
        message = self._message(confirmation, fid)
        steps = self._plan(key)
        finding = self._finding(key, confirmation)
        self._round_two(steps, key, finding, message)
        self._round_three(steps, key, finding, message)

    def give_back(self) -> None:
        """The attempt failed: record what it finished, and free the event for its retry."""
        if self.token is None:
            return
        try:
            self.deps.ledger.release_event(self.event.event_id, self.token, self.progress)
        except DetectorError as exc:  # the lease expires by itself; the original error matters
            self._log_error("ledger release failed", exc, level="warning")

    # -- round 1: the facts ---------------------------------------------------------------

    def _round_one(self) -> tuple[KeyRecord | None, Confirmation | None] | None:
        event, deps, pool = self.event, self.deps, self.deps.pool()
        account = event.account_id
        key_event = (
            self.verdict.key_expected_present is not None
            and account is not None
            and self.unfiled is None
        )
        begin = pool.submit(
            deps.ledger.begin_event, event.event_id, self.verdict.value, deps.lease_s
        )
        duplicate = threading.Event()  # set if the event turns out done: IAM may stop waiting
        confirm = (
            pool.submit(
                deps.confirmer.confirm,
                str(account),
                expect_present=bool(self.verdict.key_expected_present),
                event_time=event.event_time,
                cancelled=duplicate.is_set,
            )
            if key_event
            else None
        )
        fid = event_finding_id(event) if key_event else None
        if self.grouped:
            fid = notice_group(account, event.event_time)
        opened = pool.submit(self._open, fid) if fid else None
        siblings = (
            pool.submit(deps.ledger.account_keys, str(account)) if fid and self.key_id else None
        )
        name = self._start_side_calls(key_event=key_event)
        session = self._start_session_label(event, fid if key_event else None)
        try:
            claim = begin.result()
        except ExternalServiceError as exc:
            if not isinstance(exc, LedgerBusy):
                self._alert_without_ledger(confirm, exc)
            raise
        own = opened.result() if opened else None
        if claim.done:
            self._skip_done(own, duplicate, confirm, name)
            return None
        self.token, self.progress = claim.token, claim.progress
        confirmation = confirm.result() if confirm else None
        if confirmation is not None:
            self.outcome.confirmation = confirmation.state.value
        self.account_name = name.result() if name else None
        self.session = session.result() if session else None
        key = self._follow(own, siblings) if own is not None else None
        return key, confirmation

    def _start_session_label(
        self, event: RootKeyEvent, fid: str | None
    ) -> Future[RootSession | None] | None:
        """Where root sessions are tracked, the session that covers the record (asked beside
        round one); the module is loaded only then, off the cold start of a plain stack."""
        if self.deps.sessions is None:
            return None
        from detector.sessions import label_for  # noqa: PLC0415 - root access only

        return self.deps.pool().submit(label_for, event, fid, self.deps.sessions)

    def _start_side_calls(self, *, key_event: bool) -> Future[str | None] | None:
        """Start what round 1 needs beside its facts: on a cold start the Slack secret and the
        clients round 2 uses; the account's name (its future, None without an account)."""
        deps, pool, account = self.deps, self.deps.pool(), self.event.account_id
        if deps.alerter is not None:
            pool.submit(deps.alerter.prepare)  # cold start: fetch the Slack secret meanwhile
        if key_event:
            pool.submit(deps.warm_up, str(account))
        return pool.submit(deps.account_name, account) if account else None

    def _skip_done(
        self,
        own: KeyRecord | None,
        duplicate: threading.Event,
        confirm: Future[Confirmation] | None,
        name: Future[str | None] | None,
    ) -> None:
        """The event was done before: a duplicate delivery leaves nothing held or running."""
        self.outcome.status = Status.DUPLICATE
        if own is not None:
            self._drop_claim(own)  # opened in passing: never hold a done event's claim
        duplicate.set()
        for started in (confirm, name):  # nothing of the event outlives its invocation
            if started is not None:
                started.result()

    def _alert_without_ledger(
        self, confirm: Future[Confirmation] | None, error: ExternalServiceError
    ) -> None:
        """The ledger cannot be reached: Slack still hears of a root key, once per attempt.

        The event then fails for its retries and the dead-letter queue. Without the ledger
        nothing knows whether an earlier attempt posted, so the alert says duplicates are
        possible.
        """
        alerter = self.deps.alerter
        if alerter is None or not self.verdict.key_expected_present or confirm is None:
            return
        message = without_ledger(
            self._message(confirm.result(), event_finding_id(self.event)), error.code
        )
        try:
            ref = alerter.post(message)
        except DetectorError as exc:
            self._log_error("alert without the ledger failed", exc)
            return
        self.outcome.slack_ts = ref.ts if ref else None
        self.outcome.actions.append(Action.ALERTED_WITHOUT_LEDGER)

    def _open(self, fid: str) -> KeyRecord:
        deps = self.deps
        return deps.ledger.open_key(
            fid,
            account=self.event.account_id or "",
            key_id=self.key_id,
            event_id=self.event.event_id,
            seen=self.observed,
            lease_s=deps.lease_s,
            claim=deps.slack_mode is SlackMode.BOT,
        )

    def _follow(self, own: KeyRecord, siblings: Future[list[KeyRecord]] | None) -> KeyRecord:
        """The record that holds this key's story: its own, or a sweep's it continues."""
        if own.alias:
            return self._open(own.alias)
        target = bind_target(
            self.verdict, self.observed, own, siblings.result() if siblings else []
        )
        if target is None or self.key_id is None:
            return own
        if not self.deps.ledger.bind(target.fid, self.key_id, own.fid):
            return own  # another key took that record first
        self.outcome.actions.append(Action.BOUND)
        return self._open(target.fid)

    def _drop_claim(self, key: KeyRecord) -> None:
        if key.slot is not None and key.slot.state is SlotState.MINE:
            self.deps.ledger.release_alert(key.fid, self.event.event_id)

    def _plan(self, key: KeyRecord | None) -> Plan:
        facts = Facts(
            verdict=self.verdict,
            mode=self.deps.slack_mode,
            keyed=key is not None and not self.grouped,
            grouped=self.grouped,
            progress=self.progress,
            slot=key.slot if key else None,
            event_id=self.event.event_id,
        )
        steps = plan(facts)
        if steps.wait_for_alert and key is not None:
            steps = plan(replace(facts, slot=self._wait_for_alert(key.fid)))
        if steps.wait_for_alert:
            raise ExternalServiceError(
                "ledger", "AlertInProgress", "the key's alert is not posted yet", transient=True
            )
        return steps

    def _wait_for_alert(self, fid: str) -> AlertSlot:
        """Another event is posting the key's alert right now: wait briefly for it.

        If that attempt fails and frees its claim, this event claims and posts instead; if it
        finished but never recorded the alert, the alert is repaired from its record.
        """
        ledger, event_id = self.deps.ledger, self.event.event_id
        slot: AlertSlot = retry.build_for_result(
            retry.LEDGER_WAIT,
            self.deps.retry_env,
            retry_on=lambda s: s.state is SlotState.POSTING,
        )(lambda: ledger.claim_alert(fid, event_id, self.deps.lease_s))
        if slot.state is SlotState.POSTING and slot.owner:
            done, ref = ledger.event_message(slot.owner)
            if done and ref is not None:
                ledger.set_alert(fid, slot.owner, ref)
                return AlertSlot(SlotState.POSTED, slot.owner, ref)
        return slot

    def _finding(
        self, key: KeyRecord | None, confirmation: Confirmation | None
    ) -> dict[str, Any] | None:
        if key is None or confirmation is None:
            return None
        deps = self.deps
        ctx = FindingContext(
            region=deps.region,
            finding_id=key.fid,
            observed=self.observed,
            first_seen=key.first_seen,
            partition=deps.partition,
            account_name=self.account_name,
        )
        finding = build_finding(self._told, self.verdict, confirmation, ctx, self.deps.control)
        if self.session is None:
            return finding
        from detector.domain.root_session import labelled_finding  # noqa: PLC0415 - root access

        return labelled_finding(finding, self.session)

    # -- round 2: the finding and the Slack message, side by side --------------------------

    def _round_two(
        self,
        steps: Plan,
        key: KeyRecord | None,
        finding: dict[str, Any] | None,
        message: SlackMessage,
    ) -> None:
        imported = (
            self.deps.pool().submit(self.deps.findings.import_finding, finding)
            if steps.import_finding and finding is not None
            else None
        )
        self._step("alert", lambda: self._slack(steps, key, message))
        if imported is not None:
            try:
                imported.result()
            except DetectorError as exc:
                self._fail("finding", exc)
            else:
                self.progress = replace(self.progress, finding_done=True)
                self.outcome.actions.append(Action.FINDING_IMPORTED)

    def _slack(self, steps: Plan, key: KeyRecord | None, message: SlackMessage) -> None:
        alerter = self.deps.alerter
        if alerter is None:
            self.outcome.actions.append(Action.SLACK_DISABLED)
            return
        if steps.adopt is not None:
            self._sent(steps.adopt, MessageKind.ALERT)
            self.outcome.actions.append(Action.ALERT_ADOPTED)
            return
        if steps.post is None:
            self.outcome.slack_ts = self.progress.message.ts if self.progress.message else None
            return
        if steps.post is MessageKind.ALERT:
            message = self._with_triage(message, key)
        ref = self._posted_before(message, steps.thread) if steps.look_first else None
        kind = steps.post
        if ref is not None:
            self.outcome.actions.append(Action.FOUND_POSTED)
        else:
            try:
                ref, kind = self._post(steps, message)
            except BaseException:
                if steps.record_alert and key is not None:
                    self._release_alert(key.fid)  # nothing was posted: the next one may
                raise
        self._sent(ref, kind)

    def _post(self, steps: Plan, message: SlackMessage) -> tuple[SlackRef | None, MessageKind]:
        """Post this event's message; a reply whose alert was deleted becomes its replacement."""
        alerter = self.deps.alerter
        assert alerter is not None  # noqa: S101 - checked by the caller
        assert steps.post is not None  # noqa: S101
        try:
            ref = self._post_checked(message, steps.thread)
        except AlertDeliveryError as exc:
            if steps.thread is None or exc.code not in ALERT_GONE:
                raise
            ref = alerter.post(replacement(message))
            self.replaced = ref
            self.outcome.actions.append(Action.ALERT_REPLACED)
            return ref, MessageKind.ALERT
        self.outcome.actions.append(self._posted_action(steps.post))
        return ref, steps.post

    def _post_checked(self, message: SlackMessage, thread: SlackRef | None) -> SlackRef | None:
        """Post; if Slack had the request but its answer was lost, look before posting again."""
        alerter = self.deps.alerter
        assert alerter is not None  # noqa: S101 - checked by the caller
        try:
            return alerter.post(message, thread=thread)
        except AlertDeliveryError as exc:
            if not exc.maybe_delivered:
                raise
            # Slack may still be finishing it: give it a moment to show before looking.
            self.deps.retry_env.sleep(_LOST_ANSWER_WAIT_S)
            found = self._posted_before(message, thread)
            if found is not None:
                self.outcome.actions.append(Action.FOUND_POSTED)
                return found
            return alerter.post(message, thread=thread)

    def _posted_action(self, kind: MessageKind) -> Action:
        if kind is MessageKind.REPLY:
            return Action.REPLIED
        if kind is MessageKind.NOTICE and self.verdict.key_expected_present is None:
            return Action.NOTICE_POSTED
        return Action.ALERTED

    def _sent(self, ref: SlackRef | None, kind: MessageKind) -> None:
        self.progress = replace(self.progress, message=ref, message_kind=kind, message_sent=True)
        if ref is not None:
            self.outcome.slack_ts = ref.ts

    def _release_alert(self, fid: str) -> None:
        try:
            self.deps.ledger.release_alert(fid, self.event.event_id)
        except DetectorError as exc:  # the claim's lease frees it later
            self._log_error("alert claim release failed", exc, level="warning")

    def _posted_before(self, message: SlackMessage, thread: SlackRef | None) -> SlackRef | None:
        """An earlier attempt's post of this message, if Slack shows one (a retry only).

        If Slack cannot be asked, the message is posted: a duplicate beats a lost alert.
        """
        assert self.deps.alerter is not None  # noqa: S101 - checked by the caller
        try:
            return self.deps.alerter.find_posted(
                message, thread=thread, since=self.event.event_time
            )
        except DetectorError as exc:
            self._log_error("could not look for an earlier post; posting", exc, level="warning")
            return None

    # -- round 3: the ledger records what happened ------------------------------------------

    def _round_three(
        self,
        steps: Plan,
        key: KeyRecord | None,
        finding: dict[str, Any] | None,
        message: SlackMessage,
    ) -> None:
        """Record the key's state and alert beside marking the event done.

        If one of these writes fails, the attempt fails and the event reopens (see
        :meth:`give_back`), so "done" never stands for a step that did not happen. A redraw of
        the top-level message waits for what it shows to be recorded.
        """
        writes = self._records(steps, key, finding, message) if key is not None else {}
        if self.unfiled is not None:
            # Slack heard of it; the event stays open and fails, for the dead-letter queue.
            self._fail("finding", UnfileableEvent(self.event.event_id, self.unfiled))
        if not self.failures and not steps.redraw:
            writes["ledger"] = self.deps.pool().submit(self._finish)
        for name, write in writes.items():
            try:
                write.result()
            except DetectorError as exc:
                self._fail(name, exc)
        if not self.failures and steps.redraw and key is not None:
            recorded = writes.get("state") or writes.get("group")
            if recorded is not None and recorded.result():
                self._step("update", lambda: self._redraw(key.fid))
            if not self.failures:
                self._step("ledger", self._finish)
        if self.failures:
            raise PipelineError(self.outcome, self.failures)

    def _records(
        self,
        steps: Plan,
        key: KeyRecord,
        finding: dict[str, Any] | None,
        message: SlackMessage,
    ) -> dict[str, Future[Any]]:
        """The key's (or notice group's) writes of round 3, started in parallel."""
        ledger, pool, progress = self.deps.ledger, self.deps.pool(), self.progress
        writes: dict[str, Future[Any]] = {}
        alert = steps.adopt or self.replaced
        alert = alert or (progress.message if steps.record_alert else None)
        if alert is not None:
            writes["alert"] = pool.submit(ledger.set_alert, key.fid, self.event.event_id, alert)
        shows = progress.message_sent and (steps.record_alert or steps.redraw)
        shown = replace(message, metadata=None).payload() if shows else None
        if finding is not None and progress.finding_done:
            writes["state"] = pool.submit(
                ledger.record_state,
                key.fid,
                observed=self.observed,
                open_=finding["RecordState"] == "ACTIVE",
                finding=finding,
                shown=shown,
            )
        elif self.grouped and steps.record_alert and shown is not None:
            # The group's top-level message: what its redraws start from.
            writes["state"] = pool.submit(
                ledger.record_state,
                key.fid,
                observed=self.observed,
                open_=False,
                finding=None,
                shown=shown,
            )
        if self.grouped and steps.redraw and progress.message_sent:
            writes["group"] = pool.submit(ledger.join_group, key.fid, self.event.event_id)
        return writes

    def _finish(self) -> None:
        assert self.token is not None  # noqa: S101 - set in round 1
        self.deps.ledger.finish_event(self.event.event_id, self.token, self.progress)

    def _redraw(self, fid: str) -> None:
        """Show the newest state of a key (or the count of a notice group) on its top-level
        message.

        Redrawn from the ledger's record, then checked again: if a newer state was recorded
        meanwhile, it is drawn too. Whichever redraw lands last was checked after it landed,
        so the message ends showing the newest state whatever order events finish in.
        """
        alerter = self.deps.alerter
        assert alerter is not None  # noqa: S101 - only in bot mode
        record = self.deps.ledger.read_key(fid)
        for _ in range(_MAX_REDRAWS):
            if record is None or record.shown is None or record.slot is None:
                return
            if record.slot.ref is None:
                return
            self._update(fid, record.slot.ref, self._drawing(record))
            again = self.deps.ledger.read_key(fid)
            if again is None or (again.observed, again.joined) == (record.observed, record.joined):
                self.progress = replace(self.progress, update_done=True)
                self.outcome.actions.append(Action.ALERT_UPDATED)
                return
            record = again
        get_logger().warning("alert redraw gave up", extra={"finding_id": fid})

    def _update(self, fid: str, ref: SlackRef, drawing: SlackMessage) -> None:
        """Redraw the top-level message, or replace it if it was deleted or is frozen: the
        ledger then points to the replacement, so no later event fails on the lost one."""
        alerter = self.deps.alerter
        assert alerter is not None  # noqa: S101 - only in bot mode
        try:
            alerter.update(ref, drawing)
        except AlertDeliveryError as exc:
            if exc.code not in ALERT_GONE:
                raise
            new = alerter.post(replacement(drawing))
            if new is not None:
                self.deps.ledger.set_alert(fid, self.event.event_id, new)
            self.outcome.actions.append(Action.ALERT_REPLACED)

    def _drawing(self, record: KeyRecord) -> SlackMessage:
        assert record.shown is not None  # noqa: S101 - checked by the caller
        shown = SlackMessage.from_payload(record.shown)
        return (
            with_count(shown, record.joined) if self.grouped else self._with_triage(shown, record)
        )

    def _with_triage(self, message: SlackMessage, record: KeyRecord | None) -> SlackMessage:
        """A key's alert with its triage line and buttons, when interactivity is on."""
        if not self.deps.triage or record is None or self.verdict.key_expected_present is None:
            return message
        present = record.open if record.observed else bool(self.verdict.key_expected_present)
        state = TriageState.from_dict(record.triage)
        removal = removal_drawing(record, key_present=present) if self.deps.removal else None
        return with_triage(message, record.fid, state, key_present=present, removal=removal)

    # -- helpers ---------------------------------------------------------------------------

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except DetectorError as exc:
            self._fail(name, exc)

    def _fail(self, name: str, exc: Exception) -> None:
        self.failures.append(exc)
        metrics.count(metrics.FAILURES, label=name)
        self._log_error(f"{name} failed", exc)

    def _log_error(self, what: str, exc: Exception, *, level: str = "error") -> None:
        getattr(get_logger(), level)(
            what,
            extra={
                **_log_fields(self.event, self.verdict),
                "error_type": type(exc).__name__,
                "error": str(exc),
            },
        )

    def _message(self, confirmation: Confirmation | None, fid: str | None) -> SlackMessage:
        links = alert_links(self.deps.region, self.event, fid)
        message = build_message(
            self._told,
            self.verdict,
            confirmation,
            links=links,
            finding_id=fid,
            account_name=self.account_name,
            unfiled=self.unfiled,
            control=self.deps.control,
        )
        if self.session is None:
            return message
        from detector.domain.root_session import labelled_message  # noqa: PLC0415 - root access

        return labelled_message(message, self.session)

    @property
    def _told(self) -> RootKeyEvent:
        """The event as alerts and findings tell it. Where root sessions are tracked, "made in
        an AssumeRoot session" means a recorded session's key id and time match the record:
        the record's own ``sessionContext.assumedRoot`` flag is not evidence of that (AWS's
        example in "Track privileged tasks in AWS CloudTrail" shows it on the caller's
        AssumeRoot record, not on the member account's Root records). Untracked, the flag is
        told as the record gives it."""
        if self.deps.sessions is None:
            return self.event
        return self.event._replace(assumed_root=self.session is not None)


def _log_fields(event: RootKeyEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.event_name,
        "verdict": verdict.value,
        "account": event.account_id,
        "access_key": mask_key(event.access_key_id),
        "headline": headline(verdict),
    }
