"""The contract layer's parsing of untrusted input: Security Hub timestamps and whole findings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sandbox.securityhub import finding_error, label_of_normalized, parse_timestamp

# The API Reference's "Timestamps", restated: date T time, up to 9 fraction digits, then Z or
# an offset of hours with optional (colon and) minutes.
GRAMMAR = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, datetime]:
    """A timestamp in one of the documented forms, and the instant it names (to the ms)."""
    local = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    local = local.replace(microsecond=0)
    digits = draw(st.integers(0, 9))
    frac = draw(st.text("0123456789", min_size=digits, max_size=digits))
    minutes = draw(st.integers(-18 * 60, 18 * 60))
    form = draw(st.sampled_from(["Z", "HH:MM", "HHMM", "HH"]))
    if form == "HH":
        minutes -= minutes % 60 if minutes >= 0 else -((-minutes) % 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    zone = {
        "Z": "Z",
        "HH:MM": f"{sign}{hh:02}:{mm:02}",
        "HHMM": f"{sign}{hh:02}{mm:02}",
        "HH": f"{sign}{hh:02}",
    }[form]
    offset = 0 if form == "Z" else minutes
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + zone
    nanos = int(frac.ljust(9, "0")) if frac else 0
    instant = local.replace(tzinfo=UTC) + timedelta(
        milliseconds=(nanos + 500_000) // 1_000_000, minutes=-offset
    )
    return text, instant


@given(timestamps())
def test_every_documented_form_names_its_instant(case: tuple[str, datetime]) -> None:
    text, instant = case
    assert parse_timestamp(text) == instant


@given(st.text(max_size=40))
def test_any_text_is_a_timestamp_only_in_the_documented_grammar(text: str) -> None:
    parsed = parse_timestamp(text)
    if parsed is not None:
        assert GRAMMAR.fullmatch(text)
        assert parsed.tzinfo is UTC


@given(timestamps(), st.integers(0, 40), st.characters())
def test_a_mutated_timestamp_is_refused_or_still_documented(
    case: tuple[str, datetime], at: int, char: str
) -> None:
    text = case[0]
    at %= len(text)
    mutated = text[:at] + char + text[at + 1 :]
    if parse_timestamp(mutated) is not None:
        assert GRAMMAR.fullmatch(mutated)


def test_offsets_beyond_18_hours_and_impossible_dates_are_refused() -> None:
    for text in (
        "2024-01-04T15:25:10+18:01",
        "2024-01-04T15:25:10-1860",
        "2024-02-30T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-18:00",  # past year 9999 in UTC
        "2024-01-04T15:25:10.Z",
    ):
        assert parse_timestamp(text) is None, text
    assert parse_timestamp("2024-01-04T15:25:10+18:00") is not None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "Id",
        "UpdatedAt",
        "Severity",
        "Resources",
        "ProductFields",
        "Types",
        "FindingProviderFields",
        "Compliance",
        "Workflow",
        "Note",
        "Action",
        "SchemaVersion",
        "Confidence",
    ]
)


def _valid() -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": "f",
        "ProductArn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
        "GeneratorId": "g",
        "AwsAccountId": "123456789012",
        "CreatedAt": "2026-11-30T12:00:00Z",
        "UpdatedAt": "2026-11-30T12:00:00Z",
        "Title": "t",
        "Description": "d",
        "Types": ["TTPs/x"],
        "Severity": {"Label": "LOW"},
        "Resources": [{"Type": "Other", "Id": "r"}],
    }


def test_the_valid_finding_is_valid() -> None:
    assert finding_error(_valid()) is None


@given(JSON)
def test_any_json_is_refused_with_a_reason_never_a_crash(doc: Any) -> None:
    assert isinstance(finding_error(doc), str)


@given(FIELDS, JSON)
def test_any_value_in_any_field_is_judged_never_a_crash(name: str, value: Any) -> None:
    finding = _valid()
    finding[name] = value
    error = finding_error(finding)
    assert error is None or isinstance(error, str)


def test_normalized_severity_maps_to_the_documented_labels() -> None:
    labels = [label_of_normalized(n) for n in (0, 1, 39, 40, 69, 70, 89, 90, 100)]
    assert labels == [
        "INFORMATIONAL",
        "LOW",
        "LOW",
        "MEDIUM",
        "MEDIUM",
        "HIGH",
        "HIGH",
        "CRITICAL",
        "CRITICAL",
    ]
