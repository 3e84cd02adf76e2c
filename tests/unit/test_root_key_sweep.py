"""The sweep with centralized root access: it lists root's keys, and each key gets its own
finding and thread, whichever of an event or the sweep saw it first (in-memory fakes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from detector.domain.delivery import Action
from detector.domain.finding import UNKNOWN_KEY, finding_id
from detector.domain.root_access import RootKey
from detector.sweep import Sweeper
from tests.factories import ACCOUNT, KEY_ID, OTHER_ACCOUNT, OTHER_KEY_ID, record, update_record
from tests.fakes import FakeRootCredentials
from tests.unit.test_delivery_interleavings import T0, World, create, delete


class Root(FakeRootCredentials):
    """Root's keys in ACCOUNT, as IAM lists them."""

    def hold(self, *keys: RootKey, account: str = ACCOUNT) -> None:
        self.keys[account] = list(keys)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def root() -> Root:
    return Root()


def _sweep(world: World, root: Root | None, at: Any, **kw: Any) -> Any:
    sweeper = Sweeper(world.deps, _Present(), root_credentials=root, now=lambda: at, **kw)
    return sweeper.run([ACCOUNT])


class _Present:
    """Without centralized root access the sweep only learns that root holds a key."""

    def root_keys_present(self, account_id: str) -> bool:
        return True


