"""Command line: ``classify`` recorded events offline, ``replay`` them through the pipeline,
``redrive`` the dead-letter queue, ``backfill`` from the S3 archive, ``sweep`` the accounts.

What a user meets when something is wrong is one line naming it on stderr and a non-zero exit
(``--debug`` adds the traceback): a bad setting or flag, missing credentials, a missing table or
queue, an endpoint that cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlparse

from detector import __version__, backfill, pipeline
from detector.domain.event import (
    RecordError,
    RootKeyEvent,
    load_document,
    parse_records,
    summary_fields,
)
from detector.domain.verdict import classify
from detector.errors import DetectorError
from detector.problems import environment_problem, one_line

if TYPE_CHECKING:
    from detector.wiring import Runtime

PROG = "python -m detector"
EXIT_OK = 0
EXIT_FAILED = 1  # something failed after its retries (the output says what)
EXIT_BAD_INPUT = 2  # bad input, flag or setting; or nothing can work (credentials, table, ...)
EXIT_PIPE = 141  # the reader went away (``| head``): as if killed by SIGPIPE, quietly
EXIT_INTERRUPTED = 130
MAX_REDRIVE = 1_000_000
_ACCOUNT_RE = re.compile(r"[0-9]{12}")


class _Stop(DetectorError):
    """Nothing more can work: the command ends with this one line."""


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args, out)
    except BrokenPipeError:
        _quiet_stdout(out)
        return EXIT_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last word to a user: one line, not a traceback
        if args.debug:
            traceback.print_exc()
        problem = (
            str(exc)
            if isinstance(exc, _Stop)
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
    p_classify = sub.add_parser(
        "classify", parents=[common], help="print one JSON line per CloudTrail record (no network)"
    )
    p_classify.add_argument("files", nargs="+", help="JSON or .json.gz files; - for stdin")
    p_replay = sub.add_parser(
        "replay",
        parents=[common],
        help="run recorded events through the full pipeline (configured AWS + Slack)",
    )
    p_replay.add_argument("files", nargs="+", help="JSON or .json.gz files; - for stdin")
    p_redrive = sub.add_parser(
        "redrive",
        parents=[common],
        help="replay the dead-letter queue through the pipeline, deleting successes",
    )
    p_redrive.add_argument("--queue-url", required=True, type=_queue_url, help="the DLQ's URL")
    p_redrive.add_argument(
        "--max",
        type=_positive,
        default=10_000,
        help=f"stop after N messages (1..{MAX_REDRIVE}, default 10000)",
    )
    backfill.add_arguments(
        sub.add_parser(
            "backfill", parents=[common], help="root key events in a CloudTrail log archive in S3"
        )
    )
    p_sweep = sub.add_parser(
        "sweep",
        parents=[common],
        help="reconcile every account's root keys with the open findings (daily job)",
    )
    p_sweep.add_argument(
        "--accounts",
        type=_account_list,
        help="comma-separated 12-digit account ids (default: SWEEP_ACCOUNTS, else all)",
    )
    return parser


def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "backfill":
        return backfill.run(args, out)
    if args.command == "sweep":
        return sweep_accounts(args.accounts, out)
    if args.command == "classify":
        return classify_files(args.files, out)
    if args.command == "redrive":
        return redrive_queue(args.queue_url, args.max, out)
    return replay_files(args.files, out)


# ---------------------------------------------------------------------------------------------
# Flags


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


def _account_list(text: str) -> list[str]:
    ids = list(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not ids:
        raise argparse.ArgumentTypeError("no account id given")
    bad = [a for a in ids if not _ACCOUNT_RE.fullmatch(a)]
    if bad:
        raise argparse.ArgumentTypeError(f"not 12-digit account ids: {', '.join(map(repr, bad))}")
    return ids


# ---------------------------------------------------------------------------------------------
# Commands


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _documents(
    files: Sequence[str], out: TextIO
) -> Iterator[tuple[str, list[RootKeyEvent | RecordError]]]:
    """Each file's records; a file that is not CloudTrail prints an error line instead."""
    for name in files:
        try:
            items = parse_records(load_document(_read(name)))
        except (DetectorError, OSError) as exc:
            _emit(out, {"source": name, "error": str(exc), "error_type": type(exc).__name__})
            continue
        yield name, items


def _record_error(out: TextIO, name: str, item: RecordError) -> None:
    _emit(
        out,
        {
            "source": f"{name}#{item.index}",
            "error": str(item.error),
            "error_type": type(item.error).__name__,
        },
    )


