"""The sweep's decision for one account whose root keys it can list (centralized root access).

With an audit root session the sweep knows each key of root by its id, status and creation
date: each key gets its own finding, never the ``unknown-key`` one. :func:`decide_keys` matches
the listed keys with the ledger's records; :mod:`detector.sweep` carries the choice out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from detector.domain.delivery import KeyRecord
from detector.domain.finding import finding_id
from detector.domain.reconcile import REFRESH_AFTER, AccountStatus, open_records
from detector.domain.root_access import RootKey


class KeyAction(StrEnum):
    """What the sweep does about one key IAM lists."""

    ALERT = "alert"  # no record covers it: its own finding and alert
    TAKE_OVER = "take-over"  # an earlier sweep's unknown-key finding was this key: bind it
    STATUS = "status"  # its finding says another status than IAM (Active / Inactive)
    REALERT = "realert"  # a sweep opened its record and the alert never reached Slack
    REFRESH = "refresh"  # known; its finding is old enough to re-import
    KNOWN = "known"  # known; nothing to do


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """One listed key: its own finding Id, what to do, and the record holding its story."""

    key: RootKey
    fid: str  # finding_id(account, key id)
    action: KeyAction
    record: KeyRecord | None = None  # the open record of its story (the unknown one to bind)


@dataclass(frozen=True, slots=True)
class KeysDecision:
    """What the sweep does in one account whose keys it listed."""

    status: AccountStatus
    keys: tuple[KeyPlan, ...] = ()
    resolve: tuple[KeyRecord, ...] = ()  # open, and no listed key is theirs
    settling: tuple[KeyRecord, ...] = ()  # the same, but recorded too recently


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_CHANGING = frozenset({KeyAction.ALERT, KeyAction.TAKE_OVER, KeyAction.STATUS, KeyAction.REALERT})


def decide_keys(
    account: str,
    keys: list[RootKey],
    records: list[KeyRecord],
    now: datetime,
    *,
    settle: timedelta,
    refresh_after: timedelta = REFRESH_AFTER,
    unalerted: frozenset[str] = frozenset(),
) -> KeysDecision:
    """Match root's listed ``keys`` with the account's ledger ``records``.

    A key's story is its own record, or the unknown-key record it was bound to (by an event
    or an earlier sweep). A listed key without a story takes over the oldest open unknown-key
    record filed when the key already existed (one story, not two), else gets its own alert.
    An open record no listed key is theirs is resolved once older than ``settle`` (IAM is
    eventually consistent). Only the ledger's records count as "filed".
    """
    opened = open_records(records)
    by_fid = {r.fid: r for r in records}
    free = sorted(
        (r for r in opened if r.key_id is None and r.bound_to is None), key=lambda r: r.first_seen
    )
    plans: list[KeyPlan] = []
    covered: set[str] = set()
    for key in sorted(keys, key=_created_order):
        fid = finding_id(account, key.key_id)
        story = _story(fid, key.key_id, by_fid, opened)
        if story is None:
            taken = next((u for u in free if _may_be(key, u)), None)
            if taken is not None:
                free.remove(taken)
                covered.add(taken.fid)
            action = KeyAction.TAKE_OVER if taken else KeyAction.ALERT
            plans.append(KeyPlan(key, fid, action, taken))
            continue
        covered.add(story.fid)
        action = _known_action(key, story, now, refresh_after, unalerted)
        plans.append(KeyPlan(key, fid, action, story))
    gone = [r for r in opened if r.fid not in covered]
    resolve = tuple(r for r in gone if _age(r, now) >= settle)
    settling = tuple(r for r in gone if _age(r, now) < settle)
    return KeysDecision(_status(plans, resolve, settling), tuple(plans), resolve, settling)


def _status(
    plans: list[KeyPlan], resolve: tuple[KeyRecord, ...], settling: tuple[KeyRecord, ...]
) -> AccountStatus:
    if any(p.action in _CHANGING for p in plans):
        return AccountStatus.ALERTED
    if resolve:
        return AccountStatus.RESOLVED
    return AccountStatus.KNOWN if plans or settling else AccountStatus.CLEAN


def _created_order(key: RootKey) -> tuple[datetime, str]:
    """Oldest first (a key without a creation date first): the oldest takes over."""
    return (key.created or _EARLIEST, key.key_id)


def _story(
    fid: str, key_id: str, by_fid: dict[str, KeyRecord], opened: list[KeyRecord]
) -> KeyRecord | None:
    """The open record that holds the key's story: its own, the one its own record points at
    (``alias``), or an unknown-key record bound to it."""
    own = by_fid.get(fid)
    target = by_fid.get(own.alias) if own is not None and own.alias else own
    if target is not None and target in opened:
        return target
    return next((r for r in opened if r.bound_to == key_id), None)


def _may_be(key: RootKey, unknown: KeyRecord) -> bool:
    """Whether ``key`` may be the key an earlier sweep filed ``unknown`` for: it existed then
    (or its creation date is not known)."""
    return key.created is None or key.created <= unknown.first_seen


def _known_action(
    key: RootKey,
    story: KeyRecord,
    now: datetime,
    refresh_after: timedelta,
    unalerted: frozenset[str],
) -> KeyAction:
    if story.fid in unalerted:
        return KeyAction.REALERT
    recorded = recorded_status(story.finding)
    if recorded is not None and recorded != key.status:
        return KeyAction.STATUS
    return KeyAction.REFRESH if _age(story, now) >= refresh_after else KeyAction.KNOWN


def recorded_status(finding: dict[str, Any] | None) -> str | None:
    """The key status (Active / Inactive) a finding shows (None: none shown)."""
    for resource in (finding or {}).get("Resources", []):
        details = resource.get("Details", {}).get("AwsIamAccessKey")
        if isinstance(details, dict) and isinstance(details.get("Status"), str):
            return str(details["Status"])
    return None


def _age(record: KeyRecord, now: datetime) -> timedelta:
    return now - (record.observed or record.first_seen)
