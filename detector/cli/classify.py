"""``classify``: one JSON line per CloudTrail record with its verdict, offline; a summary of the
counts per verdict on stderr."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from detector.cli.inputs import INPUTS_HELP, Item, expand, read_input
from detector.cli.output import emit, error_fields, event_line
from detector.domain.event import RecordError
from detector.domain.verdict import Verdict, classify

HELP = "print one JSON line per CloudTrail record (no network)"
VERDICTS = [v.value for v in Verdict]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``classify`` arguments."""
    parser.add_argument("files", nargs="+", help=INPUTS_HELP)
    parser.add_argument(
        "--verdict",
        action="append",
        choices=VERDICTS,
        metavar="VERDICT",
        help=f"print only records with this verdict (repeatable): {', '.join(VERDICTS)}",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``classify`` with parsed arguments."""
    return classify_files(args.files, out, verdicts=args.verdict)


@dataclass
class Tally:
    """What one run read: records per verdict, records shown, what could not be read."""

    verdicts: Counter[str] = field(default_factory=Counter)
    shown: int = 0
    bad_records: int = 0
    bad_inputs: int = 0

    def line(self, filtered: bool) -> str:
        """The summary line."""
        total = sum(self.verdicts.values())
        counts = ", ".join(f"{v} {n}" for v, n in sorted(self.verdicts.items())) or "none"
        shown = f", {self.shown} shown" if filtered else ""
        records = "record" if total == 1 else "records"
        return (
            f"classify: {total} {records} ({counts}){shown}; {self.bad_records} not CloudTrail,"
            f" {self.bad_inputs} inputs unreadable"
        )


def classify_files(
    files: Sequence[str], out: TextIO, *, verdicts: Sequence[str] | None = None
) -> int:
    """``classify``: verdicts only; exits 2 if any input or record was not CloudTrail.

    A record that is not CloudTrail gets an error line in its place; the others still print.
    With ``verdicts``, only records with one of them are printed (error lines always are).
    """
    tally = Tally()
    wanted = set(verdicts or VERDICTS)
    for name in expand(files):
        for doc in read_input(name):
            if doc.error is not None:
                tally.bad_inputs += 1
                emit(out, {"source": doc.source} | error_fields(doc.error))
                continue
            for item in doc.items:
                _one(out, doc.source, item, wanted, tally)
    print(tally.line(filtered=verdicts is not None), file=sys.stderr)
    return EXIT_BAD_INPUT if tally.bad_records or tally.bad_inputs else EXIT_OK


def _one(out: TextIO, source: str, item: Item, wanted: set[str], tally: Tally) -> None:
    if isinstance(item, RecordError):
        tally.bad_records += 1
        emit(out, {"source": f"{source}#{item.index}"} | error_fields(item.error))
        return
    verdict = classify(item).value
    tally.verdicts[verdict] += 1
    if verdict in wanted:
        tally.shown += 1
        emit(out, event_line(source, item) | {"verdict": verdict})
