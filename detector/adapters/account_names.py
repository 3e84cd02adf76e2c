"""Account names from AWS Organizations, for alerts; best effort, cached."""

from __future__ import annotations

import threading

from detector.adapters.aws import AwsClients
from detector.adapters.aws_errors import aws_call
from detector.errors import AwsCallError


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
            organizations = self._clients.client("organizations")
            resp = aws_call(
                "organizations.DescribeAccount",
                organizations.describe_account,
                AccountId=account_id,
            )
            name: str | None = str(resp["Account"]["Name"])
        except AwsCallError:
            name = None
        with self._lock:
            self._names[account_id] = name
        return name
