"""The Slack emulator, driven over HTTP by the real slack_sdk clients (no mocks)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from sandbox.slack_emulator import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_TOKEN,
    DELETED_TEXT,
    WEBHOOK_CHANNEL,
    Identity,
    SlackEmulator,
)
from sandbox.slack_limits import METHOD_LIMITS, POST_BURST, POST_WORKSPACE

pytestmark = pytest.mark.integration

CHANNEL = "C0SECALERTS"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Root access key created*"}}]
TS_SHAPE = re.compile(r"^\d{10}\.\d{6}$")
CONNECTION_ERRORS = (URLError, ConnectionError, http.client.HTTPException)


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token=DEFAULT_TOKEN, base_url=emu.base_url, retry_handlers=[], timeout=5)


def test_post_message_returns_ts_and_stores_blocks(emu: SlackEmulator, client: WebClient) -> None:
    first = client.chat_postMessage(channel=CHANNEL, text="root key", blocks=BLOCKS)
    second = client.chat_postMessage(channel="#security-alerts", text="second")

    assert first["ok"] is True
    assert first["channel"] == CHANNEL
    assert TS_SHAPE.match(first["ts"])
    assert first["message"]["blocks"] == BLOCKS
    assert float(second["ts"]) > float(first["ts"])
    stored = emu.messages(CHANNEL)
    assert [m.ts for m in stored] == [first["ts"], second["ts"]]
    assert stored[0].text == "root key"
    assert stored[0].blocks == BLOCKS
    assert stored[0].thread_ts is None
    posted = [r for r in emu.requests if r.method == "chat.postMessage"]
    assert len(posted) == 2
    assert posted[0].status == 200
    assert posted[0].payload is not None
    assert posted[0].payload["blocks"] == BLOCKS


def test_thread_reply_lands_in_replies(emu: SlackEmulator, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent)["ts"]

    assert [m.ts for m in emu.replies(CHANNEL, parent)] == [reply]
    assert [m.ts for m in emu.top_level(CHANNEL)] == [parent]
    thread = client.conversations_replies(channel=CHANNEL, ts=parent)["messages"]
    assert [m["ts"] for m in thread] == [parent, reply]
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["ts"] for m in history] == [parent]
    assert history[0]["reply_count"] == 1


OTHER_APP = Identity(user_id="U0OTHER", name="other-app", bot_id="B0OTHER", app_id="A0OTHER")
MEMBER = Identity(user_id="U0MEMBER", name="a-member")
METADATA = {"event_type": "root_key_detector_event", "event_payload": {"event_id": "e-1"}}


def _as(emu: SlackEmulator, token: str, identity: Identity) -> WebClient:
    emu.add_token(token, identity)
    return WebClient(token=token, base_url=emu.base_url, retry_handlers=[], timeout=5)


def test_messages_show_who_posted_them_as_slack_renders_authorship(
    emu: SlackEmulator, client: WebClient
) -> None:
    """A bot's message: the bot user, bot_id, app_id and bot_profile; a user's: only user."""
    client.chat_postMessage(channel=CHANNEL, text="ours")
    _as(emu, "xoxb-other-app", OTHER_APP).chat_postMessage(channel=CHANNEL, text="theirs")
    _as(emu, "xoxp-a-member", MEMBER).chat_postMessage(channel=CHANNEL, text="a member's")

    ours, theirs, members = reversed(client.conversations_history(channel=CHANNEL)["messages"])

    assert (ours["user"], ours["bot_id"], ours["app_id"]) == (BOT_USER_ID, BOT_ID, APP_ID)
    assert ours["bot_profile"]["id"] == BOT_ID
    assert ours["bot_profile"]["app_id"] == APP_ID
    assert (theirs["user"], theirs["bot_id"], theirs["app_id"]) == ("U0OTHER", "B0OTHER", "A0OTHER")
    assert members["user"] == "U0MEMBER"
    assert not {"bot_id", "app_id", "bot_profile"} & members.keys()


def test_auth_test_names_a_bot_only_for_a_bot_token(emu: SlackEmulator, client: WebClient) -> None:
    ours = client.auth_test()
    member = _as(emu, "xoxp-a-member", MEMBER).auth_test()

    assert (ours["user_id"], ours["bot_id"]) == (BOT_USER_ID, BOT_ID)
    assert member["user_id"] == "U0MEMBER"
    assert member.get("bot_id") is None


def test_only_the_author_may_update_a_message(emu: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="the alert")["ts"]
    other = _as(emu, "xoxb-other-app", OTHER_APP)

    with pytest.raises(SlackApiError) as refused:
        other.chat_update(channel=CHANNEL, ts=ts, text="nothing to see")

    assert refused.value.response["error"] == "cant_update_message"
    stored = emu.message(CHANNEL, ts)
    assert stored is not None
    assert stored.text == "the alert"
    assert stored.author == BOT_USER_ID


def test_metadata_is_returned_only_when_asked_for(emu: SlackEmulator, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="p", metadata=METADATA)["ts"]

    plain = client.conversations_history(channel=CHANNEL)["messages"]
    asked = client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"]
    thread = client.conversations_replies(channel=CHANNEL, ts=parent, include_all_metadata=True)

    assert "metadata" not in plain[0]
    assert asked[0]["metadata"] == METADATA
    assert thread["messages"][0]["metadata"] == METADATA


def test_reset_forgets_added_tokens(emu: SlackEmulator) -> None:
    other = _as(emu, "xoxb-other-app", OTHER_APP)
    other.auth_test()

    emu.reset()

    with pytest.raises(SlackApiError) as refused:
        other.auth_test()
    assert refused.value.response["error"] == "invalid_auth"


def test_chat_update_changes_stored_text(emu: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="open")["ts"]

    updated = client.chat_update(channel=CHANNEL, ts=ts, text="resolved")

    assert updated["message"]["text"] == "resolved"
    stored = emu.message(CHANNEL, ts)
    assert stored is not None
    assert stored.text == "resolved"
    assert [v.text for v in stored.edits] == ["open"]
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=CHANNEL, ts="1.000001", text="nope")
    assert missing.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("token", "error"), [("xoxb-not-a-real-token", "invalid_auth"), (None, "not_authed")]
)
def test_bad_token_is_an_api_error_with_status_200(
    emu: SlackEmulator, token: str | None, error: str
) -> None:
    client = WebClient(token=token, base_url=emu.base_url, retry_handlers=[], timeout=5)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="hi")

    assert raised.value.response["error"] == error
    assert raised.value.response.status_code == 200
    assert emu.messages(CHANNEL) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE", "text": "hi"}, "channel_not_found"),
        pytest.param(
            {"channel": CHANNEL},
            "no_text",
            marks=pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning"),
        ),
        ({"channel": CHANNEL, "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_invalid_post_is_rejected(
    emu: SlackEmulator, client: WebClient, kwargs: dict[str, object], error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(**kwargs)

    assert raised.value.response["error"] == error
    assert raised.value.response.status_code == 200
    assert emu.messages(CHANNEL) == []


def test_injected_ratelimit_then_next_call_succeeds(emu: SlackEmulator, client: WebClient) -> None:
    emu.inject("ratelimit", retry_after=7, methods=["chat.postMessage"])

    client.auth_test()  # another method: the fault stays queued
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="alert")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"

    assert client.chat_postMessage(channel=CHANNEL, text="alert")["ok"] is True
    assert [(r.method, r.status, r.fault) for r in emu.requests] == [
        ("auth.test", 200, None),
        ("chat.postMessage", 429, "ratelimit"),
        ("chat.postMessage", 200, None),
    ]
    assert len(emu.messages(CHANNEL)) == 1


def test_drop_closes_the_connection_without_a_response(
    emu: SlackEmulator, client: WebClient
) -> None:
    emu.inject("drop")

    with pytest.raises(CONNECTION_ERRORS):
        client.chat_postMessage(channel=CHANNEL, text="alert")

    assert [(r.status, r.fault) for r in emu.requests] == [(None, "drop")]
    assert emu.messages(CHANNEL) == []
    assert client.auth_test()["ok"] is True


def test_webhook_ok_unknown_path_and_invalid_payload(emu: SlackEmulator) -> None:
    ok = WebhookClient(emu.webhook_url, retry_handlers=[]).send(text="hello", blocks=BLOCKS)
    assert (ok.status_code, ok.body) == (200, "ok")
    stored = emu.messages(WEBHOOK_CHANNEL)
    assert [(m.text, m.blocks) for m in stored] == [("hello", BLOCKS)]

    wrong_url = emu.webhook_url.rsplit("/", 1)[0] + "/not-the-secret"
    missing = WebhookClient(wrong_url, retry_handlers=[]).send(text="hello")
    assert (missing.status_code, missing.body) == (404, "no_service")

    invalid = WebhookClient(emu.webhook_url, retry_handlers=[]).send_dict({"username": "x"})
    assert (invalid.status_code, invalid.body) == (400, "invalid_payload")
    assert len(emu.messages(WEBHOOK_CHANNEL)) == 1
    assert [r.method for r in emu.requests] == ["webhook"] * 3


def _fault_sequence(emu: SlackEmulator, client: WebClient, seed: int) -> list[str | None]:
    emu.reset()
    emu.set_fault_rates(ratelimit=0.3, server_error=0.2, timeout=0.1, timeout_delay=0.01, seed=seed)
    for _ in range(30):
        try:
            client.auth_test()
        except (SlackApiError, *CONNECTION_ERRORS):
            pass
    return [r.fault for r in emu.requests]


def test_seeded_fault_rates_are_deterministic(emu: SlackEmulator, client: WebClient) -> None:
    first = _fault_sequence(emu, client, seed=1234)
    again = _fault_sequence(emu, client, seed=1234)
    other = _fault_sequence(emu, client, seed=4321)

    assert len(first) == 30
    assert first == again
    assert first != other
    assert {"ratelimit", "server_error", "timeout", None} <= set(first)
    emu.reset()
    assert client.auth_test()["ok"] is True
    assert [r.fault for r in emu.requests] == [None]


def test_control_plane_injects_faults_and_lists_messages(
    emu: SlackEmulator, client: WebClient
) -> None:
    root = emu.root_url  # http://127.0.0.1:PORT, so urlopen's scheme audit does not apply
    fault = json.dumps({"kind": "server_error", "methods": "chat.postMessage"}).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{root}/_emulator/faults", data=fault, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert json.load(response) == {"ok": True}

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="alert")
    assert raised.value.response.status_code == 500
    ts = client.chat_postMessage(channel=CHANNEL, text="alert")["ts"]

    url = f"{root}/_emulator/messages?channel={CHANNEL}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local URL
        listed = json.load(response)
    assert [m["ts"] for m in listed["messages"]] == [ts]


# ---------------------------------------------------------------------------------------------
# Slack's documented limits and answers (sandbox.slack_limits cites the pages)


class FakeClock:
    """The emulator's clock, advanced by the test: no test sleeps for a rate window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


