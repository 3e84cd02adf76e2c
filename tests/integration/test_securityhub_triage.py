"""BatchUpdateFindings over HTTP against the sandbox's contract layer: the workflow and note set in
the finding's account; an unprocessed finding is an error, a concurrent update a transient one."""

from __future__ import annotations

import pytest

from detector import retry
from detector.adapters.aws import AwsClients
from detector.adapters.securityhub import SecurityHubSink, SecurityHubTriage
from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.event import parse_event
from detector.domain.finding import FindingContext, build_finding
from detector.domain.verdict import classify
from detector.errors import FindingImportError
from sandbox.aws import MotoSandbox, patched_environ
from sandbox.contracts import CONTRACTS
from sandbox.stack import sample


def _filed(aws: MotoSandbox, env: retry.RetryEnv) -> tuple[SecurityHubTriage, dict[str, str]]:
    with patched_environ(aws.env()):
        client = AwsClients(region="us-east-1").client("securityhub")
    event = parse_event(sample("root_create_access_key"))
    verdict = classify(event)
    first = FindingContext.first_observation(event, verdict, "us-east-1")
    finding = build_finding(event, verdict, Confirmation(KeyState.PRESENT, "test"), first)
    SecurityHubSink(lambda _account: client, env).import_finding(finding)
    identifier = {"Id": finding["Id"], "ProductArn": finding["ProductArn"]}
    return SecurityHubTriage(lambda _account: client, env), identifier


def test_the_workflow_and_note_are_set(aws: MotoSandbox, retry_env: retry.RetryEnv) -> None:
    triage, ident = _filed(aws, retry_env)
    triage.set_workflow("123456789012", ident, "NOTIFIED", "Acknowledge by alice", "rkd")
    (finding,) = aws.findings()
    assert finding["Workflow"]["Status"] == "NOTIFIED"
    assert (finding["Note"]["Text"], finding["Note"]["UpdatedBy"]) == (
        "Acknowledge by alice",
        "rkd",
    )


def test_a_concurrent_update_is_retried(
    aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: list[float]
) -> None:
    triage, ident = _filed(aws, retry_env)
    CONTRACTS.securityhub.busy(ident["Id"], 2)
    triage.set_workflow("123456789012", ident, "SUPPRESSED", "why", "rkd")
    assert len(sleeps) == 2
    assert aws.findings()[0]["Workflow"]["Status"] == "SUPPRESSED"


def test_a_finding_still_busy_after_the_retries_is_a_transient_failure(
    aws: MotoSandbox, retry_env: retry.RetryEnv
) -> None:
    triage, ident = _filed(aws, retry_env)
    CONTRACTS.securityhub.busy(ident["Id"], 100)
    with pytest.raises(FindingImportError) as err:
        triage.set_workflow("123456789012", ident, "RESOLVED", "note", "rkd")
    assert (err.value.code, err.value.transient) == ("ConcurrentUpdateError", True)
    assert aws.findings()[0]["Workflow"]["Status"] == "NEW"


def test_an_unknown_finding_is_a_permanent_failure(
    aws: MotoSandbox, retry_env: retry.RetryEnv, sleeps: list[float]
) -> None:
    triage, ident = _filed(aws, retry_env)
    with pytest.raises(FindingImportError) as err:
        triage.set_workflow(
            "123456789012", {**ident, "Id": ident["Id"] + "x"}, "NOTIFIED", "n", "r"
        )
    assert (err.value.code, err.value.transient) == ("FindingNotFound", False)
    assert sleeps == []
