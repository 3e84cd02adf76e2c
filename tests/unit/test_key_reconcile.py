"""The sweep's decision per listed root key (centralized root access), as a table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector.domain.delivery import KeyRecord
from detector.domain.finding import finding_id
from detector.domain.key_reconcile import KeyAction, decide_keys, recorded_status
from detector.domain.reconcile import AccountStatus
from detector.domain.root_access import RootKey

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=5)
A, B = "AKIAAAAAAAAAAAAAAAAA", "AKIABBBBBBBBBBBBBBBB"


def _key(key_id: str, *, status: str = "Active", created_days_ago: int | None = 10) -> RootKey:
    created = None if created_days_ago is None else NOW - timedelta(days=created_days_ago)
    return RootKey(key_id, status, created)


def _finding(status: str = "Active") -> dict[str, Any]:
    return {"Resources": [{"Details": {"AwsIamAccessKey": {"Status": status}}}]}


def _record(
    key_id: str | None,
    *,
    days_ago: float = 1,
    status: str = "Active",
    open_: bool = True,
    fid: str | None = None,
    **extra: Any,
) -> KeyRecord:
    seen = NOW - timedelta(days=days_ago)
    return KeyRecord(
        fid=fid or finding_id(ACCOUNT, key_id),
        account=ACCOUNT,
        key_id=key_id,
        first_seen=seen,
        observed=seen,
        open=open_,
        finding=_finding(status),
        **extra,
    )


UNKNOWN = _record(None, days_ago=2, fid=finding_id(ACCOUNT, None, discovery="sweep-x"))


def _decide(keys: list[RootKey], records: list[KeyRecord], **kw: Any) -> Any:
    return decide_keys(ACCOUNT, keys, records, NOW, settle=SETTLE, **kw)


@pytest.mark.parametrize(
    ("keys", "records", "actions", "status"),
    [
        pytest.param([], [], {}, AccountStatus.CLEAN, id="no key, nothing open"),
        pytest.param([_key(A)], [], {A: KeyAction.ALERT}, AccountStatus.ALERTED, id="new key"),
        pytest.param(
            [_key(A, status="Inactive")],
            [],
            {A: KeyAction.ALERT},
            AccountStatus.ALERTED,
            id="new inactive key: alerted too",
        ),
        pytest.param(
            [_key(A)], [_record(A)], {A: KeyAction.KNOWN}, AccountStatus.KNOWN, id="known key"
        ),
        pytest.param(
            [_key(A)],
            [_record(A, days_ago=31)],
            {A: KeyAction.REFRESH},
            AccountStatus.KNOWN,
            id="known key, finding old: re-imported",
        ),
        pytest.param(
            [_key(A, status="Inactive")],
            [_record(A)],
            {A: KeyAction.STATUS},
            AccountStatus.ALERTED,
            id="known key now inactive",
        ),
        pytest.param(
            [_key(A)],
            [_record(A, open_=False)],
            {A: KeyAction.ALERT},
            AccountStatus.ALERTED,
            id="a key whose record was resolved is back",
        ),
        pytest.param(
            [_key(A)],
            [UNKNOWN],
            {A: KeyAction.TAKE_OVER},
            AccountStatus.ALERTED,
            id="existed when the unknown-key finding was filed: takes it over",
        ),
        pytest.param(
            [_key(A, created_days_ago=None)],
            [UNKNOWN],
            {A: KeyAction.TAKE_OVER},
            AccountStatus.ALERTED,
            id="creation date unknown: takes it over",
        ),
        pytest.param(
            [_key(A, created_days_ago=10), _key(B, created_days_ago=20)],
            [UNKNOWN],
            {A: KeyAction.ALERT, B: KeyAction.TAKE_OVER},
            AccountStatus.ALERTED,
            id="two keys: the oldest takes it over, the other is its own",
        ),
    ],
)
def test_each_listed_key_gets_one_action(
    keys: list[RootKey],
    records: list[KeyRecord],
    actions: dict[str, KeyAction],
    status: AccountStatus,
) -> None:
    decision = _decide(keys, records)
    assert {p.key.key_id: p.action for p in decision.keys} == actions
    assert decision.status is status
    assert all(p.fid == finding_id(ACCOUNT, p.key.key_id) for p in decision.keys)


def test_a_key_bound_to_an_unknown_key_finding_keeps_that_story() -> None:
    bound = replace(UNKNOWN, bound_to=A)
    own = _alias(A, bound.fid)
    decision = _decide([_key(A)], [own, bound])
    (plan,) = decision.keys
    assert plan.action is KeyAction.KNOWN
    assert plan.record == bound
    assert decision.resolve == ()


def test_a_key_newer_than_the_unknown_key_finding_does_not_take_it_over() -> None:
    decision = _decide([_key(A, created_days_ago=1)], [UNKNOWN])
    assert [p.action for p in decision.keys] == [KeyAction.ALERT]
    assert decision.resolve == (UNKNOWN,)  # its key is gone: resolved
    assert decision.status is AccountStatus.ALERTED


def test_a_recorded_key_iam_no_longer_lists_is_resolved_after_the_settle_time() -> None:
    old, recent = _record(A, days_ago=1), _record(B, days_ago=1 / 1440)  # a minute ago
    decision = _decide([], [old, recent])
    assert decision.resolve == (old,)
    assert decision.settling == (recent,)
    assert decision.status is AccountStatus.RESOLVED
    assert _decide([], [recent]).status is AccountStatus.KNOWN


def test_an_unalerted_record_of_a_listed_key_is_alerted_again() -> None:
    record = _record(A)
    decision = _decide([_key(A)], [record], unalerted=frozenset({record.fid}))
    assert [p.action for p in decision.keys] == [KeyAction.REALERT]


def test_the_recorded_status_is_read_from_the_findings_key_resource() -> None:
    assert recorded_status(_finding("Inactive")) == "Inactive"
    assert recorded_status({"Resources": [{"Type": "AwsAccount"}]}) is None
    assert recorded_status(None) is None


def _alias(key_id: str, target: str) -> KeyRecord:
    """A key's own record pointing at the story it continues (no state of its own)."""
    return KeyRecord(
        fid=finding_id(ACCOUNT, key_id),
        account=ACCOUNT,
        key_id=key_id,
        first_seen=NOW - timedelta(days=1),
        alias=target,
    )
