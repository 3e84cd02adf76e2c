"""In-memory fakes of the pipeline's ports, for planners and races (no network, no sleeps).

Each fake holds the rule of the service it stands for: the ledger's conditional writes (a
contract test runs the same cases against the DynamoDB ledger in the sandbox), Security Hub's
"the newest UpdatedAt wins", Slack's messages and threads. Gates let a test hold one call
until another event has run, so an interleaving is chosen, not hoped for.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.delivery import (
    NOTICE_GROUP_PREFIX,
    AlertSlot,
    KeyRecord,
    Progress,
    SlackRef,
    SlotState,
)
from detector.domain.message import SlackMessage
from detector.domain.root_access import RemovalReport, RootKey, RootSession
from detector.errors import (
    AlertDeliveryError,
    AwsCallError,
    ExternalServiceError,
    Failure,
    FindingImportError,
    LedgerBusy,
    NotRootKey,
)
from detector.ports import EventClaim, UseReplyClaim


class Gate:
    """Holds a call until opened; ``reached`` is set when a call arrives at it."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        if not self._open.wait(timeout=30):
            raise TimeoutError("gate never opened")

    def open(self) -> None:
        self._open.set()


class Clock:
    """A settable clock (epoch seconds) for leases."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class _Event:
    status: str
    owner: str
    lease_until: float
    attempts: int
    progress: Progress = field(default_factory=Progress)


@dataclass
class _Key:
    account: str
    key_id: str | None
    first_seen: datetime
    alert_owner: str | None = None
    alert_lease: float | None = None
    alert_ref: SlackRef | None = None
    alert_posted: bool = False
    observed: datetime | None = None
    open: bool = False
    finding: dict[str, Any] | None = None
    shown: dict[str, Any] | None = None
    alias: str | None = None
    bound_to: str | None = None
    origin: str | None = None
    members: set[str] = field(default_factory=set)
    triage: dict[str, Any] | None = None
    triage_wf: str | None = None
    triage_job: str | None = None
    triage_note: str | None = None
    removal: dict[str, Any] | None = None
    removal_state: str | None = None
    removal_id: str | None = None
    removal_by: str | None = None
    removal_expires: int = 0
    use_count: int = 0
    use_last: datetime | None = None
    reply_owner: str | None = None
    reply_lease: float = 0.0
    reply_at: float | None = None
    reply_posted: bool = False
    reply_upto: int = 0
    reply_mark: int = 0
    reply_count: int = 0


class InMemoryLedger:
    """The ledger's contract (see :class:`detector.adapters.ledger.DynamoLedger`) in memory."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.events: dict[str, _Event] = {}
        self.keys: dict[str, _Key] = {}
        # (account, session key id) -> (the session or None, member records' marks, expiry)
        self.sessions: dict[tuple[str, str], tuple[RootSession | None, set[str], float]] = {}
        self.gates: dict[str, Gate] = {}  # method name -> gate held before it runs
        self.uses: set[str] = set()  # the use markers: events counted as a use of a key
        self.down: str | None = None  # an error code: every call fails (table missing, outage)
        self._lock = threading.RLock()

    def _gate(self, name: str) -> None:
        if self.down is not None:
            raise ExternalServiceError(
                f"dynamodb.ledger.{name}", self.down, "down", transient=False
            )
        gate = self.gates.pop(name, None)
        if gate is not None:
            gate.wait()

    # -- events ----------------------------------------------------------------------------

    def begin_event(self, event_id: str, verdict: str, lease_s: float) -> EventClaim:
        self._gate("begin_event")
        now = self.clock()
        with self._lock:
            item = self.events.get(event_id)
            if item is not None and item.status == "DONE":
                return EventClaim(done=True, progress=item.progress)
            if item is not None and item.status == "RUNNING" and item.lease_until >= now:
                raise LedgerBusy("ledger", "EventInProgress", event_id, transient=True)
            token = uuid.uuid4().hex
            attempts = (item.attempts if item else 0) + 1
            progress = replace(item.progress if item else Progress(), attempts=attempts)
            self.events[event_id] = _Event("RUNNING", token, now + max(1, int(lease_s)), attempts)
            self.events[event_id].progress = progress
            return EventClaim(done=False, progress=progress, token=token)

    def _write_progress(self, event_id: str, token: str, progress: Progress, status: str) -> None:
        with self._lock:
            item = self.events.get(event_id)
            if item is None or item.owner != token or item.status not in {"RUNNING", "DONE"}:
                return
            item.status = status
            item.progress = replace(progress, attempts=item.attempts)

    def finish_event(self, event_id: str, token: str, progress: Progress) -> None:
        self._gate("finish_event")
        self._write_progress(event_id, token, progress, "DONE")

    def release_event(self, event_id: str, token: str, progress: Progress) -> None:
        self._write_progress(event_id, token, progress, "FAILED")

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        with self._lock:
            item = self.events.get(event_id)
            if item is None:
                return False, None
            return item.status == "DONE", item.progress.message

    # -- keys ------------------------------------------------------------------------------

    def _claimable(self, key: _Key, event_id: str, now: float) -> bool:
        if key.alert_owner is None:
            return True
        return not key.alert_posted and (
            (key.alert_lease or 0) < now or key.alert_owner == event_id
        )

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
        self._gate("open_key")
        now = self.clock()
        with self._lock:
            key = self.keys.get(fid)
            fresh = key is None
            candidate = copy.deepcopy(key) if key else _Key(account, key_id, seen)
            candidate.account = account
            candidate.origin = candidate.origin or event_id
            if candidate.key_id is None and key_id:
                candidate.key_id = key_id
            if claim and not fresh and not self._claimable(candidate, event_id, now):
                assert key is not None
                return self._record(fid, key, None)  # a failed condition writes nothing
            if claim:
                candidate.alert_owner, candidate.alert_lease = event_id, now + max(1, int(lease_s))
            self.keys[fid] = candidate
            return self._record(fid, candidate, event_id if claim else None)

    def read_key(self, fid: str) -> KeyRecord | None:
        with self._lock:
            key = self.keys.get(fid)
            return None if key is None else self._record(fid, key, None)

    def _root_keys(self) -> list[tuple[str, _Key]]:
        return [(f, k) for f, k in self.keys.items() if not f.startswith(NOTICE_GROUP_PREFIX)]

    def account_keys(self, account: str) -> list[KeyRecord]:
        with self._lock:
            return [self._record(f, k, None) for f, k in self._root_keys() if k.account == account]

    def all_keys(self) -> list[KeyRecord]:
        with self._lock:
            return [self._record(f, k, None) for f, k in self._root_keys()]

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertSlot:
        now = self.clock()
        with self._lock:
            key = self.keys.get(fid)
            if key is None:
                return AlertSlot(SlotState.POSTING)
            if self._claimable(key, event_id, now):
                key.alert_owner, key.alert_lease = event_id, now + max(1, int(lease_s))
                slot = self._record(fid, key, event_id).slot
            else:
                slot = self._record(fid, key, None).slot
            return slot or AlertSlot(SlotState.POSTING)

    def release_alert(self, fid: str, event_id: str) -> None:
        with self._lock:
            key = self.keys.get(fid)
            if key is not None and key.alert_owner == event_id and not key.alert_posted:
                key.alert_owner = key.alert_lease = None

    def set_alert(self, fid: str, event_id: str, ref: SlackRef | None) -> None:
        self._gate("set_alert")
        with self._lock:
            key = self.keys[fid]
            key.alert_owner, key.alert_ref, key.alert_posted = event_id, ref, True
            key.alert_lease = None

    def record_state(
        self,
        fid: str,
        *,
        observed: datetime,
        open_: bool,
        finding: dict[str, Any] | None,
        shown: dict[str, Any] | None,
    ) -> bool:
        self._gate("record_state")
        with self._lock:
            key = self.keys.get(fid)
            if key is None or (key.observed is not None and key.observed > observed):
                return False
            key.observed, key.open = observed, open_
            if finding is not None:
                key.finding = copy.deepcopy(finding)
            if shown is not None:
                key.shown = copy.deepcopy(shown)
            return True

    def join_group(self, fid: str, event_id: str) -> int:
        with self._lock:
            key = self.keys[fid]
            key.members.add(event_id)
            return len(key.members)

    def bind(self, unknown_fid: str, key_id: str, own_fid: str) -> bool:
        with self._lock:
            unknown = self.keys.get(unknown_fid)
            if unknown is None or unknown.bound_to not in {None, key_id}:
                return False
            unknown.bound_to = key_id
            own = self.keys[own_fid]
            own.alias = unknown_fid
            own.alert_owner = own.alert_lease = None
            return True

    # -- uses of an alerted key (the DynamoDB ledger's conditions, one lock for atomicity) ---

    def count_use(self, fid: str, event_id: str) -> bool:
        self._gate("count_use")
        with self._lock:
            key = self.keys.get(fid)
            if key is None or event_id in self.uses:
                return False
            self.uses.add(event_id)
            key.use_count += 1
            return True

    def record_last_use(self, fid: str, when: datetime) -> bool:
        with self._lock:
            key = self.keys.get(fid)
            if key is None or (key.use_last is not None and key.use_last >= when):
                return False
            key.use_last = when
            return True

    def claim_use_reply(
        self, fid: str, event_id: str, *, every_s: int, lease_s: float, pending: bool
    ) -> UseReplyClaim | None:
        self._gate("claim_use_reply")
        now = self.clock()
        with self._lock:
            key = self.keys.get(fid)
            if key is None:
                return None
            due = key.reply_posted and (key.reply_at or 0) <= now - every_s
            if pending:
                due = due and key.use_count > key.reply_mark
            mine = not key.reply_posted and (key.reply_owner == event_id or key.reply_lease < now)
            if not (key.reply_at is None or mine or due):
                return None
            claim = UseReplyClaim(
                uses=max(0, key.use_count - key.reply_mark),
                first=key.reply_count == 0,
                retry=key.reply_owner == event_id and not key.reply_posted,
            )
            key.reply_owner, key.reply_lease = event_id, now + max(1, int(lease_s))
            key.reply_posted, key.reply_at, key.reply_upto = False, now, key.use_count
            return claim

    def finish_use_reply(self, fid: str, event_id: str) -> None:
        self._gate("finish_use_reply")
        with self._lock:
            key = self.keys[fid]
            if key.reply_owner == event_id and not key.reply_posted:
                key.reply_posted, key.reply_mark = True, key.reply_upto
                key.reply_count += 1

    def release_use_reply(self, fid: str, event_id: str) -> None:
        with self._lock:
            key = self.keys[fid]
            if key.reply_owner == event_id and not key.reply_posted:
                key.reply_lease = 0.0

    # -- root sessions -----------------------------------------------------------------------

    _SESSION_TTL_S = 86400  # as DynamoLedger's (ledger_items.SESSION_TTL_S)

    def _live_session(self, where: tuple[str, str]) -> tuple[RootSession | None, set[str]]:
        session, marks, until = self.sessions.get(where, (None, set(), 0.0))
        if until and until < self.clock():  # DynamoDB's TTL: gone once expired
            return None, set()
        return session, set(marks)

    def open_session(self, session: RootSession) -> list[str]:
        self._gate("open_session")
        where = (session.account, session.access_key_id)
        with self._lock:
            kept, marks = self._live_session(where)
            kept = kept or session
            self.sessions[where] = (kept, marks, self.clock() + self._SESSION_TTL_S)
            return sorted(marks)

    def touch_session(self, account: str, key_id: str, mark: str | None) -> RootSession | None:
        self._gate("touch_session")
        where = (account, key_id)
        with self._lock:
            session, marks = self._live_session(where)
            if mark is not None:
                marks.add(mark)
                self.sessions[where] = (session, marks, self.clock() + self._SESSION_TTL_S)
            return session

    def _record(self, fid: str, key: _Key, claimed_by: str | None) -> KeyRecord:
        slot: AlertSlot | None = None
        if key.alert_posted:
            slot = AlertSlot(SlotState.POSTED, key.alert_owner, key.alert_ref)
        elif claimed_by is not None:
            slot = AlertSlot(SlotState.MINE, claimed_by)
        elif key.alert_owner is not None:
            slot = AlertSlot(SlotState.POSTING, key.alert_owner)
        return KeyRecord(
            fid=fid,
            account=key.account,
            key_id=key.key_id,
            first_seen=key.first_seen,
            slot=slot,
            observed=key.observed,
            open=key.open,
            finding=copy.deepcopy(key.finding),
            shown=copy.deepcopy(key.shown),
            alias=key.alias,
            bound_to=key.bound_to,
            origin=key.origin,
            joined=len(key.members),
            triage=copy.deepcopy(key.triage),
            removal=copy.deepcopy(key.removal),
        )


