"""The daily sweep: what IAM says now in every account, reconciled with open findings.

EventBridge's delivery of CloudTrail events is best effort and keys may predate the detector:
the sweep reads ``AccountAccessKeysPresent`` in every account (through the member role) and
  - a present key with no open finding gets a finding and an alert (source "sweep");
  - an open finding whose key is gone is resolved, with a reply in the alert's thread;
  - an account it cannot read is reported, never fatal.
Accounts are swept concurrently (``SWEEP_CONCURRENCY``); one summary is returned, and one
Slack digest is posted when anything changed.

Open findings come from each account's own Security Hub (``SWEEP_FINDINGS_FROM=member``, one
call per account), or, when this account is the organization's Security Hub administrator,
from its own Security Hub in one paginated read (``administrator``: it sees its members'
findings). If that read fails, the sweep falls back to the members' and says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detector import pipeline, retry
from detector.adapters.aws import AccountClients
from detector.domain.event import sweep_event
from detector.domain.finding import GENERATOR_ID, PRODUCT_FIELD_PREFIX
from detector.domain.message import resolution_message, sweep_digest
from detector.errors import DetectorError
from detector.log import get_logger


@dataclass
class AccountResult:
    """What the sweep found and did in one account."""

    account: str
    status: str  # clean, known, alerted, resolved, failed
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON-ready view."""
        return {"account": self.account, "status": self.status, "detail": self.detail}


