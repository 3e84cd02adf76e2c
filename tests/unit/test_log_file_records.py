"""A CloudTrail log file is its records, each read on its own by the one record parser.

The backfill relies on it: it parses only the records that can matter, one at a time, with
``parse_log_record``. So a log file must give, in order, the events its records give one by
one (each with its position as ``index`` and in its paths), and a record that is not CloudTrail
costs only its own place. Records draw their identifying fields from
small pools of valid and odd values of every JSON type, which repeat across a file.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from detector.domain.document import load_document
from detector.domain.event import (
    RecordError,
    RootKeyEvent,
    parse_input,
    parse_log_record,
    parse_records,
)
from detector.domain.verdict import Verdict, classify
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
        items = call()
    except EventParseError as exc:
        return "error", (exc.path, exc.problem)
    view = [
        ("record-error", i.index, i.error.path, i.error.problem)
        if isinstance(i, RecordError)
        # repr shows each value's type and an event_time's tzinfo, which == would not compare.
        else (i, repr(i), [type(v) for v in i])
        for i in items
    ]
    return "items", view


def _one_at_a_time(records: list[Any]) -> list[RootKeyEvent | RecordError]:
    """What the backfill does: each record on its own, read at its position."""
    items: list[RootKeyEvent | RecordError] = []
    for index, rec in enumerate(records):
        try:
            items.append(parse_log_record(rec, index))
        except EventParseError as exc:
            items.append(RecordError(index, exc))
    return items


@SETTINGS
@given(st.lists(log_records(), max_size=12))
@example([NOISE, record()])
@example([{**NOISE, "eventTime": "2026-13-20T14:03:11Z"}, NOISE])
@example([NOISE, {**NOISE, "recipientAccountId": "١٢٣٤٥٦٧٨٩٠١٢"}])
@example([{**NOISE, "userIdentity": {**NOISE["userIdentity"], "type": 1}}])
def test_a_log_file_gives_its_records_events_one_by_one(records: list[Any]) -> None:
    whole = _outcome(lambda: parse_records({"Records": records}))
    assert whole == _outcome(lambda: _one_at_a_time(records))


@SETTINGS
@given(st.lists(log_records(), max_size=12))
def test_a_record_that_cannot_be_a_root_key_call_is_ignored(records: list[Any]) -> None:
    """What lets the backfill skip records unparsed (``logscan.record_might_match``)."""
    for rec, event in zip(records, parse_records({"Records": records}), strict=True):
        if isinstance(event, RecordError):
            assert not isinstance(rec, dict) or rec.get("eventSource") != "iam.amazonaws.com"
            continue
        identity = rec.get("userIdentity")
        name = rec.get("eventName")
        can_be = (
            rec.get("eventSource") == "iam.amazonaws.com"
            and isinstance(name, str)
            and name in {"CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey"}
            and isinstance(identity, dict)
            and identity.get("type") == "Root"
        )
        if not can_be:
            assert classify(event) is Verdict.IGNORED


# ---------------------------------------------------------------------------------------------
# Big inputs


def _big_log_file(n: int = 2000) -> list[Any]:
    """Noise records cycling through the pools' valid values."""
    records = []
    for i in range(n):
        rec = copy.deepcopy(NOISE)
        rec["eventID"] = f"e-{i}"
        rec["eventTime"] = GOOD_TIMES[i % len(GOOD_TIMES)]
        rec["recipientAccountId"] = ACCOUNTS[i % 2]
        rec["userIdentity"]["type"] = TYPES[i % 4]
        records.append(rec)
    return records


def test_a_big_log_file_gives_its_records_events_one_by_one() -> None:
    records = _big_log_file()
    data = json.dumps({"Records": records}).encode()
    assert len(data) >= 1 << 20
    whole = _outcome(lambda: parse_records(load_document(data)))
    assert whole[0] == "items"
    assert whole == _outcome(lambda: _one_at_a_time(records))


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        (b'{"Records": [' + b'{"a": 1},' * (1 << 17) + b"]", "$", "not JSON"),
        (
            b" " * (1 << 20) + b'{"Records": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
            "$",
            "JSON nested too deeply",
        ),
    ],
    ids=["not-json", "too-deep"],
)
def test_a_bad_big_input_is_rejected_naming_the_path(data: bytes, path: str, problem: str) -> None:
    assert len(data) >= 1 << 20
    with pytest.raises(EventParseError) as info:
        parse_input(load_document(data))
    assert info.value.path == path
    assert info.value.problem.startswith(problem)


def test_a_big_log_file_with_one_garbled_record_still_yields_the_others() -> None:
    records = [*_big_log_file(), "garbled", {"eventName": "CreateAccessKey"}, record()]
    items = parse_records(load_document(json.dumps({"Records": records}).encode()))
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [(e.index, e.error.path) for e in errors] == [(2000, "$.Records[2000]")]
    events = [i for i in items if isinstance(i, RootKeyEvent)]
    assert len(events) == 2002
    assert classify(events[-2]) is Verdict.IGNORED  # no eventSource: cannot be a root key event
    assert classify(events[-1]) is Verdict.CREATED
    assert events[-1].index == 2002