OTHER = "C0OTHERCHAN"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[SlackEmulator]:
    channels = {
        CHANNEL: "security-alerts",
        OTHER: "other",
        **{f"C0BULK{i:04d}": f"b{i}" for i in range(70)},
    }
    with SlackEmulator(clock=clock, channels=channels) as emulator:
        yield emulator


@pytest.fixture
def web(slack: SlackEmulator) -> WebClient:
    return WebClient(token=DEFAULT_TOKEN, base_url=slack.base_url, retry_handlers=[], timeout=5)


def _refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def test_post_message_allows_a_short_burst_then_one_per_second_per_channel(
    slack: SlackEmulator, web: WebClient, clock: FakeClock
) -> None:
    for i in range(POST_BURST):
        web.chat_postMessage(channel=CHANNEL, text=f"burst {i}")
    limited = _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="one too many"))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "1"
    web.chat_postMessage(channel=OTHER, text="another channel has its own pace")
    clock.advance(1)
    web.chat_postMessage(channel=CHANNEL, text="a second later")
    assert (
        _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="x")).response.status_code
        == 429
    )
    assert len(slack.messages(CHANNEL)) == POST_BURST + 1


def test_post_message_has_a_workspace_wide_limit(slack: SlackEmulator, web: WebClient) -> None:
    channels = [f"C0BULK{i:04d}" for i in range(60)]
    for channel in channels:
        for _ in range(POST_WORKSPACE.count // len(channels)):
            web.chat_postMessage(channel=channel, text="bulk")
    limited = _refused(lambda: web.chat_postMessage(channel="C0BULK0069", text="fresh channel"))
    assert limited.response.status_code == 429
    assert int(limited.response.headers["Retry-After"]) == 60


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("chat.update", lambda web, ts: web.chat_update(channel=CHANNEL, ts=ts, text="u")),
        ("conversations.history", lambda web, ts: web.conversations_history(channel=CHANNEL)),
        (
            "conversations.replies",
            lambda web, ts: web.conversations_replies(channel=CHANNEL, ts=ts),
        ),
        ("auth.test", lambda web, ts: web.auth_test()),
    ],
)
def test_tiered_methods_answer_429_with_retry_after_past_their_minute(
    slack: SlackEmulator, web: WebClient, clock: FakeClock, method: str, call: Any
) -> None:
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    allowed = METHOD_LIMITS[method].count  # Tier 3: 50 a minute; auth.test: 100
    for _ in range(allowed):
        call(web, ts)
    limited = _refused(lambda: call(web, ts))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "60"
    clock.advance(60)
    assert call(web, ts)["ok"] is True


