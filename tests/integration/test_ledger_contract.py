"""One contract, two ledgers: DynamoDB (in the sandbox) and the in-memory fake the race tests use.

Every case runs against both, so the fake the interleaving tests rely on behaves as the real
ledger does, and the real one as the delivery protocol needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from detector import retry
from detector.adapters.aws import AwsClients
from detector.adapters.ledger import DynamoLedger
from detector.domain.delivery import MessageKind, Progress, SlackRef, SlotState
from detector.errors import LedgerBusy
from detector.ports import Ledger
from sandbox.aws import LEDGER_TABLE, patched_environ
from sandbox.stack import SandboxStack
from tests.fakes import Clock, InMemoryLedger

FID = "root-key-detector/123456789012/root-access-key/0123456789abcdef01234567"
UNKNOWN = "root-key-detector/123456789012/root-access-key/fedcba9876543210fedcba98"
T0 = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)
REF = SlackRef("C0SECALERTS", "1700000000.000100")


class Ledgers:
    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock


@pytest.fixture(params=["dynamodb", "in-memory"])
def ledgers(request: pytest.FixtureRequest) -> Iterator[Ledgers]:
    clock = Clock(1_800_000_000.0)
    if request.param == "in-memory":
        yield Ledgers(InMemoryLedger(clock), clock)
        return
    sandbox: SandboxStack = request.getfixturevalue("sandbox")
    with patched_environ(sandbox.aws.env()):
        client = AwsClients(region="us-east-1").client("dynamodb")
    yield Ledgers(DynamoLedger(lambda: client, LEDGER_TABLE, retry.RetryEnv(), clock=clock), clock)


def _open(ledger: Ledger, event: str, *, fid: str = FID, key: str | None = "AKIAEXAMPLE", seen=T0):
    return ledger.open_key(
        fid,
        account="123456789012",
        key_id=key,
        event_id=event,
        seen=seen,
        lease_s=60,
        claim=True,
    )


def test_an_event_is_claimed_once_and_its_progress_survives_a_failed_attempt(
    ledgers: Ledgers,
) -> None:
    ledger = ledgers.ledger
    first = ledger.begin_event("e1", "root-key-created", 60)
    assert not first.done
    assert first.token is not None
    with pytest.raises(LedgerBusy):
        ledger.begin_event("e1", "root-key-created", 60)
    done = Progress(finding_done=True)
    ledger.release_event("e1", first.token, done)
    second = ledger.begin_event("e1", "root-key-created", 60)  # the retry takes it at once
    assert second.progress.finding_done
    assert second.progress.attempts == 2
    assert second.token is not None
    sent = Progress(
        finding_done=True, message=REF, message_kind=MessageKind.ALERT, message_sent=True
    )
    ledger.finish_event("e1", second.token, sent)
    third = ledger.begin_event("e1", "root-key-created", 60)
    assert third.done
    assert third.progress.message == REF
    assert ledger.event_message("e1") == (True, REF)


def test_a_held_event_is_taken_once_its_lease_ends(ledgers: Ledgers) -> None:
    ledgers.ledger.begin_event("e1", "root-key-created", 60)
    ledgers.clock.now += 61
    assert not ledgers.ledger.begin_event("e1", "root-key-created", 60).done


def test_a_stale_attempt_cannot_write_over_its_successor(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    old = ledger.begin_event("e1", "root-key-created", 60)
    ledgers.clock.now += 61
    new = ledger.begin_event("e1", "root-key-created", 60)
    assert old.token is not None
    assert new.token is not None
    ledger.finish_event("e1", old.token, Progress(finding_done=True))  # ignored: not its claim
    ledger.release_event("e1", new.token, Progress())
    assert not ledger.begin_event("e1", "root-key-created", 60).progress.finding_done


def test_an_event_id_longer_than_a_dynamodb_key_is_still_claimed(ledgers: Ledgers) -> None:
    long_id = "x" * 5000  # DynamoDB keys are at most 2,048 bytes
    claim = ledgers.ledger.begin_event(long_id, "root-key-created", 60)
    assert claim.token is not None
    ledgers.ledger.finish_event(long_id, claim.token, Progress())
    assert ledgers.ledger.begin_event(long_id, "root-key-created", 60).done


def test_one_event_holds_the_keys_alert_until_it_is_posted(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    first = _open(ledger, "e1")
    assert first.slot is not None
    assert first.slot.state is SlotState.MINE
    assert first.first_seen == T0
    second = _open(ledger, "e2", seen=T0 + timedelta(seconds=5))
    assert second.slot is not None
    assert (second.slot.state, second.slot.owner) == (SlotState.POSTING, "e1")
    assert second.first_seen == T0  # the first observation stays
    again = _open(ledger, "e1")  # the claimer's retry holds it still
    assert again.slot is not None
    assert again.slot.state is SlotState.MINE
    ledger.set_alert(FID, "e1", REF)
    posted = _open(ledger, "e2")
    assert posted.slot is not None
    assert (posted.slot.state, posted.slot.owner, posted.slot.ref) == (SlotState.POSTED, "e1", REF)


def test_an_abandoned_alert_claim_is_taken_over_or_released(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    _open(ledger, "e1")
    assert ledger.claim_alert(FID, "e2", 60).state is SlotState.POSTING
    ledger.release_alert(FID, "e2")  # not its claim: nothing happens
    assert ledger.claim_alert(FID, "e2", 60).state is SlotState.POSTING
    ledgers.clock.now += 61
    assert ledger.claim_alert(FID, "e2", 60).state is SlotState.MINE
    ledger.release_alert(FID, "e2")
    assert ledger.claim_alert(FID, "e3", 60).state is SlotState.MINE


def test_only_a_newer_state_replaces_the_recorded_one(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    _open(ledger, "e1")
    newer, older = T0 + timedelta(seconds=2), T0 + timedelta(seconds=1)
    closed = {"Id": FID, "RecordState": "ARCHIVED"}
    assert ledger.record_state(FID, observed=newer, open_=False, finding=closed, shown=None)
    stale = {"Id": FID, "RecordState": "ACTIVE"}
    assert not ledger.record_state(FID, observed=older, open_=True, finding=stale, shown=None)
    # the same state recorded again (a retry) is accepted
    assert ledger.record_state(FID, observed=newer, open_=False, finding=None, shown={"text": "x"})
    record = ledger.read_key(FID)
    assert record is not None
    assert (record.open, record.observed, record.finding, record.shown) == (
        False,
        newer,
        closed,
        {"text": "x"},
    )


def test_a_sweeps_unknown_key_record_is_bound_to_one_key(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    _open(ledger, "sweep-1", fid=UNKNOWN, key=None)
    _open(ledger, "e1")
    other = "root-key-detector/123456789012/root-access-key/aaaaaaaaaaaaaaaaaaaaaaaa"
    _open(ledger, "e2", fid=other, key="AKIAOTHER")
    assert ledger.bind(UNKNOWN, "AKIAEXAMPLE", FID)
    assert ledger.bind(UNKNOWN, "AKIAEXAMPLE", FID)  # the same key again: still bound
    assert not ledger.bind(UNKNOWN, "AKIAOTHER", other)
    own = ledger.read_key(FID)
    assert own is not None
    assert own.alias == UNKNOWN
    assert own.slot is None  # the claim made in passing is dropped
    records = {r.fid: r for r in ledger.account_keys("123456789012")}
    assert records[UNKNOWN].bound_to == "AKIAEXAMPLE"
    assert {r.fid for r in ledger.all_keys()} == {FID, UNKNOWN, other}
    assert ledger.account_keys("999999999999") == []


def test_a_notice_group_counts_each_event_once_and_stays_out_of_the_sweeps_keys(
    ledgers: Ledgers,
) -> None:
    ledger = ledgers.ledger
    group = "notices/123456789012/2026-11-20T14"
    _open(ledger, "n1", fid=group, key=None)
    assert ledger.join_group(group, "n2") == 1
    assert ledger.join_group(group, "n3") == 2
    assert ledger.join_group(group, "n2") == 2  # a retry of n2 counts once
    record = ledger.read_key(group)
    assert record is not None
    assert record.joined == 2
    assert ledger.all_keys() == []
    assert ledger.account_keys("123456789012") == []
