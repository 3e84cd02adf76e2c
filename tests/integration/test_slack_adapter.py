"""Slack delivery against the emulator over HTTP: retries, Retry-After, what is not retried,
and which earlier post a retry may take for its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web import WebClient

from detector import retry
from detector.adapters.slack import BotIdentity, SlackBotAlerter, SlackWebhookAlerter
from detector.domain.event import parse_event
from detector.domain.message import SlackMessage, build_message
from detector.domain.verdict import classify
from detector.errors import AlertDeliveryError
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN
from sandbox.slack_emulator import BOT_ID, BOT_USER_ID, Identity, SlackEmulator
from sandbox.stack import sample
from tests.integration.conftest import Sleeps


def _message() -> SlackMessage:
    event = parse_event(sample("root_create_access_key"))
    return build_message(event, classify(event), None)


def _bot(
    slack: SlackEmulator,
    env: retry.RetryEnv,
    *,
    channel: str = SLACK_CHANNEL,
    tokens: list[str] | None = None,
    on_auth_failure: object = None,
) -> SlackBotAlerter:
    queue = list(tokens or [SLACK_TOKEN])

    def token() -> str:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return SlackBotAlerter(
        token,
        channel,
        env,
        base_url=slack.base_url,
        timeout_s=2,
        on_auth_failure=on_auth_failure,  # type: ignore[arg-type]
    )


def _posts(slack: SlackEmulator) -> int:
    return sum(1 for r in slack.requests if r.method == "chat.postMessage")


def test_posts_the_alert(slack: SlackEmulator, retry_env: retry.RetryEnv) -> None:
    ref = _bot(slack, retry_env).post(_message())
    stored = slack.top_level(SLACK_CHANNEL)
    assert [m.ts for m in stored] == [ref.ts]
    assert stored[0].blocks
    assert stored[0].blocks[0]["type"] == "header"
    assert "Root access key created" in (stored[0].text or "")


def test_thread_reply_and_update(slack: SlackEmulator, retry_env: retry.RetryEnv) -> None:
    bot = _bot(slack, retry_env)
    ref = bot.post(_message())
    bot.post(_message(), thread=ref)
    bot.update(ref, SlackMessage(text="resolved"))
    assert len(slack.replies(SLACK_CHANNEL, ref.ts)) == 1
    updated = slack.message(SLACK_CHANNEL, ref.ts)
    assert updated is not None
    assert updated.text == "resolved"


def test_429_is_retried_after_exactly_retry_after(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    slack.inject("ratelimit", times=2, retry_after=3, methods="chat.postMessage")
    _bot(slack, retry_env).post(_message())
    assert sleeps == [3.0, 3.0]
    assert _posts(slack) == 3
    assert len(slack.top_level(SLACK_CHANNEL)) == 1


def test_5xx_is_retried_with_backoff(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    slack.inject("server_error", times=2)
    _bot(slack, retry_env).post(_message())
    assert len(sleeps) == 2
    assert all(0 < s <= retry.SLACK_CALL.max_s for s in sleeps)
    assert len(slack.top_level(SLACK_CHANNEL)) == 1


def test_a_post_whose_connection_drops_after_sending_is_not_posted_again_blindly(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    """Slack had the whole request: it may have posted. The adapter does not post again; it
    says the post may have been delivered, and the pipeline looks in the channel first."""
    slack.inject("drop", times=1)
    with pytest.raises(AlertDeliveryError) as err:
        _bot(slack, retry_env).post(_message())
    assert err.value.maybe_delivered
    assert not err.value.transient
    assert sleeps == []
    assert _posts(slack) == 1


def test_channel_not_found_is_not_retried(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    with pytest.raises(AlertDeliveryError) as err:
        _bot(slack, retry_env, channel="C0NOSUCHCHAN").post(_message())
    assert err.value.code == "channel_not_found"
    assert not err.value.transient
    assert sleeps == []
    assert _posts(slack) == 1


def test_persistent_429_gives_up_after_the_policy_and_raises(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    slack.inject("ratelimit", times=50, retry_after=1)
    with pytest.raises(AlertDeliveryError) as err:
        _bot(slack, retry_env).post(_message())
    assert err.value.transient
    assert _posts(slack) == retry.SLACK_CALL.attempts
    assert sleeps == [1.0] * (retry.SLACK_CALL.attempts - 1)


def test_retry_after_longer_than_the_invocation_can_wait_stops_at_once(
    slack: SlackEmulator, sleeps: Sleeps
) -> None:
    slack.inject("ratelimit", times=1, retry_after=120)
    env = retry.RetryEnv(sleep=sleeps, remaining_s=lambda: 60.0)
    with pytest.raises(AlertDeliveryError):
        _bot(slack, env).post(_message())
    assert sleeps == []


def test_invalid_auth_rereads_the_token_once(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    refreshed: list[bool] = []
    # The first token is stale (rotated); the secret now holds the valid one.
    bot = _bot(
        slack,
        retry_env,
        tokens=["xoxb-rotated-away", SLACK_TOKEN],
        on_auth_failure=lambda: refreshed.append(True),
    )
    bot.post(_message())
    assert refreshed == [True]
    assert len(slack.top_level(SLACK_CHANNEL)) == 1


def test_invalid_auth_with_a_bad_token_fails_without_showing_it(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    bad = "xoxb-never-valid-0000"
    with pytest.raises(AlertDeliveryError) as err:
        _bot(slack, retry_env, tokens=[bad], on_auth_failure=lambda: None).post(_message())
    assert err.value.code == "invalid_auth"
    assert bad not in str(err.value)


def test_webhook_posts_and_honours_retry_after(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    slack.inject("ratelimit", times=1, retry_after=4, methods="webhook")
    SlackWebhookAlerter(lambda: slack.webhook_url, retry_env).post(_message())
    assert sleeps == [4.0]
    assert len(slack.messages("webhook")) == 1


def test_webhook_refusal_does_not_leak_the_url(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    url = slack.webhook_url.replace("sandboxwebhooksecret", "wrongsecret")
    with pytest.raises(AlertDeliveryError) as err:
        SlackWebhookAlerter(lambda: url, retry_env).post(_message())
    assert err.value.code == "HTTP 404"
    assert "wrongsecret" not in str(err.value)


# -- a retry's look for an earlier post: only this app's bot, this event and this finding ------

OTHER_APP = Identity(user_id="U0OTHER", name="other-app", bot_id="B0OTHER", app_id="A0OTHER")
MEMBER = Identity(user_id="U0MEMBER", name="a-member")


def _planted(slack: SlackEmulator, token: str, metadata: dict[str, object] | None) -> str:
    """Post a message to the channel as whoever holds ``token``; its ts."""
    client = WebClient(token=token, base_url=slack.base_url, retry_handlers=[], timeout=5)
    resp = client.chat_postMessage(channel=SLACK_CHANNEL, text="hello", metadata=metadata)
    return str(resp["ts"])


def test_find_posted_takes_only_this_apps_post_of_this_event_and_finding(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    message = _message()
    assert message.metadata is not None
    payload = message.metadata["event_payload"]
    slack.add_token("xoxb-other-app", OTHER_APP)
    slack.add_token("xoxp-a-member", MEMBER)
    other_finding = {**payload, "finding_id": "another-finding"}
    _planted(slack, "xoxb-other-app", message.metadata)  # another app, the right metadata
    _planted(slack, "xoxp-a-member", message.metadata)  # a member, the right metadata
    _planted(slack, SLACK_TOKEN, {**message.metadata, "event_payload": other_finding})
    bot = _bot(slack, retry_env)
    since = datetime.now(UTC) - timedelta(seconds=5)

    assert bot.find_posted(message, thread=None, since=since) is None

    ours = _planted(slack, SLACK_TOKEN, message.metadata)
    found = bot.find_posted(message, thread=None, since=since)
    assert found is not None
    assert found.ts == ours


def test_find_posted_reads_a_threads_replies_the_same_way(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    message = _message()
    bot = _bot(slack, retry_env)
    alert = bot.post(SlackMessage(text="the key's alert"))
    slack.add_token("xoxb-other-app", OTHER_APP)
    other = WebClient(token="xoxb-other-app", base_url=slack.base_url, retry_handlers=[])
    other.chat_postMessage(
        channel=SLACK_CHANNEL, thread_ts=alert.ts, text="hi", metadata=message.metadata
    )
    since = datetime.now(UTC)

    assert bot.find_posted(message, thread=alert, since=since) is None
    reply = bot.post(message, thread=alert)
    assert bot.find_posted(message, thread=alert, since=since) == reply


def test_the_bots_identity_is_asked_once_per_container(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    bot = _bot(slack, retry_env)
    since = datetime.now(UTC)
    for _ in range(3):
        bot.find_posted(_message(), thread=None, since=since)

    assert bot.identity() == BotIdentity(bot_id=BOT_ID, user_id=BOT_USER_ID)
    assert [r.method for r in slack.requests].count("auth.test") == 1


def test_a_token_that_is_not_a_bots_cannot_vouch_for_a_post(
    slack: SlackEmulator, retry_env: retry.RetryEnv
) -> None:
    slack.add_token("xoxp-a-member", MEMBER)
    with pytest.raises(AlertDeliveryError) as err:
        _bot(slack, retry_env, tokens=["xoxp-a-member"]).find_posted(
            _message(), thread=None, since=datetime.now(UTC)
        )
    assert err.value.code == "not_a_bot_token"
    assert "conversations.history" not in [r.method for r in slack.requests]


def test_a_message_from_the_same_bot_of_another_app_is_not_taken() -> None:
    """When auth.test names the app, a message must carry that app's id too."""
    me = BotIdentity(bot_id="B1", user_id="U1", app_id="A1")
    assert me.posted({"bot_id": "B1", "app_id": "A1"})
    assert not me.posted({"bot_id": "B1", "app_id": "A2"})
    assert not me.posted({"bot_id": "B1"})
    assert not me.posted({"user": "U1"})
    assert BotIdentity(bot_id="B1").posted({"bot_id": "B1"})