def test_a_non_marketplace_app_reads_history_once_a_minute_and_15_at_a_time(
    slack: SlackEmulator, web: WebClient, clock: FakeClock
) -> None:
    slack.set_rate_limits(False)
    parent = web.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    for i in range(20):
        web.chat_postMessage(channel=CHANNEL, text=f"m{i}")
        web.chat_postMessage(channel=CHANNEL, text=f"r{i}", thread_ts=parent)
    slack.set_rate_limits(True)

    in_house = web.conversations_history(channel=CHANNEL, limit=200)
    assert len(in_house["messages"]) == 21
    slack.set_app("non-marketplace")
    page = web.conversations_history(channel=CHANNEL, limit=200)
    assert len(page["messages"]) == 15  # "the maximum and default ... reduced to 15"
    assert page["has_more"] is True
    assert page["response_metadata"]["next_cursor"]
    limited = _refused(lambda: web.conversations_history(channel=CHANNEL))
    assert (limited.response.status_code, limited.response.headers["Retry-After"]) == (429, "60")
    replies = web.conversations_replies(channel=CHANNEL, ts=parent)
    assert len(replies["messages"]) == 15
    assert (
        _refused(lambda: web.conversations_replies(channel=CHANNEL, ts=parent)).response.status_code
        == 429
    )
    clock.advance(60)
    rest = web.conversations_history(
        channel=CHANNEL, cursor=page["response_metadata"]["next_cursor"]
    )
    assert len(rest["messages"]) == 6
    assert rest["has_more"] is False
    shown = [m["ts"] for m in page["messages"] + rest["messages"]]
    assert shown == sorted(shown, reverse=True)
    assert len(set(shown)) == 21


