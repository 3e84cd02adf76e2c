"""``sweep``: the daily job by hand: what IAM says now in every account, against the ledger."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from detector.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from detector.cli.output import PROG, emit
from detector.cli.runtime import load_runtime
from detector.errors import SweepError

HELP = "reconcile every account's root keys with the open findings (daily job)"
_ACCOUNT_RE = re.compile(r"[0-9]{12}")


def _account_list(text: str) -> list[str]:
    ids = list(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not ids:
        raise argparse.ArgumentTypeError("no account id given")
    bad = [a for a in ids if not _ACCOUNT_RE.fullmatch(a)]
    if bad:
        raise argparse.ArgumentTypeError(f"not 12-digit account ids: {', '.join(map(repr, bad))}")
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` options."""
    parser.add_argument(
        "--accounts",
        type=_account_list,
        help="comma-separated 12-digit account ids (default: SWEEP_ACCOUNTS, else all)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read every account and say what the sweep would do; post, import and record nothing",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``sweep`` with parsed arguments."""
    return sweep_accounts(args.accounts, out, dry_run=args.dry_run)


def sweep_accounts(accounts: Sequence[str] | None, out: TextIO, *, dry_run: bool = False) -> int:
    """``sweep``: one JSON line per account and a summary; exits 1 if an account failed.

    Without MEMBER_ROLE_NAME the detector can read only its own account: asked for another,
    it says so and sweeps nothing (it must never file one account's state under another's id).
    """
    runtime = load_runtime()
    if runtime is None:
        return EXIT_BAD_INPUT

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
        summary = runtime.sweep(ids or None, dry_run=dry_run)
    except SweepError as exc:
        summary = exc.summary
    for result in summary.results:
        emit(out, result.as_dict())
    emit(out, {"sweep": summary.as_dict() | ({"dry_run": True} if dry_run else {})})
    return EXIT_FAILED if summary.counts.get("failed") else EXIT_OK
