"""The sandbox answers Organizations' accounts as AWS does now: State, no Status (over HTTP).

botocore's Organizations model: Account.Status "will be retired on September 9, 2026"; use
State (sandbox.organizations cites it).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from sandbox.organizations import ACCOUNT_STATES
from sandbox.stack import SandboxStack


@pytest.fixture
def org(sandbox: SandboxStack) -> tuple[Any, str]:
    """Organizations' client of the management account, and one member account's id."""
    client = sandbox.aws.client("organizations")
    client.create_organization(FeatureSet="ALL")
    created = client.create_account(AccountName="member", Email="member@example.com")
    return client, created["CreateAccountStatus"]["AccountId"]


def _answers(client: Any, account: str) -> list[dict[str, Any]]:
    """The account as DescribeAccount, ListAccounts and ListAccountsForParent answer it."""
    root = client.list_roots()["Roots"][0]["Id"]
    listed = [a for a in client.list_accounts()["Accounts"] if a["Id"] == account]
    by_parent = client.list_accounts_for_parent(ParentId=root)["Accounts"]
    return [
        client.describe_account(AccountId=account)["Account"],
        *listed,
        *(a for a in by_parent if a["Id"] == account),
    ]


def test_accounts_carry_state_and_no_status(org: tuple[Any, str]) -> None:
    client, account = org
    answers = _answers(client, account)
    assert len(answers) == 3
    for answer in answers:
        assert answer["State"] == "ACTIVE"
        assert "Status" not in answer


@pytest.mark.parametrize("state", ACCOUNT_STATES)
def test_a_test_sets_the_state_an_account_is_answered_with(
    sandbox: SandboxStack, org: tuple[Any, str], state: str
) -> None:
    client, account = org
    sandbox.aws.set_account_state(account, state)
    assert [a["State"] for a in _answers(client, account)] == [state] * 3
    management = sandbox.aws.client("sts").get_caller_identity()["Account"]
    assert client.describe_account(AccountId=management)["Account"]["State"] == "ACTIVE"


def test_an_account_can_carry_neither_state_nor_status(
    sandbox: SandboxStack, org: tuple[Any, str]
) -> None:
    client, account = org
    sandbox.aws.set_account_state(account, None)
    for answer in _answers(client, account):
        assert "State" not in answer
        assert "Status" not in answer
        assert answer["Id"] == account  # the rest of the account is there


def test_only_documented_states_can_be_set(sandbox: SandboxStack) -> None:
    with pytest.raises(ValueError, match="State must be one of"):
        sandbox.aws.set_account_state("111111111111", "Active")


def test_the_installed_botocore_parses_state() -> None:
    # botocore drops response members its model lacks; State arrived in botocore 1.40.27.
    model = botocore.session.get_session().get_service_model("organizations")
    account = model.shape_for("Account")
    assert "State" in account.members
    assert tuple(account.members["State"].enum) == ACCOUNT_STATES
