"""The delivery protocol under chosen interleavings, against in-memory fakes of the ports.

Each race is forced with gates (a call waits until the test opens it), never with sleeps, so a
test that passes once passes every time. The sandbox tests (tests/integration, tests/e2e) run
the same pipeline against moto and the Slack emulator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector import pipeline, retry
from detector.domain.delivery import Action, Status
from detector.domain.event import parse_event
from detector.domain.sweep_event import sweep_event
from detector.errors import (
    EventParseError,
    ExternalServiceError,
    LedgerBusy,
    PipelineError,
    RecordsFailed,
    UnfileableEvent,
)
from detector.sweep import Sweeper
from detector.wiring import invocation_lease_s
from tests.factories import ACCOUNT, EVENT_TIME, KEY_ID, delete_record, record, update_record
from tests.fakes import (
    Clock,
    FakeConfirmer,
    FakeSecurityHub,
    FakeSlack,
    Gate,
    InMemoryLedger,
)

T0 = datetime.fromisoformat(EVENT_TIME)


class World:
    """The ports' fakes and the pipeline's dependencies over them."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.ledger = InMemoryLedger(self.clock)
        self.hub = FakeSecurityHub()
        self.slack = FakeSlack()
        self.iam = FakeConfirmer()
        self.deps = pipeline.Dependencies(
            region="us-east-1",
            confirmer=self.iam,
            findings=self.hub,
            alerter=self.slack,
            ledger=self.ledger,
            # Waits advance the ledger's clock instead of sleeping.
            retry_env=retry.RetryEnv(sleep=self._sleep),
            lease_s=60,
        )

    def _sleep(self, seconds: float) -> None:
        self.clock.now += seconds

    def run(self, doc: dict[str, Any]) -> pipeline.Outcome:
        return pipeline.process(parse_event(doc), self.deps)

    def finding(self) -> dict[str, Any]:
        (only,) = self.hub.findings.values()
        return only

    def in_thread(self, doc: dict[str, Any]) -> Callable[[], pipeline.Outcome]:
        """Start processing ``doc`` in a thread; the returned call joins it."""
        out: list[Any] = []

        def work() -> None:
            try:
                out.append(self.run(doc))
            except Exception as exc:  # noqa: BLE001 - handed to the joining test
                out.append(exc)

        thread = threading.Thread(target=work)
        thread.start()

        def join() -> pipeline.Outcome:
            thread.join(timeout=30)
            if isinstance(out[0], Exception):
                raise out[0]
            result: pipeline.Outcome = out[0]
            return result

        return join


def create(seconds: int = 0) -> dict[str, Any]:
    return record(eventTime=_at(seconds), eventID=f"create-{seconds}")


def delete(seconds: int = 1) -> dict[str, Any]:
    return delete_record(eventTime=_at(seconds), eventID=f"delete-{seconds}")


def deactivate(seconds: int) -> dict[str, Any]:
    return update_record("Inactive", eventTime=_at(seconds), eventID=f"deactivate-{seconds}")


def _at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(finding: dict[str, Any]) -> tuple[str, str]:
    return finding["Compliance"]["Status"], finding["RecordState"]


@pytest.fixture
def world() -> World:
    return World()


def test_create_then_delete_is_one_alert_one_reply_and_a_resolved_finding(world: World) -> None:
    world.run(create())
    world.iam.present[ACCOUNT] = False
    outcome = world.run(delete())

    assert _status(world.finding()) == ("PASSED", "ARCHIVED")
    (alert,) = world.slack.top_level()
    (reply,) = world.slack.replies(alert)
    assert reply.message.metadata is not None
    assert "Root access key deleted" in alert.shows.text  # the alert shows the newest state
    assert Action.ALERT_UPDATED in outcome.actions


