"""The DESIGN verdict table, row by row, and everything that must be ignored."""

from __future__ import annotations

from typing import Any

import pytest

from detector.domain.event import parse_input
from detector.domain.verdict import Verdict, classify
from tests.factories import ACCOUNT, DROP, delete_record, envelope, log_file, record, update_record


def verdict_of(doc: dict[str, Any]) -> Verdict:
    (event,) = parse_input(doc)
    return classify(event)


ASSUMED_ROOT = {"userIdentity.sessionContext.assumedRoot": "true"}
IAM_USER = {
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDA55D3NUJRSEXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAPRAK2U2UQEXAMPLE",
        "userName": "alice",
    }
}
ASSUMED_ROLE = {
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROA27U7DAAFVEXAMPLE:jane",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/jane",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
            "attributes": {"mfaAuthenticated": "false"},
        },
    }
}
FEDERATED_BY_ROOT = {
    "userIdentity": {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:ops-temp",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/ops-temp",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
        },
    }
}
AWS_SERVICE = {"userIdentity": {"type": "AWSService", "invokedBy": "config.amazonaws.com"}}


# ---------------------------------------------------------------------------------------------
# The table's rows


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (record(), Verdict.CREATED),
        (record(**ASSUMED_ROOT), Verdict.CREATED),
        (delete_record(), Verdict.DELETED),
        (delete_record(**ASSUMED_ROOT), Verdict.DELETED),
        (update_record("Inactive"), Verdict.DEACTIVATED),
        (update_record("Active"), Verdict.ACTIVATED),
        (record(requestParameters={"userName": "break-glass"}), Verdict.USER_KEY),
        (
            record(
                errorCode="LimitExceeded", errorMessage="Cannot exceed quota", responseElements=None
            ),
            Verdict.CREATE_FAILED,
        ),
        (
            record(errorCode="AccessDenied", responseElements=None, **ASSUMED_ROOT),
            Verdict.CREATE_FAILED,
        ),
    ],
    ids=[
        "created",
        "created-assumed-root",
        "deleted",
        "deleted-assumed-root",
        "deactivated",
        "activated",
        "root-created-user-key",
        "create-failed",
        "create-failed-assumed-root",
    ],
)
def test_verdict_table_rows(doc: dict[str, Any], expected: Verdict) -> None:
    assert verdict_of(doc) is expected
    assert verdict_of(envelope(doc)) is expected
    assert verdict_of(log_file(doc)) is expected


def test_verdict_values_are_the_documented_names() -> None:
    assert {v.value for v in Verdict} == {
        "root-key-created",
        "root-key-deleted",
        "root-key-deactivated",
        "root-key-activated",
        "root-created-user-key",
        "root-key-create-failed",
        "ignored",
    }


def test_a_failed_create_for_a_user_is_still_a_failed_attempt() -> None:
    doc = record(
        requestParameters={"userName": "ci"}, errorCode="NoSuchEntity", responseElements=None
    )
    assert verdict_of(doc) is Verdict.CREATE_FAILED


def test_key_created_for_a_user_named_root_is_still_a_user_key() -> None:
    # requestParameters.userName decides, whatever the name; "Root" in the *response* does not.
    assert verdict_of(record(requestParameters={"userName": "Root"})) is Verdict.USER_KEY
    doc = record(**{"responseElements.accessKey.userName": "Root"})
    assert verdict_of(doc) is Verdict.CREATED


def test_empty_user_name_in_request_is_roots_own_key() -> None:
    assert verdict_of(record(requestParameters={"userName": ""})) is Verdict.CREATED


@pytest.mark.parametrize(
    ("verdict", "expected_present", "lifecycle"),
    [
        (Verdict.CREATED, True, False),
        (Verdict.DELETED, False, True),
        (Verdict.DEACTIVATED, True, True),  # an inactive key still exists
        (Verdict.ACTIVATED, True, True),
        (Verdict.USER_KEY, None, False),
        (Verdict.CREATE_FAILED, None, False),
        (Verdict.IGNORED, None, False),
    ],
)
def test_what_each_verdict_asks_the_confirm_step(
    verdict: Verdict, expected_present: bool | None, lifecycle: bool
) -> None:
    assert verdict.key_expected_present is expected_present
    assert verdict.is_lifecycle is lifecycle


# ---------------------------------------------------------------------------------------------
# Ignored


@pytest.mark.parametrize(
    "identity",
    [IAM_USER, ASSUMED_ROLE, FEDERATED_BY_ROOT, AWS_SERVICE],
    ids=["iam-user", "assumed-role", "federated-user-issued-by-root", "aws-service"],
)
@pytest.mark.parametrize(
    "doc_factory",
    [
        record,
        delete_record,
        lambda **o: update_record("Inactive", **o),
        lambda **o: update_record("Active", **o),
        lambda **o: record(requestParameters={"userName": "bob"}, **o),
        lambda **o: record(errorCode="AccessDenied", responseElements=None, **o),
    ],
    ids=["create", "delete", "deactivate", "activate", "create-for-user", "create-failed"],
)
def test_other_principals_are_ignored(identity: dict[str, Any], doc_factory: Any) -> None:
    assert verdict_of(doc_factory(**identity)) is Verdict.IGNORED


