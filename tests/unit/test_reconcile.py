"""The sweep's decisions as tables, the accounts it covers, and the findings it re-imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.delivery import KeyRecord
from detector.domain.event import parse_event
from detector.domain.finding import FindingContext, build_finding, refreshed, resolved
from detector.domain.reconcile import (
    REFRESH_AFTER,
    AccountStatus,
    OrgAccount,
    decide,
    select,
)
from detector.domain.verdict import Verdict
from tests.factories import record
from tests.unit.contracts import asff_problems

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=300)


def _record(age: timedelta, *, open_: bool = True, alias: str | None = None) -> KeyRecord:
    return KeyRecord(
        fid=f"fid-{age.total_seconds():.0f}-{open_}-{alias}",
        account="123456789012",
        key_id=None,
        first_seen=NOW - age,
        observed=NOW - age,
        open=open_,
        finding={"Id": "x"},
        alias=alias,
    )


FRESH = _record(timedelta(seconds=20))  # recorded seconds ago
DAY = _record(timedelta(days=1))
OLD = _record(REFRESH_AFTER + timedelta(days=1))  # due for a re-import
CLOSED = _record(timedelta(days=2), open_=False)
ALIAS = _record(timedelta(days=40), alias="fid-elsewhere")  # not a finding of its own


@pytest.mark.parametrize(
    ("present", "records", "status", "alert", "refresh", "resolve", "settling"),
    [
        (True, [], AccountStatus.ALERTED, True, [], [], []),
        (True, [CLOSED], AccountStatus.ALERTED, True, [], [], []),
        (True, [ALIAS], AccountStatus.ALERTED, True, [], [], []),
        (True, [DAY], AccountStatus.KNOWN, False, [], [], []),
        (True, [DAY, OLD], AccountStatus.KNOWN, False, [OLD], [], []),
        (True, [FRESH], AccountStatus.KNOWN, False, [], [], []),
        (False, [], AccountStatus.CLEAN, False, [], [], []),
        (False, [CLOSED, ALIAS], AccountStatus.CLEAN, False, [], [], []),
        (False, [DAY, OLD], AccountStatus.RESOLVED, False, [], [DAY, OLD], []),
        (False, [FRESH], AccountStatus.KNOWN, False, [], [], [FRESH]),
        (False, [FRESH, DAY], AccountStatus.RESOLVED, False, [], [DAY], [FRESH]),
    ],
)
def test_the_sweeps_decision(
    present: bool,
    records: list[KeyRecord],
    *,
    status: AccountStatus,
    alert: bool,
    refresh: list[KeyRecord],
    resolve: list[KeyRecord],
    settling: list[KeyRecord],
) -> None:
    decision = decide(present, records, NOW, settle=SETTLE)
    assert decision.status is status
    assert decision.alert_new is alert
    assert list(decision.refresh) == refresh
    assert list(decision.resolve) == resolve
    assert list(decision.settling) == settling


def test_a_sweeps_find_whose_alert_never_reached_slack_is_alerted_again() -> None:
    decision = decide(True, [DAY, OLD], NOW, settle=SETTLE, unalerted=frozenset({DAY.fid}))
    assert decision.status is AccountStatus.ALERTED
    assert list(decision.realert) == [DAY]
    assert list(decision.refresh) == [OLD]
    gone = decide(False, [DAY], NOW, settle=SETTLE, unalerted=frozenset({DAY.fid}))
    assert list(gone.realert) == []  # the key is gone: its resolution says so instead
    assert list(gone.resolve) == [DAY]


def test_active_accounts_are_swept_by_state_or_status_and_none_is_dropped_silently() -> None:
    selection = select(
        [
            OrgAccount("111111111111", "ACTIVE"),
            OrgAccount("222222222222", "SUSPENDED"),
            OrgAccount("333333333333", None),
            OrgAccount("444444444444", "PENDING_CLOSURE"),
            OrgAccount("555555555555", "CLOSED"),
            OrgAccount("666666666666", "PENDING_ACTIVATION"),
        ]
    )
    assert selection.accounts == ("111111111111", "333333333333")
    assert "no State" in selection.notes["333333333333"]
    assert selection.skipped == {
        "CLOSED": 1,
        "PENDING_ACTIVATION": 1,
        "PENDING_CLOSURE": 1,
        "SUSPENDED": 1,
    }


def _finding() -> dict[str, Any]:
    event = parse_event(record())
    ctx = FindingContext.first_observation(event, Verdict.CREATED, "us-east-1")
    return build_finding(event, Verdict.CREATED, Confirmation(KeyState.PRESENT, "x"), ctx)


def test_a_refreshed_finding_is_the_same_finding_observed_again() -> None:
    original = _finding()
    again = refreshed(original, NOW)
    assert again["UpdatedAt"] == again["LastObservedAt"] == "2026-12-01T06:00:00.000Z"
    assert again["CreatedAt"] == original["CreatedAt"]
    assert again["FirstObservedAt"] == original["FirstObservedAt"]
    changed = {k for k in original if original[k] != again[k]}
    assert changed == {"UpdatedAt", "LastObservedAt"}
    assert asff_problems(again) == []


def test_a_resolved_finding_is_built_from_the_detectors_own_finding() -> None:
    original = _finding()
    done = resolved(original, NOW, "IAM reports no root access key")
    assert (done["Compliance"]["Status"], done["RecordState"]) == ("PASSED", "ARCHIVED")
    assert done["CreatedAt"] == original["CreatedAt"]
    assert done["UpdatedAt"] > original["UpdatedAt"]
    assert done["ProductFields"]["root-key-detector/ResolvedBy"] == "sweep"
    assert all(not key.startswith("aws/") for key in done["ProductFields"])
    key = next(r for r in done["Resources"] if r["Type"] == "AwsIamAccessKey")
    assert "Status" not in key["Details"]["AwsIamAccessKey"]
    assert done["Description"].startswith("Resolved at 2026-12-01T06:00:00.000Z")
    assert original["RecordState"] == "ACTIVE"  # the original is untouched
    assert asff_problems(done) == []
