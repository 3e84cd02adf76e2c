"""classify -> confirm -> record -> alert, for every record of one input, exactly once.

Sees only the ports: tests and the CLI run it against the sandbox, the Lambda against AWS.
The ledger makes redelivered and retried events safe: each event is handled once, each key has
one top-level Slack alert, and every later event of that key is one reply in its thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from detector import retry
from detector.domain.confirmation import Confirmation
from detector.domain.event import InputForm, RootKeyEvent, parse_input
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
    FindingState,
    KeyConfirmer,
    Ledger,
    SlackRef,
)

# Same-second events of one key sort in the order a key's story can happen.
_ORDER_RANK = {Verdict.CREATED: 0, Verdict.ACTIVATED: 1, Verdict.DEACTIVATED: 1, Verdict.DELETED: 2}
_MAX_RECONCILE = 10  # each stale import forces at most one more round


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
    # Cold start: create what round 2 needs (clients) while round 1 waits on the network.
    warm_up: Callable[[str], None] = field(default=lambda _account: None)
    _pool: ThreadPoolExecutor | None = None

    def pool(self) -> ThreadPoolExecutor:
        """Threads for the parallel calls of one event (created once per container)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="detector")
        return self._pool


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
    """Classify one event and carry out what its verdict requires, once.

    The work runs in three rounds of parallel calls, each waiting only for what it depends
    on: (1) claim the event in the ledger, ask IAM, claim the key's newest state and its
    alert; (2) import the finding and post to Slack; (3) record the outcome in the ledger.
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
        log.debug("ignored", extra=_log_fields(event, verdict))
        return outcome
    log.info("classified", extra=_log_fields(event, verdict))

    attempt = _Run(event, verdict, deps, outcome)
    try:
        done = attempt.go()
    except BaseException:
        if attempt.state is not None:
            _release(deps, event.event_id, attempt.state.claim, attempt.steps)
        raise
    if done:
        log.info("handled", extra={**_log_fields(event, verdict), **outcome.as_dict()})
    return outcome


def _release(
    deps: Dependencies, event_id: str, claim: str | None, steps: dict[str, str | bool]
) -> None:
    try:
        deps.ledger.release_event(event_id, claim, **steps)
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
    outcome: Outcome
    state: EventState | None = None
    failures: list[Exception] = field(default_factory=list)
    # Steps finished in this attempt: written with the release if a later step fails, or
    # with the final "done" (a finding re-import is idempotent and needs no write of its own).
    steps: dict[str, str | bool] = field(default_factory=dict)
    posted_alert: SlackRef | None = None  # the key's top-level alert, posted by this attempt
    account_name: str | None = None

    def go(self) -> bool:
        """Run the attempt; False when an earlier delivery already finished the event."""
        event, verdict, deps = self.event, self.verdict, self.deps
        pool = deps.pool()
        account = event.account_id
        key_event = verdict.key_expected_present is not None and account is not None
        alerter = deps.alerter
        threaded = key_event and alerter is not None and alerter.supports_threads
        fid = finding_id(account, event.access_key_id) if key_event and account else None
        order = f"{event.event_time.isoformat()}|{_ORDER_RANK.get(verdict, 0)}|{event.event_id}"

        # Round 1: everything that depends only on the event.
        begin = pool.submit(deps.ledger.begin_event, event.event_id, verdict.value, deps.lease_s)
        confirm = (
            pool.submit(
                deps.confirmer.confirm,
                str(account),
                event.access_key_id,
                expect_present=bool(verdict.key_expected_present),
                event_time=event.event_time,
            )
            if key_event
            else None
        )
        proposal = (
            pool.submit(deps.ledger.propose_order, fid, order, event.event_id) if fid else None
        )
        claim = (
            pool.submit(deps.ledger.claim_alert, fid, event.event_id, deps.lease_s)
            if threaded and fid
            else None
        )
        if alerter is not None:
            pool.submit(alerter.prepare)  # cold start: fetch the Slack secret meanwhile
        if key_event and account:
            pool.submit(deps.warm_up, account)
        name = pool.submit(deps.account_name, account) if account else None
        self.state = state = begin.result()
        if state.done:
            self.state = None
            self.outcome.actions.append("already-done")
            get_logger().info("duplicate delivery skipped", extra=_log_fields(event, verdict))
            return False

        confirmation = confirm.result() if confirm else None
        if confirmation is not None:
            self.outcome.confirmation = confirmation.state.value
            self.outcome.actions.append(f"confirmed:{confirmation.state.value}")
        self.outcome.finding_id = fid
        self.account_name = name.result() if name else None
        message = self._message(confirmation, fid)

        # Round 2: the finding and the Slack message, side by side.
        ordering = proposal.result() if proposal is not None else None
        record = (
            pool.submit(self._import, ordering, confirmation)
            if fid and confirmation is not None and ordering is not None
            else None
        )
        newest = ordering.newest if ordering is not None else False
        self._step("alert", lambda: self._alert(fid, message, claim, newest=newest))
        imported: dict[str, Any] | None = None
        if record is not None:
            try:
                imported = record.result()
            except DetectorError as exc:
                self._fail("finding", exc)
        if self.failures:
            self._give_up(fid, order, ordering, imported)

        # Round 3: the ledger records what happened, all at once.
        self._record(fid, order, ordering, imported)
        return True

    def _record(
        self,
        fid: str | None,
        order: str,
        ordering: FindingState | None,
        imported: dict[str, Any] | None,
    ) -> None:
        """Mark the event done beside recording the alert and settling the finding.

        If one of these writes fails, the attempt fails and process() reopens the event, so
        "done" never stands for a step that did not happen: its retry finishes what is
        missing (settling the finding, say).
        """
        deps, pool = self.deps, self.deps.pool()
        writes = [
            ("ledger", pool.submit(deps.ledger.finish_event, self.event.event_id, **self.steps))
        ]
        if self.posted_alert is not None and fid:
            writes.append(("alert", pool.submit(deps.ledger.set_alert, fid, self.posted_alert)))
        if imported is not None and fid and ordering is not None:
            settle = pool.submit(self._settle, fid, order, ordering.version, imported)
            writes.append(("finding", settle))
        for name, write in writes:
            try:
                write.result()
            except DetectorError as exc:
                self._fail(name, exc)
        if self.failures:
            raise PipelineError(self.outcome, self.failures)

    def _give_up(
        self,
        fid: str | None,
        order: str,
        ordering: FindingState | None,
        imported: dict[str, Any] | None,
    ) -> NoReturn:
        """A step failed: keep what succeeded consistent, then raise for a retry."""
        if imported is not None and fid and ordering is not None:
            # The import happened: settle it now. A newer event may have finished while ours
            # was in flight; unsettled, this older state could stay in Security Hub.
            self._step("finding", lambda: self._settle(fid, order, ordering.version, imported))
        if self.posted_alert is not None and fid:
            self.deps.ledger.set_alert(fid, self.posted_alert)  # others may thread on it
        raise PipelineError(self.outcome, self.failures)

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except DetectorError as exc:
            self._fail(name, exc)

    def _fail(self, name: str, exc: Exception) -> None:
        self.failures.append(exc)
        get_logger().error(
            f"{name} failed", extra={**_log_fields(self.event, self.verdict), "error": str(exc)}
        )

    # -- the finding ----------------------------------------------------------------------

    def _import(self, ordering: FindingState, confirmation: Confirmation) -> dict[str, Any] | None:
        """Import the finding if this event is the key's newest; returns what was imported."""
        assert self.state is not None  # noqa: S101 - set before round 2
        if self.state.finding_done:
            return None
        if not ordering.newest:
            self.steps["finding_done"] = True
            self.outcome.actions.append("finding-superseded")  # a later event set the state
            return None
        deps = self.deps
        ctx = FindingContext(
            region=deps.region,
            now=deps.now(),
            partition=deps.partition,
            account_name=self.account_name,
        )
        finding = build_finding(self.event, self.verdict, confirmation, ctx)
        deps.findings.import_finding(finding)
        self.outcome.actions.append("finding-imported")
        return finding

    def _settle(self, fid: str, order: str, seen: int, finding: dict[str, Any]) -> None:
        """Make the newest state of the key the one Security Hub keeps.

        Events of one key can be imported concurrently and land in any order. Finalizing
        succeeds only if this event is still the newest and nobody imported meanwhile;
        otherwise the newest state is imported again (each stale import forces one round).
        The finding step counts as done only once settled: an attempt that fails before that
        leaves it to its retry, which imports and settles again.
        """
        deps = self.deps
        for _ in range(_MAX_RECONCILE):
            result = deps.ledger.finalize_finding(fid, order, self.event.event_id, seen, finding)
            if result.finalized:
                self.steps["finding_done"] = True
                return
            if not result.newest:
                # A newer event exists and ours may have landed after its import. Count it:
                # if the newest has not finalized yet, its finalize fails and re-imports its
                # own state. If it has, re-import that state here; every stale importer
                # re-imports the same newest state, so whichever lands last is right.
                current = deps.ledger.note_stale_import(fid)
                if current.finding is not None and current.finding_event == current.event_id:
                    deps.findings.import_finding(current.finding)
                self.steps["finding_done"] = True
                return
            seen = result.version  # an older event imported meanwhile: import ours again
            deps.findings.import_finding(finding)
        get_logger().warning("finding reconcile gave up", extra={"finding_id": fid})

    # -- Slack ----------------------------------------------------------------------------

    def _alert(
        self,
        fid: str | None,
        message: SlackMessage,
        claim_future: Future[AlertClaim] | None,
        *,
        newest: bool,
    ) -> None:
        assert self.state is not None  # noqa: S101 - set in round 1
        deps, event, state = self.deps, self.event, self.state
        alerter = deps.alerter
        if alerter is None:
            self.outcome.actions.append("slack-disabled")
            return
        if fid is None or claim_future is None:
            self._post_once(message, None)  # notices, webhooks: every event its own message
            return
        claim = claim_future.result()
        posted = state.message
        if posted is not None and state.message_kind == "alert":
            deps.ledger.set_alert(fid, posted)  # posted before, perhaps never recorded
            self.outcome.slack_ts = posted.ts
            return
        if claim.ref is not None and claim.owner == event.event_id:
            self.outcome.slack_ts = claim.ref.ts  # this event's own alert, from a lost attempt
            self.steps |= _msg_fields(claim.ref, "alert")
            return
        if posted is None and not claim.mine and claim.ref is None:
            claim = self._wait_for_alert(fid, claim)
        if claim.mine and posted is None:
            try:
                self.posted_alert = self._post_once(message, None, kind="alert")
            except BaseException:
                deps.ledger.release_alert(fid, event.event_id)  # nothing was posted
                raise
            return  # recorded in round 3
        parent = claim.ref
        if parent is None:
            raise ExternalServiceError(
                "ledger", "AlertInProgress", f"the alert of {fid} is not posted yet", transient=True
            )
        update = None
        if newest and self.verdict.is_lifecycle and not state.update_done:
            # The top-level alert shows the key's current state (e.g. resolved after delete);
            # it keeps its own metadata, which names the event that posted it.
            update = deps.pool().submit(alerter.update, parent, replace(message, metadata=None))
        self._post_once(message, parent, kind="reply")
        if update is not None:
            update.result()
            self.steps["update_done"] = True
            self.outcome.actions.append("alert-updated")

    def _wait_for_alert(self, fid: str, first: AlertClaim) -> AlertClaim:
        """Another event is posting the key's alert right now: wait briefly for its ts.

        If that attempt fails and frees its claim, this event claims and posts instead; if
        it finished but never recorded the alert, the alert is repaired from its record.
        """
        ledger, event = self.deps.ledger, self.event

        def check() -> AlertClaim:
            return ledger.claim_alert(fid, event.event_id, self.deps.lease_s)

        claim: AlertClaim = retry.build_for_result(
            retry.LEDGER_WAIT,
            self.deps.retry_env,
            retry_on=lambda c: not c.mine and c.ref is None,
        )(check)
        owner = claim.owner or first.owner
        if not claim.mine and claim.ref is None and owner:
            done, ref = ledger.event_message(owner)
            if done and ref is not None:
                ledger.set_alert(fid, ref)
                return AlertClaim(mine=False, ref=ref, owner=owner)
        return claim

    def _post_once(
        self, message: SlackMessage, thread: SlackRef | None, *, kind: str = "notice"
    ) -> SlackRef | None:
        """Post this event's message unless an earlier attempt already did."""
        assert self.state is not None  # noqa: S101
        alerter = self.deps.alerter
        if alerter is None:
            self.outcome.actions.append("slack-disabled")
            return None
        if self.state.message is not None:
            self.outcome.slack_ts = self.state.message.ts
            return self.state.message
        ref = self._posted_before(message, thread) if self.state.attempts > 1 else None
        if ref is not None:
            self.outcome.actions.append("found-posted")  # an attempt died before recording it
            self.outcome.slack_ts = ref.ts
            self.steps |= _msg_fields(ref, kind)
            return ref
        ref = alerter.post(message, thread=thread)
        self.outcome.actions.append("replied" if kind == "reply" else "alerted")
        if ref is not None:
            self.outcome.slack_ts = ref.ts
        self.steps |= _msg_fields(ref, kind)
        return ref

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
            get_logger().warning(
                "could not look for an earlier post; posting",
                extra={**_log_fields(self.event, self.verdict), "error": str(exc)},
            )
            return None

    def _message(self, confirmation: Confirmation | None, fid: str | None) -> SlackMessage:
        region = self.deps.region
        links = Links(
            finding=securityhub_finding_url(region, fid) if fid else None,
            cloudtrail_event=(
                None
                if self.event.form is InputForm.SWEEP
                else cloudtrail_event_url(region, self.event.event_id)
            ),
        )
        return build_message(
            self.event,
            self.verdict,
            confirmation,
            links=links,
            finding_id=fid,
            account_name=self.account_name,
        )


def _msg_fields(ref: SlackRef | None, kind: str) -> dict[str, str | bool]:
    return {
        "msg_channel": ref.channel if ref else "",
        "msg_ts": ref.ts if ref else "",
        "msg_kind": kind,
    }


def _log_fields(event: RootKeyEvent, verdict: Verdict) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.event_name,
        "verdict": verdict.value,
        "account": event.account_id,
        "access_key": mask_key(event.access_key_id),
        "headline": headline(verdict),
    }
