"""Who opened a root session, whichever record arrives first, once, against the ports' fakes.

The member's Root record and the caller's AssumeRoot record meet in the ledger; races are forced
with gates, never sleeps (see tests/unit/test_delivery_interleavings.py).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from detector import pipeline, retry
from detector.domain.delivery import Status
from detector.domain.root_session import LABEL_BLOCK
from detector.errors import DetectorError
from tests.fakes import (
    Clock,
    FakeConfirmer,
    FakeSecurityHub,
    FakeSlack,
    Gate,
    InMemoryLedger,
    Posted,
)
from tests.session_factories import CALLER_ARN, MEMBER, assume_root, member_delete

FIELD = "root-key-detector/RootSessionCaller"
EVENTS = Path(__file__).resolve().parents[1] / "events"


class World:
    """The ports' fakes, with root sessions tracked."""

    def __init__(self, *, sessions: bool = True) -> None:
        self.clock = Clock()
        self.ledger = InMemoryLedger(self.clock)
        self.hub = FakeSecurityHub()
        self.slack = FakeSlack()
        self.iam = FakeConfirmer()
        self.iam.present[MEMBER] = False  # the deleted key is gone
        self.deps = pipeline.Dependencies(
            region="us-east-1",
            confirmer=self.iam,
            findings=self.hub,
            alerter=self.slack,
            ledger=self.ledger,
            retry_env=retry.RetryEnv(sleep=self._sleep),
            lease_s=60,
            sessions=self.ledger if sessions else None,
        )

    def _sleep(self, seconds: float) -> None:
        self.clock.now += seconds

    def run(self, doc: dict[str, Any]) -> list[pipeline.Outcome]:
        return pipeline.run(doc, self.deps)

    def finding(self) -> dict[str, Any]:
        (only,) = self.hub.findings.values()
        return only

    def alert(self) -> Posted:
        (only,) = self.slack.top_level()
        return only

    def in_thread(self, doc: dict[str, Any]) -> threading.Thread:
        def work() -> None:
            try:
                self.run(doc)
            except DetectorError:
                self.errors.append(doc)

        thread = threading.Thread(target=work)
        thread.start()
        return thread

    errors: list[dict[str, Any]]


@pytest.fixture
def world() -> World:
    w = World()
    w.errors = []
    return w


def labelled(message: Any) -> bool:
    return any(b.block_id == LABEL_BLOCK for b in message.blocks)


def session_replies(world: World) -> list[Posted]:
    return [m for m in world.slack.messages if m.thread is not None and labelled(m.message)]


def test_session_first_the_alert_and_finding_carry_the_label(world: World) -> None:
    world.run(assume_root())
    world.run(member_delete(60))
    alert = world.alert()
    assert labelled(alert.message)
    assert alert.message.text.replace("\u200b", "").startswith(
        f"Privileged task (AssumeRoot by {CALLER_ARN}"
    )
    assert "Privileged task in a root session" in str(alert.message.blocks[1].to_dict())
    finding = world.finding()
    assert finding["ProductFields"][FIELD] == CALLER_ARN
    assert finding["ProductFields"]["root-key-detector/AssumedRoot"] == "true"
    assert "Made in a root session" in finding["Description"]
    assert session_replies(world) == []  # nothing to add afterwards


def test_member_first_the_session_adds_the_label_afterwards(world: World) -> None:
    world.run(member_delete(60))
    before = world.finding()
    assert not labelled(world.alert().message)
    assert FIELD not in before["ProductFields"]

    world.run(assume_root())

    (reply,) = session_replies(world)
    assert reply.thread == world.alert().ref
    text = reply.message.blocks[0].to_dict()["text"]["text"].replace("\u200b", "")
    assert CALLER_ARN in text
    assert "IAMDeleteRootUserCredentials" in text
    assert "DeleteAccessKey" in text
    assert labelled(world.alert().shows)  # redrawn
    after = world.finding()
    assert after["ProductFields"][FIELD] == CALLER_ARN
    assert after["UpdatedAt"] > before["UpdatedAt"]  # Security Hub takes the re-import
    assert after["RecordState"] == before["RecordState"]
    record = world.ledger.read_key(after["Id"])
    assert record is not None
    assert record.finding == after  # the sweep's refresh keeps the label