def test_principal_without_a_type_is_ignored() -> None:
    assert verdict_of(record(**{"userIdentity.type": DROP})) is Verdict.IGNORED


@pytest.mark.parametrize(
    "source",
    [
        "sts.amazonaws.com",
        "signin.amazonaws.com",
        "ec2.amazonaws.com",
        "access-analyzer.amazonaws.com",
    ],
)
def test_other_event_sources_are_ignored(source: str) -> None:
    assert verdict_of(record(eventSource=source)) is Verdict.IGNORED
    assert verdict_of(delete_record(eventSource=source)) is Verdict.IGNORED
    assert verdict_of(update_record("Active", eventSource=source)) is Verdict.IGNORED


@pytest.mark.parametrize(
    "name",
    ["ListAccessKeys", "GetAccessKeyLastUsed", "CreateUser", "ConsoleLogin", "createaccesskey"],
)
def test_other_root_iam_calls_are_ignored(name: str) -> None:
    assert verdict_of(record(eventName=name)) is Verdict.IGNORED


@pytest.mark.parametrize(
    "doc",
    [
        delete_record(errorCode="NoSuchEntity", errorMessage="The Access Key cannot be found."),
        delete_record(errorCode="AccessDenied"),
        update_record("Inactive", errorCode="NoSuchEntity"),
        update_record("Active", errorCode="ValidationError"),
    ],
    ids=["delete-no-such-entity", "delete-denied", "deactivate-failed", "activate-failed"],
)
def test_failed_delete_or_update_is_ignored(doc: dict[str, Any]) -> None:
    assert verdict_of(doc) is Verdict.IGNORED


@pytest.mark.parametrize(
    "doc",
    [
        delete_record(
            requestParameters={"userName": "ci-publisher", "accessKeyId": "AKIAR65XVCRX4EXAMPLE"}
        ),
        update_record(
            requestParameters={
                "userName": "ci",
                "accessKeyId": "AKIAR65XVCRX4EXAMPLE",
                "status": "Inactive",
            }
        ),
        update_record(
            requestParameters={
                "userName": "ci",
                "accessKeyId": "AKIAR65XVCRX4EXAMPLE",
                "status": "Active",
            }
        ),
    ],
    ids=["delete", "deactivate", "activate"],
)
def test_root_managing_a_users_key_is_ignored(doc: dict[str, Any]) -> None:
    assert verdict_of(doc) is Verdict.IGNORED


@pytest.mark.parametrize("status", ["Expired", "", None, DROP, "Enabled", ["Inactive"]])
def test_update_access_key_with_an_unreadable_status_still_alerts(status: Any) -> None:
    """UpdateAccessKey takes only Active or Inactive: another status is a garbled record, whose
    key still exists either way. It is alerted as re-activated and the field is named."""
    (event,) = parse_input(update_record(**{"requestParameters.status": status}))
    assert classify(event) is Verdict.ACTIVATED
    assert event.key_status is None
    assert event.untrusted == ("$.requestParameters.status",)


@pytest.mark.parametrize(
    "user_name", ["AWS ROOT USER", "aws root user", " AWS  ROOT USER ", "", None, DROP]
)
def test_aws_root_user_as_user_name_is_roots_own_key(user_name: Any) -> None:
    """Root's console actions can carry userName "AWS ROOT USER" (no IAM user name holds a
    space): for the key calls it means root, exactly like an absent userName."""
    for doc, verdict in (
        (record(**{"requestParameters.userName": user_name}), Verdict.CREATED),
        (delete_record(**{"requestParameters.userName": user_name}), Verdict.DELETED),
        (
            update_record("Inactive", **{"requestParameters.userName": user_name}),
            Verdict.DEACTIVATED,
        ),
    ):
        (event,) = parse_input(doc)
        assert classify(event) is verdict
        assert event.target_user_name is None
        assert event.untrusted == ()


@pytest.mark.parametrize(
    "user_name", ["bob smith", "x" * 65, "ci\nuser", "<redacted>", ["ci"], {"a": 1}]
)
def test_a_user_name_iam_cannot_hold_is_untrusted_and_never_a_users_key(user_name: Any) -> None:
    (event,) = parse_input(record(**{"requestParameters.userName": user_name}))
    assert classify(event) is Verdict.CREATED
    assert event.target_user_name is None
    assert event.untrusted == ("$.requestParameters.userName",)
