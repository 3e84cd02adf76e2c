"""Uses of an alerted root key: the first a reply in its thread, then at most one an hour with
a count, each use counted once; the finding records the last (in-memory fakes, gates for the
races)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.event import parse_event
from detector.domain.key_use import key_use, last_use, use_text
from detector.domain.root_access import RootKey
from detector.errors import AlertDeliveryError, LedgerBusy
from detector.key_use import UseOutcome, note_event
from tests.factories import (
    ACCOUNT,
    CALLER_KEY_ID,
    KEY_ID,
    OTHER_KEY_ID,
    SOURCE_IP,
    envelope,
    record,
)
from tests.fakes import FakeSlack, Gate
from tests.unit.test_delivery_interleavings import T0, World, _at, create

HOUR = 3600


def use(
    seconds: int, *, key: str = KEY_ID, event_id: str | None = None, **kw: Any
) -> dict[str, Any]:
    """A root s3:ListBuckets signed with ``key``, ``seconds`` after the key's creation."""
    fields: dict[str, Any] = {
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "eventID": event_id or f"use-{seconds}",
        "eventTime": _at(seconds),
        "requestParameters": None,
        "responseElements": None,
        "userIdentity.accessKeyId": key,
    }
    return record(**{**fields, **kw})


@pytest.fixture
def world() -> World:
    w = World()
    w.deps.key_uses = True
    return w


def _replies(world: World) -> list[str]:
    alert = world.slack.top_level()[0]
    return [m.message.text.replace("\u200b", "") for m in world.slack.replies(alert)]


def test_the_first_use_is_a_reply_and_the_finding_records_it(world: World) -> None:
    world.run(create(0))
    created = world.finding()
    outcome = world.run(use(60))

    assert outcome.as_dict()["key_use"] == "replied"
    assert outcome.status.value == "ignored"  # no event of root's keys: only a use
    (reply,) = _replies(world)
    assert f"first use: ListBuckets (s3.amazonaws.com) from {SOURCE_IP} at" in reply
    assert "2026-11-20T14:04:11.000Z" in reply
    assert KEY_ID not in reply  # masked
    finding = world.finding()
    assert finding["UpdatedAt"] > created["UpdatedAt"]  # newer, so Security Hub takes it
    fields = finding["ProductFields"]
    assert fields["root-key-detector/LastUsedAt"] == "2026-11-20T14:04:11.000Z"
    assert fields["root-key-detector/LastUsedFrom"] == SOURCE_IP
    assert fields["root-key-detector/LastUsedBy"] == "ListBuckets (s3.amazonaws.com)"
    assert finding["RecordState"] == "ACTIVE"


def test_later_uses_are_one_reply_an_hour_with_the_count(world: World) -> None:
    world.run(create(0))
    world.run(use(60))
    world.run(use(120))
    assert world.run(use(180)).key_use == "counted"
    assert len(_replies(world)) == 1  # within the hour: counted only
    world.clock.now += HOUR
    world.run(use(HOUR + 240))

    _first, second = _replies(world)
    assert second.startswith("Root access key AKIA…MPLE 3 uses since the last reply; the latest")
    world.run(use(HOUR + 300))
    assert len(_replies(world)) == 2


def test_a_redelivered_use_is_counted_once(world: World) -> None:
    world.run(create(0))
    world.run(use(60))
    world.run(use(120))
    world.run(use(120))  # EventBridge delivered it twice
    world.run(envelope(use(120)))
    world.clock.now += HOUR
    world.run(use(HOUR + 240))
    assert "2 uses since the last reply" in _replies(world)[1]


def test_two_uses_at_once_give_one_reply(world: World) -> None:
    world.run(create(0))
    held = Gate()
    world.ledger.gates["finish_use_reply"] = held
    first = threading.Thread(target=world.run, args=(use(60),))
    first.start()
    assert held.reached.wait(10)  # use-60 posted its reply and has not recorded it yet
    assert note_event(parse_event(use(61)), world.deps) is UseOutcome.COUNTED
    held.open()
    first.join(10)
    assert len(_replies(world)) == 1
    world.clock.now += HOUR
    world.run(use(HOUR + 90))
    assert "2 uses since the last reply" in _replies(world)[1]


def test_a_failed_reply_is_posted_by_the_events_retry_once(world: World) -> None:
    world.run(create(0))
    world.slack.fail_posts = 1
    with pytest.raises(AlertDeliveryError):
        world.run(use(60))
    world.run(use(60))  # the retry
    world.run(use(60))  # and a redelivery
    (reply,) = _replies(world)
    assert reply.startswith("Root access key AKIA…MPLE first use")


def test_uses_of_keys_never_alerted_on_are_ignored(world: World) -> None:
    world.run(create(0))
    assert note_event(parse_event(use(60, key=OTHER_KEY_ID)), world.deps) is (
        UseOutcome.NOT_ALERTED
    )
    assert note_event(parse_event(use(60, key=CALLER_KEY_ID)), world.deps) is (
        UseOutcome.NOT_A_USE  # session credentials (console, AssumeRoot): no access key
    )
    assert note_event(parse_event(use(60, **{"userIdentity.type": "IAMUser"})), world.deps) is (
        UseOutcome.NOT_A_USE
    )
    assert len(world.slack.messages) == 1