def test_pages_of_history_and_replies_follow_their_cursors(
    slack: SlackEmulator, web: WebClient
) -> None:
    slack.set_rate_limits(False)
    posted = [web.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = web.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(posted))
    bad = _refused(lambda: web.conversations_history(channel=CHANNEL, cursor="bm90LWEtY3Vyc29y"))
    assert (bad.response.status_code, bad.response["error"]) == (200, "invalid_cursor")


def test_rate_limits_can_be_switched_off_and_reset_restores_them(
    slack: SlackEmulator, web: WebClient
) -> None:
    slack.set_rate_limits(False)
    for i in range(3 * POST_BURST):
        web.chat_postMessage(channel=CHANNEL, text=f"{i}")
    slack.reset()
    for i in range(POST_BURST):
        web.chat_postMessage(channel=CHANNEL, text=f"{i}")
    assert (
        _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="x")).response.status_code
        == 429
    )


def test_a_deleted_message_cannot_be_updated_and_leaves_history(
    slack: SlackEmulator, web: WebClient
) -> None:
    alone = web.chat_postMessage(channel=CHANNEL, text="alone")["ts"]
    parent = web.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    web.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent)
    slack.delete_message(CHANNEL, alone)
    slack.delete_message(CHANNEL, parent)

    for ts in (alone, parent):
        refused = _refused(lambda ts=ts: web.chat_update(channel=CHANNEL, ts=ts, text="edit"))
        assert (refused.response.status_code, refused.response["error"]) == (
            200,
            "message_not_found",
        )
    history = web.conversations_history(channel=CHANNEL)["messages"]
    assert [(m["ts"], m.get("subtype"), m["text"]) for m in history] == [
        (parent, "tombstone", DELETED_TEXT)  # kept for its reply; the lone one is gone
    ]
    thread = web.conversations_replies(channel=CHANNEL, ts=parent)["messages"]
    assert [m["text"] for m in thread] == [DELETED_TEXT, "reply"]
    gone = _refused(lambda: web.conversations_replies(channel=CHANNEL, ts=alone))
    assert gone.response["error"] == "thread_not_found"


def test_the_team_edit_window_closes_chat_update(
    slack: SlackEmulator, web: WebClient, clock: FakeClock
) -> None:
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    slack.set_edit_window(60)
    clock.advance(30)
    assert web.chat_update(channel=CHANNEL, ts=ts, text="within")["ok"] is True
    clock.advance(31)
    closed = _refused(lambda: web.chat_update(channel=CHANNEL, ts=ts, text="too late"))
    assert (closed.response.status_code, closed.response["error"]) == (200, "edit_window_closed")
    slack.set_edit_window(None)
    assert web.chat_update(channel=CHANNEL, ts=ts, text="any time")["ok"] is True


