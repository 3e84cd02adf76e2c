"""The bytes of one input -> its decoded JSON document (plain or gzip, CloudTrail's S3 form).

Size and parse-cost caps refuse a decompression or JSON bomb before it takes the memory.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Generator, Iterator
from typing import Any

from detector.errors import EventParseError

# Decompressed size cap for one input. AWS documents no maximum size of a CloudTrail log file;
# it documents at most 256 KB per event (event version 1.05 on, "Quotas in AWS CloudTrail") and
# a file per account and region about every five minutes, and busy trails write files of tens
# of MB. 64 MiB holds those, and the benchmarks' 50 MiB file, with room.
MAX_INPUT_BYTES = 64 << 20
# What parsing one input may allocate, estimated from its bytes before json.loads runs
# (parse_cost): a CloudTrail log file costs about 4 times its size, a file of "[]," or "{},"
# 22 to 25 times. A 64 MiB log file fits.
MAX_PARSE_BYTES = 384 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_IN = 1 << 16  # compressed bytes fed to zlib at a time
_INFLATE_OUT = 1 << 20  # most bytes zlib may return at a time (a bomb never overshoots more)


def load_document(data: bytes) -> Any:
    """Decode one input file: JSON, or gzip-compressed JSON (CloudTrail's S3 log files).

    Raises:
        EventParseError: not gzip-decodable or not JSON; larger than MAX_INPUT_BYTES once
            decompressed, or costlier to parse than MAX_PARSE_BYTES (a decompression or JSON
            bomb is refused before it takes the memory).
    """
    if data[:2] == _GZIP_MAGIC:
        data = decompress(data)
    elif len(data) > MAX_INPUT_BYTES:
        raise EventParseError("$", f"larger than {MAX_INPUT_BYTES} bytes: not one log file")
    check_parse_cost(data)
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise EventParseError("$", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventParseError("$", "JSON nested too deeply") from exc


def inflate(data: bytes, limit: int = MAX_INPUT_BYTES) -> Iterator[bytes]:
    """Gunzip ``data`` (every member) piece by piece; plain data is yielded as it is.

    No piece is larger than about a MiB, and decompression stops as soon as more than
    ``limit`` bytes came out: a gzip bomb costs ``limit`` bytes, never its full size.

    Raises:
        EventParseError: a broken or truncated gzip stream, or more than ``limit`` bytes.
    """
    if data[:2] != _GZIP_MAGIC:
        if len(data) > limit:
            raise EventParseError("$", f"larger than {limit} bytes: not one log file")
        yield data
        return
    view = memoryview(data)
    pos = total = 0
    while True:  # one gzip member per round
        pos, total = yield from _member(view, pos, total, limit)
        if data[pos : pos + 2] != _GZIP_MAGIC:
            if data[pos:].strip(b"\x00"):  # zero padding after the last member is allowed
                raise EventParseError("$", "not a valid gzip stream: trailing garbage")
            return


def _member(
    view: memoryview, pos: int, total: int, limit: int
) -> Generator[bytes, None, tuple[int, int]]:
    """Gunzip the member starting at ``pos``; returns where the next one starts and the bytes
    out so far (``total`` counts the members before it)."""
    inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
    while not inflater.eof:
        piece: bytes | memoryview
        if inflater.unconsumed_tail:
            piece = inflater.unconsumed_tail
        elif pos < len(view):
            piece = view[pos : pos + _INFLATE_IN]
            pos += len(piece)
        else:
            raise EventParseError("$", "not a valid gzip stream: truncated")
        try:
            out = inflater.decompress(piece, _INFLATE_OUT)
        except zlib.error as exc:
            raise EventParseError("$", f"not a valid gzip stream: {exc}") from exc
        total += len(out)
        if total > limit:
            raise EventParseError("$", f"decompressed size exceeds {limit} bytes: not one log file")
        if out:
            yield out
    return pos - len(inflater.unused_data), total


def decompress(data: bytes, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Gunzip ``data`` whole (see :func:`inflate`)."""
    return b"".join(inflate(data, limit))


def parse_cost(data: bytes) -> int:
    """About how many bytes json.loads allocates for ``data`` (an upper estimate).

    Counted, not parsed: every ``{`` or ``[`` may open a container (72 bytes or more), every
    pair of ``"`` a string (about 50), every ``,`` another value (about 40, an int's).
    """
    containers = data.count(b"{") + data.count(b"[")
    return 72 * containers + 25 * data.count(b'"') + 40 * data.count(b",")


def check_parse_cost(data: bytes, path: str = "$", limit: int = MAX_PARSE_BYTES) -> None:
    """Raise EventParseError when parsing ``data`` would cost more than ``limit`` bytes."""
    cost = parse_cost(data)
    if cost > limit:
        raise EventParseError(
            path,
            f"parsing would take about {cost >> 20} MiB (more than {limit >> 20} MiB): "
            "not a CloudTrail log file",
        )
