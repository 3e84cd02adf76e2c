"""Parsing untrusted input: every accepted form, every DESIGN variation, errors naming the path."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detector.domain.event import InputForm, RootKeyEvent, load_document, parse_event, parse_input
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import (
    ACCOUNT,
    CALLER_KEY_ID,
    DROP,
    ENVELOPE_ID,
    EVENT_ID,
    KEY_ID,
    OTHER_ACCOUNT,
    as_bytes,
    delete_record,
    envelope,
    log_file,
    record,
    update_record,
)

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
MANIFEST = EVENTS_DIR / "manifest.json"
CREATED_AT = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)


def only(doc: Any) -> RootKeyEvent:
    events = parse_input(doc)
    assert len(events) == 1
    return events[0]


def parse_error(doc: Any) -> EventParseError:
    with pytest.raises(EventParseError) as info:
        parse_input(doc)
    return info.value


# ---------------------------------------------------------------------------------------------
# Accepted forms


def test_eventbridge_event_yields_the_record_in_its_detail() -> None:
    event = only(envelope(record()))

    assert event.form is InputForm.EVENTBRIDGE
    assert event.envelope_id == ENVELOPE_ID
    assert event.event_id == EVENT_ID
    assert event.event_name == "CreateAccessKey"
    assert event.event_source == "iam.amazonaws.com"
    assert event.event_time == CREATED_AT
    assert event.account_id == ACCOUNT
    assert event.access_key_id == KEY_ID
    assert event.caller_access_key_id == CALLER_KEY_ID
    assert event.is_root
    assert event.mfa_authenticated is True
    assert event.assumed_root is False
    assert event.key_status == "Active"
    assert event.key_created_at == CREATED_AT
    assert classify(event) is Verdict.CREATED


def test_bare_record_parses_like_the_same_record_in_an_envelope() -> None:
    bare = only(record())
    wrapped = only(envelope(record()))

    assert bare.form is InputForm.RECORD
    assert bare.envelope_id is None
    fields = ("event_id", "event_time", "account_id", "access_key_id", "source_ip", "user_agent")
    assert [getattr(bare, f) for f in fields] == [getattr(wrapped, f) for f in fields]
    assert classify(bare) is classify(wrapped) is Verdict.CREATED


def test_log_file_yields_every_record_in_order() -> None:
    recs = [
        record(eventID="e-0"),
        delete_record(eventID="e-1"),
        update_record("Inactive", eventID="e-2"),
    ]
    events = parse_input(log_file(*recs))

    assert [e.event_id for e in events] == ["e-0", "e-1", "e-2"]
    assert [e.index for e in events] == [0, 1, 2]
    assert {e.form for e in events} == {InputForm.LOG_FILE}
    assert [classify(e) for e in events] == [Verdict.CREATED, Verdict.DELETED, Verdict.DEACTIVATED]


def test_empty_log_file_yields_no_events() -> None:
    assert parse_input(log_file()) == []


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_log_file_bytes_load_plain_or_gzip(gzipped: bool) -> None:
    doc = log_file(record(eventID="e-0"), delete_record(eventID="e-1"))

    loaded = load_document(as_bytes(doc, gzipped=gzipped))

    assert loaded == doc
    assert [e.event_id for e in parse_input(loaded)] == ["e-0", "e-1"]


def test_gzip_and_plain_bytes_give_identical_events() -> None:
    doc = log_file(record(), delete_record())
    plain = parse_input(load_document(as_bytes(doc)))
    zipped = parse_input(load_document(as_bytes(doc, gzipped=True)))
    assert plain == zipped


def test_eventbridge_bytes_load() -> None:
    event = only(load_document(as_bytes(envelope(record()))))
    assert event.form is InputForm.EVENTBRIDGE
    assert event.access_key_id == KEY_ID


def test_parse_event_accepts_a_log_file_of_exactly_one_record() -> None:
    assert parse_event(log_file(record())).event_id == EVENT_ID


def test_event_time_with_an_offset_is_normalised_to_utc() -> None:
    event = only(record(eventTime="2026-11-20T15:03:11+01:00"))
    assert event.event_time == CREATED_AT
    assert event.event_time.tzinfo is not None


# ---------------------------------------------------------------------------------------------
# Variations real records show (DESIGN "Real records vary")


@pytest.mark.parametrize(
    "overrides",
    [
        {"requestParameters": None},
        {"requestParameters": DROP},
        {"requestParameters": {}},
    ],
    ids=["null", "missing", "empty"],
)
def test_request_parameters_null_missing_or_empty(overrides: dict[str, Any]) -> None:
    event = only(envelope(record(**overrides)))
    assert event.target_user_name is None
    assert classify(event) is Verdict.CREATED


@pytest.mark.parametrize(
    "overrides",
    [
        {"responseElements.accessKey.userName": DROP},
        {"responseElements.accessKey.userName": "Root"},
    ],
    ids=["absent", "Root"],
)
def test_response_key_user_name_absent_or_root_is_still_roots_key(
    overrides: dict[str, Any],
) -> None:
    event = only(record(**overrides))
    assert event.access_key_id == KEY_ID
    assert event.target_user_name is None
    assert classify(event) is Verdict.CREATED


def test_user_identity_user_name_is_the_account_alias_on_old_records() -> None:
    event = only(record(**{"userIdentity.userName": "acme-prod"}))
    assert event.account_alias == "acme-prod"
    assert event.target_user_name is None
    assert classify(event) is Verdict.CREATED


def test_user_identity_user_name_absent_on_new_records() -> None:
    event = only(record(**{"userIdentity.userName": DROP}))
    assert event.account_alias is None
    assert classify(event) is Verdict.CREATED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DROP, None),
        ("", None),
        ("ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
        ("AKIAZZZZZZZZZEXAMPLE", "AKIAZZZZZZZZZEXAMPLE"),
    ],
    ids=["missing", "empty", "ASIA", "AKIA"],
)
def test_caller_access_key_id_variants(value: Any, expected: str | None) -> None:
    event = only(record(**{"userIdentity.accessKeyId": value}))
    assert event.caller_access_key_id == expected
    assert event.access_key_id == KEY_ID  # the created key, never the caller's credential
    assert classify(event) is Verdict.CREATED


@pytest.mark.parametrize(
    ("session", "mfa", "assumed_root"),
    [
        (DROP, None, False),
        (None, None, False),
        ({}, None, False),
        ({"attributes": None}, None, False),
        ({"attributes": {}}, None, False),
        ({"attributes": {"creationDate": "2026-11-20T13:51:42Z"}}, None, False),
        ({"attributes": {"mfaAuthenticated": "false"}}, False, False),
        ({"attributes": {"mfaAuthenticated": "TRUE"}}, True, False),
        ({"attributes": {"mfaAuthenticated": True}}, True, False),
        ({"assumedRoot": "true"}, None, True),
        ({"attributes": {"mfaAuthenticated": "false"}, "assumedRoot": "true"}, False, True),
        ({"attributes": {"mfaAuthenticated": "true"}, "assumedRoot": "false"}, True, False),
    ],
    ids=[
        "missing",
        "null",
        "empty",
        "attributes-null",
        "attributes-empty",
        "creation-date-only",
        "mfa-false-string",
        "mfa-upper-string",
        "mfa-json-bool",
        "assumed-root-only",
        "assumed-root-with-attributes",
        "assumed-root-false",
    ],
)
def test_session_context_missing_or_partial(
    session: Any, mfa: bool | None, assumed_root: bool
) -> None:
    event = only(record(**{"userIdentity.sessionContext": session}))
    assert event.mfa_authenticated is mfa
    assert event.assumed_root is assumed_root
    assert classify(event) is Verdict.CREATED


def test_account_from_user_identity_when_recipient_account_id_is_absent() -> None:
    event = only(record(recipientAccountId=DROP))
    assert event.account_id == ACCOUNT


def test_account_from_the_envelope_when_the_record_has_none() -> None:
    rec = record(recipientAccountId=DROP, **{"userIdentity.accountId": DROP})
    event = only(envelope(rec, account=OTHER_ACCOUNT))
    assert event.account_id == OTHER_ACCOUNT


def test_recipient_account_id_wins_over_user_identity_and_envelope() -> None:
    rec = record(**{"userIdentity.accountId": OTHER_ACCOUNT})
    event = only(envelope(rec, account=OTHER_ACCOUNT))
    assert event.account_id == ACCOUNT


def test_record_without_any_account_still_parses_and_classifies() -> None:
    event = only(record(recipientAccountId=DROP, **{"userIdentity.accountId": DROP}))
    assert event.account_id is None
    assert classify(event) is Verdict.CREATED


def test_envelope_account_missing_is_tolerated() -> None:
    event = only(envelope(record(), account=DROP))
    assert event.account_id == ACCOUNT
    assert classify(event) is Verdict.CREATED


@pytest.mark.parametrize("region", ["us-west-2", "eu-west-1", "ap-southeast-2"])
def test_pre_2021_iam_records_in_other_regions(region: str) -> None:
    event = only(envelope(record(awsRegion=region)))
    assert event.aws_region == region
    assert classify(event) is Verdict.CREATED


def test_boolean_like_string_flags_are_read_as_booleans() -> None:
    event = only(record(sessionCredentialFromConsole="true"))
    assert event.console_session is True
    assert only(record(sessionCredentialFromConsole=DROP)).console_session is False


def test_numeric_descriptive_fields_are_kept_as_text() -> None:
    event = only(record(eventVersion=1.1, recipientAccountId=int(ACCOUNT)))
    assert event.event_version == "1.1"
    assert event.account_id == ACCOUNT


def test_empty_error_code_is_not_a_failure() -> None:
    event = only(record(errorCode=""))
    assert event.error_code is None
    assert classify(event) is Verdict.CREATED


# createDate: IAM renders it with the JVM's locale data, which changed over the years.
@pytest.mark.parametrize(
    "create_date",
    [
        "Nov 20, 2026 2:03:11 PM",  # records up to ~2023
        "Nov 20, 2026, 2:03:11 PM",  # newer records: comma after the year
        "Nov 20, 2026, 2:03:11\u202fPM",  # newest: NARROW NO-BREAK SPACE before AM/PM
        "2026-11-20T14:03:11Z",
    ],
    ids=["legacy", "comma-after-year", "narrow-nbsp", "iso"],
)
def test_create_date_renderings_do_not_lose_the_event(create_date: str) -> None:
    event = only(envelope(record(**{"responseElements.accessKey.createDate": create_date})))

    assert classify(event) is Verdict.CREATED
    assert event.access_key_id == KEY_ID
    assert event.key_created_at in (None, CREATED_AT)


def test_create_date_is_read_when_present() -> None:
    assert only(record()).key_created_at == CREATED_AT
    assert only(record(**{"responseElements.accessKey.createDate": DROP})).key_created_at is None


# ---------------------------------------------------------------------------------------------
# Bad inputs: EventParseError naming the offending JSON path


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (envelope(record(eventTime=DROP)), "$.detail.eventTime"),
        (envelope(record(eventTime="yesterday")), "$.detail.eventTime"),
        (envelope(record(eventTime=1763647391)), "$.detail.eventTime"),
        (envelope(record(eventTime="{{ event_time }}")), "$.detail.eventTime"),
        (log_file(record(), record(eventName=DROP)), "$.Records[1].eventName"),
        (log_file(record(), record(), record(eventName="")), "$.Records[2].eventName"),
        (log_file(record(), "not a record"), "$.Records[1]"),
        (envelope(record(), **{"detail-type": "Scheduled Event"}), "$.detail-type"),
        (envelope(record(), **{"detail-type": DROP}), "$.detail-type"),
        (envelope(record(), detail=None), "$.detail"),
        (envelope(record(), detail=[]), "$.detail"),
        (envelope(record(), account="12345"), "$.account"),
        (envelope(record(eventSource=DROP)), "$.detail.eventSource"),
        (envelope(record(eventSource="aws:s3")), "$.detail.eventSource"),
        (envelope(record(eventID=DROP)), "$.detail.eventID"),
        (envelope(record(userIdentity=DROP)), "$.detail.userIdentity"),
        (record(userIdentity="Root"), "$.userIdentity"),
        (record(**{"userIdentity.sessionContext": []}), "$.userIdentity.sessionContext"),
        (
            record(**{"userIdentity.sessionContext.attributes": "x"}),
            "$.userIdentity.sessionContext.attributes",
        ),
        (record(requestParameters=["userName"]), "$.requestParameters"),
        (record(**{"responseElements.accessKey": "AKIA"}), "$.responseElements.accessKey"),
        (record(recipientAccountId="12345"), "$.recipientAccountId"),
        (record(userAgent={"ua": "x"}), "$.userAgent"),
        ({"Records": {"0": record()}}, "$.Records"),
        ({}, "$"),
        ([], "$"),
        (None, "$"),
        ("CreateAccessKey", "$"),
        (42, "$"),
        ({"Records": None}, "$.Records"),
    ],
)
def test_bad_input_names_the_offending_path(doc: Any, path: str) -> None:
    assert parse_error(doc).path == path


def test_bad_user_identity_account_names_user_identity_account_id() -> None:
    # With no recipientAccountId the account comes from userIdentity.accountId: that is the
    # value to fix, so that is the path the error must name.
    rec = record(recipientAccountId=DROP, **{"userIdentity.accountId": "not-an-account"})
    assert parse_error(rec).path == "$.userIdentity.accountId"


@pytest.mark.parametrize("detail_type", [[], ["AWS API Call via CloudTrail"], {}, {"a": 1}])
def test_unhashable_detail_type_names_detail_type(detail_type: Any) -> None:
    assert parse_error(envelope(record(), **{"detail-type": detail_type})).path == "$.detail-type"


def test_parse_event_rejects_more_than_one_record() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(log_file(record(), record()))
    assert info.value.path == "$.Records"


def test_error_message_carries_the_path() -> None:
    err = parse_error(envelope(record(eventTime="yesterday")))
    assert "$.detail.eventTime" in str(err)
    assert "yesterday" in str(err)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"Records": [',
        b"\xff\xfe\xfa not utf",
        b"\x1f\x8b\x08\x00 truncated gzip",
        gzip.compress(b"not json inside gzip"),
        gzip.compress(b'{"Records": []}')[:-6],
        b"[" * 100_000,
        b"9" * 5000,
        b'{"eventVersion": ' + b"1" * 5000 + b"}",
    ],
    ids=[
        "empty",
        "text",
        "cut-json",
        "bad-utf8",
        "bad-gzip",
        "gzip-not-json",
        "gzip-truncated",
        "deep-nesting",
        "huge-int",
        "huge-int-in-object",
    ],
)
def test_undecodable_bytes_raise_event_parse_error(data: bytes) -> None:
    with pytest.raises(EventParseError) as info:
        load_document(data)
    assert info.value.path == "$"


# ---------------------------------------------------------------------------------------------
# Recorded fixtures (tests/events) against their manifest


def _manifest() -> dict[str, Any]:
    if not MANIFEST.exists():
        return {}
    loaded: dict[str, Any] = json.loads(MANIFEST.read_text())
    return loaded


def _fixture_files() -> list[str]:
    if not EVENTS_DIR.exists():
        return []
    return sorted(
        p.relative_to(EVENTS_DIR).as_posix()
        for p in EVENTS_DIR.rglob("*")
        if p.is_file() and p != MANIFEST and p.suffix in {".json", ".gz"}
    )


FIXTURES = _fixture_files()


@pytest.mark.skipif(not MANIFEST.exists(), reason="tests/events/manifest.json not written yet")
@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_event_matches_manifest(name: str) -> None:
    manifest = _manifest()
    assert name in manifest, f"{name} has no entry in tests/events/manifest.json"
    expected = manifest[name]
    data = (EVENTS_DIR / name).read_bytes()

    if isinstance(expected, dict) and expected.get("error"):
        with pytest.raises(EventParseError):
            parse_input(load_document(data))
        return

    events = parse_input(load_document(data))
    got = [
        {
            "verdict": classify(e).value,
            "account": e.account_id,
            "access_key_id": e.access_key_id,
            "event_id": e.event_id,
            "assumed_root": e.assumed_root,
        }
        for e in events
    ]
    want = [{k: entry.get(k) for k in got[0]} for entry in expected] if got else expected
    assert got == want


@pytest.mark.skipif(not MANIFEST.exists(), reason="tests/events/manifest.json not written yet")
def test_manifest_names_only_existing_files() -> None:
    missing = [name for name in _manifest() if not (EVENTS_DIR / name).is_file()]
    assert missing == []


@pytest.mark.parametrize("name", [f for f in FIXTURES if f.startswith("logfiles/")])
def test_recorded_log_files_parse_the_same_when_gzipped(name: str) -> None:
    data = (EVENTS_DIR / name).read_bytes()
    try:
        plain = parse_input(load_document(data))
    except EventParseError as exc:
        pytest.fail(f"{name} does not parse: {exc}")
    assert parse_input(load_document(gzip.compress(data))) == plain


def test_a_record_that_is_not_a_key_call_keeps_only_what_identifies_it() -> None:
    """Read as an access-key call would be, but no key details: the record is always ignored."""
    rec = record(
        eventName="ListAccessKeys",
        **{"userIdentity.sessionContext": {"assumedRoot": "true", "attributes": {}}},
    )
    (ignored,) = parse_input({"Records": [rec]})
    key_call = only({**rec, "eventName": "CreateAccessKey"})
    assert ignored.event_name == "ListAccessKeys"
    assert classify(ignored) is Verdict.IGNORED
    for name in ("event_id", "event_time", "event_source", "account_id", "principal_type"):
        assert getattr(ignored, name) == getattr(key_call, name), name
    assert ignored.assumed_root is True
    assert ignored.form is InputForm.LOG_FILE
    assert ignored.access_key_id is None  # not an access-key call: no key details kept


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"requestParameters": ["userName"]}, "requestParameters"),
        ({"responseElements.accessKey": "AKIA"}, "responseElements.accessKey"),
        ({"userAgent": {"ua": "x"}}, "userAgent"),
        ({"awsRegion": ["us-east-1"]}, "awsRegion"),
        ({"userIdentity.sessionContext": []}, "userIdentity.sessionContext"),
        ({"userIdentity.sessionContext.attributes": "x"}, "userIdentity.sessionContext.attributes"),
    ],
)
def test_an_odd_descriptive_field_costs_only_an_access_key_call(
    overrides: dict[str, Any], path: str
) -> None:
    """A log file's other records are never rejected for a field the detector does not read."""
    other = record(eventSource="ec2.amazonaws.com", eventName="DescribeInstances", **overrides)
    assert classify(only(log_file(other))) is Verdict.IGNORED
    assert parse_error(log_file(other, record(**overrides))).path == f"$.Records[1].{path}"