def test_someone_elses_message_cannot_be_updated(slack: SlackEmulator, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    slack.set_author(CHANNEL, ts, "U0SOMEONE")
    refused = _refused(lambda: web.chat_update(channel=CHANNEL, ts=ts, text="edit"))
    assert (refused.response.status_code, refused.response["error"]) == (200, "cant_update_message")
    assert slack.message(CHANNEL, ts).text == "alert"  # type: ignore[union-attr]


def test_an_archived_channel_or_one_without_the_app_refuses(
    slack: SlackEmulator, web: WebClient
) -> None:
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    slack.archive_channel(CHANNEL)
    assert (
        _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="x")).response["error"]
        == "is_archived"
    )
    assert (
        _refused(lambda: web.chat_update(channel=CHANNEL, ts=ts, text="x")).response["error"]
        == "is_archived"
    )
    slack.remove_app(OTHER)
    assert (
        _refused(lambda: web.chat_postMessage(channel=OTHER, text="x")).response["error"]
        == "not_in_channel"
    )
    assert (
        _refused(lambda: web.conversations_history(channel=OTHER)).response["error"]
        == "not_in_channel"
    )


@pytest.mark.parametrize(
    ("act", "error"),
    [
        (lambda slack: slack.revoke_token(DEFAULT_TOKEN), "token_revoked"),
        (lambda slack: slack.deactivate_workspace(), "account_inactive"),
    ],
)
def test_a_revoked_token_or_inactive_workspace_refuses_every_call(
    slack: SlackEmulator, web: WebClient, act: Any, error: str
) -> None:
    act(slack)
    for call in (web.auth_test, lambda: web.chat_postMessage(channel=CHANNEL, text="x")):
        refused = _refused(call)
        assert (refused.response.status_code, refused.response["error"]) == (200, error)


@pytest.mark.parametrize(
    "error",
    [
        "not_in_channel",
        "is_archived",
        "channel_not_found",
        "msg_too_long",
        "invalid_blocks",
        "invalid_auth",
        "token_revoked",
        "account_inactive",
        "ratelimited",
    ],
)
def test_a_documented_error_can_be_answered_once_the_way_slack_answers_it(
    slack: SlackEmulator, web: WebClient, error: str
) -> None:
    slack.refuse(error, methods="chat.postMessage", times=1)
    refused = _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="alert"))
    body = refused.response.data
    assert body["ok"] is False
    assert body["error"] == error
    if error == "ratelimited":
        assert refused.response.status_code == 429
        assert refused.response.headers["Retry-After"] == "1"
    else:
        assert refused.response.status_code == 200  # "Using the Slack Web API"
    if error == "invalid_blocks":
        assert body["errors"]
        assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert web.chat_postMessage(channel=CHANNEL, text="alert")["ok"] is True  # once only
    assert len(slack.messages(CHANNEL)) == 1


def test_a_refusal_stays_until_reset_and_only_documented_errors_are_taken(
    slack: SlackEmulator, web: WebClient
) -> None:
    slack.refuse("cant_update_message", methods=["chat.update"])
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    for _ in range(3):
        refused = _refused(lambda: web.chat_update(channel=CHANNEL, ts=ts, text="x"))
        assert refused.response["error"] == "cant_update_message"
    with pytest.raises(ValueError, match="does not document"):
        slack.refuse("edit_window_closed", methods="chat.postMessage")
    slack.reset()
    ts = web.chat_postMessage(channel=CHANNEL, text="alert")["ts"]
    assert web.chat_update(channel=CHANNEL, ts=ts, text="x")["ok"] is True


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
    ],
    ids=["section-text", "section-fields", "header-text", "context-elements"],
)
def test_blocks_past_block_kit_limits_are_invalid_blocks(
    web: WebClient, blocks: list[dict[str, Any]]
) -> None:
    refused = _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    body = refused.response.data
    assert (refused.response.status_code, body["error"]) == (200, "invalid_blocks")
    assert "json-pointer:/blocks/0" in body["errors"][0]


def test_control_plane_switches_limits_app_and_refusals(
    slack: SlackEmulator, web: WebClient
) -> None:
    def control(spec: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - local URL
            f"{slack.root_url}/_emulator/faults", data=json.dumps(spec).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert json.load(response) == {"ok": True}

    control({"rate_limits": False})
    for i in range(2 * POST_BURST):
        web.chat_postMessage(channel=CHANNEL, text=f"{i}")
    control({"refuse": {"error": "is_archived", "methods": ["chat.postMessage"], "times": 1}})
    assert (
        _refused(lambda: web.chat_postMessage(channel=CHANNEL, text="x")).response["error"]
        == "is_archived"
    )
    control({"app": "non-marketplace", "rate_limits": True})
    assert len(web.conversations_history(channel=CHANNEL)["messages"]) == 10
