"""The backfill's cheap path loses nothing: the same root key lines as parsing and classifying
every record, on every fixture file, in every layout, and on generated log files."""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import cli
from detector.adapters.archive import logs_root
from detector.cli import backfill
from detector.cli.output import event_line
from detector.cli.progress import Progress
from detector.domain import logscan
from detector.domain.document import decompress, load_document
from detector.domain.event import RecordError, parse_input, parse_records
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import DROP, delete_record, record, update_record

EVENTS = Path(__file__).parent.parent / "events"
VALID = sorted(
    p
    for d in ("cloudtrail", "eventbridge", "logfiles", "sanitised")
    for p in (EVENTS / d).glob("*")
)
INVALID = sorted((EVENTS / "invalid").glob("*"))
SOURCE = "s3://bucket/key.json.gz"
# Invalid files shaped {"Records": [...]} whose records are another service's.
RECORDS_NOT_CLOUDTRAIL = {"s3_event_notification.json", "sns_lambda_event.json"}


def full_lines(data: bytes) -> list[dict[str, Any]]:
    """What ``classify`` prints for every record, kept where the verdict is not ignored."""
    return [
        event_line(SOURCE, event) | {"verdict": verdict.value}
        for event in parse_records(load_document(data))
        if not isinstance(event, RecordError)
        and (verdict := classify(event)) is not Verdict.IGNORED
    ]


def backfill_lines(data: bytes) -> list[dict[str, Any]]:
    return [
        event_line(SOURCE, found.event) | {"verdict": found.verdict.value}
        for found in logscan.scan_log(data).events
    ]


def as_log_file(path: Path) -> dict[str, Any]:
    """A fixture as the log file CloudTrail would have written it to S3."""
    doc = json.loads(path.read_text())
    if "Records" in doc:
        return doc
    return {"Records": [doc.get("detail", doc)]}


# How a log file's JSON can be laid out: CloudTrail's own (minified, eventVersion first) takes
# the fast path; the others must fall back to parsing the whole file.
LAYOUTS: dict[str, Callable[[Any], bytes]] = {
    "cloudtrail": lambda doc: json.dumps(doc, separators=(",", ":")).encode(),
    "spaced": lambda doc: json.dumps(doc).encode(),
    "pretty": lambda doc: json.dumps(doc, indent=2).encode() + b"\n",
    "sorted-keys": lambda doc: json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(),
    "non-ascii": lambda doc: json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
}


@pytest.mark.parametrize(
    ("layout", "gzipped"), [*((name, True) for name in sorted(LAYOUTS)), ("cloudtrail", False)]
)
@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_gives_the_lines_full_classification_gives(
    path: Path, layout: str, gzipped: bool
) -> None:
    data = LAYOUTS[layout](as_log_file(path))
    if gzipped:
        data = gzip.compress(data)
    assert backfill_lines(data) == full_lines(data)


@pytest.mark.parametrize("path", sorted((EVENTS / "logfiles").glob("*")), ids=lambda p: p.name)
def test_log_files_as_cloudtrail_wrote_them_take_the_fast_path(path: Path) -> None:
    data = path.read_bytes()
    assert logscan.candidate_records(data) is not None
    lines = backfill_lines(gzip.compress(data))
    assert lines == full_lines(data)
    assert lines  # each log file holds root key events


def test_all_fixture_records_in_one_file_cover_every_verdict() -> None:
    # Sanitised records lack eventIDs, which the fast path counts: they are tested above.
    records = [r for p in VALID if p.parent.name != "sanitised" for r in as_log_file(p)["Records"]]
    data = LAYOUTS["cloudtrail"]({"Records": records})
    assert logscan.candidate_records(data) is not None
    lines = backfill_lines(gzip.compress(data))
    assert lines == full_lines(data)
    assert {line["verdict"] for line in lines} == {v.value for v in Verdict} - {"ignored"}
    assert len(lines) < len(records)  # the ignored ones are left out


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_inputs_give_an_error_or_nothing(path: Path) -> None:
    data = path.read_bytes()
    with pytest.raises(EventParseError):
        parse_input(load_document(data))
    assert full_lines(data) == [] if path.name in RECORDS_NOT_CLOUDTRAIL else True
    with contextlib.suppress(EventParseError):
        assert backfill_lines(gzip.compress(data)) == []


# ---------------------------------------------------------------------------------------------
# Cheap first


def _noise(n: int) -> list[dict[str, Any]]:
    """IAM users and roles at work: nothing about root."""
    out = []
    for i in range(n):
        rec = record(
            eventName=["ListRoles", "CreateAccessKey", "DeleteAccessKey", "GetRole"][i % 4],
            eventID=f"00000000-0000-4000-8000-{i:012d}",
            **{"userIdentity.type": "IAMUser", "userIdentity.arn": "arn:aws:iam::1:user/ci"},
        )
        out.append(rec)
    return out


def _count_json_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(logscan.json, "loads", counting)
    return sizes


