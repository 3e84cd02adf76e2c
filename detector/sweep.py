"""The daily sweep: what IAM says now in every account, against the ledger's key records.

It asks the ports (:class:`~detector.ports.KeyInventory`, the ledger) for the facts, lets the
pure :func:`detector.domain.reconcile.decide` choose, and carries the choice out: alert a new
key, re-import a known one's finding, resolve a gone one's with a reply in its alert's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from detector import pipeline, retry
from detector.domain.delivery import KeyRecord, MessageKind, SlotState, Status
from detector.domain.dependencies import Assessment, Check, Verdict, assess, problems
from detector.domain.finding import iso, refreshed, resolved
from detector.domain.key_reconcile import KeyAction, KeyPlan, KeysDecision, decide_keys
from detector.domain.message import resolution_message, sweep_digest
from detector.domain.reconcile import AccountStatus, decide
from detector.domain.root_access import RootKey
from detector.domain.sweep_event import (
    SWEEP_EVENT_PREFIX,
    SWEEP_RESOLVED,
    key_sweep_event,
    sweep_event,
)
from detector.domain.text import mask_key
from detector.errors import AwsCallError, DetectorError, SweepError
from detector.key_use import note_last_use
from detector.log import get_logger
from detector.ports import DependencyReader, KeyInventory, RootCredentials

GONE = "IAM reports that the root user holds no access key"


@dataclass
class AccountResult:
    """What the sweep found and did in one account."""

    account: str
    status: AccountStatus
    detail: str = ""
    action_failed: bool = False  # an alert, refresh or resolution failed (not a read)
    dependencies: tuple[Assessment, ...] = ()  # the trail, rule and hub checks (if made)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        out: dict[str, Any] = {
            "account": self.account,
            "status": self.status.value,
            "detail": self.detail,
        }
        if self.dependencies:
            out["dependencies"] = {a.check.value: a.verdict.value for a in self.dependencies}
            if problems(self.dependencies):
                out["dependency_problems"] = problems(self.dependencies)
        return out


@dataclass
class SweepSummary:
    """Counts per status, the accounts that failed, and the ones not swept by state."""

    results: list[AccountResult] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """How many accounts ended in each status."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status.value] = out.get(r.status.value, 0) + 1
        return dict(sorted(out.items()))

    @property
    def changed(self) -> bool:
        """Whether anything was alerted, resolved or failed."""
        changing = {AccountStatus.ALERTED, AccountStatus.RESOLVED, AccountStatus.FAILED}
        return any(r.status in changing for r in self.results)

    @property
    def dependencies(self) -> dict[str, dict[str, int]]:
        """Per check (trail, rule, security-hub), how many accounts ended in each verdict."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            for a in r.dependencies:
                verdicts = out.setdefault(a.check.value, {})
                verdicts[a.verdict.value] = verdicts.get(a.verdict.value, 0) + 1
        return out

    def dependency_problems(self) -> list[tuple[str, str]]:
        """(account, what is wrong) for each account with a check not OK."""
        return [
            (r.account, "; ".join(problems(r.dependencies)))
            for r in self.results
            if problems(r.dependencies)
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        failed = [r.as_dict() for r in self.results if r.status is AccountStatus.FAILED]
        out: dict[str, Any] = {
            "accounts": len(self.results),
            "counts": self.counts,
            "failed": failed[:50],
        }
        if self.dependencies:
            out["dependencies"] = self.dependencies
        if self.skipped:
            out["skipped"] = self.skipped
        return out


class Sweeper:
    """Runs one sweep over a list of accounts with bounded concurrency.

    With ``root_credentials`` (centralized root access: an audit root session per account)
    it lists root's keys and gives each its own finding; without, it asks ``inventory``
    only whether root holds a key, and files an ``unknown-key`` finding.
    """

    def __init__(
        self,
        deps: pipeline.Dependencies,
        inventory: KeyInventory,
        *,
        root_credentials: RootCredentials | None = None,
        dependencies: DependencyReader | None = None,
        dry_run: bool = False,
        concurrency: int = 32,
        settle_s: float = 300.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        root_exempt: frozenset[str] = frozenset(),
    ) -> None:
        self._deps = deps
        self._inventory = inventory
        self._dependencies = dependencies
        # Centralized root access: root's keys by id (None: only whether root holds a key).
        self._root = root_credentials
        # Accounts no root session reaches (the management account): asked as without it.
        self._root_exempt = root_exempt
        self._dry_run = dry_run  # read and decide, say what would be done, do none of it
        self._concurrency = concurrency
        self._settle = timedelta(seconds=settle_s)
        self._now = now

    def run(
        self,
        account_ids: Iterable[str],
        *,
        notes: dict[str, str] | None = None,
        skipped: dict[str, int] | None = None,
    ) -> SweepSummary:
        """Sweep every account; post a digest when anything changed.

        Raises:
            SweepError: an action failed in some account (after all were swept and the
                digest was posted), so the sweep is retried and the failure is seen.
        """
        ids = list(dict.fromkeys(account_ids))
        records: dict[str, list[KeyRecord]] = {}
        for record in self._deps.ledger.all_keys():
            records.setdefault(record.account, []).append(record)
        with ThreadPoolExecutor(max_workers=max(1, self._concurrency)) as pool:
            results = list(pool.map(lambda a: self._one(a, records.get(a, [])), ids))
        for result in results:
            note = (notes or {}).get(result.account)
            if note:
                result.detail = f"{note}; {result.detail}" if result.detail else note
        summary = SweepSummary(results, skipped=dict(skipped or {}))
        if not self._dry_run:
            self._digest(summary)
        get_logger().info("sweep done", extra=summary.as_dict())
        failed = [(r.account, r.detail) for r in results if r.action_failed]
        if failed:
            raise SweepError(summary, failed)
        return summary

    def _digest(self, summary: SweepSummary) -> None:
        """The digest, when anything changed or an account's dependency is broken."""
        broken = summary.dependency_problems()
        if not (summary.changed or broken) or self._deps.alerter is None:
            return
        failed = [
            (r.account, r.detail) for r in summary.results if r.status is AccountStatus.FAILED
        ]
        try:
            self._deps.alerter.post(sweep_digest(summary.counts, failed, broken))
        except DetectorError as exc:
            get_logger().error("sweep digest failed", extra={"error": str(exc)})

    def _one(self, account: str, records: list[KeyRecord]) -> AccountResult:
        try:
            read = self._read(account)
        except Exception as exc:  # noqa: BLE001 - one account's failure is reported, not fatal
            return self._failed(account, exc, action=False)
        try:
            if isinstance(read, bool):
                act = self._would if self._dry_run else self._act
                result = act(account, read, records)
            else:
                act_keys = self._would_keys if self._dry_run else self._act_keys
                result = act_keys(account, read, records)
        except Exception as exc:  # noqa: BLE001 - reported, and the sweep fails at the end
            result = self._failed(account, exc, action=True)
        result.dependencies = self._check_dependencies(account)
        return result

    def _read(self, account: str) -> bool | list[RootKey]:
        """Root's keys (centralized root access), else whether root holds any."""
        if self._root is not None and account not in self._root_exempt:
            return self._root.root_keys(account)
        return self._inventory.root_keys_present(account)

    def _check_dependencies(self, account: str) -> tuple[Assessment, ...]:
        """The account's trail, rule and hub, judged; all unreadable if it cannot be entered."""
        if self._dependencies is None:
            return ()
        try:
            return assess(self._dependencies.read(account))
        except Exception as exc:  # noqa: BLE001 - a check that cannot be made is said, not fatal
            code = retry.error_code(exc)
            return tuple(
                Assessment(c, Verdict.UNREADABLE, f"{c.value} cannot be read ({code})")
                for c in Check
            )

    def _failed(self, account: str, exc: Exception, *, action: bool) -> AccountResult:
        code = retry.error_code(exc)
        get_logger().warning("sweep account failed", extra={"account": account, "error": code})
        # An AWS read failure shows the SDK's own text (it names the operation and the code).
        text = exc.detail if isinstance(exc, AwsCallError) else str(exc)
        return AccountResult(account, AccountStatus.FAILED, f"{code}: {text[:200]}", action)

    def _act(self, account: str, present: bool, records: list[KeyRecord]) -> AccountResult:
        now = self._now()
        unalerted = frozenset(r.fid for r in records if self._alert_missing(r))
        decision = decide(present, records, now, settle=self._settle, unalerted=unalerted)
        detail = ""
        status = decision.status
        if decision.alert_new:
            outcome = pipeline.process(sweep_event(account, now), self._deps)
            if outcome.status is Status.DUPLICATE:
                status = AccountStatus.KNOWN
            detail = outcome.finding_id or ""
        for record in decision.realert:  # an earlier sweep's alert that never reached Slack
            pipeline.process(sweep_event(account, now, event_id=record.origin), self._deps)
            detail = record.fid
        for record in decision.refresh:
            self._refresh(record, now)
        for record in decision.resolve:
            self._resolve(record, now)
        if decision.resolve:
            detail = f"{len(decision.resolve)} finding(s) resolved"
        elif decision.settling:
            detail = "key not in IAM; its finding is too recent to resolve yet"
        elif status is AccountStatus.KNOWN:
            detail = f"{len(records)} key record(s)"
        return AccountResult(account, status, detail)

    def _would(self, account: str, present: bool, records: list[KeyRecord]) -> AccountResult:
        """What :meth:`_act` would do in the account, said in ``detail``; nothing is done."""
        now = self._now()
        unalerted = frozenset(r.fid for r in records if self._alert_missing(r))
        decision = decide(present, records, now, settle=self._settle, unalerted=unalerted)
        plans = [
            "alert a root key no record covers" if decision.alert_new else "",
            f"alert again {len(decision.realert)} key(s)" if decision.realert else "",
            f"re-import {len(decision.refresh)} finding(s)" if decision.refresh else "",
            f"resolve {len(decision.resolve)} finding(s)" if decision.resolve else "",
            f"wait for {len(decision.settling)} recent finding(s)" if decision.settling else "",
        ]
        said = "; ".join(p for p in plans if p) or "nothing"
        return AccountResult(account, decision.status, f"would: {said}")

    def _decide_keys(
        self, account: str, keys: list[RootKey], records: list[KeyRecord]
    ) -> tuple[datetime, KeysDecision]:
        now = self._now()
        unalerted = frozenset(r.fid for r in records if self._alert_missing(r))
        decision = decide_keys(
            account, keys, records, now, settle=self._settle, unalerted=unalerted
        )
        return now, decision

    def _act_keys(
        self, account: str, keys: list[RootKey], records: list[KeyRecord]
    ) -> AccountResult:
        """Each listed key: its own finding and alert, a take-over of an earlier sweep's
        unknown-key finding, a status change, a re-import; then IAM's last use of each (the
        backstop of :mod:`detector.key_use`); the records no listed key is theirs, resolved."""
        now, decision = self._decide_keys(account, keys, records)
        status = decision.status
        changed = [self._carry_out(account, plan, now) for plan in decision.keys]
        if status is AccountStatus.ALERTED and not any(changed):
            status = AccountStatus.RESOLVED if decision.resolve else AccountStatus.KNOWN
        for record in decision.resolve:
            self._resolve(record, now)
        for plan in decision.keys if self._deps.key_uses else ():
            note_last_use(account, plan.key, now, self._deps)
        said = [f"{p.action.value} {mask_key(p.key.key_id)}" for p in decision.keys]
        if decision.resolve:
            said.append(f"{len(decision.resolve)} finding(s) resolved")
        if decision.settling:
            said.append(f"{len(decision.settling)} recent finding(s) not resolved yet")
        return AccountResult(account, status, "; ".join(said))

    def _carry_out(self, account: str, plan: KeyPlan, now: datetime) -> bool:
        """One listed key's action; True when it changed anything (not a same-day re-run)."""
        if plan.action is KeyAction.KNOWN:
            return False
        if plan.action is KeyAction.REFRESH:
            assert plan.record is not None  # noqa: S101 - decide_keys() gives it
            self._refresh(plan.record, now)
            return False
        origin = plan.record.origin if plan.action is KeyAction.REALERT and plan.record else None
        event = key_sweep_event(account, plan.key, now, event_id=origin)
        if plan.action is KeyAction.TAKE_OVER:
            assert plan.record is not None  # noqa: S101 - decide_keys() gives it
            self._take_over(plan, plan.record, event.event_id, now)
        outcome = pipeline.process(event, self._deps)
        return outcome.status is not Status.DUPLICATE

    def _take_over(self, plan: KeyPlan, unknown: KeyRecord, event_id: str, now: datetime) -> None:
        """Bind an earlier sweep's unknown-key record to the listed key (one story, not two):
        the key's own record points at it, so its event replies in that thread."""
        ledger = self._deps.ledger
        ledger.open_key(
            plan.fid,
            account=unknown.account,
            key_id=plan.key.key_id,
            event_id=event_id,
            seen=now,
            lease_s=self._deps.lease_s,
            claim=False,
        )
        ledger.bind(unknown.fid, plan.key.key_id, plan.fid)

    def _would_keys(
        self, account: str, keys: list[RootKey], records: list[KeyRecord]
    ) -> AccountResult:
        """What :meth:`_act_keys` would do, per key, said in ``detail``; nothing is done."""
        _, decision = self._decide_keys(account, keys, records)
        plans = [_would_key(plan) for plan in decision.keys]
        if decision.resolve:
            plans.append(f"resolve {len(decision.resolve)} finding(s)")
        if decision.settling:
            plans.append(f"wait for {len(decision.settling)} recent finding(s)")
        said = "; ".join(plans) or "nothing"
        return AccountResult(account, decision.status, f"would: {said}")

    def _alert_missing(self, record: KeyRecord) -> bool:
        """A record a sweep opened whose event never finished (its alert, say, failed)."""
        if not record.open or not (record.origin or "").startswith(SWEEP_EVENT_PREFIX):
            return False
        done, _ = self._deps.ledger.event_message(str(record.origin))
        return not done

    def _refresh(self, record: KeyRecord, now: datetime) -> None:
        """Re-import a present key's finding, so Security Hub does not delete it at 90 days."""
        assert record.finding is not None  # noqa: S101 - decide() picks findings only
        finding = refreshed(record.finding, now)
        self._deps.findings.import_finding(finding)
        self._deps.ledger.record_state(
            record.fid, observed=now, open_=True, finding=finding, shown=None
        )

    def _resolve(self, record: KeyRecord, now: datetime) -> None:
        """Resolve a gone key's finding, once, and say so in its alert's thread."""
        assert record.finding is not None  # noqa: S101 - decide() picks findings only
        deps = self._deps
        marker = f"sweep-resolve:{record.fid}:{iso(record.observed or record.first_seen)}"
        claim = deps.ledger.begin_event(marker, SWEEP_RESOLVED, deps.lease_s)
        if claim.done or claim.token is None:
            return
        progress = claim.progress
        try:
            if not progress.finding_done:
                finding = resolved(record.finding, now, GONE)
                deps.findings.import_finding(finding)
                deps.ledger.record_state(
                    record.fid, observed=now, open_=False, finding=finding, shown=None
                )
                progress = replace(progress, finding_done=True)
            if deps.alerter is not None and not progress.message_sent:
                slot = record.slot
                thread = slot.ref if slot is not None and slot.state is SlotState.POSTED else None
                message = resolution_message(
                    record.account, deps.account_name(record.account), record.fid
                )
                # A resolution never takes the key's alert slot: without a thread it is a
                # message of its own.
                ref = deps.alerter.post(message, thread=thread)
                kind = MessageKind.REPLY if thread else MessageKind.NOTICE
                progress = replace(progress, message=ref, message_kind=kind, message_sent=True)
            deps.ledger.finish_event(marker, claim.token, progress)
        except BaseException:
            deps.ledger.release_event(marker, claim.token, progress)
            raise


_WOULD = {
    KeyAction.ALERT: "alert",
    KeyAction.TAKE_OVER: "bind the unknown-key finding to",
    KeyAction.STATUS: "say the new status of",
    KeyAction.REALERT: "alert again",
    KeyAction.REFRESH: "re-import the finding of",
    KeyAction.KNOWN: "leave",
}


def _would_key(plan: KeyPlan) -> str:
    """What the sweep would do about one listed key, with what IAM says of it."""
    key = plan.key
    facts = [key.status]
    if key.created is not None:
        facts.append(f"created {iso(key.created)}")
    if key.last_used is not None:
        facts.append(f"last used {iso(key.last_used)}")
    return f"{_WOULD[plan.action]} key {mask_key(key.key_id)} ({', '.join(facts)})"
