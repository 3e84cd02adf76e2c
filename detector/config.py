"""Settings from environment variables, validated once, with errors naming the variable.

``VARIABLES`` is the one source of the configuration table: ``Settings`` reads through it,
and a test checks README's table and the template's parameters against it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlparse

from detector.controls import SEVERITY_LABELS
from detector.domain.event import ACCOUNT_ID_PATTERN
from detector.errors import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# A secret's name (letters, digits and /_+=.@-, at most 512) or its ARN ("CreateSecret",
# Secrets Manager API reference).
_SM_NAME_OR_ARN = (
    r"[A-Za-z0-9/_+=.@-]{1,512}"
    r"|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: how it is read and checked, and its row in README's table."""

    name: str
    meaning: str
    default: str | None = None  # the value taken when unset, written as the variable would be
    shown_default: str | None = None  # the table's default when not ``default`` ("set by Lambda")
    choices: tuple[str, ...] = ()  # the only values accepted (any case)
    low: float | None = None  # accepted range of a number
    high: float | None = None
    unit: str = ""  # of a number: "seconds", "per second"; "" for a whole number
    pattern: str | None = None  # what a value (each item of a list) must match whole
    form: str = ""  # the accepted values in words, for a pattern
    separator: str | None = None  # a list: items split on this, blanks around them dropped
    parameter: str | None = None  # the infra/detector.yaml parameter that sets it

    @property
    def values(self) -> str:
        """The accepted values, as the table says them."""
        if self.choices:
            *first, last = (f"`{c}`" for c in self.choices)
            return f"{', '.join(first)} or {last}"
        if self.low is not None and self.high is not None:
            span = f"{self.low:g}\u2013{self.high:g}"  # an en dash
            return f"{span} {self.unit}" if self.unit else f"a whole number {span}"
        return self.form

    def matches(self, value: str) -> bool:
        """``value`` has the form ``pattern`` asks for (anything, without a pattern)."""
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