def test_a_file_without_root_is_skipped_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_json_loads(monkeypatch)
    data = gzip.compress(LAYOUTS["cloudtrail"]({"Records": _noise(500)}))
    scan = logscan.scan_log(data)
    assert scan.skipped
    assert scan.events == ()
    assert parsed == []
    assert scan.raw_bytes == len(gzip.decompress(data))


def test_root_without_key_calls_is_skipped_without_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed = _count_json_loads(monkeypatch)
    console = record(eventName="ConsoleLogin", eventSource="signin.amazonaws.com")
    others = [r for r in _noise(40) if r["eventName"] in {"ListRoles", "GetRole"}]
    scan = logscan.scan_log(LAYOUTS["cloudtrail"]({"Records": [*others, console]}))
    assert scan.skipped
    assert parsed == []


def test_only_the_records_holding_root_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_json_loads(monkeypatch)
    records = _noise(1000)
    records.insert(700, record())  # root CreateAccessKey
    records.insert(300, record(eventName="ListAccessKeys", eventID="list-by-root"))
    data = LAYOUTS["cloudtrail"]({"Records": records})
    scan = logscan.scan_log(gzip.compress(data))
    assert not scan.skipped
    assert [(f.index, f.verdict) for f in scan.events] == [(701, Verdict.CREATED)]
    assert scan.candidates == 1
    assert len(parsed) == 2  # the two records holding "Root", never the file
    assert max(parsed) < 2000


def test_a_record_nested_like_a_record_sends_the_file_to_the_full_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An object inside a record that starts like a record: the boundaries are no longer one
    # per record, which the eventID count notices; the whole file is parsed instead.
    odd = _noise(1)[0] | {"items": [{"a": 1}, {"eventVersion": "1.0", "x": 1}]}
    records = [*_noise(5), odd, *_noise(5), record(), delete_record()]
    for n, rec in enumerate(records):
        rec["eventID"] = f"id-{n}"
    data = LAYOUTS["cloudtrail"]({"Records": records})
    assert b'},{"eventVersion":' in data.split(b'"items"')[1][:60]
    assert logscan.candidate_records(data) is None
    assert backfill_lines(data) == full_lines(data)
    assert [line["source"] for line in backfill_lines(data)] == [f"{SOURCE}#11", f"{SOURCE}#12"]


def test_a_root_record_holding_a_nested_record_is_still_found() -> None:
    inner = {"eventVersion": "1.0", "eventID": "inner"}
    rec = record(responseElements={"items": [{"a": 1}, inner]})
    data = LAYOUTS["cloudtrail"]({"Records": [*_noise(3), rec]})
    assert logscan.candidate_records(data) is None
    assert backfill_lines(data) == full_lines(data)
    assert len(backfill_lines(data)) == 1


@pytest.mark.parametrize("layout", ["cloudtrail", "spaced"])
def test_a_root_key_record_with_a_garbled_field_is_found_naming_it(layout: str) -> None:
    records = [*_noise(5), record(eventTime="yesterday"), record(eventID="after")]
    lines = backfill_lines(LAYOUTS[layout]({"Records": records}))
    assert [(line["source"], line.get("untrusted")) for line in lines] == [
        (f"{SOURCE}#5", ["$.Records[5].eventTime"]),
        (f"{SOURCE}#6", None),
    ]
    assert lines == full_lines(LAYOUTS[layout]({"Records": records}))


@pytest.mark.parametrize("layout", ["cloudtrail", "spaced"])
def test_a_garbled_record_that_cannot_match_costs_nothing(layout: str) -> None:
    records = [*_noise(3), {"eventID": "x", "eventName": "ListRoles"}, "garbled", record()]
    data = LAYOUTS[layout]({"Records": records})
    lines = backfill_lines(data)
    assert [line["source"] for line in lines] == [f"{SOURCE}#5"]
    assert lines == full_lines(data)


# ---------------------------------------------------------------------------------------------
# Objects that are not CloudTrail log files


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not a JSON object"),
        (b"garbage", "not a JSON object"),
        (gzip.compress(b"[1, 2]"), "not a JSON object"),
        (gzip.compress(b'{"Records": '), "not a JSON object"),
        (gzip.compress(b'{"foo": 1}'), "$.Records: missing"),
        (gzip.compress(b"\x00" * 10), "not a JSON object"),
        (gzip.compress(b"{}")[:-3], "truncated"),
        (gzip.compress(b"{}") + b"junk", "trailing garbage"),
        (b"\x1f\x8b" + b"\x00" * 20, "not a valid gzip stream"),
    ],
    ids=[
        "empty",
        "text",
        "list",
        "cut-json",
        "no-records",
        "zeros",
        "cut-gzip",
        "trailing",
        "bad-header",
    ],
)
def test_objects_that_are_not_log_files_are_errors(data: bytes, problem: str) -> None:
    with pytest.raises(EventParseError, match=problem.replace("$", r"\$")):
        logscan.scan_log(data)