def test_each_delivery_counted_once_in_either_order(world: World) -> None:
    world.run(member_delete(60))
    for _ in range(3):
        world.run(assume_root())
        world.run(member_delete(60))
    assert len(session_replies(world)) == 1
    assert len(world.slack.top_level()) == 1
    assert len(world.alert().edits) == 1


def test_a_later_record_of_the_same_session_is_labelled_at_once(world: World) -> None:
    world.run(member_delete(60))
    world.run(assume_root())
    world.run(
        member_delete(
            120, eventID="second", requestParameters={"accessKeyId": "AKIAOTHERKEYEXAMPLE1"}
        )
    )
    assert len(session_replies(world)) == 1
    alerts = world.slack.top_level()
    assert len(alerts) == 2
    assert labelled(alerts[1].message)


@pytest.mark.parametrize(
    "rec",
    [member_delete(901), member_delete(60, account="444455556666")],
    ids=["after-the-session", "another-account"],
)
@pytest.mark.parametrize("session_first", [True, False])
def test_a_record_outside_the_session_is_never_labelled(
    world: World, rec: dict[str, Any], session_first: bool
) -> None:
    order = [assume_root(), rec] if session_first else [rec, assume_root()]
    for doc in order:
        world.run(doc)
    assert not labelled(world.alert().shows)
    assert FIELD not in world.finding()["ProductFields"]
    assert session_replies(world) == []


def test_a_refused_assume_root_labels_nothing(world: World) -> None:
    world.run(member_delete(60))
    world.run(assume_root(errorCode="AccessDenied", responseElements=None))
    world.run(member_delete(60, eventID="again"))
    assert session_replies(world) == []
    assert all(not labelled(m.shows) for m in world.slack.messages)


def test_an_unlabelled_root_record_reads_as_today(world: World) -> None:
    world.run(member_delete(60))
    alert = world.alert()
    assert alert.message.text.startswith("Root access key deleted")
    assert "AssumeRoot" not in str([b.to_dict() for b in alert.message.blocks])


def test_the_flag_alone_is_no_session(world: World) -> None:
    """A member record carrying assumedRoot "true" but no recorded session is not told as one."""
    world.run(member_delete(60, **{"userIdentity.sessionContext.assumedRoot": "true"}))
    assert world.finding()["ProductFields"]["root-key-detector/AssumedRoot"] == "false"
    assert "AssumeRoot" not in str([b.to_dict() for b in world.alert().message.blocks])


def test_untracked_the_flag_is_told_as_the_record_gives_it() -> None:
    world = World(sessions=False)
    world.run(member_delete(60, **{"userIdentity.sessionContext.assumedRoot": "true"}))
    world.run(assume_root())
    assert world.finding()["ProductFields"]["root-key-detector/AssumedRoot"] == "true"
    assert session_replies(world) == []


# -- retries ---------------------------------------------------------------------------------


def test_a_failed_reply_is_retried_once_and_not_repeated(world: World) -> None:
    world.run(member_delete(60))
    world.slack.fail_posts = 1
    with pytest.raises(DetectorError):
        world.run(assume_root())
    world.run(assume_root())
    world.run(assume_root())
    assert len(session_replies(world)) == 1
    assert FIELD in world.finding()["ProductFields"]


def test_a_lost_answer_does_not_post_the_reply_twice(world: World) -> None:
    world.run(member_delete(60))
    world.slack.lost_answers = 1
    with pytest.raises(DetectorError):
        world.run(assume_root())
    world.run(assume_root())
    assert len(session_replies(world)) == 1


