"""Organizations' accounts as AWS answers them now: ``State``, and no ``Status``.

botocore's Organizations model (botocore/data/organizations/2016-11-28/service-2.json, Account):
"The Status parameter in the Account object will be retired on September 9, 2026 ... we
recommend that you update your scripts or other code to use the State parameter instead";
AccountState is one of PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED
(Organizations User Guide, "Monitor the state of your AWS accounts",
https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html).
moto still answers both fields; the contract layer takes ``Status`` out of DescribeAccount,
ListAccounts and ListAccountsForParent, and lets tests give an account any ``State``, or neither
field (an answer parsed by a botocore older than 1.40.27, whose model lacks ``State``, carries
neither once ``Status`` is gone).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

TARGET_PREFIX: Final = "AWSOrganizationsV20161128."
ACCOUNT_STATES: Final = ("PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED")
REWRITTEN: Final = frozenset({"DescribeAccount", "ListAccounts", "ListAccountsForParent"})


class AccountStates:
    """The State each account is answered with, where a test set one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, str | None] = {}  # account -> State; None: neither field

    def set(self, account_id: str, state: str | None) -> None:
        """Answer ``account_id`` with ``state``; None: with neither State nor Status.

        Raises:
            ValueError: ``state`` is not an AccountState.
        """
        if state is not None and state not in ACCOUNT_STATES:
            raise ValueError(f"State must be one of {', '.join(ACCOUNT_STATES)}, not {state!r}")
        with self._lock:
            self._states[account_id] = state

    def reset(self) -> None:
        """Every account answered as moto holds it (minus Status)."""
        with self._lock:
            self._states.clear()

    def rewrite(self, operation: str, body: bytes) -> bytes:
        """moto's JSON answer to ``operation``, its accounts as AWS answers them now."""
        doc = json.loads(body)
        accounts = doc.get("Accounts") if operation != "DescribeAccount" else [doc.get("Account")]
        with self._lock:
            for account in accounts or []:
                if isinstance(account, dict):
                    self._rewrite(account)
        return json.dumps(doc).encode()

    def _rewrite(self, account: dict[str, Any]) -> None:
        account.pop("Status", None)
        if account.get("Id") not in self._states:
            return
        state = self._states[account["Id"]]
        if state is None:
            account.pop("State", None)
        else:
            account["State"] = state
