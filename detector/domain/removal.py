"""Removal of a member's root access key by two responders: the request, its states, when it is
refused, what the alert shows and what the thread is told.

One responder asks (Remove key), a second one confirms (Confirm removal); the job then opens a
root session with the delete task policy (``sts:AssumeRoot``, "AssumeRoot", STS API reference),
deletes that one key and lists root's keys again ("Perform a privileged task on an AWS
Organizations member account", IAM User Guide). Only a key the detector alerted on, named by
the key's record (never by the click), is ever removed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import ButtonElement, ConfirmObject

from detector.domain.delivery import KeyRecord
from detector.domain.root_access import DELETE_TASK_POLICY, MAX_ROOT_SESSION
from detector.domain.text import clean, mask_key, mrkdwn
from detector.domain.triage import MAX_NOTE, RemovalDrawing, TriageState, Workflow, fit_utf16

REQUEST_TTL = timedelta(hours=1)  # a request not confirmed within this is refused
# A confirmation holds the key this long: its job removes the key (or fails) within it. Past it,
# a job not done yet removes nothing, and a new request may replace it (its outcome unknown).
CONFIRM_LEASE = timedelta(minutes=15)
SEPARATOR = "|"  # between the parts of a removal button's value
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")  # AccessKeyId ("AccessKeyMetadata", IAM API reference)
_REQUEST_ID = re.compile(r"[0-9a-f]{16}")
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,124}\b")


class RemovalAction(StrEnum):
    """A removal button; its value is the button's ``action_id``."""

    REMOVE = "root_remove_key"
    CONFIRM = "root_confirm_removal"
    CANCEL = "root_cancel_removal"


REMOVAL_ACTION_IDS: dict[str, RemovalAction] = {a.value: a for a in RemovalAction}
EXPIRED_REASON = "removal request expired"
LAPSED_REASON = "removal outcome unknown"  # confirmed, and its job not done within its lease


class RemovalStatus(StrEnum):
    """Where a removal request stands (the ledger's ``removal_state``)."""

    PENDING = "PENDING"  # asked, waiting for a second responder
    CONFIRMED = "CONFIRMED"  # confirmed: the job removes the key (or says what it would do)
    DELETING = "DELETING"  # the job is deleting the key: DeleteAccessKey may have been called
    REMOVED = "REMOVED"  # IAM no longer lists the key
    FAILED = "FAILED"  # AssumeRoot or IAM refused, or IAM still lists the key
    DRY_RUN = "DRY_RUN"  # confirmed in dry-run: the calls were only named
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # not confirmed in time (set when a late click comes)

    @property
    def settled(self) -> bool:
        """A new request may replace it."""
        return self not in {
            RemovalStatus.PENDING,
            RemovalStatus.CONFIRMED,
            RemovalStatus.DELETING,
            RemovalStatus.REMOVED,
        }

    @property
    def under_way(self) -> bool:
        """Confirmed, and its job not done: it holds the key for :data:`CONFIRM_LEASE`."""
        return self in {RemovalStatus.CONFIRMED, RemovalStatus.DELETING}


