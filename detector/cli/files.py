"""Recorded events read from files or stdin, for ``classify`` and ``replay``."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from detector.cli.output import emit, error_fields
from detector.domain.document import load_document
from detector.domain.event import RecordError, RootKeyEvent, parse_records
from detector.errors import DetectorError

FILES_HELP = "JSON or .json.gz files; - for stdin"


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def documents(
    files: Sequence[str], out: TextIO
) -> Iterator[tuple[str, list[RootKeyEvent | RecordError]]]:
    """Each file's records; a file that is not CloudTrail prints an error line instead."""
    for name in files:
        try:
            items = parse_records(load_document(_read(name)))
        except (DetectorError, OSError) as exc:
            emit(out, {"source": name} | error_fields(exc))
            continue
        yield name, items


def record_error(out: TextIO, name: str, item: RecordError) -> None:
    """The line of a record that is not CloudTrail, in its place."""
    emit(out, {"source": f"{name}#{item.index}"} | error_fields(item.error))