def classify_files(files: Sequence[str], out: TextIO) -> int:
    """``classify``: verdicts only; exits 2 if any input or record was not CloudTrail.

    A record that is not CloudTrail gets an error line in its place; the others still print.
    """
    bad = 0
    seen = 0
    for name, items in _documents(files, out):
        seen += 1
        for item in items:
            if isinstance(item, RecordError):
                bad += 1
                _record_error(out, name, item)
                continue
            _emit(out, _line(name, item) | {"verdict": classify(item).value})
    return EXIT_BAD_INPUT if bad or seen < len(files) else EXIT_OK


def replay_files(files: Sequence[str], out: TextIO) -> int:
    """``replay``: the full pipeline on recorded events against the configured services.

    Each record is processed on its own; a failure is printed and the next goes on, unless
    nothing can work (credentials, the ledger table, the endpoint): then one line says why.
    """
    runtime = _runtime()
    if runtime is None:
        return EXIT_BAD_INPUT
    deps = runtime.deps
    status = EXIT_OK
    bad = 0
    seen = 0
    for name, items in _documents(files, out):
        seen += 1
        for item in items:
            if isinstance(item, RecordError):
                bad += 1
                _record_error(out, name, item)
                continue
            try:
                outcome = pipeline.process(item, deps)
                _emit(out, _line(name, item) | outcome.as_dict())
            except pipeline.PipelineError as exc:
                status = EXIT_FAILED
                _emit(out, _line(name, item) | exc.outcome.as_dict() | {"error": str(exc)})
            except DetectorError as exc:
                _stop_if_environment(exc, runtime)
                status = EXIT_FAILED
                error = {"error": str(exc), "error_type": type(exc).__name__}
                _emit(out, _line(name, item) | {"verdict": classify(item).value} | error)
    if (bad or seen < len(files)) and status == EXIT_OK:
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
        stop=lambda exc: environment_problem(
            exc, ledger_table=runtime.settings.ledger_table, queue_url=queue_url
        ),
    )
    _emit(out, {"redrive": summary.as_dict()})
    if summary.stopped:
        raise _Stop(summary.stopped)
    return EXIT_OK if summary.failed == 0 and summary.unreadable == 0 else EXIT_FAILED


def sweep_accounts(accounts: Sequence[str] | None, out: TextIO) -> int:
    """``sweep``: one JSON line per account and a summary; exits 1 if an account failed.

    Without MEMBER_ROLE_NAME the detector can read only its own account: asked for another,
    it says so and sweeps nothing (it must never file one account's state under another's id).
    """
    runtime = _runtime()
    if runtime is None:
        return EXIT_BAD_INPUT
    from detector.sweep import SweepError  # noqa: PLC0415 - only this command sweeps

    ids = list(accounts or runtime.settings.sweep_accounts)
    if ids and not runtime.settings.member_role_name:
        own = runtime.accounts.own_account_id()
        others = [a for a in ids if a != own]
        if others:
            where = "--accounts" if accounts else "SWEEP_ACCOUNTS"
            print(
                f"{PROG} sweep: {where}: {', '.join(others)} is not this account ({own}) and"
                " MEMBER_ROLE_NAME is not set: there is no way into it",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
    try:
        summary = runtime.sweep(ids or None)
    except SweepError as exc:
        summary = exc.summary
    for result in summary.results:
        _emit(out, result.as_dict())
    _emit(out, {"sweep": summary.as_dict()})
    return EXIT_FAILED if summary.counts.get("failed") else EXIT_OK


# ---------------------------------------------------------------------------------------------
# Helpers


def _runtime() -> Runtime | None:
    """The configured runtime, or None after printing which variable is wrong."""
    from detector.wiring import runtime_from_env  # noqa: PLC0415 - classify needs none of it

    try:
        return runtime_from_env()
    except DetectorError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None


def _stop_if_environment(exc: BaseException, runtime: Runtime) -> None:
    problem = environment_problem(exc, ledger_table=runtime.settings.ledger_table)
    if problem is not None:
        raise _Stop(problem) from exc


def _line(name: str, event: RootKeyEvent) -> dict[str, Any]:
    return summary_fields(event, f"{name}#{event.index}")


def _emit(out: TextIO, doc: dict[str, Any]) -> None:
    # ensure_ascii: no raw bidi or control character from an event reaches a terminal.
    out.write(json.dumps(doc, ensure_ascii=True) + "\n")
    out.flush()


def _quiet_stdout(out: TextIO) -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's last flush is quiet
    (Python's documentation, "Note on SIGPIPE" in the signal module)."""
    if out is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
