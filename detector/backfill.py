"""``backfill``: find root key events in a CloudTrail log archive in S3, and optionally act on them.

Keys created before the detector was deployed, or whose event EventBridge never delivered, are
still in the trail's S3 archive. This reads the archive's day folders (single-account and
organization-trail layouts), prints one classify-style line per root key event in
chronological order and, with ``--apply``, runs each through the pipeline; the ledger makes a
second run a no-op.

Cheap work first: almost no CloudTrail file mentions a root key call, so each decompressed
file is searched for a few byte strings before any JSON is parsed, and only the records that
can match are turned into events.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import botocore.exceptions

from detector import retry
from detector.domain.event import (
    MAX_INPUT_BYTES,
    RootKeyEvent,
    check_parse_cost,
    inflate,
    parse_log_record,
    summary_fields,
)
from detector.domain.verdict import IAM_SOURCE, Verdict, classify
from detector.errors import DetectorError, EventParseError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from mypy_boto3_s3 import S3Client

    from detector.pipeline import Dependencies

EXIT_OK = 0
EXIT_FAILED = 1  # --apply: an event failed in the pipeline after its retries
EXIT_BAD_INPUT = 2  # unreadable objects, a missing bucket, denied access, bad arguments
DEFAULT_WORKERS = 8
MAX_WORKERS = 64
# Decompressed bytes held at once across the workers: each object is capped at
# MAX_INPUT_BYTES, so at most this many objects are decompressed and scanned at a time
# (downloads still run --workers at once).
MAX_INFLIGHT_BYTES = 256 << 20
MAX_INFLATING = max(1, MAX_INFLIGHT_BYTES // MAX_INPUT_BYTES)

KEY_EVENT_NAMES = frozenset({"CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey"})
# A root key event's file holds each of these byte strings: userIdentity.type "Root", an event
# name ending in AccessKey, the event source. CloudTrail writes these values literally (JSON
# never needs to escape them), so a file missing one cannot hold a match. "Root" is the rarest
# and is searched first, while the file is being decompressed. ("Root" with its quotes ends in
# the commonest byte of JSON, which makes it about twice as slow to search for.)
_ROOT_WORD = b"Root"
_KEY_WORD = b'AccessKey"'
_SOURCE_NEEDLE = f'"{IAM_SOURCE}"'.encode()
_EDGE = 4096  # bytes inspected at each end of a file for its JSON-object shape
# CloudTrail's own layout (see candidate_records).
_HEAD = re.compile(rb'\s*\{"Records":\[')
_BOUNDARY = b'},{"eventVersion":'
_EVENT_ID_KEY = b'"eventID":'

_ACCOUNT_DIR = re.compile(r"^\d{12}$")
_ORG_DIR = re.compile(r"^o-[a-z0-9]{10,32}$")
# Same-second events of one key: the order its story can happen in.
_SAME_SECOND_RANK = {
    Verdict.CREATED: 0,
    Verdict.ACTIVATED: 1,
    Verdict.DEACTIVATED: 1,
    Verdict.DELETED: 2,
}
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# Pure: one log object's bytes -> the root key events it holds


@dataclass(frozen=True, slots=True)
class Found:
    """A root key event and where it is in its log file."""

    index: int  # the record's position in the file's Records
    event: RootKeyEvent
    verdict: Verdict  # never IGNORED


@dataclass(frozen=True, slots=True)
class Scan:
    """What one CloudTrail log object holds for the backfill."""

    raw_bytes: int  # decompressed size
    skipped: bool  # ruled out by the byte-level prefilter, never JSON-parsed
    candidates: int = 0  # records that passed the record-level prefilter
    events: tuple[Found, ...] = ()  # in file order


def might_match(text: bytes) -> bool:
    """False when no record of this decompressed log file can be a root key event."""
    # Each is one pass when absent; the exact test is record_might_match, record by record.
    return _ROOT_WORD in text and _KEY_WORD in text and _SOURCE_NEEDLE in text


def record_might_match(record: Any) -> bool:
    """Whether one raw record can be a root key event (checked before it is parsed)."""
    if not isinstance(record, dict):
        return False
    identity = record.get("userIdentity")
    name = record.get("eventName")
    return (
        isinstance(name, str)  # a list or an object cannot be looked up in a set
        and name in KEY_EVENT_NAMES
        and record.get("eventSource") == IAM_SOURCE
        and isinstance(identity, dict)
        and identity.get("type") == "Root"
    )


def candidate_records(text: bytes) -> list[tuple[int, Any]] | None:
    """(index, record) of every record that can match, parsing only the records holding "Root".

    CloudTrail writes ``{"Records":[{"eventVersion":...},{"eventVersion":...}]}``, minified.
    ``},{"eventVersion":`` can only be structure (a JSON string cannot hold an unescaped quote),
    so it marks where a record starts. The slice around each ``"Root"`` string is parsed
    strictly on its own: a slice that is not exactly one JSON value means the file is not laid
    out so. A candidate's index is the number of those marks before it; it is trusted only if
    every record up to it holds exactly one ``"eventID":`` key (a record without the mark, or
    an object inside one that starts like a record, breaks that count). Returns None when any
    check fails: the caller then parses the whole file.
    """
    head = _HEAD.match(text)
    window = text[-_EDGE:]
    tail = window.rstrip()
    if head is None or not tail.endswith(b"]}"):
        return None
    body_start, body_end = head.end(), len(text) - (len(window) - len(tail)) - 2
    found: list[tuple[int, Any]] = []
    pos = floor = body_start  # search from; where the first record not yet looked at starts
    counted, index, ids = body_start, 0, 0  # a record's start, its index, "eventID":s before it
    while (hit := text.find(_ROOT_WORD, pos, body_end)) >= 0:
        pos = hit + len(_ROOT_WORD)
        if text[hit - 1 : hit] != b'"' or text[pos : pos + 1] != b'"':
            continue  # "Root" inside a longer string
        start = text.rfind(_BOUNDARY, floor, hit)
        start = floor if start < 0 else start + 2
        end = text.find(_BOUNDARY, hit, body_end)
        end = body_end if end < 0 else end + 1
        piece = text[start:end]
        try:
            check_parse_cost(piece)  # one record: a JSON bomb in it is no CloudTrail event
            record = json.loads(piece)
        except (ValueError, RecursionError, EventParseError):
            return None
        pos = floor = end + 1  # past the comma
        if not record_might_match(record):
            continue
        # The mark before a record starts 2 bytes before it.
        index += text.count(_BOUNDARY, counted, start + len(_BOUNDARY) - 2)
        own = text.count(_EVENT_ID_KEY, start, end)
        ids += text.count(_EVENT_ID_KEY, counted, start) + own
        if own != 1 or ids != index + 1:
            return None
        found.append((index, record))
        counted, index = end + 1, index + 1
    return found


def scan_log(data: bytes) -> Scan:
    """Find the root key events of one CloudTrail log object (gzip or plain JSON).

    Returns the same events and verdicts as parsing and classifying every record would,
    minus the ignored ones, at the cost of a byte search for almost every file. Records that
    cannot match are never parsed: one that is garbled, or not a record at all, costs nothing
    but itself. A root key event with a garbled field keeps its verdict and names the field
    (``untrusted``, its path with the record's real index).

    Raises:
        EventParseError: not gzip/JSON, or not a CloudTrail log file ``{"Records": [...]}``.
    """
    pieces: list[bytes] = []
    root_seen = False
    carry = b""
    for piece in inflate(data):
        if not root_seen:  # the cheapest test, while the piece is hot in the cache
            root_seen = _ROOT_WORD in piece or _ROOT_WORD in carry + piece[:3]
            carry = piece[-3:]
        pieces.append(piece)
    raw_bytes = sum(map(len, pieces))
    _check_shape(pieces)
    if not root_seen:
        return Scan(raw_bytes=raw_bytes, skipped=True)
    text = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    del pieces
    if not might_match(text):
        return Scan(raw_bytes=raw_bytes, skipped=True)
    records = candidate_records(text)
    if records is None:
        records = list(enumerate(_all_records(text)))
    found: list[Found] = []
    candidates = 0
    for index, record in records:
        if not record_might_match(record):
            continue
        candidates += 1
        # A candidate is an object naming IAM, a key call and Root: it is CloudTrail, so it
        # always yields an event (a garbled field is named in its ``untrusted``).
        event = parse_log_record(record, index)
        verdict = classify(event)
        if verdict is not Verdict.IGNORED:
            found.append(Found(index, event, verdict))
    return Scan(raw_bytes=raw_bytes, skipped=False, candidates=candidates, events=tuple(found))


def _check_shape(pieces: list[bytes]) -> None:
    """One JSON object mentioning "Records": catches most garbage and truncation cheaply, even
    in files that are never parsed."""
    head = pieces[0][:_EDGE].lstrip() if pieces else b""
    tail = b"".join(piece[-_EDGE:] for piece in pieces[-2:]).rstrip()
    if not head.startswith(b"{") or not tail.endswith(b"}"):
        raise EventParseError("$", "not a JSON object")
    if b'"Records"' not in head and b'"Records"' not in b"".join(pieces):
        raise EventParseError("$.Records", "missing")


def _all_records(text: bytes) -> list[Any]:
    check_parse_cost(text)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise EventParseError("$", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventParseError("$", "JSON nested too deeply") from exc
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise EventParseError("$.Records", "expected a list of records")
    return records


def line(source: str, found: Found) -> dict[str, Any]:
    """The fields of a ``classify`` line (as ``detector.cli``): ``source`` is ``name#index``."""
    return summary_fields(found.event, f"{source}#{found.index}")


def days_between(since: date, until: date) -> list[date]:
    """Every day from ``since`` to ``until``, both included."""
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


# ---------------------------------------------------------------------------------------------
# The archive in S3


@dataclass(frozen=True, slots=True)
class LogObject:
    """One object in a day folder."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class FileResult:
    """One object downloaded and scanned, or the reason it could not be."""

    key: str
    size: int  # compressed bytes read
    scan: Scan | None = None
    error: str | None = None


class ArchiveError(DetectorError):
    """The archive cannot be listed (missing bucket, access denied): nothing can be trusted."""


class S3Archive:
    """A CloudTrail archive: ``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/Y/M/D/``.

    Every call goes through the AWS_CALL retry policy (botocore itself makes one attempt).
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        prefix: str = "",
        retry_env: retry.RetryEnv | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.root = _logs_root(prefix)
        self._retry_env = retry_env or retry.RetryEnv()
        self._inflating = threading.BoundedSemaphore(MAX_INFLATING)

    def _call(self, fn: Callable[[], _T]) -> _T:
        result: _T = retry.build(retry.AWS_CALL, self._retry_env)(fn)
        return result

    def _list(self, prefix: str, delimiter: str | None) -> tuple[list[str], list[LogObject]]:
        folders: list[str] = []
        objects: list[LogObject] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            page = self._call(lambda: self.s3.list_objects_v2(**kwargs))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) if "Prefix" in p)
            objects.extend(
                LogObject(o["Key"], int(o.get("Size", 0)))
                for o in page.get("Contents", [])
                if "Key" in o and not o["Key"].endswith("/")
            )
            if not page.get("IsTruncated"):
                return folders, objects
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def folders(self, prefix: str) -> list[str]:
        """The sub-folders of ``prefix`` (one level, ``Delimiter='/'``)."""
        return self._list(prefix, "/")[0]

    def region_folders(self, pool: ThreadPoolExecutor) -> list[str]:
        """``.../CloudTrail/<region>/`` of every account (and organization) found under AWSLogs/.

        Discovered level by level with delimited listings, the calls of a level in parallel.
        """
        top = self.folders(self.root)
        trails = [f"{p}CloudTrail/" for p in top if _ACCOUNT_DIR.match(_leaf(p))]
        orgs = [p for p in top if _ORG_DIR.match(_leaf(p))]
        for members in pool.map(self.folders, orgs):
            trails.extend(f"{p}CloudTrail/" for p in members if _ACCOUNT_DIR.match(_leaf(p)))
        regions: list[str] = []
        for found in pool.map(self.folders, trails):
            regions.extend(found)
        return sorted(regions)

    def log_objects(self, pool: ThreadPoolExecutor, days: Sequence[date]) -> list[LogObject]:
        """Every object in the day folders of ``days`` of every account and region, by key."""
        day_prefixes = [
            f"{region}{day:%Y/%m/%d}/" for region in self.region_folders(pool) for day in days
        ]
        found: list[LogObject] = []
        for objects in pool.map(lambda p: self._list(p, None)[1], day_prefixes):
            found.extend(objects)
        return sorted(found, key=lambda o: o.key)

    def fetch(self, key: str) -> bytes:
        """The object's bytes (body read inside the retried call: a cut stream is retried)."""

        def get() -> bytes:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return body.read()
            finally:
                body.close()

        return self._call(get)

    def scan(self, obj: LogObject) -> FileResult:
        """Download and scan one object; any failure is returned, never raised."""
        try:
            data = self.fetch(obj.key)
        except botocore.exceptions.ClientError as exc:
            code = retry.error_code(exc)
            return FileResult(obj.key, 0, error=f"cannot read ({code}): {exc}")
        except botocore.exceptions.BotoCoreError as exc:
            return FileResult(obj.key, 0, error=f"cannot read ({type(exc).__name__}): {exc}")
        try:
            with self._inflating:  # at most MAX_INFLATING objects decompressed at once
                return FileResult(obj.key, len(data), scan=scan_log(data))
        except EventParseError as exc:
            return FileResult(obj.key, len(data), error=f"not a CloudTrail log file: {exc}")

    def url(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"


def _logs_root(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix == "AWSLogs" or prefix.endswith("/AWSLogs"):  # given with AWSLogs: forgive it
        return f"{prefix}/"
    return f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"


def _leaf(folder: str) -> str:
    return folder.rstrip("/").rsplit("/", 1)[-1]


def _s3_client(workers: int) -> S3Client:
    """An S3 client with a connection per worker; AWS_ENDPOINT_URL is honoured as everywhere."""
    import boto3  # noqa: PLC0415 - classify must not pay for boto3
    from botocore.config import Config  # noqa: PLC0415

    from detector.adapters.aws import botocore_config  # noqa: PLC0415

    session = boto3.session.Session()
    config = botocore_config().merge(
        Config(
            max_pool_connections=max(10, workers + 2),
            # Log objects are gzip, whose CRC-32 zlib checks over every byte: S3's own checksum
            # would be computed a second time for nothing.
            response_checksum_validation="when_required",
        )
    )
    client: S3Client = session.client(
        "s3", region_name=session.region_name or "us-east-1", config=config
    )
    return client


# ---------------------------------------------------------------------------------------------
# Progress on a terminal (stderr only)


@dataclass
class Progress:
    """A one-line progress bar: files done / total, MB read and rate; silent if not a TTY."""

    stream: TextIO
    total: int
    enabled: bool
    done: int = 0
    bytes_read: int = 0
    started: float = field(default_factory=time.monotonic)
    _drawn: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, size: int) -> None:
        """One more file done."""
        with self._lock:
            self.done += 1
            self.bytes_read += size
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= 0.1 or self.done == self.total):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        width = 24
        filled = width * self.done // self.total if self.total else width
        mb = self.bytes_read / 1e6
        rate = mb / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files"
            f"  {mb:.1f} MB  {rate:.1f} MB/s\x1b[K"
        )
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print a line without garbling the bar."""
        with self._lock:
            prefix = "\r\x1b[K" if self.enabled else ""
            self.stream.write(f"{prefix}{text}\n")
            if self.enabled and self._drawn:
                self._draw(time.monotonic())
            self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# The command


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_WORKERS}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``backfill`` options."""
    parser.add_argument("--bucket", required=True, help="the CloudTrail archive's S3 bucket")
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
        type=_workers,
        default=DEFAULT_WORKERS,
        help=f"parallel downloads (default {DEFAULT_WORKERS})",
    )


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
    err = sys.stderr
    started = time.monotonic()
    since: date = args.since
    until: date = args.until or datetime.now(UTC).date()
    if since > until:
        print(f"backfill: --since {since} is after --until {until}", file=err)
        return EXIT_BAD_INPUT
    deps = None
    if args.apply:
        deps = _pipeline_dependencies()
        if deps is None:
            return EXIT_BAD_INPUT

    archive = S3Archive(_s3_client(args.workers), args.bucket, args.prefix)
    totals = _Totals()
    try:
        found = _scan_archive(archive, days_between(since, until), args.workers, totals, err)
    except ArchiveError as exc:
        print(f"backfill: {exc}", file=err)
        return EXIT_BAD_INPUT

    status = EXIT_OK
    for key, item in found:
        base = line(archive.url(key), item)
        if deps is None:
            _emit(out, base | {"verdict": item.verdict.value})
        elif not _apply_one(item, deps, base, out):
            status = EXIT_FAILED
    totals.matched = len(found)
    print(_summary(totals, time.monotonic() - started), file=err)
    if status == EXIT_OK and totals.errors:
        status = EXIT_BAD_INPUT
    return status


