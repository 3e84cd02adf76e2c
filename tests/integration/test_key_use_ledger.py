"""The ledger's part in key uses, one contract for two ledgers: DynamoDB (in the sandbox) and
the in-memory fake the key-use tests use. A use is counted once per event; one event at a
time holds the key's next reply, at most one an hour."""

from __future__ import annotations

from datetime import timedelta

from detector.ports import Ledger, UseReplyClaim
from tests.integration.test_ledger_contract import FID, T0, Ledgers, _open, ledgers

__all__ = ["ledgers"]  # the two-ledger fixture, shared with the ledger's contract

HOUR = 3600


def _claim(ledger: Ledger, event: str, *, pending: bool = True) -> UseReplyClaim | None:
    return ledger.claim_use_reply(FID, event, every_s=HOUR, lease_s=60, pending=pending)


def test_a_use_is_counted_once_however_often_its_event_comes(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    assert ledger.count_use(FID, "use-1") is False  # no record: not a key the detector knows
    _open(ledger, "create")
    assert ledger.count_use(FID, "use-1") is True
    assert ledger.count_use(FID, "use-1") is False  # redelivered
    assert ledger.count_use(FID, "use-2") is True
    claim = _claim(ledger, "use-2")
    assert claim == UseReplyClaim(uses=2, first=True, retry=False)


def test_the_first_use_is_claimed_once_then_at_most_one_reply_an_hour(ledgers: Ledgers) -> None:
    ledger, clock = ledgers.ledger, ledgers.clock
    _open(ledger, "create")
    ledger.count_use(FID, "use-1")
    assert _claim(ledger, "use-1") == UseReplyClaim(uses=1, first=True, retry=False)
    ledger.count_use(FID, "use-2")
    assert _claim(ledger, "use-2") is None  # use-1 holds the claim
    # Its retry: the reply now covers use-2 too.
    assert _claim(ledger, "use-1") == UseReplyClaim(uses=2, first=True, retry=True)
    ledger.finish_use_reply(FID, "use-1")
    ledger.finish_use_reply(FID, "use-1")  # a repeated finish changes nothing
    ledger.count_use(FID, "use-3")
    assert _claim(ledger, "use-3") is None  # replied less than an hour ago
    clock.now += HOUR
    assert _claim(ledger, "use-3") == UseReplyClaim(uses=1, first=False, retry=False)
    ledger.finish_use_reply(FID, "use-3")
    clock.now += HOUR
    assert _claim(ledger, "late-redelivery") is None  # nothing counted since the last reply
    assert _claim(ledger, "sweep", pending=False) == UseReplyClaim(0, first=False, retry=False)


def test_a_released_or_expired_claim_may_be_taken_by_the_next_use(ledgers: Ledgers) -> None:
    ledger, clock = ledgers.ledger, ledgers.clock
    _open(ledger, "create")
    ledger.count_use(FID, "use-1")
    assert _claim(ledger, "use-1") is not None
    ledger.release_use_reply(FID, "use-1")
    ledger.count_use(FID, "use-2")
    assert _claim(ledger, "use-2") == UseReplyClaim(uses=2, first=True, retry=False)
    clock.now += 61  # use-2 died holding it: its lease ends
    assert _claim(ledger, "use-3") == UseReplyClaim(uses=2, first=True, retry=False)
    ledger.release_use_reply(FID, "use-2")  # not its claim any more: nothing changes
    assert _claim(ledger, "use-2") is None


def test_the_newest_use_is_kept_whatever_order_they_are_recorded_in(ledgers: Ledgers) -> None:
    ledger = ledgers.ledger
    assert ledger.record_last_use(FID, T0) is False  # no record
    _open(ledger, "create")
    assert ledger.record_last_use(FID, T0 + timedelta(minutes=5)) is True
    assert ledger.record_last_use(FID, T0) is False
    assert ledger.record_last_use(FID, T0 + timedelta(minutes=5)) is False
    assert ledger.record_last_use(FID, T0 + timedelta(minutes=6)) is True
