"""Composition root: Settings -> the adapters behind the pipeline's ports, built once."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.account_names import AccountNames
from detector.adapters.aws import AwsClients
from detector.adapters.iam import IamKeyConfirmer, IamKeyInventory
from detector.adapters.ledger import DynamoLedger
from detector.adapters.member_accounts import AccountClients
from detector.adapters.pacing import Pacer
from detector.adapters.secrets import SlackSecret
from detector.adapters.securityhub import SecurityHubSink, SecurityHubTriage
from detector.adapters.slack import SlackBotAlerter, SlackWebhookAlerter
from detector.config import Settings, SlackMode
from detector.controls import ROOT_ACCESS_KEYS
from detector.errors import AwsCallError, ConfigError, SecretError
from detector.log import configure, get_logger
from detector.pipeline import Dependencies
from detector.ports import (
    AccountDirectory,
    Alerter,
    DeadLetterQueue,
    DependencyReader,
    KeyInventory,
    RootCredentials,
)

if TYPE_CHECKING:
    from detector.domain.reconcile import Selection
    from detector.sweep import SweepSummary
    from detector.triage import TriageDeps


# Lambda retries a failed asynchronous invocation (a timeout included) after about a minute
# ("How Lambda handles errors and retries with asynchronous invocation", Lambda developer
# guide): an attempt's claims must outlive the attempt, and end before that retry arrives.
LEASE_MARGIN_S = 15.0


def invocation_lease_s(remaining_s: float) -> float:
    """How long an invocation with ``remaining_s`` left holds an event it claims."""
    return remaining_s + LEASE_MARGIN_S


@dataclass
class Deadline:
    """The current invocation's deadline; policies read it to stop before Lambda does."""

    _deadline: float = math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, remaining_s: float) -> None:
        """Set the time left for this invocation (seconds from now)."""
        with self._lock:
            self._deadline = time.monotonic() + remaining_s

    def remaining_s(self) -> float:
        """Seconds left (infinite outside Lambda)."""
        return self._deadline - time.monotonic()


@dataclass
class Runtime:
    """Everything built once per container."""

    settings: Settings
    clients: AwsClients
    deadline: Deadline
    deps: Dependencies
    accounts: AccountClients
    inventory: KeyInventory
    ledger: DynamoLedger  # the pipeline's ledger (deps.ledger), and triage's

    _triage: TriageDeps | None = None
    _root_credentials: RootCredentials | None = None

    def triage_deps(self, function: str) -> TriageDeps:
        """Triage from Slack (built on first use); ``function`` receives the jobs.

        Raises:
            ConfigError: SLACK_INTERACTIVITY is off.
        """
        if self._triage is None:
            self._triage = _triage(self, function)
        return self._triage

    def root_credentials(self) -> RootCredentials | None:
        """Root's keys in member accounts through sts:AssumeRoot (CENTRALIZED_ROOT_ACCESS);
        None when the feature is off. Built on first use."""
        root_access = self.settings.root_access
        if root_access is None:
            return None
        if self._root_credentials is None:
            from detector.adapters.root_access import AssumeRootCredentials  # noqa: PLC0415

            self._root_credentials = AssumeRootCredentials(
                self.settings.region, self.deps.retry_env, role_arn=root_access.role_arn
            )
        return self._root_credentials

    def directory(self) -> AccountDirectory:
        """The organization's account list (AWS Organizations)."""
        # The sweep's modules stay off an event's cold start.
        from detector.adapters.organizations import OrganizationDirectory  # noqa: PLC0415

        return OrganizationDirectory(
            lambda: self.clients.client("organizations"), self.deps.retry_env
        )

    def dead_letter_queue(self, queue_url: str) -> DeadLetterQueue:
        """The dead-letter queue at ``queue_url`` (SQS), for a redrive."""
        from detector.adapters.sqs import SqsDeadLetterQueue  # noqa: PLC0415 - redrive only

        return SqsDeadLetterQueue(
            lambda: self.clients.client("sqs"), queue_url, self.deps.retry_env
        )

    def dependencies(self) -> DependencyReader:
        """The daily check of each account's trails, event rule and Security Hub."""
        from detector.adapters.dependencies import AccountDependencies  # noqa: PLC0415 - sweep
        from detector.config import MEMBER_FORWARD_RULE  # noqa: PLC0415

        own_rule = self.settings.event_rule_name

        def rule_name(account_id: str) -> str:
            own = not self.settings.member_role_name or account_id == self.accounts.own_account_id()
            return own_rule if own else MEMBER_FORWARD_RULE

        return AccountDependencies(
            self.accounts.client,
            self.deps.retry_env,
            region=self.settings.region,
            rule_name_for=rule_name,
            own_account=self.accounts.own_account_id if self.settings.member_role_name else None,
        )

    def sweep_selection(self) -> Selection:
        """SWEEP_ACCOUNTS, else the organization's active accounts, else this account."""
        from detector.domain.reconcile import Selection, select  # noqa: PLC0415 - sweep only

        if self.settings.sweep_accounts:
            return Selection(self.settings.sweep_accounts)
        if self.settings.member_role_name:
            return select(self.directory().accounts())
        return Selection((self.accounts.own_account_id(),))

    def sweep(
        self,
        accounts: Iterable[str] | None = None,
        *,
        at: datetime | None = None,
        dry_run: bool = False,
    ) -> SweepSummary:
        """Run the daily sweep as configured (over ``accounts`` when given; ``at`` a time other
        than now, for tests and replays; ``dry_run``: decide and say, do nothing).

        Raises:
            SweepError: an alert, refresh or resolution failed in some account.
        """
        from detector.domain.reconcile import Selection  # noqa: PLC0415 - sweep only
        from detector.sweep import Sweeper  # noqa: PLC0415 - sweep only

        selection = Selection(tuple(accounts)) if accounts else self.sweep_selection()
        sweeper = Sweeper(
            self.deps,
            self.inventory,
            root_credentials=self.root_credentials(),
            dependencies=self.dependencies(),
            dry_run=dry_run,
            concurrency=self.settings.sweep_concurrency,
            settle_s=self.settings.key_settle_s,
            now=(lambda: at) if at is not None else (lambda: datetime.now(UTC)),
            root_exempt=frozenset(a for a in (selection.management,) if a),
        )
        return sweeper.run(selection.accounts, notes=selection.notes, skipped=selection.skipped)


