"""``replay``: recorded events through the full pipeline against the configured services."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TextIO

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from detector.cli.files import FILES_HELP, documents, record_error
from detector.cli.output import event_line
from detector.cli.runtime import load_runtime, process_one, stop_if_environment
from detector.domain.event import RecordError

HELP = "run recorded events through the full pipeline (configured AWS + Slack)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``replay`` arguments."""
    parser.add_argument("files", nargs="+", help=FILES_HELP)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``replay`` with parsed arguments."""
    return replay_files(args.files, out)


def replay_files(files: Sequence[str], out: TextIO) -> int:
    """``replay``: exits 1 if an event failed, else 2 if an input was not CloudTrail.

    Each record is processed on its own; a failure is printed and the next goes on, unless
    nothing can work (credentials, the ledger table, the endpoint): then one line says why.
    """
    runtime = load_runtime()
    if runtime is None:
        return EXIT_BAD_INPUT
    status = EXIT_OK
    bad = 0
    seen = 0
    for name, items in documents(files, out):
        seen += 1
        for item in items:
            if isinstance(item, RecordError):
                bad += 1
                record_error(out, name, item)
            elif not process_one(
                item,
                runtime.deps,
                event_line(name, item),
                out,
                check=lambda exc: stop_if_environment(exc, runtime),
            ):
                status = EXIT_FAILED
    if (bad or seen < len(files)) and status == EXIT_OK:
        status = EXIT_BAD_INPUT
    return status
