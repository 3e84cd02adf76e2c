"""Clients that act in a given account: the Lambda's own, or a member's through its role."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from detector.adapters.aws import AwsClients, Credentials
from detector.adapters.aws_errors import aws_call


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
            sts = self._clients.client("sts")
            ident = aws_call("sts.GetCallerIdentity", sts.get_caller_identity)
            self._own = str(ident["Account"])
        return self._own

    def client(self, service: str, account_id: str) -> Any:
        """A client for ``service`` acting in ``account_id``.

        Raises:
            AwsCallError: the member role is missing or denies AssumeRole.
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
        sts = self._clients.client("sts")
        answer = aws_call(
            "sts.AssumeRole",
            sts.assume_role,
            RoleArn=arn,
            RoleSessionName=self.SESSION_NAME,
            DurationSeconds=3600,
        )
        return Credentials.from_sts(answer)
