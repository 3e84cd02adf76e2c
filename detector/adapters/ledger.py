"""The delivery ledger in DynamoDB: events' progress and keys' records, in the security account.

Conditional writes make every claim atomic, so two invocations of one event (EventBridge
delivers at least once; Lambda retries) produce one alert. The items: :mod:`.ledger_items`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters import ledger_items as items
from detector.adapters.aws_errors import aws_call
from detector.domain.delivery import (
    AlertSlot,
    KeyRecord,
    Progress,
    SlackRef,
    SlotState,
)
from detector.domain.finding import iso
from detector.domain.root_access import RootSession
from detector.errors import AwsCallError, ConditionFailed, Failure, LedgerBusy
from detector.ports import EventClaim, UseReplyClaim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SERVICE = "dynamodb.ledger"


class DynamoLedger:
    """Ledger over one DynamoDB table (the item layout is in :mod:`.ledger_items`)."""

    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        table: str,
        retry_env: retry.RetryEnv,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._retry_env = retry_env
        self._clock = clock

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, op: str, **kwargs: Any) -> Any:
        """One DynamoDB call under AWS_CALL; a failed condition is raised as ConditionFailed."""
        fn = getattr(self._client(), op)
        return retry.build(retry.AWS_CALL, self._retry_env)(
            aws_call, f"{SERVICE}.{op}", fn, TableName=self._table, **kwargs
        )

    def _update(self, key: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        """A conditional update: the new item, or None when the condition failed."""
        try:
            resp: dict[str, Any] = self._call("update_item", Key=key, **kwargs)
        except ConditionFailed:
            return None
        return resp

    def _update_or_old(self, key: dict[str, Any], **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """A conditional update returning (applied, item after it or as it stood)."""
        try:
            resp = self._call(
                "update_item",
                Key=key,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **kwargs,
            )
        except ConditionFailed as exc:
            return False, exc.item
        return True, resp["Attributes"]

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        resp = self._call("get_item", Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = resp.get("Item")
        return item

    def _now(self) -> int:
        return int(self._clock())

    # -- events --------------------------------------------------------------------------

    def begin_event(self, event_id: str, verdict: str, lease_s: float) -> EventClaim:
        """Claim an event for this attempt.

        Returns its progress (``done`` when an earlier delivery finished it). The claim's token
        is this attempt's own: a retried write whose first answer was lost still recognises
        its claim; concurrent invocations (even in one process) never do.

        Raises:
            LedgerBusy: another invocation holds the event now.
        """
        now = self._now()
        token = uuid.uuid4().hex
        applied, item = self._update_or_old(
            items.event_key(event_id),
            UpdateExpression=(
                "SET #st = :running, #own = :me, lease_until = :lease, verdict = :verdict, "
                "expires_at = :exp ADD attempts :one"
            ),
            ConditionExpression=(
                "attribute_not_exists(pk) OR #st = :failed "
                "OR (#st = :running AND (lease_until < :now OR #own = :me))"
            ),
            ExpressionAttributeNames={"#st": "status", "#own": "owner"},
            ExpressionAttributeValues={
                ":running": items.s("RUNNING"),
                ":failed": items.s("FAILED"),
                ":me": items.s(token),
                ":lease": items.n(now + max(1, int(lease_s))),
                ":now": items.n(now),
                ":verdict": items.s(verdict),
                ":exp": items.n(now + items.EVENT_TTL_S),
                ":one": items.n(1),
            },
        )
        if applied:
            return EventClaim(done=False, progress=items.progress(item), token=token)
        if items.text(item, "status") == "DONE":
            return EventClaim(done=True, progress=items.progress(item))
        raise LedgerBusy(
            SERVICE, "EventInProgress", f"event {event_id} is being processed", transient=True
        )

    def finish_event(self, event_id: str, token: str, progress: Progress) -> None:
        """The event is handled: later deliveries skip it. The owner stays, so the attempt can
        still reopen it with :meth:`release_event` if a write made beside this one fails."""
        self._write_progress(event_id, token, progress, "DONE")

    def release_event(self, event_id: str, token: str, progress: Progress) -> None:
        """The attempt failed: record the steps it finished, and let the next delivery (retry,
        redrive) take the event at once. Works while the attempt holds it, running or done."""
        self._write_progress(event_id, token, progress, "FAILED")

    def _write_progress(self, event_id: str, token: str, progress: Progress, status: str) -> None:
        ref = progress.message
        self._update(
            items.event_key(event_id),
            UpdateExpression=(
                "SET #st = :st, finding_done = :fd, update_done = :ud, msg_sent = :sent, "
                "msg_channel = :ch, msg_ts = :ts, msg_kind = :kind"
            ),
            ConditionExpression="#own = :me AND (#st = :running OR #st = :done)",
            ExpressionAttributeNames={"#st": "status", "#own": "owner"},
            ExpressionAttributeValues={
                ":st": items.s(status),
                ":fd": {"BOOL": progress.finding_done},
                ":ud": {"BOOL": progress.update_done},
                ":sent": {"BOOL": progress.message_sent},
                ":ch": items.s(ref.channel if ref else ""),
                ":ts": items.s(ref.ts if ref else ""),
                ":kind": items.s(progress.message_kind.value if progress.message_kind else ""),
                ":running": items.s("RUNNING"),
                ":done": items.s("DONE"),
                ":me": items.s(token),
            },
        )

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        """Whether an event is done, and the message it posted (to repair an alert claim)."""
        item = self._get(items.event_key(event_id))
        if item is None:
            return False, None
        return items.text(item, "status") == "DONE", items.progress(item).message

    # -- keys ----------------------------------------------------------------------------

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
        """Create the key's record if new (``first_seen`` = ``seen``) and, with ``claim``,
        become the one event that posts its top-level alert unless another event holds it."""
        now = self._now()
        sets = [
            "account = :acct",
            "first_seen = if_not_exists(first_seen, :seen)",
            "origin = if_not_exists(origin, :origin)",
            "expires_at = :exp",
        ]
        values: dict[str, Any] = {
            ":acct": items.s(account),
            ":seen": items.s(iso(seen)),
            ":origin": items.s(event_id),
            ":exp": items.n(now + items.KEY_TTL_S),
        }
        if key_id:
            sets.append("key_id = if_not_exists(key_id, :kid)")
            values[":kid"] = items.s(key_id)
        kwargs: dict[str, Any] = {}
        if claim:
            sets += ["alert_owner = :eid", "alert_lease = :lease"]
            values |= {":eid": items.s(event_id), ":lease": items.n(now + max(1, int(lease_s)))}
            kwargs["ConditionExpression"] = items.CLAIMABLE
            values[":now"] = items.n(now)
        applied, item = self._update_or_old(
            items.key_key(fid),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeValues=values,
            **kwargs,
        )
        return items.key_record(fid, item, event_id if claim and applied else None)

    def read_key(self, fid: str) -> KeyRecord | None:
        """The key's record now (a consistent read), or None."""
        item = self._get(items.key_key(fid))
        return None if item is None else items.key_record(fid, item, None)

    def account_keys(self, account: str) -> list[KeyRecord]:
        """Every key record of one account (a finding Id names its account)."""
        return self._query(f"{items.FID_PREFIX}{account}/")

    def all_keys(self) -> list[KeyRecord]:
        """Every key record."""
        return self._query(None)

    def _query(self, prefix: str | None) -> list[KeyRecord]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": items.s(items.KEYS_PK)}
        if prefix:
            values[":prefix"] = items.s(prefix)
        records: list[KeyRecord] = []
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ConsistentRead": True,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            resp = self._call("query", **kwargs)
            records += [
                items.key_record(items.text(i, "sk") or "", i, None) for i in resp.get("Items", [])
            ]
            start = resp.get("LastEvaluatedKey")
            if not start:
                return records

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertSlot:
        """Claim the key's top-level alert if it is free or its claim expired."""
        now = self._now()
        applied, item = self._update_or_old(
            items.key_key(fid),
            UpdateExpression="SET alert_owner = :eid, alert_lease = :lease",
            ConditionExpression=f"attribute_exists(pk) AND ({items.CLAIMABLE})",
            ExpressionAttributeValues={
                ":eid": items.s(event_id),
                ":lease": items.n(now + max(1, int(lease_s))),
                ":now": items.n(now),
            },
        )
        slot = items.key_record(fid, item, event_id if applied else None).slot
        return slot or AlertSlot(SlotState.POSTING)  # a vanished record: wait, then retry

    def release_alert(self, fid: str, event_id: str) -> None:
        """Posting failed: free the claim so the next attempt may post."""
        self._update(
            items.key_key(fid),
            UpdateExpression="REMOVE alert_owner, alert_lease",
            ConditionExpression="alert_owner = :eid AND attribute_not_exists(alert_ts)",
            ExpressionAttributeValues={":eid": items.s(event_id)},
        )

    def set_alert(self, fid: str, event_id: str, ref: SlackRef | None) -> None:
        """The top-level alert is posted (``ref`` None for webhooks, which have no threads)."""
        self._call(
            "update_item",
            Key=items.key_key(fid),
            UpdateExpression=(
                "SET alert_owner = :eid, alert_channel = :c, alert_ts = :ts REMOVE alert_lease"
            ),
            ExpressionAttributeValues={
                ":eid": items.s(event_id),
                ":c": items.s(ref.channel if ref else ""),
                ":ts": items.s(ref.ts if ref else ""),
            },
        )

    def record_state(
        self,
        fid: str,
        *,
        observed: datetime,
        open_: bool,
        finding: dict[str, Any] | None,
        shown: dict[str, Any] | None,
    ) -> bool:
        """Record a state of the key unless a newer one is recorded (the same rule as Security
        Hub's for ``UpdatedAt``, except that an equal time is the same state recorded again)."""
        sets = ["observed = :t", "#open = :open", "expires_at = :exp"]
        values: dict[str, Any] = {
            ":t": items.s(iso(observed)),
            ":open": {"BOOL": open_},
            ":exp": items.n(self._now() + items.KEY_TTL_S),
        }
        if finding is not None:
            sets.append("finding = :f")
            values[":f"] = items.s(items.dump(finding))
        if shown is not None:
            sets.append("shown = :m")
            values[":m"] = items.s(items.dump(shown))
        resp = self._update(
            items.key_key(fid),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(observed) OR observed <= :t)"
            ),
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues=values,
        )
        return resp is not None

    # -- triage ---------------------------------------------------------------------------

    def remember_request(self, signature: str, keep_s: int) -> bool:
        """Record a Slack request (by its signature); False when it was recorded before."""
        now = self._now()
        resp = self._update(
            items.request_key(signature),
            UpdateExpression="SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":exp": items.n(now + keep_s), ":now": items.n(now)},
        )
        return resp is not None

    def claim_triage(
        self, fid: str, state: dict[str, Any], workflow: str, job: str, *, note_counts: bool = False
    ) -> bool:
        """Set the key's triage state unless it already shows ``workflow`` (and, with
        ``note_counts``, the same finding note); True when this job holds the change (a retry of
        the same job too)."""
        changed = ["triage_wf <> :wf"]
        if workflow != "NEW":
            changed.append("attribute_not_exists(triage_wf)")
        if note_counts:
            changed += ["triage_note <> :note", "attribute_not_exists(triage_note)"]
        resp = self._update(
            items.key_key(fid),
            UpdateExpression=(
                "SET triage = :st, triage_wf = :wf, triage_job = :job, triage_note = :note"
            ),
            ConditionExpression=(
                f"attribute_exists(pk) AND (triage_job = :job OR {' OR '.join(changed)})"
            ),
            ExpressionAttributeValues={
                ":st": items.s(items.dump(state)),
                ":wf": items.s(workflow),
                ":job": items.s(job),
                ":note": items.s(str(state.get("finding_note", ""))),
            },
        )
        return resp is not None

    def undo_triage(self, fid: str, previous: dict[str, Any] | None, job: str) -> bool:
        """Put back the triage state ``job`` replaced, if ``job`` still holds it (a job that
        could not write the finding must not leave the ledger saying it did)."""
        if previous is None:
            resp = self._update(
                items.key_key(fid),
                UpdateExpression="REMOVE triage, triage_wf, triage_job, triage_note",
                ConditionExpression="triage_job = :job",
                ExpressionAttributeValues={":job": items.s(job)},
            )
            return resp is not None
        resp = self._update(
            items.key_key(fid),
            UpdateExpression="SET triage = :st, triage_wf = :wf, triage_note = :note "
            "REMOVE triage_job",
            ConditionExpression="triage_job = :job",
            ExpressionAttributeValues={
                ":st": items.s(items.dump(previous)),
                ":wf": items.s(str(previous.get("workflow", "NEW"))),
                ":note": items.s(str(previous.get("finding_note", ""))),
                ":job": items.s(job),
            },
        )
        return resp is not None

    # -- removal ---------------------------------------------------------------------------

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
        """Record a pending removal request, one per key: none before, or the last one
        settled (failed, dry run, cancelled, expired), pending but expired, or under way
        (confirmed, deleting) past its lease."""
        resp = self._update(
            items.key_key(fid),
            UpdateExpression=(
                "SET removal = :doc, removal_state = :pending, removal_id = :rid, "
                "removal_by = :by, removal_expires = :exp"
            ),
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(removal_state) "
                "OR removal_state IN (:failed, :dry, :cancelled, :expired) "
                "OR (removal_state IN (:pending, :confirmed, :deleting) "
                "AND removal_expires < :now))"
            ),
            ExpressionAttributeValues={
                ":doc": items.s(items.dump(removal)),
                ":pending": items.s("PENDING"),
                ":rid": items.s(request_id),
                ":by": items.s(requester_id),
                ":exp": items.n(expires_at),
                ":now": items.n(now),
                ":failed": items.s("FAILED"),
                ":dry": items.s("DRY_RUN"),
                ":cancelled": items.s("CANCELLED"),
                ":expired": items.s("EXPIRED"),
                ":confirmed": items.s("CONFIRMED"),
                ":deleting": items.s("DELETING"),
            },
        )
        return resp is not None

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
        """Confirm a pending, unexpired request asked by someone else (the second responder);
        removal_expires becomes the end of the confirmation's lease."""
        resp = self._update(
            items.key_key(fid),
            UpdateExpression=(
                "SET removal = :doc, removal_state = :confirmed, removal_expires = :lease"
            ),
            ConditionExpression=(
                "removal_state = :pending AND removal_id = :rid AND removal_by <> :me "
                "AND removal_expires >= :now"
            ),
            ExpressionAttributeValues={
                ":doc": items.s(items.dump(removal)),
                ":confirmed": items.s("CONFIRMED"),
                ":pending": items.s("PENDING"),
                ":rid": items.s(request_id),
                ":me": items.s(confirmer_id),
                ":now": items.n(now),
                ":lease": items.n(lease_until),
            },
        )
        return resp is not None

    def begin_removal(
        self, fid: str, removal: dict[str, Any], *, request_id: str, now: int
    ) -> bool:
        """Mark a confirmed request DELETING before its deletion call, within its lease (True
        again for a retry that finds it DELETING, within the lease)."""
        resp = self._update(
            items.key_key(fid),
            UpdateExpression="SET removal = :doc, removal_state = :deleting",
            ConditionExpression=(
                "removal_id = :rid AND removal_state IN (:confirmed, :deleting) "
                "AND removal_expires >= :now"
            ),
            ExpressionAttributeValues={
                ":doc": items.s(items.dump(removal)),
                ":deleting": items.s("DELETING"),
                ":confirmed": items.s("CONFIRMED"),
                ":rid": items.s(request_id),
                ":now": items.n(now),
            },
        )
        return resp is not None

    def settle_removal(
        self,
        fid: str,
        removal: dict[str, Any],
        *,
        request_id: str,
        from_state: str,
        to_state: str,
    ) -> bool:
        """Move a request on from ``from_state`` (True again for a retry that finds it moved)."""
        resp = self._update(
            items.key_key(fid),
            UpdateExpression="SET removal = :doc, removal_state = :to",
            ConditionExpression=(
                "removal_id = :rid AND (removal_state = :from OR removal_state = :to)"
            ),
            ExpressionAttributeValues={
                ":doc": items.s(items.dump(removal)),
                ":to": items.s(to_state),
                ":from": items.s(from_state),
                ":rid": items.s(request_id),
            },
        )
        return resp is not None

    def join_group(self, fid: str, event_id: str) -> int:
        """Count a notice in its group (once per event, however often it is retried)."""
        resp = self._call(
            "update_item",
            Key=items.key_key(fid),
            UpdateExpression="ADD members :eid",
            ExpressionAttributeValues={":eid": {"SS": [event_id]}},
            ReturnValues="ALL_NEW",
        )
        return len(resp["Attributes"].get("members", {}).get("SS", []))

    def bind(self, unknown_fid: str, key_id: str, own_fid: str) -> bool:
        """Tie a sweep's unknown-key record to ``key_id``, then point the key's own record at
        it (dropping the alert claim the key's event made there in passing)."""
        bound = self._update(
            items.key_key(unknown_fid),
            UpdateExpression="SET bound_to = :k",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(bound_to) OR bound_to = :k)"
            ),
            ExpressionAttributeValues={":k": items.s(key_id)},
        )
        if bound is None:
            return False
        self._call(
            "update_item",
            Key=items.key_key(own_fid),
            UpdateExpression="SET alias = :u REMOVE alert_owner, alert_lease",
            ExpressionAttributeValues={":u": items.s(unknown_fid)},
        )
        return True

    # -- uses of an alerted key -------------------------------------------------------------

    def count_use(self, fid: str, event_id: str) -> bool:
        """Count one use of the key, once per event.

        One transaction ("Amazon DynamoDB Transactions", DynamoDB developer guide): the use's
        marker item (created only if absent) and the key's counter (only if the key has a
        record). A redelivered or retried event finds its marker and counts nothing; two uses
        at once are serialised by DynamoDB (a conflict is retried).
        """
        now = self._now()
        request = {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **items.use_key(event_id),
                            "expires_at": items.n(now + items.EVENT_TTL_S),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.key_key(fid),
                        "UpdateExpression": "ADD use_count :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":one": items.n(1)},
                    }
                },
            ]
        }
        return bool(retry.build(retry.AWS_CALL, self._retry_env)(self._transact, request))

    def _transact(self, request: dict[str, Any]) -> bool:
        """One TransactWriteItems: True when written, False when a condition refused it; a
        conflict with another write is raised as transient, so it is tried again."""
        service = f"{SERVICE}.transact_write_items"
        try:
            aws_call(service, self._client().transact_write_items, **request)
        except AwsCallError as exc:
            codes = items.cancellation_codes(exc.__cause__)
            if codes is None:
                raise
            if "ConditionalCheckFailed" in codes:
                return False
            raise AwsCallError(
                service, "TransactionConflict", exc.detail, failure=Failure.TRANSIENT
            ) from exc
        return True

    def record_last_use(self, fid: str, when: datetime) -> bool:
        """Record the key's newest use unless one as new is recorded (ISO text sorts as time)."""
        resp = self._update(
            items.key_key(fid),
            UpdateExpression="SET use_last = :t",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(use_last) OR use_last < :t)"
            ),
            ExpressionAttributeValues={":t": items.s(iso(when))},
        )
        return resp is not None

    def claim_use_reply(
        self, fid: str, event_id: str, *, every_s: int, lease_s: float, pending: bool
    ) -> UseReplyClaim | None:
        """Claim the key's next use reply (see :class:`detector.ports.KeyUseLedger`)."""
        now = self._now()
        due = "reply_posted = :t AND reply_at <= :since"
        if pending:
            due += " AND use_count > reply_mark"
        try:
            resp = self._call(
                "update_item",
                Key=items.key_key(fid),
                UpdateExpression=(
                    "SET reply_owner = :eid, reply_lease = :lease, reply_posted = :f, "
                    "reply_at = :now, reply_upto = if_not_exists(use_count, :zero), "
                    "reply_mark = if_not_exists(reply_mark, :zero)"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(reply_at) "
                    "OR (reply_posted = :f AND (reply_owner = :eid OR reply_lease < :now)) "
                    f"OR ({due}))"
                ),
                ExpressionAttributeValues={
                    ":eid": items.s(event_id),
                    ":lease": items.n(now + max(1, int(lease_s))),
                    ":now": items.n(now),
                    ":since": items.n(now - every_s),
                    ":zero": items.n(0),
                    ":t": {"BOOL": True},
                    ":f": {"BOOL": False},
                },
                ReturnValues="ALL_OLD",
            )
        except ConditionFailed:
            return None
        return items.use_reply_claim(resp.get("Attributes") or {}, event_id)

    def finish_use_reply(self, fid: str, event_id: str) -> None:
        """The reply is posted: the uses it reported are reported."""
        self._update(
            items.key_key(fid),
            UpdateExpression=(
                "SET reply_posted = :t, reply_mark = reply_upto ADD reply_count :one "
                "REMOVE reply_lease"
            ),
            ConditionExpression="reply_owner = :eid AND reply_posted = :f",
            ExpressionAttributeValues={
                ":eid": items.s(event_id),
                ":t": {"BOOL": True},
                ":f": {"BOOL": False},
                ":one": items.n(1),
            },
        )

    def release_use_reply(self, fid: str, event_id: str) -> None:
        """Posting failed: the claim lapses at once."""
        self._update(
            items.key_key(fid),
            UpdateExpression="SET reply_lease = :zero",
            ConditionExpression="reply_owner = :eid AND reply_posted = :f",
            ExpressionAttributeValues={
                ":eid": items.s(event_id),
                ":zero": items.n(0),
                ":f": {"BOOL": False},
            },
        )

    # -- root sessions ----------------------------------------------------------------------

    def open_session(self, session: RootSession) -> list[str]:
        """Record a root session (a repeat keeps the first record of it); the marks of the
        member records that met its key before."""
        resp = self._call(
            "update_item",
            Key=items.session_key(session.account, session.access_key_id),
            UpdateExpression="SET #s = if_not_exists(#s, :s), expires_at = :exp",
            ExpressionAttributeNames={"#s": "session"},
            ExpressionAttributeValues={
                ":s": items.s(items.session_doc(session)),
                ":exp": items.n(self._now() + items.SESSION_TTL_S),
            },
            ReturnValues="ALL_NEW",
        )
        return items.marks(resp["Attributes"])

    def touch_session(self, account: str, key_id: str, mark: str | None) -> RootSession | None:
        """Mark a member record under its (account, key id); the session recorded there."""
        key = items.session_key(account, key_id)
        if mark is None:  # only asking: no item is created for it
            item = self._get(key)
            return None if item is None else items.root_session(item)
        resp = self._call(
            "update_item",
            Key=key,
            UpdateExpression="SET expires_at = :exp ADD touched :m",
            ExpressionAttributeValues={
                ":exp": items.n(self._now() + items.SESSION_TTL_S),
                ":m": {"SS": [mark]},
            },
            ReturnValues="ALL_NEW",
        )
        return items.root_session(resp["Attributes"])
