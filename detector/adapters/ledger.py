"""The delivery ledger in DynamoDB: events' progress and keys' records, in the security account.

Conditional writes make every claim atomic, so two invocations of one event (EventBridge
delivers at least once; Lambda retries) produce one alert. Items expire through TTL.

Item layout (partition key ``pk``, sort key ``sk``, TTL attribute ``expires_at``):

- ``EVENT#<eventID>`` / ``EVENT`` (an id over 512 characters is keyed by its SHA-256): status
  (RUNNING, FAILED, DONE), owner + lease_until (the attempt that holds it), attempts, verdict,
  finding_done, update_done, msg_channel, msg_ts, msg_kind, msg_sent (what it posted).
- ``ROOTKEYS`` / ``<finding Id>``: one key's record. account, key_id, first_seen, origin (the
  event that opened it); its top-level
  alert (alert_owner, alert_lease, alert_channel, alert_ts); its newest recorded state
  (observed, open, finding, shown); alias / bound_to (a sweep's unknown-key finding taken over
  by the key's first event). All key records share one partition so the sweep reads them in
  one query; root keys are rare, so the partition stays small.
- ``NOTICES`` / ``notices/<account>/<hour>``: a notice group, shaped like a key's record: its
  top-level message (alert_*), what it shows (shown), and members (the events in its thread).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.domain.delivery import (
    NOTICE_GROUP_PREFIX,
    AlertSlot,
    KeyRecord,
    MessageKind,
    Progress,
    SlackRef,
    SlotState,
)
from detector.domain.finding import iso
from detector.errors import ConditionFailed, LedgerBusy
from detector.ports import EventClaim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EVENT_TTL_S = 30 * 86400  # long enough to absorb every redelivery and DLQ redrive
KEY_TTL_S = 400 * 86400  # a key's record must outlive the key (renewed by every write)
KEYS_PK = "ROOTKEYS"
NOTICES_PK = "NOTICES"
NOTICE_TTL_S = 7 * 86400  # a notice group lives as long as anyone replies in its hour
MAX_PLAIN_EVENT_ID = 512  # longer ids are hashed (DynamoDB keys are at most 2,048 bytes)
SERVICE = "dynamodb.ledger"


class DynamoLedger:
    """Ledger over one DynamoDB table (see the module docstring for the item schema)."""

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
            _event_key(event_id),
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
                ":running": _s("RUNNING"),
                ":failed": _s("FAILED"),
                ":me": _s(token),
                ":lease": _n(now + max(1, int(lease_s))),
                ":now": _n(now),
                ":verdict": _s(verdict),
                ":exp": _n(now + EVENT_TTL_S),
                ":one": _n(1),
            },
        )
        if applied:
            return EventClaim(done=False, progress=_progress(item), token=token)
        if _str(item, "status") == "DONE":
            return EventClaim(done=True, progress=_progress(item))
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
            _event_key(event_id),
            UpdateExpression=(
                "SET #st = :st, finding_done = :fd, update_done = :ud, msg_sent = :sent, "
                "msg_channel = :ch, msg_ts = :ts, msg_kind = :kind"
            ),
            ConditionExpression="#own = :me AND (#st = :running OR #st = :done)",
            ExpressionAttributeNames={"#st": "status", "#own": "owner"},
            ExpressionAttributeValues={
                ":st": _s(status),
                ":fd": {"BOOL": progress.finding_done},
                ":ud": {"BOOL": progress.update_done},
                ":sent": {"BOOL": progress.message_sent},
                ":ch": _s(ref.channel if ref else ""),
                ":ts": _s(ref.ts if ref else ""),
                ":kind": _s(progress.message_kind.value if progress.message_kind else ""),
                ":running": _s("RUNNING"),
                ":done": _s("DONE"),
                ":me": _s(token),
            },
        )

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        """Whether an event is done, and the message it posted (to repair an alert claim)."""
        item = self._get(_event_key(event_id))
        if item is None:
            return False, None
        return _str(item, "status") == "DONE", _progress(item).message

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
            ":acct": _s(account),
            ":seen": _s(iso(seen)),
            ":origin": _s(event_id),
            ":exp": _n(now + KEY_TTL_S),
        }
        if key_id:
            sets.append("key_id = if_not_exists(key_id, :kid)")
            values[":kid"] = _s(key_id)
        kwargs: dict[str, Any] = {}
        if claim:
            sets += ["alert_owner = :eid", "alert_lease = :lease"]
            values |= {":eid": _s(event_id), ":lease": _n(now + max(1, int(lease_s)))}
            kwargs["ConditionExpression"] = _CLAIMABLE
            values[":now"] = _n(now)
        applied, item = self._update_or_old(
            _key_key(fid),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeValues=values,
            **kwargs,
        )
        return _key_record(fid, item, event_id if claim and applied else None)

    def read_key(self, fid: str) -> KeyRecord | None:
        """The key's record now (a consistent read), or None."""
        item = self._get(_key_key(fid))
        return None if item is None else _key_record(fid, item, None)

    def account_keys(self, account: str) -> list[KeyRecord]:
        """Every key record of one account (a finding Id names its account)."""
        return self._query(f"{_FID_PREFIX}{account}/")

    def all_keys(self) -> list[KeyRecord]:
        """Every key record."""
        return self._query(None)

    def _query(self, prefix: str | None) -> list[KeyRecord]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": _s(KEYS_PK)}
        if prefix:
            values[":prefix"] = _s(prefix)
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
            records += [_key_record(_str(i, "sk") or "", i, None) for i in resp.get("Items", [])]
            start = resp.get("LastEvaluatedKey")
            if not start:
                return records

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertSlot:
        """Claim the key's top-level alert if it is free or its claim expired."""
        now = self._now()
        applied, item = self._update_or_old(
            _key_key(fid),
            UpdateExpression="SET alert_owner = :eid, alert_lease = :lease",
            ConditionExpression=f"attribute_exists(pk) AND ({_CLAIMABLE})",
            ExpressionAttributeValues={
                ":eid": _s(event_id),
                ":lease": _n(now + max(1, int(lease_s))),
                ":now": _n(now),
            },
        )
        slot = _key_record(fid, item, event_id if applied else None).slot
        return slot or AlertSlot(SlotState.POSTING)  # a vanished record: wait, then retry

    def release_alert(self, fid: str, event_id: str) -> None:
        """Posting failed: free the claim so the next attempt may post."""
        self._update(
            _key_key(fid),
            UpdateExpression="REMOVE alert_owner, alert_lease",
            ConditionExpression="alert_owner = :eid AND attribute_not_exists(alert_ts)",
            ExpressionAttributeValues={":eid": _s(event_id)},
        )

    def set_alert(self, fid: str, event_id: str, ref: SlackRef | None) -> None:
        """The top-level alert is posted (``ref`` None for webhooks, which have no threads)."""
        self._call(
            "update_item",
            Key=_key_key(fid),
            UpdateExpression=(
                "SET alert_owner = :eid, alert_channel = :c, alert_ts = :ts REMOVE alert_lease"
            ),
            ExpressionAttributeValues={
                ":eid": _s(event_id),
                ":c": _s(ref.channel if ref else ""),
                ":ts": _s(ref.ts if ref else ""),
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
            ":t": _s(iso(observed)),
            ":open": {"BOOL": open_},
            ":exp": _n(self._now() + KEY_TTL_S),
        }
        if finding is not None:
            sets.append("finding = :f")
            values[":f"] = _s(_json(finding))
        if shown is not None:
            sets.append("shown = :m")
            values[":m"] = _s(_json(shown))
        resp = self._update(
            _key_key(fid),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(observed) OR observed <= :t)"
            ),
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues=values,
        )
        return resp is not None

    def join_group(self, fid: str, event_id: str) -> int:
        """Count a notice in its group (once per event, however often it is retried)."""
        resp = self._call(
            "update_item",
            Key=_key_key(fid),
            UpdateExpression="ADD members :eid",
            ExpressionAttributeValues={":eid": {"SS": [event_id]}},
            ReturnValues="ALL_NEW",
        )
        return len(resp["Attributes"].get("members", {}).get("SS", []))

    def bind(self, unknown_fid: str, key_id: str, own_fid: str) -> bool:
        """Tie a sweep's unknown-key record to ``key_id``, then point the key's own record at
        it (dropping the alert claim the key's event made there in passing)."""
        bound = self._update(
            _key_key(unknown_fid),
            UpdateExpression="SET bound_to = :k",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(bound_to) OR bound_to = :k)"
            ),
            ExpressionAttributeValues={":k": _s(key_id)},
        )
        if bound is None:
            return False
        self._call(
            "update_item",
            Key=_key_key(own_fid),
            UpdateExpression="SET alias = :u REMOVE alert_owner, alert_lease",
            ExpressionAttributeValues={":u": _s(unknown_fid)},
        )
        return True


