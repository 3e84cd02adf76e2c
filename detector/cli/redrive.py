"""``redrive``: the dead-letter queue's messages through the pipeline, deleting successes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import urlparse

from detector.cli.arguments import whole_number
from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from detector.cli.output import emit
from detector.cli.runtime import load_runtime
from detector.errors import StackError, Stop
from detector.problems import environment_problem

HELP = "replay the dead-letter queue through the pipeline, deleting successes"
MAX_REDRIVE = 1_000_000


def _queue_url(text: str) -> str:
    url = urlparse(text)
    if url.scheme not in {"https", "http"} or not url.netloc or len(url.path.strip("/")) < 1:
        raise argparse.ArgumentTypeError(
            f"not a queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/name: {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``redrive`` options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue-url", type=_queue_url, help="the DLQ's URL")
    source.add_argument(
        "--from-stack",
        metavar="STACK",
        help="the deployed stack: its DLQ, and its function's settings instead of the environment",
    )
    parser.add_argument(
        "--max",
        type=whole_number(MAX_REDRIVE),
        default=10_000,
        help=f"stop after N messages (1..{MAX_REDRIVE}, default 10000)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say per message what a redrive would do; post, import, record and delete nothing"
        " (the messages read come back after the queue's visibility timeout)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``redrive`` with parsed arguments."""
    if args.from_stack is None:
        return redrive_queue(args.queue_url, args.max, out, dry_run=args.dry_run)
    queue_url, env = from_stack(args.from_stack)
    return redrive_queue(queue_url, args.max, out, env=env, dry_run=args.dry_run)


def from_stack(stack: str) -> tuple[str, dict[str, str]]:
    """The stack's dead-letter queue, and the environment the detector runs with: the process's
    (credentials, endpoint) with the function's settings in place of its own detector settings.

    Only variable names are printed (the values may name secrets, and are not trusted).
    """
    from detector.adapters.stack import (  # noqa: PLC0415 - only this command needs boto3
        DETECTOR_SETTINGS,
        read_deployed,
    )

    try:
        deployed = read_deployed(stack)
    except StackError as exc:
        raise Stop(f"--from-stack: {exc}") from exc
    env = {k: v for k, v in os.environ.items() if k not in DETECTOR_SETTINGS}
    env |= deployed.settings | {"AWS_REGION": deployed.region}
    names = ", ".join(deployed.settings) or "none"
    print(
        f"redrive: stack {stack}: function {deployed.function_name} in {deployed.region},"
        f" its dead-letter queue; settings: {names}",
        file=sys.stderr,
    )
    return deployed.dead_letter_queue_url, env


def redrive_queue(
    queue_url: str,
    max_messages: int,
    out: TextIO,
    *,
    env: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> int:
    """``redrive``: exits 0 when the queue drained, 1 when messages are left (with
    ``dry_run``: 0 unless a message is unreadable)."""
    from detector.redrive import drain  # noqa: PLC0415 - only this command redrives

    runtime = load_runtime(env)
    if runtime is None:
        return EXIT_BAD_INPUT

    def sweep() -> Any:
        return runtime.sweep().as_dict()

    summary = drain(
        runtime.dead_letter_queue(queue_url),
        runtime.deps,
        max_messages=max_messages,
        on_result=lambda result: emit(out, result),
        sweep=sweep,
        stop=lambda exc: environment_problem(
            exc, ledger_table=runtime.settings.ledger_table, queue_url=queue_url
        ),
        dry_run=dry_run,
    )
    emit(out, {"redrive": summary.as_dict()})
    if summary.stopped:
        raise Stop(summary.stopped)
    return EXIT_OK if summary.failed == 0 and summary.unreadable == 0 else EXIT_FAILED