@pytest.mark.parametrize("same_second", [False, True])
def test_delete_handled_before_its_create_ends_resolved(world: World, same_second: bool) -> None:
    """Arrival order is not event order: the older create, handled last, must not reopen the
    finding (Security Hub keeps the newest UpdatedAt) nor redraw the alert."""
    world.iam.present[ACCOUNT] = False
    world.run(delete(0 if same_second else 1))
    world.run(create(0))

    assert _status(world.finding()) == ("PASSED", "ARCHIVED")
    (alert,) = world.slack.top_level()
    assert "Root access key deleted" in alert.shows.text
    assert [r.message.text.split(" in ")[0] for r in world.slack.replies(alert)] == [
        "Root access key created"
    ]


def test_a_create_whose_import_lands_after_the_delete_finished_does_not_reopen(
    world: World,
) -> None:
    """Issue 11's case: root creates a key and deletes it seconds later. The create event's
    import is slow; the delete event runs from start to finish; then the create lands. (With
    Slack off no alert orders the two events: only Security Hub's rule does.)"""
    world.deps.alerter = None
    held = Gate()
    world.hub.gates.append(held)
    join = world.in_thread(create(0))
    held.reached.wait(timeout=30)  # the create is importing
    world.iam.present[ACCOUNT] = False
    world.run(delete(1))
    held.open()
    join()

    assert _status(world.finding()) == ("PASSED", "ARCHIVED")
    (stored,) = (k for k in world.ledger.keys.values())
    assert stored.open is False  # the ledger's copy agrees


def test_a_later_event_waits_for_the_keys_alert_and_its_retry_replies(world: World) -> None:
    """The create holds the key's alert while IAM catches up; the delete arrives meanwhile.
    It waits briefly, then fails for a retry (Lambda's, a minute later), which replies."""
    held = Gate()
    world.iam.gates.append(held)
    join = world.in_thread(create(0))
    held.reached.wait(timeout=30)
    world.iam.present[ACCOUNT] = False
    with pytest.raises(ExternalServiceError, match="AlertInProgress") as busy:
        world.run(delete(1))
    assert busy.value.transient
    held.open()
    join()
    retried = world.run(delete(1))

    assert Action.REPLIED in retried.actions
    assert _status(world.finding()) == ("PASSED", "ARCHIVED")
    (alert,) = world.slack.top_level()
    assert len(world.slack.replies(alert)) == 1


def test_redraws_landing_out_of_order_end_showing_the_newest_state(world: World) -> None:
    world.run(create(0))
    held = Gate()
    world.slack.update_gates.append(held)  # the deactivation's redraw is slow to land
    join = world.in_thread(deactivate(1))
    held.reached.wait(timeout=30)
    world.iam.present[ACCOUNT] = False
    world.run(delete(2))  # recorded and redrawn first
    held.open()  # the older redraw lands last...
    join()

    (alert,) = world.slack.top_level()
    assert "Root access key deleted" in alert.shows.text  # ...and was drawn over again


def test_a_redelivered_event_is_a_duplicate(world: World) -> None:
    first = world.run(create())
    again = world.run(create())
    assert Action.ALERTED in first.actions
    assert again.status is Status.DUPLICATE
    assert len(world.slack.messages) == 1


def test_the_same_event_twice_at_once_is_busy_for_one(world: World) -> None:
    held = Gate()
    world.slack.post_gates.append(held)
    join = world.in_thread(create())
    held.reached.wait(timeout=30)
    with pytest.raises(LedgerBusy):
        world.run(create())
    held.open()
    assert Action.ALERTED in join().actions
    assert len(world.slack.messages) == 1


def test_a_failed_post_is_retried_without_importing_twice(world: World) -> None:
    world.slack.fail_posts = 1
    with pytest.raises(PipelineError) as failed:
        world.run(create())
    assert Action.FINDING_IMPORTED in failed.value.outcome.actions
    retried = world.run(create())
    assert Action.FINDING_IMPORTED not in retried.actions
    assert Action.ALERTED in retried.actions
    assert len(world.hub.imports) == 1
    assert len(world.slack.top_level()) == 1


def test_an_attempt_that_died_after_posting_is_not_posted_twice(world: World) -> None:
    """Slack took the alert, then the invocation died before recording anything."""
    dead = Gate()
    world.slack.posted_gates.append(dead)
    join = world.in_thread(create())
    dead.reached.wait(timeout=30)  # Slack has the alert; the invocation dies here
    world.clock.now += 3600  # its claims expire
    retried = world.run(create())
    assert Action.FOUND_POSTED in retried.actions
    assert len(world.slack.messages) == 1
    dead.open()
    join()


