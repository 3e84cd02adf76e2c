"""A decoded input -> frozen, typed CloudTrail events, or EventParseError naming the JSON path.

A CloudTrail record is never lost for a sanitised or garbled field: the fields it could not
trust are named in ``RootKeyEvent.untrusted``. Also the one home of the CloudTrail names the
detector matches on (IAM's event source, the access-key calls, the root principal type).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from detector.errors import EventParseError

ACCOUNT_ID_PATTERN = r"[0-9]{12}"  # an AWS account id: ASCII digits only (\d admits others)
_ACCOUNT_RE = re.compile(ACCOUNT_ID_PATTERN)
# EventBridge detail-types that carry a CloudTrail record as `detail`.
_CLOUDTRAIL_DETAIL_TYPES = frozenset(
    {
        "AWS API Call via CloudTrail",
        "AWS Console Sign In via CloudTrail",
        "AWS Service Event via CloudTrail",
        "AWS Console Action via CloudTrail",
    }
)
# IAM's event source, and the IAM calls whose records carry access-key details (every other
# record is always "ignored"); the EventBridge pattern (detector/pattern.py) routes these.
IAM_SOURCE = "iam.amazonaws.com"
CREATE_ACCESS_KEY = "CreateAccessKey"
DELETE_ACCESS_KEY = "DeleteAccessKey"
UPDATE_ACCESS_KEY = "UpdateAccessKey"
ACCESS_KEY_EVENT_NAMES = (CREATE_ACCESS_KEY, DELETE_ACCESS_KEY, UPDATE_ACCESS_KEY)
_KEY_EVENT_SET = frozenset(ACCESS_KEY_EVENT_NAMES)
ROOT_PRINCIPAL_TYPE = "Root"  # userIdentity.type of the root user (AssumeRoot sessions too)
# A long-term access key's id starts with AKIA, a temporary one's (a console or AssumeRoot
# session) with ASIA ("Understanding unique ID prefixes", IAM identifiers, IAM User Guide).
LONG_TERM_KEY_PREFIX = "AKIA"
# CloudTrail's event ids are UUIDs; a longer or unprintable one is a garbled record's.
MAX_EVENT_ID_LENGTH = 256
# The id an event gets when its record has no usable eventID (see _stand_in_id).
STAND_IN_ID_PREFIX = "unidentified-"
# Stands in for an eventTime that cannot be read (the event names "eventTime" as untrusted).
UNREADABLE_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Before AWS existed: such an eventTime is a placeholder, not a time.
EARLIEST_EVENT_TIME = datetime(2006, 1, 1, tzinfo=UTC)
_EARLIEST_STAMP = "2006-01-01T00:00:00Z"
# What root's console actions may carry as requestParameters.userName.
ROOT_USER_MARKER = "AWS ROOT USER"
# IAM user names: letters, digits and +=,.@_- ; 1 to 64 characters ("IAM object quotas and
# names", IAM user guide).
_USER_NAME_RE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_]{16,128}")
# Fields a stand-in event id is derived from (the same record always gets the same id).
_STAND_IN_KEYS = (
    "eventTime",
    "eventSource",
    "eventName",
    "recipientAccountId",
    "userIdentity",
    "sourceIPAddress",
    "userAgent",
    "requestID",
    "requestParameters",
    "responseElements",
    "errorCode",
)


class InputForm(StrEnum):
    """Which accepted shape a record arrived in."""

    EVENTBRIDGE = "eventbridge"
    RECORD = "record"
    LOG_FILE = "log-file"
    SWEEP = "sweep"  # not from CloudTrail: the daily sweep found a key IAM reports


class RootKeyEvent(NamedTuple):
    """The parts of one CloudTrail record the detector uses (names follow CloudTrail's).

    Immutable; a NamedTuple rather than a frozen dataclass because a log file makes one per
    record and a frozen dataclass costs several times more to build.
    """

    event_id: str
    event_time: datetime
    event_name: str
    event_source: str
    aws_region: str | None
    account_id: str | None  # recipientAccountId, else userIdentity.accountId, else envelope
    source_ip: str | None
    user_agent: str | None
    principal_type: str | None  # userIdentity.type: Root, IAMUser, AssumedRole, ...
    principal_id: str | None
    caller_access_key_id: str | None  # userIdentity.accessKeyId: the credential that called
    mfa_authenticated: bool | None
    assumed_root: bool  # session opened by centralized root access (sts:AssumeRoot)
    console_session: bool  # sessionCredentialFromConsole
    error_code: str | None
    error_message: str | None
    target_user_name: str | None  # requestParameters.userName: an IAM user's key, not root's
    access_key_id: str | None  # the key the call is about
    key_status: str | None  # Active / Inactive, from the request or the response
    key_created_at: datetime | None
    form: InputForm
    envelope_id: str | None = None  # EventBridge event id
    index: int = 0  # type: ignore[assignment]  # position in a log file (shadows tuple.index)
    # JSON paths whose values could not be trusted (wrong type, not a 12-digit account id,
    # unreadable time, ...), in reading order. Each was read as absent; a missing eventID and
    # eventTime have stand-ins (STAND_IN_ID_PREFIX..., UNREADABLE_TIME).
    untrusted: tuple[str, ...] = ()
    envelope_account: str | None = None  # the EventBridge envelope's account, when given

    @property
    def is_root(self) -> bool:
        """The caller is the account's root user (including AssumeRoot sessions)."""
        return self.principal_type == ROOT_PRINCIPAL_TYPE


def untrusted_field(event: RootKeyEvent, name: str) -> str | None:
    """The JSON path of the record's field ``name`` (e.g. ``"eventTime"``) if it was untrusted."""
    for path in event.untrusted:
        if path.rpartition(".")[2] == name:
            return path
    return None


def finding_fields_sound(event: RootKeyEvent) -> str | None:
    """None when a finding can be filed for ``event``; else what is wrong, naming the fields.

    A finding needs the account (a 12-digit id), the time and the id of the event: without
    them it would be filed under the wrong account, time or identity. Pure: the pipeline calls
    it before it files, and fails loudly (naming this text) instead.
    """
    problems: list[str] = []
    if event.account_id is None or not _ACCOUNT_RE.fullmatch(event.account_id):
        tried = [p for p in event.untrusted if p.rpartition(".")[2] in _ACCOUNT_FIELDS]
        problems.append(
            "no 12-digit account id"
            + (f" ({', '.join(tried)} not one)" if tried else " in the record")
        )
    for name in ("eventTime", "eventID"):
        path = untrusted_field(event, name)
        if path is not None:
            problems.append(f"{path} could not be read")
    return "; ".join(problems) or None


_ACCOUNT_FIELDS = frozenset({"recipientAccountId", "accountId", "account"})


# ---------------------------------------------------------------------------------------------
# Dispatch on the input's shape


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record of a multi-record input that is not a CloudTrail record (the others still count)."""

    index: int  # its position in the input's records
    error: EventParseError


def parse_records(doc: Any) -> list[RootKeyEvent | RecordError]:
    """Every record of one decoded input, in input order: its event, or why it is not CloudTrail.

    A record that is not CloudTrail at all (not an object, another service's notification)
    costs only itself: its place holds a :class:`RecordError` and the records after it are read.

    Raises:
        EventParseError: the input as a whole is not CloudTrail (see :func:`parse_input`).
    """
    if not isinstance(doc, dict):
        raise EventParseError("$", f"expected a JSON object, got {_kind(doc)}")
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise EventParseError("$.Records", f"expected a list, got {_kind(records)}")
        out: list[RootKeyEvent | RecordError] = []
        for index, rec in enumerate(records):
            try:
                out.append(
                    _parse_record(rec, f"$.Records[{index}]", InputForm.LOG_FILE, index=index)
                )
            except EventParseError as exc:
                out.append(RecordError(index, exc))
        return out
    if "detail-type" in doc or "detail" in doc:
        return [_parse_envelope(doc)]
    if "eventName" in doc or "eventSource" in doc or "eventVersion" in doc:
        return [_parse_record(doc, "$", InputForm.RECORD)]
    raise EventParseError(
        "$", "not a CloudTrail record, an EventBridge CloudTrail event or a CloudTrail log file"
    )


def parse_input(doc: Any) -> list[RootKeyEvent]:
    """Turn one decoded input into its CloudTrail events, in input order.

    Accepts an EventBridge event whose ``detail`` is a CloudTrail record, a bare CloudTrail
    record, or a CloudTrail log file ``{"Records": [...]}``. A record that is a CloudTrail
    record always yields an event, whatever fields it lacks or garbles: those are named in
    its ``untrusted``.

    Raises:
        EventParseError: the input is none of those, or one of its records is not a CloudTrail
            record at all; ``path`` names the offending value. (:func:`parse_records` reads the
            other records of such an input.)
    """
    events: list[RootKeyEvent] = []
    for item in parse_records(doc):
        if isinstance(item, RecordError):
            raise item.error
        events.append(item)
    return events


def parse_log_record(rec: Any, index: int) -> RootKeyEvent:
    """Record ``index`` of a CloudTrail log file, read as :func:`parse_records` reads it.

    Raises:
        EventParseError: the record is not a CloudTrail record at all.
    """
    return _parse_record(rec, f"$.Records[{index}]", InputForm.LOG_FILE, index=index)


def parse_event(doc: Any) -> RootKeyEvent:
    """Parse an input that must hold exactly one record (what the Lambda receives).

    Raises:
        EventParseError: not exactly one CloudTrail record.
    """
    events = parse_input(doc)
    if len(events) != 1:
        raise EventParseError("$.Records", f"expected exactly one record, got {len(events)}")
    return events[0]


def _parse_envelope(doc: dict[str, Any]) -> RootKeyEvent:
    detail_type = doc.get("detail-type")
    if not isinstance(detail_type, str) or detail_type not in _CLOUDTRAIL_DETAIL_TYPES:
        raise EventParseError("$.detail-type", f"not a CloudTrail event: {_preview(detail_type)}")
    bad: list[str] = []
    account = _scalar(doc, "account", "$", bad)
    if account is not None and not _ACCOUNT_RE.fullmatch(account):
        bad.append("$.account")
        account = None
    return _parse_record(
        doc.get("detail"),
        "$.detail",
        InputForm.EVENTBRIDGE,
        envelope_id=_scalar(doc, "id", "$", bad),
        envelope_account=account,
        inherited=tuple(bad),
    )


# ---------------------------------------------------------------------------------------------
# One record


def _parse_record(
    rec: Any,
    path: str,
    form: InputForm,
    *,
    index: int = 0,
    envelope_id: str | None = None,
    envelope_account: str | None = None,
    inherited: tuple[str, ...] = (),
) -> RootKeyEvent:
    """One record -> its event; raises only for a record that is not CloudTrail at all."""
    if not isinstance(rec, dict):
        raise EventParseError(path, f"expected a CloudTrail record object, got {_kind(rec)}")
    if not inherited:
        ignored = _ignored_record(rec, form, index, envelope_id, envelope_account)  # most records
        if ignored is not None:
            return ignored
    _check_cloudtrail(rec, path)
    where = _Where(path, form, index, envelope_id, envelope_account, list(inherited))
    name = rec.get("eventName")
    if rec.get("eventSource") == IAM_SOURCE and isinstance(name, str) and name in _KEY_EVENT_SET:
        return _key_call(rec, where)
    return _other_record(rec, where)


def _check_cloudtrail(rec: dict[str, Any], path: str) -> None:
    """Raise unless ``rec`` is a CloudTrail record, however garbled its fields are.

    Another service's record (an S3 notification's ``"eventSource": "aws:s3"``) or an object
    with none of CloudTrail's identifying keys is not; any record naming an AWS event source,
    or naming an event or a record version without a foreign source, is.
    """
    source = rec.get("eventSource")
    if isinstance(source, str) and source:
        if not source.endswith("amazonaws.com"):
            raise EventParseError(
                f"{path}.eventSource", f"not a CloudTrail event source: {_preview(source)}"
            )
        return
    if all(rec.get(key) is None for key in ("eventName", "eventVersion", "eventSource")):
        raise EventParseError(
            path, "not a CloudTrail record: no eventSource, eventName or eventVersion"
        )


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a record was read, and the JSON paths found untrustworthy so far."""

    path: str
    form: InputForm
    index: int
    envelope_id: str | None
    envelope_account: str | None
    bad: list[str]


def _key_call(rec: dict[str, Any], where: _Where) -> RootKeyEvent:
    """An IAM CreateAccessKey, DeleteAccessKey or UpdateAccessKey: every field the detector
    uses is read. A field in an unexpected shape is named in ``untrusted`` and read as absent
    (a missing ``eventID`` or ``eventTime`` gets a stand-in; see :func:`finding_fields_sound`);
    it never costs the event.
    """
    path, bad = where.path, where.bad
    event_name: str = rec["eventName"]
    identity = _object(rec, "userIdentity", path, bad) or {}
    ipath = f"{path}.userIdentity"
    session = _object(identity, "sessionContext", ipath, bad) or {}
    spath = f"{ipath}.sessionContext"
    attributes = _object(session, "attributes", spath, bad) or {}
    request = _object(rec, "requestParameters", path, bad) or {}
    rpath = f"{path}.requestParameters"
    response = _object(rec, "responseElements", path, bad) or {}
    response_key = _object(response, "accessKey", f"{path}.responseElements", bad) or {}
    kpath = f"{path}.responseElements.accessKey"
    key_status = _scalar(request, "status", rpath, bad) or _scalar(
        response_key, "status", kpath, bad
    )
    if event_name == UPDATE_ACCESS_KEY and (key_status or "").lower() not in {"active", "inactive"}:
        # The call takes only Active or Inactive: anything else is a garbled record.
        bad.append(f"{rpath}.status")
        key_status = None
    # Read one by one: ``untrusted`` names bad fields in reading order. The fields the detector
    # does not use (eventVersion, the caller's ARN and userName) are read only to name them
    # when garbled.
    event_id = _event_id(rec, path, bad)
    event_time = _event_time(rec.get("eventTime"), f"{path}.eventTime", bad)
    _scalar(rec, "eventVersion", path, bad)
    aws_region = _scalar(rec, "awsRegion", path, bad)
    account_id = _account(rec, identity, where)
    source_ip = _scalar(rec, "sourceIPAddress", path, bad)
    user_agent = _scalar(rec, "userAgent", path, bad)
    principal_type = _scalar(identity, "type", ipath, bad)
    _scalar(identity, "arn", ipath, bad)
    principal_id = _scalar(identity, "principalId", ipath, bad)
    _scalar(identity, "userName", ipath, bad)  # the account alias, on old root records
    return RootKeyEvent(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        event_source=IAM_SOURCE,
        aws_region=aws_region,
        account_id=account_id,
        source_ip=source_ip,
        user_agent=user_agent,
        principal_type=principal_type,
        principal_id=principal_id,
        caller_access_key_id=_scalar(identity, "accessKeyId", ipath, bad) or None,
        mfa_authenticated=_opt_bool(attributes, "mfaAuthenticated"),
        assumed_root=_opt_bool(session, "assumedRoot") is True,
        console_session=_opt_bool(rec, "sessionCredentialFromConsole") is True,
        error_code=_scalar(rec, "errorCode", path, bad) or None,
        error_message=_scalar(rec, "errorMessage", path, bad),
        target_user_name=_target_user(request, rpath, bad),
        access_key_id=(_key_id(response_key, kpath, bad) or _key_id(request, rpath, bad) or None),
        key_status=key_status,
        # Descriptive only, and IAM writes it in a locale format that has changed over the
        # years: a value we cannot read is dropped, never a reason to lose the event.
        key_created_at=lenient_time(response_key.get("createDate")),
        form=where.form,
        envelope_id=where.envelope_id,
        index=where.index,
        untrusted=tuple(dict.fromkeys(bad)),
        envelope_account=where.envelope_account,
    )


def _other_record(rec: dict[str, Any], where: _Where) -> RootKeyEvent:
    """Any other record, read leniently: only what identifies it, and it is always ignored."""
    path, bad = where.path, where.bad
    identity = rec.get("userIdentity")
    if not isinstance(identity, dict):
        identity = {}
    session = identity.get("sessionContext")
    event_source, event_name = rec.get("eventSource"), rec.get("eventName")
    principal_type = identity.get("type")
    event_id = _event_id(rec, path, bad)
    event_time = _event_time(rec.get("eventTime"), f"{path}.eventTime", bad)
    # A root call: what a use of root's access key needs (detector.domain.key_use).
    root = principal_type == ROOT_PRINCIPAL_TYPE
    return RootKeyEvent(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name if isinstance(event_name, str) else "",
        event_source=event_source if isinstance(event_source, str) else "",
        aws_region=_scalar(rec, "awsRegion", path, bad) if root else None,
        account_id=_account(rec, identity, where),
        source_ip=_scalar(rec, "sourceIPAddress", path, bad) if root else None,
        user_agent=None,
        principal_type=principal_type if isinstance(principal_type, str) else None,
        principal_id=None,
        caller_access_key_id=(
            _key_id(identity, f"{path}.userIdentity", bad) or None if root else None
        ),
        mfa_authenticated=None,
        assumed_root=isinstance(session, dict) and _opt_bool(session, "assumedRoot") is True,
        console_session=False,
        error_code=None,
        error_message=None,
        target_user_name=None,
        access_key_id=None,
        key_status=None,
        key_created_at=None,
        form=where.form,
        envelope_id=where.envelope_id,
        index=where.index,
        untrusted=tuple(dict.fromkeys(bad)),
    )


def _ignored_record(
    rec: dict[str, Any],
    form: InputForm,
    index: int,
    envelope_id: str | None,
    envelope_account: str | None,
) -> RootKeyEvent | None:
    """The fast path of :func:`_other_record`, for a record in CloudTrail's own shape.

    Returns None for an access-key call (IAM's CreateAccessKey, DeleteAccessKey or
    UpdateAccessKey), and whenever an identifying field is unusual: the lenient reading then
    decides what to keep and names what it could not trust.
    """
    event_source = rec.get("eventSource")
    event_name = rec.get("eventName")
    if not (isinstance(event_source, str) and isinstance(event_name, str)) or (
        event_source == IAM_SOURCE and event_name in _KEY_EVENT_SET
    ):
        return None
    event_id = rec.get("eventID")
    stamp = rec.get("eventTime")
    identity = rec.get("userIdentity")
    if not (
        event_source.endswith("amazonaws.com")
        and event_name
        and isinstance(event_id, str)
        and 0 < len(event_id) <= MAX_EVENT_ID_LENGTH
        and event_id.isprintable()
        and isinstance(stamp, str)
        and len(stamp) == 20  # CloudTrail's own shape, "2026-11-20T14:03:11Z"
        and stamp.endswith("Z")
        and stamp >= _EARLIEST_STAMP
        and isinstance(identity, dict)
    ):
        return None
    account = rec.get("recipientAccountId") or identity.get("accountId") or envelope_account
    if account is not None and not (isinstance(account, str) and _ACCOUNT_RE.fullmatch(account)):
        return None
    principal_type = identity.get("type")
    if principal_type is not None and not isinstance(principal_type, str):
        return None
    try:
        event_time = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    root = _root_call(rec, identity) if principal_type == ROOT_PRINCIPAL_TYPE else _NOT_ROOT
    if root is None:
        return None
    session = identity.get("sessionContext")
    return RootKeyEvent(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        event_source=event_source,
        aws_region=root.region,
        account_id=account,
        source_ip=root.source_ip,
        user_agent=None,
        principal_type=principal_type,
        principal_id=None,
        caller_access_key_id=root.key_id,
        mfa_authenticated=None,
        assumed_root=isinstance(session, dict) and session.get("assumedRoot") == "true",
        console_session=False,
        error_code=None,
        error_message=None,
        target_user_name=None,
        access_key_id=None,
        key_status=None,
        key_created_at=None,
        form=form,
        envelope_id=envelope_id,
        index=index,
    )


class _RootCall(NamedTuple):
    """What a root call's record says of the credential that signed it, and from where."""

    key_id: str | None
    source_ip: str | None
    region: str | None


_NOT_ROOT = _RootCall(None, None, None)


def _root_call(rec: dict[str, Any], identity: dict[str, Any]) -> _RootCall | None:
    """A root call's signing key, source address and region, read on the fast path; None
    when one is not in CloudTrail's shape (the lenient reading then names it)."""
    key, ip, region = identity.get("accessKeyId"), rec.get("sourceIPAddress"), rec.get("awsRegion")
    if key is not None and not (isinstance(key, str) and (not key or _KEY_ID_RE.fullmatch(key))):
        return None
    if not all(v is None or isinstance(v, str) for v in (ip, region)):
        return None
    return _RootCall(key or None, ip, region)


def _account(rec: dict[str, Any], identity: dict[str, Any], where: _Where) -> str | None:
    """recipientAccountId, else userIdentity.accountId, else the envelope's account.

    A value that is not a 12-digit id (sanitised samples have 9, 10 or 13 digits) is named in
    ``untrusted`` and the next source is read.
    """
    for source, key, at in (
        (rec, "recipientAccountId", where.path),
        (identity, "accountId", f"{where.path}.userIdentity"),
    ):
        value = _scalar(source, key, at, where.bad)
        if value:
            if _ACCOUNT_RE.fullmatch(value):
                return value
            where.bad.append(f"{at}.{key}")
    return where.envelope_account


def _event_id(rec: dict[str, Any], path: str, bad: list[str]) -> str:
    """eventID, or a stand-in derived from the record when it is missing or unusable.

    The stand-in is the same for the same record, so a redelivery is still a duplicate.
    """
    value = rec.get("eventID")
    if isinstance(value, str) and 0 < len(value) <= MAX_EVENT_ID_LENGTH and value.isprintable():
        return value
    bad.append(f"{path}.eventID")
    return _stand_in_id(rec)


def _stand_in_id(rec: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for key in _STAND_IN_KEYS:
        digest.update(_bounded_text(rec.get(key)).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return f"{STAND_IN_ID_PREFIX}{digest.hexdigest()[:32]}"


def _bounded_text(value: Any) -> str:
    """A deterministic rendering of a JSON value, at most a few KB of work."""
    if isinstance(value, str):
        return value[:4096]
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        return "?"
    return text[:4096]


def _event_time(value: Any, path: str, bad: list[str]) -> datetime:
    """eventTime in UTC; the Unix epoch stands in for a value that cannot be read."""
    if type(value) is str and len(value) == 20 and value[19] == "Z":
        # CloudTrail's own shape, "2026-11-20T14:03:11Z": already UTC.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass  # the general path below decides
        else:
            if parsed >= EARLIEST_EVENT_TIME:
                return parsed
    found = _read_time(value)
    if found is None:
        bad.append(path)
        return UNREADABLE_TIME
    return found


def _read_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        return None
    return parsed if parsed >= EARLIEST_EVENT_TIME else None


def _target_user(request: dict[str, Any], rpath: str, bad: list[str]) -> str | None:
    """requestParameters.userName: the IAM user whose key the call is about (None: root's own).

    Root's console actions can carry ``"AWS ROOT USER"``, which is no IAM user name (those
    cannot hold spaces, "IAM object quotas and names", IAM user guide): it means root, like an
    absent name. Any other value that cannot be a user name is named in ``untrusted`` and read
    as absent too: a root key is never taken for a user's.
    """
    value = _scalar(request, "userName", rpath, bad)
    if not value:
        return None
    if " ".join(value.split()).upper() == ROOT_USER_MARKER:
        return None
    if not _USER_NAME_RE.fullmatch(value):
        bad.append(f"{rpath}.userName")
        return None
    return value


def _key_id(obj: dict[str, Any], path: str, bad: list[str]) -> str | None:
    """An accessKeyId: IAM's are 16 to 128 word characters (IAM API reference, AccessKey)."""
    value = _scalar(obj, "accessKeyId", path, bad)
    if value and not _KEY_ID_RE.fullmatch(value):
        bad.append(f"{path}.accessKeyId")
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Field readers: a value in an unexpected shape is named in ``bad`` and read as absent.


def _scalar(obj: dict[str, Any], key: str, path: str, bad: list[str]) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        # Descriptive scalars of an unexpected type are kept as text rather than lost.
        return str(value)
    bad.append(f"{path}.{key}")
    return None


def _object(obj: dict[str, Any], key: str, path: str, bad: list[str]) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    bad.append(f"{path}.{key}")
    return None


def _opt_bool(obj: dict[str, Any], key: str) -> bool | None:
    # CloudTrail writes these flags as the strings "true"/"false". Anything else means "not
    # recorded": a descriptive flag must never cost the alert.
    value = obj.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


# IAM's createDate in responseElements: "Nov 20, 2026 2:03:11 PM", "Nov 20, 2026, 2:03:11 PM"
# (with U+202F before PM in newer records), or ISO-8601.
_LOCALE_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%b %d, %Y, %I:%M:%S %p")


def lenient_time(value: Any) -> datetime | None:
    """A time as AWS writes it in responseElements (ISO-8601, or IAM's and STS's locale form
    "Nov 20, 2026, 2:03:11 PM", taken as UTC), or None when it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = " ".join(value.replace("\u202f", " ").replace("\u00a0", " ").split())
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _LOCALE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _preview(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