def test_nothing_is_noted_unless_key_uses_are_on(world: World) -> None:
    world.deps.key_uses = False
    world.run(create(0))
    world.run(use(60))
    assert len(world.slack.messages) == 1


def test_a_root_key_created_with_an_alerted_key_is_both_its_own_event_and_a_use(
    world: World,
) -> None:
    world.run(create(0))
    signed = record(
        eventID="create-2",
        eventTime=_at(60),
        **{
            "userIdentity.accessKeyId": KEY_ID,
            "responseElements.accessKey.accessKeyId": OTHER_KEY_ID,
        },
    )
    world.run(signed)

    first_alert, second_alert = world.slack.top_level()
    (reply,) = world.slack.replies(first_alert)
    assert "first use: CreateAccessKey (iam.amazonaws.com)" in reply.message.text.replace(
        "\u200b", ""
    )
    assert OTHER_KEY_ID[-4:] in second_alert.message.text
    assert len(world.hub.findings) == 2


def test_a_use_older_than_the_findings_state_leaves_the_finding_alone(world: World) -> None:
    """A use delivered after the key's newer state: Security Hub would ignore the import."""
    world.run(create(120))
    before = world.finding()
    world.run(use(60))
    assert world.finding() == before
    assert len(_replies(world)) == 1


def test_the_words_of_a_reply() -> None:
    event = parse_event(use(60))
    found = key_use(event)
    assert found is not None
    assert use_text(found, first=False, uses=1).startswith("1 use since the last reply")
    assert (found.account, found.key_id, found.when) == (
        ACCOUNT,
        KEY_ID,
        T0 + timedelta(seconds=60),
    )


# -- untrusted input: any value in the fields a use is read from --------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYISH = st.one_of(
    _JSON,
    st.from_regex(r"AKIA[A-Z0-9]{16}", fullmatch=True),
    st.from_regex(r"ASIA[A-Z0-9]{16}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(
    key=_KEYISH,
    ip=_JSON,
    region=_JSON,
    principal=st.sampled_from(["Root", "IAMUser", "AssumedRole", None]),
    name=st.sampled_from(["ListBuckets", "CreateAccessKey", "GetCallerIdentity"]),
)
def test_any_root_record_is_read_and_a_use_only_of_a_long_term_key(
    key: Any, ip: Any, region: Any, principal: Any, name: str
) -> None:
    doc = use(
        60,
        **{
            "userIdentity.accessKeyId": key,
            "userIdentity.type": principal,
            "sourceIPAddress": ip,
            "awsRegion": region,
            "eventName": name,
        },
    )
    event = parse_event(json.loads(json.dumps(doc)))
    found = key_use(event)
    if found is None:
        return
    assert principal == "Root"
    assert found.key_id == key
    assert found.key_id.startswith("AKIA")
    assert found.source_ip is None or isinstance(found.source_ip, str)
    assert found.region is None or isinstance(found.region, str)


def test_iams_not_applicable_service_and_region_are_not_shown() -> None:
    key = RootKey(KEY_ID, "Active", T0, T0 + timedelta(days=1), "N/A", "N/A")
    found = last_use(ACCOUNT, key, T0 + timedelta(days=2))
    assert found is not None
    assert use_text(found, first=False, uses=0) == (
        "used at 2026-11-21T14:03:11.000Z (a service IAM does not name), the last use IAM reports"
    )
    assert last_use(ACCOUNT, RootKey(KEY_ID, "Active", T0), T0) is None  # never used


class _Webhook(FakeSlack):
    """An incoming webhook: no threads, so no alert slot either."""

    supports_threads = False


def test_with_a_webhook_a_use_is_a_message_of_its_own(world: World) -> None:
    world.slack = world.deps.alerter = _Webhook()
    world.run(create(0))
    world.run(use(60))
    world.run(use(61))

    alert, first_use = world.slack.top_level()
    assert "first use" in first_use.message.text
    assert alert.thread is None


def test_a_use_while_the_keys_alert_is_being_posted_is_tried_again(world: World) -> None:
    posting = Gate()
    world.slack.post_gates.append(posting)
    join = world.in_thread(create(0))
    assert posting.reached.wait(10)
    with pytest.raises(LedgerBusy):
        world.run(use(1))
    posting.open()
    join()
    world.run(use(1))  # the retry
    (reply,) = _replies(world)
    assert "first use" in reply


@pytest.mark.parametrize(
    "key", ["AKIAhannel>.", "AKIA<!channel>XXXXXXXX", "AKIA0123456789ab cd", "AKIA1234"]
)
def test_a_key_id_not_shaped_like_one_is_no_use(key: str) -> None:
    # Found by make fuzz: a record's accessKeyId with markup reached the reply's text.
    for call in ({}, {"eventSource": "iam.amazonaws.com", "eventName": "UpdateAccessKey"}):
        event = parse_event(json.loads(json.dumps(use(60, key=key, **call))))
        assert key_use(event) is None
