"""The root key events of one CloudTrail log file, found by a byte scan before any JSON parsing.

Almost no log file mentions a root key call: each decompressed file is searched for a few byte
strings, and only the records that can match are parsed. Pure: bytes in, events out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from detector.domain.document import check_parse_cost, inflate
from detector.domain.event import (
    ACCESS_KEY_EVENT_NAMES,
    IAM_SOURCE,
    ROOT_PRINCIPAL_TYPE,
    RootKeyEvent,
    parse_log_record,
)
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError

# A root key event's file holds each of these byte strings: userIdentity.type "Root", an event
# name ending in AccessKey, the event source. CloudTrail writes these values literally (JSON
# never needs to escape them), so a file missing one cannot hold a match. "Root" is the rarest
# and is searched first, while the file is being decompressed. ("Root" with its quotes ends in
# the commonest byte of JSON, which makes it about twice as slow to search for.)
_ROOT_WORD = b"Root"
_KEY_WORD = b'AccessKey"'
_SOURCE_NEEDLE = f'"{IAM_SOURCE}"'.encode()
_EDGE = 4096  # bytes inspected at each end of a file for its JSON-object shape
# CloudTrail's own layout (see candidate_records).
_HEAD = re.compile(rb'\s*\{"Records":\[')
_BOUNDARY = b'},{"eventVersion":'
_EVENT_ID_KEY = b'"eventID":'


@dataclass(frozen=True, slots=True)
class Found:
    """A root key event and where it is in its log file."""

    index: int  # the record's position in the file's Records
    event: RootKeyEvent
    verdict: Verdict  # never IGNORED


@dataclass(frozen=True, slots=True)
class Scan:
    """What one CloudTrail log object holds for the backfill."""

    raw_bytes: int  # decompressed size
    skipped: bool  # ruled out by the byte-level prefilter, never JSON-parsed
    candidates: int = 0  # records that passed the record-level prefilter
    events: tuple[Found, ...] = ()  # in file order


def might_match(text: bytes) -> bool:
    """False when no record of this decompressed log file can be a root key event."""
    # Each is one pass when absent; the exact test is record_might_match, record by record.
    return _ROOT_WORD in text and _KEY_WORD in text and _SOURCE_NEEDLE in text


def record_might_match(record: Any) -> bool:
    """Whether one raw record can be a root key event (checked before it is parsed)."""
    if not isinstance(record, dict):
        return False
    identity = record.get("userIdentity")
    name = record.get("eventName")
    return (
        isinstance(name, str)  # a list or an object cannot be looked up in a set
        and name in ACCESS_KEY_EVENT_NAMES
        and record.get("eventSource") == IAM_SOURCE
        and isinstance(identity, dict)
        and identity.get("type") == ROOT_PRINCIPAL_TYPE
    )


def candidate_records(text: bytes) -> list[tuple[int, Any]] | None:
    """(index, record) of every record that can match, parsing only the records holding "Root".

    CloudTrail writes ``{"Records":[{"eventVersion":...},{"eventVersion":...}]}``, minified.
    ``},{"eventVersion":`` can only be structure (a JSON string cannot hold an unescaped quote),
    so it marks where a record starts. The slice around each ``"Root"`` string is parsed
    strictly on its own: a slice that is not exactly one JSON value means the file is not laid
    out so. A candidate's index is the number of those marks before it; it is trusted only if
    every record up to it holds exactly one ``"eventID":`` key (a record without the mark, or
    an object inside one that starts like a record, breaks that count). Returns None when any
    check fails: the caller then parses the whole file.
    """
    head = _HEAD.match(text)
    window = text[-_EDGE:]
    tail = window.rstrip()
    if head is None or not tail.endswith(b"]}"):
        return None
    body_start, body_end = head.end(), len(text) - (len(window) - len(tail)) - 2
    found: list[tuple[int, Any]] = []
    pos = floor = body_start  # search from; where the first record not yet looked at starts
    counted, index, ids = body_start, 0, 0  # a record's start, its index, "eventID":s before it
    while (hit := text.find(_ROOT_WORD, pos, body_end)) >= 0:
        pos = hit + len(_ROOT_WORD)
        if text[hit - 1 : hit] != b'"' or text[pos : pos + 1] != b'"':
            continue  # "Root" inside a longer string
        start = text.rfind(_BOUNDARY, floor, hit)
        start = floor if start < 0 else start + 2
        end = text.find(_BOUNDARY, hit, body_end)
        end = body_end if end < 0 else end + 1
        piece = text[start:end]
        try:
            check_parse_cost(piece)  # one record: a JSON bomb in it is no CloudTrail event
            record = json.loads(piece)
        except (ValueError, RecursionError, EventParseError):
            return None
        pos = floor = end + 1  # past the comma
        if not record_might_match(record):
            continue
        # The mark before a record starts 2 bytes before it.
        index += text.count(_BOUNDARY, counted, start + len(_BOUNDARY) - 2)
        own = text.count(_EVENT_ID_KEY, start, end)
        ids += text.count(_EVENT_ID_KEY, counted, start) + own
        if own != 1 or ids != index + 1:
            return None
        found.append((index, record))
        counted, index = end + 1, index + 1
    return found


def scan_log(data: bytes) -> Scan:
    """Find the root key events of one CloudTrail log object (gzip or plain JSON).

    Returns the same events and verdicts as parsing and classifying every record would,
    minus the ignored ones, at the cost of a byte search for almost every file. Records that
    cannot match are never parsed: one that is garbled, or not a record at all, costs nothing
    but itself. A root key event with a garbled field keeps its verdict and names the field
    (``untrusted``, its path with the record's real index).

    Raises:
        EventParseError: not gzip/JSON, or not a CloudTrail log file ``{"Records": [...]}``.
    """
    pieces: list[bytes] = []
    root_seen = False
    carry = b""
    for piece in inflate(data):
        if not root_seen:  # the cheapest test, while the piece is hot in the cache
            root_seen = _ROOT_WORD in piece or _ROOT_WORD in carry + piece[:3]
            carry = piece[-3:]
        pieces.append(piece)
    raw_bytes = sum(map(len, pieces))
    _check_shape(pieces)
    if not root_seen:
        return Scan(raw_bytes=raw_bytes, skipped=True)
    text = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    del pieces
    if not might_match(text):
        return Scan(raw_bytes=raw_bytes, skipped=True)
    records = candidate_records(text)
    if records is None:
        records = list(enumerate(_all_records(text)))
    return _events(raw_bytes, records)


def _events(raw_bytes: int, records: list[tuple[int, Any]]) -> Scan:
    found: list[Found] = []
    candidates = 0
    for index, record in records:
        if not record_might_match(record):
            continue
        candidates += 1
        # A candidate is an object naming IAM, a key call and Root: it is CloudTrail, so it
        # always yields an event (a garbled field is named in its ``untrusted``).
        event = parse_log_record(record, index)
        verdict = classify(event)
        if verdict is not Verdict.IGNORED:
            found.append(Found(index, event, verdict))
    return Scan(raw_bytes=raw_bytes, skipped=False, candidates=candidates, events=tuple(found))


def _check_shape(pieces: list[bytes]) -> None:
    """One JSON object mentioning "Records": catches most garbage and truncation cheaply, even
    in files that are never parsed."""
    head = pieces[0][:_EDGE].lstrip() if pieces else b""
    tail = b"".join(piece[-_EDGE:] for piece in pieces[-2:]).rstrip()
    if not head.startswith(b"{") or not tail.endswith(b"}"):
        raise EventParseError("$", "not a JSON object")
    if b'"Records"' not in head and b'"Records"' not in b"".join(pieces):
        raise EventParseError("$.Records", "missing")


def _all_records(text: bytes) -> list[Any]:
    check_parse_cost(text)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise EventParseError("$", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventParseError("$", "JSON nested too deeply") from exc
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise EventParseError("$.Records", "expected a list of records")
    return records
