"""IAM confirmation against moto over HTTP: PRESENT, ABSENT, UNCONFIRMED and why."""

from __future__ import annotations

from typing import Any

import boto3

from detector import retry
from detector.adapters.aws import botocore_config
from detector.adapters.iam import IamKeyConfirmer
from detector.domain.confirmation import KeyState
from sandbox.aws import ACCOUNT_ID, MotoSandbox
from tests.integration.conftest import Sleeps, ago

KEY = "AKIAZSANDBOXTEST0001"


def _iam(endpoint: str) -> Any:
    return boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore_config(),
    )


def _confirmer(aws: MotoSandbox, env: retry.RetryEnv, **kw: Any) -> IamKeyConfirmer:
    client = _iam(aws.endpoint_url)
    return IamKeyConfirmer(lambda _account: client, env, **kw)


def test_new_key_present(aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: Sleeps) -> None:
    aws.set_root_key_present(True)
    result = _confirmer(aws, retry_env).confirm(ACCOUNT_ID, expect_present=True, event_time=ago(5))
    assert result.state is KeyState.PRESENT
    assert sleeps == []  # answered at once: no polling


def test_old_event_whose_key_is_gone_is_absent(
    aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    aws.set_root_key_present(False)
    result = _confirmer(aws, retry_env, settle_s=300).confirm(
        ACCOUNT_ID, expect_present=True, event_time=ago(3600)
    )
    assert result.state is KeyState.ABSENT
    assert "deleted" in result.reason
    assert sleeps == []


def test_fresh_key_not_visible_is_unconfirmed_after_bounded_polling(
    aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: Sleeps
) -> None:
    aws.set_root_key_present(False)
    result = _confirmer(aws, retry_env, wait_s=4.0).confirm(
        ACCOUNT_ID, expect_present=True, event_time=ago(2)
    )
    assert result.state is KeyState.UNCONFIRMED
    assert "eventual consistency" in result.reason
    assert 0 < sum(sleeps) <= 4.0
    assert result.attempts == len(sleeps) + 1


def test_key_that_appears_while_polling_is_present(aws: MotoSandbox) -> None:
    aws.set_root_key_present(False)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # IAM catches up during the second wait
            aws.set_root_key_present(True)

    result = _confirmer(aws, retry.RetryEnv(sleep=sleep), wait_s=10).confirm(
        ACCOUNT_ID, expect_present=True, event_time=ago(1)
    )
    assert result.state is KeyState.PRESENT
    assert result.attempts == 3


def test_deleted_key_is_absent(aws: MotoSandbox, retry_env: retry.RetryEnv) -> None:
    aws.set_root_key_present(False)
    result = _confirmer(aws, retry_env).confirm(ACCOUNT_ID, expect_present=False, event_time=ago(5))
    assert result.state is KeyState.ABSENT


def test_unreachable_iam_is_unconfirmed_with_the_reason(retry_env: retry.RetryEnv) -> None:
    # Nothing listens on port 9 of the loopback: connection refused, retried, then reported.
    client = _iam("http://127.0.0.1:9")
    confirmer = IamKeyConfirmer(lambda _account: client, retry_env)
    result = confirmer.confirm(ACCOUNT_ID, expect_present=True, event_time=ago(5))
    assert result.state is KeyState.UNCONFIRMED
    assert "EndpointConnectionError" in result.reason
