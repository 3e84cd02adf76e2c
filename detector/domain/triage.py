"""Triage from the alert: the actions, the Note they write, and what the alert shows for each state.

A responder's click becomes a Security Hub workflow change ("BatchUpdateFindings", Security Hub
API reference: ``Workflow.Status`` NEW, NOTIFIED, SUPPRESSED or RESOLVED; ``Note.Text`` 1-512
characters, with ``UpdatedBy``); the alert's status line and buttons show the finding's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
)

from detector.domain.message import SlackMessage
from detector.domain.text import ELLIPSIS, clean, mrkdwn

MAX_NOTE = 512  # Note.Text, "NoteUpdate" (Security Hub API reference)
NOTE_AUTHOR = "root-key-detector (Slack triage)"  # UpdatedBy of the detector's own notes
STATUS_BLOCK = "triage_status"
BUTTONS_BLOCK = "triage_buttons"
MAX_PAST = 20  # earlier triage states remembered per finding
MAX_METADATA = 3000  # a view's private_metadata ("View object", Slack reference)


class Workflow(StrEnum):
    """A finding's workflow status in Security Hub."""

    NEW = "NEW"
    NOTIFIED = "NOTIFIED"
    SUPPRESSED = "SUPPRESSED"
    RESOLVED = "RESOLVED"


class TriageAction(StrEnum):
    """A triage button; its value is the button's ``action_id``."""

    ACKNOWLEDGE = "triage_acknowledge"
    SUPPRESS = "triage_suppress"
    RESOLVE = "triage_resolve"

    @property
    def workflow(self) -> Workflow:
        """The workflow status the action sets."""
        return _WORKFLOW[self]

    @property
    def asks_text(self) -> bool:
        """The action asks for a reason or a note first (a modal)."""
        return self is not TriageAction.ACKNOWLEDGE

    @property
    def verb(self) -> str:
        """What the responder did, in a sentence."""
        return _VERB[self]


_WORKFLOW = {
    TriageAction.ACKNOWLEDGE: Workflow.NOTIFIED,
    TriageAction.SUPPRESS: Workflow.SUPPRESSED,
    TriageAction.RESOLVE: Workflow.RESOLVED,
}
_VERB = {
    TriageAction.ACKNOWLEDGE: "acknowledged",
    TriageAction.SUPPRESS: "suppressed",
    TriageAction.RESOLVE: "resolved",
}
_LABEL = {
    TriageAction.ACKNOWLEDGE: "Acknowledge",
    TriageAction.SUPPRESS: "Suppress",
    TriageAction.RESOLVE: "Resolve",
}
ACTION_IDS: dict[str, TriageAction] = {a.value: a for a in TriageAction}
LINK_ACTION_IDS = frozenset({"open_finding", "open_event"})  # message.py's link buttons


