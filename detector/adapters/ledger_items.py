"""The ledger's DynamoDB items: their keys and layout, and reading them into domain records."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from detector.domain.delivery import (
    NOTICE_GROUP_PREFIX,
    AlertSlot,
    KeyRecord,
    MessageKind,
    Progress,
    SlackRef,
    SlotState,
)
from detector.domain.root_access import RootSession
from detector.ports import UseReplyClaim

# Item layout (partition key ``pk``, sort key ``sk``, TTL attribute ``expires_at``):
#
# - ``EVENT#<eventID>`` / ``EVENT`` (an id over 512 characters is keyed by its SHA-256): status
#   (RUNNING, FAILED, DONE), owner + lease_until (the attempt that holds it), attempts, verdict,
#   finding_done, update_done, msg_channel, msg_ts, msg_kind, msg_sent (what it posted).
# - ``ROOTKEYS`` / ``<finding Id>``: one key's record. account, key_id, first_seen, origin (the
#   event that opened it); its top-level alert (alert_owner, alert_lease, alert_channel,
#   alert_ts); its newest recorded state (observed, open, finding, shown); alias / bound_to (a
#   sweep's unknown-key finding taken over by the key's first event). All key records share one
#   partition so the sweep reads them in one query; root keys are rare, so it stays small.
# - ``NOTICES`` / ``notices/<account>/<hour>``: a notice group, shaped like a key's record: its
#   top-level message (alert_*), what it shows (shown), and members (the events in its thread).
#   A key's record also holds its triage (the workflow the alert shows, JSON), triage_wf (its
#   status) and triage_job (the triage job that set it); and its last removal request:
#   removal (JSON), removal_state, removal_id, removal_by (who asked), removal_expires (when a
#   pending request lapses; once confirmed, when the confirmation's lease ends).
#   A key's record also counts the uses of the key (use_count), the newest (use_last), and its
#   use replies: the claim (reply_owner, reply_lease, reply_at, reply_posted), the count the
#   claimed reply covers (reply_upto), the count reported (reply_mark), replies posted
#   (reply_count).
# - ``USE#<eventID>`` / ``USE``: a use of an alerted key already counted (kept as events are).
# - ``SESSION#<member account>#<session access key id>`` / ``SESSION``: a root session
#   (``AssumeRoot``): session (JSON, the first record of it kept), touched (a string set: the
#   member records that met the key, JSON marks). Kept SESSION_TTL_S.
# - ``REQUEST#<sha256 of a Slack signature>`` / ``REQUEST``: a Slack request already handled (the
#   replay guard), kept past Slack's five-minute window.

EVENT_TTL_S = 30 * 86400  # long enough to absorb every redelivery and DLQ redrive
KEY_TTL_S = 400 * 86400  # a key's record must outlive the key (renewed by every write)
# A root session lasts at most 900 s ("AssumeRoot", STS API reference); its records reach the
# detector from two accounts, each within minutes, or later from a redrive: kept a day.
SESSION_TTL_S = 86400
KEYS_PK = "ROOTKEYS"
NOTICES_PK = "NOTICES"
MAX_PLAIN_EVENT_ID = 512  # longer ids are hashed (DynamoDB keys are at most 2,048 bytes)

# The key's alert may be claimed: never claimed, or claimed but not posted and either expired
# or claimed by this same event (its retry).
CLAIMABLE = (
    "attribute_not_exists(alert_owner) OR (attribute_not_exists(alert_ts) "
    "AND (alert_lease < :now OR alert_owner = :eid))"
)
FID_PREFIX = "root-key-detector/"


def event_key(event_id: str) -> dict[str, Any]:
    """The key of an event's item."""
    if len(event_id) > MAX_PLAIN_EVENT_ID:
        digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
        event_id = f"sha256:{digest}"
    return {"pk": s(f"EVENT#{event_id}"), "sk": s("EVENT")}


def use_key(event_id: str) -> dict[str, Any]:
    """The key of a counted use's marker item."""
    pk = str(event_key(event_id)["pk"]["S"]).replace("EVENT#", "USE#", 1)
    return {"pk": s(pk), "sk": s("USE")}


def cancellation_codes(cause: BaseException | None) -> list[str] | None:
    """The per-item codes of a cancelled DynamoDB transaction (None: not a cancellation).

    TransactWriteItems answers TransactionCanceledException with CancellationReasons, one per
    item in request order ("TransactWriteItems", DynamoDB API reference).
    """
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    if (response.get("Error") or {}).get("Code") != "TransactionCanceledException":
        return None
    reasons = response.get("CancellationReasons") or []
    return [str((r or {}).get("Code") or "None") for r in reasons if isinstance(r, dict)]


def use_reply_claim(old: dict[str, Any], event_id: str) -> UseReplyClaim:
    """A use reply claim from the key's item as it stood before the claim."""
    count = int(old.get("use_count", {}).get("N", "0"))
    mark = int(old.get("reply_mark", {}).get("N", "0"))
    return UseReplyClaim(
        uses=max(0, count - mark),
        first=int(old.get("reply_count", {}).get("N", "0")) == 0,
        retry=text(old, "reply_owner") == event_id and not flag(old, "reply_posted"),
    )


