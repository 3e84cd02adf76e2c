"""Who opened a root session: the caller's ``AssumeRoot`` CloudTrail record read into a
:class:`~detector.domain.root_access.RootSession`, and the label a member account's Root record
made in that session carries in its alert and finding.

AWS's documents: "Track privileged tasks in AWS CloudTrail" (IAM User Guide,
https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-track-privileged-tasks.html) shows
the two records: in the caller's account (management or IAM delegated administrator), in the
Region of the STS endpoint, an ``AssumeRoot`` record (eventSource sts.amazonaws.com) whose
``requestParameters.targetPrincipal`` names the member account and whose
``responseElements.credentials.accessKeyId`` is the session's key; in the member account, each
call of the session is a record of ``userIdentity.type`` "Root" carrying that same
``accessKeyId`` (and no ``assumedRoot`` flag: AWS's example shows the flag on the caller's
record only). The session lasts at most 900 seconds ("AssumeRoot", STS API reference).

Every field of an ``AssumeRoot`` record is untrusted input: one in an unexpected shape means no
session (the member record is then alerted on as any root call is), never a wrong label.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from detector.domain.event import (
    IAM_SOURCE,
    MAX_EVENT_ID_LENGTH,
    ROOT_PRINCIPAL_TYPE,
    RootKeyEvent,
    lenient_time,
)
from detector.domain.finding import (
    MAX_DESCRIPTION,
    MAX_PRODUCT_FIELD_VALUE,
    MAX_PRODUCT_FIELDS,
    PRODUCT_FIELD_PREFIX,
    iso,
)
from detector.domain.message import MAX_FALLBACK, SlackMessage
from detector.domain.root_access import ASSUME_ROOT, MAX_ROOT_SESSION, STS_SOURCE, RootSession
from detector.domain.text import clean, mask_key, mrkdwn, truncate

# AssumeRoot was released in November 2024 ("AWS Security Token Service - 1 new api methods",
# 2024-11-14): an earlier eventTime is no AssumeRoot record's.
EARLIEST_SESSION = datetime(2024, 11, 1, tzinfo=UTC)
# The expiration is written in seconds; allow one second of rounding past 900 s.
_EXPIRY_SLACK = timedelta(seconds=1)
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
# TargetPrincipal: "The member account principal ARN or account ID" ("AssumeRoot"): the
# account's root principal, arn:<partition>:iam::<account>:root.
_TARGET_ARN_RE = re.compile(r"arn:aws(?:-[a-z]+)*:iam::([0-9]{12}):root")
# The managed task policies live under arn:aws:iam::aws:policy/root-task/ ("AWS managed
# policies for IAM"); a policy name is 1-128 of [A-Za-z0-9+=,.@_-] ("IAM object quotas").
_TASK_POLICY_RE = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::aws:policy/root-task/[A-Za-z0-9+=,.@_-]{1,128}"
)
# The caller: an IAM user, a role session or a federated user of the caller's account ("CloudTrail
# userIdentity element"). Root cannot call AssumeRoot ("AssumeRoot": "You cannot use root user
# credentials to make this call"), so a root caller is a garbled record.
_CALLER_ARN_RE = re.compile(
    r"arn:aws(?:-[a-z]+)*:(?:iam|sts)::[0-9]{12}:"
    r"(?:user|assumed-role|federated-user)/[A-Za-z0-9+=,.@_/-]{1,1000}"
)
# The session's credentials are temporary: their key id starts ASIA ("Understanding unique ID
# prefixes", IAM User Guide); AccessKeyId is 16 to 128 word characters ("Credentials", STS API
# reference).
_SESSION_KEY_RE = re.compile(r"ASIA[A-Z0-9]{12,124}")
# CloudTrail's own time shape, "2024-10-25T20:52:11Z".
_STAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_CLOUDTRAIL_DETAIL_TYPES = frozenset({"AWS API Call via CloudTrail"})
STAND_IN_PREFIX = "unidentified-session-"
LABEL_BLOCK = "root_session_label"  # the block_id of the label in an alert
FIELD_PREFIX = f"{PRODUCT_FIELD_PREFIX}/"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An AssumeRoot record that opens no session the detector can trust, and why."""

    path: str  # the record's JSON path in the input
    reason: str


