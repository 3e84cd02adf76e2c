"""The sandbox's fault layer answers like AWS does when it throttles, and otherwise is moto."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from sandbox.aws import REGION
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SandboxStack


def _client(proxy: AwsFaultProxy, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=proxy.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("iam", lambda c: c.get_account_summary(), "Throttling"),
        ("dynamodb", lambda c: c.list_tables(), "ThrottlingException"),
        ("securityhub", lambda c: c.get_findings(MaxResults=1), "TooManyRequestsException"),
    ],
)
def test_throttled_calls_fail_in_their_protocols_shape_and_the_connection_survives(
    sandbox: SandboxStack, service: str, call: Any, code: str
) -> None:
    with AwsFaultProxy(throttle_rate=1.0) as proxy:
        client = _client(proxy, service)
        for _ in range(2):  # throttled calls have no effect: the next is throttled alike
            with pytest.raises(botocore.exceptions.ClientError) as err:
                call(client)
            assert err.value.response["Error"]["Code"] == code
        proxy.throttle_rate = 0.0
        assert call(client)["ResponseMetadata"]["HTTPStatusCode"] == 200  # moto answers
        assert (proxy.stats.throttled, proxy.stats.forwarded) == (2, 1)


def test_the_fault_layer_serves_the_same_moto_as_the_sandbox(sandbox: SandboxStack) -> None:
    with AwsFaultProxy(latency_s=0.01) as proxy:
        names = _client(proxy, "dynamodb").list_tables()["TableNames"]
    assert names == sandbox.aws.client("dynamodb").list_tables()["TableNames"]
    assert names  # the ledger table the sandbox created


def _control(proxy: AwsFaultProxy, path: str, doc: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
        f"{proxy.endpoint_url}{path}", data=json.dumps(doc).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
        assert resp.status == 204


def test_control_paths_set_root_s_key_and_the_faults(sandbox: SandboxStack) -> None:
    """What RemoteMoto asks of the sandbox in its own process (make chaos, the benchmarks)."""
    with AwsFaultProxy(control=True) as proxy:
        iam = _client(proxy, "iam")
        for present in (True, False):
            _control(proxy, "/_sandbox/root-key", {"present": present})
            summary = iam.get_account_summary()["SummaryMap"]
            assert summary["AccountAccessKeysPresent"] == int(present)
        _control(proxy, "/_sandbox/faults", {"throttle_rate": 1.0})
        with pytest.raises(botocore.exceptions.ClientError) as err:
            iam.get_account_summary()
        assert err.value.response["Error"]["Code"] == "Throttling"