AWS_REGION = Variable(
    "AWS_REGION",
    "region of Security Hub and the Lambda (us-east-1: IAM events arrive only there); "
    "`AWS_DEFAULT_REGION` when unset",
    shown_default="set by Lambda",
    pattern=r"[a-z]{2}(-[a-z]+)+-\d",
    form="a region name (`us-east-1`)",
)
SLACK_MODE = Variable(
    "SLACK_MODE",
    "how alerts reach Slack: chat.postMessage (threads), an incoming webhook, or not at all "
    "(findings only)",
    default="bot",
    choices=("bot", "webhook", "disabled"),
    parameter="SlackMode",
)
SLACK_TOKEN_SECRET_ID = Variable(
    "SLACK_TOKEN_SECRET_ID",
    'the bot token\'s secret (`xoxb-…`, bare or `{"token": "…"}`; checked when read, see '
    '"Secrets"), bot mode',
    pattern=_SM_NAME_OR_ARN,
    form="a Secrets Manager secret name or ARN",
    parameter="SlackSecretArn",
)
SLACK_CHANNEL_ID = Variable(
    "SLACK_CHANNEL_ID",
    "channel to alert in, bot mode; invite the bot to it. An ID, not a name: a retry reads "
    "the channel's history, and conversations.history takes only a conversation ID",
    pattern=r"[CGD][A-Z0-9]{2,}",
    form="a channel ID (`C0123ABCD`)",
    parameter="SlackChannelId",
)
SLACK_WEBHOOK_SECRET_ID = Variable(
    "SLACK_WEBHOOK_SECRET_ID",
    "the webhook URL's secret (`https://hooks.slack.com/services/…`, bare or "
    '`{"url": "…"}`; checked when read), webhook mode',
    pattern=_SM_NAME_OR_ARN,
    form="a Secrets Manager secret name or ARN",
    parameter="SlackSecretArn",
)
SLACK_API_URL = Variable(
    "SLACK_API_URL",
    "Slack Web API base URL",
    default=DEFAULT_SLACK_API_URL,
    form="an https URL (plain http only to loopback)",
    parameter="SlackApiUrl",
)
SLACK_TIMEOUT_SECONDS = Variable(
    "SLACK_TIMEOUT_SECONDS",
    "HTTP timeout of one Slack call",
    default="5",
    low=0.1,
    high=60,
    unit="seconds",
)
SLACK_POSTS_PER_SECOND = Variable(
    "SLACK_POSTS_PER_SECOND",
    "messages posted per second per channel (Slack's documented rate for `chat.postMessage`; "
    "bursts of 3): bulk alerts wait their turn",
    default="1",
    low=0.1,
    high=100,
    unit="per second",
)
CONFIRM_WAIT_SECONDS = Variable(
    "CONFIRM_WAIT_SECONDS",
    "how long to wait for IAM to show a brand-new key",
    default="10",
    low=0,
    high=300,
    unit="seconds",
    parameter="ConfirmWaitSeconds",
)
KEY_SETTLE_SECONDS = Variable(
    "KEY_SETTLE_SECONDS",
    "after this age, a key IAM does not show counts as deleted",
    default="300",
    low=0,
    high=86400,
    unit="seconds",
    parameter="KeySettleSeconds",
)
LOG_LEVEL = Variable(
    "LOG_LEVEL",
    "the detector's log level; logs are JSON lines",
    default="INFO",
    choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    parameter="LogLevel",
)
FINDING_SEVERITY = Variable(
    "FINDING_SEVERITY",
    "the severity the finding carries (FFIEC rates the control Medium; AWS rates IAM.4 Critical)",
    default="MEDIUM",
    choices=SEVERITY_LABELS,
    parameter="FindingSeverity",
)
LEDGER_TABLE = Variable(
    "LEDGER_TABLE",
    "the DynamoDB ledger table (keys `pk`, `sk`; TTL `expires_at`)",
    shown_default="— (required)",
    pattern=r"[A-Za-z0-9_.-]{3,255}",
    form="a DynamoDB table name",
)
EVENT_LEASE_SECONDS = Variable(
    "EVENT_LEASE_SECONDS",
    "how long a command-line run (`replay`, `redrive`, `sweep`) owns an event; in Lambda an "
    "invocation owns it for its remaining time + 15 s",
    default="300",
    low=10,
    high=3600,
    unit="seconds",
)
MEMBER_ROLE_NAME = Variable(
    "MEMBER_ROLE_NAME",
    "role to assume in member accounts; unset: single account",
    # IAM role names: letters, digits and +=,.@_- ; 1 to 64 characters ("IAM object quotas and
    # names", IAM user guide).
    pattern=r"[A-Za-z0-9+=,.@_-]{1,64}",
    form="an IAM role name",
    parameter="MemberRoleName",
)
ORGANIZATION_NAMES = Variable(
    "ORGANIZATION_NAMES",
    "account names from AWS Organizations in alerts and findings",
    default="false",
    choices=("true", "false"),
)
SWEEP_ACCOUNTS = Variable(
    "SWEEP_ACCOUNTS",
    "accounts to sweep; unset: the organization's (or this account)",
    pattern=ACCOUNT_ID_PATTERN,
    form="12-digit account ids, comma-separated",
    separator=",",
    parameter="SweepAccounts",
)
SWEEP_CONCURRENCY = Variable(
    "SWEEP_CONCURRENCY",
    "accounts swept at once",
    default="32",
    low=1,
    high=256,
    parameter="SweepConcurrency",
)
EVENT_RULE_NAME = Variable(
    "EVENT_RULE_NAME",
    "the stack's rule on this account's default bus (the daily sweep checks it is enabled)",
    default="root-key-detector-events",
    # EventBridge rule names: 1-64 of . - _ letters digits ("PutRule", EventBridge API Reference).
    pattern=r"[A-Za-z0-9._-]{1,64}",
    form="an EventBridge rule name",
    parameter="EventRuleName",
)
# The forwarding rule's fixed name in every member account (infra/member.yaml, Mappings.Forward).
MEMBER_FORWARD_RULE = "root-key-detector-forward"
DETECTOR_ACCOUNT_ID = Variable(
    "DETECTOR_ACCOUNT_ID",
    "this account's id (else asked of STS once)",
    shown_default="from the Lambda ARN",
    pattern=ACCOUNT_ID_PATTERN,
    form="a 12-digit account id",
)
SLACK_INTERACTIVITY = Variable(
    "SLACK_INTERACTIVITY",
    "triage from the alert: Acknowledge, Suppress and Resolve buttons, written to the finding "
    '(bot mode; needs the interaction function, see "Triage from Slack")',
    default="false",
    choices=("true", "false"),
    parameter="SlackInteractivity",
)
SLACK_SIGNING_SECRET_ID = Variable(
    "SLACK_SIGNING_SECRET_ID",
    'the Slack app\'s signing secret (bare or `{"signing_secret": "…"}`), with interactivity',
    pattern=_SM_NAME_OR_ARN,
    form="a Secrets Manager secret name or ARN",
    parameter="SlackSigningSecretArn",
)
SLACK_TEAM_ID = Variable(
    "SLACK_TEAM_ID",
    "the only workspace whose people may triage, with interactivity",
    pattern=r"[TE][A-Z0-9]{2,20}",
    form="a workspace ID (`T0123ABCD`)",
    parameter="SlackTeamId",
)
SLACK_RESPONDERS = Variable(
    "SLACK_RESPONDERS",
    "Slack users who may triage (with SLACK_RESPONDER_GROUP: its members too)",
    pattern=r"[UW][A-Z0-9]{2,20}",
    form="user IDs (`U0123ABCD`), comma-separated",
    separator=",",
    parameter="SlackResponders",
)
SLACK_RESPONDER_GROUP = Variable(
    "SLACK_RESPONDER_GROUP",
    "a Slack user group whose members may triage (`usergroups:read`)",
    pattern=r"S[A-Z0-9]{2,20}",
    form="a user group ID (`S0123ABCD`)",
    parameter="SlackResponderGroup",
)
CENTRALIZED_ROOT_ACCESS = Variable(
    "CENTRALIZED_ROOT_ACCESS",
    "the organization has centralized root access and this detector may use it: the sweep "
    "lists member accounts' root keys by id, root sessions are labelled with who opened them "
    '(see "Centralized root access")',
    default="false",
    choices=("true", "false"),
    parameter="CentralizedRootAccess",
)
ROOT_ACCESS_ROLE_ARN = Variable(
    "ROOT_ACCESS_ROLE_ARN",
    "a role in the management or IAM delegated administrator account that calls "
    "`sts:AssumeRoot` for this function (`infra/root-access.yaml`: the audit role for the "
    "detector, the removal role for the interaction function); unset: this account calls it "
    "(it is that account)",
    pattern=r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}",
    form="an IAM role ARN",
    parameter="RootAccessRoleArn",
)
ROOT_KEY_REMOVAL = Variable(
    "ROOT_KEY_REMOVAL",
    "a Remove key button on a key's alert: one responder asks, a second confirms, the key is "
    "deleted in an `AssumeRoot` session (needs CENTRALIZED_ROOT_ACCESS and SLACK_INTERACTIVITY)",
    default="false",
    choices=("true", "false"),
    parameter="RootKeyRemoval",
)
ROOT_KEY_REMOVAL_DRY_RUN = Variable(
    "ROOT_KEY_REMOVAL_DRY_RUN",
    "with ROOT_KEY_REMOVAL: a confirmed removal only says which calls it would make",
    default="true",
    choices=("true", "false"),
    parameter="RootKeyRemovalDryRun",
)
AWS_ENDPOINT_URL = Variable(
    "AWS_ENDPOINT_URL",
    "boto3's standard endpoint override, read by boto3 itself (the sandbox uses it)",
    form="a URL",
)
VARIABLES = (
    AWS_REGION,
    SLACK_MODE,
    SLACK_TOKEN_SECRET_ID,
    SLACK_CHANNEL_ID,
    SLACK_WEBHOOK_SECRET_ID,
    SLACK_API_URL,
    SLACK_TIMEOUT_SECONDS,
    SLACK_POSTS_PER_SECOND,
    CONFIRM_WAIT_SECONDS,
    KEY_SETTLE_SECONDS,
    LOG_LEVEL,
    FINDING_SEVERITY,
    LEDGER_TABLE,
    EVENT_LEASE_SECONDS,
    MEMBER_ROLE_NAME,
    ORGANIZATION_NAMES,
    SWEEP_ACCOUNTS,
    SWEEP_CONCURRENCY,
    EVENT_RULE_NAME,
    DETECTOR_ACCOUNT_ID,
    SLACK_INTERACTIVITY,
    SLACK_SIGNING_SECRET_ID,
    SLACK_TEAM_ID,
    SLACK_RESPONDERS,
    SLACK_RESPONDER_GROUP,
    CENTRALIZED_ROOT_ACCESS,
    ROOT_ACCESS_ROLE_ARN,
    ROOT_KEY_REMOVAL,
    ROOT_KEY_REMOVAL_DRY_RUN,
    AWS_ENDPOINT_URL,
)


