"""Settings.from_env: valid configurations load; each bad variable is named in the error."""

from __future__ import annotations

import pytest

from detector.config import DEFAULT_SLACK_API_URL, Settings, SlackMode
from detector.errors import ConfigError

LEDGER = {"LEDGER_TABLE": "root-key-detector-ledger"}
BOT = {
    **LEDGER,
    "AWS_REGION": "us-east-1",
    "SLACK_MODE": "bot",
    "SLACK_TOKEN_SECRET_ID": "root-key-detector/slack-bot-token",
    "SLACK_CHANNEL_ID": "C0123ABCD",
}
WEBHOOK = {
    **LEDGER,
    "AWS_REGION": "eu-west-1",
    "SLACK_MODE": "webhook",
    "SLACK_WEBHOOK_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook-AbCdEf",
}
DISABLED = {**LEDGER, "AWS_REGION": "us-gov-west-1", "SLACK_MODE": "disabled"}


def error_for(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    return info.value


# ---------------------------------------------------------------------------------------------
# Valid configurations


def test_bot_mode_with_defaults() -> None:
    settings = Settings.from_env(BOT)

    assert settings.region == "us-east-1"
    assert settings.slack_mode is SlackMode.BOT
    assert settings.slack_token_secret_id == "root-key-detector/slack-bot-token"
    assert settings.slack_channel_id == "C0123ABCD"
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL == "https://slack.com/api/"
    assert settings.slack_timeout_s == 5.0
    assert settings.confirm_wait_s == 10.0
    assert settings.key_settle_s == 300.0
    assert settings.log_level == "INFO"
    assert settings.ledger_table == "root-key-detector-ledger"
    assert settings.event_lease_s == 300.0


def test_bot_mode_is_the_default_mode() -> None:
    env = {k: v for k, v in BOT.items() if k != "SLACK_MODE"}
    assert Settings.from_env(env).slack_mode is SlackMode.BOT


def test_webhook_mode_needs_no_token_or_channel() -> None:
    settings = Settings.from_env(WEBHOOK)
    assert settings.slack_mode is SlackMode.WEBHOOK
    assert settings.slack_webhook_secret_id == WEBHOOK["SLACK_WEBHOOK_SECRET_ID"]
    assert settings.slack_token_secret_id is None


def test_disabled_mode_needs_no_slack_settings() -> None:
    settings = Settings.from_env(DISABLED)
    assert settings.slack_mode is SlackMode.DISABLED
    assert settings.region == "us-gov-west-1"


def test_every_variable_read() -> None:
    env = {
        **BOT,
        "SLACK_MODE": "BOT",
        "SLACK_CHANNEL_ID": "G0PRIVATE42",
        "SLACK_API_URL": "http://127.0.0.1:8765/api",
        "SLACK_TIMEOUT_SECONDS": "2.5",
        "CONFIRM_WAIT_SECONDS": "0",
        "KEY_SETTLE_SECONDS": "600",
        "LOG_LEVEL": "debug",
        "EVENT_LEASE_SECONDS": "60",
    }
    settings = Settings.from_env(env)

    assert settings.slack_mode is SlackMode.BOT
    assert settings.slack_channel_id == "G0PRIVATE42"
    assert settings.slack_api_url == "http://127.0.0.1:8765/api/"  # trailing slash added
    assert settings.slack_timeout_s == 2.5
    assert settings.confirm_wait_s == 0.0
    assert settings.key_settle_s == 600.0
    assert settings.log_level == "DEBUG"
    assert settings.event_lease_s == 60.0


@pytest.mark.parametrize(
    "url",
    ["http://localhost:3000/api/", "http://[::1]:3000/api/", "https://slack.example.com/api/"],
)
def test_loopback_http_or_any_https_api_url(url: str) -> None:
    assert Settings.from_env({**BOT, "SLACK_API_URL": url}).slack_api_url == url


def test_aws_default_region_is_a_fallback() -> None:
    env = {k: v for k, v in BOT.items() if k != "AWS_REGION"} | {"AWS_DEFAULT_REGION": "us-west-2"}
    assert Settings.from_env(env).region == "us-west-2"


def test_blank_values_count_as_unset() -> None:
    settings = Settings.from_env({**BOT, "LOG_LEVEL": "  ", "SLACK_TIMEOUT_SECONDS": ""})
    assert settings.log_level == "INFO"
    assert settings.slack_timeout_s == 5.0


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(BOT)
    with pytest.raises(AttributeError):
        settings.region = "eu-west-1"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Each bad variable, named


def without(env: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != name}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        (without(BOT, "AWS_REGION"), "AWS_REGION"),
        ({**BOT, "AWS_REGION": "   "}, "AWS_REGION"),
        ({**BOT, "AWS_REGION": "US-EAST-1"}, "AWS_REGION"),
        ({**BOT, "AWS_REGION": "us-east"}, "AWS_REGION"),
        ({**BOT, "AWS_REGION": "useast1"}, "AWS_REGION"),
        ({**BOT, "AWS_REGION": "us-east-1; rm -rf /"}, "AWS_REGION"),
        ({**BOT, "SLACK_MODE": "email"}, "SLACK_MODE"),
        ({**BOT, "SLACK_MODE": "bots"}, "SLACK_MODE"),
        (without(BOT, "SLACK_TOKEN_SECRET_ID"), "SLACK_TOKEN_SECRET_ID"),
        (without(BOT, "SLACK_CHANNEL_ID"), "SLACK_CHANNEL_ID"),
        ({**BOT, "SLACK_CHANNEL_ID": "general"}, "SLACK_CHANNEL_ID"),
        ({**BOT, "SLACK_CHANNEL_ID": "c0123abcd"}, "SLACK_CHANNEL_ID"),
        ({**BOT, "SLACK_CHANNEL_ID": "U0123ABCD"}, "SLACK_CHANNEL_ID"),
        ({**BOT, "SLACK_CHANNEL_ID": "#Security Alerts"}, "SLACK_CHANNEL_ID"),
        # A name, however well formed: conversations.history (a retry's look for its earlier
        # post) takes only a conversation ID.
        ({**BOT, "SLACK_CHANNEL_ID": "#security-alerts"}, "SLACK_CHANNEL_ID"),
        (without(WEBHOOK, "SLACK_WEBHOOK_SECRET_ID"), "SLACK_WEBHOOK_SECRET_ID"),
        ({**BOT, "SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "ftp://slack.com/api/"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "https://"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "http://slack.com/api/"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "http://10.0.0.5:3000/api/"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "http://localhost.evil.example/api/"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_API_URL": "http://127.0.0.1@evil.example/api/"}, "SLACK_API_URL"),
        ({**BOT, "SLACK_TIMEOUT_SECONDS": "five"}, "SLACK_TIMEOUT_SECONDS"),
        ({**BOT, "SLACK_TIMEOUT_SECONDS": "0"}, "SLACK_TIMEOUT_SECONDS"),
        ({**BOT, "SLACK_TIMEOUT_SECONDS": "61"}, "SLACK_TIMEOUT_SECONDS"),
        ({**BOT, "SLACK_TIMEOUT_SECONDS": "nan"}, "SLACK_TIMEOUT_SECONDS"),
        ({**BOT, "CONFIRM_WAIT_SECONDS": "-1"}, "CONFIRM_WAIT_SECONDS"),
        ({**BOT, "CONFIRM_WAIT_SECONDS": "inf"}, "CONFIRM_WAIT_SECONDS"),
        ({**BOT, "CONFIRM_WAIT_SECONDS": "10s"}, "CONFIRM_WAIT_SECONDS"),
        ({**BOT, "KEY_SETTLE_SECONDS": "86401"}, "KEY_SETTLE_SECONDS"),
        ({**BOT, "KEY_SETTLE_SECONDS": "1e9"}, "KEY_SETTLE_SECONDS"),
        ({**BOT, "LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({**BOT, "LOG_LEVEL": "CRITICAL"}, "LOG_LEVEL"),
        (without(BOT, "LEDGER_TABLE"), "LEDGER_TABLE"),
        (without(DISABLED, "LEDGER_TABLE"), "LEDGER_TABLE"),
        ({**BOT, "LEDGER_TABLE": "ab"}, "LEDGER_TABLE"),
        ({**BOT, "LEDGER_TABLE": "ledger table"}, "LEDGER_TABLE"),
        ({**BOT, "EVENT_LEASE_SECONDS": "5"}, "EVENT_LEASE_SECONDS"),
        ({**BOT, "EVENT_LEASE_SECONDS": "3601"}, "EVENT_LEASE_SECONDS"),
        ({**BOT, "EVENT_LEASE_SECONDS": "forever"}, "EVENT_LEASE_SECONDS"),
        ({**BOT, "ORGANIZATION_NAMES": "yes"}, "ORGANIZATION_NAMES"),
        ({**BOT, "ORGANIZATION_NAMES": "1"}, "ORGANIZATION_NAMES"),
        ({**BOT, "SWEEP_CONCURRENCY": "0"}, "SWEEP_CONCURRENCY"),
        ({**BOT, "SWEEP_CONCURRENCY": "257"}, "SWEEP_CONCURRENCY"),
        ({**BOT, "SWEEP_CONCURRENCY": "2.5"}, "SWEEP_CONCURRENCY"),
        ({**BOT, "SWEEP_CONCURRENCY": "many"}, "SWEEP_CONCURRENCY"),
        ({**BOT, "SWEEP_ACCOUNTS": "123456789012,abc"}, "SWEEP_ACCOUNTS"),
        ({**BOT, "MEMBER_ROLE_NAME": "role with space"}, "MEMBER_ROLE_NAME"),
        ({**BOT, "MEMBER_ROLE_NAME": "rôle"}, "MEMBER_ROLE_NAME"),  # IAM names are ASCII
        ({**BOT, "MEMBER_ROLE_NAME": "r" * 65}, "MEMBER_ROLE_NAME"),
        ({**BOT, "DETECTOR_ACCOUNT_ID": "12345"}, "DETECTOR_ACCOUNT_ID"),
        ({**BOT, "SLACK_TOKEN_SECRET_ID": "a secret"}, "SLACK_TOKEN_SECRET_ID"),
        ({**WEBHOOK, "SLACK_WEBHOOK_SECRET_ID": "x" * 513}, "SLACK_WEBHOOK_SECRET_ID"),
    ],
)
def test_bad_variable_is_named(env: dict[str, str], variable: str) -> None:
    err = error_for(env)
    assert err.variable == variable
    assert str(err).startswith(variable)


def test_webhook_secret_is_not_required_in_bot_mode() -> None:
    assert Settings.from_env(BOT).slack_webhook_secret_id is None


def test_token_is_not_required_in_webhook_mode() -> None:
    assert Settings.from_env(WEBHOOK).slack_token_secret_id is None


def test_first_problem_reported_is_the_region() -> None:
    # Nothing can work without a region: it is checked before Slack settings.
    err = error_for({"SLACK_MODE": "nonsense", "LOG_LEVEL": "loud"})
    assert err.variable == "AWS_REGION"


def test_error_quotes_the_bad_value_for_the_operator() -> None:
    err = error_for({**BOT, "SLACK_MODE": "email"})
    assert "'email'" in str(err)
    assert "bot" in str(err)
    assert "webhook" in str(err)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("TRUE", True), ("false", False)])
def test_organization_names_reads_true_or_false(raw: str, expected: bool) -> None:
    assert Settings.from_env({**BOT, "ORGANIZATION_NAMES": raw}).organization_names is expected


@pytest.mark.parametrize("raw", ["0", "2.5", "-3", "many"])
def test_sweep_concurrency_errors_speak_of_accounts_not_seconds(raw: str) -> None:
    err = error_for({**BOT, "SWEEP_CONCURRENCY": raw})
    assert "seconds" not in str(err)
    assert raw in str(err)


def test_secret_ids_take_a_name_or_an_arn() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:root-key-detector/slack-AbCdEf"
    assert Settings.from_env({**BOT, "SLACK_TOKEN_SECRET_ID": arn}).slack_token_secret_id == arn
