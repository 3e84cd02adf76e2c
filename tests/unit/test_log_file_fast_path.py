"""A log file's hot loop (``_parse_log_records``) agrees with the record parser on every input.

The reference is ``_parse_record`` applied to each record in turn, which is what
``parse_input`` did for a log file before the loop was inlined: the same events (field for
field, including the types of the values) or the same EventParseError (path and problem).
Records draw their timestamps and account ids from small pools of valid and invalid values
so that a log file repeats them: the loop remembers the ones it has checked.
"""

from __future__ import annotations

import copy
import gc
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from detector.domain import event as event_module
from detector.domain.event import InputForm, RootKeyEvent, load_document, parse_input
from detector.errors import EventParseError
from tests.factories import DROP, delete_record, record, set_path, update_record

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow],
)

# Values that repeat across a log file's records, valid or not, of every JSON type.
TIMES = [
    "2026-11-20T14:03:11Z",
    "2026-11-20T14:03:12Z",
    "2026-11-20 14:03:11Z",  # fromisoformat reads it
    "2026-13-20T14:03:11Z",  # CloudTrail's length and "Z", not a date
    "2026-11-20T14:03:11+00:00",
    "2026-11-20T14:03:11.5Z",
    "2026-W47-5T14:03:11Z",  # ISO week date, CloudTrail's length and "Z"
    "2026-11-20T140311+01",  # CloudTrail's length, not UTC
    "2026-11-20T14:03:1ZZ",
    "2026-11-20",
    "",
    None,
    20261120,
    ["2026-11-20T14:03:11Z"],
    DROP,
]
# Timestamps the record parser accepts, only some of them in CloudTrail's own shape.
GOOD_TIMES = [
    "2026-11-20T14:03:11Z",
    "2026-11-20T14:03:12Z",
    "2026-11-20T15:03:11Z",
    "2026-W47-5T14:03:11Z",
    "2026-11-20T140311+01",
    "2026-11-20 14:03:11Z",
    "2026-11-20T14:03:11+00:00",
]
ACCOUNTS = [
    "123456789012",
    "210987654321",
    "12345678901",
    "1234567890123",
    "123456789012\n",
    "١٢٣٤٥٦٧٨٩٠١٢",  # Arabic-Indic digits: \d would take them, [0-9] does not
    "",
    None,
    0,
    123456789012,
    True,
    {"id": "123456789012"},
    ["123456789012"],
    DROP,
]
SOURCES = [
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "ec2.amazonaws.com",
    "signin.amazonaws.com",
    "iam.amazonaws.co",
    "",
    None,
    7,
    DROP,
]
NAMES = [
    "CreateAccessKey",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "ListAccessKeys",
    "AssumeRole",
    "createaccesskey",
    "",
    None,
    ["CreateAccessKey"],
    DROP,
]
IDS = ["e-1", "e-2", "", None, 5, DROP]
TYPES = ["Root", "IAMUser", "AssumedRole", "AWSService", "", None, 1, {"t": 1}, DROP]
ASSUMED_ROOT = ["true", "false", True, "TRUE", None, DROP]
IDENTITIES: list[Any] = [None, "Root", [], 3, DROP]  # replace the whole userIdentity
SESSIONS: list[Any] = [None, "x", [], {}, DROP]  # replace the whole sessionContext

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = {
    "eventTime": TIMES,
    "recipientAccountId": ACCOUNTS,
    "userIdentity.accountId": ACCOUNTS,
    "eventSource": SOURCES,
    "eventName": NAMES,
    "eventID": IDS,
    "userIdentity.type": TYPES,
    "userIdentity.sessionContext.assumedRoot": ASSUMED_ROOT,
    "userIdentity": IDENTITIES,
    "userIdentity.sessionContext": SESSIONS,
}
# Mostly well-formed noise, as in a real log file, with the odd broken field.
NOISE = record(
    eventSource="ec2.amazonaws.com",
    eventName="DescribeInstances",
    requestParameters={"maxResults": 5},
    responseElements=None,
    **{"userIdentity.type": "AssumedRole"},
)


@st.composite
def log_records(draw: st.DrawFn) -> Any:
    """One record: mostly noise with a field or two from the pools, sometimes anything."""
    kind = draw(st.sampled_from(["noise"] * 8 + ["create", "delete", "update", "other"]))
    if kind == "other":
        return draw(json_values)
    base = {
        "noise": NOISE,
        "create": record(),
        "delete": delete_record(),
        "update": update_record("Active"),
    }[kind]
    rec = copy.deepcopy(base)
    for dotted in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2, unique=True)):
        value = draw(st.sampled_from(FIELDS[dotted]))
        if isinstance(rec.get("userIdentity"), dict) or not dotted.startswith("userIdentity."):
            set_path(rec, dotted, value if value is DROP else copy.deepcopy(value))
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        key = draw(st.sampled_from(sorted(rec)))
        rec[key] = draw(json_values)
    return rec


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        events = call()
    except EventParseError as exc:
        return "error", (exc.path, exc.problem)
    # repr shows each value's type and an event_time's tzinfo, which == would not compare.
    return "events", (events, repr(events), [[type(v) for v in e] for e in events])


def _reference(records: list[Any]) -> list[RootKeyEvent]:
    return [
        event_module._parse_record(rec, f"$.Records[{i}]", InputForm.LOG_FILE, index=i)
        for i, rec in enumerate(records)
    ]


