"""Untrusted input -> frozen, typed CloudTrail events, or EventParseError naming the JSON path."""

from __future__ import annotations

import gc
import gzip
import io
import json
import re
import threading
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


def sweep_event(account_id: str, now: datetime) -> RootKeyEvent:
    """The event the daily sweep raises for an account whose root holds a key nobody alerted.

    Its id is per account and day, so a sweep re-run the same day is a duplicate.
    """
    return RootKeyEvent(
        event_id=f"sweep-{account_id}-{now:%Y%m%d}",
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
    bulk = len(data) >= _BULK_BYTES
    if bulk:
        _pause_gc()
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise EventParseError("$", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventParseError("$", "JSON nested too deeply") from exc
    finally:
        if bulk:
            _resume_gc()


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(MAX_INPUT_BYTES + 1)
    if len(out) > MAX_INPUT_BYTES:
        raise OSError(f"decompressed input exceeds {MAX_INPUT_BYTES} bytes")
    return out


# Automatic garbage collection is paused while a big input is decoded and parsed. JSON values
# and the events made of them hold no reference cycles, so reference counting frees them all
# and the collector can find nothing; yet it runs every few hundred new objects and keeps
# re-walking everything decoded so far: with it, json.loads of a 50 MiB log file takes about
# 1.8 times as long. The pause is process-wide (the collector has no other switch) and lasts
# while any thread is inside such a section; what other threads leave meanwhile is collected
# after. A caller that disabled collection itself finds it still disabled.
_BULK_BYTES = 1 << 20
_BULK_RECORDS = 1000
_gc_lock = threading.Lock()
_gc_pausers = 0  # threads inside a paused section
_gc_paused = False  # whether the first of them disabled automatic collection


def _pause_gc() -> None:
    # Allocates nothing (no context manager): an allocation could start the very collection
    # this avoids, over everything load_document just decoded.
    global _gc_pausers, _gc_paused  # noqa: PLW0603
    _gc_lock.acquire()
    try:
        if _gc_pausers == 0:
            _gc_paused = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    finally:
        _gc_lock.release()


def _resume_gc() -> None:
    global _gc_pausers, _gc_paused  # noqa: PLW0603
    _gc_lock.acquire()
    try:
        _gc_pausers -= 1
        if _gc_pausers == 0 and _gc_paused:
            _gc_paused = False
            gc.enable()
    finally:
        _gc_lock.release()


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
        if len(records) < _BULK_RECORDS:
            return _parse_log_records(records)
        _pause_gc()
        try:
            return _parse_log_records(records)
        finally:
            _resume_gc()
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
    name = rec.get("eventName")
    if (
        rec.get("eventSource") != _IAM_SOURCE
        or type(name) is not str
        or name not in KEY_EVENT_NAMES
    ):
        light = _light_record(rec, form, index, envelope_id, envelope_account)
        if light is not None:
            return light
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


def _light_record(
    rec: dict[str, Any],
    form: InputForm,
    index: int,
    envelope_id: str | None,
    envelope_account: str | None,
) -> RootKeyEvent | None:
    """The cheap path for a record that is not an access-key call (a log file's bulk).

    Such a record is always "ignored": only what identifies it is kept. Returns None whenever
    anything is unusual, so the full parser (which names the bad path) takes over.
    """
    get = rec.get
    event_source = get("eventSource")
    event_name = get("eventName")
    event_id = get("eventID")
    stamp = get("eventTime")
    identity = get("userIdentity")
    if not (
        type(event_source) is str
        and event_source.endswith("amazonaws.com")
        and type(event_name) is str
        and event_name
        and type(event_id) is str
        and event_id
        and type(stamp) is str
        and len(stamp) == 20
        and stamp[19] == "Z"
        and type(identity) is dict
    ):
        return None
    account = get("recipientAccountId") or identity.get("accountId") or envelope_account
    principal_type = identity.get("type")
    if (account is not None and not (type(account) is str and _ACCOUNT_RE.fullmatch(account))) or (
        principal_type is not None and type(principal_type) is not str
    ):
        return None
    session = identity.get("sessionContext")
    assumed_root = type(session) is dict and session.get("assumedRoot") == "true"
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return _light_event(
        event_id,
        when,
        event_name,
        event_source,
        account,
        principal_type,
        assumed_root,
        form,
        envelope_id,
        index,
    )


def _light_event(  # noqa: PLR0917 - one per record of a log file: no keywords
    event_id: str,
    when: datetime,
    event_name: str,
    event_source: str,
    account: str | None,
    principal_type: str | None,
    assumed_root: bool,
    form: InputForm,
    envelope_id: str | None,
    index: int,
) -> RootKeyEvent:
    """An event that is not an access-key event: only what classify and the summary read."""
    # Positional, in field order: this runs once per record of a log file.
    return _new_tuple(
        RootKeyEvent,
        (
            event_id,
            when,
            event_name,
            event_source,
            None,
            None,
            account,
            None,
            None,
            principal_type,
            None,
            None,
            None,
            None,
            None,
            assumed_root,
            False,
            None,
            None,
            None,
            None,
            None,
            None,
            form,
            envelope_id,
            index,
        ),
    )


_new_tuple = tuple.__new__


def _parse_log_records(records: list[Any]) -> list[RootKeyEvent]:
    """A log file's records, each as ``_parse_record`` would return it (the hot loop).

    Most records are not access-key calls: for those this is ``_light_record`` inlined, with
    the names bound once, each distinct account id checked once and each distinct timestamp
    parsed once (a log file covers minutes, so both repeat). Anything else, or anything
    unusual, goes to ``_parse_record``, which decides, and names the path of a bad value.
    """
    events: list[RootKeyEvent] = []
    append = events.append
    form = InputForm.LOG_FILE
    key_names = KEY_EVENT_NAMES
    iam = _IAM_SOURCE
    accounts: set[str] = set()  # those that fullmatch _ACCOUNT_RE
    add_account = accounts.add
    is_account = _ACCOUNT_RE.fullmatch
    times: dict[str, datetime] = {}  # CloudTrail's "2026-11-20T14:03:11Z" shape only
    from_iso = datetime.fromisoformat
    for index, rec in enumerate(records):
        if type(rec) is dict:
            get = rec.get
            source = get("eventSource")
            name = get("eventName")
            event_id = get("eventID")
            stamp = get("eventTime")
            identity = get("userIdentity")
            if (
                type(source) is str
                and type(name) is str
                and (source != iam or name not in key_names)
                and name
                and source.endswith("amazonaws.com")
                and type(event_id) is str
                and event_id
                and type(stamp) is str
                and len(stamp) == 20
                and stamp[19] == "Z"
                and type(identity) is dict
            ):
                iget = identity.get
                account = get("recipientAccountId") or iget("accountId") or None
                principal_type = iget("type")
                when = times.get(stamp)
                if when is None:
                    try:
                        when = times[stamp] = from_iso(stamp)
                    except ValueError:
                        when = None
                if (
                    when is not None
                    and (
                        account is None
                        or (
                            type(account) is str
                            and (
                                account in accounts
                                or (is_account(account) and add_account(account) is None)
                            )
                        )
                    )
                    and (principal_type is None or type(principal_type) is str)
                ):
                    session = iget("sessionContext")
                    append(
                        _light_event(
                            event_id,
                            when,
                            name,
                            source,
                            account,
                            principal_type,
                            type(session) is dict and session.get("assumedRoot") == "true",
                            form,
                            None,
                            index,
                        )
                    )
                    continue
        append(_parse_record(rec, f"$.Records[{index}]", form, index=index))
    return events


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
