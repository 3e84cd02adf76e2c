"""The adapters behind the sweep's and the redrive's ports, over HTTP against the sandbox: each
answers through its retry policy and raises only the detector's own errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from detector import retry
from detector.adapters.iam import IamKeyConfirmer, IamKeyInventory
from detector.adapters.organizations import OrganizationDirectory
from detector.adapters.sqs import SqsDeadLetterQueue
from detector.domain.confirmation import KeyState
from detector.errors import AwsCallError, Failure
from sandbox.aws import ACCOUNT_ID, REGION
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


def _throttle_first(
    proxy: AwsFaultProxy, operation: str, times: int
) -> Callable[[str, bytes], bool]:
    """A ``refuse`` hook that has the proxy throttle the first ``times`` calls of ``operation``
    (matched on X-Amz-Target or the query protocol's Action), and nothing else."""
    seen = {"n": 0}

    def hook(target: str, body: bytes) -> bool:
        if target.endswith("." + operation) or f"Action={operation}".encode() in body:
            seen["n"] += 1
            proxy.throttle_rate = 1.0 if seen["n"] <= times else 0.0
        else:
            proxy.throttle_rate = 0.0
        return False

    return hook


@pytest.fixture
def proxy(sandbox: SandboxStack) -> Iterator[AwsFaultProxy]:
    with AwsFaultProxy() as running:
        yield running


def test_the_organization_listing_rides_out_throttling(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    org = sandbox.aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="member", Email="member@example.com")
    member_id = member["CreateAccountStatus"]["AccountId"]
    proxy.refuse = _throttle_first(proxy, "ListAccounts", times=2)
    sleeps: list[float] = []
    client = _client(proxy, "organizations")

    accounts = OrganizationDirectory(lambda: client, retry.RetryEnv(sleep=sleeps.append)).accounts()

    assert {a.id for a in accounts} >= {member_id}
    # The management account is told from the accounts' ARNs (no root session reaches it).
    assert [a.id for a in accounts if a.management] == [ACCOUNT_ID]
    assert proxy.stats.throttled == 2
    assert len(sleeps) == 2  # AWS_CALL waited twice, then the listing went through


def test_the_key_inventory_reads_iam_now_and_rides_out_throttling(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    client = _client(proxy, "iam")
    sleeps: list[float] = []
    inventory = IamKeyInventory(lambda _account: client, retry.RetryEnv(sleep=sleeps.append))

    sandbox.aws.set_root_key_present(False)
    assert inventory.root_keys_present(ACCOUNT_ID) is False
    sandbox.aws.set_root_key_present(True)
    proxy.refuse = _throttle_first(proxy, "GetAccountSummary", times=1)
    assert inventory.root_keys_present(ACCOUNT_ID) is True
    assert (proxy.stats.throttled, len(sleeps)) == (1, 1)


def test_the_key_inventory_gives_up_with_the_detectors_own_error(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    client = _client(proxy, "iam")
    sleeps: list[float] = []
    inventory = IamKeyInventory(lambda _account: client, retry.RetryEnv(sleep=sleeps.append))
    proxy.throttle_rate = 1.0

    with pytest.raises(AwsCallError) as raised:
        inventory.root_keys_present(ACCOUNT_ID)

    assert (raised.value.code, raised.value.failure) == ("Throttling", Failure.THROTTLING)
    assert proxy.stats.throttled == retry.AWS_CALL.attempts


def test_the_dead_letter_queue_hides_what_it_hands_out_and_deletes_what_was_handled(
    sandbox: SandboxStack,
) -> None:
    sqs = sandbox.aws.client("sqs")
    url = sqs.create_queue(QueueName="boundary-dlq")["QueueUrl"]
    bodies = [json.dumps({"n": n}) for n in range(3)]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    queue = SqsDeadLetterQueue(lambda: sqs, url, retry.RetryEnv())

    got = queue.receive(10)
    while len(got) < len(bodies):  # SQS may answer with fewer than are waiting
        more = queue.receive(10)
        assert more, "messages went missing"
        got += more

    assert sorted(m.body for m in got) == sorted(bodies)
    assert queue.receive(10) == []  # handed out: hidden from the next reader
    queue.delete(got[0])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 2


def test_a_missing_queue_is_the_detectors_own_permanent_error(sandbox: SandboxStack) -> None:
    sqs = sandbox.aws.client("sqs")
    url = sqs.create_queue(QueueName="boundary-gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    sleeps: list[float] = []

    with pytest.raises(AwsCallError) as raised:
        SqsDeadLetterQueue(lambda: sqs, url, retry.RetryEnv(sleep=sleeps.append)).receive(10)

    assert raised.value.failure is Failure.PERMANENT
    assert "NonExistentQueue" in raised.value.code or raised.value.code == "QueueDoesNotExist"
    assert sleeps == []


def test_an_unconfirmed_alert_shows_the_sdks_own_words_once(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    client = _client(proxy, "iam")
    confirmer = IamKeyConfirmer(lambda _account: client, retry.RetryEnv(sleep=lambda _s: None))
    proxy.throttle_rate = 1.0

    confirmation = confirmer.confirm(
        ACCOUNT_ID, expect_present=True, event_time=datetime.now(UTC) - timedelta(hours=1)
    )

    assert confirmation.state is KeyState.UNCONFIRMED
    assert confirmation.reason.startswith(
        "IAM could not be asked (Throttling): An error occurred (Throttling) when calling the "
        "GetAccountSummary operation"
    )
