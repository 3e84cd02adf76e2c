"""The detector against AWS's documented semantics, held by the sandbox's contract layer.

Each test is a case where moto alone is kinder than AWS: Security Hub keeping the newest
``UpdatedAt`` (not the last import), deleting findings 90 days after their last update, refusing
the reserved ``aws/`` ProductFields namespace; Organizations answering ``State``, not ``Status``.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector import pipeline, retry
from detector.config import Settings
from detector.wiring import Runtime, build_runtime
from sandbox.aws import ACCOUNT_ID
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SLACK_CHANNEL, SandboxStack, sample

KEY = "AKIAZSANDBOXDEMO7Q2X"  # the key sample("root_create_access_key") creates
ROLE = "root-key-detector-member"


def _runtime(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Runtime:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # botocore reads the endpoint when a client is made
    return build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv(sleep=lambda _s: None))


def _envelope(record: dict[str, Any]) -> dict[str, Any]:
    return {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": record}


def _delete(create: dict[str, Any], seconds: int) -> dict[str, Any]:
    record = json.loads(json.dumps(create))
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record |= {
        "eventName": "DeleteAccessKey",
        "eventID": str(uuid.uuid4()),
        "eventTime": (when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "requestParameters": {"accessKeyId": KEY},
        "responseElements": None,
    }
    return record


def test_a_key_created_and_deleted_seconds_apart_ends_resolved_when_the_create_lands_last(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root creates a key and deletes it seconds later. The create event's invocation is slow
    (IAM polling, a cold start); the delete event is handled from start to finish first. Under
    Security Hub's rule the create's later import must not reopen the finding for good."""
    create = sample("root_create_access_key")
    delete = _delete(create, 3)
    disabled = {**sandbox.detector_env(), "SLACK_MODE": "disabled"}
    with AwsFaultProxy(latency_s=0.3) as slow:
        older = _runtime(monkeypatch, {**disabled, "AWS_ENDPOINT_URL": slow.endpoint_url})
        for service in ("dynamodb", "iam", "securityhub"):
            older.clients.client(service)  # made against the slow endpoint
        newer = _runtime(monkeypatch, disabled)
        sandbox.aws.set_root_key_present(True)
        done = threading.Event()
        thread = threading.Thread(
            target=lambda: (pipeline.run(_envelope(create), older.deps), done.set())
        )
        thread.start()
        sandbox.aws.set_root_key_present(False)  # deleted: IAM shows no key from now on
        pipeline.run(_envelope(delete), newer.deps)
        thread.join(timeout=60)
    assert done.is_set()
    (finding,) = sandbox.aws.findings()
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("PASSED", "ARCHIVED")


def test_a_known_key_keeps_its_finding_past_90_days_and_gets_no_second_alert(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(monkeypatch, sandbox.detector_env())
    start = datetime.now(UTC)
    sandbox.aws.add_dependencies()  # nothing to report: a sweep that changes nothing is silent
    sandbox.aws.set_root_key_present(True)
    pipeline.run(_envelope(sample("root_create_access_key", now=start)), runtime.deps)
    try:
        for days in (31, 62, 93, 124):  # a daily sweep, seen every month
            when = start + timedelta(days=days)
            sandbox.aws.set_clock(when)
            summary = runtime.sweep(at=when)
            assert summary.counts == {"known": 1}, days
            (finding,) = sandbox.aws.findings()
            assert finding["RecordState"] == "ACTIVE"
    finally:
        sandbox.aws.set_clock(None)
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1  # the key's one alert


def test_the_sweep_resolves_without_sending_securityhubs_own_fields(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetFindings answers with fields Security Hub owns (``aws/`` ProductFields, ProcessedAt,
    ...); the sweep resolves from the detector's own finding, which Security Hub accepts."""
    runtime = _runtime(monkeypatch, sandbox.detector_env())
    sandbox.aws.set_root_key_present(True)
    old = datetime.now(UTC) - timedelta(hours=1)
    pipeline.run(_envelope(sample("root_create_access_key", now=old)), runtime.deps)
    sandbox.aws.set_root_key_present(False)
    summary = runtime.sweep()
    assert summary.counts == {"resolved": 1}
    (finding,) = sandbox.aws.findings()
    assert finding["RecordState"] == "ARCHIVED"
    assert finding["ProductFields"]["root-key-detector/ResolvedBy"] == "sweep"


def test_the_sweep_covers_active_accounts_by_state_and_reports_one_without_it(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = sandbox.aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    ids = [
        org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("active", "suspended", "unknown")
    ]
    active, suspended, unknown = ids
    sandbox.aws.set_account_state(suspended, "SUSPENDED")
    sandbox.aws.set_account_state(unknown, None)
    sandbox.aws.set_root_key_present(True, unknown)  # the account whose state nobody knows
    sandbox.aws.enable_security_hub(unknown)
    env = {**sandbox.detector_env(), "MEMBER_ROLE_NAME": ROLE, "DETECTOR_ACCOUNT_ID": ACCOUNT_ID}
    runtime = _runtime(monkeypatch, env)

    summary = runtime.sweep()

    swept = {r.account: r for r in summary.results}
    assert set(swept) == {ACCOUNT_ID, active, unknown}
    assert swept[unknown].status == "alerted"
    assert "no State" in swept[unknown].detail
    assert summary.skipped == {"SUSPENDED": 1}


def test_a_key_the_sweep_found_is_one_finding_and_one_thread_with_its_later_delete(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _runtime(monkeypatch, sandbox.detector_env())
    sandbox.aws.set_root_key_present(True)
    found = runtime.sweep()  # the key's creation never reached the detector
    assert found.counts == {"alerted": 1}
    sandbox.aws.set_root_key_present(False)
    later = datetime.now(UTC) + timedelta(seconds=5)
    (outcome,) = pipeline.run(
        _envelope(_delete(sample("root_create_access_key", now=later), 0)), runtime.deps
    )

    assert "bound-to-sweep-finding" in outcome.as_dict()["actions"]
    (finding,) = sandbox.aws.findings()
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("PASSED", "ARCHIVED")
    key = next(r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey")
    assert key["Id"] == KEY
    (alert,) = [
        m
        for m in sandbox.slack.top_level(SLACK_CHANNEL)
        if (m.payload.get("metadata") or {}).get("event_payload", {}).get("finding_id")
        == finding["Id"]
    ]
    replies = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert [r.payload["metadata"]["event_payload"]["verdict"] for r in replies] == [
        "root-key-deleted"
    ]