def runtime_from_env() -> Runtime:
    """Settings from the environment, JSON logging configured, adapters wired.

    Raises:
        ConfigError: a variable is missing or invalid (it is named).
    """
    settings = Settings.from_env()
    configure(settings.log_level)
    return build_runtime(settings)


def build_runtime(
    settings: Settings,
    *,
    clients: AwsClients | None = None,
    retry_env: retry.RetryEnv | None = None,
) -> Runtime:
    """Wire adapters for ``settings``. Creates no network connection until first use."""
    clients = clients or AwsClients(
        region=settings.region, max_pool_connections=max(16, settings.sweep_concurrency)
    )
    deadline = Deadline()
    env = retry_env or retry.RetryEnv(remaining_s=deadline.remaining_s)

    accounts = AccountClients(
        clients, settings.member_role_name, own_account_id=settings.own_account_id
    )

    def iam_for(account_id: str) -> Any:
        return accounts.client("iam", account_id)

    def securityhub_for(account_id: str) -> Any:
        return accounts.client("securityhub", account_id)

    ledger = DynamoLedger(lambda: clients.client("dynamodb"), settings.ledger_table, env)
    deps = Dependencies(
        region=settings.region,
        confirmer=IamKeyConfirmer(
            iam_for, env, wait_s=settings.confirm_wait_s, settle_s=settings.key_settle_s
        ),
        findings=SecurityHubSink(securityhub_for, env),
        alerter=_alerter(settings, clients, env),
        ledger=ledger,
        retry_env=env,
        lease_s=settings.event_lease_s,
        account_name=AccountNames(clients, enabled=settings.organization_names).name,
        organization=bool(settings.member_role_name),
        own_account=lambda: _own_account(accounts),
        warm_up=lambda account_id: _warm(securityhub_for, account_id),
        triage=settings.interactivity is not None,
        removal=bool(settings.root_access and settings.root_access.removal),
        key_uses=settings.root_access is not None,
        sessions=ledger if settings.root_access is not None else None,
        control=ROOT_ACCESS_KEYS.with_severity(settings.finding_severity),
    )
    return Runtime(
        settings=settings,
        clients=clients,
        deadline=deadline,
        deps=deps,
        accounts=accounts,
        inventory=IamKeyInventory(iam_for, env),
        ledger=ledger,
    )


