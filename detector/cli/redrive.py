"""``redrive``: the dead-letter queue's messages through the pipeline, deleting successes."""

from __future__ import annotations

import argparse
from typing import Any, TextIO
from urllib.parse import urlparse

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Stop
from detector.cli.output import emit
from detector.cli.runtime import load_runtime
from detector.problems import environment_problem

HELP = "replay the dead-letter queue through the pipeline, deleting successes"
MAX_REDRIVE = 1_000_000


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_REDRIVE:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_REDRIVE}, got {value}")
    return value


def _queue_url(text: str) -> str:
    url = urlparse(text)
    if url.scheme not in {"https", "http"} or not url.netloc or len(url.path.strip("/")) < 1:
        raise argparse.ArgumentTypeError(
            f"not a queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/name: {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``redrive`` options."""
    parser.add_argument("--queue-url", required=True, type=_queue_url, help="the DLQ's URL")
    parser.add_argument(
        "--max",
        type=_positive,
        default=10_000,
        help=f"stop after N messages (1..{MAX_REDRIVE}, default 10000)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``redrive`` with parsed arguments."""
    return redrive_queue(args.queue_url, args.max, out)


def redrive_queue(queue_url: str, max_messages: int, out: TextIO) -> int:
    """``redrive``: exits 0 when the queue drained, 1 when messages are left."""
    from detector.redrive import redrive  # noqa: PLC0415 - only this command needs boto3

    runtime = load_runtime()
    if runtime is None:
        return EXIT_BAD_INPUT

    def sweep() -> Any:
        return runtime.sweep().as_dict()

    summary = redrive(
        runtime.clients.client("sqs"),
        queue_url,
        runtime.deps,
        max_messages=max_messages,
        on_result=lambda result: emit(out, result),
        sweep=sweep,
        stop=lambda exc: environment_problem(
            exc, ledger_table=runtime.settings.ledger_table, queue_url=queue_url
        ),
    )
    emit(out, {"redrive": summary.as_dict()})
    if summary.stopped:
        raise Stop(summary.stopped)
    return EXIT_OK if summary.failed == 0 and summary.unreadable == 0 else EXIT_FAILED