@dataclass(frozen=True, slots=True)
class RemovalRequest:
    """One request to remove a key: who asked and when, who confirmed, and how it ended."""

    request_id: str
    key_id: str
    requester_id: str
    requester: str  # "name (U123)"
    requested: datetime
    dry_run: bool
    status: RemovalStatus = RemovalStatus.PENDING
    confirmer_id: str = ""
    confirmer: str = ""
    confirmed: datetime | None = None
    calls: tuple[str, ...] = ()  # the calls made (or, in a dry run, that would be made)
    problem: str = ""  # why it failed
    earlier: str = ""  # what became of the request it replaced, when that is unknown

    @property
    def expires(self) -> datetime:
        """When an unconfirmed request lapses."""
        return self.requested + REQUEST_TTL

    def expired(self, now: datetime) -> bool:
        """Whether it lapsed unconfirmed by ``now``."""
        return self.status is RemovalStatus.PENDING and now > self.expires

    @property
    def lease_ends(self) -> datetime:
        """When a confirmed request stops holding the key (:data:`CONFIRM_LEASE`)."""
        return (self.confirmed or self.requested) + CONFIRM_LEASE

    def lapsed(self, now: datetime) -> bool:
        """Whether it was confirmed and its job had not finished by the end of its lease: its
        outcome is unknown, and a new request may replace it."""
        return self.status.under_way and now > self.lease_ends

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the ledger keeps it)."""
        return {
            "request_id": self.request_id,
            "key_id": self.key_id,
            "requester_id": self.requester_id,
            "requester": self.requester,
            "requested": self.requested.isoformat(),
            "dry_run": self.dry_run,
            "status": self.status.value,
            "confirmer_id": self.confirmer_id,
            "confirmer": self.confirmer,
            "confirmed": self.confirmed.isoformat() if self.confirmed else None,
            "calls": list(self.calls),
            "problem": self.problem,
            "earlier": self.earlier,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> RemovalRequest | None:
        """The request :meth:`as_dict` wrote, or None."""
        if not isinstance(raw, dict):
            return None
        try:
            confirmed = raw.get("confirmed")
            return cls(
                request_id=str(raw["request_id"]),
                key_id=str(raw["key_id"]),
                requester_id=str(raw["requester_id"]),
                requester=str(raw.get("requester", "")),
                requested=datetime.fromisoformat(str(raw["requested"])),
                dry_run=bool(raw.get("dry_run", True)),
                status=RemovalStatus(raw.get("status", "PENDING")),
                confirmer_id=str(raw.get("confirmer_id", "")),
                confirmer=str(raw.get("confirmer", "")),
                confirmed=datetime.fromisoformat(confirmed) if isinstance(confirmed, str) else None,
                calls=tuple(str(c) for c in raw.get("calls") or []),
                problem=str(raw.get("problem", "")),
                earlier=str(raw.get("earlier", "")),
            )
        except (KeyError, ValueError, TypeError):
            return None


def new_request(
    fid: str, key_id: str, user_id: str, who: str, at: datetime, *, dry_run: bool
) -> RemovalRequest:
    """A pending request by ``user_id`` (named ``who``) at ``at``."""
    seed = f"{fid}\n{key_id}\n{user_id}\n{at.isoformat()}"
    request_id = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return RemovalRequest(request_id, key_id, user_id, who, at, dry_run)


def confirmed_by(request: RemovalRequest, user_id: str, who: str, at: datetime) -> RemovalRequest:
    """The request confirmed by a second responder."""
    return replace(
        request, status=RemovalStatus.CONFIRMED, confirmer_id=user_id, confirmer=who, confirmed=at
    )


# -- the button's value: the finding, the key, and the request ----------------------------------


def button_value(fid: str, key_id: str, request_id: str | None = None) -> str:
    """What a removal button carries back: the finding id, the key id, and the request."""
    return SEPARATOR.join([fid, key_id, *([request_id] if request_id else [])])


def parse_value(value: str) -> tuple[str, str, str | None] | None:
    """(finding id, key id, request id or None) from :func:`button_value`'s text, or None."""
    parts = value.split(SEPARATOR)
    if len(parts) not in {2, 3} or not _KEY_ID.fullmatch(parts[1]):
        return None
    request = parts[2] if len(parts) == 3 else None
    if request is not None and not _REQUEST_ID.fullmatch(request):
        return None
    return parts[0], parts[1], request


# -- refusals -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a removal click is not acted on: the HTTP status, a reason for the log, and what
    the responder is told (ephemerally)."""

    status: int
    reason: str
    told: str


@dataclass(frozen=True, slots=True)
class RemovalClick:
    """A removal click, as far as the decision needs it."""

    action: RemovalAction
    user_id: str
    key_id: str  # the key the button named
    request_id: str | None  # the request it answers (Confirm, Cancel)


def finding_open(record: KeyRecord, key_present: bool | None = None) -> bool:
    """The key is there (``key_present``, else as last recorded), and the finding is not
    resolved."""
    state = TriageState.from_dict(record.triage)
    present = record.open if key_present is None else key_present
    return present and state.workflow is not Workflow.RESOLVED


def refusal(
    click: RemovalClick, record: KeyRecord, *, enabled: bool, now: datetime
) -> Refusal | None:
    """Why ``click`` may not act on ``record``'s key now, or None."""
    if not enabled:
        return Refusal(403, "removal disabled", ":no_entry: Key removal from Slack is not enabled.")
    if record.key_id is None or click.key_id != record.key_id:
        return Refusal(
            404,
            "removal of a key not alerted on",
            ":no_entry: This is not the key this alert is about: the detector removes only a key "
            "it alerted on, known by its id.",
        )
    request = RemovalRequest.from_dict(record.removal)
    if request is not None and request.status is RemovalStatus.REMOVED:
        return Refusal(409, "key already removed", ":white_check_mark: This key was removed.")
    if click.action is RemovalAction.REMOVE:
        return _request_refusal(record, request, now)
    answered = _answer_refusal(click, request, now)
    if answered is None and click.action is RemovalAction.CONFIRM and not finding_open(record):
        return NOT_OPEN
    return answered


