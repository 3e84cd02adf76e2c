"""Parsing untrusted input: every accepted form, every DESIGN variation, errors naming the path."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detector.domain.document import load_document
from detector.domain.event import (
    STAND_IN_ID_PREFIX,
    UNREADABLE_TIME,
    InputForm,
    RecordError,
    RootKeyEvent,
    finding_fields_sound,
    parse_event,
    parse_input,
    parse_records,
    untrusted_field,
)
from detector.domain.summary import summary_fields
from detector.domain.sweep_event import sweep_event
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import (
    ACCOUNT,
    CALLER_KEY_ID,
    DROP,
    ENVELOPE_ID,
    EVENT_ID,
    EVENT_TIME,
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


def test_user_identity_user_name_is_the_account_alias_on_old_records_not_a_target() -> None:
    event = only(record(**{"userIdentity.userName": "acme-prod"}))
    assert event.target_user_name is None
    assert event.untrusted == ()
    assert classify(event) is Verdict.CREATED


def test_user_identity_user_name_absent_on_new_records() -> None:
    event = only(record(**{"userIdentity.userName": DROP}))
    assert event.untrusted == ()
    assert classify(event) is Verdict.CREATED


@pytest.mark.parametrize("field", ["eventVersion", "userIdentity.arn", "userIdentity.userName"])
def test_a_garbled_field_the_detector_does_not_use_is_still_named(field: str) -> None:
    event = only(record(**{field: {"garbled": True}}))
    assert event.untrusted == (f"$.{field}",)
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
    assert event.account_id == ACCOUNT
    assert event.untrusted == ()


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
        (log_file(record(), "not a record"), "$.Records[1]"),
        (log_file(record(), {}), "$.Records[1]"),
        (log_file(record(), {"eventTime": EVENT_TIME, "awsRegion": "x"}), "$.Records[1]"),
        (envelope(record(), **{"detail-type": "Scheduled Event"}), "$.detail-type"),
        (envelope(record(), **{"detail-type": DROP}), "$.detail-type"),
        (envelope(record(), detail=None), "$.detail"),
        (envelope(record(), detail=[]), "$.detail"),
        (envelope(record(), detail={}), "$.detail"),
        (envelope(record(eventSource="aws:s3")), "$.detail.eventSource"),
        (log_file(record(), record(eventSource="aws:sqs")), "$.Records[1].eventSource"),
        ({"Records": {"0": record()}}, "$.Records"),
        ({}, "$"),
        ([], "$"),
        (None, "$"),
        ("CreateAccessKey", "$"),
        (42, "$"),
        ({"Records": None}, "$.Records"),
    ],
)
def test_input_that_is_not_cloudtrail_names_the_offending_path(doc: Any, path: str) -> None:
    assert parse_error(doc).path == path


# ---------------------------------------------------------------------------------------------
# Sanitised and garbled records: never lost, the untrusted fields named


@pytest.mark.parametrize(
    ("doc", "verdict", "untrusted"),
    [
        (envelope(record(eventTime=DROP)), Verdict.CREATED, ["$.detail.eventTime"]),
        (envelope(record(eventTime="redacted")), Verdict.CREATED, ["$.detail.eventTime"]),
        (envelope(record(eventTime=1763647391)), Verdict.CREATED, ["$.detail.eventTime"]),
        (envelope(record(eventTime="{{ event_time }}")), Verdict.CREATED, ["$.detail.eventTime"]),
        (
            envelope(record(eventTime="0001-01-01T00:00:00Z")),
            Verdict.CREATED,
            ["$.detail.eventTime"],
        ),
        (envelope(record(eventID=DROP)), Verdict.CREATED, ["$.detail.eventID"]),
        (envelope(record(eventID=None)), Verdict.CREATED, ["$.detail.eventID"]),
        (envelope(record(eventID="")), Verdict.CREATED, ["$.detail.eventID"]),
        (envelope(record(eventID="e" * 3000)), Verdict.CREATED, ["$.detail.eventID"]),
        (envelope(record(eventID="a\nb")), Verdict.CREATED, ["$.detail.eventID"]),
        (envelope(record(), account="12345"), Verdict.CREATED, ["$.account"]),
        (envelope(record(), account=["x"]), Verdict.CREATED, ["$.account"]),
        (envelope(record(), id={"x": 1}), Verdict.CREATED, ["$.id"]),
        (record(recipientAccountId="12345678901"), Verdict.CREATED, ["$.recipientAccountId"]),
        (record(recipientAccountId="1234567890123"), Verdict.CREATED, ["$.recipientAccountId"]),
        (
            record(recipientAccountId="123456789", **{"userIdentity.accountId": "1234567890"}),
            Verdict.CREATED,
            ["$.recipientAccountId", "$.userIdentity.accountId"],
        ),
        (
            record(**{"userIdentity.sessionContext": []}),
            Verdict.CREATED,
            ["$.userIdentity.sessionContext"],
        ),
        (
            record(**{"userIdentity.sessionContext.attributes": "x"}),
            Verdict.CREATED,
            ["$.userIdentity.sessionContext.attributes"],
        ),
        (record(requestParameters=["userName"]), Verdict.CREATED, ["$.requestParameters"]),
        (record(responseElements="AKIA"), Verdict.CREATED, ["$.responseElements"]),
        (
            record(**{"responseElements.accessKey": "AKIA"}),
            Verdict.CREATED,
            ["$.responseElements.accessKey"],
        ),
        (record(userAgent={"ua": "x"}), Verdict.CREATED, ["$.userAgent"]),
        (record(errorCode=["AccessDenied"]), Verdict.CREATED, ["$.errorCode"]),
        (
            delete_record(requestParameters={"accessKeyId": [KEY_ID]}),
            Verdict.DELETED,
            ["$.requestParameters.accessKeyId"],
        ),
        (
            record(eventTime="redacted", eventID=DROP, recipientAccountId="redacted"),
            Verdict.CREATED,
            ["$.eventID", "$.eventTime", "$.recipientAccountId"],
        ),
    ],
)
def test_a_root_key_event_with_a_malformed_field_keeps_its_verdict(
    doc: Any, verdict: Verdict, untrusted: list[str]
) -> None:
    event = only(doc)
    assert classify(event) is verdict
    assert sorted(event.untrusted) == sorted(untrusted)


def test_an_unreadable_event_time_has_a_stand_in_and_is_never_shown_as_a_time() -> None:
    event = only(record(eventTime="redacted"))
    assert event.event_time == UNREADABLE_TIME
    assert untrusted_field(event, "eventTime") == "$.eventTime"
    assert summary_fields(event, "f")["event_time"] is None
    assert summary_fields(event, "f")["untrusted"] == ["$.eventTime"]
    assert finding_fields_sound(event) == "$.eventTime could not be read"


def test_a_missing_event_id_has_a_stand_in_that_is_the_same_for_the_same_record() -> None:
    first = only(record(eventID=DROP))
    again = only(record(eventID=DROP))
    other = only(record(eventID=DROP, sourceIPAddress="198.51.100.7"))
    assert first.event_id.startswith(STAND_IN_ID_PREFIX)
    assert first.event_id == again.event_id  # a redelivery is still a duplicate
    assert other.event_id != first.event_id
    assert finding_fields_sound(first) == "$.eventID could not be read"


def test_a_bad_account_field_falls_back_to_the_next_source() -> None:
    event = only(record(recipientAccountId="12345678901"))
    assert event.account_id == ACCOUNT  # from userIdentity.accountId
    assert event.untrusted == ("$.recipientAccountId",)
    assert finding_fields_sound(event) is None  # the account it has is sound


def test_no_sound_account_is_named_by_the_finding_predicate() -> None:
    rec = record(recipientAccountId=DROP, **{"userIdentity.accountId": "not-an-account"})
    event = only(rec)
    assert event.account_id is None
    assert event.untrusted == ("$.userIdentity.accountId",)
    assert classify(event) is Verdict.CREATED
    assert finding_fields_sound(event) == (
        "no 12-digit account id ($.userIdentity.accountId not one)"
    )
    bare = only(record(recipientAccountId=DROP, **{"userIdentity.accountId": DROP}))
    assert finding_fields_sound(bare) == "no 12-digit account id in the record"


def test_a_textbook_event_and_a_sweep_event_are_sound() -> None:
    assert finding_fields_sound(only(record())) is None
    assert finding_fields_sound(only(envelope(delete_record()))) is None
    assert finding_fields_sound(sweep_event(ACCOUNT, CREATED_AT)) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"eventSource": DROP},
        {"eventSource": 42},
        {"eventName": DROP},
        {"eventName": ""},
        {"userIdentity": DROP},
        {"userIdentity": "Root"},
        {"userIdentity.type": ["Root"]},
        {"eventTime": "redacted", "eventSource": "ec2.amazonaws.com"},
    ],
)
def test_a_record_that_cannot_be_a_root_key_event_is_ignored_whatever_it_garbles(
    overrides: dict[str, Any],
) -> None:
    events = parse_input(
        log_file(record(eventID="e-0"), record(**overrides), record(eventID="e-2"))
    )
    assert [classify(e) for e in events] == [Verdict.CREATED, Verdict.IGNORED, Verdict.CREATED]


def test_a_log_file_with_a_record_that_is_not_cloudtrail_still_yields_the_others() -> None:
    doc = log_file(record(eventID="e-0"), ["not", "a", "record"], {}, delete_record(eventID="e-3"))
    items = parse_records(doc)
    assert [type(i).__name__ for i in items] == [
        "RootKeyEvent",
        "RecordError",
        "RecordError",
        "RootKeyEvent",
    ]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [(e.index, e.error.path) for e in errors] == [(1, "$.Records[1]"), (2, "$.Records[2]")]
    events = [i for i in items if isinstance(i, RootKeyEvent)]
    assert [(e.event_id, e.index, classify(e)) for e in events] == [
        ("e-0", 0, Verdict.CREATED),
        ("e-3", 3, Verdict.DELETED),
    ]
    with pytest.raises(EventParseError):  # parse_input: the whole input or nothing
        parse_input(doc)


@pytest.mark.parametrize("detail_type", [[], ["AWS API Call via CloudTrail"], {}, {"a": 1}])
def test_unhashable_detail_type_names_detail_type(detail_type: Any) -> None:
    assert parse_error(envelope(record(), **{"detail-type": detail_type})).path == "$.detail-type"


def test_parse_event_rejects_more_than_one_record() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(log_file(record(), record()))
    assert info.value.path == "$.Records"


def test_error_message_carries_the_path() -> None:
    err = parse_error(envelope(record(eventSource="aws:s3")))
    assert "$.detail.eventSource" in str(err)
    assert "aws:s3" in str(err)


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

    got = [
        {"error": True}
        if isinstance(item, RecordError)
        else {
            "verdict": classify(item).value,
            "account": item.account_id,
            "access_key_id": item.access_key_id,
            "event_id": item.event_id,
            "assumed_root": item.assumed_root,
            "untrusted": list(item.untrusted),
        }
        for item in parse_records(load_document(data))
    ]
    want = [
        entry if entry.get("error") else {k: entry.get(k, []) for k in _MANIFEST_FIELDS}
        for entry in expected
    ]
    assert got == want


_MANIFEST_FIELDS = ("verdict", "account", "access_key_id", "event_id", "assumed_root", "untrusted")


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
def test_an_odd_descriptive_field_costs_no_record(overrides: dict[str, Any], path: str) -> None:
    """Another record is ignored whatever it holds; a key call keeps its verdict and names the
    field it could not read."""
    other = record(eventSource="ec2.amazonaws.com", eventName="DescribeInstances", **overrides)
    events = parse_input(log_file(other, record(**overrides)))
    assert [classify(e) for e in events] == [Verdict.IGNORED, Verdict.CREATED]
    assert events[1].untrusted == (f"$.Records[1].{path}",)
