"""``classify``: one JSON line per CloudTrail record with its verdict, offline."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TextIO

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from detector.cli.files import FILES_HELP, documents, record_error
from detector.cli.output import emit, event_line
from detector.domain.event import RecordError
from detector.domain.verdict import classify

HELP = "print one JSON line per CloudTrail record (no network)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``classify`` arguments."""
    parser.add_argument("files", nargs="+", help=FILES_HELP)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``classify`` with parsed arguments."""
    return classify_files(args.files, out)


def classify_files(files: Sequence[str], out: TextIO) -> int:
    """``classify``: verdicts only; exits 2 if any input or record was not CloudTrail.

    A record that is not CloudTrail gets an error line in its place; the others still print.
    """
    bad = 0
    seen = 0
    for name, items in documents(files, out):
        seen += 1
        for item in items:
            if isinstance(item, RecordError):
                bad += 1
                record_error(out, name, item)
                continue
            emit(out, event_line(name, item) | {"verdict": classify(item).value})
    return EXIT_BAD_INPUT if bad or seen < len(files) else EXIT_OK