@dataclass
class SweepSummary:
    """Counts per status, and the accounts that could not be read."""

    results: list[AccountResult] = field(default_factory=list)
    findings_from: str = "member"  # where open findings were read (see the module docstring)

    @property
    def counts(self) -> dict[str, int]:
        """How many accounts ended in each status."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return dict(sorted(out.items()))

    @property
    def changed(self) -> bool:
        """Whether anything was alerted, resolved or failed."""
        return any(r.status in {"alerted", "resolved", "failed"} for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        failed = [r.as_dict() for r in self.results if r.status == "failed"]
        return {
            "accounts": len(self.results),
            "counts": self.counts,
            "findings_from": self.findings_from,
            "failed": failed[:50],
        }


def organization_accounts(clients: Any) -> list[str]:
    """Every ACTIVE account of the organization (needs organizations:ListAccounts)."""
    accounts: list[str] = []
    for page in clients.client("organizations").get_paginator("list_accounts").paginate():
        accounts += [a["Id"] for a in page["Accounts"] if a.get("Status") == "ACTIVE"]
    return accounts


class Sweeper:
    """Runs one sweep over a list of accounts with bounded concurrency."""

    def __init__(
        self,
        deps: pipeline.Dependencies,
        accounts: AccountClients,
        *,
        concurrency: int = 32,
        findings_from: str = "member",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deps = deps
        self._accounts = accounts
        self._concurrency = concurrency
        self._findings_from = findings_from
        self._now = now

    def run(self, account_ids: Iterable[str]) -> SweepSummary:
        """Sweep every account; post a digest when anything changed."""
        ids = list(dict.fromkeys(account_ids))
        source = "member"
        # Open findings by account, read once as the Security Hub administrator (or None).
        central: dict[str, list[dict[str, Any]]] | None = None
        if self._findings_from == "administrator":
            try:
                central = self._administrator_findings()
                source = "administrator"
            except Exception as exc:  # noqa: BLE001 - the members can still be asked
                code = retry.error_code(exc)
                get_logger().error(
                    "sweep: reading findings as the Security Hub administrator failed; "
                    "asking each account instead",
                    extra={"error": f"{code}: {str(exc)[:200]}"},
                )
                source = f"member (administrator read failed: {code})"
        with ThreadPoolExecutor(max_workers=max(1, self._concurrency)) as pool:
            results = list(pool.map(lambda account: self._one(account, central), ids))
        summary = SweepSummary(results, findings_from=source)
        if summary.changed and self._deps.alerter is not None:
            failed = [(r.account, r.detail) for r in results if r.status == "failed"]
            try:
                self._deps.alerter.post(sweep_digest(summary.counts, failed))
            except DetectorError as exc:
                get_logger().error("sweep digest failed", extra={"error": str(exc)})
        get_logger().info("sweep done", extra=summary.as_dict())
        return summary

    def _one(self, account: str, central: dict[str, list[dict[str, Any]]] | None) -> AccountResult:
        try:
            return self._sweep(account, central)
        except Exception as exc:  # noqa: BLE001 - one account's failure is reported, not fatal
            code = retry.error_code(exc)
            get_logger().warning("sweep account failed", extra={"account": account, "error": code})
            return AccountResult(account, "failed", f"{code}: {str(exc)[:200]}")

    def _sweep(
        self, account: str, central: dict[str, list[dict[str, Any]]] | None
    ) -> AccountResult:
        env = self._deps.retry_env
        iam = self._accounts.client("iam", account)
        summary = retry.build(retry.AWS_CALL, env)(iam.get_account_summary)
        present = int(summary["SummaryMap"].get("AccountAccessKeysPresent", 0)) > 0
        if central is not None:
            open_findings = central.get(account, [])
        else:
            open_findings = self._open_findings(account)
        if present and open_findings:
            return AccountResult(account, "known", f"{len(open_findings)} open finding(s)")
        if present:
            outcome = pipeline.process(sweep_event(account, self._now()), self._deps)
            done = "already-done" not in outcome.actions
            return AccountResult(account, "alerted" if done else "known", outcome.finding_id or "")
        if not open_findings:
            return AccountResult(account, "clean")
        for finding in open_findings:
            self._resolve(account, finding)
        return AccountResult(account, "resolved", f"{len(open_findings)} finding(s) resolved")

    def _open_findings(self, account: str) -> list[dict[str, Any]]:
        """The account's open findings, from its own Security Hub."""
        client = self._accounts.client("securityhub", account)
        return _open_findings(client, self._deps.retry_env, account).get(account, [])

    def _administrator_findings(self) -> dict[str, list[dict[str, Any]]]:
        """Every member's open findings, from this account's Security Hub (the administrator)."""
        own = self._accounts.own_account_id()
        client = self._accounts.client("securityhub", own)
        return _open_findings(client, self._deps.retry_env, None)

    def _resolve(self, account: str, finding: dict[str, Any]) -> None:
        """Archive a finding whose key is gone, once, and say so in its alert's thread."""
        deps = self._deps
        fid = str(finding["Id"])
        marker = f"sweep-resolve-{fid}"
        state = deps.ledger.begin_event(marker, "sweep-resolved", deps.lease_s)
        if state.done:
            return
        try:
            resolved = copy.deepcopy(finding)
            resolved["Compliance"] = {**resolved.get("Compliance", {}), "Status": "PASSED"}
            resolved["RecordState"] = "ARCHIVED"
            resolved["UpdatedAt"] = (
                self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            fields = dict(resolved.get("ProductFields", {}))
            fields[f"{PRODUCT_FIELD_PREFIX}/ResolvedBy"] = "sweep"
            resolved["ProductFields"] = fields
            deps.findings.import_finding(resolved)
            alert = deps.ledger.claim_alert(fid, marker, deps.lease_s)
            if deps.alerter is not None:
                message = resolution_message(account, None, fid)
                if alert.mine:
                    ref = deps.alerter.post(message)  # no alert known: say it at top level
                    deps.ledger.set_alert(fid, ref)
                else:
                    deps.alerter.post(message, thread=alert.ref)
            deps.ledger.finish_event(marker)
        except BaseException:
            deps.ledger.release_event(marker, state.claim)
            raise


def _open_findings(
    client: Any, env: retry.RetryEnv, account: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Open findings of the detector, by account (of one account, or of all it can see)."""
    filters: dict[str, Any] = {
        "GeneratorId": [{"Value": GENERATOR_ID, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    if account is not None:
        filters["AwsAccountId"] = [{"Value": account, "Comparison": "EQUALS"}]
    found: dict[str, list[dict[str, Any]]] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        resp = retry.build(retry.AWS_CALL, env)(client.get_findings, **kwargs)
        # Filter again: not every Security Hub (e.g. an emulator) applies Filters.
        for f in resp["Findings"]:
            owner = f.get("AwsAccountId")
            if (
                f.get("GeneratorId") == GENERATOR_ID
                and f.get("RecordState", "ACTIVE") == "ACTIVE"
                and isinstance(owner, str)
                and (account is None or owner == account)
            ):
                found.setdefault(owner, []).append(f)
        token = resp.get("NextToken")
        if not token:
            return found
