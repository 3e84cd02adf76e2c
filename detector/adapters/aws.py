"""boto3 clients: explicit botocore Config, one attempt (tenacity retries), cached per container.

Endpoints follow boto3's standard configuration: ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) point every client at another endpoint, e.g. a local emulator.

Clients come straight from botocore, the engine under ``boto3.client`` (the same client
classes): importing the ``boto3`` package also imports s3transfer and multiprocessing, ~60 ms of
CPU per cold start that no alert needs.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.exceptions
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import Credentials

from detector import __version__

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


def botocore_config(max_pool_connections: int = 16) -> Config:
    """One attempt per call: the named tenacity policies are the only retry layer."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        user_agent_extra=f"root-key-detector/{__version__}",
        max_pool_connections=max_pool_connections,
    )


class AwsClients:
    """Lazily creates and caches clients per (service, region) for warm invocations.

    Creating a boto3 client costs milliseconds of CPU; a warm Lambda must not pay it twice.
    """

    def __init__(self, region: str | None = None, *, max_pool_connections: int = 16):
        self._botocore: botocore.session.Session | None = None
        self._region = region
        self._pool = max_pool_connections
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def _core(self) -> botocore.session.Session:
        if self._botocore is None:
            session = botocore.session.Session()
            parsers = session.get_component("response_parser_factory")
            parsers.set_parser_defaults(timestamp_parser=parse_timestamp)
            self._botocore = session
        return self._botocore

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` (typed by the caller through boto3-stubs)."""
        key = (service, region or self._region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._create(service, key[1])
                self._clients[key] = client
            return client

    def new_client(self, service: str) -> Any:
        """A client of its own (not cached, not shared with :meth:`client`)."""
        with self._lock:  # a session is not safe to share unlocked
            return self._create(service, self._region)

    def _create(self, service: str, region: str | None) -> Any:
        # What boto3's Session.client does, without importing boto3.
        return self._core().create_client(
            service, region_name=region, config=botocore_config(self._pool)
        )


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, without dateutil for the ISO 8601 times AWS sends.

    dateutil spends ~0.1 ms per timestamp (an AssumeRole answer has one: a sweep parses one per
    account); ``datetime.fromisoformat`` reads the same instant in well under a microsecond.
    Anything else (epoch numbers, RFC 822 dates, times without a zone) goes to botocore's own.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    default: datetime = botocore.utils.parse_timestamp(value)
    return default


# The member account whose credentials sign the calls a member client makes in this thread.
_ACTING_IN: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar(
    "root_key_detector_acting_in", default=None
)


class MemberClientUnboundError(RuntimeError):
    """A member client was called outside :class:`InAccount`: it never signs as the detector."""


def _sign_as_member(context: dict[str, Any], **_: Any) -> None:
    """``before-call`` hook of a member client: sign this request as the bound member account."""
    credentials = _ACTING_IN.get()
    if credentials is None:
        raise MemberClientUnboundError("member client called without a member account bound")
    context.setdefault("signing", {})["request_credentials"] = credentials


class InAccount:
    """A member client seen from one account: each method call is signed with its credentials.

    Paginators and waiters call the client directly and would run unbound, so they fail
    (:class:`MemberClientUnboundError`) rather than sign with the detector's own identity.
    """

    __slots__ = ("_account_id", "_client", "_credentials")

    def __init__(self, client: Any, account_id: str, credentials: Credentials) -> None:
        self._client = client
        self._account_id = account_id
        self._credentials = credentials

    @property
    def account_id(self) -> str:
        """The account this view acts in."""
        return self._account_id

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr) or name in {"get_paginator", "get_waiter"}:
            return attr
        credentials = self._credentials

        def call(*args: Any, **kwargs: Any) -> Any:
            token = _ACTING_IN.set(credentials)
            try:
                return attr(*args, **kwargs)
            finally:
                _ACTING_IN.reset(token)

        return call


class AccountClients:
    """Clients that act *in* a given account: the Lambda's own, or a member's through its role.

    Security Hub imports a finding only from the finding's own account, and a principal can
    only read its own account's IAM summary: for a member account the detector assumes the
    member role (``arn:aws:iam::<account>:role/<MEMBER_ROLE_NAME>``). Credentials are cached per
    account until five minutes before they expire.

    Every member account shares one client per service (and so one connection pool): the
    account's credentials sign each call (:class:`InAccount`). A client per account would cost
    ~10-25 ms of CPU to create and a new connection each, which on one core is what bounds a
    sweep of a thousand accounts.
    """

    REFRESH_BEFORE_S = 300.0
    SESSION_NAME = "root-key-detector"

    def __init__(
        self,
        clients: AwsClients,
        member_role_name: str | None,
        *,
        own_account_id: str | None = None,
        partition: str = "aws",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._role = member_role_name
        self._own = own_account_id
        self._partition = partition
        self._clock = clock
        self._credentials: dict[str, tuple[float, Credentials]] = {}
        self._member_clients: dict[str, Any] = {}
        self._creating: dict[str, threading.Lock] = {}  # service -> held while creating it
        self._lock = threading.Lock()
        self._account_locks: dict[str, threading.Lock] = {}

    def learn_own_account(self, account_id: str) -> None:
        """Record this account's id when known for free (e.g. from the Lambda's ARN)."""
        if self._own is None:
            self._own = account_id

    def own_account_id(self) -> str:
        """The Lambda's own account (asked of STS once)."""
        if self._own is None:
            ident = self._clients.client("sts").get_caller_identity()
            self._own = str(ident["Account"])
        return self._own

    def client(self, service: str, account_id: str) -> Any:
        """A client for ``service`` acting in ``account_id``.

        Raises:
            botocore.exceptions.ClientError: the member role is missing or denies AssumeRole.
        """
        if not self._role or account_id == self.own_account_id():
            return self._clients.client(service)
        credentials = self._member_credentials(account_id)
        return InAccount(self._member_client(service), account_id, credentials)

    def _member_credentials(self, account_id: str) -> Credentials:
        # One lock per account: a sweep assumes roles in many accounts at once.
        with self._lock:
            lock = self._account_locks.setdefault(account_id, threading.Lock())
        with lock:
            entry = self._credentials.get(account_id)
            if entry is None or entry[0] - self.REFRESH_BEFORE_S < self._clock():
                entry = self._assume(account_id)
                self._credentials[account_id] = entry
            return entry[1]

    def _member_client(self, service: str) -> Any:
        with self._lock:
            client = self._member_clients.get(service)
            if client is not None:
                return client
            creating = self._creating.setdefault(service, threading.Lock())
        # One thread creates it; the others wait for that one. A sweep's first calls all reach
        # this point together: each creating its own client (tens of ms of CPU, and the
        # service model loaded again) cost a second of CPU per sweep, and the losers' clients
        # were thrown away.
        with creating:
            with self._lock:
                client = self._member_clients.get(service)
            if client is None:
                client = self._clients.new_client(service)
                client.meta.events.register(
                    f"before-call.{client.meta.service_model.service_id.hyphenize()}",
                    _sign_as_member,
                )
                with self._lock:
                    self._member_clients[service] = client
            return client

    def _assume(self, account_id: str) -> tuple[float, Credentials]:
        arn = f"arn:{self._partition}:iam::{account_id}:role/{self._role}"
        creds: dict[str, Any] = self._clients.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=self.SESSION_NAME, DurationSeconds=3600
        )["Credentials"]
        return creds["Expiration"].timestamp(), Credentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )


class AccountNames:
    """Account names from AWS Organizations, cached; a failure is "no name", never an error."""

    def __init__(self, clients: AwsClients, *, enabled: bool) -> None:
        self._clients = clients
        self._enabled = enabled
        self._names: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def name(self, account_id: str) -> str | None:
        """The account's name, or None (not in an organization, or not allowed to ask)."""
        if not self._enabled:
            return None
        with self._lock:
            if account_id in self._names:
                return self._names[account_id]
        try:
            resp = self._clients.client("organizations").describe_account(AccountId=account_id)
            name: str | None = str(resp["Account"]["Name"])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            name = None
        with self._lock:
            self._names[account_id] = name
        return name