@SETTINGS
@given(st.lists(log_records(), max_size=12))
@example([NOISE, record()])
@example([{**NOISE, "eventTime": "2026-13-20T14:03:11Z"}, NOISE])
@example([NOISE, {**NOISE, "recipientAccountId": "١٢٣٤٥٦٧٨٩٠١٢"}])
@example([{**NOISE, "userIdentity": {**NOISE["userIdentity"], "type": 1}}])
def test_log_file_events_are_the_record_parsers(records: list[Any]) -> None:
    fast = _outcome(lambda: parse_input({"Records": records}))
    assert fast == _outcome(lambda: _reference(records))


@SETTINGS
@given(st.lists(log_records(), min_size=1, max_size=8))
def test_log_file_bytes_give_the_record_parsers_events(records: list[Any]) -> None:
    """The same through load_document, for documents that survive a JSON round trip."""
    data = json.dumps({"Records": records}).encode()
    fast = _outcome(lambda: parse_input(load_document(data)))
    assert fast == _outcome(lambda: _reference(json.loads(data)["Records"]))


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(GOOD_TIMES) | st.sampled_from(TIMES),
            st.sampled_from(ACCOUNTS[:3]) | st.sampled_from(ACCOUNTS),
            st.sampled_from(TYPES[:4]) | st.sampled_from(TYPES),
            st.sampled_from(SOURCES[1:4]) | st.sampled_from(SOURCES),
        ),
        max_size=12,
    )
)
def test_repeated_times_and_accounts_in_noise(fields: list[tuple[Any, Any, Any, Any]]) -> None:
    """Noise records that differ only in the values the loop remembers or checks first."""
    records = []
    for stamp, account, kind, source in fields:
        rec = copy.deepcopy(NOISE)
        for dotted, value in (
            ("eventTime", stamp),
            ("recipientAccountId", account),
            ("userIdentity.type", kind),
            ("eventSource", source),
        ):
            set_path(rec, dotted, value if value is DROP else copy.deepcopy(value))
        records.append(rec)
    fast = _outcome(lambda: parse_input({"Records": records}))
    assert fast == _outcome(lambda: _reference(records))


# ---------------------------------------------------------------------------------------------
# Big inputs are decoded and parsed with automatic garbage collection paused


def _big_log_file() -> list[Any]:
    """Enough noise records for both thresholds, cycling through the pools' values."""
    records = []
    for i in range(2 * event_module._BULK_RECORDS):
        rec = copy.deepcopy(NOISE)
        rec["eventID"] = f"e-{i}"
        rec["eventTime"] = GOOD_TIMES[i % len(GOOD_TIMES)]
        rec["recipientAccountId"] = ACCOUNTS[i % 2]
        rec["userIdentity"]["type"] = TYPES[i % 4]
        records.append(rec)
    return records


def test_big_log_file_gives_the_record_parsers_events_and_restores_gc() -> None:
    records = _big_log_file()
    data = json.dumps({"Records": records}).encode()
    assert len(data) >= event_module._BULK_BYTES
    assert gc.isenabled()
    fast = _outcome(lambda: parse_input(load_document(data)))
    assert gc.isenabled()
    assert fast[0] == "events"
    assert fast == _outcome(lambda: _reference(records))


def test_gc_is_paused_while_a_big_input_is_decoded_and_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, bool]] = []
    loads, parse = json.loads, event_module._parse_log_records
    monkeypatch.setattr(
        event_module.json,
        "loads",
        lambda data: seen.append(("loads", gc.isenabled())) or loads(data),
    )
    monkeypatch.setattr(
        event_module,
        "_parse_log_records",
        lambda records: seen.append(("parse", gc.isenabled())) or parse(records),
    )
    big = json.dumps({"Records": _big_log_file()}).encode()
    small = json.dumps({"Records": [NOISE]}).encode()
    parse_input(load_document(big))
    parse_input(load_document(small))
    assert seen == [("loads", False), ("parse", False), ("loads", True), ("parse", True)]
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"Records": [' + b'{"a": 1},' * (1 << 17) + b"]", "not JSON"),
        (
            b" " * (1 << 20) + b'{"Records": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
            "JSON nested too deeply",
        ),
        (
            json.dumps({"Records": [*_big_log_file(), {"eventName": "CreateAccessKey"}]}).encode(),
            "missing",
        ),
    ],
    ids=["not-json", "too-deep", "bad-record"],
)
def test_gc_is_restored_when_a_big_input_is_rejected(data: bytes, problem: str) -> None:
    assert len(data) >= event_module._BULK_BYTES
    with pytest.raises(EventParseError) as info:
        parse_input(load_document(data))
    assert info.value.problem.startswith(problem)
    assert gc.isenabled()


def test_gc_left_disabled_by_the_caller_stays_disabled() -> None:
    data = json.dumps({"Records": _big_log_file()}).encode()
    gc.disable()
    try:
        parse_input(load_document(data))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_resumes_when_the_last_pauser_leaves() -> None:
    """Threads parsing at once: the first to pause does not resume under the others."""
    event_module._pause_gc()
    event_module._pause_gc()
    try:
        assert not gc.isenabled()
        event_module._resume_gc()
        assert not gc.isenabled()
    finally:
        event_module._resume_gc()
    assert gc.isenabled()
