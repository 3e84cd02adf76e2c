"""``preview``: what the detector would post to Slack and file in Security Hub, offline.

For each record: its verdict, the exact Slack calls (bot mode's chat.postMessage and, for a
reply, chat.update of the key's alert; the incoming webhook's body), a Block Kit Builder link
for each, and the ASFF finding. ``--digest`` shows the daily sweep's own messages. Needs no
network, credentials or settings; what only a live run knows is a labelled placeholder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from detector.cli.inputs import INPUTS_HELP, expand, read_input
from detector.cli.output import error_fields
from detector.domain.confirmation import KeyState
from detector.domain.event import RecordError
from detector.domain.preview import Assumptions, Story, placeholder, preview_event, preview_sweep
from detector.domain.reconcile import AccountStatus

HELP = "show the Slack messages and findings recorded events would make (no network)"
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
EXAMPLE_ACCOUNT = "111122223333"  # AWS's documentation account id
# An example sweep: counts per account status (detector.domain.reconcile.AccountStatus).
EXAMPLE_COUNTS = {"alerted": 1, "clean": 40, "failed": 1, "known": 2, "resolved": 1}
EXAMPLE_FAILED = [("444455556666", "AccessDenied: sts.AssumeRole")]
_IAM = {"expected": None, **{s.value.lower(): s for s in KeyState}}


def _region(text: str) -> str:
    if not _REGION_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a region name: {text!r}")
    return text


def _default_region() -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    return region if _REGION_RE.fullmatch(region) else "us-east-1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``preview`` arguments."""
    parser.add_argument("files", nargs="*", help=INPUTS_HELP)
    parser.add_argument(
        "--digest",
        action="store_true",
        help="the daily sweep's messages instead (FILE: the sweep command's output, optional)",
    )
    parser.add_argument(
        "--region",
        type=_region,
        default=None,
        help="the detector's region (default: AWS_REGION, else us-east-1)",
    )
    parser.add_argument(
        "--account-name",
        default=None,
        help="the account name Organizations would give ('' for none; default: a placeholder)",
    )
    parser.add_argument(
        "--iam",
        choices=list(_IAM),
        default="expected",
        help="IAM's answer when asked about the key (default: what the event leads to expect)",
    )
    parser.add_argument("--channel", default=None, help="the Slack channel id (SLACK_CHANNEL_ID)")


def assumptions(args: argparse.Namespace) -> Assumptions:
    """The placeholders, with what the options told instead."""
    base = Assumptions(region=args.region or _default_region(), iam=_IAM[args.iam])
    if args.account_name is not None:
        base = replace(base, account_name=args.account_name or None)
    if args.channel:
        base = replace(base, channel=args.channel)
    return base


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``preview`` with parsed arguments."""
    assume = assumptions(args)
    if args.digest:
        return preview_digest(args.files, assume, out)
    if not args.files:
        print("preview: give a file, a directory or - (or --digest)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return preview_files(args.files, assume, out)


def show(out: TextIO, doc: dict[str, Any]) -> None:
    """One preview, as indented JSON (a stream of documents ``jq`` reads)."""
    out.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
    out.flush()


def preview_files(files: Sequence[str], assume: Assumptions, out: TextIO) -> int:
    """Every record's preview, in input order; exits 2 if an input or record was not read."""
    story = Story()  # one story across all inputs: a key's later records reply to its alert
    bad = 0
    for name in expand(files):
        for doc in read_input(name):
            if doc.error is not None:
                bad += 1
                show(out, {"source": doc.source} | error_fields(doc.error))
                continue
            for item in doc.items:
                if isinstance(item, RecordError):
                    bad += 1
                    show(out, {"source": f"{doc.source}#{item.index}"} | error_fields(item.error))
                    continue
                source = f"{doc.source}#{item.index}"
                show(out, preview_event(item, source, assume, story))
    return EXIT_BAD_INPUT if bad else EXIT_OK


def preview_digest(files: Sequence[str], assume: Assumptions, out: TextIO) -> int:
    """The sweep's messages, from the sweep command's output or an example sweep."""
    from detector.sweep import GONE  # noqa: PLC0415 - the sweep's own words for a key gone

    if len(files) > 1:
        print("preview --digest: one sweep output at most", file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = read_sweep(files[0]) if files else None
    if files and summary is None:
        print(f"preview --digest: {files[0]}: no sweep summary line", file=sys.stderr)
        return EXIT_BAD_INPUT
    counts, failed, account = summary or (EXAMPLE_COUNTS, EXAMPLE_FAILED, EXAMPLE_ACCOUNT)
    doc = preview_sweep(counts, failed, account, datetime.now(UTC), assume, gone=GONE)
    doc["source"] = files[0] if files else placeholder("an example sweep")
    show(out, doc)
    return EXIT_OK


Sweep = tuple[dict[str, int], list[tuple[str, str]], str]


def read_sweep(name: str) -> Sweep | None:
    """The counts and failed accounts of the sweep command's summary line (the last found),
    and an account it alerted on (else the example account)."""
    data = sys.stdin.read() if name == "-" else Path(name).read_text(errors="replace")
    found = None
    alerted = EXAMPLE_ACCOUNT
    for line in data.splitlines():
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(doc, dict):
            continue
        if doc.get("status") == "alerted" and _ACCOUNT_RE.fullmatch(str(doc.get("account"))):
            alerted = str(doc["account"])
        summary = doc.get("sweep")
        if isinstance(summary, dict):
            found = _summary(summary)
    return (*found, alerted) if found else None


def _summary(summary: dict[str, Any]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    counts = summary.get("counts")
    failed = summary.get("failed")
    statuses = {s.value for s in AccountStatus}
    good_counts = {
        k: v
        for k, v in (counts if isinstance(counts, dict) else {}).items()
        if k in statuses and type(v) is int
    }
    rows = [
        (f["account"], str(f.get("detail", "")))
        for f in (failed if isinstance(failed, list) else [])
        if isinstance(f, dict) and _ACCOUNT_RE.fullmatch(str(f.get("account")))
    ]
    return good_counts, rows