def sessions_in(doc: Any) -> list[RootSession | Rejected]:
    """Every ``AssumeRoot`` record of one decoded input (an EventBridge event, a bare record or
    a log file, as :func:`detector.domain.event.parse_records` accepts them), in input order.

    Other records are skipped silently. A failed call (``errorCode``) opens no session and is
    skipped too; a record whose fields cannot be trusted is a :class:`Rejected`.
    """
    out: list[RootSession | Rejected] = []
    for path, rec in _records(doc):
        if not _is_assume_root(rec):
            continue
        if rec.get("errorCode") not in (None, ""):
            continue  # a failed call: no credentials were issued
        wrong = _envelope_problem(doc, rec) if path == "$.detail" else None
        out.append(Rejected(path, wrong) if wrong else _session(rec, path))
    return out


def _envelope_problem(event: dict[str, Any], rec: dict[str, Any]) -> str | None:
    """Why an EventBridge event cannot carry AWS's own AssumeRoot record, or None.

    Only AWS may put an event whose source starts "aws." ("PutEventsRequestEntry", EventBridge
    API reference), and CloudTrail's event is in the account that made the call: a forwarded
    copy keeps both. So a record under another source, or whose envelope names another account
    than the caller's, is not AWS's: it could make a stranger's session look like a colleague's.
    """
    if event.get("source") != "aws.sts":
        return "the event's source is not aws.sts"
    caller = _obj(rec, "userIdentity").get("accountId")
    if event.get("account") is not None and event.get("account") != caller:
        return "the event's account is not the caller's"
    return None