def _triage(rt: Runtime, function: str) -> TriageDeps:
    from detector.adapters.identity import OwnRole  # noqa: PLC0415 - triage only
    from detector.adapters.invoke import AsyncInvoker  # noqa: PLC0415
    from detector.adapters.secrets import signing_secret  # noqa: PLC0415
    from detector.triage import TriageDeps  # noqa: PLC0415

    settings, env = rt.settings, rt.deps.retry_env
    triage, root = settings.interactivity, settings.root_access
    slack = rt.deps.alerter
    if triage is None or not isinstance(slack, SlackBotAlerter):
        raise ConfigError("SLACK_INTERACTIVITY", "is off (or SLACK_MODE is not bot)")
    assert settings.slack_channel_id  # noqa: S101 - Settings validated it
    secret = SlackSecret(lambda: rt.clients.client("secretsmanager"), triage.signing_secret_id, env)
    own_role = OwnRole(lambda: rt.clients.client("sts"), env)

    def own_role_arn() -> str | None:
        # The detector's roles have no path (detector.yaml), so the session's role name and
        # this account make the role's ARN as CloudTrail's sessionIssuer gives it.
        name = own_role.name()
        account = _own_account(rt.accounts) if name else None
        return f"arn:{rt.deps.partition}:iam::{account}:role/{name}" if name and account else None

    origins = ("https://hooks.slack.com/",)
    if settings.slack_api_url.startswith("http://"):  # a loopback emulator (config.py)
        origins = (settings.slack_api_url.split("/api/")[0] + "/",)
    return TriageDeps(
        ledger=rt.ledger,
        workflow=SecurityHubTriage(
            lambda account_id: rt.accounts.client("securityhub", account_id), env
        ),
        slack=slack,
        submit=AsyncInvoker(lambda: rt.clients.client("lambda"), function, env).submit,
        signing_secret=_remember_failure(lambda: signing_secret(secret), SECRET_RETRY_S),
        team_id=triage.team_id,
        channel_id=settings.slack_channel_id,
        responders=frozenset(triage.responders),
        responder_group=triage.responder_group,
        region=settings.region,
        partition=rt.deps.partition,
        response_origins=origins,
        own_role_arn=own_role_arn,
        member_role_name=settings.member_role_name,
        removal_enabled=bool(root and root.removal),
        removal_dry_run=bool(root.removal_dry_run) if root else True,
        root_credentials=lambda: _needed(rt.root_credentials()),
    )


def _needed(credentials: RootCredentials | None) -> RootCredentials:
    """The AssumeRoot adapter a confirmed removal uses; off, it is a configuration error."""
    if credentials is None:
        raise ConfigError("CENTRALIZED_ROOT_ACCESS", "is off: a key cannot be removed")
    return credentials


SECRET_RETRY_S = 30.0  # a signing secret that could not be read is asked for again after this


def _remember_failure(read: Callable[[], str], for_s: float) -> Callable[[], str]:
    """``read``, whose SecretError is raised again without asking for ``for_s`` seconds (so a
    flood of requests while the secret is missing or malformed is not a flood of reads)."""
    failed: list[tuple[float, SecretError]] = []

    def remembered() -> str:
        now = time.monotonic()
        if failed and now - failed[0][0] < for_s:
            raise failed[0][1]
        try:
            value = read()
        except SecretError as exc:
            failed[:] = [(now, exc)]
            raise
        failed.clear()
        return value

    return remembered


def _own_account(accounts: AccountClients) -> str | None:
    """This account's id, or None when STS cannot say (an event is then not refused for it)."""
    try:
        return accounts.own_account_id()
    except AwsCallError as exc:
        get_logger().warning("own account unknown", extra={"error_type": type(exc).__name__})
        return None


def _warm(client_for: Callable[[str], object], account_id: str) -> None:
    """Create a client ahead of need; a failure here resurfaces, handled, where it is used."""
    with contextlib.suppress(Exception):
        client_for(account_id)


def _alerter(settings: Settings, clients: AwsClients, env: retry.RetryEnv) -> Alerter | None:
    if settings.slack_mode is SlackMode.DISABLED:
        return None

    def secrets() -> Any:
        return clients.client("secretsmanager")

    if settings.slack_mode is SlackMode.WEBHOOK:
        assert settings.slack_webhook_secret_id  # noqa: S101 - Settings validated it
        hook = SlackSecret(secrets, settings.slack_webhook_secret_id, env)
        return SlackWebhookAlerter(hook.webhook_url, env, timeout_s=settings.slack_timeout_s)
    assert settings.slack_token_secret_id  # noqa: S101 - Settings validated both
    assert settings.slack_channel_id  # noqa: S101
    secret = SlackSecret(secrets, settings.slack_token_secret_id, env)
    return SlackBotAlerter(
        secret.bot_token,
        settings.slack_channel_id,
        env,
        base_url=settings.slack_api_url,
        timeout_s=settings.slack_timeout_s,
        on_auth_failure=secret.invalidate,
        pacer=Pacer(settings.slack_posts_per_second, sleep=env.sleep, remaining_s=env.remaining_s),
    )
