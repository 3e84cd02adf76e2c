"""What a member account, a careless operator or a hostile record cannot do to the detector.

Each case was reproduced against the detector before these rules (issue "Trust boundaries");
here it runs against the sandbox through the detector's real entry points.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from detector import pipeline, retry
from detector.config import Settings
from detector.domain.finding import GENERATOR_ID, PRODUCT_FIELD_PREFIX, finding_id, product_arn
from detector.errors import SweepError
from detector.wiring import Runtime, build_runtime
from sandbox.aws import ACCOUNT_ID, REGION
from sandbox.stack import SLACK_CHANNEL, SandboxStack, sample

ROLE = "root-key-detector-member"
MEMBER = "210987654321"
OTHER = "345678901234"


def _runtime(sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Runtime:
    env = {
        **sandbox.detector_env(),
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
        **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv(sleep=lambda _s: None))


def _as(sandbox: SandboxStack, service: str, account: str) -> Any:
    """A client acting in ``account`` (what that account's administrators can do)."""
    creds = sandbox.aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="member-admin"
    )["Credentials"]
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=sandbox.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _planted(account: str, fid: str) -> dict[str, Any]:
    """An open finding shaped like the detector's, imported by the account's own admin."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": product_arn("aws", REGION, account),
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": account,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards/FFIEC"],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": "MEDIUM"},
        "Title": "IAM root user should not have access keys (FFIEC)",
        "Description": "planted",
        "ProductFields": {f"{PRODUCT_FIELD_PREFIX}/Source": "sweep"},
        "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}],
        "RecordState": "ACTIVE",
    }


def _alerts_about(sandbox: SandboxStack, account: str) -> list[Any]:
    return [m for m in sandbox.slack.top_level(SLACK_CHANNEL) if account in (m.text or "")]


def test_a_sweep_whose_alert_slack_refused_fails_and_the_next_sweep_alerts(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.enable_security_hub(MEMBER)
    sandbox.aws.set_root_key_present(True, MEMBER)
    refused = _runtime(sandbox, monkeypatch, SLACK_CHANNEL_ID="C0NOTTHERE")  # channel_not_found
    with pytest.raises(SweepError) as failed:
        refused.sweep([MEMBER])
    assert failed.value.summary.counts == {"failed": 1}
    assert _alerts_about(sandbox, MEMBER) == []

    summary = _runtime(sandbox, monkeypatch).sweep([MEMBER])

    assert summary.counts == {"alerted": 1}
    (alert,) = _alerts_about(sandbox, MEMBER)
    assert "Daily sweep" in json.dumps(alert.blocks)
    assert len(sandbox.aws.findings(MEMBER)) == 1  # the same finding, alerted at last


def test_a_finding_a_member_imports_itself_does_not_make_its_key_known(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.enable_security_hub(MEMBER)
    fake = f"{PRODUCT_FIELD_PREFIX}/{MEMBER}/root-access-key/planted"
    _as(sandbox, "securityhub", MEMBER).batch_import_findings(Findings=[_planted(MEMBER, fake)])
    sandbox.aws.set_root_key_present(True, MEMBER)

    summary = _runtime(sandbox, monkeypatch).sweep([MEMBER])

    assert summary.counts == {"alerted": 1}
    assert len(_alerts_about(sandbox, MEMBER)) == 1


def test_a_member_cannot_take_another_accounts_alert_slot(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.enable_security_hub(MEMBER, OTHER)
    # MEMBER plants, in its own Security Hub, a finding with the Id of OTHER's unknown key.
    theirs = finding_id(OTHER, None)
    _as(sandbox, "securityhub", MEMBER).batch_import_findings(Findings=[_planted(MEMBER, theirs)])
    runtime = _runtime(sandbox, monkeypatch)
    assert runtime.sweep([MEMBER]).counts == {"clean": 1}  # nothing of MEMBER's to resolve

    sandbox.aws.set_root_key_present(True, OTHER)
    assert runtime.sweep([OTHER]).counts == {"alerted": 1}
    (alert,) = _alerts_about(sandbox, OTHER)
    assert alert.thread_ts is None  # a top-level alert, which notifies the channel


def test_a_record_claiming_a_sweep_events_id_is_refused(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's own events share the ledger: a record that takes one of their ids could
    make the sweep's alert for an account a "duplicate"."""
    runtime = _runtime(sandbox, monkeypatch)
    forged = sample("root_create_access_key")
    forged["eventID"] = f"sweep-{ACCOUNT_ID}-{datetime.now(UTC):%Y%m%d}"
    envelope = {"detail-type": "AWS API Call via CloudTrail", "detail": forged}
    (outcome,) = pipeline.run(envelope, runtime.deps)
    assert outcome.status == "refused"
    sandbox.aws.set_root_key_present(True)
    assert runtime.sweep([ACCOUNT_ID]).counts == {"alerted": 1}
    assert sandbox.aws.findings() != []


def _envelope_of(account: str, record_account: str) -> dict[str, Any]:
    record = sample("root_create_access_key")
    record["recipientAccountId"] = record_account
    record["userIdentity"]["accountId"] = record_account
    return {
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account,
        "detail": record,
    }


def test_an_event_whose_envelope_and_record_name_different_accounts_is_refused(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Genuine CloudTrail cannot do this; redrive, replay and a direct invoke replay bodies as
    they are. The detector must not assume the role in the record's account and act there."""
    sandbox.aws.enable_security_hub(MEMBER, OTHER)
    sandbox.aws.set_root_key_present(True, OTHER)
    runtime = _runtime(sandbox, monkeypatch)
    (outcome,) = pipeline.run(_envelope_of(MEMBER, OTHER), runtime.deps)
    assert outcome.status == "refused"
    assert sandbox.aws.findings(OTHER) == []
    assert sandbox.slack.messages(SLACK_CHANNEL) == []


def test_without_an_organization_only_the_detectors_own_account_is_acted_on(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMBER_ROLE_NAME", raising=False)
    env = {**sandbox.detector_env(), "DETECTOR_ACCOUNT_ID": ACCOUNT_ID}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runtime = build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv(sleep=lambda _s: None))
    (outcome,) = pipeline.run(_envelope_of(OTHER, OTHER), runtime.deps)
    assert outcome.status == "refused"
    assert sandbox.slack.messages(SLACK_CHANNEL) == []
    sandbox.aws.set_root_key_present(True)
    (own,) = pipeline.run(_envelope_of(ACCOUNT_ID, ACCOUNT_ID), runtime.deps)
    assert own.status == "handled"