def _key_resource(finding: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey")


ACTIVE = RootKey(KEY_ID, "Active", T0 - timedelta(days=3))
INACTIVE = RootKey(OTHER_KEY_ID, "Inactive", T0 - timedelta(days=2))


def test_each_listed_key_gets_its_own_finding_and_alert(world: World, root: Root) -> None:
    root.hold(ACTIVE, INACTIVE)
    summary = _sweep(world, root, T0)

    assert summary.counts == {"alerted": 1}
    assert set(world.hub.findings) == {
        finding_id(ACCOUNT, KEY_ID),
        finding_id(ACCOUNT, OTHER_KEY_ID),
    }
    statuses = {
        _key_resource(f)["Id"]: _key_resource(f)["Details"]["AwsIamAccessKey"]["Status"]
        for f in world.hub.findings.values()
    }
    assert statuses == {KEY_ID: "Active", OTHER_KEY_ID: "Inactive"}
    assert not any(UNKNOWN_KEY in _key_resource(f)["Id"] for f in world.hub.findings.values())
    *alerts, digest = world.slack.top_level()
    assert len(alerts) == 2
    inactive = next(a for a in alerts if "inactive" in a.message.text)
    assert "*inactive* (it still exists)" in str(inactive.message.blocks)
    assert "sweep" in digest.message.text
    # The same day again: nothing new.
    again = _sweep(world, root, T0 + timedelta(hours=1))
    assert again.counts == {"known": 1}
    assert len(world.slack.messages) == 3


def test_a_key_an_event_saw_first_keeps_its_finding_and_thread(world: World, root: Root) -> None:
    world.run(create(0))
    root.hold(ACTIVE)
    summary = _sweep(world, root, T0 + timedelta(hours=1))

    assert summary.counts == {"known": 1}
    assert list(world.hub.findings) == [finding_id(ACCOUNT, KEY_ID)]
    assert len(world.slack.messages) == 1  # the event's alert; no digest: nothing changed


def test_a_key_the_sweep_saw_first_keeps_its_finding_and_thread(world: World, root: Root) -> None:
    root.hold(ACTIVE)
    _sweep(world, root, T0)
    world.iam.present[ACCOUNT] = False
    outcome = world.run(delete(3600))

    assert outcome.finding_id == finding_id(ACCOUNT, KEY_ID)
    assert Action.BOUND not in outcome.actions
    (finding,) = world.hub.findings.values()
    assert finding["RecordState"] == "ARCHIVED"
    alert, _digest = world.slack.top_level()
    (reply,) = world.slack.replies(alert)
    assert "deleted" in reply.message.text


def test_an_earlier_unknown_key_finding_is_taken_over_by_the_listed_key(
    world: World, root: Root
) -> None:
    """Before centralized root access the sweep filed "root holds a key"; with it, the key it
    lists continues that story: one finding, one thread."""
    _sweep(world, None, T0)
    (unknown,) = world.hub.findings
    root.hold(ACTIVE)  # created before the first sweep
    summary = _sweep(world, root, T0 + timedelta(days=1))

    assert summary.counts == {"alerted": 1}
    assert list(world.hub.findings) == [unknown]
    assert _key_resource(world.finding())["Id"] == KEY_ID
    alert = world.slack.top_level()[0]
    (reply,) = world.slack.replies(alert)
    assert "Root access key found by the sweep" in reply.message.text
    # The key's later event replies in the same thread.
    world.run(update_record("Inactive", eventTime="2026-11-22T14:03:11Z", eventID="later"))
    assert len(world.slack.replies(alert)) == 2
    assert list(world.hub.findings) == [unknown]


def test_an_unknown_key_finding_no_listed_key_can_be_is_resolved(world: World, root: Root) -> None:
    _sweep(world, None, T0)
    root.hold(RootKey(KEY_ID, "Active", T0 + timedelta(hours=2)))  # made after that sweep
    _sweep(world, root, T0 + timedelta(days=1))

    by_key = {_key_resource(f)["Id"]: f for f in world.hub.findings.values()}
    assert by_key[f"{ACCOUNT}/{UNKNOWN_KEY}"]["RecordState"] == "ARCHIVED"
    assert by_key[KEY_ID]["RecordState"] == "ACTIVE"


def test_a_recorded_key_iam_no_longer_lists_is_resolved_after_the_settle_time(
    world: World, root: Root
) -> None:
    world.run(create(0))
    root.hold()
    soon = _sweep(world, root, T0 + timedelta(minutes=1))
    assert soon.counts == {"known": 1}
    assert world.finding()["RecordState"] == "ACTIVE"
    later = _sweep(world, root, T0 + timedelta(hours=1))
    assert later.counts == {"resolved": 1}
    assert world.finding()["RecordState"] == "ARCHIVED"


def test_a_known_key_found_inactive_says_so_in_its_thread_and_finding(
    world: World, root: Root
) -> None:
    world.run(create(0))
    root.hold(RootKey(KEY_ID, "Inactive", T0))
    summary = _sweep(world, root, T0 + timedelta(hours=1))

    assert summary.counts == {"alerted": 1}
    assert _key_resource(world.finding())["Details"]["AwsIamAccessKey"]["Status"] == "Inactive"
    alert = world.slack.top_level()[0]
    (reply,) = world.slack.replies(alert)
    assert "inactive" in reply.message.text


def test_a_failure_listing_keys_is_that_accounts_failed_result(world: World) -> None:
    root = Root()
    root.hold(ACTIVE, account=OTHER_ACCOUNT)
    root.refused[ACCOUNT] = "AccessDenied"
    summary = Sweeper(world.deps, _Present(), root_credentials=root, now=lambda: T0).run(
        [ACCOUNT, OTHER_ACCOUNT]
    )

    lines = {r.account: r for r in summary.results}
    assert lines[ACCOUNT].status.value == "failed"
    assert "AccessDenied" in lines[ACCOUNT].detail
    assert lines[OTHER_ACCOUNT].status.value == "alerted"


def test_a_dry_run_says_per_key_what_it_would_do(world: World, root: Root) -> None:
    _sweep(world, None, T0)
    root.hold(ACTIVE, INACTIVE)
    messages, imports = len(world.slack.messages), len(world.hub.imports)
    summary = _sweep(world, root, T0 + timedelta(days=1), dry_run=True)

    (line,) = summary.results
    assert line.detail.startswith("would: ")
    assert "bind the unknown-key finding to key AKIA" in line.detail
    assert "alert key AKIA" in line.detail
    assert "(Inactive, created 2026-11-18T14:03:11.000Z)" in line.detail
    assert KEY_ID not in line.detail  # masked
    assert OTHER_KEY_ID not in line.detail
    assert (len(world.slack.messages), len(world.hub.imports)) == (messages, imports)


def test_iams_last_use_newer_than_the_ledgers_is_a_reply_once(world: World, root: Root) -> None:
    world.deps.key_uses = True
    world.run(create(0))
    used = T0 + timedelta(hours=5)
    root.hold(RootKey(KEY_ID, "Active", T0, used, "s3", "eu-west-1"))
    _sweep(world, root, T0 + timedelta(days=1))

    alert = world.slack.top_level()[0]
    (reply,) = world.slack.replies(alert)
    text = reply.message.text.replace("\u200b", "")  # Slack-escaped
    assert "used at 2026-11-20T19:03:11.000Z (s3, eu-west-1), the last use IAM reports" in text
    assert world.finding()["ProductFields"]["root-key-detector/LastUsedAt"] == (
        "2026-11-20T19:03:11.000Z"
    )
    world.clock.now += 2 * 3600
    _sweep(world, root, T0 + timedelta(days=2))  # the same last use: nothing new
    assert len(world.slack.replies(alert)) == 1


def test_a_found_keys_last_use_is_in_its_new_thread_and_finding(world: World, root: Root) -> None:
    world.deps.key_uses = True
    root.hold(RootKey(KEY_ID, "Active", T0 - timedelta(days=30), T0 - timedelta(days=1), "ec2"))
    _sweep(world, root, T0)

    alert = world.slack.top_level()[0]
    (reply,) = world.slack.replies(alert)
    assert "(ec2), the last use IAM reports" in reply.message.text.replace("\u200b", "")
    finding = world.finding()
    assert finding["ProductFields"]["root-key-detector/LastUsedAt"] == "2026-11-19T14:03:11.000Z"
    assert finding["UpdatedAt"] > world.hub.imports[0]["UpdatedAt"]


def test_without_key_uses_the_sweep_does_not_read_last_use(world: World, root: Root) -> None:
    root.hold(RootKey(KEY_ID, "Active", T0 - timedelta(days=30), T0 - timedelta(days=1), "ec2"))
    _sweep(world, root, T0)
    assert world.slack.replies(world.slack.top_level()[0]) == []


def test_uses_counted_after_the_last_reply_are_reported_by_the_next_sweep(
    world: World, root: Root
) -> None:
    """Uses within the hour after a reply are only counted; if no later use comes to report
    them, the daily sweep does."""
    world.deps.key_uses = True
    world.run(create(0))
    for seconds in (60, 120, 180):
        world.run(_use(seconds))
    root.hold(RootKey(KEY_ID, "Active", T0, T0 + timedelta(seconds=180), "s3", "us-east-1"))
    world.clock.now += 3600
    _sweep(world, root, T0 + timedelta(days=1))

    alert = world.slack.top_level()[0]
    first, backstop = (m.message.text.replace("\u200b", "") for m in world.slack.replies(alert))
    assert "first use" in first
    assert "2 uses since the last reply; used at 2026-11-20T14:06:11.000Z (s3, us-east-1)" in (
        backstop
    )


def _use(seconds: int) -> dict[str, Any]:
    return record(
        eventSource="s3.amazonaws.com",
        eventName="ListBuckets",
        eventID=f"use-{seconds}",
        eventTime=(T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        requestParameters=None,
        responseElements=None,
        **{"userIdentity.accessKeyId": KEY_ID},
    )


def test_the_management_account_is_asked_as_without_root_access(world: World, root: Root) -> None:
    # AssumeRoot reaches member accounts only: the management account's root is asked of IAM's
    # summary (an unknown-key finding), not in a root session that would fail every day.
    root.hold(ACTIVE)
    summary = _sweep(world, root, T0, root_exempt=frozenset({ACCOUNT}))

    assert summary.counts == {"alerted": 1}
    assert root.listed == []
    assert set(world.hub.findings) == {finding_id(ACCOUNT, None, discovery=_only_event(world))}


def _only_event(world: World) -> str:
    (fid,) = world.hub.findings
    finding = world.hub.findings[fid]
    return str(next(v for k, v in finding["ProductFields"].items() if k.endswith("/EventId")))
