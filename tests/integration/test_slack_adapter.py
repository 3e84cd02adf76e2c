"""Slack delivery against the emulator over HTTP: retries, Retry-After, what is not retried."""

from __future__ import annotations

import pytest

from detector import retry
from detector.adapters.slack import SlackBotAlerter, SlackWebhookAlerter
from detector.domain.event import parse_event
from detector.domain.message import SlackMessage, build_message
from detector.domain.verdict import classify
from detector.errors import AlertDeliveryError
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN
from sandbox.slack_emulator import SlackEmulator
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


def test_5xx_and_dropped_connections_are_retried_with_backoff(
    slack: SlackEmulator, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    slack.inject("server_error", times=1)
    slack.inject("drop", times=1)
    _bot(slack, retry_env).post(_message())
    assert len(sleeps) == 2
    assert all(0 < s <= retry.SLACK_CALL.max_s for s in sleeps)
    assert len(slack.top_level(SLACK_CHANNEL)) == 1


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
