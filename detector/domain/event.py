"""Untrusted input -> frozen, typed CloudTrail events, or EventParseError naming the JSON path."""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from detector.errors import EventParseError

_ACCOUNT_RE = re.compile(r"[0-9]{12}")  # ASCII digits only (\d admits other scripts)
# EventBridge detail-types that carry a CloudTrail record as `detail`.
_CLOUDTRAIL_DETAIL_TYPES = frozenset(
    {
        "AWS API Call via CloudTrail",
        "AWS Console Sign In via CloudTrail",
        "AWS Service Event via CloudTrail",
        "AWS Console Action via CloudTrail",
    }
)
_IAM_SOURCE = "iam.amazonaws.com"
# The calls whose records carry access-key details; every other record is always "ignored".
KEY_EVENT_NAMES = frozenset({"CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey"})
# Decompressed size cap for one input: a CloudTrail log file is at most a few hundred MB.
MAX_INPUT_BYTES = 1 << 30


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
    event_version: str | None
    aws_region: str | None
    account_id: str | None  # recipientAccountId, else userIdentity.accountId, else envelope
    source_ip: str | None
    user_agent: str | None
    principal_type: str | None  # userIdentity.type: Root, IAMUser, AssumedRole, ...
    principal_arn: str | None
    principal_id: str | None
    account_alias: str | None  # userIdentity.userName: the account alias on old root records
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

    @property
    def is_root(self) -> bool:
        """The caller is the account's root user (including AssumeRoot sessions)."""
        return self.principal_type == "Root"


SWEEP_EVENT_PREFIX = "sweep-"  # the daily sweep's own events (never a CloudTrail event id)


def sweep_event(account_id: str, now: datetime, *, event_id: str | None = None) -> RootKeyEvent:
    """The event the daily sweep raises for an account whose root holds a key nobody alerted.

    Its id is per account and day, so a sweep re-run the same day is a duplicate; ``event_id``
    names an earlier sweep's event whose alert never reached Slack, to finish that one.
    """
    return RootKeyEvent(
        event_id=event_id or f"{SWEEP_EVENT_PREFIX}{account_id}-{now:%Y%m%d}",
        event_time=now,
        event_name="CreateAccessKey",
        event_source="iam.amazonaws.com",
        event_version=None,
        aws_region=None,
        account_id=account_id,
        source_ip=None,
        user_agent=None,
        principal_type="Root",
        principal_arn=None,
        principal_id=None,
        account_alias=None,
        caller_access_key_id=None,
        mfa_authenticated=None,
        assumed_root=False,
        console_session=False,
        error_code=None,
        error_message=None,
        target_user_name=None,
        access_key_id=None,
        key_status="Active",
        key_created_at=None,
        form=InputForm.SWEEP,
    )


def summary_fields(event: RootKeyEvent, source: str) -> dict[str, Any]:
    """What identifies an event in a ``classify`` line (``source`` says where it was read)."""
    return {
        "source": source,
        "event_id": event.event_id,
        "event_name": event.event_name,
        "event_time": event.event_time.isoformat().replace("+00:00", "Z"),
        "account": event.account_id,
        "access_key_id": event.access_key_id,
        "principal_type": event.principal_type,
        "assumed_root": event.assumed_root,
    }


# ---------------------------------------------------------------------------------------------
# Reading raw bytes


