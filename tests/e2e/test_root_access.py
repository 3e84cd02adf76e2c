"""Centralized root access end to end on the sandbox: the daily sweep finds a member account's
root key by its id in an audit root session, a call signed with that key is a reply in the
key's thread, and two responders remove it in a delete root session (sts:AssumeRoot as the
sandbox plays it), ending with the finding resolved and IAM no longer listing the key."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector import handler, interact
from detector.config import Settings
from detector.domain.finding import finding_id
from detector.log import configure, get_logger
from detector.wiring import Runtime, build_runtime
from sandbox.aws import ACCOUNT_ID, SLACK_CHANNEL
from sandbox.function_url import FunctionUrl
from sandbox.slack_emulator import StoredMessage
from sandbox.stack import ALICE, RITA, SandboxStack

ROLE = "root-key-detector-member"
REMOVE, CONFIRM = "root_remove_key", "root_confirm_removal"


@pytest.fixture
def member(sandbox: SandboxStack) -> str:
    """An organization whose management account is the detector's, with one member account
    (Security Hub on in both), centralized root access on, and each account's records routed."""
    return sandbox.root_access_organization()


@pytest.fixture
def env(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO, member: str
) -> Iterator[dict[str, str]]:
    values = {
        **sandbox.interactivity_env(),
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
        "CENTRALIZED_ROOT_ACCESS": "true",
        "ROOT_KEY_REMOVAL": "true",
        "ROOT_KEY_REMOVAL_DRY_RUN": "false",
        "LOG_LEVEL": "INFO",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler, "_runtime", None)
    configure("INFO", stream=logs)
    with FunctionUrl(interact.lambda_handler) as url:
        sandbox.slack.interactivity.request_url = url.url
        yield values
    for h in list(get_logger().handlers):
        get_logger().removeHandler(h)


def runtime(values: dict[str, str]) -> Runtime:
    return build_runtime(Settings.from_env(values))


def deliver(sandbox: SandboxStack) -> list[dict[str, Any]]:
    """Hand every routed event to the handler, as Lambda would; their summaries."""
    return [handler.lambda_handler(event, None) for event in sandbox.receive_routed()]


def thread(sandbox: SandboxStack, alert: StoredMessage) -> list[str]:
    return [
        json.dumps(r.blocks) + (r.text or "")
        for r in sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    ]


def member_finding(sandbox: SandboxStack, account: str) -> dict[str, Any]:
    (finding,) = sandbox.aws.findings(account)
    return finding


def test_the_sweep_finds_a_member_root_key_by_its_id(
    sandbox: SandboxStack, env: dict[str, str], member: str
) -> None:
    created = datetime.now(UTC) - timedelta(days=40)
    key = sandbox.aws.add_root_key(member, created=created)

    summary = runtime(env).sweep()

    assert summary.counts.get("alerted") == 1
    finding = member_finding(sandbox, member)
    assert finding["Id"] == finding_id(member, key)  # the key's own finding, as an event's
    resource = next(r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey")
    assert key in resource["Id"]
    assert resource["Details"]["AwsIamAccessKey"]["Status"] == "Active"
    (alert, digest) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert key[-4:] in json.dumps(alert.blocks)
    assert "sweep" in (digest.text or "")
    # The management account's root is asked as before (no root session reaches it).
    assert all(r.account != ACCOUNT_ID or r.status.value != "failed" for r in summary.results)


def test_a_call_signed_with_the_alerted_key_is_a_reply_in_its_thread(
    sandbox: SandboxStack, env: dict[str, str], member: str
) -> None:
    key = sandbox.aws.add_root_key(member, created=datetime.now(UTC) - timedelta(days=3))
    runtime(env).sweep()
    alert = sandbox.slack.top_level(SLACK_CHANNEL)[0]
    deliver(sandbox)  # the sweep's own root session leaves records: none is a use

    # CloudTrail's times are whole seconds: the use comes a second after the sweep's import
    # (the finding records a use only if it is newer than the finding's state).
    sandbox.aws.set_clock(datetime.now(UTC) + timedelta(seconds=2))
    sandbox.aws.use_root_key(member, key, event_name="RunInstances")
    (first,) = deliver(sandbox)
    assert first["results"][0].get("key_use")
    (reply,) = thread(sandbox, alert)
    assert "RunInstances" in reply
    # A second use within the hour is counted, not posted.
    sandbox.aws.use_root_key(member, key, event_name="TerminateInstances")
    deliver(sandbox)
    assert len(thread(sandbox, alert)) == 1
    fields = member_finding(sandbox, member)["ProductFields"]
    assert any(k.endswith("/LastUsedAt") for k in fields)


def test_two_responders_remove_the_key_in_a_delete_root_session(
    sandbox: SandboxStack, env: dict[str, str], member: str, logs: io.StringIO
) -> None:
    key = sandbox.aws.add_root_key(member, created=datetime.now(UTC) - timedelta(days=3))
    other = sandbox.aws.add_root_key(member, created=datetime.now(UTC) - timedelta(days=2))
    runtime(env).sweep()
    alert = next(
        m for m in sandbox.slack.top_level(SLACK_CHANNEL) if key[-4:] in json.dumps(m.blocks)
    )

    assert sandbox.slack.click(ALICE, SLACK_CHANNEL, alert.ts, REMOVE).status == 200
    assert sandbox.run_jobs(interact.lambda_handler) == [{"triage": "requested"}]
    assert sandbox.slack.click(RITA, SLACK_CHANNEL, alert.ts, CONFIRM).status == 200
    sandbox.run_jobs(interact.lambda_handler)

    assert [k.key_id for k in sandbox.aws.root_keys(member)] == [other]  # that key only
    finding = next(f for f in sandbox.aws.findings(member) if f["Id"] == finding_id(member, key))
    assert finding["Workflow"]["Status"] == "RESOLVED"
    assert "alice" in finding["Note"]["Text"]
    assert "rita" in finding["Note"]["Text"]
    outcome = thread(sandbox, alert)[-1]
    assert "alice (U0ALICE)" in outcome
    assert "rita (U0RITA)" in outcome
    assert "DeleteAccessKey" in outcome
    assert "key removal done" in logs.getvalue()
    # The removal's own DeleteAccessKey reaches the detector as a root record of the member.
    results = deliver(sandbox)
    verdicts = [r["results"][0]["verdict"] for r in results]
    assert "root-key-deleted" in verdicts
