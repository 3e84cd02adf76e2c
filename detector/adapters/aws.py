"""boto3 clients: explicit botocore Config, one attempt (tenacity retries), cached per container.

Endpoints follow boto3's standard configuration: ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) point every client at another endpoint, e.g. a local emulator.

The container's own clients come straight from botocore, the engine under ``boto3.client``
(the same client classes): importing the ``boto3`` package also imports s3transfer and
multiprocessing, ~60 ms of CPU per cold start that no alert needs. A boto3 session over the same
botocore session is made only when member-account clients need one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    import boto3

from detector import __version__

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


def botocore_config() -> Config:
    """One attempt per call: the named tenacity policies are the only retry layer."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        user_agent_extra=f"root-key-detector/{__version__}",
        max_pool_connections=16,
    )


class AwsClients:
    """Lazily creates and caches clients per (service, region) for warm invocations.

    Creating a boto3 client costs milliseconds of CPU; a warm Lambda must not pay it twice.
    """

    def __init__(self, session: boto3.session.Session | None = None, region: str | None = None):
        self._session = session
        self._botocore: botocore.session.Session | None = None
        self._region = region
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def lock(self) -> threading.Lock:
        """Held while the shared session creates a client."""
        return self._lock

    @property
    def region(self) -> str | None:
        """The region clients are made for."""
        return self._region

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session, over the clients' botocore session (created on first use)."""
        if self._session is None:
            import boto3  # noqa: PLC0415 - member-account clients only: see the module docstring

            self._session = boto3.session.Session(
                botocore_session=self._core(), region_name=self._region
            )
        return self._session

    def _core(self) -> botocore.session.Session:
        if self._botocore is None:
            self._botocore = botocore.session.Session()
        return self._botocore

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` (typed by the caller through boto3-stubs)."""
        key = (service, region or self._region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if self._session is not None:
                    client = self._session.client(
                        service,  # type: ignore[call-overload]
                        region_name=key[1],
                        config=botocore_config(),
                    )
                else:  # what boto3's Session.client does, without importing boto3
                    client = self._core().create_client(
                        service, region_name=key[1], config=botocore_config()
                    )
                self._clients[key] = client
            return client


class AccountClients:
    """Clients that act *in* a given account: the Lambda's own, or a member's through its role.

    Security Hub imports a finding only from the finding's own account, and a principal can
    only read its own account's IAM summary: for a member account the detector assumes the
    member role (``arn:aws:iam::<account>:role/<MEMBER_ROLE_NAME>``). Sessions are cached per
    account until five minutes before they expire.
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
        self._sessions: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}
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
        # One lock per account: a sweep assumes roles in many accounts at once.
        with self._lock:
            lock = self._account_locks.setdefault(account_id, threading.Lock())
        with lock:
            entry = self._sessions.get(account_id)
            if entry is None or entry[0] - self.REFRESH_BEFORE_S < self._clock():
                entry = self._assume(account_id)
                self._sessions[account_id] = entry
            _expires, cache, creds = entry
            client = cache.get(service)
            if client is None:
                # The shared session keeps its loaded API models: a client for another
                # account's credentials costs ~10 ms, not the ~250 ms of a new session.
                with self._clients.lock:  # a boto3 session is not safe to share unlocked
                    client = self._clients.session.client(
                        service,  # type: ignore[call-overload]
                        region_name=self._clients.region,
                        config=botocore_config(),
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                    )
                cache[service] = client
            return client

    def _assume(self, account_id: str) -> tuple[float, dict[str, Any], dict[str, Any]]:
        arn = f"arn:{self._partition}:iam::{account_id}:role/{self._role}"
        creds: dict[str, Any] = self._clients.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=self.SESSION_NAME, DurationSeconds=3600
        )["Credentials"]
        return creds["Expiration"].timestamp(), {}, creds


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
