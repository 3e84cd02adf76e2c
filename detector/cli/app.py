"""``python -m detector``: the parser of every command, and how every command ends.

What a user meets when something is wrong is one line naming it on stderr and a non-zero exit
(``--debug`` adds the traceback): a bad setting or flag, missing credentials, a missing table or
queue, an endpoint that cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from detector import __version__
from detector.cli import backfill, classify, preview, redrive, replay, sweep
from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PIPE
from detector.cli.output import PROG, quiet_stdout
from detector.errors import Stop
from detector.problems import environment_problem, one_line

# Each command: its module's help, options and run, in the order ``--help`` lists them.
_COMMANDS = {
    "classify": classify,
    "preview": preview,
    "replay": replay,
    "redrive": redrive,
    "backfill": backfill,
    "sweep": sweep,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO], int] = _COMMANDS[args.command].run
    try:
        return run(args, out)
    except BrokenPipeError:
        quiet_stdout(out)
        return EXIT_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last word to a user: one line, not a traceback
        return _last_word(args, exc)


def _last_word(args: argparse.Namespace, exc: Exception) -> int:
    """One line on stderr saying what went wrong; exit 2 if it must be fixed first, else 1."""
    if args.debug:
        traceback.print_exc()
    problem = (
        str(exc)
        if isinstance(exc, Stop)
        else environment_problem(
            exc,
            ledger_table=os.environ.get("LEDGER_TABLE"),
            queue_url=getattr(args, "queue_url", None),
        )
    )
    hint = "" if args.debug else " (--debug shows the traceback)"
    print(f"{PROG} {args.command}: {problem or one_line(exc)}{hint}", file=sys.stderr)
    return EXIT_BAD_INPUT if problem else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Root access key detector")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    # --debug after the command too; SUPPRESS keeps a --debug given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in _COMMANDS.items():
        command.add_arguments(sub.add_parser(name, parents=[common], help=command.HELP))
    return parser
