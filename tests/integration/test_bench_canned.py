"""The benchmarks' canned endpoint leads the detector down the path the sandbox does.

``make bench`` and ``make bench-org`` time the detector against ``bench/canned_aws.py`` (fixed
answers, no server work) and stop when a canned run takes another path than a sandbox run of the
same events. These tests run that comparison in ``make test``, so a change of the detector's
calls that the canned endpoint does not answer shows here, not first in a benchmark.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest

from bench.canned_aws import CannedEndpoint
from bench.perf import created_event, path_of
from detector import handler, retry
from detector.config import Settings
from detector.wiring import build_runtime
from sandbox.aws import ACCOUNT_ID, SLACK_TOKEN, set_root_key_flag
from sandbox.stack import SandboxStack

ROLE = "root-key-detector-member"


@pytest.fixture
def canned() -> Iterator[CannedEndpoint]:
    with CannedEndpoint(SLACK_TOKEN) as endpoint:
        yield endpoint


def _handle(event: dict[str, Any], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # botocore reads the endpoint when clients are made
    monkeypatch.setattr(handler, "_runtime", None)  # a new container
    return handler.lambda_handler(event, None)


def test_a_new_root_key_takes_the_same_path_against_both(
    sandbox: SandboxStack, canned: CannedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.set_root_key_present(True)
    env = sandbox.detector_env()
    canned_env = {**env, "AWS_ENDPOINT_URL": canned.url, "SLACK_API_URL": canned.slack_url}
    for _ in range(2):  # a container's first event, and a later one
        event = created_event()
        expected = path_of(_handle(event, env, monkeypatch))
        assert expected == [
            ("handled", "root-key-created", "PRESENT", ("alerted", "finding-imported"))
        ]
        assert path_of(_handle(event, canned_env, monkeypatch)) == expected
    posts = [c for c in canned.state.log if c.op == "slack.chat.postMessage"]
    assert len(posts) == 2
    assert len({c.ts for c in posts}) == 2  # each post its own message
    assert all(c.read <= c.answered for c in canned.state.log)


def _member_client(sandbox: SandboxStack, account: str) -> Any:
    creds = sandbox.aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="test-seed"
    )["Credentials"]
    return boto3.client(
        "securityhub",
        region_name="us-east-1",
        endpoint_url=sandbox.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _sweep(env: dict[str, str], accounts: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runtime = build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv())
    return {r.account: r.status.value for r in runtime.sweep(accounts).results}


def test_a_sweep_ends_each_account_as_against_the_sandbox(
    sandbox: SandboxStack, canned: CannedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = ["210987654321", "345678901234", "456789012345", "567890123456"]
    holding = accounts[:2]
    for account in holding:
        set_root_key_flag(True, account)
        _member_client(sandbox, account).enable_security_hub()
    set_root_key_flag(False, ACCOUNT_ID)
    env = {
        **sandbox.detector_env(),
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
        "SWEEP_CONCURRENCY": "4",
    }
    expected = _sweep(env, accounts, monkeypatch)
    assert expected == dict.fromkeys(holding, "alerted") | dict.fromkeys(accounts[2:], "clean")

    canned.state.keys_in = frozenset(holding)
    canned_env = {**env, "AWS_ENDPOINT_URL": canned.url, "SLACK_API_URL": canned.slack_url}
    assert _sweep(canned_env, accounts, monkeypatch) == expected
    # Each member account was asked with its own role session's credentials.
    summaries = [c for c in canned.state.log if c.op == "iam.GetAccountSummary"]
    assert {c.account for c in summaries} == set(accounts)
    posts = [c for c in canned.state.log if c.op == "slack.chat.postMessage"]
    assert len(posts) == len(sandbox.slack.messages(env["SLACK_CHANNEL_ID"]))


def test_a_call_it_has_no_answer_for_fails_instead_of_being_timed(
    canned: CannedEndpoint,
) -> None:
    dynamodb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=canned.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(botocore.exceptions.ClientError, match="NotCanned"):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "x"}})
    with pytest.raises(botocore.exceptions.ClientError, match="NotCanned"):
        dynamodb.update_item(
            TableName="t",
            Key={"pk": {"S": "x"}},
            UpdateExpression="SET n = n + :one",  # not an empty item's write
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{canned.slack_url}chat.postMessage",
        data=json.dumps({"channel": "C1", "text": "x"}).encode(),
        headers={"Authorization": "Bearer xoxb-wrong", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        assert json.loads(resp.read()) == {"ok": False, "error": "invalid_auth"}
