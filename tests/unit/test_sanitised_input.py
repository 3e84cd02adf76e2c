"""Input that is not textbook: one garbled field never costs a record, one garbled record never
costs a log file, and only input that is not CloudTrail at all is an EventParseError."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from detector.domain.event import (
    RecordError,
    RootKeyEvent,
    finding_fields_sound,
    parse_input,
    parse_records,
)
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import DROP, delete_record, envelope, log_file, record, update_record

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow],
)

ROOT_KEY_RECORDS = [
    record(),
    delete_record(),
    update_record("Inactive"),
    update_record("Active"),
    record(requestParameters={"userName": "ci-publisher"}),
    record(errorCode="LimitExceeded", errorMessage="quota", responseElements=None),
]
# What sanitisers and exporters leave behind, and anything else JSON can hold.
SANITISED = [
    "redacted",
    "REDACTED",
    "",
    None,
    "123456789",
    "1234567890",
    "1234567890123",
    "{{ event_time }}",
    "0000-00-00T00:00:00Z",
    0,
    -1,
    1.5,
    True,
    [],
    {},
    ["redacted"],
    {"redacted": True},
    "x" * 5000,
    DROP,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
garbage = st.sampled_from(SANITISED) | json_values
# Fields whose value decides what a record is (a root access-key call or not) or its verdict.
DECIDING = ("eventSource", "eventName", "userIdentity", "requestParameters", "errorCode")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]]:
    """(the valid record, the record with one field replaced by garbage or dropped, its path)."""
    original = draw(st.sampled_from(ROOT_KEY_RECORDS))
    rec = copy.deepcopy(original)
    path = draw(st.sampled_from(_paths(rec)))
    parent: Any = rec
    for step in path[:-1]:
        parent = parent[step]
    value = draw(garbage)
    if value is DROP and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = None if value is DROP else copy.deepcopy(value)
    return original, rec, path


def _deciding(path: tuple[Any, ...]) -> bool:
    """Whether the field at ``path`` can change what the record is or its verdict."""
    head = path[0]
    if head == "userIdentity":
        return len(path) == 1 or path[1] == "type"
    return head in DECIDING


@SETTINGS
@given(corrupted())
@example((record(), record(eventTime="redacted"), ("eventTime",)))
@example((record(), record(eventSource="aws:s3"), ("eventSource",)))
@example((record(), record(recipientAccountId="1234567890123"), ("recipientAccountId",)))
def test_one_corrupted_field_never_raises_but_for_input_that_is_not_cloudtrail(
    drawn: tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]],
) -> None:
    original, rec, path = drawn
    (expected,) = parse_input(original)
    for doc in (rec, envelope(rec), log_file(rec)):
        try:
            (event,) = parse_input(doc)
        except EventParseError:
            # Only when the record no longer names an AWS event source: another service's.
            source = rec.get("eventSource")
            assert isinstance(source, str)
            assert source
            assert not source.endswith("amazonaws.com")
            continue
        verdict = classify(event)
        assert isinstance(verdict, Verdict)
        finding_fields_sound(event)  # answers for any event
        if not _deciding(path):
            assert verdict is classify(expected), path
            if path[0] != "responseElements" and path[-1] != "accessKeyId":
                assert event.access_key_id == expected.access_key_id, path


@SETTINGS
@given(
    st.lists(st.sampled_from(ROOT_KEY_RECORDS), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=6),
    garbage | corrupted().map(lambda t: t[1]),
)
def test_a_log_file_with_one_garbled_record_still_yields_the_others(
    records: list[dict[str, Any]], where: int, bad: Any
) -> None:
    records = [{**r, "eventID": f"e-{i}"} for i, r in enumerate(records)]
    where = min(where, len(records))
    garbled = [*records[:where], bad, *records[where:]]

    items = parse_records({"Records": garbled})

    assert len(items) == len(garbled)
    others = [item for i, item in enumerate(items) if i != where]
    assert all(isinstance(item, RootKeyEvent) for item in others)
    want = [(r["eventID"], classify(parse_input(r)[0])) for r in records]
    got = [(e.event_id, classify(e)) for e in others if isinstance(e, RootKeyEvent)]
    assert got == want
    if isinstance(items[where], RecordError):
        error = items[where]
        assert isinstance(error, RecordError)
        assert error.index == where
        assert error.error.path.startswith(f"$.Records[{where}]")


def test_a_sanitised_sample_keeps_its_verdict_and_names_what_it_lacks() -> None:
    """A root CreateAccessKey as public samples print it: 10- and 9-digit accounts, the time
    redacted, no eventID, null descriptive fields."""
    rec = record(
        eventTime="redacted",
        eventID=DROP,
        recipientAccountId="1234567890",
        sourceIPAddress=None,
        userAgent=None,
        **{"userIdentity.accountId": "123456789"},
    )
    (event,) = parse_input(rec)
    assert classify(event) is Verdict.CREATED
    assert event.account_id is None
    assert set(event.untrusted) == {
        "$.eventID",
        "$.eventTime",
        "$.recipientAccountId",
        "$.userIdentity.accountId",
    }
    assert finding_fields_sound(event) == (
        "no 12-digit account id ($.recipientAccountId, $.userIdentity.accountId not one);"
        " $.eventTime could not be read; $.eventID could not be read"
    )
    # Delivered by EventBridge, the envelope's account (set by AWS) is the account.
    (wrapped,) = parse_input(envelope(rec))
    assert wrapped.account_id == "123456789012"
    assert finding_fields_sound(wrapped) == (
        "$.detail.eventTime could not be read; $.detail.eventID could not be read"
    )
