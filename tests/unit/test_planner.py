"""The planner as a table: every verdict, with every progress state, alert slot and Slack mode.

``plan`` is pure: what an attempt still does follows from what the ledger says earlier attempts
finished (progress) and who holds the key's top-level alert (slot). Each row below is one
situation; the test checks every combination meets exactly one row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from detector.config import SlackMode
from detector.domain.delivery import (
    AlertSlot,
    Facts,
    MessageKind,
    Plan,
    Progress,
    SlackRef,
    SlotState,
    plan,
)
from detector.domain.verdict import Verdict

ME = "this-event"
ALERT = SlackRef("C0ALERTS", "1.0001")  # the key's top-level alert
MINE_POSTED = SlackRef("C0ALERTS", "2.0002")  # this event's own message, posted before

PROGRESS = {
    "fresh": Progress(),
    "retry": Progress(attempts=2),
    "imported": Progress(attempts=2, finding_done=True),
    "alert posted": Progress(
        attempts=2, message=MINE_POSTED, message_kind=MessageKind.ALERT, message_sent=True
    ),
    "reply posted": Progress(
        attempts=2, message=MINE_POSTED, message_kind=MessageKind.REPLY, message_sent=True
    ),
    "redrawn": Progress(
        attempts=2,
        finding_done=True,
        message=MINE_POSTED,
        message_kind=MessageKind.REPLY,
        message_sent=True,
        update_done=True,
    ),
    "notice sent": Progress(attempts=2, message_kind=MessageKind.NOTICE, message_sent=True),
}
SLOTS = {
    "mine": AlertSlot(SlotState.MINE, ME),
    "posting": AlertSlot(SlotState.POSTING, "other-event"),
    "posted": AlertSlot(SlotState.POSTED, "other-event", ALERT),
    "posted by me": AlertSlot(SlotState.POSTED, ME, ALERT),
}
KEY_VERDICTS = (Verdict.CREATED, Verdict.ACTIVATED, Verdict.DEACTIVATED, Verdict.DELETED)
NOTICE_VERDICTS = (Verdict.USER_KEY, Verdict.CREATE_FAILED)
LIFECYCLE = "lifecycle"  # in an expected plan: redraw is True for lifecycle verdicts only


@dataclass(frozen=True)
class Row:
    mode: SlackMode
    keyed: bool
    progress: str  # a PROGRESS name, or "*"
    slot: str  # a SLOTS name, or "*"
    expected: Plan
    redraw: str = ""  # LIFECYCLE: the plan redraws for lifecycle verdicts only

    def matches(self, mode: SlackMode, keyed: bool, progress: str, slot: str) -> bool:
        return (
            self.mode is mode
            and self.keyed == keyed
            and self.progress in {"*", progress}
            and self.slot in {"*", slot}
        )


def _bot(progress: str, slot: str, redraw: str = "", **steps: object) -> Row:
    return Row(SlackMode.BOT, True, progress, slot, Plan(**steps), redraw)  # type: ignore[arg-type]


FINDING = {"import_finding": True}
# Bot mode, a key event: one top-level alert per key, every later event a reply in its thread.
BOT_KEY_ROWS = [
    # This event holds the claim: it posts the alert (a retry looks for its lost post first).
    _bot("fresh", "mine", **FINDING, post=MessageKind.ALERT, record_alert=True),
    _bot("retry", "mine", **FINDING, post=MessageKind.ALERT, look_first=True, record_alert=True),
    _bot("imported", "mine", post=MessageKind.ALERT, look_first=True, record_alert=True),
    _bot(
        "reply posted",
        "mine",
        **FINDING,
        post=MessageKind.ALERT,
        look_first=True,
        record_alert=True,
    ),
    _bot("redrawn", "mine", post=MessageKind.ALERT, look_first=True, record_alert=True),
    _bot(
        "notice sent", "mine", **FINDING, post=MessageKind.ALERT, look_first=True, record_alert=True
    ),
    # It posted the alert before: record it, post nothing.
    _bot("alert posted", "*", **FINDING, adopt=MINE_POSTED),
    # The ledger already shows its own alert (its progress lost): adopt it.
    _bot("fresh", "posted by me", **FINDING, adopt=ALERT),
    _bot("retry", "posted by me", **FINDING, adopt=ALERT),
    _bot("imported", "posted by me", adopt=ALERT),
    _bot("reply posted", "posted by me", **FINDING, adopt=ALERT),
    _bot("redrawn", "posted by me", adopt=ALERT),
    _bot("notice sent", "posted by me", **FINDING, adopt=ALERT),
    # Another event is posting the alert: wait for it.
    _bot("fresh", "posting", **FINDING, wait_for_alert=True),
    _bot("retry", "posting", **FINDING, wait_for_alert=True),
    _bot("imported", "posting", wait_for_alert=True),
    _bot("reply posted", "posting", **FINDING, wait_for_alert=True),
    _bot("redrawn", "posting", wait_for_alert=True),
    _bot("notice sent", "posting", **FINDING, wait_for_alert=True),
    # The alert is posted: reply in its thread; a lifecycle step redraws the alert.
    _bot("fresh", "posted", LIFECYCLE, **FINDING, post=MessageKind.REPLY, thread=ALERT),
    _bot(
        "retry",
        "posted",
        LIFECYCLE,
        **FINDING,
        post=MessageKind.REPLY,
        thread=ALERT,
        look_first=True,
    ),
    _bot("imported", "posted", LIFECYCLE, post=MessageKind.REPLY, thread=ALERT, look_first=True),
    _bot("reply posted", "posted", LIFECYCLE, **FINDING, thread=ALERT),
    _bot("redrawn", "posted", thread=ALERT),
    _bot("notice sent", "posted", LIFECYCLE, **FINDING, thread=ALERT),
]


def _own_message(mode: SlackMode, keyed: bool) -> list[Row]:
    """Webhooks, and notices in any mode: each event its own message."""
    rows = []
    for name, prog in PROGRESS.items():
        steps: dict[str, object] = {"import_finding": keyed and not prog.finding_done}
        if not prog.message_sent:
            steps |= {"post": MessageKind.NOTICE, "look_first": prog.attempts > 1}
        rows.append(Row(mode, keyed, name, "*", Plan(**steps)))  # type: ignore[arg-type]
    return rows


ROWS = [
    *BOT_KEY_ROWS,
    *_own_message(SlackMode.BOT, keyed=False),
    *_own_message(SlackMode.WEBHOOK, keyed=True),
    *_own_message(SlackMode.WEBHOOK, keyed=False),
    # Slack disabled: only the finding, while not imported.
    *[
        Row(SlackMode.DISABLED, True, n, "*", Plan(import_finding=not p.finding_done))
        for n, p in PROGRESS.items()
    ],
    Row(SlackMode.DISABLED, False, "*", "*", Plan()),
]

CASES = [
    (mode, verdict, progress, slot)
    for mode, verdict, progress, slot in itertools.product(
        SlackMode, (*KEY_VERDICTS, *NOTICE_VERDICTS), PROGRESS, SLOTS
    )
]


@pytest.mark.parametrize(("mode", "verdict", "progress", "slot"), CASES)
def test_every_situation_has_exactly_one_row_and_its_plan(
    mode: SlackMode, verdict: Verdict, progress: str, slot: str
) -> None:
    keyed = verdict in KEY_VERDICTS
    (row,) = [r for r in ROWS if r.matches(mode, keyed, progress, slot)]
    expected = row.expected
    if row.redraw == LIFECYCLE and verdict.is_lifecycle:
        expected = Plan(**{**_fields(expected), "redraw": True})  # type: ignore[arg-type]
    facts = Facts(
        verdict=verdict,
        mode=mode,
        keyed=keyed,
        progress=PROGRESS[progress],
        slot=SLOTS[slot],
        event_id=ME,
    )
    assert plan(facts) == expected


def _fields(p: Plan) -> dict[str, object]:
    return {name: getattr(p, name) for name in Plan.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("verdict", "progress", "slot"), list(itertools.product(NOTICE_VERDICTS, PROGRESS, SLOTS))
)
def test_a_grouped_notice_shares_its_groups_message_as_a_key_event_shares_its_alert(
    verdict: Verdict, progress: str, slot: str
) -> None:
    """In bot mode a notice joins its account's group for the hour: the key rows apply, with no
    finding, and a reply redraws the group's count."""
    (row,) = [r for r in BOT_KEY_ROWS if r.matches(SlackMode.BOT, True, progress, slot)]
    expected = Plan(**{**_fields(row.expected), "import_finding": False})  # type: ignore[arg-type]
    if row.redraw == LIFECYCLE:  # a reply in the thread: the group's count changes
        redraw = not PROGRESS[progress].update_done
        expected = Plan(**{**_fields(expected), "redraw": redraw})  # type: ignore[arg-type]
    facts = Facts(
        verdict=verdict,
        mode=SlackMode.BOT,
        grouped=True,
        progress=PROGRESS[progress],
        slot=SLOTS[slot],
        event_id=ME,
    )
    assert plan(facts) == expected


def test_a_key_event_without_an_account_is_a_message_of_its_own() -> None:
    facts = Facts(verdict=Verdict.CREATED, mode=SlackMode.BOT, keyed=False)
    assert plan(facts) == Plan(post=MessageKind.NOTICE)


def test_a_key_record_whose_slot_vanished_waits() -> None:
    facts = Facts(verdict=Verdict.DELETED, mode=SlackMode.BOT, keyed=True, slot=None)
    assert plan(facts).wait_for_alert


def test_an_ignored_event_has_no_plan() -> None:
    with pytest.raises(ValueError, match="ignored"):
        plan(Facts(verdict=Verdict.IGNORED, mode=SlackMode.BOT))