def markdown_table() -> str:
    """README's configuration table, as ``VARIABLES`` says it."""
    rows = ["| variable | default | values | meaning |", "|---|---|---|---|"]
    for var in VARIABLES:
        default = var.shown_default or (f"`{var.default}`" if var.default is not None else "—")
        rows.append(f"| `{var.name}` | {default} | {var.values} | {var.meaning} |")
    return "\n".join(rows) + "\n"


class SlackMode(StrEnum):
    """How alerts reach Slack."""

    BOT = "bot"  # chat.postMessage with a bot token: threads and updates
    WEBHOOK = "webhook"  # incoming webhook: simpler, no threads
    DISABLED = "disabled"  # findings only (explicitly chosen, never by accident)


@dataclass(frozen=True, slots=True)
class Interactivity:
    """Triage from Slack: the signing secret and who may act."""

    signing_secret_id: str
    team_id: str
    responders: tuple[str, ...]
    responder_group: str | None


@dataclass(frozen=True, slots=True)
class RootAccess:
    """Centralized root access: where ``sts:AssumeRoot`` is called, and key removal."""

    role_arn: str | None  # None: the detector's own account calls AssumeRoot
    removal: bool = False  # the Remove key button (two responders)
    removal_dry_run: bool = True  # a confirmed removal only says which calls it would make


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the detector reads from its environment (``VARIABLES`` names each variable)."""

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
    interactivity: Interactivity | None = None  # None: no triage from Slack
    event_rule_name: str = "root-key-detector-events"
    finding_severity: str = "MEDIUM"
    root_access: RootAccess | None = None  # None: centralized root access is not used

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment.

        Raises:
            ConfigError: the first missing or invalid variable, by name.
        """
        env = os.environ if env is None else env
        region = _get(env, AWS_REGION) or _get(env, "AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("AWS_REGION", "not set (Lambda sets it; set it when running locally)")
        if not AWS_REGION.matches(region):
            raise ConfigError("AWS_REGION", f"not a region name: {region!r}")

        mode = SlackMode(_choice(env, SLACK_MODE))
        token_id = _named(env, SLACK_TOKEN_SECRET_ID, "a Secrets Manager secret name or ARN")
        webhook_id = _named(env, SLACK_WEBHOOK_SECRET_ID, "a Secrets Manager secret name or ARN")
        channel = _get(env, SLACK_CHANNEL_ID)
        _check_slack(mode, token_id, channel, webhook_id)
        api_url = _api_url(env)
        log_level = _choice(env, LOG_LEVEL).upper()

        ledger_table = _get(env, LEDGER_TABLE)
        if not ledger_table:
            raise ConfigError(
                "LEDGER_TABLE", "required: the DynamoDB table that deduplicates alerts"
            )
        if not LEDGER_TABLE.matches(ledger_table):
            raise ConfigError("LEDGER_TABLE", f"{ledger_table!r} is not a DynamoDB table name")

        return cls(
            region=region,
            ledger_table=ledger_table,
            event_lease_s=_number(env, EVENT_LEASE_SECONDS),
            member_role_name=_named(env, MEMBER_ROLE_NAME, "an IAM role name"),
            organization_names=_choice(env, ORGANIZATION_NAMES) == "true",
            sweep_accounts=_accounts(env),
            sweep_concurrency=_count(env, SWEEP_CONCURRENCY),
            own_account_id=_named(env, DETECTOR_ACCOUNT_ID, "a 12-digit account id"),
            event_rule_name=_named(env, EVENT_RULE_NAME, "an EventBridge rule name")
            or str(EVENT_RULE_NAME.default),
            slack_mode=mode,
            slack_token_secret_id=token_id,
            slack_channel_id=channel,
            slack_webhook_secret_id=webhook_id,
            slack_api_url=api_url,
            slack_timeout_s=_number(env, SLACK_TIMEOUT_SECONDS),
            slack_posts_per_second=_number(env, SLACK_POSTS_PER_SECOND),
            confirm_wait_s=_number(env, CONFIRM_WAIT_SECONDS),
            key_settle_s=_number(env, KEY_SETTLE_SECONDS),
            log_level=log_level,
            interactivity=_interactivity(env, mode),
            finding_severity=_choice(env, FINDING_SEVERITY),
            root_access=_root_access(env),
        )


def _root_access(env: Mapping[str, str]) -> RootAccess | None:
    on = _choice(env, CENTRALIZED_ROOT_ACCESS) == "true"
    role = _named(env, ROOT_ACCESS_ROLE_ARN, "an IAM role ARN")
    removal = _choice(env, ROOT_KEY_REMOVAL) == "true"
    dry_run = _choice(env, ROOT_KEY_REMOVAL_DRY_RUN) == "true"
    if not on:
        if removal:
            raise ConfigError("ROOT_KEY_REMOVAL", "needs CENTRALIZED_ROOT_ACCESS=true")
        return None
    if removal and _choice(env, SLACK_INTERACTIVITY) != "true":
        raise ConfigError("ROOT_KEY_REMOVAL", "needs SLACK_INTERACTIVITY=true (its buttons)")
    return RootAccess(role, removal=removal, removal_dry_run=dry_run)


def _interactivity(env: Mapping[str, str], mode: SlackMode) -> Interactivity | None:
    on = _choice(env, SLACK_INTERACTIVITY) == "true"
    secret = _named(env, SLACK_SIGNING_SECRET_ID, "a Secrets Manager secret name or ARN")
    team = _named(env, SLACK_TEAM_ID, "a workspace ID like T0123ABCD")
    responders = _items(env, SLACK_RESPONDERS, "a user ID like U0123ABCD")
    group = _named(env, SLACK_RESPONDER_GROUP, "a user group ID like S0123ABCD")
    if not on:
        return None
    if mode is not SlackMode.BOT:
        raise ConfigError("SLACK_INTERACTIVITY", "needs SLACK_MODE=bot (buttons and threads)")
    if not secret:
        raise ConfigError("SLACK_SIGNING_SECRET_ID", "required when SLACK_INTERACTIVITY=true")
    if not team:
        raise ConfigError("SLACK_TEAM_ID", "required when SLACK_INTERACTIVITY=true")
    if not responders and not group:
        raise ConfigError(
            "SLACK_RESPONDERS", "SLACK_RESPONDERS or SLACK_RESPONDER_GROUP names who may triage"
        )
    return Interactivity(secret, team, responders, group)


def _items(env: Mapping[str, str], var: Variable, what: str) -> tuple[str, ...]:
    raw = _get(env, var) or ""
    values = tuple(a.strip() for a in raw.split(var.separator) if a.strip())
    for value in values:
        if not var.matches(value):
            raise ConfigError(var.name, f"{value!r} is not {what}")
    return values


def _check_slack(
    mode: SlackMode, token_id: str | None, channel: str | None, webhook_id: str | None
) -> None:
    if mode is SlackMode.BOT:
        if not token_id:
            raise ConfigError("SLACK_TOKEN_SECRET_ID", "required when SLACK_MODE=bot")
        if not channel:
            raise ConfigError("SLACK_CHANNEL_ID", "required when SLACK_MODE=bot")
        if not SLACK_CHANNEL_ID.matches(channel):
            raise ConfigError("SLACK_CHANNEL_ID", f"{channel!r} is not a channel id like C0123ABCD")
    if mode is SlackMode.WEBHOOK and not webhook_id:
        raise ConfigError("SLACK_WEBHOOK_SECRET_ID", "required when SLACK_MODE=webhook")


def _api_url(env: Mapping[str, str]) -> str:
    api_url = _get(env, SLACK_API_URL) or DEFAULT_SLACK_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in {"https", "http"} or not parsed.netloc:
        raise ConfigError("SLACK_API_URL", f"not an http(s) URL: {api_url!r}")
    if parsed.scheme == "http" and parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ConfigError("SLACK_API_URL", "plain http is only allowed to a loopback emulator")
    return api_url if api_url.endswith("/") else api_url + "/"


def _named(env: Mapping[str, str], var: Variable, what: str) -> str | None:
    """An optional value of ``var``'s pattern (``what`` names the form in the error)."""
    value = _get(env, var)
    if value is not None and not var.matches(value):
        raise ConfigError(var.name, f"{value!r} is not {what}")
    return value


def _accounts(env: Mapping[str, str]) -> tuple[str, ...]:
    var = SWEEP_ACCOUNTS
    raw = _get(env, var) or ""
    accounts = tuple(a.strip() for a in raw.split(var.separator) if a.strip())
    for account in accounts:
        if not var.matches(account):
            raise ConfigError(var.name, f"{account!r} is not a 12-digit account id")
    return accounts


def _get(env: Mapping[str, str], var: Variable | str) -> str | None:
    """The variable's value; blank counts as unset."""
    name = var if isinstance(var, str) else var.name
    value = env.get(name, "").strip()
    return value or None


def _choice(env: Mapping[str, str], var: Variable) -> str:
    """One of ``var.choices``, given in any case; the default when unset."""
    raw = _get(env, var) or str(var.default)
    for choice in var.choices:
        if raw.lower() == choice.lower():
            return choice
    raise ConfigError(var.name, f"{raw!r} is not one of {', '.join(var.choices)}")


def _count(env: Mapping[str, str], var: Variable) -> int:
    raw = _get(env, var) or str(var.default)
    if not re.fullmatch(r"[0-9]+", raw):
        raise ConfigError(var.name, f"{raw!r} is not a whole number")
    value = int(raw)
    if not _within(var, value):
        raise ConfigError(var.name, f"{value} is outside {var.low:g}..{var.high:g}")
    return value


def _number(env: Mapping[str, str], var: Variable) -> float:
    """A number of ``var.unit`` ("seconds", "per second") within its range."""
    raw = _get(env, var) or str(var.default)
    what = "a number of seconds" if var.unit == "seconds" else "a number per second"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(var.name, f"{raw!r} is not {what}") from None
    if not _within(var, value):
        raise ConfigError(var.name, f"{value:g} is outside {var.low:g}..{var.high:g} {var.unit}")
    return value


def _within(var: Variable, value: float) -> bool:
    low = float("-inf") if var.low is None else var.low
    high = float("inf") if var.high is None else var.high
    return low <= value <= high
