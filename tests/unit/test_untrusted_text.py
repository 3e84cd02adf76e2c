"""Untrusted text at scale and on the way out: bounded work, no raw bidi in log or CLI lines,
no emoji or link Slack would make of an attacker's text."""

from __future__ import annotations

import io
import json
import logging
import tracemalloc
from pathlib import Path

import pytest

from detector import cli
from detector.domain.text import ELLIPSIS, clean, mrkdwn
from detector.domain.verdict import Verdict
from detector.log import JsonFormatter
from tests.factories import as_bytes, record
from tests.unit.contracts import BIDI
from tests.unit.test_message import dumped, message_for

TEN_MILLION = 10_000_000


@pytest.mark.parametrize(
    "text",
    [
        "é" * TEN_MILLION,  # kept characters, not ASCII: the slow path
        "\u200b" * TEN_MILLION,  # dropped characters: nothing to show however far one reads
        "a " * (TEN_MILLION // 2),  # folded whitespace
    ],
    ids=["kept", "dropped", "folded"],
)
def test_clean_reads_only_what_its_output_needs(text: str) -> None:
    """A 10 M-character field costs what a 300-character one does: the memory clean() takes
    is bounded by the output length (a whole pass over the field would copy it)."""
    tracemalloc.start()
    try:
        out = clean(text, 300)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(out) <= 300
    assert out.endswith(ELLIPSIS)  # the cut is visible
    assert peak < 200_000


def test_clean_shows_a_cut_even_when_the_window_held_little() -> None:
    assert clean("x" + "\u200b" * 100_000 + "y", 10) == "x" + ELLIPSIS


def _log_line(**extra: object) -> str:
    record_ = logging.makeLogRecord({"msg": "classified", "levelname": "INFO", **extra})
    return JsonFormatter().format(record_)


def test_log_lines_keep_no_raw_bidi_or_control_characters() -> None:
    hostile = "evil\u202etxt.exe\u2066x\u2069\u200f\x1b[31m"
    line = _log_line(user_agent=hostile, event_id="e-\u061c1")
    assert not any(ch in BIDI for ch in line)
    assert "\x1b" not in line
    assert line.isascii()
    doc = json.loads(line)
    assert doc["user_agent"] == hostile  # escaped, not lost: still searchable
    assert doc["event_id"] == "e-\u061c1"


def test_classify_lines_keep_no_raw_bidi(tmp_path: Path) -> None:
    name = "Describe\u202eInstances\u2066"
    path = tmp_path / "event.json"
    path.write_bytes(as_bytes(record(eventSource="ec2.amazonaws.com", eventName=name)))
    out = io.StringIO()
    assert cli.classify_files([str(path)], out) == 0
    line = out.getvalue()
    assert line.isascii()
    assert json.loads(line)["event_name"] == name


@pytest.mark.parametrize(
    "hostile",
    [
        ":skull: :admin-approved:",
        "evil.com1",
        "evil.com_x",
        "пример.рф",
        "exämple.com",
        "WWW.EVIL.COM",
        "evil\u3002com",
    ],
)
def test_emoji_codes_and_domains_from_an_event_are_inert_in_the_alert(hostile: str) -> None:
    payload = message_for(Verdict.CREATE_FAILED, errorMessage=hostile, userAgent=hostile)
    text = dumped(payload.payload())
    assert hostile not in text
    assert hostile.replace(":", "") in text.replace("\u200b", "").replace(":", "")  # still shown
    assert mrkdwn(hostile, 300) in text
