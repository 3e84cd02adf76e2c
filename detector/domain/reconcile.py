"""The sweep's decision for one account: what IAM says now against the ledger's key records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from detector.domain.delivery import KeyRecord

# Security Hub deletes a finding 90 days after its last update; the sweep re-imports the
# finding of a key that still exists once its last update is this old (three chances before).
REFRESH_AFTER = timedelta(days=30)


class AccountStatus(StrEnum):
    """How one account ended in a sweep."""

    CLEAN = "clean"  # no root key, nothing open
    KNOWN = "known"  # a root key the detector already filed
    ALERTED = "alerted"  # a root key nobody had filed: finding and alert
    RESOLVED = "resolved"  # the key is gone: its open findings were resolved
    FAILED = "failed"  # the account could not be read or an action failed


@dataclass(frozen=True, slots=True)
class Decision:
    """What the sweep does in one account."""

    status: AccountStatus
    alert_new: bool = False  # file a finding and alert for a key no record covers
    refresh: tuple[KeyRecord, ...] = ()  # re-import: the key is still there
    resolve: tuple[KeyRecord, ...] = ()  # the key is gone
    settling: tuple[KeyRecord, ...] = field(default=())  # gone, but recorded too recently
    realert: tuple[KeyRecord, ...] = ()  # still there, and its alert never reached Slack


def open_records(records: list[KeyRecord]) -> list[KeyRecord]:
    """The key records whose newest state is an open finding the detector filed."""
    return [r for r in records if r.open and r.alias is None and r.finding is not None]


def decide(
    present: bool,
    records: list[KeyRecord],
    now: datetime,
    *,
    settle: timedelta,
    refresh_after: timedelta = REFRESH_AFTER,
    unalerted: frozenset[str] = frozenset(),
) -> Decision:
    """The sweep's action in an account whose root holds a key (``present``) or not.

    Only the ledger's records count as "filed": a finding in a member's own Security Hub is
    data that account's administrators can write. A record whose state is newer than
    ``settle`` is not resolved yet: IAM is eventually consistent and may not show a key
    created seconds ago. ``unalerted`` names the records a sweep opened whose alert never
    reached Slack: they are alerted again (a key only the sweep found must not stay silent).
    """
    opened = open_records(records)
    if present and not opened:
        return Decision(AccountStatus.ALERTED, alert_new=True)
    if present:
        stale = tuple(r for r in opened if _age(r, now) >= refresh_after)
        again = tuple(r for r in opened if r.fid in unalerted)
        status = AccountStatus.ALERTED if again else AccountStatus.KNOWN
        return Decision(status, refresh=stale, realert=again)
    if not opened:
        return Decision(AccountStatus.CLEAN)
    resolve = tuple(r for r in opened if _age(r, now) >= settle)
    settling = tuple(r for r in opened if _age(r, now) < settle)
    status = AccountStatus.RESOLVED if resolve else AccountStatus.KNOWN
    return Decision(status, resolve=resolve, settling=settling)


def _age(record: KeyRecord, now: datetime) -> timedelta:
    return now - (record.observed or record.first_seen)


@dataclass(frozen=True, slots=True)
class OrgAccount:
    """An account as AWS Organizations lists it."""

    id: str
    # ``State`` (PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED); ``Status`` on
    # answers from before its retirement (2026-09-09); None when the answer carried neither.
    state: str | None
    # The organization's management account (its ARN's owner is itself): centralized root access
    # reaches member accounts only ("AssumeRoot", STS API reference).
    management: bool = False


@dataclass(frozen=True, slots=True)
class Selection:
    """Which of an organization's accounts a sweep covers, and why others are left out."""

    accounts: tuple[str, ...]
    notes: dict[str, str] = field(default_factory=dict)  # account -> why it is reported
    skipped: dict[str, int] = field(default_factory=dict)  # state -> accounts not swept
    management: str | None = None  # the management account, when the organization's list says


def select(accounts: list[OrgAccount]) -> Selection:
    """ACTIVE accounts are swept; so is an account whose state is not given (and it is
    reported): silently dropping an account would hide its root key for good."""
    chosen: list[str] = []
    notes: dict[str, str] = {}
    skipped: dict[str, int] = {}
    for account in accounts:
        if account.state == "ACTIVE":
            chosen.append(account.id)
        elif account.state is None:
            chosen.append(account.id)
            notes[account.id] = "AWS Organizations gave no State for this account: swept anyway"
        else:
            skipped[account.state] = skipped.get(account.state, 0) + 1
    management = next((a.id for a in accounts if a.management), None)
    return Selection(tuple(chosen), notes, dict(sorted(skipped.items())), management)
