"""What ``redrive --from-stack`` takes from a deployed function: the detector's settings only,
each plain text; and a queue URL only if it is one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.adapters.stack import DETECTOR_SETTINGS, detector_settings, queue_url_ok
from detector.errors import StackError


def test_the_settings_taken_are_the_detector_s_own_and_no_sdk_variable() -> None:
    assert {"LEDGER_TABLE", "SLACK_MODE", "SLACK_TOKEN_SECRET_ID", "MEMBER_ROLE_NAME"} <= (
        DETECTOR_SETTINGS
    )
    assert not {"AWS_REGION", "AWS_ENDPOINT_URL"} & DETECTOR_SETTINGS


def test_only_the_detector_s_variables_are_kept() -> None:
    variables = {
        "LEDGER_TABLE": "rkd-ledger",
        "SLACK_MODE": "bot",
        "AWS_ENDPOINT_URL": "https://elsewhere.example",  # would redirect the operator's calls
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "PYTHONPATH": "/opt/elsewhere",
    }
    assert detector_settings(variables) == {"LEDGER_TABLE": "rkd-ledger", "SLACK_MODE": "bot"}


@pytest.mark.parametrize("value", ["bot\x1b]0;pwned\x07", "line\nbreak", "é", 10, None, "x" * 4097])
def test_a_value_that_is_not_plain_text_is_refused_without_showing_it(value: object) -> None:
    with pytest.raises(StackError) as caught:
        detector_settings({"SLACK_MODE": value})
    assert "SLACK_MODE" in str(caught.value)
    assert str(value) not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.us-east-1.amazonaws.com/123456789012/root-key-detector-dlq",
        "http://127.0.0.1:5000/123456789012/q.fifo",
    ],
)
def test_queue_urls(url: str) -> None:
    assert queue_url_ok(url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "https://sqs.us-east-1.amazonaws.com/q",
        "https://user@sqs.us-east-1.amazonaws.com/123456789012/q",
        "https://sqs.us-east-1.amazonaws.com/123456789012/q?x=1",
        "https:///123456789012/q",
        "",
    ],
)
def test_not_queue_urls(url: str) -> None:
    assert not queue_url_ok(url)


@given(st.dictionaries(st.text(max_size=30), st.one_of(st.text(max_size=50), st.integers())))
def test_any_environment_is_kept_or_refused_never_crashes(variables: dict[str, object]) -> None:
    try:
        kept = detector_settings(variables)
    except StackError:
        return
    assert set(kept) <= DETECTOR_SETTINGS
    assert all(kept[k] == variables[k] for k in kept)
