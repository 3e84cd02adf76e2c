"""The whole path: CloudTrail event -> rule (our pattern) -> SQS -> handler -> Hub + Slack."""

from __future__ import annotations

import io
import json

import pytest

from detector import handler
from detector.errors import PipelineError
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")


def _deliver(sandbox: SandboxStack, *records: dict[str, object]) -> list[dict[str, object]]:
    for record in records:
        sandbox.put_cloudtrail_event(record)
    return sandbox.receive_routed()


def test_root_key_creation_raises_a_finding_and_one_alert(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    sandbox.aws.set_root_key_present(True)
    root = sample("root_create_access_key")
    user = sample("iam_user_create_access_key")

    delivered = _deliver(sandbox, root, user)
    assert [e["detail"]["eventID"] for e in delivered] == [root["eventID"]]  # user not routed

    summary = handler.lambda_handler(delivered[0], None)
    assert summary["processed"] == 1
    result = summary["results"][0]
    assert result["verdict"] == "root-key-created"
    assert result["confirmation"] == "PRESENT"

    (finding,) = sandbox.aws.findings()
    assert finding["Id"] == result["finding_id"]
    assert finding["Severity"]["Label"] == "MEDIUM"
    assert finding["Compliance"]["Status"] == "FAILED"
    requirements = finding["Compliance"]["RelatedRequirements"]
    assert requirements[:3] == ["FFIEC D3.PC.Am.B.1", "FFIEC D3.PC.Am.B.3", "FFIEC D3.PC.Am.B.8"]
    # And what AWS's own control for the same rule (IAM.4) maps to, as AWS writes it.
    assert {"CIS AWS Foundations Benchmark v5.0.0/1.3", "NIST.800-53.r5 AC-6"} <= set(requirements)
    assert "PCI DSS v3.2.1/7.2.1" in requirements
    assert finding["Resources"][0]["Id"] == "AKIAZSANDBOXDEMO7Q2X"

    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert alert.ts == result["slack_ts"]
    body = json.dumps(alert.payload, ensure_ascii=False)
    assert "AKIAZSANDBOXDEMO7Q2X" not in body  # masked in Slack
    assert "AKIA…7Q2X" in body
    assert "PRESENT" in body

    # The bot token reached Slack only in the Authorization header: nowhere else.
    everything = (
        logs.getvalue() + json.dumps(finding) + "".join(r.body for r in sandbox.slack.requests)
    )
    assert SLACK_TOKEN not in everything


def test_a_configured_severity_is_the_findings_and_the_alert_says_whose_rating_it_is(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINDING_SEVERITY", "CRITICAL")
    sandbox.aws.set_root_key_present(True)
    (event,) = _deliver(sandbox, sample("root_create_access_key"))
    handler.lambda_handler(event, None)

    (finding,) = sandbox.aws.findings()
    assert finding["Severity"]["Label"] == "CRITICAL"
    assert finding["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    body = json.dumps(alert.payload, ensure_ascii=False)
    assert "Severity Critical (as configured; FFIEC rates it Medium)" in body
    assert "CIS AWS Foundations v5.0.0 1.3" in body  # the context line's mappings


def test_key_not_visible_yet_still_alerts_as_unconfirmed(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(False)
    (event,) = _deliver(sandbox, sample("root_create_access_key"))
    summary = handler.lambda_handler(event, None)
    assert summary["results"][0]["confirmation"] == "UNCONFIRMED"
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert "UNCONFIRMED" in json.dumps(alert.payload, ensure_ascii=False)
    (finding,) = sandbox.aws.findings()
    assert finding["Compliance"]["Status"] == "FAILED"


def test_slack_failure_raises_for_the_dlq_but_the_finding_is_filed(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    sandbox.aws.set_root_key_present(True)
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0ARCHIVED1")  # unknown to Slack
    (event,) = _deliver(sandbox, sample("root_create_access_key"))
    with pytest.raises(PipelineError) as err:
        handler.lambda_handler(event, None)
    assert "channel_not_found" in str(err.value)
    assert err.value.outcome.finding_id is not None
    assert len(sandbox.aws.findings()) == 1
    failure = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert any(line["message"] == "event failed" for line in failure)


def test_webhook_mode_delivers_the_same_alert(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.set_root_key_present(True)
    monkeypatch.setenv("SLACK_MODE", "webhook")
    (event,) = _deliver(sandbox, sample("root_create_access_key"))
    handler.lambda_handler(event, None)
    (alert,) = sandbox.slack.messages("webhook")
    assert "Root access key created" in (alert.text or "")


def test_not_cloudtrail_is_an_error_not_ignored(sandbox: SandboxStack) -> None:
    scheduled = {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    }
    with pytest.raises(Exception, match=r"\$\.detail-type"):
        handler.lambda_handler(scheduled, None)
    assert sandbox.slack.requests == []
