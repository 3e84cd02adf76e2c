"""The delivery ledger in DynamoDB: which events are done, and each key's alert and state.

Conditional writes make every claim atomic, so two invocations of the same event (EventBridge
delivers at least once; Lambda retries) produce one alert. Items expire through TTL.

Item layout (partition key ``pk``, sort key ``sk``, TTL attribute ``expires_at``):

- ``EVENT#<eventID>`` / ``EVENT``: status (RUNNING, FAILED, DONE), owner, lease_until,
  attempts, verdict, finding_done, update_done, msg_channel, msg_ts, msg_kind (its message)
- ``FINDING#<finding Id>`` / ``STATE``: ord (the newest event's order key), event_id,
  imports (finished imports), finding + finding_event (the ASFF JSON last finalized, and
  the event that finalized it)
- ``FINDING#<finding Id>`` / ``ALERT``: status (POSTING, POSTED), owner (event id),
  lease_until, channel, ts (the key's one top-level alert)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from detector import retry
from detector.errors import ExternalServiceError
from detector.ports import AlertClaim, EventState, FindingState, SlackRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EVENT_TTL_S = 30 * 86400  # long enough to absorb every redelivery and DLQ redrive
FINDING_TTL_S = 400 * 86400  # a key's alert thread must outlive the key (renewed on each event)
SERVICE = "dynamodb.ledger"


class LedgerBusy(ExternalServiceError):
    """Another invocation holds the event or the key's alert right now (retry later)."""


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
        fn = getattr(self._client(), op)
        try:
            return retry.build(retry.AWS_CALL, self._retry_env)(fn, TableName=self._table, **kwargs)
        except botocore.exceptions.ClientError as exc:
            if retry.error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise ExternalServiceError(
                f"{SERVICE}.{op}",
                retry.error_code(exc),
                str(exc),
                transient=retry.is_transient(exc),
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ExternalServiceError(
                f"{SERVICE}.{op}", type(exc).__name__, str(exc), transient=retry.is_transient(exc)
            ) from exc

    def _conditional(self, op: str, **kwargs: Any) -> dict[str, Any] | None:
        """Run a conditional write; None when the condition did not hold."""
        try:
            result: dict[str, Any] = self._call(op, **kwargs)
        except botocore.exceptions.ClientError:
            return None
        return result

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        resp = self._call("get_item", Key=_key(pk, sk), ConsistentRead=True)
        item: dict[str, Any] | None = resp.get("Item")
        return item

    def _now(self) -> int:
        return int(self._clock())

    # -- events --------------------------------------------------------------------------

    def begin_event(self, event_id: str, verdict: str, lease_s: float) -> EventState:
        """Claim an event for processing.

        Returns its state (``done`` when an earlier delivery finished it). Its ``claim`` is a
        token of this attempt: a retried write whose first response was lost still recognises
        its own claim; concurrent invocations (even in one process) never do.

        Raises:
            LedgerBusy: another invocation is processing it now.
        """
        now = self._now()
        token = uuid.uuid4().hex
        resp = self._conditional(
            "update_item",
            Key=_key(f"EVENT#{event_id}", "EVENT"),
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
            ReturnValues="ALL_NEW",
        )
        if resp is not None:
            return replace(_event_state(resp["Attributes"]), claim=token)
        item = self._get(f"EVENT#{event_id}", "EVENT")
        if item is not None and _str(item, "status") == "DONE":
            return _event_state(item)
        raise LedgerBusy(
            SERVICE, "EventInProgress", f"event {event_id} is being processed", transient=True
        )

    def mark_event(self, event_id: str, **fields: str | bool) -> None:
        """Record a finished step (finding_done, update_done, msg_channel/msg_ts)."""
        sets, names, values = _set_fields(fields)
        self._call(
            "update_item",
            Key=_key(f"EVENT#{event_id}", "EVENT"),
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def finish_event(self, event_id: str, **fields: str | bool) -> None:
        """The event is fully handled (with what it posted): later deliveries are skipped.

        The owner stays, so the attempt can still reopen the event with :meth:`release_event`
        if a write made alongside this one fails."""
        self.mark_event(event_id, status="DONE", **fields)

    def release_event(self, event_id: str, claim: str | None, **steps: str | bool) -> None:
        """The attempt failed: record the steps it finished and let the next delivery (retry,
        redrive) take the event at once.

        Works while the attempt holds the event (``claim`` from :meth:`begin_event`), running
        or already marked done by it: done does not stand while a write made with it failed.
        """
        if claim is None:
            return
        sets, names, values = _set_fields({"status": "FAILED", **steps})
        self._conditional(
            "update_item",
            Key=_key(f"EVENT#{event_id}", "EVENT"),
            UpdateExpression=f"SET {sets}",
            ConditionExpression="#own = :me AND (#st = :running OR #st = :done)",
            ExpressionAttributeNames={**names, "#st": "status", "#own": "owner"},
            ExpressionAttributeValues={
                **values,
                ":running": _s("RUNNING"),
                ":done": _s("DONE"),
                ":me": _s(claim),
            },
        )

    # -- findings ------------------------------------------------------------------------
    #
    # Events of one key can be handled concurrently and out of order, and Security Hub keeps
    # whichever import lands last. The STATE item orders them: ``ord`` is the newest event's
    # order key, ``imports`` counts finished imports. An event proposes its order first; after
    # importing, it finalizes only if it is still the newest and nobody imported meanwhile,
    # else it re-imports the newest state (see pipeline._Run._record).

    def propose_order(self, fid: str, order: str, event_id: str) -> FindingState:
        """Claim "newest event of this key" unless a later event has; returns the state."""
        now = self._now()
        kwargs: dict[str, Any] = {
            "Key": _key(f"FINDING#{fid}", "STATE"),
            "UpdateExpression": (
                "SET ord = :ord, event_id = :eid, expires_at = :exp ADD imports :zero"
            ),
            "ConditionExpression": "attribute_not_exists(pk) OR ord <= :ord",
            "ExpressionAttributeValues": {
                ":ord": _s(order),
                ":eid": _s(event_id),
                ":exp": _n(now + FINDING_TTL_S),
                ":zero": _n(0),
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            resp = self._call("update_item", **kwargs)
        except botocore.exceptions.ClientError as exc:
            return _finding_state(_old_item(exc), newest=False)
        return _finding_state(resp["Attributes"], newest=True)

    def finalize_finding(
        self, fid: str, order: str, event_id: str, imports_seen: int, finding: dict[str, Any]
    ) -> FindingState:
        """Record ``finding`` as imported if this event is still newest and no other import
        happened since ``imports_seen``; else return the current state (``newest`` False
        when another event is newer)."""
        kwargs: dict[str, Any] = {
            "Key": _key(f"FINDING#{fid}", "STATE"),
            "UpdateExpression": "SET finding = :f, finding_event = :eid ADD imports :one",
            "ConditionExpression": "ord = :ord AND imports = :seen",
            "ExpressionAttributeValues": {
                ":f": _s(json.dumps(finding, separators=(",", ":"))),
                ":eid": _s(event_id),
                ":ord": _s(order),
                ":seen": _n(imports_seen),
                ":one": _n(1),
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            resp = self._call("update_item", **kwargs)
        except botocore.exceptions.ClientError as exc:
            old = _old_item(exc)
            state = _finding_state(old, newest=_str(old, "ord") == order)
            return replace(state, finalized=False)
        return _finding_state(resp["Attributes"], newest=True, finalized=True)

    def note_stale_import(self, fid: str) -> FindingState:
        """An older event's import may have overwritten a newer state: count it, so the newer
        event's finalize sees it and re-imports; returns the state as it is now."""
        resp = self._call(
            "update_item",
            Key=_key(f"FINDING#{fid}", "STATE"),
            UpdateExpression="ADD imports :one",
            ExpressionAttributeValues={":one": _n(1)},
            ReturnValues="ALL_NEW",
        )
        return _finding_state(resp["Attributes"], newest=False)

    # -- the key's top-level alert -------------------------------------------------------

    def claim_alert(self, fid: str, event_id: str, lease_s: float) -> AlertClaim:
        """Become the one event that posts the key's top-level alert, or learn where it is."""
        now = self._now()
        kwargs: dict[str, Any] = {
            "Key": _key(f"FINDING#{fid}", "ALERT"),
            "UpdateExpression": (
                "SET #st = :posting, #own = :eid, lease_until = :lease, expires_at = :exp"
            ),
            "ConditionExpression": (
                "attribute_not_exists(pk) "
                "OR (#st = :posting AND (lease_until < :now OR #own = :eid))"
            ),
            "ExpressionAttributeNames": {"#st": "status", "#own": "owner"},
            "ExpressionAttributeValues": {
                ":posting": _s("POSTING"),
                ":eid": _s(event_id),
                ":lease": _n(now + max(1, int(lease_s))),
                ":now": _n(now),
                ":exp": _n(now + FINDING_TTL_S),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            self._call("update_item", **kwargs)
        except botocore.exceptions.ClientError as exc:
            item = _old_item(exc)
            owner = _str(item, "owner")
            if _str(item, "status") == "POSTED":
                ref = SlackRef(_str(item, "channel") or "", _str(item, "ts") or "")
                return AlertClaim(mine=False, ref=ref, owner=owner)
            return AlertClaim(mine=False, ref=None, owner=owner)
        return AlertClaim(mine=True, ref=None, owner=event_id)

    def set_alert(self, fid: str, ref: SlackRef | None) -> None:
        """The top-level alert is posted (``ref`` None for webhooks, which have no threads)."""
        self._call(
            "update_item",
            Key=_key(f"FINDING#{fid}", "ALERT"),
            UpdateExpression="SET #st = :posted, channel = :c, ts = :ts",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":posted": _s("POSTED"),
                ":c": _s(ref.channel if ref else ""),
                ":ts": _s(ref.ts if ref else ""),
            },
        )

    def event_message(self, event_id: str) -> tuple[bool, SlackRef | None]:
        """Whether an event is done, and the message it posted (to repair an alert claim)."""
        item = self._get(f"EVENT#{event_id}", "EVENT")
        if item is None:
            return False, None
        state = _event_state(item)
        return state.done, state.message

    def release_alert(self, fid: str, event_id: str) -> None:
        """Posting failed: free the claim so the next attempt may post."""
        self._conditional(
            "delete_item",
            Key=_key(f"FINDING#{fid}", "ALERT"),
            ConditionExpression="#own = :eid AND #st = :posting",
            ExpressionAttributeNames={"#st": "status", "#own": "owner"},
            ExpressionAttributeValues={":eid": _s(event_id), ":posting": _s("POSTING")},
        )


def _old_item(exc: botocore.exceptions.ClientError) -> dict[str, Any]:
    item: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
    return item


def _finding_state(item: dict[str, Any], *, newest: bool, finalized: bool = False) -> FindingState:
    raw = _str(item, "finding")
    return FindingState(
        order=_str(item, "ord") or "",
        version=int(item.get("imports", {}).get("N", "0")),
        event_id=_str(item, "event_id") or "",
        finding=json.loads(raw) if raw else None,
        finding_event=_str(item, "finding_event"),
        newest=newest,
        finalized=finalized,
    )


def _set_fields(
    fields: dict[str, str | bool],
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET #f0 = :v0, ...`` with its name and value maps, for any attribute names."""
    sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": _attr(v) for i, v in enumerate(fields.values())}
    return sets, names, values


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(pk), "sk": _s(sk)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _attr(value: str | bool) -> dict[str, Any]:
    return {"BOOL": value} if isinstance(value, bool) else _s(value)


def _str(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def _event_state(item: dict[str, Any]) -> EventState:
    channel, ts = _str(item, "msg_channel"), _str(item, "msg_ts")
    return EventState(
        done=_str(item, "status") == "DONE",
        attempts=int(item.get("attempts", {}).get("N", "1")),
        finding_done=bool(item.get("finding_done", {}).get("BOOL", False)),
        update_done=bool(item.get("update_done", {}).get("BOOL", False)),
        message=SlackRef(channel, ts) if channel is not None and ts is not None else None,
        message_kind=_str(item, "msg_kind"),
    )


def create_table(client: DynamoDBClient, table: str) -> None:
    """Create the ledger table (the sandbox and tests; infra/ creates it in AWS)."""
    client.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