# The key's alert may be claimed: never claimed, or claimed but not posted and either expired
# or claimed by this same event (its retry).
_CLAIMABLE = (
    "attribute_not_exists(alert_owner) OR (attribute_not_exists(alert_ts) "
    "AND (alert_lease < :now OR alert_owner = :eid))"
)
_FID_PREFIX = "root-key-detector/"


def _event_key(event_id: str) -> dict[str, Any]:
    if len(event_id) > MAX_PLAIN_EVENT_ID:
        digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
        event_id = f"sha256:{digest}"
    return {"pk": _s(f"EVENT#{event_id}"), "sk": _s("EVENT")}


def _key_key(fid: str) -> dict[str, Any]:
    # Notice groups live beside the keys but out of the sweep's partition.
    pk = NOTICES_PK if fid.startswith(NOTICE_GROUP_PREFIX) else KEYS_PK
    return {"pk": _s(pk), "sk": _s(fid)}


def _progress(item: dict[str, Any]) -> Progress:
    channel, ts = _str(item, "msg_channel"), _str(item, "msg_ts")
    kind = _str(item, "msg_kind")
    return Progress(
        attempts=int(item.get("attempts", {}).get("N", "1")),
        finding_done=_bool(item, "finding_done"),
        update_done=_bool(item, "update_done"),
        message=SlackRef(channel, ts) if channel and ts else None,
        message_kind=MessageKind(kind) if kind else None,
        message_sent=_bool(item, "msg_sent"),
    )


