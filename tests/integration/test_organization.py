"""Cross-account confirmation and import, and the sweep, against moto's multi-account STS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from detector import pipeline, retry
from detector.adapters.aws import AwsClients
from detector.config import Settings
from detector.errors import PipelineError
from detector.sweep import Sweeper
from detector.wiring import Runtime, build_runtime
from sandbox.aws import ACCOUNT_ID, SLACK_CHANNEL, set_root_key_flag
from sandbox.stack import SandboxStack, sample

MEMBER = "210987654321"
OTHER = "345678901234"
ROLE = "root-key-detector-member"


def _member_client(sandbox: SandboxStack, service: str, account: str) -> Any:
    creds = sandbox.aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="test-seed"
    )["Credentials"]
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        endpoint_url=sandbox.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _findings(sandbox: SandboxStack, account: str) -> list[dict[str, Any]]:
    found = _member_client(sandbox, "securityhub", account).get_findings()["Findings"]
    return [f for f in found if f["AwsAccountId"] == account]


def _runtime(sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Runtime:
    env = {
        **sandbox.detector_env(),
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
        **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # boto3 reads the endpoint when clients are made
    # Retries really happen (counted by tenacity) but do not really sleep.
    return build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv(sleep=lambda _s: None))


@pytest.fixture
def runtime(sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    return _runtime(sandbox, monkeypatch)


def _later(**delta: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(**delta)


def _member_event(account: str, *, seconds_ago: float | None = None) -> dict[str, Any]:
    record = json.loads(json.dumps(sample("root_create_access_key")))
    if seconds_ago is not None:
        when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
        record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    record["recipientAccountId"] = account
    record["userIdentity"]["accountId"] = account
    record["userIdentity"]["principalId"] = account
    record["userIdentity"]["arn"] = f"arn:aws:iam::{account}:root"
    return {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": record}


def test_member_account_key_is_confirmed_and_filed_in_that_account(
    sandbox: SandboxStack, runtime: Runtime
) -> None:
    _member_client(sandbox, "securityhub", MEMBER).enable_security_hub()
    set_root_key_flag(True, MEMBER)
    set_root_key_flag(False, ACCOUNT_ID)  # the central account's own root has no key
    (outcome,) = pipeline.run(_member_event(MEMBER), runtime.deps)
    assert outcome.confirmation == "PRESENT"  # asked in the member account, not centrally
    (finding,) = _findings(sandbox, MEMBER)
    assert finding["ProductArn"].endswith(f":product/{MEMBER}/default")
    assert sandbox.aws.findings() == []  # nothing filed in the central account
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1


def test_unreachable_member_role_still_alerts_unconfirmed(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # STS answers nothing (as when the role is missing or denies us): no session, no import.
    broken = _runtime(sandbox, monkeypatch, AWS_ENDPOINT_URL_STS="http://127.0.0.1:9")
    with pytest.raises(PipelineError) as err:
        pipeline.run(_member_event(MEMBER), broken.deps)
    assert err.value.outcome.confirmation == "UNCONFIRMED"
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert "UNCONFIRMED" in json.dumps(alert.payload)
    assert "EndpointConnectionError" in json.dumps(alert.payload)


def test_sweep_alerts_unknown_keys_resolves_gone_ones_and_reports_failures(
    sandbox: SandboxStack, runtime: Runtime
) -> None:
    for account in (MEMBER, OTHER):
        _member_client(sandbox, "securityhub", account).enable_security_hub()
    # MEMBER: root holds a key nobody alerted on (created before the detector).
    set_root_key_flag(True, MEMBER)
    # OTHER: alerted earlier, and the key has since been deleted without an event reaching us.
    set_root_key_flag(True, OTHER)
    pipeline.run(_member_event(OTHER), runtime.deps)
    set_root_key_flag(False, OTHER)
    set_root_key_flag(False, ACCOUNT_ID)

    # The sweep runs ten minutes later: OTHER's finding is older than KEY_SETTLE_SECONDS.
    sweeper = Sweeper(runtime.deps, runtime.inventory, concurrency=4, now=_later(minutes=10))
    summary = sweeper.run([ACCOUNT_ID, MEMBER, OTHER])
    status = {r.account: r.status for r in summary.results}
    assert status == {ACCOUNT_ID: "clean", MEMBER: "alerted", OTHER: "resolved"}

    (member_finding,) = _findings(sandbox, MEMBER)
    assert member_finding["Compliance"]["Status"] == "FAILED"
    assert member_finding["ProductFields"]["root-key-detector/Source"] == "sweep"
    (other_finding,) = _findings(sandbox, OTHER)
    assert other_finding["RecordState"] == "ARCHIVED"

    tops = sandbox.slack.top_level(SLACK_CHANNEL)
    other_alert = next(m for m in tops if OTHER in (m.text or ""))
    replies = sandbox.slack.replies(SLACK_CHANNEL, other_alert.ts)
    assert any("Resolved by the daily sweep" in json.dumps(r.blocks) for r in replies)
    assert any("Daily sweep" in json.dumps(m.blocks) for m in tops)
    assert any("Root access key sweep" in (m.text or "") for m in tops)  # the digest

    # A second sweep the same day changes nothing and posts nothing.
    before = len(sandbox.slack.messages(SLACK_CHANNEL))
    again = sweeper.run([ACCOUNT_ID, MEMBER, OTHER])
    assert {r.account: r.status for r in again.results} == {
        ACCOUNT_ID: "clean",
        MEMBER: "known",
        OTHER: "clean",
    }
    assert len(sandbox.slack.messages(SLACK_CHANNEL)) == before


def test_sweep_never_resolves_a_finding_updated_less_than_the_settle_time_ago(
    sandbox: SandboxStack, runtime: Runtime
) -> None:
    """IAM is eventually consistent: a key created seconds ago may not show in the account
    summary yet. A sweep that reads "no key" then must not archive the brand-new finding."""
    _member_client(sandbox, "securityhub", OTHER).enable_security_hub()
    set_root_key_flag(True, OTHER)
    pipeline.run(_member_event(OTHER, seconds_ago=20), runtime.deps)
    set_root_key_flag(False, OTHER)  # IAM does not show it (yet, or any more)

    soon = Sweeper(runtime.deps, runtime.inventory, settle_s=300).run([OTHER])
    assert {r.account: r.status for r in soon.results} == {OTHER: "known"}
    (finding,) = _findings(sandbox, OTHER)
    assert finding["RecordState"] == "ACTIVE"

    later = Sweeper(runtime.deps, runtime.inventory, settle_s=300, now=_later(minutes=6))
    assert {r.account: r.status for r in later.run([OTHER]).results} == {OTHER: "resolved"}
    (finding,) = _findings(sandbox, OTHER)
    assert finding["RecordState"] == "ARCHIVED"


def test_sweep_reports_an_unreadable_account_and_goes_on(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _runtime(sandbox, monkeypatch, AWS_ENDPOINT_URL_STS="http://127.0.0.1:9")
    summary = Sweeper(broken.deps, broken.inventory).run([ACCOUNT_ID, MEMBER])
    status = {r.account: r.status for r in summary.results}
    assert status == {ACCOUNT_ID: "clean", MEMBER: "failed"}
    failed = next(r for r in summary.results if r.status == "failed")
    assert "EndpointConnectionError" in failed.detail
    digest = sandbox.slack.top_level(SLACK_CHANNEL)[-1]
    assert MEMBER in json.dumps(digest.blocks)


def test_concurrent_calls_through_shared_member_clients_act_in_their_own_accounts(
    sandbox: SandboxStack, runtime: Runtime
) -> None:
    # Every member account shares one client per service; each call is signed as its account.
    # Interleave many accounts on 8 threads: each finding must land in its own account only.
    accounts = [f"{456000000000 + i:012d}" for i in range(16)]
    with_key = set(accounts[::2])
    for account in accounts:
        _member_client(sandbox, "securityhub", account).enable_security_hub()
        set_root_key_flag(account in with_key, account)
    set_root_key_flag(False, ACCOUNT_ID)
    # Eight alerts and a digest at once, and a retry policy that never sleeps here: Slack's
    # one message a second per channel would refuse most of them. The detector does not pace
    # bulk alerts yet (issue 13); this test is about signing, not pace.
    sandbox.slack.set_rate_limits(False)

    summary = Sweeper(runtime.deps, runtime.inventory, concurrency=8).run(accounts)

    status = {r.account: r.status for r in summary.results}
    assert status == {a: "alerted" if a in with_key else "clean" for a in accounts}
    for account in accounts:
        findings = _findings(sandbox, account)
        assert [f["AwsAccountId"] for f in findings] == ([account] if account in with_key else [])
        assert all(f["ProductArn"].endswith(f"/{account}/default") for f in findings)
    assert sandbox.aws.findings() == []  # nothing acted as the central account


class _CountingClients(AwsClients):
    """Counts the member clients made (each signs as one account's role session)."""

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.made: list[str] = []

    def client_with(self, service: str, credentials: Any) -> Any:
        self.made.append(service)
        return super().client_with(service, credentials)


def test_member_clients_are_made_once_per_account_and_kept_while_warm(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**sandbox.detector_env(), "MEMBER_ROLE_NAME": ROLE}.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env({**sandbox.detector_env(), "MEMBER_ROLE_NAME": ROLE})
    clients = _CountingClients(settings.region)
    runtime = build_runtime(settings, clients=clients, retry_env=retry.RetryEnv())
    accounts = [f"{478000000000 + i:012d}" for i in range(8)]

    summary = Sweeper(runtime.deps, runtime.inventory, concurrency=8).run(accounts)
    again = Sweeper(runtime.deps, runtime.inventory, concurrency=8).run(accounts)

    assert summary.counts == again.counts == {"clean": 8}
    assert clients.made.count("iam") == 8  # one per account, reused by the second sweep
