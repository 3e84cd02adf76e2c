"""The exactly-once delivery model: what the ledger knows, and the pure planner over it.

From the event's progress and the key's record (its alert slot, its newest state), :func:`plan`
says which steps this attempt of an event must still take; the pipeline carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from detector.config import SlackMode
from detector.domain.event import InputForm, RootKeyEvent
from detector.domain.sweep_event import SWEEP_EVENT_PREFIX
from detector.domain.verdict import Verdict


@dataclass(frozen=True, slots=True)
class SlackRef:
    """Where a posted message lives: enough to reply in its thread or update it."""

    channel: str
    ts: str


class MessageKind(StrEnum):
    """What an event's own Slack message is."""

    ALERT = "alert"  # the key's one top-level message
    REPLY = "reply"  # a later event of the key, in the alert's thread
    NOTICE = "notice"  # its own message: notices, and every message of a webhook


@dataclass(frozen=True, slots=True)
class Progress:
    """What earlier attempts of one event finished (the ledger's event record)."""

    attempts: int = 1
    finding_done: bool = False
    message: SlackRef | None = None  # the message this event posted
    message_kind: MessageKind | None = None
    message_sent: bool = False  # posted (a webhook's post has no ref)
    update_done: bool = False  # the key's top-level alert redrawn with this event's state


class SlotState(StrEnum):
    """The key's top-level alert as the asking event sees it."""

    MINE = "mine"  # this event holds the claim: it posts the alert
    POSTING = "posting"  # another event holds the claim and has not posted yet
    POSTED = "posted"


