"""The client factory: botocore clients with an explicit Config, one attempt, cached per container.

``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) point clients elsewhere, as in boto3.
Clients come from botocore, the engine under ``boto3.client``, without importing boto3.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

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

    def __init__(
        self,
        region: str | None = None,
        *,
        max_pool_connections: int = 16,
        regional_sts: bool = False,
    ):
        self._session: botocore.session.Session | None = None
        self._region = region
        self._pool = max_pool_connections
        # STS through its Regional endpoint whatever the environment or shared config says
        # (AssumeRoot refuses the global one; see detector.adapters.root_access).
        self._regional_sts = regional_sts
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
            if self._regional_sts:
                self._session.set_config_variable("sts_regional_endpoints", "regional")
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

    @classmethod
    def from_sts(cls, answer: dict[str, Any]) -> Credentials:
        """The ``Credentials`` of an STS answer (AssumeRole, AssumeRoot)."""
        creds = answer["Credentials"]
        return cls(
            creds["AccessKeyId"],
            creds["SecretAccessKey"],
            creds["SessionToken"],
            creds["Expiration"].timestamp(),
        )
