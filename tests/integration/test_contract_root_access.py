"""The sandbox plays centralized root access as AWS documents it (boto3 over HTTP).

sts:AssumeRoot ("AssumeRoot", STS API Reference), the task policies' limits ("AWS managed
policies for IAM"), root's calls in the member account ("Perform a privileged task on an AWS
Organizations member account"), CloudTrail's records of both ("Track privileged tasks in AWS
CloudTrail") and EventBridge's routing of read-only records ("Receiving read-only management
events from AWS services"). sandbox/root_access.py cites each.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.aws import ACCOUNT_ID, REGION, MotoSandbox
from sandbox.root_access import AUDIT_TASK_POLICY, DELETE_TASK_POLICY
from sandbox.stack import SandboxStack

MANAGEMENT = ACCOUNT_ID  # moto's default account creates the organization
ALL_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def aws(sandbox: SandboxStack) -> MotoSandbox:
    return sandbox.aws


@pytest.fixture
def member(aws: MotoSandbox) -> str:
    """A member account of an organization whose management account is moto's default."""
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    return str(
        org.create_account(AccountName="member", Email="m@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
    )


@pytest.fixture
def enabled(aws: MotoSandbox, member: str) -> str:
    aws.enable_root_access(MANAGEMENT)
    return member


class Buses:
    """Queues behind two rules of an account's default bus: a plain ENABLED one and one in
    state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (and a DISABLED one)."""

    def __init__(self, aws: MotoSandbox, account: str) -> None:
        self.sqs = aws.client("sqs", account_id=account)
        events = aws.client("events", account_id=account)
        self.queues: dict[str, str] = {}
        pattern = json.dumps({"detail-type": ["AWS API Call via CloudTrail"]})
        for state in ("ENABLED", ALL_EVENTS, "DISABLED"):
            url = self.sqs.create_queue(QueueName=f"q-{state.lower()}")["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            events.put_rule(Name=f"r-{state.lower()}", EventPattern=pattern, State=state)
            events.put_targets(Rule=f"r-{state.lower()}", Targets=[{"Id": "q", "Arn": arn}])
            self.queues[state] = url

    def records(self, state: str) -> list[dict[str, Any]]:
        """The CloudTrail records the rule in ``state`` delivered (taken)."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queues[state], MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for message in got["Messages"]:
                out.append(json.loads(message["Body"])["detail"])
                self.sqs.delete_message(
                    QueueUrl=self.queues[state], ReceiptHandle=message["ReceiptHandle"]
                )


def _assume(aws: MotoSandbox, target: str, policy: str = AUDIT_TASK_POLICY, **kw: Any) -> Any:
    return aws.client("sts").assume_root(
        TargetPrincipal=target, TaskPolicyArn={"arn": policy}, **kw
    )


def _iam(aws: MotoSandbox, answer: dict[str, Any], service: str = "iam") -> Any:
    creds = answer["Credentials"]
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- AssumeRoot ---------------------------------------------------------------------------------


def test_assume_root_answers_fresh_session_credentials(aws: MotoSandbox, enabled: str) -> None:
    aws.set_clock(NOW)
    answer = _assume(aws, enabled)
    creds = answer["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", creds["AccessKeyId"])
    assert creds["SecretAccessKey"]
    assert creds["SessionToken"]
    assert creds["Expiration"] == NOW + timedelta(seconds=900)  # the default duration
    second = _assume(aws, f"arn:aws:iam::{enabled}:root", DurationSeconds=0)["Credentials"]
    assert second["AccessKeyId"] != creds["AccessKeyId"]
    assert second["Expiration"] == NOW


def test_assume_root_leaves_the_callers_record(aws: MotoSandbox, enabled: str) -> None:
    buses = Buses(aws, MANAGEMENT)
    aws.set_clock(NOW)
    creds = _assume(aws, enabled, DELETE_TASK_POLICY, DurationSeconds=600)["Credentials"]
    assert buses.records("ENABLED") == []  # read-only: not for a plain ENABLED rule
    assert buses.records("DISABLED") == []
    (record,) = buses.records(ALL_EVENTS)
    assert record["eventName"] == "AssumeRoot"
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["awsRegion"] == REGION
    assert record["recipientAccountId"] == MANAGEMENT
    assert record["readOnly"] is True
    identity = record["userIdentity"]
    assert identity["type"] == "IAMUser"
    assert identity["arn"] == f"arn:aws:sts::{MANAGEMENT}:user/moto"  # moto's caller
    assert identity["sessionContext"]["assumedRoot"] == "true"
    assert record["requestParameters"] == {
        "targetPrincipal": enabled,
        "taskPolicyArn": {"arn": DELETE_TASK_POLICY},
        "durationSeconds": 600,
    }
    credentials = record["responseElements"]["credentials"]
    assert credentials["accessKeyId"] == creds["AccessKeyId"]
    assert credentials["sessionToken"] == creds["SessionToken"]
    assert credentials["expiration"] == "Mar 1, 2026, 12:10:00 PM"  # AWS's example's format


def test_an_assumed_role_caller_is_recorded_as_in_awss_example(
    aws: MotoSandbox, enabled: str
) -> None:
    iam = aws.client("iam")
    role = iam.create_role(RoleName="Ops", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="alice")["Credentials"]
    sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    buses = Buses(aws, MANAGEMENT)
    events_eu = aws.client("events", "eu-west-1")
    queue = aws.client("sqs", "eu-west-1")
    url = queue.create_queue(QueueName="eu")["QueueUrl"]
    arn = queue.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events_eu.put_rule(Name="eu", EventPattern='{"source": ["aws.sts"]}', State=ALL_EVENTS)
    events_eu.put_targets(Rule="eu", Targets=[{"Id": "q", "Arn": arn}])
    sts.assume_root(TargetPrincipal=enabled, TaskPolicyArn={"arn": AUDIT_TASK_POLICY})
    assert buses.records(ALL_EVENTS) == []  # recorded in the endpoint's Region, not us-east-1
    (message,) = queue.receive_message(QueueUrl=url)["Messages"]
    record = json.loads(message["Body"])["detail"]
    assert record["awsRegion"] == "eu-west-1"
    identity = record["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{MANAGEMENT}:assumed-role/Ops/alice"
    assert identity["accessKeyId"] == creds["AccessKeyId"]
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == role
    assert identity["sessionContext"]["assumedRoot"] == "true"


def test_a_session_longer_than_900_seconds_is_refused(aws: MotoSandbox, enabled: str) -> None:
    for duration in (901, 3600):
        with pytest.raises(ClientError) as exc:
            _assume(aws, enabled, DurationSeconds=duration)
        assert _code(exc) == ("ValidationError", 400)


def test_only_a_root_task_policy_scopes_a_session(aws: MotoSandbox, enabled: str) -> None:
    for policy in (
        "arn:aws:iam::aws:policy/AdministratorAccess",
        f"arn:aws:iam::{MANAGEMENT}:policy/root-task/IAMAuditRootUserCredentials",
    ):
        with pytest.raises(ClientError) as exc:
            _assume(aws, enabled, policy)
        assert _code(exc) == ("ValidationError", 400)


def test_refused_unless_centralized_root_access_is_enabled(aws: MotoSandbox, member: str) -> None:
    with pytest.raises(ClientError) as exc:
        _assume(aws, member)
    assert _code(exc) == ("AccessDenied", 403)


def test_refused_to_an_account_neither_management_nor_delegated_admin(
    aws: MotoSandbox, enabled: str
) -> None:
    other = aws.client("sts", account_id="444455556666")
    with pytest.raises(ClientError) as exc:
        other.assume_root(TargetPrincipal=enabled, TaskPolicyArn={"arn": AUDIT_TASK_POLICY})
    assert _code(exc) == ("AccessDenied", 403)


def test_the_delegated_administrator_may_call_it(aws: MotoSandbox, member: str) -> None:
    aws.enable_root_access(MANAGEMENT, delegated_admin="444455556666")
    delegated = aws.client("sts", account_id="444455556666")
    answer = delegated.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": AUDIT_TASK_POLICY})
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_root_credentials_cannot_call_it(aws: MotoSandbox, enabled: str) -> None:
    key = aws.add_root_key(MANAGEMENT)
    root = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key="root-secret",
    )
    with pytest.raises(ClientError) as exc:
        root.assume_root(TargetPrincipal=enabled, TaskPolicyArn={"arn": AUDIT_TASK_POLICY})
    assert _code(exc) == ("AccessDenied", 403)


def test_the_target_must_be_a_member_account(aws: MotoSandbox, enabled: str) -> None:
    for target in ("999999999999", MANAGEMENT):
        with pytest.raises(ClientError) as exc:
            _assume(aws, target)
        assert _code(exc) == ("AccessDenied", 403)


# -- root's keys, in a session ------------------------------------------------------------------


def test_an_audit_session_lists_roots_keys_and_their_last_use(
    aws: MotoSandbox, enabled: str
) -> None:
    created = datetime(2025, 6, 1, tzinfo=UTC)
    first = aws.add_root_key(enabled, created=created)
    second = aws.add_root_key(enabled, status="Inactive")
    iam = _iam(aws, _assume(aws, enabled))
    page = iam.list_access_keys(MaxItems=1)
    assert page["IsTruncated"] is True
    assert [k["AccessKeyId"] for k in page["AccessKeyMetadata"]] == [first]
    assert page["AccessKeyMetadata"][0]["CreateDate"] == created
    rest = iam.list_access_keys(MaxItems=1, Marker=page["Marker"])
    assert [(k["AccessKeyId"], k["Status"]) for k in rest["AccessKeyMetadata"]] == [
        (second, "Inactive")
    ]
    assert rest["IsTruncated"] is False
    never = iam.get_access_key_last_used(AccessKeyId=first)["AccessKeyLastUsed"]
    assert never == {"ServiceName": "N/A", "Region": "N/A"}
    aws.set_clock(NOW)
    aws.use_root_key(enabled, first, event_name="ListBuckets", event_source="s3.amazonaws.com")
    used = iam.get_access_key_last_used(AccessKeyId=first)["AccessKeyLastUsed"]
    assert used == {"LastUsedDate": NOW, "ServiceName": "s3", "Region": REGION}
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["AccountAccessKeysPresent"] == 1
    user = iam.get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{enabled}:root"


@pytest.mark.parametrize(
    ("policy", "calls"),
    [
        (AUDIT_TASK_POLICY, ("delete_access_key", "update_access_key", "create_access_key")),
        (DELETE_TASK_POLICY, ("update_access_key", "create_access_key", "get_account_summary")),
    ],
)
def test_a_call_the_task_policy_does_not_allow_is_refused(
    aws: MotoSandbox, enabled: str, policy: str, calls: tuple[str, ...]
) -> None:
    key = aws.add_root_key(enabled)
    iam = _iam(aws, _assume(aws, enabled, policy))
    arguments = {
        "delete_access_key": {"AccessKeyId": key},
        "update_access_key": {"AccessKeyId": key, "Status": "Inactive"},
        "create_access_key": {},
        "get_account_summary": {},
    }
    for call in calls:
        with pytest.raises(ClientError) as exc:
            getattr(iam, call)(**arguments[call])
        assert (call, *_code(exc)) == (call, "AccessDenied", 403)
    assert [(k.key_id, k.status) for k in aws.root_keys(enabled)] == [(key, "Active")]


def test_a_session_acts_on_root_only(aws: MotoSandbox, enabled: str) -> None:
    answer = _assume(aws, enabled)
    with pytest.raises(ClientError) as exc:
        _iam(aws, answer).list_access_keys(UserName="alice")
    assert _code(exc) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        _iam(aws, answer, "sqs").list_queues()  # no task policy allows another service
    assert _code(exc) == ("AccessDenied", 403)


def test_a_delete_session_deletes_roots_key_and_only_a_known_one(
    aws: MotoSandbox, enabled: str
) -> None:
    first, second = aws.add_root_key(enabled), aws.add_root_key(enabled)
    iam = _iam(aws, _assume(aws, enabled, DELETE_TASK_POLICY))
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(AccessKeyId="AKIAUNKNOWNKEY000000")
    assert _code(exc) == ("NoSuchEntity", 404)
    iam.delete_access_key(AccessKeyId=first)
    listed = iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [second]
    member_iam = aws.client("iam", account_id=enabled)
    assert member_iam.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 1
    iam.delete_access_key(AccessKeyId=second)
    assert iam.list_access_keys()["AccessKeyMetadata"] == []
    assert member_iam.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 0


def test_an_expired_session_is_refused(aws: MotoSandbox, enabled: str) -> None:
    aws.set_clock(NOW)
    iam = _iam(aws, _assume(aws, enabled, DurationSeconds=60))
    iam.list_access_keys()
    aws.set_clock(NOW + timedelta(seconds=61))
    with pytest.raises(ClientError) as exc:
        iam.list_access_keys()
    assert _code(exc) == ("ExpiredToken", 403)


def test_the_session_s_calls_leave_the_members_root_records(aws: MotoSandbox, enabled: str) -> None:
    key = aws.add_root_key(enabled)
    buses = Buses(aws, enabled)
    aws.set_clock(NOW)
    answer = _assume(aws, enabled, DELETE_TASK_POLICY)
    session_key = answer["Credentials"]["AccessKeyId"]
    iam = _iam(aws, answer)
    iam.list_access_keys()
    iam.delete_access_key(AccessKeyId=key)
    with pytest.raises(ClientError):
        iam.update_access_key(AccessKeyId=key, Status="Inactive")
    (delete, update) = buses.records("ENABLED")  # the write calls only
    listed, *_ = buses.records(ALL_EVENTS)
    assert buses.records("DISABLED") == []
    for record in (listed, delete, update):
        assert record["recipientAccountId"] == enabled
        assert record["eventSource"] == "iam.amazonaws.com"
        assert record["awsRegion"] == "us-east-1"
        assert record["userIdentity"] == {
            "type": "Root",
            "principalId": enabled,
            "arn": f"arn:aws:iam::{enabled}:root",
            "accountId": enabled,
            "accessKeyId": session_key,
            "sessionContext": {
                "attributes": {"creationDate": "2026-03-01T12:00:00Z", "mfaAuthenticated": "false"}
            },
        }
    assert (listed["eventName"], listed["readOnly"]) == ("ListAccessKeys", True)
    assert (delete["eventName"], delete["readOnly"]) == ("DeleteAccessKey", False)
    assert delete["requestParameters"] == {"accessKeyId": key}
    assert "errorCode" not in delete
    assert (update["eventName"], update["errorCode"]) == ("UpdateAccessKey", "AccessDenied")


# -- root's own keys ------------------------------------------------------------------------------


def test_root_keys_keep_iams_summary_in_step(aws: MotoSandbox) -> None:
    iam = aws.client("iam", account_id="222233334444")
    key = aws.add_root_key("222233334444")
    assert iam.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 1
    aws.add_root_key("222233334444", status="Inactive")
    with pytest.raises(ValueError, match="already has 2"):
        aws.add_root_key("222233334444")
    assert next(k.key_id for k in aws.root_keys("222233334444")) == key


def test_a_use_of_roots_key_leaves_its_record(aws: MotoSandbox) -> None:
    account = "222233334444"
    key = aws.add_root_key(account)
    buses = Buses(aws, account)
    aws.set_clock(NOW)
    written = aws.use_root_key(
        account, key, event_name="CreateUser", event_source="iam.amazonaws.com"
    )
    read = aws.use_root_key(
        account, key, event_name="ListUsers", event_source="iam.amazonaws.com", read_only=True
    )
    assert buses.records("ENABLED") == [written]
    assert buses.records(ALL_EVENTS) == [written, read]
    assert buses.records("DISABLED") == []
    assert written["userIdentity"] == {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": key,
    }
    assert (written["eventName"], written["readOnly"], written["eventTime"]) == (
        "CreateUser",
        False,
        "2026-03-01T12:00:00Z",
    )
    (held,) = aws.root_keys(account)
    assert (held.last_used, held.last_used_service, held.last_used_region) == (
        NOW,
        "iam",
        "us-east-1",
    )
    aws.add_root_key(account, status="Inactive")
    inactive = aws.root_keys(account)[1].key_id
    with pytest.raises(ValueError, match="not an active root key"):
        aws.use_root_key(account, inactive)
