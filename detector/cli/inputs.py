"""The inputs ``classify`` and ``preview`` read: files, directories and stdin, in every form an
operator has at hand.

A file holds one JSON document (a CloudTrail record, an EventBridge event, a log file
``{"Records": [...]}``, or ``aws cloudtrail lookup-events`` output), or JSON Lines (one such
document a line); any of them may be gzip-compressed. A directory is read recursively (its
``.json``, ``.jsonl``, ``.json.gz`` and ``.jsonl.gz`` files, in name order). Everything read is
untrusted: a line, or an event of lookup-events output, that is not CloudTrail costs only itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.domain.document import check_parse_cost, decompress, load_document
from detector.domain.event import RecordError, RootKeyEvent, parse_log_record, parse_records
from detector.errors import EventParseError

INPUTS_HELP = (
    "JSON, JSON Lines or aws cloudtrail lookup-events output, plain or .gz; directories are "
    "read recursively (.json, .jsonl, .json.gz, .jsonl.gz); - for stdin"
)
SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_JSONL = (".jsonl", ".jsonl.gz")

Item = RootKeyEvent | RecordError


@dataclass(frozen=True, slots=True)
class Document:
    """One document read: where it came from (``name`` or ``name:line``) and its records, or
    why it could not be read."""

    source: str
    items: list[Item]
    error: Exception | None = None


def expand(paths: Sequence[str]) -> Iterator[str]:
    """Each path as given; a directory becomes its input files, recursively, in name order."""
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
            yield from (str(p) for p in found) if found else [name]  # empty: read says so
        else:
            yield name


def read_input(name: str) -> Iterator[Document]:
    """The documents of one file (``-`` for stdin): one, or one per line of JSON Lines."""
    if name != "-" and Path(name).is_dir():
        yield Document(name, [], FileNotFoundError(f"no {', '.join(SUFFIXES)} file in {name}"))
        return
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        text = decompress(data)
    except (EventParseError, OSError) as exc:
        yield Document(name, [], exc)
        return
    if name.endswith(_JSONL) or _looks_like_lines(text):
        yield from read_lines(name, text)
    else:
        yield read_document(name, text)


def read_document(source: str, data: bytes) -> Document:
    """One JSON document's records."""
    try:
        return Document(source, records_of(load_document(data)))
    except EventParseError as exc:
        return Document(source, [], exc)


def read_lines(name: str, text: bytes) -> Iterator[Document]:
    """One document per non-blank line (``name:N``, N counted from 1)."""
    for number, line in enumerate(text.split(b"\n"), start=1):
        if line.strip():
            yield read_document(f"{name}:{number}", line)


def _looks_like_lines(text: bytes) -> bool:
    """JSON Lines: more than one line, and the first is a whole JSON value on its own.

    (A pretty-printed document's first line, ``{``, is not.)
    """
    first, newline, rest = text.strip().partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        check_parse_cost(first)
        json.loads(first)
    except (ValueError, RecursionError, EventParseError):
        return False
    return True


def records_of(doc: Any) -> list[Item]:
    """The records of one decoded document, lookup-events output included.

    Raises:
        EventParseError: the document as a whole is none of the forms read.
    """
    if isinstance(doc, dict) and "Events" in doc and not _is_cloudtrail(doc):
        return lookup_events(doc["Events"])
    return parse_records(doc)


def _is_cloudtrail(doc: dict[str, Any]) -> bool:
    return any(k in doc for k in ("Records", "detail", "detail-type", "eventName", "eventSource"))


def lookup_events(events: Any) -> list[Item]:
    """The records of ``aws cloudtrail lookup-events`` output: each entry's ``CloudTrailEvent``
    is the record as a JSON string.

    Raises:
        EventParseError: ``Events`` is not a list.
    """
    if not isinstance(events, list):
        raise EventParseError("$.Events", "expected a list")
    out: list[Item] = []
    for index, entry in enumerate(events):
        try:
            out.append(parse_log_record(_embedded(entry, index), index))
        except EventParseError as exc:
            out.append(RecordError(index, exc))
    return out


def _embedded(entry: Any, index: int) -> Any:
    path = f"$.Events[{index}].CloudTrailEvent"
    raw = entry.get("CloudTrailEvent") if isinstance(entry, dict) else None
    if not isinstance(raw, str):
        raise EventParseError(path, "expected the CloudTrail record as a JSON string")
    check_parse_cost(raw.encode("utf-8", "surrogatepass"), path)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise EventParseError(path, f"not JSON: {type(exc).__name__}") from None
