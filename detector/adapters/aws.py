"""botocore clients: explicit Config, one attempt (tenacity retries), cached per container.

Endpoints follow boto3's standard configuration: ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) point every client at another endpoint, e.g. a local emulator.

Clients come straight from botocore, the engine under ``boto3.client`` (the same client
classes): importing the ``boto3`` package also imports s3transfer and multiprocessing, which no
alert needs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.config import Config

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
    """Creates clients from one botocore session and caches the Lambda's own ones.

    A client costs milliseconds of CPU to create (a fresh session's first one much more: it
    loads the service model); a warm Lambda must not pay it twice. botocore's session is not
    safe to share between threads unlocked, so creating a client holds a lock; the clients
    themselves are thread-safe.
    """

    def __init__(self, region: str | None = None, *, max_pool_connections: int = 16):
        self._session: botocore.session.Session | None = None
        self._region = region
        self._pool = max_pool_connections
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The Lambda's own cached client for ``service`` (typed by the caller)."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._create(service, None)
                self._clients[service] = client
            return client

    def client_with(self, service: str, credentials: Credentials) -> Any:
        """A new client that signs with ``credentials`` (another account's role session)."""
        with self._lock:
            return self._create(service, credentials)

    def _create(self, service: str, credentials: Credentials | None) -> Any:
        if self._session is None:
            self._session = botocore.session.Session()
        # What boto3's Session.client does, without importing boto3.
        return self._session.create_client(
            service,
            region_name=self._region,
            config=botocore_config(self._pool),
            aws_access_key_id=credentials.access_key if credentials else None,
            aws_secret_access_key=credentials.secret_key if credentials else None,
            aws_session_token=credentials.token if credentials else None,
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """A member role session's credentials (never logged: no repr of the secret)."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str = field(repr=False)
    expires_at: float = 0.0  # epoch seconds


class AccountClients:
    """Clients that act *in* a given account: the Lambda's own, or a member's through its role.

    Security Hub imports a finding only from the finding's own account, and a principal can
    only read its own account's IAM summary: for a member account the detector assumes the
    member role (``arn:aws:iam::<account>:role/<MEMBER_ROLE_NAME>``) and makes a client with
    that session's credentials, from the shared botocore session (its service models already
    loaded). Credentials and clients are kept per account until five minutes before the
    credentials expire; at most ``max_accounts`` accounts' clients are kept (a sweep walks
    every account once a day: keeping them all would hold memory for nothing).
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
        max_accounts: int = 64,
    ) -> None:
        self._clients = clients
        self._role = member_role_name
        self._own = own_account_id
        self._partition = partition
        self._clock = clock
        self._max = max_accounts
        self._members: OrderedDict[tuple[str, str], tuple[Credentials, Any]] = OrderedDict()
        self._sessions: dict[str, Credentials] = {}
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
        key = (service, account_id)
        with self._lock:
            cached = self._members.get(key)
            if cached is not None and cached[0] is credentials:
                self._members.move_to_end(key)
                return cached[1]
        client = self._clients.client_with(service, credentials)
        with self._lock:
            self._members[key] = (credentials, client)
            while len(self._members) > self._max:
                self._members.popitem(last=False)
        return client

    def _member_credentials(self, account_id: str) -> Credentials:
        # One lock per account: a sweep assumes roles in many accounts at once.
        with self._lock:
            lock = self._account_locks.setdefault(account_id, threading.Lock())
        with lock:
            credentials = self._sessions.get(account_id)
            if (
                credentials is None
                or credentials.expires_at - self.REFRESH_BEFORE_S < self._clock()
            ):
                credentials = self._assume(account_id)
                with self._lock:
                    self._sessions[account_id] = credentials
            return credentials

    def _assume(self, account_id: str) -> Credentials:
        arn = f"arn:{self._partition}:iam::{account_id}:role/{self._role}"
        creds: dict[str, Any] = self._clients.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=self.SESSION_NAME, DurationSeconds=3600
        )["Credentials"]
        return Credentials(
            creds["AccessKeyId"],
            creds["SecretAccessKey"],
            creds["SessionToken"],
            creds["Expiration"].timestamp(),
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