@dataclass(frozen=True, slots=True)
class TriageState:
    """A finding's workflow as the alert shows it: the status, who set it, when, and the note."""

    workflow: Workflow = Workflow.NEW
    by: str = ""  # "name (U123)" for a Slack responder; an ARN or "author unknown" otherwise
    at: datetime | None = None
    note: str = ""
    via_slack: bool = True  # set from the alert (False: changed in Security Hub)
    finding_note: str = ""  # the finding's Note.Text as this state left it
    # (workflow, finding note) of the states before this one, oldest first: an event that
    # shows one of them arrived late (an echo of an earlier change), not a new change.
    past: tuple[tuple[str, str], ...] = ()

    def followed_by(self, new: TriageState) -> TriageState:
        """``new``, remembering this state among its past ones (the last ``MAX_PAST``)."""
        past = (*self.past, (self.workflow.value, self.finding_note))[-MAX_PAST:]
        return replace(new, past=past)

    def was(self, workflow: Workflow, note: str) -> bool:
        """Whether an earlier state (not this one) showed ``workflow`` and ``note``."""
        return (workflow.value, note) in self.past

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the ledger keeps it)."""
        return {
            "workflow": self.workflow.value,
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
            "note": self.note,
            "via_slack": self.via_slack,
            "finding_note": self.finding_note,
            "past": [list(p) for p in self.past],
        }

    @classmethod
    def from_dict(cls, raw: Any) -> TriageState:
        """The state :meth:`as_dict` wrote (NEW for anything else)."""
        if not isinstance(raw, dict):
            return cls()
        try:
            at = raw.get("at")
            return cls(
                workflow=Workflow(raw.get("workflow", "NEW")),
                by=str(raw.get("by", "")),
                at=datetime.fromisoformat(at) if isinstance(at, str) else None,
                note=str(raw.get("note", "")),
                via_slack=bool(raw.get("via_slack", True)),
                finding_note=str(raw.get("finding_note", "")),
                past=_past(raw.get("past")),
            )
        except ValueError:
            return cls()


def _past(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        (str(p[0]), str(p[1])) for p in raw[-MAX_PAST:] if isinstance(p, list) and len(p) == 2
    )


def responder_label(name: str, user_id: str) -> str:
    """How a Slack user is named in notes and replies: ``name (U123)``, or the id alone."""
    name = clean(name, 80)
    return f"{name} ({user_id})" if name else user_id


def note_text(action: TriageAction, responder: str, at: datetime, text: str = "") -> str:
    """The finding's Note: who (name and id), what and when, then the reason; at most 512."""
    head = f"{_LABEL[action]} in Slack by {responder} at {at:%Y-%m-%dT%H:%M:%SZ}"
    note = f"{head}: {clean(text, MAX_NOTE)}" if text else head
    return fit_utf16(clean(note, MAX_NOTE), MAX_NOTE)


def utf16_len(text: str) -> int:
    """``text``'s length in UTF-16 code units (a character outside the BMP counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit_utf16(text: str, limit: int) -> str:
    """At most ``limit`` UTF-16 code units (Security Hub counts a string's length so, as Java
    does; an emoji is two); a cut ends with an ellipsis."""
    if utf16_len(text) <= limit:
        return text
    units = 0
    for end, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit - 1:  # one unit left for the ellipsis
            return text[:end] + ELLIPSIS
    return text


def status_line(state: TriageState, *, key_present: bool) -> str:
    """The alert's triage line (mrkdwn; every value escaped)."""
    when = f" at {state.at:%Y-%m-%d %H:%M UTC}" if state.at else ""
    where = "" if state.via_slack else " in Security Hub"
    by = f" by {mrkdwn(state.by, 200)}" if state.by else ""
    if state.workflow is Workflow.NEW:
        line = ":bell: *Workflow NEW*: not triaged yet."
    else:
        line = f"*Workflow {state.workflow.value}*{where}{by}{when}."
    if state.note and state.workflow is not Workflow.NEW:
        line += f" Note: {mrkdwn(state.note, 300)}"
    if state.workflow is Workflow.RESOLVED and key_present:
        line += (
            "\n:warning: Compliance stays *FAILED* while IAM still shows the key: delete it to "
            "pass the control."
        )
    return line


def buttons(fid: str, state: TriageState) -> list[ButtonElement]:
    """The triage buttons for a state: every action but the one that set it."""
    current = {a for a in TriageAction if a.workflow is state.workflow}
    return [
        ButtonElement(text=_LABEL[a], action_id=a.value, value=fid)
        for a in TriageAction
        if a not in current
    ]


@dataclass(frozen=True, slots=True)
class RemovalDrawing:
    """What the alert shows of a key's removal (see :mod:`detector.domain.removal`): a line
    under the triage status, and buttons after the triage ones."""

    line: str = ""
    buttons: tuple[ButtonElement, ...] = field(default=())


