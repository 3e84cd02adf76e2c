"""The ledger's removal writes, one contract for two ledgers: DynamoDB in the sandbox and the
in-memory fake the removal unit tests use. One pending request per key; a second responder
confirms it before it expires; a request moves on once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detector import retry
from detector.adapters.aws import AwsClients
from detector.adapters.ledger import DynamoLedger
from detector.ports import TriageLedger
from sandbox.aws import LEDGER_TABLE, patched_environ
from sandbox.stack import SandboxStack
from tests.fakes import Clock, InMemoryTriageLedger

FID = "root-key-detector/123456789012/root-access-key/0123456789abcdef01234567"
NOW = 1_800_000_000
LEASE = NOW + 900  # a confirmation's lease: 15 minutes
DOC = {"request_id": "r1", "key_id": "AKIAEXAMPLE", "status": "PENDING"}


@pytest.fixture(params=["dynamodb", "in-memory"])
def ledger(request: pytest.FixtureRequest) -> TriageLedger:
    clock = Clock(float(NOW))
    if request.param == "in-memory":
        found: TriageLedger = InMemoryTriageLedger(clock)
    else:
        sandbox: SandboxStack = request.getfixturevalue("sandbox")
        with patched_environ(sandbox.aws.env()):
            client = AwsClients(region="us-east-1").client("dynamodb")
        found = DynamoLedger(lambda: client, LEDGER_TABLE, retry.RetryEnv(), clock=clock)
    found.open_key(
        FID,
        account="123456789012",
        key_id="AKIAEXAMPLE",
        event_id="e1",
        seen=datetime(2026, 12, 2, tzinfo=UTC),
        lease_s=60,
        claim=False,
    )
    return found


def ask(ledger: TriageLedger, rid: str, who: str, *, now: int = NOW) -> bool:
    return ledger.request_removal(
        FID,
        {**DOC, "request_id": rid},
        request_id=rid,
        requester_id=who,
        expires_at=now + 3600,
        now=now,
    )


def test_one_pending_request_per_key_until_it_expires(ledger: TriageLedger) -> None:
    assert ask(ledger, "r1", "U0ALICE")
    assert not ask(ledger, "r2", "U0RITA")
    assert ask(ledger, "r3", "U0RITA", now=NOW + 3601)  # the first one lapsed
    record = ledger.read_key(FID)
    assert record is not None
    assert record.removal is not None
    assert record.removal["request_id"] == "r3"


def test_a_request_on_no_record_is_refused(ledger: TriageLedger) -> None:
    assert not ledger.request_removal(
        "root-key-detector/1/none", DOC, request_id="r1", requester_id="U", expires_at=1, now=0
    )


def test_only_a_second_responder_confirms_and_only_before_it_expires(
    ledger: TriageLedger,
) -> None:
    ask(ledger, "r1", "U0ALICE")
    doc = {**DOC, "status": "CONFIRMED"}
    assert not ledger.confirm_removal(
        FID, doc, request_id="r1", confirmer_id="U0ALICE", now=NOW, lease_until=LEASE
    )
    assert not ledger.confirm_removal(
        FID, doc, request_id="r1", confirmer_id="U0RITA", now=NOW + 3601, lease_until=LEASE
    )
    assert not ledger.confirm_removal(
        FID, doc, request_id="r0", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    assert ledger.confirm_removal(
        FID, doc, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    assert not ledger.confirm_removal(
        FID, doc, request_id="r1", confirmer_id="U0BOB", now=NOW, lease_until=LEASE
    )
    assert not ask(ledger, "r2", "U0BOB")  # under way: no new request


def test_a_request_moves_on_once_and_a_settled_one_may_be_replaced(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    ledger.confirm_removal(
        FID, DOC, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    failed = {**DOC, "status": "FAILED"}
    kw = {"request_id": "r1", "from_state": "CONFIRMED"}
    assert ledger.settle_removal(FID, failed, to_state="FAILED", **kw)
    assert ledger.settle_removal(FID, failed, to_state="FAILED", **kw)  # its retry
    assert not ledger.settle_removal(FID, DOC, to_state="REMOVED", **kw)
    assert not ledger.settle_removal(
        FID, DOC, request_id="r9", from_state="FAILED", to_state="CANCELLED"
    )
    assert ask(ledger, "r2", "U0RITA")  # a failed removal may be asked again


def test_a_removed_key_is_never_asked_again(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    ledger.confirm_removal(
        FID, DOC, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    removed = {**DOC, "status": "REMOVED"}
    assert ledger.settle_removal(
        FID, removed, request_id="r1", from_state="CONFIRMED", to_state="REMOVED"
    )
    assert not ask(ledger, "r2", "U0RITA", now=NOW + 99_999)
    record = ledger.read_key(FID)
    assert record is not None
    assert record.removal == removed


def test_an_expired_request_recorded_as_such_may_be_replaced(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    expired = {**DOC, "status": "EXPIRED"}
    assert ledger.settle_removal(
        FID, expired, request_id="r1", from_state="PENDING", to_state="EXPIRED"
    )
    assert not ledger.confirm_removal(
        FID, DOC, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    assert ask(ledger, "r2", "U0RITA")


def test_a_confirmation_holds_the_key_until_its_lease_ends(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    doc = {**DOC, "status": "CONFIRMED"}
    assert ledger.confirm_removal(
        FID, doc, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    assert not ask(ledger, "r2", "U0BOB", now=LEASE)  # under way until its lease ends
    assert ask(ledger, "r2", "U0BOB", now=LEASE + 1)  # its job never finished: asked again
    assert not ledger.begin_removal(FID, doc, request_id="r1", now=LEASE + 1)


def test_deleting_is_written_within_the_lease_and_kept_for_a_retry(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    ledger.confirm_removal(
        FID, DOC, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    deleting = {**DOC, "status": "DELETING"}
    assert not ledger.begin_removal(FID, deleting, request_id="r0", now=NOW)
    assert not ledger.begin_removal(FID, deleting, request_id="r1", now=LEASE + 1)
    assert ledger.begin_removal(FID, deleting, request_id="r1", now=NOW)
    assert ledger.begin_removal(FID, deleting, request_id="r1", now=NOW + 60)  # its retry
    record = ledger.read_key(FID)
    assert record is not None
    assert record.removal == deleting
    assert not ask(ledger, "r2", "U0BOB", now=NOW + 60)
    removed = {**DOC, "status": "REMOVED"}
    assert ledger.settle_removal(
        FID, removed, request_id="r1", from_state="DELETING", to_state="REMOVED"
    )
    assert not ask(ledger, "r2", "U0BOB", now=LEASE + 1)  # removed: never asked again


def test_a_request_deleting_past_its_lease_may_be_replaced(ledger: TriageLedger) -> None:
    ask(ledger, "r1", "U0ALICE")
    ledger.confirm_removal(
        FID, DOC, request_id="r1", confirmer_id="U0RITA", now=NOW, lease_until=LEASE
    )
    ledger.begin_removal(FID, {**DOC, "status": "DELETING"}, request_id="r1", now=NOW)
    assert ask(ledger, "r2", "U0BOB", now=LEASE + 1)
    assert not ledger.settle_removal(  # the earlier job, late: the key's request is another
        FID, DOC, request_id="r1", from_state="DELETING", to_state="REMOVED"
    )
