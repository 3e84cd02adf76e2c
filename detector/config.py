"""Settings from environment variables, validated once, with errors naming the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlparse

from detector.errors import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]{2,}$|^#[a-z0-9_-]{1,80}$")
# A secret's name (letters, digits and /_+=.@-, at most 512) or its ARN ("CreateSecret",
# Secrets Manager API reference).
_SECRET_ID_RE = re.compile(
    r"[A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)


class SlackMode(StrEnum):
    """How alerts reach Slack."""

    BOT = "bot"  # chat.postMessage with a bot token: threads and updates
    WEBHOOK = "webhook"  # incoming webhook: simpler, no threads
    DISABLED = "disabled"  # findings only (explicitly chosen, never by accident)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the detector reads from its environment.

    | variable | meaning |
    |---|---|
    | SLACK_MODE | bot (default), webhook or disabled |
    | SLACK_TOKEN_SECRET_ID | Secrets Manager id/ARN of the bot token (bot mode) |
    | SLACK_CHANNEL_ID | channel to alert in, e.g. C0123ABCD (bot mode) |
    | SLACK_WEBHOOK_SECRET_ID | Secrets Manager id/ARN of the webhook URL (webhook mode) |
    | SLACK_API_URL | Slack Web API base URL (default https://slack.com/api/) |
    | SLACK_TIMEOUT_SECONDS | HTTP timeout of one Slack call (default 5) |
    | SLACK_POSTS_PER_SECOND | messages posted per second per channel (default 1, Slack's rate) |
    | AWS_REGION | region of Security Hub and the Lambda (set by Lambda) |
    | CONFIRM_WAIT_SECONDS | how long to wait for IAM to show a new key (default 10) |
    | KEY_SETTLE_SECONDS | after this age an absent key counts as deleted (default 300) |
    | LOG_LEVEL | DEBUG, INFO (default), WARNING, ERROR |
    | LEDGER_TABLE | DynamoDB table of the delivery ledger (required) |
    | EVENT_LEASE_SECONDS | how long one invocation owns an event (default 300) |
    | MEMBER_ROLE_NAME | role assumed in member accounts (unset: single account) |
    | ORGANIZATION_NAMES | true: look account names up in AWS Organizations (default false) |
    | SWEEP_ACCOUNTS | comma-separated accounts to sweep (unset: the organization's) |
    | SWEEP_CONCURRENCY | accounts swept at once (default 32) |
    | DETECTOR_ACCOUNT_ID | this account's id (default: from the Lambda ARN, else STS) |
    """

    region: str
    slack_mode: SlackMode
    slack_token_secret_id: str | None
    slack_channel_id: str | None
    slack_webhook_secret_id: str | None
    slack_api_url: str
    slack_timeout_s: float
    confirm_wait_s: float
    key_settle_s: float
    log_level: str
    ledger_table: str
    event_lease_s: float
    member_role_name: str | None = None
    organization_names: bool = False
    sweep_accounts: tuple[str, ...] = ()
    sweep_concurrency: int = 32
    own_account_id: str | None = None
    slack_posts_per_second: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment.

        Raises:
            ConfigError: the first missing or invalid variable, by name.
        """
        env = os.environ if env is None else env
        region = _get(env, "AWS_REGION") or _get(env, "AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("AWS_REGION", "not set (Lambda sets it; set it when running locally)")
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            raise ConfigError("AWS_REGION", f"not a region name: {region!r}")

        mode_raw = (_get(env, "SLACK_MODE") or SlackMode.BOT.value).lower()
        try:
            mode = SlackMode(mode_raw)
        except ValueError:
            choices = ", ".join(m.value for m in SlackMode)
            raise ConfigError("SLACK_MODE", f"{mode_raw!r} is not one of {choices}") from None

        token_id = _get(env, "SLACK_TOKEN_SECRET_ID")
        channel = _get(env, "SLACK_CHANNEL_ID")
        webhook_id = _get(env, "SLACK_WEBHOOK_SECRET_ID")
        _check_slack(mode, token_id, channel, webhook_id)
        api_url = _api_url(env)

        log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError("LOG_LEVEL", f"{log_level!r} is not DEBUG, INFO, WARNING or ERROR")

        ledger_table = _get(env, "LEDGER_TABLE")
        if not ledger_table:
            raise ConfigError(
                "LEDGER_TABLE", "required: the DynamoDB table that deduplicates alerts"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", ledger_table):
            raise ConfigError("LEDGER_TABLE", f"{ledger_table!r} is not a DynamoDB table name")

        return cls(
            region=region,
            ledger_table=ledger_table,
            event_lease_s=_seconds(env, "EVENT_LEASE_SECONDS", 300.0, 10.0, 3600.0),
            member_role_name=_role_name(env),
            organization_names=_flag(env, "ORGANIZATION_NAMES", default=False),
            sweep_accounts=_accounts(env),
            sweep_concurrency=_count(env, "SWEEP_CONCURRENCY", 32, 1, 256),
            own_account_id=_own_account(env),
            slack_mode=mode,
            slack_token_secret_id=token_id,
            slack_channel_id=channel,
            slack_webhook_secret_id=webhook_id,
            slack_api_url=api_url,
            slack_timeout_s=_seconds(env, "SLACK_TIMEOUT_SECONDS", 5.0, 0.1, 60.0),
            slack_posts_per_second=_rate(env, "SLACK_POSTS_PER_SECOND", 1.0, 0.1, 100.0),
            confirm_wait_s=_seconds(env, "CONFIRM_WAIT_SECONDS", 10.0, 0.0, 300.0),
            key_settle_s=_seconds(env, "KEY_SETTLE_SECONDS", 300.0, 0.0, 86400.0),
            log_level=log_level,
        )


def _check_slack(
    mode: SlackMode, token_id: str | None, channel: str | None, webhook_id: str | None
) -> None:
    for name, value in (
        ("SLACK_TOKEN_SECRET_ID", token_id),
        ("SLACK_WEBHOOK_SECRET_ID", webhook_id),
    ):
        if value is not None and not _SECRET_ID_RE.fullmatch(value):
            raise ConfigError(name, f"{value!r} is not a Secrets Manager secret name or ARN")
    if mode is SlackMode.BOT:
        if not token_id:
            raise ConfigError("SLACK_TOKEN_SECRET_ID", "required when SLACK_MODE=bot")
        if not channel:
            raise ConfigError("SLACK_CHANNEL_ID", "required when SLACK_MODE=bot")
        if not _CHANNEL_RE.match(channel):
            raise ConfigError("SLACK_CHANNEL_ID", f"{channel!r} is not a channel id like C0123ABCD")
    if mode is SlackMode.WEBHOOK and not webhook_id:
        raise ConfigError("SLACK_WEBHOOK_SECRET_ID", "required when SLACK_MODE=webhook")


def _api_url(env: Mapping[str, str]) -> str:
    api_url = _get(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in {"https", "http"} or not parsed.netloc:
        raise ConfigError("SLACK_API_URL", f"not an http(s) URL: {api_url!r}")
    if parsed.scheme == "http" and parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ConfigError("SLACK_API_URL", "plain http is only allowed to a loopback emulator")
    return api_url if api_url.endswith("/") else api_url + "/"


def _role_name(env: Mapping[str, str]) -> str | None:
    role = _get(env, "MEMBER_ROLE_NAME")
    if role is not None and not re.fullmatch(r"[\w+=,.@-]{1,64}", role):
        raise ConfigError("MEMBER_ROLE_NAME", f"{role!r} is not an IAM role name")
    return role


def _own_account(env: Mapping[str, str]) -> str | None:
    account = _get(env, "DETECTOR_ACCOUNT_ID")
    if account is not None and not re.fullmatch(r"[0-9]{12}", account):
        raise ConfigError("DETECTOR_ACCOUNT_ID", f"{account!r} is not a 12-digit account id")
    return account


def _accounts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _get(env, "SWEEP_ACCOUNTS") or ""
    accounts = tuple(a.strip() for a in raw.split(",") if a.strip())
    for account in accounts:
        if not re.fullmatch(r"[0-9]{12}", account):
            raise ConfigError("SWEEP_ACCOUNTS", f"{account!r} is not a 12-digit account id")
    return accounts


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() not in {"true", "false"}:
        raise ConfigError(name, f"{raw!r} is not true or false")
    return raw.lower() == "true"


def _count(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise ConfigError(name, f"{raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is outside {low}..{high}")
    return value


def _rate(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a number per second") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value:g} is outside {low:g}..{high:g} per second")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a number of seconds") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value:g} is outside {low:g}..{high:g} seconds")
    return value
