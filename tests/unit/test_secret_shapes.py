"""The Slack secret is checked when read; a bad one is named by its problem, never its value."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import retry
from detector.adapters.secrets import (
    MAX_TOKEN_LENGTH,
    MAX_URL_LENGTH,
    TOKEN_KEYS,
    URL_KEYS,
    SlackSecret,
    bot_token_problem,
    webhook_url_problem,
)
from detector.errors import SecretError

SECRET_ID = "root-key-detector/slack"
HOOK = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcDEF123ghi456JKL789mno"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"


class _Store:
    """Secrets Manager's GetSecretValue as the adapter sees it: a value, or an error."""

    def __init__(self, value: str | None = None, error: Exception | None = None) -> None:
        self.value, self.error, self.reads = value, error, 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return {} if self.value is None else {"SecretString": self.value}


def _secret(value: str | None = None, error: Exception | None = None) -> SlackSecret:
    store = _Store(value, error)
    return SlackSecret(lambda: store, SECRET_ID, retry.RetryEnv(sleep=lambda _s: None))


def _refused(read: Any) -> SecretError:
    with pytest.raises(SecretError) as raised:
        read()
    err = raised.value
    # Nothing that might hold the value is chained to the error.
    assert err.__cause__ is None
    assert err.__context__ is None
    assert str(err) == f"secret {SECRET_ID!r} {err.problem}"
    return err


ROTATING = "xoxe.xoxb-1-MS0yLTIyMTk5NjMzNzAzMi0xNzUxNDk5NzM4NDg4"


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (TOKEN, TOKEN),
        (f"  {TOKEN}\n", TOKEN),  # whitespace around the value is dropped
        (json.dumps({"token": TOKEN}), TOKEN),
        (json.dumps({"bot_token": f" {TOKEN} "}), TOKEN),
        (json.dumps({"slack_bot_token": TOKEN, "note": "rotated by ops"}), TOKEN),
        (ROTATING, ROTATING),  # token rotation's expiring bot token
    ],
)
def test_a_well_formed_bot_token_is_accepted(value: str, token: str) -> None:
    assert _secret(value).bot_token() == token


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("xoxb-1111-2222-abc\ndef", "has whitespace or a control character inside"),
        (f"{TOKEN} # prod bot", "has whitespace or a control character inside"),
        (f"{TOKEN[:20]}\x1b[0m{TOKEN[20:]}", "has whitespace or a control character inside"),
        (f"{TOKEN[:20]}\u200b{TOKEN[20:]}", "has whitespace or a control character inside"),
        (TOKEN.replace("xoxb", "xoxp"), "does not start with xoxb-"),
        (TOKEN.replace("xoxb", "xapp"), "does not start with xoxb-"),
        ("Bearer " + TOKEN, "has whitespace or a control character inside"),
        (TOKEN + "é", "has characters a Slack token does not have"),
        (TOKEN + "/x", "has characters a Slack token does not have"),
        ("xoxb-" + "a" * MAX_TOKEN_LENGTH, f"is longer than {MAX_TOKEN_LENGTH} characters"),
        (json.dumps({"token": "xoxb-1111\t2222"}), "(key 'token') that has whitespace"),
        (json.dumps({"token": TOKEN.replace("xoxb", "xoxp")}), "(key 'token') that does not"),
        ('{"token": "xoxb-1111-2222"', "looks like a JSON object but does not parse"),
        ('{"token": ["xoxb-1111-2222"]}', "is JSON with no text under any of the keys"),
        (json.dumps({"url": HOOK}), "is JSON with no text under any of the keys"),
        ("   ", "holds no SecretString"),
    ],
)
def test_a_malformed_bot_token_is_refused_without_showing_it(value: str, problem: str) -> None:
    err = _refused(_secret(value).bot_token)
    assert problem in err.problem
    for fragment in ("1111", "2222", TOKEN[10:30], "prod bot"):
        assert fragment not in str(err)


@pytest.mark.parametrize(
    "value",
    [HOOK, f"{HOOK}\n", json.dumps({"url": HOOK}), json.dumps({"webhook_url": HOOK})],
)
def test_a_well_formed_webhook_url_is_accepted(value: str) -> None:
    assert _secret(value).webhook_url() == HOOK


