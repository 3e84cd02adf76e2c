"""Security Hub import against moto over HTTP: create, update in place, FailedCount raises."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from detector import retry
from detector.adapters.aws import AwsClients
from detector.adapters.securityhub import SecurityHubSink
from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.event import parse_event
from detector.domain.finding import FindingContext, build_finding
from detector.domain.verdict import Verdict, classify
from detector.errors import FindingImportError
from sandbox.aws import MotoSandbox, patched_environ
from sandbox.stack import sample


def _sink(aws: MotoSandbox, env: retry.RetryEnv) -> SecurityHubSink:
    with patched_environ(aws.env()):
        clients = AwsClients(region="us-east-1")
        client = clients.client("securityhub")
    return SecurityHubSink(lambda _account: client, env)


def _finding(state: KeyState, verdict: Verdict | None = None, **ctx: Any) -> dict[str, Any]:
    event = parse_event(sample("root_create_access_key"))
    verdict = verdict or classify(event)
    first = FindingContext.first_observation(event, verdict, "us-east-1")
    later = replace(first, observed=first.observed + timedelta(seconds=ctx.pop("later_s", 0)))
    return build_finding(event, verdict, Confirmation(state, "test"), later)


def test_import_then_reimport_updates_the_same_finding(
    aws: MotoSandbox, retry_env: retry.RetryEnv
) -> None:
    sink = _sink(aws, retry_env)
    sink.import_finding(_finding(KeyState.PRESENT))
    sink.import_finding(_finding(KeyState.ABSENT, Verdict.DELETED, later_s=5))
    findings = aws.findings()
    assert len(findings) == 1
    assert findings[0]["Compliance"]["Status"] == "PASSED"
    assert findings[0]["RecordState"] == "ARCHIVED"


def test_failed_count_is_an_error_not_a_log_line(
    aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: list[float]
) -> None:
    bad = _finding(KeyState.PRESENT)
    bad["Resources"] = []  # Security Hub refuses a finding without resources
    with pytest.raises(FindingImportError) as err:
        _sink(aws, retry_env).import_finding(bad)
    assert err.value.code == "InvalidInput"
    assert not err.value.transient
    assert sleeps == []  # a refusal is not retried
    assert aws.findings() == []


def test_botocore_validation_stops_a_malformed_finding_before_it_leaves(
    aws: MotoSandbox, retry_env: retry.RetryEnv
) -> None:
    bad = _finding(KeyState.PRESENT)
    bad["Severity"] = {"Label": 3}
    with pytest.raises(FindingImportError) as err:
        _sink(aws, retry_env).import_finding(bad)
    assert err.value.code == "ParamValidation"
    assert aws.findings() == []