@dataclass(frozen=True, slots=True)
class AlertSlot:
    """The key's one top-level alert: who claimed it and where it is once posted."""

    state: SlotState
    owner: str | None = None  # the event that claimed (and posted) it
    ref: SlackRef | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The ledger's record of one key's finding, in the security account.

    ``observed`` is the newest state recorded (the finding's ``UpdatedAt``); ``finding`` the
    ASFF the detector built for it, which the sweep refreshes and resolves from.
    """

    fid: str
    account: str
    key_id: str | None
    first_seen: datetime
    slot: AlertSlot | None = None  # None: no top-level alert claimed (webhook, Slack off)
    observed: datetime | None = None
    open: bool = False  # the newest recorded state is an ACTIVE (FAILED) finding
    finding: dict[str, Any] | None = None
    shown: dict[str, Any] | None = None  # the message the top-level alert should show
    alias: str | None = None  # this key's story lives under that finding (see :func:`bind`)
    bound_to: str | None = None  # a sweep's unknown-key record: the key it turned out to be
    origin: str | None = None  # the event that opened the record (a sweep's, for its finds)
    joined: int = 0  # a notice group: how many notices replied in its thread
    triage: dict[str, Any] | None = None  # the finding's workflow as the alert shows it
    removal: dict[str, Any] | None = None  # the key's last removal request (domain.removal)


NOTICE_GROUP_PREFIX = "notices/"


def notice_group(account: str | None, when: datetime) -> str:
    """The group a notice joins: one top-level message per account and hour of event time.

    Failed key creations and keys made for IAM users can come in bursts; each is a reply in
    its group's thread, and the group's message counts them, so a burst is one notification.
    """
    return f"{NOTICE_GROUP_PREFIX}{account or 'unknown-account'}/{when:%Y-%m-%dT%H}"


def bind_target(
    verdict: Verdict, when: datetime, own: KeyRecord | None, account_keys: list[KeyRecord]
) -> KeyRecord | None:
    """The sweep's unknown-key record that an event of a key seen for the first time takes over.

    The sweep can only say "root holds a key": it files an unknown-key finding. The first event
    that names a key of that account (``own`` has no alert and no state yet) continues that
    story instead of starting a second one, if the key may be the one the sweep saw: any later
    step of a key (it existed before), or a creation no later than the sweep's observation.
    """
    if own is not None and (own.observed is not None or _posted(own.slot)):
        return None
    for record in account_keys:
        if record.key_id is not None or not record.open or record.alias is not None:
            continue
        if record.bound_to is not None:
            continue
        if verdict.is_lifecycle or when <= record.first_seen:
            return record
    return None


def _posted(slot: AlertSlot | None) -> bool:
    return slot is not None and slot.state is SlotState.POSTED


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the planner decides from: the event and what the ledger holds."""

    verdict: Verdict
    mode: SlackMode
    keyed: bool = False  # the event is about a key with a record (a root key of an account)
    grouped: bool = False  # a notice whose account and hour share one top-level message
    progress: Progress = field(default_factory=Progress)
    slot: AlertSlot | None = None  # the key's alert slot, as this event's claim left it
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps this attempt still takes (each one an earlier attempt did not finish)."""

    import_finding: bool = False
    post: MessageKind | None = None  # post this event's message
    thread: SlackRef | None = None  # ...as a reply in this thread
    look_first: bool = False  # a retry: look in Slack for a post its dead predecessor made
    adopt: SlackRef | None = None  # an earlier attempt posted the key's alert: record it
    wait_for_alert: bool = False  # another event is posting the key's alert: wait for it
    record_alert: bool = False  # this event's message is the key's top-level alert
    redraw: bool = False  # show this event's state on the key's top-level alert


def plan(facts: Facts) -> Plan:
    """The steps for one attempt of one event, from the ledger's facts (no I/O).

    A key event (``keyed``) gets a finding; in bot mode its messages share one top-level
    alert per key. Everything else, and every message of a webhook, is a message of its own.

    Raises:
        ValueError: an ignored event (it has nothing to plan).
    """
    verdict, progress = facts.verdict, facts.progress
    if verdict is Verdict.IGNORED:
        raise ValueError("an ignored event has nothing to plan")
    keyed = facts.keyed and verdict.key_expected_present is not None
    finding = keyed and not progress.finding_done
    if facts.mode is SlackMode.DISABLED:
        return Plan(import_finding=finding)
    if facts.mode is SlackMode.BOT and facts.grouped and not keyed:
        return _bot_plan(facts, facts.slot or AlertSlot(SlotState.POSTING), finding=False)
    if facts.mode is SlackMode.WEBHOOK or not keyed:
        return Plan(
            import_finding=finding,
            post=None if progress.message_sent else MessageKind.NOTICE,
            look_first=progress.attempts > 1 and not progress.message_sent,
        )
    # A record without a slot in bot mode vanished (TTL) between reads: wait, then retry.
    return _bot_plan(facts, facts.slot or AlertSlot(SlotState.POSTING), finding)


def _bot_plan(facts: Facts, slot: AlertSlot, finding: bool) -> Plan:
    progress, retry = facts.progress, facts.progress.attempts > 1
    if progress.message_kind is MessageKind.ALERT and progress.message is not None:
        # This event posted the alert; its record of it may have been lost with the attempt.
        return Plan(import_finding=finding, adopt=progress.message)
    if slot.state is SlotState.POSTED and slot.owner == facts.event_id and slot.ref is not None:
        return Plan(import_finding=finding, adopt=slot.ref)  # its own alert, recorded before
    if slot.state is SlotState.MINE:
        return Plan(
            import_finding=finding, post=MessageKind.ALERT, look_first=retry, record_alert=True
        )
    if slot.state is SlotState.POSTING or slot.ref is None:
        return Plan(import_finding=finding, wait_for_alert=True)
    replied = progress.message_sent
    return Plan(
        import_finding=finding,
        post=None if replied else MessageKind.REPLY,
        thread=slot.ref,
        look_first=retry and not replied,
        # A lifecycle step shows the key's newest state; a grouped notice, the group's count.
        redraw=(facts.verdict.is_lifecycle or facts.grouped) and not progress.update_done,
    )


class Status(StrEnum):
    """How one record ended."""

    IGNORED = "ignored"
    REFUSED = "refused"  # not to be trusted (see :func:`refusal`): logged, never acted on
    DUPLICATE = "duplicate"  # an earlier delivery finished it
    HANDLED = "handled"


def refusal(
    event: RootKeyEvent, *, own_account: str | None = None, organization: bool = True
) -> str | None:
    """Why an event must not be acted on, or None.

    - The sweep's own events live in the same ledger: a record claiming one of their ids could
      take a sweep's alert slot, so no CloudTrail record may carry one.
    - EventBridge's envelope names the account the event came from; a record naming another
      account would make the detector act there (assume its role, file there, alert about
      it). Genuine CloudTrail events never disagree; a replayed or invoked body can.
    - Without an organization (``organization`` False) the detector watches its own account
      (``own_account``) only: an event of any other account did not come from its rule.
    """
    if event.form is not InputForm.SWEEP and event.event_id.startswith(SWEEP_EVENT_PREFIX):
        return f"a CloudTrail event id cannot start with {SWEEP_EVENT_PREFIX!r}"
    envelope, record = event.envelope_account, event.account_id
    if envelope is not None and record is not None and envelope != record:
        return f"the EventBridge envelope's account {envelope} is not the record's {record}"
    if not organization and own_account and record is not None and record != own_account:
        return (
            f"the event names account {record}; without an organization this detector "
            f"watches only its own account {own_account}"
        )
    return None


class Action(StrEnum):
    """What one attempt did, in the order it happened (the handler's summary shows them)."""

    FINDING_IMPORTED = "finding-imported"
    ALERTED = "alerted"
    REPLIED = "replied"
    NOTICE_POSTED = "notice-posted"
    FOUND_POSTED = "found-posted"  # an earlier attempt's post, found in Slack
    ALERT_ADOPTED = "alert-adopted"  # an earlier attempt's alert, from the ledger
    ALERT_UPDATED = "alert-updated"
    ALERT_REPLACED = "alert-replaced"  # the key's alert was gone: a new top-level message
    ALERTED_WITHOUT_LEDGER = "alerted-without-ledger"  # the ledger was down: duplicates possible
    BOUND = "bound-to-sweep-finding"
    SLACK_DISABLED = "slack-disabled"
