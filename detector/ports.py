"""The interfaces the pipeline sees; adapters/ implements them over the network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from detector.domain.confirmation import Confirmation
from detector.domain.message import SlackMessage


@dataclass(frozen=True, slots=True)
class SlackRef:
    """Where a posted message lives: enough to reply in its thread or update it."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class EventState:
    """What the ledger knows of one event: done, or which steps an earlier attempt finished."""

    done: bool
    attempts: int = 1
    finding_done: bool = False
    update_done: bool = False
    message: SlackRef | None = None  # the message this event posted
    message_kind: str | None = None  # "alert" (the key's top-level), "reply" or "notice"
    claim: str | None = None  # this attempt's claim on the event (None when done)


@dataclass(frozen=True, slots=True)
class FindingState:
    """A key's ordering state as the ledger holds it."""

    order: str  # order key of the key's newest event
    version: int  # how many imports finished (a change means someone imported meanwhile)
    event_id: str  # the newest event
    finding: dict[str, Any] | None  # the finding last finalized
    finding_event: str | None = None  # the event that finalized it
    newest: bool = False  # the asking event is the newest
    finalized: bool = False  # the asking event's finding is recorded as the key's state


@dataclass(frozen=True, slots=True)
class AlertClaim:
    """The outcome of claiming a key's top-level alert."""

    mine: bool  # this event must post it
    ref: SlackRef | None  # where it is, once posted
    owner: str | None = None  # the event that claimed it


class KeyConfirmer(Protocol):
    """Asks IAM whether root holds the key now. Never raises: failure is UNCONFIRMED."""

    def confirm(
        self,
        account_id: str,
        access_key_id: str | None,
        *,
        expect_present: bool,
        event_time: datetime,
    ) -> Confirmation: ...


class FindingSink(Protocol):
    """Imports one ASFF finding; raises FindingImportError if Security Hub refuses it."""

    def import_finding(self, finding: dict[str, Any]) -> None: ...


class Alerter(Protocol):
    """Posts to Slack; raises AlertDeliveryError once its retry policy gives up."""

    @property
    def supports_threads(self) -> bool: ...

    def prepare(self) -> None:
        """Fetch what the first post needs (the secret), so it can overlap other calls."""
        ...

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef | None:
        """Post a message (a reply when ``thread`` is given); the ref is None for webhooks."""
        ...

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Replace a posted message's content."""
        ...

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        """Where an earlier attempt already posted ``message`` (same event), or None.

        Asked only on a retry that has no record of a post: an attempt that died between
        posting and recording must not post twice.
        """
        ...


class Ledger(Protocol):
    """Delivery state: which events are done, each key's ordering state and its alert."""

    def begin_event(self, event_id: str, verdict: str, lease_s: float) -> EventState:
        """Claim an event; raises a transient error while another invocation holds it."""
        ...

    def finish_event(self, event_id: str, **fields: str | bool) -> None:
        """Mark an event done, with what it posted (the attempt's claim still holds it)."""
        ...

    def release_event(self, event_id: str, claim: str | None, **steps: str | bool) -> None:
        """Give an event back after a failed attempt, recording the steps it finished (also
        when the attempt already marked it done but another of its last writes failed)."""
        ...

    def propose_order(self, fid: str, order: str, event_id: str) -> FindingState:
        """Claim "newest event of this key" unless a later event has."""
        ...

    def finalize_finding(
        self, fid: str, order: str, event_id: str, imports_seen: int, finding: dict[str, Any]
    ) -> FindingState:
        """Record an imported finding as the key's state if nothing changed meanwhile."""
        ...

    def note_stale_import(self, fid: str) -> FindingState:
        """Count an import that may have overwritten a newer state."""
        ...

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertClaim:
        """Claim the key's top-level alert."""
        ...

    def set_alert(self, fid: str, ref: SlackRef | None) -> None:
        """Record the posted top-level alert."""
        ...

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        """Whether an event is done and what it posted."""
        ...

    def release_alert(self, fid: str, event_id: str) -> None:
        """Free an alert claim after a failed post."""
        ...
