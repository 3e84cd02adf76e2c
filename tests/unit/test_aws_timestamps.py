"""The clients' timestamp parser reads every time AWS sends exactly as botocore's own does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.utils
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detector.adapters.aws import parse_timestamp

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = st.sampled_from(["Z", "+00:00", "-00:00", "+05:30", "-08:00", "+0100", "+14:00"])
FRACTIONS = st.one_of(st.just(""), st.from_regex(r"\A\.[0-9]{1,9}\Z"))


@SETTINGS
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31)),
    FRACTIONS,
    ZONES,
    st.sampled_from(["T", " "]),
)
def test_aws_iso_times_parse_to_the_same_instant_as_botocore(
    when: datetime, fraction: str, zone: str, sep: str
) -> None:
    text = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction + zone

    ours, theirs = parse_timestamp(text), botocore.utils.parse_timestamp(text)

    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


# Anything shaped like a timestamp, valid or not: either botocore raises, or both agree.
LOOSE = st.from_regex(
    r"\A[0-9]{4}-?[0-9]{2}-?[0-9]{2}([T ][0-9]{2}(:?[0-9]{2}(:?[0-9]{2}([.,][0-9]{1,9})?)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?\Z"
)


@SETTINGS
@given(LOOSE | st.text(max_size=40))
@example("010100-00-30")  # dateutil reads a -30 h zone, which no datetime can use
@example("1000000000000")  # an epoch botocore cannot place (RuntimeError)
def test_any_text_parses_as_botocore_parses_it_or_botocore_refuses_it(text: str) -> None:
    try:
        theirs = botocore.utils.parse_timestamp(text)
        offset = theirs.utcoffset()
    except Exception:  # noqa: BLE001 - any refusal of botocore's (ValueError, RuntimeError, ...)
        return
    ours = parse_timestamp(text)
    assert ours == theirs
    assert ours.utcoffset() == offset


@pytest.mark.parametrize(
    "value",
    [1764352800, 1764352800.25, "1764352800", "Sat, 28 Nov 2026 18:00:00 GMT", "2026-11-28T18:00"],
)
def test_other_forms_are_botocores(value: object) -> None:
    assert parse_timestamp(value) == botocore.utils.parse_timestamp(value)


def test_a_zone_is_kept() -> None:
    parsed = parse_timestamp("2026-11-28T18:00:00.123+05:30")
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)
    assert parsed.astimezone(UTC) == datetime(2026, 11, 28, 12, 30, 0, 123000, tzinfo=UTC)