def test_the_first_retry_after_a_timeout_takes_the_event(world: World) -> None:
    """An invocation that times out holds the event until its lease ends; Lambda's first
    retry comes about a minute after the timeout and must be able to take it."""
    remaining = 300.0
    world.deps.lease_s = invocation_lease_s(remaining)
    world.ledger.gates["finish_event"] = killed = Gate()
    join = world.in_thread(create())
    killed.reached.wait(timeout=30)  # the invocation never finishes (timed out)
    world.clock.now += remaining + 60  # Lambda's first retry
    retried = world.run(create())
    assert retried.status is Status.HANDLED
    killed.open()
    join()


def test_a_key_the_sweep_found_keeps_one_finding_and_thread_when_its_events_arrive(
    world: World,
) -> None:
    """The sweep can only say "root holds a key"; the key's later delete names it. One
    finding and one thread, whichever saw the key first."""
    found = T0 + timedelta(hours=1)
    sweep = pipeline.process(sweep_event(ACCOUNT, found), world.deps)
    world.iam.present[ACCOUNT] = False
    outcome = world.run(delete(7200))

    assert Action.BOUND in outcome.actions
    assert outcome.finding_id == sweep.finding_id
    (finding,) = world.hub.findings.values()
    assert _status(finding) == ("PASSED", "ARCHIVED")
    key = next(r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey")
    assert key["Id"] == KEY_ID
    (alert,) = world.slack.top_level()
    assert len(world.slack.replies(alert)) == 1


def test_a_key_created_after_the_sweep_saw_one_is_a_new_key(world: World) -> None:
    found = T0 - timedelta(hours=1)
    pipeline.process(sweep_event(ACCOUNT, found), world.deps)
    outcome = world.run(create(0))
    assert Action.BOUND not in outcome.actions
    assert len(world.hub.findings) == 2
    assert len(world.slack.top_level()) == 2


def test_the_sweep_resolves_from_its_own_record_and_replies_in_the_thread(world: World) -> None:
    world.run(create(0))
    world.iam.present[ACCOUNT] = False
    later = datetime.now(UTC)
    summary = Sweeper(world.deps, _Inventory(world), now=lambda: later).run([ACCOUNT])

    assert summary.counts == {"resolved": 1}
    finding = world.finding()
    assert _status(finding) == ("PASSED", "ARCHIVED")
    assert finding["UpdatedAt"] > finding["CreatedAt"]  # a newer state, so Security Hub takes it
    assert finding["CreatedAt"] == world.hub.imports[0]["CreatedAt"]  # first observation stays
    assert not any(k.startswith("aws/") for k in finding["ProductFields"])
    alert, digest = world.slack.top_level()
    (reply,) = world.slack.replies(alert)
    assert "finding resolved" in reply.message.text
    assert "sweep" in digest.message.text


class _Inventory:
    """The sweep's key inventory, answered by the fake confirmer's setting."""

    def __init__(self, world: World) -> None:
        self._world = world

    def root_keys_present(self, account_id: str) -> bool:
        return self._world.iam.present.get(account_id, True)


def test_a_known_key_whose_finding_expired_is_filed_again_not_alerted_again(
    world: World,
) -> None:
    """Security Hub deletes a finding 90 days after its last update. The key is still there:
    the sweep knows it from the ledger, re-imports its finding and posts no "new key" alert."""
    world.run(create(0))
    first = world.finding()
    world.hub.findings.clear()  # 90 days without an update: Security Hub deleted it
    later = T0 + timedelta(days=95)
    summary = Sweeper(world.deps, _Inventory(world), now=lambda: later).run([ACCOUNT])

    assert summary.counts == {"known": 1}
    again = world.finding()
    assert again["Id"] == first["Id"]
    assert again["CreatedAt"] == first["CreatedAt"]
    assert again["UpdatedAt"] == "2027-02-23T14:03:11.000Z"
    assert _status(again) == ("FAILED", "ACTIVE")
    assert len(world.slack.messages) == 1  # the original alert only


def test_a_known_keys_finding_is_re_imported_only_when_its_last_update_is_old(
    world: World,
) -> None:
    world.run(create(0))
    imports = len(world.hub.imports)
    soon = T0 + timedelta(days=10)
    Sweeper(world.deps, _Inventory(world), now=lambda: soon).run([ACCOUNT])
    assert len(world.hub.imports) == imports
    late = T0 + timedelta(days=31)
    Sweeper(world.deps, _Inventory(world), now=lambda: late).run([ACCOUNT])
    assert len(world.hub.imports) == imports + 1
    assert world.finding()["UpdatedAt"].startswith("2026-12-21")


def test_later_events_keep_the_keys_first_observation(world: World) -> None:
    world.run(create(0))
    world.run(deactivate(60))
    finding = world.finding()
    assert finding["CreatedAt"] == finding["FirstObservedAt"] == "2026-11-20T14:03:11.000Z"
    assert finding["UpdatedAt"] == finding["LastObservedAt"] == "2026-11-20T14:04:11.001Z"


def test_a_burst_of_notices_is_one_top_level_message_with_a_count(world: World) -> None:
    """25 failed root CreateAccessKey calls in one hour: one notification, 24 replies."""
    for n in range(25):
        failed = record(
            eventTime=_at(n * 60),
            eventID=f"failed-{n}",
            errorCode="LimitExceeded",
            errorMessage="too many keys",
        )
        world.run(failed)
    world.run(record(eventTime=_at(120), eventID="failed-3", errorCode="LimitExceeded"))  # again

    (group,) = world.slack.top_level()
    assert len(world.slack.replies(group)) == 24
    assert "+24 more in the thread" in group.shows.text
    world.run(create(30))  # a root key is never held back in a group
    assert len(world.slack.top_level()) == 2


def test_notices_of_another_hour_or_account_start_their_own_group(world: World) -> None:
    world.run(record(eventTime=_at(0), eventID="a", errorCode="LimitExceeded"))
    world.run(record(eventTime=_at(3600), eventID="b", errorCode="LimitExceeded"))
    other = "210987654321"
    world.run(
        record(
            eventTime=_at(0),
            eventID="c",
            errorCode="LimitExceeded",
            recipientAccountId=other,
            **{"userIdentity.accountId": other},
        )
    )
    assert len(world.slack.top_level()) == 3


def test_a_deleted_alert_is_replaced_and_never_poisons_the_keys_later_events(
    world: World,
) -> None:
    """Someone deleted the key's alert in Slack: the next event's reply cannot go in its
    thread. A new top-level message takes its place, the ledger points to it, and the events
    after it reply there; nothing fails for ever (no poison message in the dead-letter queue)."""
    world.run(create(0))
    (first,) = world.slack.top_level()
    world.slack.deleted.add(first.ref)

    outcome = world.run(deactivate(60))
    assert Action.ALERT_REPLACED in outcome.actions
    second = world.slack.top_level()[-1]
    assert second.ref != first.ref
    assert "replaces a deleted alert" in second.message.text

    world.iam.present[ACCOUNT] = False
    last = world.run(delete(120))
    assert Action.REPLIED in last.actions
    assert [r.message.text.split(" in ")[0] for r in world.slack.replies(second)] == [
        "Root access key deleted"
    ]
    assert "Root access key deleted" in second.shows.text


def test_an_alert_past_its_edit_window_is_replaced_by_the_redraw(world: World) -> None:
    world.run(create(0))
    (first,) = world.slack.top_level()
    world.slack.frozen.add(first.ref)
    outcome = world.run(deactivate(60))
    assert Action.REPLIED in outcome.actions
    assert Action.ALERT_REPLACED in outcome.actions
    _, second = world.slack.top_level()
    assert "deactivated" in second.message.text
    world.iam.present[ACCOUNT] = False
    world.run(delete(120))
    assert len(world.slack.replies(second)) == 1  # the next event follows the ledger


def test_one_failing_record_does_not_stop_the_records_after_it(world: World) -> None:
    world.slack.fail_posts = 1  # the first record's alert fails
    doc = {
        "Records": [
            record(eventID="r1", **{"responseElements.accessKey.accessKeyId": "AKIAFIRST0000001"}),
            record(eventID="r2", **{"responseElements.accessKey.accessKeyId": "AKIASECOND000002"}),
            record(eventID="r3", **{"responseElements.accessKey.accessKeyId": "AKIATHIRD0000003"}),
        ]
    }
    with pytest.raises(RecordsFailed) as failed:
        pipeline.run(doc, world.deps)
    assert [o.event_id for o in failed.value.outcomes] == ["r2", "r3"]
    assert len(failed.value.failures) == 1
    assert len(world.slack.top_level()) == 2
    retried = pipeline.run(doc, world.deps)  # the retry finishes r1, skips the others
    assert [o.status for o in retried] == [Status.HANDLED, Status.DUPLICATE, Status.DUPLICATE]


def test_slack_hears_of_a_root_key_while_the_ledger_is_down(world: World) -> None:
    world.ledger.down = "ResourceNotFoundException"
    with pytest.raises(ExternalServiceError, match="ResourceNotFoundException"):
        world.run(create())  # the event fails: retries, then the dead-letter queue
    (alert,) = world.slack.top_level()
    assert "duplicates possible" in alert.message.text
    assert world.hub.findings == {}  # the finding waits for the ledger (no unrecorded import)


def test_a_root_key_event_whose_time_cannot_be_read_is_alerted_and_fails_loudly(
    world: World,
) -> None:
    """A sanitised record ("eventTime": "redacted"): Slack hears of the key, names the field,
    and says no finding was filed; the event fails for the dead-letter queue (and its alarm),
    every retry without posting again."""
    redacted = record(eventTime="redacted", eventID="redacted-time")
    for _ in range(3):  # the invocation and Lambda's two retries
        with pytest.raises(PipelineError, match="eventTime") as failed:
            world.run(redacted)
        assert [type(e) for e in failed.value.failures] == [UnfileableEvent]
    (alert,) = world.slack.messages
    assert "No Security Hub finding was filed" in json.dumps(alert.message.payload())
    assert world.hub.findings == {}


def test_a_record_that_is_not_cloudtrail_costs_only_itself(world: World) -> None:
    doc = {"Records": [record(eventID="good-1"), "not a record", create(5)]}
    with pytest.raises(RecordsFailed) as failed:
        pipeline.run(doc, world.deps)
    assert [o.event_id for o in failed.value.outcomes] == ["good-1", "create-5"]
    (error,) = failed.value.failures
    assert isinstance(error, EventParseError)
    assert error.path == "$.Records[1]"


def test_a_post_whose_answer_was_lost_is_looked_for_before_it_is_posted_again(
    world: World,
) -> None:
    """Slack took the alert but its answer timed out: posting again would alert twice."""
    world.slack.lost_answers = 1
    outcome = world.run(create())
    assert Action.FOUND_POSTED in outcome.actions
    assert len(world.slack.messages) == 1


def test_a_duplicate_delivery_stops_waiting_for_iam_and_leaves_nothing_running(
    world: World,
) -> None:
    """IAM may be polled for seconds while a new key becomes visible; a redelivery of an event
    already done needs no answer: the wait ends, and nothing outlives the invocation."""
    world.run(create())
    waited: list[str] = []

    class SlowIam(FakeConfirmer):
        def confirm(self, account_id: str, **kw: Any) -> Any:
            cancelled = kw["cancelled"]
            for _ in range(3000):  # up to 30 s, as a long eventual-consistency wait
                if cancelled():
                    waited.append("cancelled")
                    break
                threading.Event().wait(0.01)
            return super().confirm(account_id, **kw)

    world.deps.confirmer = SlowIam()
    again = world.run(create())
    assert again.status is Status.DUPLICATE
    assert waited == ["cancelled"]  # done before the handler returned
