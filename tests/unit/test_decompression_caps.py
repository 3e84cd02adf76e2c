"""Decompression and JSON bombs are refused before they take the memory (the refusal is
asserted; nothing is timed or measured)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from detector import cli
from detector.cli import backfill
from detector.domain.document import (
    MAX_INPUT_BYTES,
    MAX_PARSE_BYTES,
    decompress,
    load_document,
    parse_cost,
)
from detector.domain.logscan import scan_log
from detector.errors import EventParseError
from tests.factories import record


def _bomb(unit: bytes, size: int) -> bytes:
    """A log-file-shaped JSON of ``size`` bytes of ``unit``, gzipped (a few dozen KB)."""
    count = size // len(unit)
    return gzip.compress(b'{"Records":[' + unit * count + b"{}]}", compresslevel=9)


# What drove classify to 803 MB: about 30 MB of tiny containers in a 29 KB gzip.
CONTAINERS = _bomb(b"[],", 30_000_000)
# More than MAX_INPUT_BYTES once decompressed, from a small gzip.
LARGE = _bomb(b" ", MAX_INPUT_BYTES + (1 << 20))


def test_the_bombs_are_small() -> None:
    assert len(CONTAINERS) < 64_000
    assert len(LARGE) < 200_000


def test_a_gzip_past_the_size_cap_is_refused() -> None:
    with pytest.raises(EventParseError) as info:
        load_document(LARGE)
    assert "decompressed size exceeds" in info.value.problem
    with pytest.raises(EventParseError):
        decompress(LARGE)


def test_a_plain_file_past_the_size_cap_is_refused() -> None:
    with pytest.raises(EventParseError) as info:
        load_document(b" " * (MAX_INPUT_BYTES + 1))
    assert "larger than" in info.value.problem


def test_a_json_bomb_within_the_size_cap_is_refused_before_parsing() -> None:
    with pytest.raises(EventParseError) as info:
        load_document(CONTAINERS)
    assert "parsing would take" in info.value.problem


@pytest.mark.parametrize(
    "unit", [b"[],", b"{},", b'"ab",', b"1234,"], ids=["lists", "objects", "strings", "numbers"]
)
def test_every_kind_of_json_bomb_at_the_size_cap_is_costed_past_the_budget(unit: bytes) -> None:
    """Tiny values cost 8 (numbers) to 25 (empty objects) times their bytes once parsed."""
    data = unit * (MAX_INPUT_BYTES // len(unit))
    assert parse_cost(data) > MAX_PARSE_BYTES


def test_a_real_sized_log_file_is_within_the_budget() -> None:
    """CloudTrail's own records cost about 4 times their bytes: a log file at the size cap
    (64 MiB) fits the parse budget."""
    line = json.dumps(record(), separators=(",", ":")).encode() + b","
    data = line * (MAX_INPUT_BYTES // len(line))
    assert parse_cost(data) < MAX_PARSE_BYTES


def test_classify_reports_the_bomb_and_goes_on(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(CONTAINERS)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record()))
    out = io.StringIO()
    assert cli.classify_files([str(bomb), str(good)], out) == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["source"] == str(bomb)
    assert "parsing would take" in first["error"]
    assert second["verdict"] == "root-key-created"


@pytest.mark.parametrize("bomb", [CONTAINERS, LARGE], ids=["json-bomb", "gzip-bomb"])
def test_the_backfill_refuses_a_bomb(bomb: bytes) -> None:
    # "Root", an access-key call and IAM's source inside: the bomb reaches the JSON parser.
    rec = json.dumps(record(), separators=(",", ":")).encode()
    data = gzip.decompress(bomb) if bomb is CONTAINERS else None
    if data is not None:
        bomb = gzip.compress(data.replace(b'{"Records":[', b'{"Records":[' + rec + b",", 1))
    with pytest.raises(EventParseError):
        scan_log(bomb)


def test_the_backfill_decompresses_a_bounded_number_of_objects_at_once() -> None:
    assert backfill.MAX_INFLATING * MAX_INPUT_BYTES <= backfill.MAX_INFLIGHT_BYTES
    assert backfill.MAX_INFLATING < backfill.DEFAULT_WORKERS
