"""``detector.domain.preview``: each kind of record gets the right calls, the placeholders are
labelled, and the Block Kit Builder link carries exactly the blocks sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from detector.domain.confirmation import KeyState
from detector.domain.event import RootKeyEvent, parse_event
from detector.domain.preview import (
    BLOCK_KIT_BUILDER,
    Assumptions,
    Story,
    block_kit_builder_url,
    preview_event,
    preview_sweep,
)
from tests.factories import OTHER_ACCOUNT, delete_record, envelope, record, update_record

PLACEHOLDER = "<placeholder: "


def _event(rec: dict[str, Any]) -> RootKeyEvent:
    return parse_event(rec)


def _run(*records: dict[str, Any], assume: Assumptions | None = None) -> list[dict[str, Any]]:
    story = Story()
    return [
        preview_event(_event(r), f"r{n}", assume or Assumptions(), story)
        for n, r in enumerate(records)
    ]


def _builder_blocks(url: str) -> Any:
    assert url.startswith(BLOCK_KIT_BUILDER)
    return json.loads(unquote(url.removeprefix(BLOCK_KIT_BUILDER)))


def test_a_key_s_first_record_is_its_alert_and_later_ones_reply_and_redraw_it() -> None:
    create, deactivate, delete = _run(
        record(),
        update_record("Inactive", eventTime="2026-11-20T14:04:11Z", eventID="e-2"),
        delete_record(eventTime="2026-11-20T14:05:11Z", eventID="e-3"),
    )
    assert [p["role"] for p in (create, deactivate, delete)] == ["alert", "reply", "reply"]
    (post,) = create["slack"]["bot"]
    assert "thread_ts" not in post["body"]
    reply, update = deactivate["slack"]["bot"]
    assert (reply["method"], update["method"]) == ("chat.postMessage", "chat.update")
    assert reply["body"]["thread_ts"] == update["body"]["ts"]
    assert reply["body"]["thread_ts"].startswith(PLACEHOLDER)
    assert "r0" in reply["body"]["thread_ts"]  # names the record that posted the alert
    assert "metadata" not in update["body"]  # a redraw shows the state, not the event
    assert update["body"]["blocks"] == reply["body"]["blocks"]
    # One finding, its first sighting the creation's; the deletion resolves it.
    assert create["finding"]["Id"] == deactivate["finding"]["Id"] == delete["finding"]["Id"]
    assert delete["finding"]["FirstObservedAt"] == create["finding"]["FirstObservedAt"]
    assert delete["finding"]["RecordState"] == "ARCHIVED"
    assert deactivate["finding"]["Compliance"]["Status"] == "FAILED"


def test_a_later_step_seen_first_labels_the_first_sighting_it_cannot_know() -> None:
    (delete,) = _run(delete_record())
    assert delete["role"] == "alert"
    assert delete["finding"]["FirstObservedAt"].startswith(PLACEHOLDER)
    assert delete["finding"]["CreatedAt"] == delete["finding"]["FirstObservedAt"]
    assert not delete["finding"]["UpdatedAt"].startswith(PLACEHOLDER)


def test_notices_of_one_account_and_hour_share_a_message_with_a_count() -> None:
    user_key = record(**{"requestParameters": {"userName": "ci-bot"}}, eventID="n-1")
    failed = record(errorCode="LimitExceeded", eventID="n-2", eventTime="2026-11-20T14:30:00Z")
    other_hour = record(errorCode="LimitExceeded", eventID="n-3", eventTime="2026-11-20T15:00:00Z")
    first, second, third = _run(user_key, failed, other_hour)
    assert [p["role"] for p in (first, second, third)] == ["notice", "notice-reply", "notice"]
    assert all(p["finding"] is None and "no finding" in p["note"] for p in (first, second))
    _, update = second["slack"]["bot"]
    assert "1 more notice" in json.dumps(update["body"]["blocks"])
    assert (
        update["body"]["blocks"][: len(first["slack"]["bot"][0]["body"]["blocks"])]
        == (first["slack"]["bot"][0]["body"]["blocks"])
    )


def test_ignored_and_refused_records_post_and_file_nothing() -> None:
    ignored, refused = _run(
        record(eventName="ListAccessKeys"),
        envelope(record(), account=OTHER_ACCOUNT),
    )
    assert (ignored["role"], refused["role"]) == ("ignored", "refused")
    assert OTHER_ACCOUNT in refused["note"]
    assert "slack" not in ignored
    assert "slack" not in refused


def test_a_key_event_without_an_account_says_why_there_is_no_finding() -> None:
    (unfiled,) = _run(
        record(recipientAccountId="not-an-account", **{"userIdentity.accountId": "x"})
    )
    assert unfiled["role"] == "notice"
    assert unfiled["finding"] is None
    assert "account id" in unfiled["note"]
    assert "No Security Hub finding was filed" in json.dumps(unfiled["slack"]["bot"])


def test_placeholders_are_labelled_and_replaced_by_what_is_known() -> None:
    (labelled,) = _run(record())
    text = json.dumps(labelled)
    for what in ("SLACK_CHANNEL_ID", "account name", "IAM's answer"):
        assert f"{PLACEHOLDER}{what}" in text or f"&lt;placeholder: {what}" in text
    known = Assumptions(
        region="eu-west-1",
        channel="C0KNOWN",
        account_name="prod",
        iam=KeyState.UNCONFIRMED,
        iam_reason="not yet",
    )
    (filled,) = _run(record(), assume=known)
    text = json.dumps(filled)
    assert "placeholder" not in text
    assert filled["slack"]["bot"][0]["body"]["channel"] == "C0KNOWN"
    assert filled["finding"]["ProductFields"]["root-key-detector/Confirmation"] == "UNCONFIRMED"
    assert "eu-west-1.console.aws.amazon.com" in text


def test_the_webhook_body_is_the_message_without_what_webhooks_do_not_take() -> None:
    (alert,) = _run(record())
    body = alert["slack"]["bot"][0]["body"]
    webhook = alert["slack"]["webhook"]["body"]
    assert webhook == {"text": body["text"], "blocks": body["blocks"], "unfurl_links": False}


def test_the_block_kit_builder_link_opens_exactly_the_blocks_sent() -> None:
    (alert,) = _run(record(eventID="id-with-#-and-%", sourceIPAddress="<!channel> & co"))
    for call in alert["slack"]["bot"]:
        url = call["block_kit_builder"]
        assert "#" not in url.removeprefix(BLOCK_KIT_BUILDER)  # one fragment: the JSON
        assert _builder_blocks(url) == {"blocks": call["body"]["blocks"]}
    assert block_kit_builder_url([]) == BLOCK_KIT_BUILDER + "%7B%22blocks%22%3A%5B%5D%7D"


def test_the_sweep_preview_has_its_digest_its_alert_and_its_resolution() -> None:
    now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    doc = preview_sweep(
        {"alerted": 1, "failed": 1},
        [("444455556666", "AccessDenied")],
        "111122223333",
        now,
        Assumptions(),
        gone="IAM reports that the root user holds no access key",
    )
    digest = doc["digest"]["slack"]["bot"][0]["body"]
    assert "alerted 1, failed 1" in digest["text"]
    assert "444455556666" in json.dumps(digest["blocks"])
    assert doc["digest"]["finding"] is None
    assert doc["key_found"]["role"] == "alert"
    assert doc["key_found"]["finding"]["AwsAccountId"] == "111122223333"
    assert doc["key_gone"]["finding"]["RecordState"] == "ARCHIVED"
    assert doc["key_gone"]["finding"]["Id"] == doc["key_found"]["finding"]["Id"]
    assert doc["key_gone"]["slack"]["bot"][0]["body"]["thread_ts"].startswith(PLACEHOLDER)