def _scan_archive(
    archive: S3Archive, days: Sequence[date], workers: int, totals: _Totals, err: TextIO
) -> list[tuple[str, Found]]:
    """Every root key event of the archive's day folders, in chronological order (stable).

    Raises:
        ArchiveError: the bucket or a folder cannot be listed.
    """
    # Imported here: classify imports this module (through the CLI) and needs no threads.
    from concurrent.futures import ThreadPoolExecutor, as_completed  # noqa: PLC0415

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill")
    if err.isatty():
        print(f"backfill: listing s3://{archive.bucket}/{archive.root} ...", file=err)
    try:
        try:
            objects = archive.log_objects(pool, days)
        except botocore.exceptions.ClientError as exc:
            raise ArchiveError(_listing_problem(archive, exc)) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ArchiveError(f"cannot list s3://{archive.bucket}/: {exc}") from exc
        totals.listed = len(objects)
        if not objects:
            print(
                f"backfill: no CloudTrail log objects under s3://{archive.bucket}/{archive.root}"
                f" for {days[0]}..{days[-1]}",
                file=err,
            )
        progress = Progress(err, len(objects), enabled=err.isatty())
        futures: list[Future[FileResult]] = [pool.submit(archive.scan, o) for o in objects]
        results: list[FileResult] = []
        for future in as_completed(futures):
            result = future.result()
            progress.advance(result.size)
            if result.error is not None:
                totals.errors += 1
                progress.note(f"backfill: {archive.url(result.key)}: {result.error}")
            results.append(result)
        progress.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    found: list[tuple[str, Found]] = []
    for result in sorted(results, key=lambda r: r.key):
        totals.bytes_read += result.size
        if result.scan is None:
            continue
        totals.raw_bytes += result.scan.raw_bytes
        totals.skipped += result.scan.skipped
        found.extend((result.key, item) for item in result.scan.events)
    # Stable: same-time events keep their key/index order, after the lifecycle rank.
    found.sort(key=lambda f: (f[1].event.event_time, _SAME_SECOND_RANK.get(f[1].verdict, 0)))
    return found


