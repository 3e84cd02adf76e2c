"""The Slack emulator, driven over HTTP by the real slack_sdk clients (no mocks)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.request
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from sandbox.slack_emulator import DEFAULT_TOKEN, WEBHOOK_CHANNEL, SlackEmulator

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
