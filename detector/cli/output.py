"""What the commands print: one JSON object per line on stdout, problems on stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from detector.domain.event import RootKeyEvent
from detector.domain.summary import summary_fields

PROG = "python -m detector"


def emit(out: TextIO, doc: dict[str, Any]) -> None:
    """Write one JSON line and flush it."""
    # ensure_ascii: no raw bidi or control character from an event reaches a terminal.
    out.write(json.dumps(doc, ensure_ascii=True) + "\n")
    out.flush()


def event_line(source: str, event: RootKeyEvent) -> dict[str, Any]:
    """The fields of an event's line; its ``source`` is ``name#index``."""
    return summary_fields(event, f"{source}#{event.index}")


def error_fields(exc: BaseException) -> dict[str, Any]:
    """What a line says of a failure."""
    return {"error": str(exc), "error_type": type(exc).__name__}


def quiet_stdout(out: TextIO) -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's last flush is quiet
    (Python's documentation, "Note on SIGPIPE" in the signal module)."""
    if out is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
