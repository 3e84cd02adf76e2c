"""Factories for the caller's ``AssumeRoot`` record and a member's Root records of its session.

Shaped like AWS's example ("Track privileged tasks in AWS CloudTrail", IAM User Guide): the
caller's record in the management account, the member's records carrying the session's key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from detector.domain.root_access import DELETE_TASK_POLICY
from tests.factories import ACCOUNT, OTHER_ACCOUNT, _apply, delete_record

MANAGEMENT: Final = "111122223333"
MEMBER: Final = OTHER_ACCOUNT
SESSION_KEY: Final = "ASIAR00TSESS1EXAMPLE"
CALLER_ARN: Final = f"arn:aws:sts::{MANAGEMENT}:assumed-role/RootAccessAdmin/jdoe"
STARTED: Final = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)
SESSION_EVENT_ID: Final = "4c1e8a2f-7d3b-4f6e-a5c9-2b8d1e7f3a90"


def stamp(when: datetime) -> str:
    """CloudTrail's eventTime form."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def assume_root(**overrides: Any) -> dict[str, Any]:
    """A successful AssumeRoot record (dotted overrides as tests.factories.record takes)."""
    doc: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAY3NEXAMPLEROLEID:jdoe",
            "arn": CALLER_ARN,
            "accountId": MANAGEMENT,
            "accessKeyId": "ASIAQ7CALLERKEYEXMPL",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAY3NEXAMPLEROLEID",
                    "arn": f"arn:aws:iam::{MANAGEMENT}:role/RootAccessAdmin",
                    "accountId": MANAGEMENT,
                    "userName": "RootAccessAdmin",
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": "2026-11-20T13:45:00Z", "mfaAuthenticated": "false"},
                "assumedRoot": "true",
            },
        },
        "eventTime": stamp(STARTED),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoot",
        "awsRegion": "us-west-2",
        "sourceIPAddress": "198.51.100.23",
        "requestParameters": {
            "targetPrincipal": MEMBER,
            "taskPolicyArn": {"arn": DELETE_TASK_POLICY},
        },
        "responseElements": {
            "credentials": {
                "accessKeyId": SESSION_KEY,
                "sessionToken": "EXAMPLE-session-token-not-a-secret",
                "expiration": "Nov 20, 2026, 2:15:00 PM",
            }
        },
        "eventID": SESSION_EVENT_ID,
        "recipientAccountId": MANAGEMENT,
    }
    return _apply(doc, overrides)


def member_delete(seconds: int = 60, *, account: str = MEMBER, **overrides: Any) -> dict[str, Any]:
    """The member's Root DeleteAccessKey made with the session's key ``seconds`` after it opened
    (AWS's member record: attributes only, no assumedRoot flag)."""
    when = STARTED + timedelta(seconds=seconds)
    base: dict[str, Any] = {
        "eventTime": stamp(when),
        "eventID": f"member-delete-{seconds}-{account}",
        "recipientAccountId": account,
        "userIdentity.accountId": account,
        "userIdentity.principalId": account,
        "userIdentity.arn": f"arn:aws:iam::{account}:root",
        "userIdentity.accessKeyId": SESSION_KEY,
        "userIdentity.sessionContext": {
            "attributes": {"creationDate": stamp(STARTED), "mfaAuthenticated": "false"}
        },
    }
    return delete_record(**{**base, **overrides})


__all__ = ["ACCOUNT", "MEMBER", "assume_root", "member_delete"]