NOT_OPEN = Refusal(
    409,
    "finding not open",
    ":information_source: This key's finding is no longer open (the key is gone or the finding "
    "is resolved): nothing to remove.",
)


def _request_refusal(
    record: KeyRecord, request: RemovalRequest | None, now: datetime
) -> Refusal | None:
    if not finding_open(record):
        return NOT_OPEN
    if request is None or request.status.settled or request.expired(now) or request.lapsed(now):
        return None
    if request.status.under_way:
        return Refusal(
            409,
            "removal under way",
            f":hourglass: This key's removal is under way (it may be asked again after "
            f"{request.lease_ends:%H:%M UTC} if it has not finished by then).",
        )
    return Refusal(
        409,
        "removal already requested",
        f":hourglass: {mrkdwn(request.requester, 200)} already asked to remove this key; a second "
        "responder must confirm it.",
    )


def _answer_refusal(
    click: RemovalClick, request: RemovalRequest | None, now: datetime
) -> Refusal | None:
    if request is not None and request.request_id == click.request_id and request.lapsed(now):
        return Refusal(
            409,
            LAPSED_REASON,
            f":grey_question: {mrkdwn(unknown_outcome(request), 600)} The alert offers "
            "Remove key again.",
        )
    if (
        request is None
        or request.request_id != click.request_id
        or request.status is not RemovalStatus.PENDING
    ):
        return Refusal(
            409,
            "no such pending request",
            ":information_source: This removal request is no longer pending: nothing was done.",
        )
    if request.expired(now):
        return Refusal(
            409,
            EXPIRED_REASON,
            f":hourglass: {mrkdwn(request.requester, 200)}'s request expired at "
            f"{request.expires:%Y-%m-%d %H:%M UTC} (a request lasts "
            f"{_hours(REQUEST_TTL)}): ask again with Remove key.",
        )
    if click.action is RemovalAction.CONFIRM and click.user_id == request.requester_id:
        return Refusal(
            403,
            "same responder",
            ":no_entry: You asked for this removal: a second responder must confirm it.",
        )
    return None


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return "1 hour" if hours == 1 else f"{hours:g} hours"


# -- the calls ------------------------------------------------------------------------------------


def planned_calls(account: str, key_id: str) -> tuple[str, ...]:
    """The calls a removal makes, in order (service, operation, parameters), with the key id
    masked as the alert masks it (the finding holds it in full)."""
    seconds = int(MAX_ROOT_SESSION.total_seconds())
    return (
        f"sts AssumeRoot TargetPrincipal={account} TaskPolicyArn={{arn: {DELETE_TASK_POLICY}}} "
        f"DurationSeconds={seconds}",
        "iam ListAccessKeys (the member's root: no UserName)",
        f"iam DeleteAccessKey AccessKeyId={mask_key(key_id)}",
        "iam ListAccessKeys (the key must no longer be listed)",
    )


def masked(call: str) -> str:
    """A call as reported, with every access key id in it masked."""
    return _ACCESS_KEY.sub(lambda m: mask_key(m.group(0)), call)


# -- what the alert shows and the thread is told --------------------------------------------------


