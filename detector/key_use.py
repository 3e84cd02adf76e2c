"""Uses of an alerted root key: counted once, told in the key's thread, kept in its finding.

Two sources: a root call signed with the key, as its CloudTrail record reaches the detector
(:func:`note_event`, from the pipeline), and the last use IAM reports, read by the daily sweep
(:func:`note_last_use`). Both go through :func:`note_use`: the ledger counts the use (once per
event), records the newest, and lets one event at a time claim the key's next reply (the first
use, then at most one an hour with the count since the last).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from detector.config import SlackMode
from detector.domain.delivery import KeyRecord, SlotState, refusal
from detector.domain.event import RootKeyEvent
from detector.domain.finding import finding_id
from detector.domain.key_use import (
    REPLY_EVERY,
    KeyUse,
    key_use,
    last_use,
    use_message,
    with_last_use,
)
from detector.domain.root_access import RootKey
from detector.domain.text import mask_key
from detector.errors import LedgerBusy
from detector.log import get_logger
from detector.ports import UseReplyClaim

if TYPE_CHECKING:
    from detector.pipeline import Dependencies


class UseOutcome(StrEnum):
    """What noting one use did."""

    NOT_A_USE = "not-a-use"  # no root call signed with a long-term key
    NOT_ALERTED = "not-alerted"  # a key the detector never alerted on: ignored
    REFUSED = "refused"  # the record's account is not one this detector watches
    NOT_NEWER = "not-newer"  # IAM's last use is one the ledger already holds
    COUNTED = "counted"  # counted; the key's last reply is recent (or another event replies)
    REPLIED = "replied"  # this use's reply is in the key's thread


def note_event(event: RootKeyEvent, deps: Dependencies) -> UseOutcome:
    """A CloudTrail record signed with an alerted root key: note the use.

    Raises:
        DetectorError: the ledger, Security Hub or Slack failed (the event is retried: a use
            is counted once however often it comes).
    """
    use = key_use(event)
    if use is None:
        return UseOutcome.NOT_A_USE
    reason = refusal(
        event,
        organization=deps.organization,
        own_account=None if deps.organization else deps.own_account(),
    )
    if reason is not None:
        get_logger().warning(
            "key use refused", extra={"event_id": event.event_id, "reason": reason}
        )
        return UseOutcome.REFUSED
    return note_use(use, deps)


def note_last_use(account: str, key: RootKey, now: datetime, deps: Dependencies) -> UseOutcome:
    """The sweep's backstop: IAM's last use of a listed key (read at ``now``), if newer than
    the ledger's."""
    use = last_use(account, key, now)
    return UseOutcome.NOT_A_USE if use is None else note_use(use, deps)


def alerted_record(deps: Dependencies, account: str, key_id: str) -> KeyRecord | None:
    """The record holding the story of a key the detector alerted on (None: never alerted).

    Raises:
        LedgerBusy: the key's alert is being posted (transient: the use is tried again).
    """
    ledger = deps.ledger
    record = ledger.read_key(finding_id(account, key_id))
    if record is not None and record.alias:
        record = ledger.read_key(record.alias)
    if record is None:
        return None
    if record.slot is None:
        # A webhook has no thread and no alert slot: a filed finding means the alert went out.
        webhook = deps.slack_mode is SlackMode.WEBHOOK
        return record if webhook and record.finding is not None else None
    if record.slot.state is not SlotState.POSTED:
        # The key's alert is being posted now (a use right after the key's creation): the
        # use's event is tried again once it is.
        raise LedgerBusy(
            "ledger", "AlertInProgress", "the key's alert is not posted yet", transient=True
        )
    return record


def note_use(use: KeyUse, deps: Dependencies) -> UseOutcome:
    """Count the use, record it as the newest if it is, and reply if this use may."""
    log = get_logger()
    fields = {"account": use.account, "access_key": mask_key(use.key_id), "use": use.event_id}
    record = alerted_record(deps, use.account, use.key_id)
    if record is None:
        log.debug("use of a key the detector never alerted on", extra=fields)
        return UseOutcome.NOT_ALERTED
    ledger = deps.ledger
    if use.counted:
        ledger.count_use(record.fid, use.event_id)
    newer = ledger.record_last_use(record.fid, use.when)
    # IAM's last use, if no newer than the ledger's, still reports the uses counted since the
    # last reply once the hour has passed (no later use came to report them).
    claim = ledger.claim_use_reply(
        record.fid,
        use.event_id,
        every_s=int(REPLY_EVERY.total_seconds()),
        lease_s=deps.lease_s,
        pending=use.counted or not newer,
    )
    if claim is None:
        log.info("key use counted" if use.counted else "key use known", extra=fields)
        return UseOutcome.COUNTED if use.counted else UseOutcome.NOT_NEWER
    try:
        if newer or claim.retry:  # an older use never replaces the finding's last use
            _record_in_finding(deps, record, use)
        _reply(deps, record, use, claim)
    except BaseException:
        ledger.release_use_reply(record.fid, use.event_id)
        raise
    ledger.finish_use_reply(record.fid, use.event_id)
    log.info("key use replied", extra={**fields, "uses": claim.uses, "first": claim.first})
    return UseOutcome.REPLIED


def _record_in_finding(deps: Dependencies, record: KeyRecord, use: KeyUse) -> None:
    """The finding records the use, if it is newer than the finding's state (an open key)."""
    if record.finding is None or not record.open:
        return
    stamp = use.when
    if use.observed is not None and record.observed is not None:
        # The sweep's observation: after any state the ledger holds (Security Hub ignores an
        # import whose UpdatedAt is not newer).
        stamp = max(use.observed, record.observed + timedelta(milliseconds=1))
    if record.observed is not None and stamp <= record.observed:
        return  # the finding shows a newer state: Security Hub would ignore an older import
    finding = with_last_use(record.finding, use, stamp)
    deps.findings.import_finding(finding)
    deps.ledger.record_state(record.fid, observed=stamp, open_=True, finding=finding, shown=None)


def _reply(deps: Dependencies, record: KeyRecord, use: KeyUse, claim: UseReplyClaim) -> None:
    """The reply in the key's thread (its own message without threads); a retry of an event
    that may have posted it looks for it first."""
    alerter = deps.alerter
    if alerter is None:
        return
    message = use_message(use, record.fid, first=claim.first, uses=claim.uses)
    slot = record.slot
    thread = slot.ref if slot is not None and alerter.supports_threads else None
    if claim.retry and alerter.find_posted(message, thread=thread, since=use.when) is not None:
        return
    alerter.post(message, thread=thread)
