"""The interfaces the pipeline sees; adapters/ implements them over the network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from detector.domain.confirmation import Confirmation
from detector.domain.delivery import AlertSlot, KeyRecord, Progress, SlackRef
from detector.domain.message import SlackMessage
from detector.domain.root_access import RemovalReport, RootKey, RootSession

if TYPE_CHECKING:
    from detector.domain.dependencies import Facts  # the sweep's modules: off an event's path
    from detector.domain.reconcile import OrgAccount


@dataclass(frozen=True, slots=True)
class EventClaim:
    """The outcome of claiming an event: done already, or this attempt's with earlier progress."""

    done: bool
    progress: Progress = field(default_factory=Progress)
    token: str | None = None  # this attempt's claim (None when done)


class KeyConfirmer(Protocol):
    """Asks IAM whether root holds the key now. Never raises: failure is UNCONFIRMED."""

    def confirm(
        self,
        account_id: str,
        *,
        expect_present: bool,
        event_time: datetime,
        cancelled: Callable[[], bool] = ...,
    ) -> Confirmation:
        """``cancelled``: stop waiting for IAM (the event turned out a duplicate)."""
        ...


class FindingSink(Protocol):
    """Imports one ASFF finding; raises FindingImportError if Security Hub refuses it.

    Security Hub keeps, per finding Id, the import with the newest ``UpdatedAt`` and ignores
    older (and equal) ones: an import that is ignored is not an error.
    """

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


class EventLedger(Protocol):
    """Each delivered event's progress: claimed by one invocation at a time, done once."""

    def begin_event(self, event_id: str, verdict: str, lease_s: float) -> EventClaim:
        """Claim an event; raises a transient error while another invocation holds it."""
        ...

    def finish_event(self, event_id: str, token: str, progress: Progress) -> None:
        """Mark an event done with what it did (the claim still holds it, see release)."""
        ...

    def release_event(self, event_id: str, token: str, progress: Progress) -> None:
        """Give an event back after a failed attempt, with the steps it finished (also when
        the attempt already marked it done but another of its last writes failed)."""
        ...

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        """Whether an event is done, and the message it posted (to repair an alert claim)."""
        ...


class KeyLedger(Protocol):
    """Each key's record: first seen, state, finding, and its one alert slot."""

    def open_key(
        self,
        fid: str,
        *,
        account: str,
        key_id: str | None,
        event_id: str,
        seen: datetime,
        lease_s: float,
        claim: bool,
    ) -> KeyRecord:
        """Create or read the key's record; with ``claim``, also claim its top-level alert."""
        ...

    def read_key(self, fid: str) -> KeyRecord | None:
        """The key's record as it is now (a consistent read)."""
        ...

    def account_keys(self, account: str) -> list[KeyRecord]:
        """Every key record of one account."""
        ...

    def all_keys(self) -> list[KeyRecord]:
        """Every key record (the sweep reads them once)."""
        ...

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertSlot:
        """Claim the key's top-level alert if it is free, or its claim has expired."""
        ...

    def release_alert(self, fid: str, event_id: str) -> None:
        """Free an alert claim after a failed post."""
        ...

    def set_alert(self, fid: str, event_id: str, ref: SlackRef | None) -> None:
        """Record the posted top-level alert (``ref`` None for a webhook)."""
        ...

    def record_state(
        self,
        fid: str,
        *,
        observed: datetime,
        open_: bool,
        finding: dict[str, Any] | None,
        shown: dict[str, Any] | None,
    ) -> bool:
        """Record a state of the key unless a newer one is recorded; True when recorded.

        ``finding`` and ``shown`` (the message the top-level alert shows) replace the
        recorded ones only when given.
        """
        ...

    def bind(self, unknown_fid: str, key_id: str, own_fid: str) -> bool:
        """Tie a sweep's unknown-key record to ``key_id`` (unless bound to another key), and
        point the key's own record at it; False when another key took it first."""
        ...


class NoticeLedger(Protocol):
    """Notices grouped per account and hour."""

    def join_group(self, fid: str, event_id: str) -> int:
        """Count a notice in its group, once per event; returns how many it holds."""
        ...


@dataclass(frozen=True, slots=True)
class UseReplyClaim:
    """This event's claim on a key's next use reply (see :class:`KeyUseLedger`)."""

    uses: int  # uses counted in real time since the last use reply (0 for the sweep's)
    first: bool  # no use reply of this key was posted before
    retry: bool  # this event held the claim before: look for its post before posting


class KeyUseLedger(Protocol):
    """The uses of an alerted key: counted once per event, and at most one reply an hour."""

    def count_use(self, fid: str, event_id: str) -> bool:
        """Count one use of the key, once per event however often it is delivered or retried;
        False when the event was counted before or the key has no record."""
        ...

    def record_last_use(self, fid: str, when: datetime) -> bool:
        """Record the key's newest use unless a use as new is recorded; True when recorded."""
        ...

    def claim_use_reply(
        self, fid: str, event_id: str, *, every_s: int, lease_s: float, pending: bool
    ) -> UseReplyClaim | None:
        """Claim the key's next use reply: the first one; once ``every_s`` have passed since
        the last one (with ``pending``, only if uses were counted since); an abandoned or this
        event's own claim. None otherwise (another event holds it, or the last is recent)."""
        ...

    def finish_use_reply(self, fid: str, event_id: str) -> None:
        """The claimed reply is posted: the uses it reported are reported."""
        ...

    def release_use_reply(self, fid: str, event_id: str) -> None:
        """Posting the claimed reply failed: the next use (or this event's retry) may claim."""
        ...