def drawing(
    record: KeyRecord, *, key_present: bool | None = None, now: datetime | None = None
) -> RemovalDrawing:
    """The alert's removal line and buttons for the key's record (removal enabled;
    ``key_present``: whether the key is there, when the record does not say yet; ``now``: the
    time a confirmation's lease is measured against, else the clock's)."""
    request = RemovalRequest.from_dict(record.removal)
    key_id = record.key_id
    if key_id is None:
        return RemovalDrawing()
    at = now or datetime.now(UTC)
    line = status_line(request, now=at) if request is not None else ""
    if request is not None and request.status is RemovalStatus.PENDING:
        value = button_value(record.fid, key_id, request.request_id)
        confirm = ButtonElement(
            text="Confirm removal",
            action_id=RemovalAction.CONFIRM.value,
            value=value,
            style="danger",
            confirm=_confirm(key_id, request.dry_run, asking=False),
        )
        cancel = ButtonElement(text="Cancel", action_id=RemovalAction.CANCEL.value, value=value)
        if not finding_open(record, key_present):  # gone meanwhile: only a cancel is left
            return RemovalDrawing(line, (cancel,))
        return RemovalDrawing(line, (confirm, cancel))
    # Under way, Remove key stays offered: the job's redraw replaces it within seconds, and a
    # job that never finishes (dead-lettered) leaves it as the way to ask again once the
    # confirmation's lease is over (a click before that is refused, and told when).
    offered = finding_open(record, key_present) and (
        request is None or request.status.settled or request.status.under_way
    )
    if not offered:
        return RemovalDrawing(line)
    button = ButtonElement(
        text="Remove key",
        action_id=RemovalAction.REMOVE.value,
        value=button_value(record.fid, key_id),
        style="danger",
        confirm=_confirm(key_id, dry_run=None, asking=True),
    )
    return RemovalDrawing(line, (button,))


def _confirm(key_id: str, dry_run: bool | None, *, asking: bool) -> ConfirmObject:
    """Slack's "are you sure?" dialog before the click is sent."""
    key = mask_key(key_id)
    if asking:
        text = f"Ask to delete root access key {key}? A second responder must confirm."
        return ConfirmObject(title="Remove key?", text=text, confirm="Ask", deny="Back")
    text = f"Delete root access key {key} now?"
    if dry_run:
        text += " (Dry run: the calls are only listed.)"
    return ConfirmObject(title="Confirm removal?", text=text, confirm="Confirm", deny="Back")


def status_line(request: RemovalRequest, *, now: datetime | None = None) -> str:
    """The alert's removal line (mrkdwn; every value escaped) at ``now`` (else the clock's)."""
    key = mask_key(request.key_id)
    asked = f"{mrkdwn(request.requester, 200)} at {request.requested:%Y-%m-%d %H:%M UTC}"
    by = mrkdwn(request.confirmer, 200)
    if request.lapsed(now or datetime.now(UTC)):
        known = mrkdwn(unknown_outcome(request), 600)
        return f":grey_question: *Removal of {key}: outcome unknown.* {known}"
    under_way = (
        f":hourglass: *Removal of {key} under way*: asked by {asked}, confirmed by {by}. If it "
        f"has not finished by {request.lease_ends:%H:%M UTC}, Remove key may be asked again."
    )
    return {
        RemovalStatus.PENDING: f":hourglass: *Removal of {key} asked* by {asked}; a second "
        f"responder must confirm by {request.expires:%H:%M UTC}.",
        RemovalStatus.CONFIRMED: under_way,
        RemovalStatus.DELETING: under_way,
        RemovalStatus.REMOVED: f":white_check_mark: *Key {key} removed*: asked by {asked}, "
        f"confirmed by {by}{_at(request.confirmed)}.",
        RemovalStatus.FAILED: f":x: *Removal of {key} failed*: {mrkdwn(request.problem, 300)}",
        RemovalStatus.DRY_RUN: f":test_tube: *Removal of {key} confirmed in dry run* by {by}: "
        "nothing was deleted.",
        RemovalStatus.CANCELLED: f":no_entry_sign: *Removal of {key} cancelled* by {by}.",
        RemovalStatus.EXPIRED: f":hourglass: *Removal of {key} not confirmed in time*: asked by "
        f"{asked}, expired at {request.expires:%H:%M UTC}.",
    }[request.status]


def _at(when: datetime | None) -> str:
    return f" at {when:%Y-%m-%d %H:%M UTC}" if when else ""


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} minutes"


def unknown_outcome(request: RemovalRequest) -> str:
    """What is known of a confirmed request whose job did not finish within its lease (plain
    text: escape it to show it)."""
    by = clean(request.confirmer, 200)
    made = (
        "DeleteAccessKey may have run"
        if request.status is RemovalStatus.DELETING
        else "it had made no deletion call"
    )
    return (
        f"The removal confirmed by {by}{_at(request.confirmed)} did not finish within "
        f"{_minutes(CONFIRM_LEASE)}: its outcome is unknown ({made}). If IAM still lists the "
        "key, it may be asked again."
    )