def request_key(signature: str) -> dict[str, Any]:
    """The key of a handled Slack request's item."""
    digest = hashlib.sha256(signature.encode("utf-8", "surrogatepass")).hexdigest()
    return {"pk": s(f"REQUEST#{digest}"), "sk": s("REQUEST")}


def session_key(account: str, key_id: str) -> dict[str, Any]:
    """The key of a root session's item (a key id is at most 128 characters)."""
    return {"pk": s(f"SESSION#{account}#{key_id}"), "sk": s("SESSION")}


def root_session(item: dict[str, Any]) -> RootSession | None:
    """The session a session item holds (None: only member records' marks so far)."""
    doc = load(text(item, "session"))
    if doc is None:
        return None
    expires = doc.get("expires")
    return RootSession(
        account=str(doc["account"]),
        access_key_id=str(doc["access_key_id"]),
        caller_arn=str(doc["caller_arn"]),
        task_policy_arn=str(doc["task_policy_arn"]),
        started=datetime.fromisoformat(str(doc["started"])),
        expires=datetime.fromisoformat(str(expires)) if expires else None,
        event_id=str(doc["event_id"]),
    )


def session_doc(session: RootSession) -> str:
    """A session as stored."""
    return dump(
        {
            "account": session.account,
            "access_key_id": session.access_key_id,
            "caller_arn": session.caller_arn,
            "task_policy_arn": session.task_policy_arn,
            "started": session.started.isoformat(),
            "expires": session.expires.isoformat() if session.expires else None,
            "event_id": session.event_id,
        }
    )


def marks(item: dict[str, Any]) -> list[str]:
    """The member records' marks a session item holds, in a stable order."""
    return sorted(item.get("touched", {}).get("SS", []))


def key_key(fid: str) -> dict[str, Any]:
    """The key of a key's record (or of a notice group)."""
    # Notice groups live beside the keys but out of the sweep's partition.
    pk = NOTICES_PK if fid.startswith(NOTICE_GROUP_PREFIX) else KEYS_PK
    return {"pk": s(pk), "sk": s(fid)}


def progress(item: dict[str, Any]) -> Progress:
    """What an event's item says it did."""
    channel, ts = text(item, "msg_channel"), text(item, "msg_ts")
    kind = text(item, "msg_kind")
    return Progress(
        attempts=int(item.get("attempts", {}).get("N", "1")),
        finding_done=flag(item, "finding_done"),
        update_done=flag(item, "update_done"),
        message=SlackRef(channel, ts) if channel and ts else None,
        message_kind=MessageKind(kind) if kind else None,
        message_sent=flag(item, "msg_sent"),
    )


def key_record(fid: str, item: dict[str, Any], claimed_by: str | None) -> KeyRecord:
    """A key's record from its item (``claimed_by``: the event whose claim was just applied)."""
    owner, ts = text(item, "alert_owner"), text(item, "alert_ts")
    slot: AlertSlot | None = None
    if ts is not None:
        ref = SlackRef(text(item, "alert_channel") or "", ts) if ts else None
        slot = AlertSlot(SlotState.POSTED, owner, ref)
    elif claimed_by is not None:
        slot = AlertSlot(SlotState.MINE, claimed_by)
    elif owner is not None:
        slot = AlertSlot(SlotState.POSTING, owner)
    observed = text(item, "observed")
    return KeyRecord(
        fid=fid,
        account=text(item, "account") or "",
        key_id=text(item, "key_id"),
        first_seen=datetime.fromisoformat(text(item, "first_seen") or "1970-01-01T00:00:00Z"),
        slot=slot,
        observed=datetime.fromisoformat(observed) if observed else None,
        open=flag(item, "open"),
        finding=load(text(item, "finding")),
        shown=load(text(item, "shown")),
        alias=text(item, "alias"),
        bound_to=text(item, "bound_to"),
        origin=text(item, "origin"),
        joined=len(item.get("members", {}).get("SS", [])),
        triage=load(text(item, "triage")),
        removal=load(text(item, "removal")),
    )


def dump(doc: dict[str, Any]) -> str:
    """A document as stored in a string attribute."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def load(raw: str | None) -> dict[str, Any] | None:
    """A stored document back (None when absent or not an object)."""
    doc = json.loads(raw) if raw else None
    return doc if isinstance(doc, dict) else None


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def n(value: int) -> dict[str, str]:
    """A number attribute value."""
    return {"N": str(value)}


def text(item: dict[str, Any], name: str) -> str | None:
    """A string attribute of ``item``, or None."""
    value = item.get(name, {}).get("S")
    return None if value is None else str(value)


def flag(item: dict[str, Any], name: str) -> bool:
    """A boolean attribute of ``item`` (False when absent)."""
    return bool(item.get(name, {}).get("BOOL", False))
