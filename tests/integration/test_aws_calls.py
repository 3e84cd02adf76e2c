"""The fault layer's call log names each call's operation, IAM action and caller from the wire."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest

from sandbox.aws import ACCOUNT_ID, LEDGER_TABLE, REGION
from sandbox.aws_calls import AwsCall, CallLog
from sandbox.aws_proxy import AwsFaultProxy

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::210987654321:role/root-key-detector-member"


def _client(
    proxy: AwsFaultProxy, service: str, key: str = "AKIACALLERKEY0000001", **creds: str
) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=proxy.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=creds.get("secret", "sandbox"),
        aws_session_token=creds.get("token"),
    )


def _seen(log: CallLog) -> list[tuple[str, str, str | None, int]]:
    return [(c.operation, c.action, c.role_arn, c.status) for c in log.calls()]


@pytest.mark.usefixtures("sandbox")
def test_each_protocol_names_its_operation_and_iam_action() -> None:
    log = CallLog()
    with AwsFaultProxy(record=log) as proxy:
        _client(proxy, "iam").get_account_summary()  # query
        _client(proxy, "dynamodb").get_item(  # JSON
            TableName=LEDGER_TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "b"}}
        )
        _client(proxy, "securityhub").get_findings(MaxResults=1)  # REST-JSON
        s3 = _client(proxy, "s3")  # REST-XML
        s3.create_bucket(Bucket="calls")
        s3.put_object(Bucket="calls", Key="a/b", Body=b"x")
        s3.copy_object(Bucket="calls", Key="a/c", CopySource={"Bucket": "calls", "Key": "a/b"})
        s3.list_objects_v2(Bucket="calls", Prefix="a/")
        s3.get_object(Bucket="calls", Key="a/b")["Body"].read()
    assert _seen(log) == [
        ("GetAccountSummary", "iam:GetAccountSummary", None, 200),
        ("GetItem", "dynamodb:GetItem", None, 200),
        ("GetFindings", "securityhub:GetFindings", None, 200),
        ("CreateBucket", "s3:CreateBucket", None, 200),
        ("PutObject", "s3:PutObject", None, 200),  # same route as CopyObject, no copy source
        ("CopyObject", "s3:CopyObject", None, 200),
        ("ListObjectsV2", "s3:ListBucket", None, 200),  # authorized by ListBucket
        ("GetObject", "s3:GetObject", None, 200),
    ]
    assert {c.access_key_id for c in log.calls()} == {"AKIACALLERKEY0000001"}


@pytest.mark.usefixtures("sandbox")
def test_calls_with_assumed_credentials_are_the_roles() -> None:
    log = CallLog()
    with AwsFaultProxy(record=log) as proxy:
        creds = _client(proxy, "sts").assume_role(RoleArn=ROLE, RoleSessionName="calls")
        c = creds["Credentials"]
        member = _client(
            proxy, "iam", c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]
        )
        member.get_account_summary()
    assume, summary = log.calls()
    assert (assume.action, assume.role_arn) == ("sts:AssumeRole", None)
    assert summary == AwsCall("iam", "GetAccountSummary", c["AccessKeyId"], ROLE, 200)
    assert (summary.role_name, summary.role_account) == ("root-key-detector-member", "210987654321")


@pytest.mark.usefixtures("sandbox")
def test_refused_calls_are_noted_with_their_status_and_controls_are_not() -> None:
    log = CallLog()
    with AwsFaultProxy(record=log, throttle_rate=1.0, control=True) as proxy:
        with pytest.raises(Exception, match="Throttling"):
            _client(proxy, "iam", key="AKIATHROTTLEDKEY0001").get_account_summary()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            f"{proxy.endpoint_url}/_sandbox/root-key",
            data=json.dumps({"present": False, "account": ACCOUNT_ID}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            assert resp.status == 204
    calls = log.calls()
    assert calls
    assert {(c.action, c.status) for c in calls} == {("iam:GetAccountSummary", 400)}