def _listing_problem(archive: S3Archive, exc: botocore.exceptions.ClientError) -> str:
    code = retry.error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":
        return f"bucket {archive.bucket!r} does not exist"
    if code in {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"} or status == 403:
        return f"access denied listing s3://{archive.bucket}/{archive.root} ({code}): {exc}"
    return f"cannot list s3://{archive.bucket}/{archive.root} ({code}): {exc}"


def _pipeline_dependencies() -> Dependencies | None:
    """The pipeline's adapters from the environment, or None after printing why not."""
    # Imported here: without --apply the backfill needs no Slack, Security Hub or ledger.
    from detector.wiring import runtime_from_env  # noqa: PLC0415

    try:
        return runtime_from_env().deps
    except DetectorError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None


def _apply_one(item: Found, deps: Dependencies, base: dict[str, Any], out: TextIO) -> bool:
    """Run one event through the pipeline; prints the outcome merged into its line.

    A failure is printed and the next event goes on: the ledger keeps what did succeed, so
    running the backfill again completes only what is missing.
    """
    from detector import pipeline  # noqa: PLC0415

    try:
        outcome = pipeline.process(item.event, deps)
    except pipeline.PipelineError as exc:
        _emit(out, base | exc.outcome.as_dict() | {"error": str(exc)})
        return False
    except DetectorError as exc:  # e.g. the ledger unreachable after its retries
        error = {"error": str(exc), "error_type": type(exc).__name__}
        _emit(out, base | {"verdict": item.verdict.value} | error)
        return False
    _emit(out, base | outcome.as_dict())
    return True


def _summary(totals: _Totals, seconds: float) -> str:
    return (
        f"backfill: {totals.listed} files listed, {totals.skipped} skipped by prefilter,"
        f" {totals.matched} records matched, {totals.bytes_read / 1e6:.1f} MB read"
        f" ({totals.raw_bytes / 1e6:.1f} MB decompressed), {totals.errors} unreadable,"
        f" {seconds:.2f} s"
    )


def _emit(out: TextIO, doc: dict[str, Any]) -> None:
    # ensure_ascii: no raw bidi or control character from an event reaches a terminal.
    out.write(json.dumps(doc, ensure_ascii=True) + "\n")
    out.flush()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m detector.backfill``: the same command, standalone."""
    parser = argparse.ArgumentParser(
        prog="python -m detector backfill", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    add_arguments(parser)
    return run(parser.parse_args(argv), out or sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