def _records(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(doc, dict):
        return
    records = doc.get("Records")
    if isinstance(records, list):
        for index, rec in enumerate(records):
            if isinstance(rec, dict):
                yield f"$.Records[{index}]", rec
        return
    if "detail-type" in doc or "detail" in doc:
        detail = doc.get("detail")
        if doc.get("detail-type") in _CLOUDTRAIL_DETAIL_TYPES and isinstance(detail, dict):
            yield "$.detail", detail
        return
    yield "$", doc


def _is_assume_root(rec: dict[str, Any]) -> bool:
    return rec.get("eventSource") == STS_SOURCE and rec.get("eventName") == ASSUME_ROOT


def _session(rec: dict[str, Any], path: str) -> RootSession | Rejected:
    """One successful AssumeRoot record -> its session, or why it cannot be trusted."""
    problems: list[str] = []
    identity = _obj(rec, "userIdentity")
    request = _obj(rec, "requestParameters")
    credentials = _obj(_obj(rec, "responseElements"), "credentials")
    started = _stamp(rec.get("eventTime"))
    if started is None:
        problems.append("eventTime is not a time after AssumeRoot existed")
    account = _target(request.get("targetPrincipal"))
    if account is None:
        problems.append("requestParameters.targetPrincipal is not an account id or root ARN")
    policy = _text(_obj(request, "taskPolicyArn").get("arn"), _TASK_POLICY_RE)
    if policy is None:
        problems.append("requestParameters.taskPolicyArn.arn is not a root-task policy")
    caller = _text(identity.get("arn"), _CALLER_ARN_RE)
    if caller is None or identity.get("type") == ROOT_PRINCIPAL_TYPE:
        problems.append("userIdentity.arn is not an IAM user's or role session's ARN")
    key = _text(credentials.get("accessKeyId"), _SESSION_KEY_RE)
    if key is None:
        problems.append("responseElements.credentials.accessKeyId is not a session key id")
    expires = _expiration(credentials.get("expiration"))
    if (
        started is not None
        and expires is not None
        and not (started < expires <= started + MAX_ROOT_SESSION + _EXPIRY_SLACK)
    ):
        problems.append("responseElements.credentials.expiration is outside 900 s of eventTime")
    problems += _accounts(rec, identity, caller, account)
    if problems or started is None or not (account and policy and caller and key):
        return Rejected(path, "; ".join(problems))
    return RootSession(
        account=account,
        access_key_id=key,
        caller_arn=caller,
        task_policy_arn=policy,
        started=started,
        expires=expires,
        event_id=_event_id(rec),
    )


def _accounts(
    rec: dict[str, Any], identity: dict[str, Any], caller: str | None, target: str | None
) -> list[str]:
    """The caller's account as the record names it three times (its ARN, accountId and the
    recipient) must agree, and differ from the target: AssumeRoot acts on a member account
    from the management or delegated administrator account ("AssumeRoot")."""
    if caller is None:
        return []
    own = caller.split(":")[4]
    named = [identity.get("accountId"), rec.get("recipientAccountId")]
    if any(value is not None and value != own for value in named):
        return ["the caller's account differs between userIdentity and recipientAccountId"]
    if target == own:
        return ["the target is the caller's own account"]
    return []


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _target(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if _ACCOUNT_RE.fullmatch(value):
        return value
    found = _TARGET_ARN_RE.fullmatch(value)
    return found.group(1) if found else None


def _stamp(value: Any) -> datetime | None:
    if not (isinstance(value, str) and _STAMP_RE.fullmatch(value)):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when >= EARLIEST_SESSION else None


def _expiration(value: Any) -> datetime | None:
    """The credentials' expiration (None: absent or unreadable; the 900 s bound then holds)."""
    return lenient_time(value)


def _event_id(rec: dict[str, Any]) -> str:
    """eventID, or a stand-in derived from the record (the same record, the same id)."""
    value = rec.get("eventID")
    if isinstance(value, str) and 0 < len(value) <= MAX_EVENT_ID_LENGTH and value.isprintable():
        return value
    digest = hashlib.sha256(
        json.dumps(rec, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    ).hexdigest()
    return f"{STAND_IN_PREFIX}{digest[:32]}"


# ---------------------------------------------------------------------------------------------
# Which member records a session covers


def session_key(event: RootKeyEvent) -> tuple[str, str] | None:
    """(member account, session key id) under which a Root record may belong to a session.

    Only a Root record signed with temporary credentials (an ``ASIA`` key) can be an
    AssumeRoot session's; root's own long-term keys (``AKIA``) never are.
    """
    key = event.caller_access_key_id
    if not event.is_root or event.account_id is None or key is None:
        return None
    if not _SESSION_KEY_RE.fullmatch(key) or not _ACCOUNT_RE.fullmatch(event.account_id):
        return None
    return event.account_id, key


def labels(session: RootSession | None, event: RootKeyEvent) -> bool:
    """Whether ``event`` (a member Root record) was made in ``session``: the same account and
    key id, at a time the session covers, a call of IAM its task policy allows, and one IAM
    carried out (a refused call is the root user's own alarm, not a colleague's task)."""
    return (
        session is not None
        and session_key(event) == (session.account, session.access_key_id)
        and session.covers(event.event_time)
        and event.event_source == IAM_SOURCE
        and session.allows(event.event_name)
        and not event.error_code
    )


@dataclass(frozen=True, slots=True)
class Touch:
    """A member record that met a session's key: which finding, which event, when."""

    fid: str
    event_id: str
    at: datetime

    def dump(self) -> str:
        """Its stored form (one entry of the session's set)."""
        return json.dumps(
            {"fid": self.fid, "event": self.event_id, "at": self.at.isoformat()},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, raw: str) -> Touch | None:
        """A stored entry back (None when it is not one)."""
        try:
            doc = json.loads(raw)
            return cls(str(doc["fid"]), str(doc["event"]), datetime.fromisoformat(doc["at"]))
        except (ValueError, KeyError, TypeError):
            return None


# ---------------------------------------------------------------------------------------------
# The label: alert, reply and finding


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(session: RootSession) -> str:
    """One plain sentence naming who opened the session, for which task, and when."""
    end = session.expires or session.started + MAX_ROOT_SESSION
    return (
        f"{session.caller_arn} opened a root session (AssumeRoot, task {session.task}) in "
        f"account {session.account} from {_when(session.started)} to {_when(end)}"
    )


def label_block(session: RootSession) -> SectionBlock:
    """The alert's label: a privileged task in a root session someone in the organization opened
    (a colleague, or the detector itself), not the root user's own credentials. It names the
    caller as AWS recorded it and claims no more."""
    end = session.expires or session.started + MAX_ROOT_SESSION
    text = (
        ":information_source: *Privileged task in a root session, not the root user's own "
        f"credentials:* {mrkdwn(session.caller_arn, 300)} opened a root session (AssumeRoot, "
        f"task *{mrkdwn(session.task, 200)}*) in account {session.account} at "
        f"{_when(session.started)}; this call was made within it (the session ends "
        f"{_when(end)}, key {mask_key(session.access_key_id)})."
    )
    return SectionBlock(text=MarkdownTextObject(text=text), block_id=LABEL_BLOCK)


def labelled_message(message: SlackMessage, session: RootSession) -> SlackMessage:
    """``message`` with the session's label just under its header (replacing an earlier one)."""
    blocks: list[Block] = [b for b in message.blocks if b.block_id != LABEL_BLOCK]
    at = 1 if blocks else 0
    blocks.insert(at, label_block(session))
    # message.text is escaped already: only the prefix is made inert here.
    prefix = mrkdwn(f"Privileged task (AssumeRoot by {session.caller_arn}, {session.task}): ", 600)
    text = message.text if message.text.startswith("Privileged task") else prefix + message.text
    return SlackMessage(
        text=truncate(text, MAX_FALLBACK),
        blocks=blocks,
        metadata=message.metadata,
    )


def label_reply(session: RootSession, touch: Touch, event_name: str | None) -> SlackMessage:
    """The thread reply that names who opened the session, once the AssumeRoot record arrives
    after the member record it covers."""
    what = f"The {mrkdwn(event_name, 64)}" if event_name else "The call"
    text = (
        f":information_source: *Root session identified:* {what} at {_when(touch.at)} was a "
        f"privileged task in a root session, not the root user's own credentials. "
        f"{mrkdwn(session.caller_arn, 300)} opened the root session (AssumeRoot, task "
        f"*{mrkdwn(session.task, 200)}*) at {_when(session.started)}."
    )
    return SlackMessage(
        text=clean(f"Root session identified: {describe(session)}", MAX_FALLBACK),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=text), block_id=LABEL_BLOCK),
            ContextBlock(
                elements=[MarkdownTextObject(text=f"AssumeRoot event {session.event_id[:64]}")]
            ),
        ],
        metadata={
            "event_type": "root_key_detector_event",
            "event_payload": {
                "event_id": reply_id(session, touch)[:128],
                "verdict": "root-session",
                "finding_id": touch.fid,
            },
        },
    )


