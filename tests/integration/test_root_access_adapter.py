"""The detector's AssumeRoot adapter against the sandbox over HTTP (adapters/root_access.py).

The sandbox plays sts:AssumeRoot and root's keys (sandbox/root_access.py); the adapter reads
root's keys in an audit session and removes one in a delete session, and AWS's refusals reach
the detector as AwsCallError with AWS's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from detector import retry
from detector.adapters.root_access import AssumeRootCredentials
from detector.config import Settings
from detector.domain.root_access import AUDIT_TASK_POLICY
from detector.errors import AwsCallError, Failure, NotRootKey
from detector.wiring import build_runtime
from sandbox.aws import ACCOUNT_ID, REGION, MotoSandbox, patched_environ
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SandboxStack
from tests.integration.conftest import Sleeps

MANAGEMENT = ACCOUNT_ID
DELEGATED = "444455556666"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def aws(sandbox: SandboxStack) -> Iterator[MotoSandbox]:
    with patched_environ(sandbox.aws.env()):
        yield sandbox.aws


@pytest.fixture
def member(aws: MotoSandbox) -> str:
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(AccountName="member", Email="m@example.com")
    return str(created["CreateAccountStatus"]["AccountId"])


@pytest.fixture
def adapter(retry_env: retry.RetryEnv) -> AssumeRootCredentials:
    return AssumeRootCredentials(REGION, retry_env)


def test_root_keys_reads_ids_status_creation_and_last_use(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials
) -> None:
    aws.enable_root_access(MANAGEMENT)
    created = datetime(2025, 6, 1, tzinfo=UTC)
    used = aws.add_root_key(member, created=created)
    idle = aws.add_root_key(member, status="Inactive", created=created)
    aws.set_clock(NOW)
    aws.use_root_key(member, used, event_name="ListBuckets", event_source="s3.amazonaws.com")
    keys = {k.key_id: k for k in adapter.root_keys(member)}
    assert set(keys) == {used, idle}
    assert keys[used].status == "Active"
    assert keys[used].created == created
    assert (keys[used].last_used, keys[used].last_used_service) == (NOW, "s3")
    assert keys[used].last_used_region == REGION
    assert not keys[idle].active
    assert (keys[idle].last_used, keys[idle].last_used_service, keys[idle].last_used_region) == (
        None,
        None,
        None,
    )


def test_no_key_is_an_empty_list(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials
) -> None:
    aws.enable_root_access(MANAGEMENT)
    assert adapter.root_keys(member) == []


def test_remove_deletes_that_key_only_and_checks_it_is_gone(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials
) -> None:
    aws.enable_root_access(MANAGEMENT)
    doomed, kept = aws.add_root_key(member), aws.add_root_key(member)
    report = adapter.remove_root_key(member, doomed)
    assert report.gone
    assert report.calls == (
        "sts:AssumeRoot",
        "iam:ListAccessKeys",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
    )
    assert [k.key_id for k in aws.root_keys(member)] == [kept]


def test_remove_refuses_a_key_that_is_not_roots(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials
) -> None:
    aws.enable_root_access(MANAGEMENT)
    kept = aws.add_root_key(member)
    iam = aws.client("iam")
    iam.create_user(UserName="alice")
    alices = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    with pytest.raises(NotRootKey, match=alices):
        adapter.remove_root_key(member, alices)
    assert [k.key_id for k in aws.root_keys(member)] == [kept]


def test_without_centralized_root_access_aws_refuses(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials, sleeps: Sleeps
) -> None:
    with pytest.raises(AwsCallError) as exc:
        adapter.root_keys(member)
    assert (exc.value.service, exc.value.code) == ("sts.AssumeRoot", "AccessDenied")
    assert exc.value.failure is Failure.PERMANENT
    assert sleeps == []  # a refusal is not retried


def test_a_target_outside_the_organization_is_refused(
    aws: MotoSandbox, member: str, adapter: AssumeRootCredentials
) -> None:
    aws.enable_root_access(MANAGEMENT)
    with pytest.raises(AwsCallError) as exc:
        adapter.remove_root_key("999999999999", "AKIAEXAMPLEEXAMPLE00")
    assert exc.value.code == "AccessDenied"


def test_root_access_role_is_assumed_first(
    aws: MotoSandbox, member: str, retry_env: retry.RetryEnv
) -> None:
    """ROOT_ACCESS_ROLE_ARN: the delegated administrator's role, assumed first, calls
    AssumeRoot (CloudTrail's AssumeRoot record names that role's session)."""
    aws.enable_root_access(MANAGEMENT, delegated_admin=DELEGATED)
    role = aws.client("iam", account_id=DELEGATED).create_role(
        RoleName="root-access", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    key = aws.add_root_key(member)
    records = _all_management_events(aws, DELEGATED)
    adapter = AssumeRootCredentials(REGION, retry_env, role_arn=role)
    assert [k.key_id for k in adapter.root_keys(member)] == [key]
    assert [k.key_id for k in adapter.root_keys(member)] == [key]
    assumed = [r for r in records() if r["eventName"] == "AssumeRoot"]
    assert len(assumed) == 2
    for record in assumed:
        assert record["userIdentity"]["arn"] == (
            f"arn:aws:sts::{DELEGATED}:assumed-role/root-access/root-key-detector"
        )
        assert record["requestParameters"]["taskPolicyArn"] == {"arn": AUDIT_TASK_POLICY}


def test_assume_root_goes_to_the_regional_sts_endpoint(retry_env: retry.RetryEnv) -> None:
    """ "AssumeRoot": the global endpoint is refused. Even where AWS_STS_REGIONAL_ENDPOINTS says
    legacy (us-east-1's calls to sts.amazonaws.com), the adapter's client is Regional."""
    env = {"AWS_STS_REGIONAL_ENDPOINTS": "legacy", "AWS_ENDPOINT_URL": ""}
    with patched_environ(env):
        adapter = AssumeRootCredentials("us-east-1", retry_env)
        sts = adapter._caller_sts()  # where AssumeRoot would go, without sending it
    assert sts.meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"


def test_the_runtime_builds_it_only_when_the_feature_is_on(sandbox: SandboxStack) -> None:
    env = sandbox.detector_env()
    assert build_runtime(Settings.from_env(env)).root_credentials() is None
    on = build_runtime(Settings.from_env({**env, "CENTRALIZED_ROOT_ACCESS": "true"}))
    built = on.root_credentials()
    assert isinstance(built, AssumeRootCredentials)
    assert on.root_credentials() is built


def _all_management_events(aws: MotoSandbox, account: str) -> Callable[[], list[dict[str, Any]]]:
    """A rule receiving every CloudTrail record of ``account`` (read-only ones too), and a
    reader of what it received."""
    sqs = aws.client("sqs", account_id=account)
    url = sqs.create_queue(QueueName="all-management-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = aws.client("events", account_id=account)
    events.put_rule(
        Name="all",
        EventPattern='{"detail-type": ["AWS API Call via CloudTrail"]}',
        State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    )
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])

    def read() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["detail"] for m in got]

    return read


def test_a_failed_assume_root_is_retried_and_the_keys_still_read(
    aws: MotoSandbox, member: str, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    aws.enable_root_access(MANAGEMENT)
    key = aws.add_root_key(member)
    failures = [b"Action=AssumeRoot"]  # the first AssumeRoot gets a 500, as a failing STS would

    def refuse(_target: str, body: bytes) -> bool:
        if failures and body.startswith(failures[0]):
            failures.pop()
            return True
        return False

    with (
        AwsFaultProxy(refuse=refuse) as proxy,
        patched_environ({"AWS_ENDPOINT_URL": proxy.endpoint_url}),
    ):
        keys = AssumeRootCredentials(REGION, retry_env).root_keys(member)
    assert [k.key_id for k in keys] == [key]
    assert len(sleeps) == 1  # one wait of the AWS_CALL policy, then the call passed


def test_removal_logs_the_key_masked_and_says_whether_it_is_gone(
    aws: MotoSandbox,
    member: str,
    adapter: AssumeRootCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws.enable_root_access(MANAGEMENT)
    doomed = aws.add_root_key(member)
    with caplog.at_level("INFO", logger="root_key_detector"):
        adapter.remove_root_key(member, doomed)
    assert "root key removed" in caplog.messages
    assert doomed not in caplog.text
    assert all(doomed not in str(r.__dict__) for r in caplog.records)