class InMemoryTriageLedger(InMemoryLedger):
    """The triage ledger's contract (:class:`detector.ports.TriageLedger`) in memory: the
    replay guard, each key's triage state, and its removal request's conditional writes."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.requests: dict[str, float] = {}
        self.fail_settles = 0  # settle_removal fails this many times (the job dies before it)

    def remember_request(self, signature: str, keep_s: int) -> bool:
        now = self.clock()
        with self._lock:
            if self.requests.get(signature, -1.0) >= now:
                return False
            self.requests[signature] = now + keep_s
            return True

    def claim_triage(
        self, fid: str, state: dict[str, Any], workflow: str, job: str, *, note_counts: bool = False
    ) -> bool:
        note = str(state.get("finding_note", ""))
        with self._lock:
            key = self.keys.get(fid)
            if key is None:
                return False
            changed = key.triage_wf is None or key.triage_wf != workflow
            if note_counts:
                changed = changed or key.triage_note is None or key.triage_note != note
            if key.triage_job != job and not changed:
                return False
            key.triage, key.triage_wf = copy.deepcopy(state), workflow
            key.triage_job, key.triage_note = job, note
            return True

    def undo_triage(self, fid: str, previous: dict[str, Any] | None, job: str) -> bool:
        with self._lock:
            key = self.keys.get(fid)
            if key is None or key.triage_job != job:
                return False
            key.triage = copy.deepcopy(previous)
            key.triage_wf = None if previous is None else str(previous.get("workflow", "NEW"))
            key.triage_note = None if previous is None else str(previous.get("finding_note", ""))
            key.triage_job = None
            return True

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
        with self._lock:
            key = self.keys.get(fid)
            if key is None:
                return False
            free = key.removal_state in {None, "FAILED", "DRY_RUN", "CANCELLED", "EXPIRED"} or (
                key.removal_state in {"PENDING", "CONFIRMED", "DELETING"}
                and key.removal_expires < now
            )
            if not free:
                return False
            key.removal, key.removal_state = copy.deepcopy(removal), "PENDING"
            key.removal_id, key.removal_by, key.removal_expires = (
                request_id,
                requester_id,
                expires_at,
            )
            return True

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
        with self._lock:
            key = self.keys.get(fid)
            if (
                key is None
                or key.removal_state != "PENDING"
                or key.removal_id != request_id
                or key.removal_by == confirmer_id
                or key.removal_expires < now
            ):
                return False
            key.removal, key.removal_state = copy.deepcopy(removal), "CONFIRMED"
            key.removal_expires = lease_until
            return True

    def begin_removal(
        self, fid: str, removal: dict[str, Any], *, request_id: str, now: int
    ) -> bool:
        with self._lock:
            key = self.keys.get(fid)
            if (
                key is None
                or key.removal_id != request_id
                or key.removal_state not in {"CONFIRMED", "DELETING"}
                or key.removal_expires < now
            ):
                return False
            key.removal, key.removal_state = copy.deepcopy(removal), "DELETING"
            return True

    def settle_removal(
        self,
        fid: str,
        removal: dict[str, Any],
        *,
        request_id: str,
        from_state: str,
        to_state: str,
    ) -> bool:
        with self._lock:
            if self.fail_settles > 0:
                self.fail_settles -= 1
                raise ExternalServiceError(
                    "dynamodb.ledger.settle_removal", "down", "down", transient=True
                )
            key = self.keys.get(fid)
            if key is None or key.removal_id != request_id:
                return False
            if key.removal_state not in {from_state, to_state}:
                return False
            key.removal, key.removal_state = copy.deepcopy(removal), to_state
            return True


class FakeSecurityHub:
    """Security Hub's rule for BatchImportFindings: per Id, the newest ``UpdatedAt`` wins and
    an import that is not newer is ignored (not an error)."""

    def __init__(self) -> None:
        self.findings: dict[str, dict[str, Any]] = {}
        self.imports: list[dict[str, Any]] = []
        self.gates: list[Gate] = []  # the next imports wait at these, in order
        self.fail_next = 0
        self._lock = threading.Lock()

    def import_finding(self, finding: dict[str, Any]) -> None:
        with self._lock:
            gate = self.gates.pop(0) if self.gates else None
            failing = self.fail_next > 0
            self.fail_next -= failing
        if gate is not None:
            gate.wait()
        if failing:
            from detector.errors import FindingImportError  # noqa: PLC0415

            raise FindingImportError("securityhub", "InternalException", "down", transient=True)
        with self._lock:
            self.imports.append(copy.deepcopy(finding))
            stored = self.findings.get(finding["Id"])
            if stored is not None and stored["UpdatedAt"] >= finding["UpdatedAt"]:
                return
            self.findings[finding["Id"]] = copy.deepcopy(finding)


@dataclass
class Posted:
    """One message the fake Slack holds."""

    ref: SlackRef
    message: SlackMessage
    thread: SlackRef | None
    edits: list[SlackMessage] = field(default_factory=list)

    @property
    def shows(self) -> SlackMessage:
        return self.edits[-1] if self.edits else self.message


class FakeSlack:
    """A Slack channel for the bot alerter port: posts, thread replies and edits."""

    supports_threads = True

    def __init__(self, channel: str = "C0FAKE") -> None:
        self.channel = channel
        self.messages: list[Posted] = []
        self.post_gates: list[Gate] = []  # posts wait here before Slack has them
        self.posted_gates: list[Gate] = []  # ...or after (Slack has it, the caller waits)
        self.update_gates: list[Gate] = []
        self.fail_posts = 0
        self.lost_answers = 0  # posts Slack takes whose answer never reaches the caller
        self.deleted: set[SlackRef] = set()  # messages someone deleted in the channel
        self.frozen: set[SlackRef] = set()  # messages past Slack's edit window
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    def prepare(self) -> None:
        return

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef:
        with self._lock:
            gate = self.post_gates.pop(0) if self.post_gates else None
            failing = self.fail_posts > 0
            self.fail_posts -= failing
        if gate is not None:
            gate.wait()
        if failing:
            raise AlertDeliveryError("slack.chat.postMessage", "HTTP 500", "down", transient=True)
        if thread is not None and thread in self.deleted:
            raise AlertDeliveryError(
                "slack.chat.postMessage", "thread_not_found", "gone", transient=False
            )
        with self._lock:
            ref = SlackRef(self.channel, f"{next(self._ts)}.000100")
            self.messages.append(Posted(ref, message, thread))
            after = self.posted_gates.pop(0) if self.posted_gates else None
            lost = self.lost_answers > 0
            self.lost_answers -= lost
        if after is not None:
            after.wait()
        if lost:
            error = AlertDeliveryError(
                "slack.chat.postMessage", "TimeoutError", "no answer", transient=False
            )
            error.maybe_delivered = True
            raise error
        return ref

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        with self._lock:
            gate = self.update_gates.pop(0) if self.update_gates else None
        if gate is not None:
            gate.wait()
        if ref in self.deleted:
            raise AlertDeliveryError(
                "slack.chat.update", "message_not_found", "gone", transient=False
            )
        if ref in self.frozen:
            raise AlertDeliveryError(
                "slack.chat.update", "edit_window_closed", "frozen", transient=False
            )
        with self._lock:
            posted = next(m for m in self.messages if m.ref == ref)
            posted.edits.append(message)

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        wanted = (message.metadata or {}).get("event_payload", {}).get("event_id")
        with self._lock:
            for posted in self.messages:
                meta = (posted.message.metadata or {}).get("event_payload", {})
                if posted.thread == thread and wanted and meta.get("event_id") == wanted:
                    return posted.ref
        return None

    def top_level(self) -> list[Posted]:
        return [m for m in self.messages if m.thread is None]

    def replies(self, parent: Posted) -> list[Posted]:
        return [m for m in self.messages if m.thread == parent.ref]


class FakeConfirmer:
    """IAM's answer, as the test sets it (a present key by default)."""

    def __init__(self) -> None:
        self.present: dict[str, bool] = {}
        self.gates: list[Gate] = []

    def confirm(
        self,
        account_id: str,
        *,
        expect_present: bool,
        event_time: datetime,
        cancelled: Any = None,
    ) -> Confirmation:
        gate = self.gates.pop(0) if self.gates else None
        if gate is not None:
            gate.wait()
        present = self.present.get(account_id, True)
        if present:
            state = KeyState.PRESENT if expect_present else KeyState.UNCONFIRMED
        else:
            state = KeyState.UNCONFIRMED if expect_present else KeyState.ABSENT
        return Confirmation(state, "fake IAM")