def _key_record(fid: str, item: dict[str, Any], claimed_by: str | None) -> KeyRecord:
    owner, ts = _str(item, "alert_owner"), _str(item, "alert_ts")
    slot: AlertSlot | None = None
    if ts is not None:
        ref = SlackRef(_str(item, "alert_channel") or "", ts) if ts else None
        slot = AlertSlot(SlotState.POSTED, owner, ref)
    elif claimed_by is not None:
        slot = AlertSlot(SlotState.MINE, claimed_by)
    elif owner is not None:
        slot = AlertSlot(SlotState.POSTING, owner)
    observed = _str(item, "observed")
    return KeyRecord(
        fid=fid,
        account=_str(item, "account") or "",
        key_id=_str(item, "key_id"),
        first_seen=datetime.fromisoformat(_str(item, "first_seen") or "1970-01-01T00:00:00Z"),
        slot=slot,
        observed=datetime.fromisoformat(observed) if observed else None,
        open=_bool(item, "open"),
        finding=_load(_str(item, "finding")),
        shown=_load(_str(item, "shown")),
        alias=_str(item, "alias"),
        bound_to=_str(item, "bound_to"),
        origin=_str(item, "origin"),
        joined=len(item.get("members", {}).get("SS", [])),
    )


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _load(raw: str | None) -> dict[str, Any] | None:
    doc = json.loads(raw) if raw else None
    return doc if isinstance(doc, dict) else None


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _str(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def _bool(item: dict[str, Any], name: str) -> bool:
    return bool(item.get(name, {}).get("BOOL", False))
