"""AWS Organizations: the organization's accounts, each with its state (the sweep's list)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.domain.reconcile import OrgAccount

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


class OrganizationDirectory:
    """Lists accounts with ``ListAccounts`` (the management account or a delegated
    administrator may call it), every page under the AWS_CALL retry policy."""

    def __init__(
        self, client: Callable[[], OrganizationsClient], retry_env: retry.RetryEnv
    ) -> None:
        self._client = client
        self._retry_env = retry_env

    def accounts(self) -> list[OrgAccount]:
        """Every account of the organization.

        Raises:
            AwsCallError: a page could not be read after AWS_CALL's retries.
        """
        out: list[OrgAccount] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            page = retry.build(retry.AWS_CALL, self._retry_env)(
                aws_call, "organizations.ListAccounts", self._client().list_accounts, **kwargs
            )
            for account in page.get("Accounts", []):
                # botocore's model documents Status as retired on 2026-09-09 for State; an
                # answer from before then still carries Status only.
                state = account.get("State") or account.get("Status")
                out.append(
                    OrgAccount(
                        str(account["Id"]),
                        str(state) if state else None,
                        management=_owner(account.get("Arn")) == str(account["Id"]),
                    )
                )
            token = page.get("NextToken")
            if not token:
                return out


def _owner(arn: object) -> str | None:
    """The management account an account's ARN names: ``arn:aws:organizations::<management>:
    account/o-<org>/<account>`` ("Account", Organizations API reference: its Arn pattern; the
    Service Authorization Reference's account resource names the management account there)."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[2] == "organizations" else None