def test_a_failed_import_is_retried_and_the_reply_not_repeated(world: World) -> None:
    world.run(member_delete(60))
    world.hub.fail_next = 1
    with pytest.raises(DetectorError):
        world.run(assume_root())
    assert FIELD not in world.finding()["ProductFields"]
    world.run(assume_root())
    assert FIELD in world.finding()["ProductFields"]
    assert len(session_replies(world)) == 1
    assert labelled(world.alert().shows)


# -- concurrency ------------------------------------------------------------------------------


def test_a_session_waits_for_the_member_record_it_met(world: World) -> None:
    """The member record marked the key but is still posting: the session's job does not label
    a half-done record; it fails for its retry, which labels it."""
    gate = Gate()
    world.slack.post_gates.append(gate)
    member = world.in_thread(member_delete(60))
    assert gate.reached.wait(10)
    with pytest.raises(DetectorError):
        world.run(assume_root())
    gate.open()
    member.join(10)
    assert not labelled(world.alert().message)
    world.run(assume_root())
    assert len(session_replies(world)) == 1
    assert FIELD in world.finding()["ProductFields"]


@pytest.mark.parametrize("first", ["touch_session", "open_session"])
def test_arriving_together_exactly_one_side_labels(world: World, first: str) -> None:
    """Whichever of the two ledger writes lands first, the record is labelled exactly once:
    in its own alert, or by the session's reply."""
    gate = Gate()
    world.ledger.gates["open_session" if first == "touch_session" else "touch_session"] = gate
    held = world.in_thread(assume_root() if first == "touch_session" else member_delete(60))
    assert gate.reached.wait(10)
    other = world.in_thread(member_delete(60) if first == "touch_session" else assume_root())
    other.join(10)
    gate.open()
    held.join(10)
    for doc in world.errors:  # a session that met a record still in flight: its retry
        world.run(doc)
    in_alert = labelled(world.alert().message)
    replies = len(session_replies(world))
    assert (in_alert, replies) in {(True, 0), (False, 1)}
    assert FIELD in world.finding()["ProductFields"]
    assert labelled(world.alert().shows)


def test_outcome_of_the_assume_root_record_itself_is_ignored(world: World) -> None:
    (outcome,) = world.run(assume_root())
    assert outcome.status is Status.IGNORED


def test_when_the_key_moved_on_only_the_reply_tells_of_the_session(world: World) -> None:
    """The key's newest state is a later record's (outside the session): the finding and the
    alert show that record, so the session only adds its reply."""
    in_session = member_delete(
        60,
        eventName="UpdateAccessKey",
        eventID="deactivate-in-session",
        requestParameters={"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"},
    )
    later = member_delete(
        3600,
        eventName="UpdateAccessKey",
        eventID="activate-later",
        requestParameters={"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Active"},
        **{"userIdentity.accessKeyId": "ASIAROOTCONSOLEEXMPL"},
    )
    world.iam.present[MEMBER] = True
    world.run(in_session)
    world.run(later)
    before = world.finding()
    world.run(assume_root())
    assert len(session_replies(world)) == 1
    assert world.finding() == before  # still the later record's, unlabelled
    assert not labelled(world.alert().shows)


def test_the_corpus_pair_arriving_member_first(world: World) -> None:
    """eventbridge/root_delete_access_key_assumed_root.json, then the caller's record of its
    session (eventbridge/sts_assume_root.json, the management account's bus in us-west-2)."""
    for name in ("root_delete_access_key_assumed_root", "sts_assume_root"):
        world.run(json.loads((EVENTS / "eventbridge" / f"{name}.json").read_text()))
    (reply,) = session_replies(world)
    assert reply.thread == world.alert().ref
    fields = world.finding()["ProductFields"]
    assert fields[FIELD] == "arn:aws:sts::123456789012:assumed-role/RootAccessAdmin/asmith"
    assert fields["root-key-detector/RootSessionTaskPolicy"].endswith(
        "IAMDeleteRootUserCredentials"
    )