def stopped_problem(request: RemovalRequest, why: str) -> str:
    """Why a confirmed request's job removed nothing (``why``: removal turned off, the lease
    over), and what is known of the key."""
    if request.status is RemovalStatus.DELETING:
        return f"{why}; an earlier attempt may have deleted the key (its outcome is unknown)."
    return f"{why}; nothing was deleted."


def request_reply(request: RemovalRequest, account: str) -> str:
    """The thread reply announcing a request."""
    text = (
        f":warning: {mrkdwn(request.requester, 200)} asks to remove root access key "
        f"{mask_key(request.key_id)} of account {mrkdwn(account, 20)}; a second responder must "
        f"confirm (Confirm removal on the alert) by {request.expires:%Y-%m-%d %H:%M UTC}."
    )
    if request.dry_run:
        text += "\n:test_tube: Dry run: a confirmation only lists the calls a removal would make."
    if request.earlier:
        text += f"\n:grey_question: {mrkdwn(request.earlier, 600)}"
    return text


def cancel_reply(request: RemovalRequest) -> str:
    """The thread reply announcing a cancelled request."""
    return (
        f":no_entry_sign: {mrkdwn(request.confirmer, 200)} cancelled "
        f"{mrkdwn(request.requester, 200)}'s request to remove key {mask_key(request.key_id)}."
    )


def outcome_reply(
    request: RemovalRequest, account: str, *, resolved: str | None, again: bool = True
) -> str:
    """The thread reply after a confirmation: both responders, the calls, and the outcome
    (``resolved``: what became of the finding; ``again``: whether a new request may be made)."""
    key = mask_key(request.key_id)
    who = (
        f"asked by {mrkdwn(request.requester, 200)} at {request.requested:%Y-%m-%d %H:%M:%S UTC}, "
        f"confirmed by {mrkdwn(request.confirmer, 200)}{_at_s(request.confirmed)}"
    )
    calls = "\n".join(f"{n}. `{_code(c)}`" for n, c in enumerate(request.calls, 1))
    if request.status is RemovalStatus.DRY_RUN:
        head = (
            f":test_tube: *Dry run* (ROOT_KEY_REMOVAL_DRY_RUN): removal of root access key {key} "
            f"of account {mrkdwn(account, 20)} {who}. No AWS call was made; a removal would make:"
        )
        return f"{head}\n{calls}\nThe key stays, and the finding stays open."
    if request.status is RemovalStatus.REMOVED:
        head = (
            f":white_check_mark: *Root access key {key} of account {mrkdwn(account, 20)} "
            f"removed*, {who}. Calls made:"
        )
        return f"{head}\n{calls}\n{resolved or 'The finding is resolved.'}"
    head = (
        f":x: *Removal of root access key {key} of account {mrkdwn(account, 20)} failed*, {who}: "
        f"{mrkdwn(request.problem, 300)}"
    )
    tail = "The finding is not resolved; nothing else changed."
    if again:
        tail += " A new request may be made."
    return f"{head}\n{calls}\n{tail}" if calls else f"{head}\n{tail}"


def _code(call: str) -> str:
    """A call shown verbatim in a code span: cleaned, key ids masked, and only what Slack
    requires escaped ("Formatting text for app surfaces": &, <, >), backticks dropped."""
    text = clean(masked(call), 300).replace("`", "'")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _at_s(when: datetime | None) -> str:
    return f" at {when:%Y-%m-%d %H:%M:%S UTC}" if when else ""


def resolution_note(request: RemovalRequest) -> str:
    """The finding's Note once the key is removed: who asked, who confirmed, when."""
    note = (
        f"Root access key {mask_key(request.key_id)} removed in Slack: asked by "
        f"{request.requester} at {request.requested:%Y-%m-%dT%H:%M:%SZ}, confirmed by "
        f"{request.confirmer}{_iso(request.confirmed)}; IAM no longer lists it."
    )
    return fit_utf16(note, MAX_NOTE)


def _iso(when: datetime | None) -> str:
    return f" at {when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if when else ""