def triage_blocks(
    fid: str, state: TriageState, *, key_present: bool, removal: RemovalDrawing | None = None
) -> list[Block]:
    """The status line and the buttons, as the alert's last two blocks."""
    removal = removal or RemovalDrawing()
    lines = [MarkdownTextObject(text=status_line(state, key_present=key_present))]
    if removal.line:
        lines.append(MarkdownTextObject(text=removal.line))
    return [
        ContextBlock(block_id=STATUS_BLOCK, elements=lines),
        ActionsBlock(block_id=BUTTONS_BLOCK, elements=[*buttons(fid, state), *removal.buttons]),
    ]


def without_triage(blocks: list[Block]) -> list[Block]:
    """``blocks`` less an earlier drawing of the triage blocks."""
    return [b for b in blocks if b.block_id not in {STATUS_BLOCK, BUTTONS_BLOCK}]


def metadata(action: TriageAction, fid: str, channel: str, ts: str) -> str:
    """A modal's ``private_metadata``: what the submission acts on."""
    return json.dumps({"a": action.value, "f": fid, "c": channel, "t": ts}, separators=(",", ":"))


def parse_metadata(raw: Any) -> tuple[TriageAction, str, str, str] | None:
    """What :func:`metadata` wrote, or None."""
    if not isinstance(raw, str) or len(raw) > MAX_METADATA:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    action = ACTION_IDS.get(meta.get("a"))  # type: ignore[arg-type]
    parts = (meta.get("f"), meta.get("c"), meta.get("t"))
    if action is None or not all(isinstance(p, str) for p in parts):
        return None
    fid, channel, ts = (str(p) for p in parts)
    return action, fid, channel, ts


def modal(action: TriageAction, fid: str, channel: str, ts: str) -> dict[str, Any]:
    """The view ``views.open`` shows for Suppress (a reason) or Resolve (a note)."""
    suppress = action is TriageAction.SUPPRESS
    ask = "Why is this finding suppressed?" if suppress else "Resolution note"
    return {
        "type": "modal",
        "callback_id": action.value,
        "private_metadata": metadata(action, fid, channel, ts),
        "title": {"type": "plain_text", "text": f"{_LABEL[action]} finding"},
        "submit": {"type": "plain_text", "text": _LABEL[action]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": ask},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 400,
                },
            }
        ],
    }


def reply_text(state: TriageState, *, key_present: bool, note_only: bool = False) -> str:
    """The thread reply announcing a state (mrkdwn); ``note_only``: only the note changed."""
    where = "in Slack" if state.via_slack else "in Security Hub"
    by = mrkdwn(state.by, 200) if state.by else "someone (author unknown)"
    if note_only:
        text = f":memo: {by} changed the finding's note {where}."
        return text + (f"\nNote: {mrkdwn(state.note, 500)}" if state.note else "")
    verb = {
        Workflow.NEW: "reopened the finding (Workflow NEW)",
        Workflow.NOTIFIED: "acknowledged the finding (Workflow NOTIFIED)",
        Workflow.SUPPRESSED: "suppressed the finding (Workflow SUPPRESSED)",
        Workflow.RESOLVED: "resolved the finding (Workflow RESOLVED)",
    }[state.workflow]
    text = f":memo: {by} {verb} {where}."
    if state.note:
        text += f"\nNote: {mrkdwn(state.note, 500)}"
    if state.workflow is Workflow.RESOLVED and key_present:
        text += "\nCompliance stays FAILED while IAM still shows the key."
    return text


def with_triage(
    message: SlackMessage,
    fid: str,
    state: TriageState,
    *,
    key_present: bool,
    removal: RemovalDrawing | None = None,
) -> SlackMessage:
    """The key's alert with its triage status line and buttons (replacing earlier ones), and
    its removal's when key removal is enabled."""
    drawn = triage_blocks(fid, state, key_present=key_present, removal=removal)
    blocks = [*without_triage(message.blocks), *drawn]
    return SlackMessage(text=message.text, blocks=blocks, metadata=message.metadata)