def load_document(data: bytes) -> Any:
    """Decode one input file: JSON, or gzip-compressed JSON (CloudTrail's S3 log files).

    Raises:
        EventParseError: not gzip-decodable or not JSON.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = _gunzip(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise EventParseError("$", f"not a valid gzip stream: {exc}") from exc
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise EventParseError("$", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventParseError("$", "JSON nested too deeply") from exc


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(MAX_INPUT_BYTES + 1)
    if len(out) > MAX_INPUT_BYTES:
        raise OSError(f"decompressed input exceeds {MAX_INPUT_BYTES} bytes")
    return out


# ---------------------------------------------------------------------------------------------
# Dispatch on the input's shape


def parse_input(doc: Any) -> list[RootKeyEvent]:
    """Turn one decoded input into its CloudTrail events, in input order.

    Accepts an EventBridge event whose ``detail`` is a CloudTrail record, a bare CloudTrail
    record, or a CloudTrail log file ``{"Records": [...]}``.

    Raises:
        EventParseError: the input is none of those; ``path`` names the offending value.
    """
    if not isinstance(doc, dict):
        raise EventParseError("$", f"expected a JSON object, got {_kind(doc)}")
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise EventParseError("$.Records", f"expected a list, got {_kind(records)}")
        return [
            _parse_record(rec, f"$.Records[{index}]", InputForm.LOG_FILE, index=index)
            for index, rec in enumerate(records)
        ]
    if "detail-type" in doc or "detail" in doc:
        return [_parse_envelope(doc)]
    if "eventName" in doc or "eventSource" in doc or "eventVersion" in doc:
        return [_parse_record(doc, "$", InputForm.RECORD)]
    raise EventParseError(
        "$", "not a CloudTrail record, an EventBridge CloudTrail event or a CloudTrail log file"
    )


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
    envelope_account = _opt_str(doc, "account", "$")
    if envelope_account is not None and not _ACCOUNT_RE.fullmatch(envelope_account):
        raise EventParseError(
            "$.account", f"not a 12-digit account id: {_preview(envelope_account)}"
        )
    return _parse_record(
        doc.get("detail"),
        "$.detail",
        InputForm.EVENTBRIDGE,
        envelope_id=_opt_str(doc, "id", "$"),
        envelope_account=envelope_account,
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
) -> RootKeyEvent:
    if not isinstance(rec, dict):
        raise EventParseError(path, f"expected a CloudTrail record object, got {_kind(rec)}")
    ignored = _ignored_record(rec, form, index, envelope_id, envelope_account)  # most records
    if ignored is not None:
        return ignored
    event_source = _req_str(rec, "eventSource", path)
    if not event_source.endswith("amazonaws.com"):
        raise EventParseError(
            f"{path}.eventSource", f"not a CloudTrail event source: {_preview(event_source)}"
        )
    event_name = _req_str(rec, "eventName", path)
    event_id = _req_str(rec, "eventID", path)
    event_time = _parse_time(rec.get("eventTime"), f"{path}.eventTime")

    identity = _opt_obj(rec, "userIdentity", path)
    if identity is None:
        raise EventParseError(f"{path}.userIdentity", "missing: every CloudTrail record has one")
    ipath = f"{path}.userIdentity"
    account = _account(rec, identity, path, ipath) or envelope_account
    session = _opt_obj(identity, "sessionContext", ipath) or {}
    spath = f"{ipath}.sessionContext"
    attributes = _opt_obj(session, "attributes", spath) or {}

    request = _opt_obj(rec, "requestParameters", path) or {}
    rpath = f"{path}.requestParameters"
    response = _opt_obj(rec, "responseElements", path) or {}
    response_key = _opt_obj(response, "accessKey", f"{path}.responseElements") or {}
    kpath = f"{path}.responseElements.accessKey"

    # Descriptive only, and IAM writes it in a locale format that has changed over the years:
    # a value we cannot read is dropped, never a reason to lose the event.
    key_created = response_key.get("createDate")
    return RootKeyEvent(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        event_source=event_source,
        event_version=_opt_str(rec, "eventVersion", path),
        aws_region=_opt_str(rec, "awsRegion", path),
        account_id=account,
        source_ip=_opt_str(rec, "sourceIPAddress", path),
        user_agent=_opt_str(rec, "userAgent", path),
        principal_type=_opt_str(identity, "type", ipath),
        principal_arn=_opt_str(identity, "arn", ipath),
        principal_id=_opt_str(identity, "principalId", ipath),
        account_alias=_opt_str(identity, "userName", ipath),
        caller_access_key_id=_opt_str(identity, "accessKeyId", ipath) or None,
        mfa_authenticated=_opt_bool(attributes, "mfaAuthenticated"),
        assumed_root=_opt_bool(session, "assumedRoot") is True,
        console_session=_opt_bool(rec, "sessionCredentialFromConsole") is True,
        error_code=_opt_str(rec, "errorCode", path) or None,
        error_message=_opt_str(rec, "errorMessage", path),
        target_user_name=_opt_str(request, "userName", rpath) or None,
        access_key_id=(
            _opt_str(response_key, "accessKeyId", kpath)
            or _opt_str(request, "accessKeyId", rpath)
            or None
        ),
        key_status=_opt_str(request, "status", rpath) or _opt_str(response_key, "status", kpath),
        key_created_at=_lenient_time(key_created),
        form=form,
        envelope_id=envelope_id,
        index=index,
    )


def _ignored_record(
    rec: dict[str, Any],
    form: InputForm,
    index: int,
    envelope_id: str | None,
    envelope_account: str | None,
) -> RootKeyEvent | None:
    """A record that is not an access-key call: only what identifies it is read and kept.

    Such a record is always "ignored", so a descriptive field it carries in an odd shape must
    not cost the rest of its log file. Returns None for an access-key call (IAM's
    CreateAccessKey, DeleteAccessKey or UpdateAccessKey), and whenever an identifying field is
    unusual: the full reading then decides, and names the bad path.
    """
    event_source = rec.get("eventSource")
    event_name = rec.get("eventName")
    if not (isinstance(event_source, str) and isinstance(event_name, str)) or (
        event_source == _IAM_SOURCE and event_name in KEY_EVENT_NAMES
    ):
        return None
    event_id = rec.get("eventID")
    stamp = rec.get("eventTime")
    identity = rec.get("userIdentity")
    if not (
        event_source.endswith("amazonaws.com")
        and event_name
        and isinstance(event_id, str)
        and event_id
        and isinstance(stamp, str)
        and len(stamp) == 20  # CloudTrail's own shape, "2026-11-20T14:03:11Z"
        and stamp.endswith("Z")
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
    session = identity.get("sessionContext")
    return RootKeyEvent(
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        event_source=event_source,
        event_version=None,
        aws_region=None,
        account_id=account,
        source_ip=None,
        user_agent=None,
        principal_type=principal_type,
        principal_arn=None,
        principal_id=None,
        account_alias=None,
        caller_access_key_id=None,
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


def _account(rec: dict[str, Any], identity: dict[str, Any], path: str, ipath: str) -> str | None:
    for source, key, where in (
        (rec, "recipientAccountId", path),
        (identity, "accountId", ipath),
    ):
        value = _opt_str(source, key, where)
        if value:
            if not _ACCOUNT_RE.fullmatch(value):
                raise EventParseError(
                    f"{where}.{key}", f"not a 12-digit account id: {_preview(value)}"
                )
            return value
    return None


# ---------------------------------------------------------------------------------------------
# Field readers: each names the JSON path it failed on.


def _req_str(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        what = "missing" if value is None else f"expected a non-empty string, got {_kind(value)}"
        raise EventParseError(f"{path}.{key}", what)
    return value


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        # Descriptive scalars of an unexpected type are kept as text rather than lost.
        return str(value)
    raise EventParseError(f"{path}.{key}", f"expected a string, got {_kind(value)}")


def _opt_obj(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise EventParseError(f"{path}.{key}", f"expected an object or null, got {_kind(value)}")


def _opt_bool(obj: dict[str, Any], key: str) -> bool | None:
    # CloudTrail writes these flags as the strings "true"/"false". Anything else means "not
    # recorded": a descriptive flag must never cost the alert.
    value = obj.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _parse_time(value: Any, path: str) -> datetime:
    if type(value) is str and len(value) == 20 and value[19] == "Z":
        # CloudTrail's own shape, "2026-11-20T14:03:11Z": already UTC.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # the general path below names the problem
    if not isinstance(value, str):
        what = "missing" if value is None else f"expected an ISO-8601 timestamp, got {_kind(value)}"
        raise EventParseError(path, what)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise EventParseError(
            path, f"expected an ISO-8601 timestamp, got {_preview(value)}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise EventParseError(path, f"timestamp out of range: {_preview(value)}") from None


# IAM's createDate in responseElements: "Nov 20, 2026 2:03:11 PM", "Nov 20, 2026, 2:03:11 PM"
# (with U+202F before PM in newer records), or ISO-8601.
_LOCALE_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%b %d, %Y, %I:%M:%S %p")


def _lenient_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
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