def test_a_loopback_emulator_url_is_accepted_over_plain_http() -> None:
    local = "http://127.0.0.1:8123/services/T0SANDBOX/B0SANDBOX/sandboxwebhooksecret"
    assert _secret(local).webhook_url() == local


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{HOOK} # the alerts channel", "has whitespace or a control character inside"),
        (HOOK.replace("abcDEF", "abc\nDEF"), "has whitespace or a control character inside"),
        (HOOK.replace("abcDEF", "abc\x07DEF"), "has whitespace or a control character inside"),
        (HOOK.replace("https", "http"), "is not of the form"),
        (HOOK.replace("hooks.slack.com", "hooks.slack.com.evil.example"), "is not of the form"),
        (HOOK.replace("hooks.slack.com", "hooks.slack.com@evil.example"), "is not of the form"),
        (HOOK + "?x=1", "is not of the form"),
        (HOOK.replace("/services/", "/workflows/"), "is not of the form"),
        ("http://10.0.0.1/services/T0/B0/abcDEF123ghi", "is not of the form"),
        (HOOK + "a" * MAX_URL_LENGTH, f"is longer than {MAX_URL_LENGTH} characters"),
        (json.dumps({"url": HOOK + " x"}), "(key 'url') that has whitespace"),
    ],
)
def test_a_malformed_webhook_url_is_refused_without_showing_it(value: str, problem: str) -> None:
    err = _refused(_secret(value).webhook_url)
    assert problem in err.problem
    assert "abcDEF" not in str(err)
    assert "T0123ABCD" not in str(err)


def test_a_read_failure_names_the_code_and_chains_nothing() -> None:
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetSecretValue"
    )
    err = _refused(_secret(error=denied).bot_token)
    assert err.problem == "could not be read (AccessDeniedException)"


def test_the_secret_is_read_once_and_again_after_invalidate() -> None:
    store = _Store(TOKEN)
    secret = SlackSecret(lambda: store, SECRET_ID, retry.RetryEnv())
    secret.bot_token()
    secret.bot_token()
    assert store.reads == 1
    secret.invalidate()
    secret.bot_token()
    assert store.reads == 2


# -- properties: whatever the secret holds, a value of the right shape or a fixed message ------

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _messages(kind: str, keys: tuple[str, ...], problems: set[str | None]) -> set[str]:
    """Every message a SecretError may carry: a fixed set, whatever the secret held."""
    where = ["the bare value", *[f"key {k!r}" for k in keys]]
    return {f"holds a {kind} ({w}) that {p}" for w in where for p in problems if p} | {
        "looks like a JSON object but does not parse as one",
        f"is JSON with no text under any of the keys {', '.join(keys)}",
        "holds no SecretString (empty, or a binary secret)",
    }


TOKEN_MESSAGES = _messages(
    "bot token",
    TOKEN_KEYS,
    {bot_token_problem(t) for t in (" ", "xoxp-1", "xoxb-/", "xoxb-" + "a" * MAX_TOKEN_LENGTH)},
)
URL_MESSAGES = _messages(
    "webhook URL",
    URL_KEYS,
    {webhook_url_problem(u) for u in (" ", "http://x", HOOK + "a" * MAX_URL_LENGTH)},
)
# Text a hurried operator pastes: token-ish and URL-ish pieces, spaces, controls, any character.
PIECES = st.sampled_from(
    ["xoxb-", "xoxp-", "xoxe.", HOOK, TOKEN, " ", "\n", "\t", "\x00", "#", "{", "}", '"']
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=8).map("".join)
DOCS = st.dictionaries(
    st.sampled_from([*TOKEN_KEYS, *URL_KEYS, "other"]),
    st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=2)),
    max_size=4,
).map(json.dumps)


def _outcome(read: Any) -> tuple[str | None, SecretError | None]:
    try:
        return read(), None
    except SecretError as err:
        return None, err


@FAST
@given(st.one_of(TEXT, DOCS))
def test_any_secret_gives_a_well_formed_token_or_a_fixed_message(raw: str) -> None:
    token, err = _outcome(_secret(raw).bot_token)
    if err is None:
        assert token is not None
        assert bot_token_problem(token) is None
        assert token.startswith(("xoxb-", "xoxe.xoxb-"))
        assert not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token)
    else:
        assert err.problem in TOKEN_MESSAGES
        assert str(err) == f"secret {SECRET_ID!r} {err.problem}"
        assert err.__cause__ is None
        assert err.__context__ is None


@FAST
@given(st.one_of(TEXT, DOCS))
def test_any_secret_gives_a_slack_webhook_url_or_a_fixed_message(raw: str) -> None:
    url, err = _outcome(_secret(raw).webhook_url)
    if err is None:
        assert url is not None
        assert webhook_url_problem(url) is None
        assert url.startswith("https://hooks.slack.com/services/")
        assert not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url)
    else:
        assert err.problem in URL_MESSAGES
        assert str(err) == f"secret {SECRET_ID!r} {err.problem}"
        assert err.__cause__ is None
        assert err.__context__ is None