class FakeTriageSlack(FakeSlack):
    """The fake channel, with what triage asks beyond posting: modals, ephemeral answers (kept
    in ``told``) and user groups."""

    def __init__(self, channel: str = "C0FAKE") -> None:
        super().__init__(channel)
        self.views: list[dict[str, Any]] = []
        self.told: list[tuple[str, str]] = []  # (response URL, text)
        self.groups: dict[str, frozenset[str]] = {}

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.views.append(view)

    def respond(self, response_url: str, text: str) -> None:
        self.told.append((response_url, text))

    def group_members(self, group_id: str) -> frozenset[str]:
        return self.groups.get(group_id, frozenset())


class FakeWorkflow:
    """Security Hub's BatchUpdateFindings for one finding: the updates, in order; ``refuse`` an
    error code to refuse the next ones for good."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, dict[str, str], str, str, str]] = []
        self.refuse: str | None = None

    def set_workflow(
        self, account: str, identifier: dict[str, str], status: str, note: str, author: str
    ) -> None:
        if self.refuse is not None:
            raise FindingImportError("securityhub", self.refuse, "refused", transient=False)
        self.updates.append((account, dict(identifier), status, note, author))


class FakeRootRemoval:
    """Root's keys per member account, and removal in a delete session: ``deny`` an operation
    (as a task policy that does not allow it would), or ``keep`` a key IAM still lists after
    its deletion. ``removals`` counts the sessions opened."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {}
        self.deny: str | None = None  # an IAM operation the session may not call
        self.keep = False
        self.removals: list[tuple[str, str]] = []

    def root_keys(self, account_id: str) -> list[Any]:
        raise NotImplementedError

    def remove_root_key(self, account_id: str, key_id: str) -> RemovalReport:
        self.removals.append((account_id, key_id))
        calls = ["sts.AssumeRoot", "iam.ListAccessKeys"]
        held = self.keys.get(account_id, [])
        if key_id not in held:  # as the adapter: nothing deleted when IAM does not list it
            raise NotRootKey(account_id, key_id)
        if self.deny == "DeleteAccessKey":
            raise AwsCallError(
                "iam.DeleteAccessKey",
                "AccessDenied",
                "not allowed by the task policy",
                failure=Failure.PERMANENT,
            )
        calls.append(f"iam.DeleteAccessKey {key_id}")
        if not self.keep and key_id in held:
            held.remove(key_id)
        calls.append("iam.ListAccessKeys")
        return RemovalReport(tuple(calls), gone=key_id not in held)


class FakeRootCredentials:
    """Centralized root access as the test sets it: root's keys per account, as an audit root
    session lists them; an account in ``refused`` fails as AssumeRoot or IAM would."""

    def __init__(self) -> None:
        self.keys: dict[str, list[RootKey]] = {}
        self.refused: dict[str, str] = {}  # account -> error code
        self.listed: list[str] = []  # the accounts whose keys were listed, in order

    def root_keys(self, account_id: str) -> list[RootKey]:
        self.listed.append(account_id)
        code = self.refused.get(account_id)
        if code is not None:
            raise AwsCallError("sts.AssumeRoot", code, "refused", failure=Failure.PERMANENT)
        return list(self.keys.get(account_id, []))

    def remove_root_key(self, account_id: str, key_id: str) -> RemovalReport:
        keys = self.keys.get(account_id, [])
        self.keys[account_id] = [k for k in keys if k.key_id != key_id]
        return RemovalReport(("ListAccessKeys", "DeleteAccessKey", "ListAccessKeys"), gone=True)
