"""Command line: ``classify`` recorded events offline, ``replay`` them through the pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from detector import backfill, pipeline
from detector.domain.event import RootKeyEvent, load_document, parse_input, summary_fields
from detector.domain.verdict import classify
from detector.errors import DetectorError

if TYPE_CHECKING:
    from detector.wiring import Runtime

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m detector", description="Root access key detector"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_classify = sub.add_parser(
        "classify", help="print one JSON line per CloudTrail record (no network)"
    )
    p_classify.add_argument("files", nargs="+", help="JSON or .json.gz files; - for stdin")
    p_replay = sub.add_parser(
        "replay", help="run recorded events through the full pipeline (configured AWS + Slack)"
    )
    p_replay.add_argument("files", nargs="+", help="JSON or .json.gz files; - for stdin")
    p_redrive = sub.add_parser(
        "redrive", help="replay the dead-letter queue through the pipeline, deleting successes"
    )
    p_redrive.add_argument("--queue-url", required=True, help="the DLQ's URL")
    p_redrive.add_argument("--max", type=int, default=10_000, help="stop after N messages")
    backfill.add_arguments(
        sub.add_parser("backfill", help="root key events in a CloudTrail log archive in S3")
    )
    p_sweep = sub.add_parser(
        "sweep", help="reconcile every account's root keys with the open findings (daily job)"
    )
    p_sweep.add_argument("--accounts", help="comma-separated account ids (default: all)")
    args = parser.parse_args(argv)
    if args.command == "backfill":
        return backfill.run(args, out)
    if args.command == "sweep":
        return sweep_accounts(args.accounts, out)
    if args.command == "classify":
        return classify_files(args.files, out)
    if args.command == "redrive":
        return redrive_queue(args.queue_url, args.max, out)
    return replay_files(args.files, out)


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _documents(files: Sequence[str], out: TextIO) -> Iterator[tuple[str, list[RootKeyEvent]]]:
    """Each file's events; a file that is not CloudTrail prints an error line instead."""
    for name in files:
        try:
            events = parse_input(load_document(_read(name)))
        except (DetectorError, OSError) as exc:
            _emit(out, {"source": name, "error": str(exc), "error_type": type(exc).__name__})
            continue
        yield name, events


def classify_files(files: Sequence[str], out: TextIO) -> int:
    """``classify``: verdicts only; exits 2 if any input was not CloudTrail."""
    failed = False
    seen = 0
    for name, events in _documents(files, out):
        seen += 1
        for event in events:
            _emit(out, _line(name, event) | {"verdict": classify(event).value})
    failed = seen < len(files)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def replay_files(files: Sequence[str], out: TextIO) -> int:
    """``replay``: the full pipeline on recorded events against the configured services."""

    runtime = _runtime()
    if runtime is None:
        return EXIT_BAD_INPUT
    deps = runtime.deps
    status = EXIT_OK
    seen = 0
    for name, events in _documents(files, out):
        seen += 1
        for event in events:
            try:
                outcome = pipeline.process(event, deps)
                _emit(out, _line(name, event) | outcome.as_dict())
            except pipeline.PipelineError as exc:
                status = EXIT_FAILED
                _emit(out, _line(name, event) | exc.outcome.as_dict() | {"error": str(exc)})
    if seen < len(files) and status == EXIT_OK:
        status = EXIT_BAD_INPUT
    return status


def redrive_queue(queue_url: str, max_messages: int, out: TextIO) -> int:
    """``redrive``: exits 0 when the queue drained, 1 when messages are left."""
    from detector.redrive import redrive  # noqa: PLC0415 - only this command needs boto3

    runtime = _runtime()
    if runtime is None:
        return EXIT_BAD_INPUT

    def sweep() -> Any:
        return runtime.sweep().as_dict()

    summary = redrive(
        runtime.clients.client("sqs"),
        queue_url,
        runtime.deps,
        max_messages=max_messages,
        on_result=lambda result: _emit(out, result),
        sweep=sweep,
    )
    _emit(out, {"redrive": summary.as_dict()})
    return EXIT_OK if summary.failed == 0 and summary.unreadable == 0 else EXIT_FAILED


def sweep_accounts(accounts: str | None, out: TextIO) -> int:
    """``sweep``: one JSON line per account and a summary; exits 1 if an account failed."""
    runtime = _runtime()
    if runtime is None:
        return EXIT_BAD_INPUT
    from detector.sweep import SweepError  # noqa: PLC0415 - only this command sweeps

    ids = [a.strip() for a in accounts.split(",") if a.strip()] if accounts else None
    try:
        summary = runtime.sweep(ids)
    except SweepError as exc:
        summary = exc.summary
    for result in summary.results:
        _emit(out, result.as_dict())
    _emit(out, {"sweep": summary.as_dict()})
    return EXIT_FAILED if summary.counts.get("failed") else EXIT_OK


def _runtime() -> Runtime | None:
    """The configured runtime, or None after printing which variable is wrong."""
    from detector.wiring import runtime_from_env  # noqa: PLC0415 - classify needs none of it

    try:
        return runtime_from_env()
    except DetectorError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None


def _line(name: str, event: RootKeyEvent) -> dict[str, Any]:
    return summary_fields(event, f"{name}#{event.index}")


def _emit(out: TextIO, doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    out.flush()
