"""boto3 clients: explicit botocore Config, one attempt (tenacity retries), cached per container.

Endpoints follow boto3's standard configuration: ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) point every client at another endpoint, e.g. a local emulator.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

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
        self._region = region
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session (created on first use)."""
        if self._session is None:
            self._session = boto3.session.Session(region_name=self._region)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` (typed by the caller through boto3-stubs)."""
        key = (service, region or self._region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self.session.client(
                    service,  # type: ignore[call-overload]
                    region_name=key[1],
                    config=botocore_config(),
                )
                self._clients[key] = client
            return client
