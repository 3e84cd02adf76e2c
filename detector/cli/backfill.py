"""``backfill``: root key events in a CloudTrail log archive in S3, printed in time order and,
with ``--apply``, run through the pipeline (the ledger makes a second run a no-op).

It finds keys created before the detector was deployed, or whose event EventBridge never
delivered; both archive layouts (single-account and organization trail) are read.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from detector.cli.arguments import whole_number
from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from detector.cli.output import emit, event_line
from detector.cli.progress import Progress
from detector.cli.runtime import load_runtime, process_one
from detector.domain.document import MAX_INPUT_BYTES
from detector.domain.logscan import Found, Scan, scan_log
from detector.errors import ArchiveError, EventParseError

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    from detector.adapters.archive import LogObject, S3Archive
    from detector.pipeline import Dependencies

HELP = "root key events in a CloudTrail log archive in S3"
DEFAULT_WORKERS = 8
MAX_WORKERS = 64
# Decompressed bytes held at once across the workers: each object is capped at
# MAX_INPUT_BYTES, so at most this many objects are decompressed and scanned at a time
# (downloads still run --workers at once).
MAX_INFLIGHT_BYTES = 256 << 20
MAX_INFLATING = max(1, MAX_INFLIGHT_BYTES // MAX_INPUT_BYTES)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


# S3's bucket naming rules ("General purpose bucket naming rules", Amazon S3 User Guide):
# 3-63 characters, lowercase letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _bucket(text: str) -> tuple[str, str]:
    """``--bucket``: a bucket name as before, or ``s3://bucket[/prefix]`` (bucket, prefix)."""
    if "://" not in text:
        return text, ""  # a plain name, as the option always took it
    url = urlsplit(text)
    if url.scheme != "s3" or not _BUCKET_RE.fullmatch(url.netloc) or url.query or url.fragment:
        raise argparse.ArgumentTypeError(
            f"not a bucket name or an s3://bucket/prefix URL: {text!r}"
        )
    return url.netloc, url.path.strip("/")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backfill`` options."""
    parser.add_argument(
        "--bucket",
        required=True,
        type=_bucket,
        help="the CloudTrail archive's S3 bucket, or s3://bucket/prefix",
    )
    parser.add_argument(
        "--prefix", default="", help="the trail's S3 key prefix (what comes before AWSLogs/)"
    )
    parser.add_argument(
        "--since", required=True, type=_date, help="first day folder to read, YYYY-MM-DD (UTC)"
    )
    parser.add_argument(
        "--until", type=_date, default=None, help="last day folder to read (default: today, UTC)"
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="run each root key event through the pipeline (idempotent: safe to repeat)",
    )
    parser.add_argument(
        "--workers",
        type=whole_number(MAX_WORKERS),
        default=DEFAULT_WORKERS,
        help=f"parallel downloads (default {DEFAULT_WORKERS})",
    )


def days_between(since: date, until: date) -> list[date]:
    """Every day from ``since`` to ``until``, both included."""
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


@dataclass(frozen=True, slots=True)
class FileResult:
    """One object downloaded and scanned, or the reason it could not be."""

    key: str
    size: int  # compressed bytes read
    scan: Scan | None = None
    error: str | None = None


@dataclass
class _Totals:
    listed: int = 0
    skipped: int = 0
    matched: int = 0
    errors: int = 0
    bytes_read: int = 0
    raw_bytes: int = 0


def run(args: argparse.Namespace, out: TextIO) -> int:
    """``backfill``: print (and with ``--apply`` process) the archive's root key events.

    Returns:
        0; 2 if an object was unreadable or the archive could not be listed (after reading
        everything else); 1 if ``--apply`` failed on an event.
    """
    from detector.adapters.archive import s3_archive  # noqa: PLC0415 - boto3

    err = sys.stderr
    started = time.monotonic()
    since: date = args.since
    until: date = args.until or datetime.now(UTC).date()
    if since > until:
        print(f"backfill: --since {since} is after --until {until}", file=err)
        return EXIT_BAD_INPUT
    deps: Dependencies | None = None
    if args.apply:
        runtime = load_runtime()
        if runtime is None:
            return EXIT_BAD_INPUT
        deps = runtime.deps

    bucket, prefix = args.bucket
    if prefix and args.prefix:
        print("backfill: the prefix is given twice (--prefix and the s3:// URL)", file=err)
        return EXIT_BAD_INPUT
    archive = s3_archive(bucket, prefix or args.prefix, workers=args.workers)
    totals = _Totals()
    try:
        found = _scan_archive(archive, days_between(since, until), args.workers, totals, err)
    except ArchiveError as exc:
        print(f"backfill: {exc}", file=err)
        return EXIT_BAD_INPUT

    status = _print(archive, found, deps, out)
    totals.matched = len(found)
    print(_summary(totals, time.monotonic() - started), file=err)
    if status == EXIT_OK and totals.errors:
        status = EXIT_BAD_INPUT
    return status


def _print(
    archive: S3Archive, found: list[tuple[str, Found]], deps: Dependencies | None, out: TextIO
) -> int:
    """Each event's line, or with ``deps`` its outcome in the pipeline; 1 if one failed.

    A failure is printed and the next event goes on: the ledger keeps what did succeed, so
    running the backfill again completes only what is missing.
    """
    status = EXIT_OK
    for key, item in found:
        base = event_line(archive.url(key), item.event)
        if deps is None:
            emit(out, base | {"verdict": item.verdict.value})
        elif not process_one(item.event, deps, base, out):
            status = EXIT_FAILED
    return status


def _scan_archive(
    archive: S3Archive, days: Sequence[date], workers: int, totals: _Totals, err: TextIO
) -> list[tuple[str, Found]]:
    """Every root key event of the archive's day folders, in chronological order (stable).

    Raises:
        ArchiveError: the bucket or a folder cannot be listed.
    """
    # Imported here: the CLI imports this module for its options, and classify needs no threads.
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill")
    if err.isatty():
        print(f"backfill: listing s3://{archive.bucket}/{archive.root} ...", file=err)
    try:
        objects = archive.log_objects(pool, days)
        totals.listed = len(objects)
        if not objects:
            print(
                f"backfill: no CloudTrail log objects under s3://{archive.bucket}/{archive.root}"
                f" for {days[0]}..{days[-1]}",
                file=err,
            )
        results = _read_all(archive, objects, pool, totals, err)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _in_time_order(results, totals)


def _read_all(
    archive: S3Archive,
    objects: list[LogObject],
    pool: Executor,
    totals: _Totals,
    err: TextIO,
) -> list[FileResult]:
    """Every object downloaded and scanned in parallel, with progress and one note per failure."""
    from concurrent.futures import as_completed  # noqa: PLC0415 - as in _scan_archive

    inflating = threading.BoundedSemaphore(MAX_INFLATING)
    progress = Progress(err, len(objects), enabled=err.isatty())
    futures: list[Future[FileResult]] = [
        pool.submit(_read_one, archive, o, inflating) for o in objects
    ]
    results: list[FileResult] = []
    for future in as_completed(futures):
        result = future.result()
        progress.advance(result.size)
        if result.error is not None:
            totals.errors += 1
            progress.note(f"backfill: {archive.url(result.key)}: {result.error}")
        results.append(result)
    progress.close()
    return results


def _read_one(archive: S3Archive, obj: LogObject, inflating: threading.Semaphore) -> FileResult:
    """Download and scan one object; any failure is returned, never raised."""

    try:
        data = archive.fetch(obj.key)
    except ArchiveError as exc:
        return FileResult(obj.key, 0, error=str(exc))
    try:
        with inflating:  # at most MAX_INFLATING objects decompressed at once
            return FileResult(obj.key, len(data), scan=scan_log(data))
    except EventParseError as exc:
        return FileResult(obj.key, len(data), error=f"not a CloudTrail log file: {exc}")


def _in_time_order(results: list[FileResult], totals: _Totals) -> list[tuple[str, Found]]:
    found: list[tuple[str, Found]] = []
    for result in sorted(results, key=lambda r: r.key):
        totals.bytes_read += result.size
        if result.scan is None:
            continue
        totals.raw_bytes += result.scan.raw_bytes
        totals.skipped += result.scan.skipped
        found.extend((result.key, item) for item in result.scan.events)
    # Stable: same-time events keep their key/index order, after the lifecycle rank.
    found.sort(key=lambda f: (f[1].event.event_time, f[1].verdict.same_second_rank))
    return found


def _summary(totals: _Totals, seconds: float) -> str:
    return (
        f"backfill: {totals.listed} files listed, {totals.skipped} skipped by prefilter,"
        f" {totals.matched} records matched, {totals.bytes_read / 1e6:.1f} MB read"
        f" ({totals.raw_bytes / 1e6:.1f} MB decompressed), {totals.errors} unreadable,"
        f" {seconds:.2f} s"
    )