def test_a_root_hit_that_is_not_json_is_an_error() -> None:
    data = b'{"Records":[{"eventVersion":"1","type":"Root" "CreateAccessKey" AccessKey"' + (
        b' "iam.amazonaws.com" "eventID":1}]}'
    )
    with pytest.raises(EventParseError, match="not JSON"):
        logscan.scan_log(gzip.compress(data))


def test_gzip_members_and_padding_are_read_and_a_bomb_is_stopped() -> None:
    doc = LAYOUTS["cloudtrail"]({"Records": [record()]})
    half = len(doc) // 2
    multi = gzip.compress(doc[:half]) + gzip.compress(doc[half:]) + b"\x00" * 8
    assert decompress(multi) == doc
    assert len(logscan.scan_log(multi).events) == 1
    with pytest.raises(EventParseError, match="exceeds 1000 bytes"):
        decompress(gzip.compress(b" " * 100_000), limit=1000)


def test_corrupted_data_fails_the_gzip_check() -> None:
    data = bytearray(gzip.compress(LAYOUTS["cloudtrail"]({"Records": [record()]})))
    data[-6] ^= 0xFF  # the CRC-32 in the trailer
    with pytest.raises(EventParseError, match="incorrect data check"):
        logscan.scan_log(bytes(data))


# ---------------------------------------------------------------------------------------------
# Generated log files: the fast path agrees with the full parse, wherever the records fall

_NAMES = ["CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey", "ListAccessKeys", "GetRole"]
_TYPES = ["Root", "IAMUser", "AssumedRole"]
_SOURCES = ["iam.amazonaws.com", "signin.amazonaws.com"]


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(_NAMES))
    overrides: dict[str, Any] = {
        "eventName": name,
        "eventSource": draw(st.sampled_from(_SOURCES)),
        "userIdentity.type": draw(st.sampled_from(_TYPES)),
        "eventID": draw(st.uuids()).hex,
        "eventTime": f"2026-11-{draw(st.integers(10, 28))}T14:0{draw(st.integers(0, 9))}:00Z",
    }
    if draw(st.booleans()):
        overrides["errorCode"] = "AccessDenied"
    if draw(st.booleans()):
        overrides["requestParameters"] = {
            "userName": draw(st.sampled_from(["alice", "", None])),
            "status": draw(st.sampled_from(["Active", "Inactive", None])),
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        }
    if draw(st.booleans()):
        overrides["userIdentity.sessionContext"] = {"sessionIssuer": {"type": "Root"}}
    if draw(st.booleans()):
        overrides["tlsDetails"] = DROP
    base = {"DeleteAccessKey": delete_record, "UpdateAccessKey": update_record}.get(name, record)
    return base(**overrides)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(records(), max_size=12),
    st.sampled_from(sorted(LAYOUTS)),
)
def test_generated_log_files_agree_with_full_classification(
    recs: list[dict[str, Any]], layout: str
) -> None:
    data = LAYOUTS[layout]({"Records": copy.deepcopy(recs)})
    assert backfill_lines(data) == full_lines(data)


# ---------------------------------------------------------------------------------------------
# Small parts


def test_since_after_until_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["backfill", "--bucket", "b", "--since", "2026-11-21", "--until", "2026-11-20"])
    assert code == 2
    assert "is after" in capsys.readouterr().err


def test_a_found_event_is_named_by_its_place_in_the_file() -> None:
    data = LAYOUTS["cloudtrail"]({"Records": [*_noise(3), record()]})
    (found,) = logscan.scan_log(data).events
    assert found.index == found.event.index == 3
    assert event_line("s3://b/k", found.event)["source"] == "s3://b/k#3"


def test_days_are_inclusive() -> None:
    assert backfill.days_between(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert backfill.days_between(date(2026, 3, 1), date(2026, 3, 1)) == [date(2026, 3, 1)]


@pytest.mark.parametrize(
    ("prefix", "root"),
    [
        ("", "AWSLogs/"),
        ("trails", "trails/AWSLogs/"),
        ("/trails/prod/", "trails/prod/AWSLogs/"),
        ("AWSLogs", "AWSLogs/"),
        ("trails/AWSLogs/", "trails/AWSLogs/"),
    ],
)
def test_the_prefix_goes_before_awslogs(prefix: str, root: str) -> None:
    assert logs_root(prefix) == root


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only() -> None:
    tty = _Terminal()
    bar = Progress(tty, total=2, enabled=tty.isatty())
    bar.advance(1_500_000)
    bar.note("backfill: s3://b/k: broken")
    bar.advance(500_000)
    bar.close()
    text = tty.getvalue()
    assert "2/2 files" in text
    assert "2.0 MB" in text
    assert "MB/s" in text
    assert "backfill: s3://b/k: broken\n" in text
    assert text.endswith("\r\x1b[K")

    pipe = io.StringIO()
    quiet = Progress(pipe, total=2, enabled=pipe.isatty())
    quiet.advance(1)
    quiet.note("a note")
    quiet.close()
    assert pipe.getvalue() == "a note\n"