class SessionLedger(Protocol):
    """Root sessions (``AssumeRoot``) by (member account, session key id), kept about a day,
    and the member records that met each key; either side may arrive first (see
    :mod:`detector.sessions`). Each call is one atomic write, so of a session and a record
    arriving together exactly one sees the other."""

    def open_session(self, session: RootSession) -> list[str]:
        """Record ``session`` (a repeat keeps the first); the member records' marks so far."""
        ...

    def touch_session(self, account: str, key_id: str, mark: str | None) -> RootSession | None:
        """Add a member record's ``mark`` (if given) under (account, key id); the session
        recorded there, if any."""
        ...


class Ledger(EventLedger, KeyLedger, NoticeLedger, KeyUseLedger, Protocol):
    """Delivery state in the security account: events' progress and keys' records."""


class KeyInventory(Protocol):
    """What IAM says now about root's access keys in an account (the sweep's one fact)."""

    def root_keys_present(self, account_id: str) -> bool:
        """Whether root holds any access key; raises an ExternalServiceError if IAM cannot
        be asked (the member role cannot be assumed, or IAM refuses)."""
        ...


class RootCredentials(Protocol):
    """A member account's root access keys through centralized root access (``sts:AssumeRoot``
    sessions: the audit task policy to read, the delete one to remove)."""

    def root_keys(self, account_id: str) -> list[RootKey]:
        """Root's keys: id, status, creation date and last use (an audit session).

        Raises:
            AwsCallError: AssumeRoot or IAM refused after the retry policy gave up.
        """
        ...

    def remove_root_key(self, account_id: str, key_id: str) -> RemovalReport:
        """Delete root's key ``key_id`` in a delete session, then list root's keys again.

        Raises:
            AwsCallError: AssumeRoot or IAM refused after the retry policy gave up.
        """
        ...


class DependencyReader(Protocol):
    """What AWS says about the parts of an account the detector depends on (the sweep's
    daily check): its trails, its event rule, its Security Hub."""

    def read(self, account_id: str) -> Facts:
        """The facts; one that AWS refuses to give is an ``Unreadable`` in them, never an error.

        Raises:
            ExternalServiceError: no client can act in the account (the member role).
        """
        ...


class AccountDirectory(Protocol):
    """The organization's accounts, each with its state."""

    def accounts(self) -> list[OrgAccount]:
        """Every account; raises an ExternalServiceError if the list cannot be read."""
        ...


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message received from the dead-letter queue."""

    message_id: str
    body: str
    receipt: str = field(repr=False)  # the receipt handle that deletes it


class DeadLetterQueue(Protocol):
    """The queue that holds the events (and sweeps) that failed their retries."""

    def receive(self, max_messages: int) -> list[QueuedMessage]:
        """Up to ``max_messages`` (at most 10) messages, hidden from other readers for a while;
        an empty list when none is waiting."""
        ...

    def delete(self, message: QueuedMessage) -> None:
        """Remove a message that was handled."""
        ...


class TriageLedger(Ledger, Protocol):
    """The ledger's part in triage: Slack requests seen, and each key's triage state."""

    def remember_request(self, signature: str, keep_s: int) -> bool:
        """Record a Slack request by its signature; False when it was recorded before."""
        ...

    def claim_triage(
        self, fid: str, state: dict[str, Any], workflow: str, job: str, *, note_counts: bool = False
    ) -> bool:
        """Set the key's triage state unless it already shows ``workflow`` (and, with
        ``note_counts``, the same finding note), set by another job."""
        ...

    def undo_triage(self, fid: str, previous: dict[str, Any] | None, job: str) -> bool:
        """Put back the triage state ``job`` replaced (``previous``; None: none), if ``job``
        still holds it; False when a later change has."""
        ...

    def request_removal(
        self,
        fid: str,
        removal: dict[str, Any],
        *,
        request_id: str,
        requester_id: str,
        expires_at: int,
        now: int,
    ) -> bool:
        """Record a pending removal request of the key (one at a time): False when a request
        is pending and not expired at ``now`` (epoch seconds), under way and its lease not over
        at ``now``, or the key removed."""
        ...

    def confirm_removal(
        self,
        fid: str,
        removal: dict[str, Any],
        *,
        request_id: str,
        confirmer_id: str,
        now: int,
        lease_until: int,
    ) -> bool:
        """Mark request ``request_id`` confirmed, holding the key until ``lease_until`` (epoch
        seconds): False unless it is pending, not expired at ``now``, and asked by someone other
        than ``confirmer_id``."""
        ...

    def begin_removal(
        self, fid: str, removal: dict[str, Any], *, request_id: str, now: int
    ) -> bool:
        """Mark confirmed request ``request_id`` DELETING, before any deletion call (a retry
        that finds it DELETING is True too): False when the request or its state is another,
        or its lease is over at ``now``."""
        ...

    def settle_removal(
        self,
        fid: str,
        removal: dict[str, Any],
        *,
        request_id: str,
        from_state: str,
        to_state: str,
    ) -> bool:
        """Move request ``request_id`` from ``from_state`` to ``to_state`` (a retry that finds
        it there already is True too); False when the request or its state is another."""
        ...


class WorkflowSink(Protocol):
    """Security Hub's BatchUpdateFindings for one finding; raises FindingImportError."""

    def set_workflow(
        self, account: str, identifier: dict[str, str], status: str, note: str, author: str
    ) -> None: ...


class TriageSlack(Protocol):
    """What triage asks of Slack beyond posting: modals, ephemeral answers, user groups."""

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef: ...

    def update(self, ref: SlackRef, message: SlackMessage) -> None: ...

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...

    def respond(self, response_url: str, text: str) -> None: ...

    def group_members(self, group_id: str) -> frozenset[str]: ...
