"""The root-session part of the ledger's contract, against DynamoDB (in the sandbox) and the
in-memory fake the flow tests use: sessions by (member account, session key id), the member
records' marks, and which side of two arriving together sees the other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from detector import retry
from detector.adapters.aws import AwsClients
from detector.adapters.ledger import DynamoLedger
from detector.domain.root_access import DELETE_TASK_POLICY, RootSession
from detector.domain.root_session import Touch
from detector.ports import SessionLedger
from sandbox.aws import LEDGER_TABLE, patched_environ
from sandbox.stack import SandboxStack
from tests.fakes import Clock, InMemoryLedger

T0 = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)
MEMBER = "210987654321"
KEY = "ASIAR00TSESS1EXAMPLE"
SESSION = RootSession(
    account=MEMBER,
    access_key_id=KEY,
    caller_arn="arn:aws:sts::111122223333:assumed-role/RootAccessAdmin/jdoe",
    task_policy_arn=DELETE_TASK_POLICY,
    started=T0,
    expires=T0 + timedelta(seconds=900),
    event_id="4c1e8a2f-7d3b-4f6e-a5c9-2b8d1e7f3a90",
)
FID = "root-key-detector/210987654321/root-access-key/0123456789abcdef01234567"


@pytest.fixture(params=["dynamodb", "in-memory"])
def ledger(request: pytest.FixtureRequest) -> Iterator[SessionLedger]:
    clock = Clock(1_800_000_000.0)
    if request.param == "in-memory":
        yield InMemoryLedger(clock)
        return
    sandbox: SandboxStack = request.getfixturevalue("sandbox")
    with patched_environ(sandbox.aws.env()):
        client = AwsClients(region="us-east-1").client("dynamodb")
    yield DynamoLedger(lambda: client, LEDGER_TABLE, retry.RetryEnv(), clock=clock)


def _mark(event: str, seconds: int = 60) -> str:
    return Touch(FID, event, T0 + timedelta(seconds=seconds)).dump()


def test_a_session_recorded_first_is_seen_by_the_member_record(ledger: SessionLedger) -> None:
    assert ledger.open_session(SESSION) == []
    assert ledger.touch_session(MEMBER, KEY, _mark("member-1")) == SESSION
    assert ledger.touch_session(MEMBER, KEY, None) == SESSION  # only asking


def test_a_member_record_first_is_seen_by_the_session(ledger: SessionLedger) -> None:
    assert ledger.touch_session(MEMBER, KEY, _mark("member-1")) is None
    assert ledger.touch_session(MEMBER, KEY, _mark("member-2", 90)) is None
    touches = [Touch.load(m) for m in ledger.open_session(SESSION)]
    assert sorted(t.event_id for t in touches if t) == ["member-1", "member-2"]


def test_repeats_change_nothing(ledger: SessionLedger) -> None:
    ledger.touch_session(MEMBER, KEY, _mark("member-1"))
    ledger.touch_session(MEMBER, KEY, _mark("member-1"))  # a redelivery
    first = ledger.open_session(SESSION)
    assert ledger.open_session(replace(SESSION)) == first
    assert len(first) == 1
    assert ledger.touch_session(MEMBER, KEY, None) == SESSION


def test_the_first_record_of_a_session_is_kept(ledger: SessionLedger) -> None:
    ledger.open_session(SESSION)
    forged = RootSession(
        account=MEMBER,
        access_key_id=KEY,
        caller_arn="arn:aws:sts::111122223333:assumed-role/Someone/else",
        task_policy_arn=DELETE_TASK_POLICY,
        started=T0,
        expires=None,
        event_id="another",
    )
    ledger.open_session(forged)
    assert ledger.touch_session(MEMBER, KEY, None) == SESSION


def test_sessions_are_apart_by_account_and_key(ledger: SessionLedger) -> None:
    ledger.open_session(SESSION)
    assert ledger.touch_session("444455556666", KEY, _mark("elsewhere")) is None
    assert ledger.touch_session(MEMBER, "ASIAOTHERSESSEXAMPLE", None) is None
    assert ledger.open_session(SESSION) == []  # neither touched this session