def reply_id(session: RootSession, touch: Touch) -> str:
    """The id of one label job (a session and one member record it covers): its event-ledger
    claim and its reply's metadata."""
    digest = hashlib.sha256(f"{session.event_id}\x1f{touch.event_id}".encode()).hexdigest()
    return f"root-session/{digest[:40]}"


def labelled_finding(
    finding: dict[str, Any], session: RootSession, *, bump: timedelta = timedelta(0)
) -> dict[str, Any]:
    """The finding labelled with the session (its ProductFields and Description), ``UpdatedAt``
    moved on by ``bump`` so Security Hub takes the re-import (it keeps the newest).

    Idempotent: a labelled finding is labelled again the same way.
    """
    out: dict[str, Any] = copy.deepcopy(finding)
    fields = {
        k: v for k, v in dict(out.get("ProductFields", {})).items() if "/RootSession" not in k
    }
    fields[f"{FIELD_PREFIX}AssumedRoot"] = "true"
    fields[f"{FIELD_PREFIX}RootSessionCaller"] = clean(session.caller_arn, MAX_PRODUCT_FIELD_VALUE)
    fields[f"{FIELD_PREFIX}RootSessionTaskPolicy"] = clean(
        session.task_policy_arn, MAX_PRODUCT_FIELD_VALUE
    )
    fields[f"{FIELD_PREFIX}RootSessionStarted"] = iso(session.started)
    fields[f"{FIELD_PREFIX}RootSessionEventId"] = clean(session.event_id, MAX_PRODUCT_FIELD_VALUE)
    out["ProductFields"] = dict(list(fields.items())[:MAX_PRODUCT_FIELDS])
    described = str(out.get("Description", ""))
    note = f"Made in a root session: {describe(session)}. "
    if not described.startswith("Made in a root session:"):
        out["Description"] = clean(note + described, MAX_DESCRIPTION)
    if bump:
        updated = datetime.fromisoformat(str(out["UpdatedAt"]).replace("Z", "+00:00")) + bump
        out["UpdatedAt"] = out["LastObservedAt"] = iso(updated)
    return out


def is_labelled(finding: dict[str, Any] | None) -> bool:
    """Whether a finding already carries a session's label."""
    fields = (finding or {}).get("ProductFields", {})
    return isinstance(fields, dict) and f"{FIELD_PREFIX}RootSessionCaller" in fields
