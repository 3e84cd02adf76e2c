"""The inputs ``classify`` and ``preview`` read (detector.cli.inputs): JSON Lines, lookup-events
output, directories; untrusted, so a bad line or entry costs only itself."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from detector.cli.inputs import Document, expand, lookup_events, read_input, records_of
from detector.domain.event import RecordError, RootKeyEvent
from detector.errors import EventParseError
from tests.factories import delete_record, envelope, log_file, record

PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
FAST = settings(
    max_examples=150, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow]
)


def _lookup(*records: Any) -> dict[str, Any]:
    """``aws cloudtrail lookup-events`` output: each record as a JSON string."""
    return {
        "Events": [
            {"EventId": f"id-{n}", "EventName": "CreateAccessKey", "CloudTrailEvent": json.dumps(r)}
            for n, r in enumerate(records)
        ]
    }


def _read(path: Path) -> list[Document]:
    return list(read_input(str(path)))


def _ids(docs: list[Document]) -> list[str | None]:
    return [
        item.event_id if isinstance(item, RootKeyEvent) else None
        for doc in docs
        for item in doc.items
    ]


def test_json_lines_one_document_a_line_named_by_line(tmp_path: Path) -> None:
    lines = [json.dumps(record(eventID="a")), "", json.dumps(envelope(record(eventID="b")))]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    docs = _read(path)
    assert [d.source for d in docs] == [f"{path}:1", f"{path}:3"]
    assert _ids(docs) == ["a", "b"]


def test_json_lines_are_recognised_without_the_suffix_and_gzipped(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(record(eventID=str(n))) for n in range(3))
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(text.encode()))
    assert _ids(_read(path)) == ["0", "1", "2"]


def test_a_pretty_printed_document_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log_file(record(eventID="x"), delete_record(eventID="y")), indent=2))
    docs = _read(path)
    assert [d.source for d in docs] == [str(path)]
    assert _ids(docs) == ["x", "y"]


def test_a_bad_line_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(
            [json.dumps(record(eventID="a")), "{not json", "[1]", json.dumps(record(eventID="d"))]
        )
    )
    docs = _read(path)
    assert [d.error is not None for d in docs] == [False, True, True, False]
    assert _ids(docs) == ["a", "d"]
    assert docs[1].source == f"{path}:2"


def test_lookup_events_output_each_cloudtrail_event_a_record() -> None:
    doc = _lookup(record(eventID="a"), delete_record(eventID="b"))
    doc["Events"].insert(1, {"EventId": "broken", "CloudTrailEvent": "{oops"})
    doc["Events"].append({"EventId": "no-record"})
    items = records_of(doc)
    assert [i.event_id if isinstance(i, RootKeyEvent) else i.index for i in items] == [
        "a",
        1,
        "b",
        3,
    ]
    assert "$.Events[1].CloudTrailEvent" in str(items[1].error)  # type: ignore[union-attr]


def test_lookup_events_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(EventParseError):
        lookup_events({"not": "a list"})


def test_a_directory_is_read_recursively_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.json").write_text(json.dumps(record(eventID="1")))
    (tmp_path / "b" / "deep" / "c.jsonl").write_text(json.dumps(record(eventID="2")))
    (tmp_path / "b" / "d.json.gz").write_bytes(
        gzip.compress(json.dumps(_lookup(record(eventID="3"))).encode())
    )
    (tmp_path / "b" / "notes.txt").write_text("not read")
    names = list(expand([str(tmp_path)]))
    assert [Path(n).relative_to(tmp_path).as_posix() for n in names] == [
        "a.json",
        "b/d.json.gz",
        "b/deep/c.jsonl",
    ]
    assert _ids([d for n in names for d in read_input(n)]) == ["1", "3", "2"]


def test_an_empty_directory_says_so(tmp_path: Path) -> None:
    (doc,) = [d for n in expand([str(tmp_path)]) for d in read_input(n)]
    assert doc.error is not None
    assert ".json" in str(doc.error)


def test_stdin_reads_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "\n".join(json.dumps(record(eventID=str(n))) for n in range(2)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert _ids(list(read_input("-"))) == ["0", "1"]


# -- properties: untrusted bytes never crash, and a bad line costs only itself ---------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_read_or_refused(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("in") / "x.jsonl"
    path.write_bytes(data)
    for doc in read_input(str(path)):
        assert (doc.error is None) or isinstance(doc.error, (EventParseError, OSError))
        assert all(isinstance(i, (RootKeyEvent, RecordError)) for i in doc.items)


@FAST
@given(st.lists(st.one_of(_json.map(json.dumps), st.text(max_size=30)), max_size=8))
def test_good_lines_survive_any_neighbours(
    tmp_path_factory: pytest.TempPathFactory, noise: list[str]
) -> None:
    noise = [n.replace("\n", " ").replace("\r", " ") for n in noise]
    good = [json.dumps(record(eventID=f"good-{n}")) for n in range(3)]
    mixed = [good[0], *noise[:4], good[1], *noise[4:], good[2]]
    path = tmp_path_factory.mktemp("in") / "x.jsonl"
    path.write_text("\n".join(mixed))
    ids = [i for i in _ids(_read(path)) if i is not None and i.startswith("good-")]
    assert ids == ["good-0", "good-1", "good-2"]


@FAST
@given(st.lists(st.one_of(_json, st.just({"CloudTrailEvent": "{"})), max_size=6))
def test_lookup_events_entries_never_crash_and_keep_their_places(entries: list[Any]) -> None:
    entries = [*entries, {"CloudTrailEvent": json.dumps(record(eventID="last"))}]
    items = lookup_events(entries)
    assert len(items) == len(entries)
    assert isinstance(items[-1], RootKeyEvent)
    assert items[-1].event_id == "last"
    assert all(isinstance(i, (RootKeyEvent, RecordError)) for i in items)
