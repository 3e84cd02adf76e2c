"""A key's story end to end: one top-level alert, one reply per later event, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web import WebClient

from detector import handler
from detector.adapters.ledger import DynamoLedger
from detector.domain.finding import finding_id
from detector.domain.message import METADATA_EVENT_TYPE
from detector.errors import PipelineError
from detector.wiring import runtime_from_env
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN
from sandbox.stack import SandboxStack, lambda_failure_record, sample

pytestmark = pytest.mark.usefixtures("detector_env")
KEY = "AKIAZSANDBOXDEMO7Q2X"  # the key sample("root_create_access_key") creates


def _later(record: dict[str, Any], seconds: int) -> str:
    t = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (t + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lifecycle(create: dict[str, Any], name: str, seconds: int, status: str | None = None):
    record = json.loads(json.dumps(create))
    record["eventName"] = name
    record["eventID"] = str(uuid.uuid4())
    record["eventTime"] = _later(create, seconds)
    record["requestParameters"] = {"accessKeyId": KEY, **({"status": status} if status else {})}
    record["responseElements"] = None
    return record


def _handle(sandbox: SandboxStack, *records: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for record in records:
        sandbox.put_cloudtrail_event(record)
        for event in sandbox.receive_routed():
            results.extend(handler.lambda_handler(event, None)["results"])
    return results


def test_create_deactivate_delete_is_one_alert_with_its_story_in_the_thread(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    deactivate = _lifecycle(create, "UpdateAccessKey", 60, "Inactive")
    delete = _lifecycle(create, "DeleteAccessKey", 120)

    _handle(sandbox, create, deactivate)
    (finding,) = sandbox.aws.findings()
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["Resources"][0]["Details"]["AwsIamAccessKey"]["Status"] == "Inactive"

    sandbox.aws.set_root_key_present(False)
    results = _handle(sandbox, delete)
    assert results[0]["confirmation"] == "ABSENT"

    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    replies = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert [r.payload["metadata"]["event_payload"]["verdict"] for r in replies] == [
        "root-key-deactivated",
        "root-key-deleted",
    ]
    assert "Root access key deleted" in (alert.text or "")  # top-level shows it resolved
    assert alert.edits  # ...by an update, not a new message
    (finding,) = sandbox.aws.findings()
    assert finding["Compliance"]["Status"] == "PASSED"
    assert finding["RecordState"] == "ARCHIVED"


def test_delete_of_a_key_alerted_before_deployment_resolves_and_posts(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(False)
    delete = _lifecycle(sample("root_create_access_key"), "DeleteAccessKey", 5)
    _handle(sandbox, delete)
    (finding,) = sandbox.aws.findings()
    assert finding["RecordState"] == "ARCHIVED"
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert "deleted" in (alert.text or "")


def test_redelivered_event_alerts_once(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    first = handler.lambda_handler(event, None)["results"][0]
    again = handler.lambda_handler(event, None)["results"][0]
    assert "alerted" in first["actions"]
    assert again["status"] == "duplicate"
    assert again["actions"] == []
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1
    assert len(sandbox.aws.findings()) == 1


def test_concurrent_invocations_of_one_event_alert_once(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    sandbox.slack.set_latency(0.3)  # keep the first invocation busy while the second arrives
    outcomes: list[str] = []

    def invoke() -> None:
        try:
            result = handler.lambda_handler(event, None)["results"][0]
            outcomes.append(",".join([result["status"], *result["actions"]]))
        except PipelineError as exc:
            outcomes.append(f"pipeline:{exc}")
        except Exception as exc:  # noqa: BLE001 - the busy invocation raises for a retry
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1, outcomes
    # One did the work; the other was told the event is busy (retry) or already done.
    assert len([o for o in outcomes if "alerted" in o]) == 1, outcomes
    assert len([o for o in outcomes if o in {"LedgerBusy", "duplicate"}]) == 1, outcomes


def test_notice_for_a_user_key_is_posted_once_without_a_finding(sandbox: SandboxStack) -> None:
    record = sample("root_create_access_key")
    record["requestParameters"] = {"userName": "deploy-bot"}
    results = _handle(sandbox, record)
    assert results[0]["verdict"] == "root-created-user-key"
    (notice,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert "deploy" in json.dumps(notice.payload)
    assert sandbox.aws.findings() == []


def test_partial_success_completes_on_redrive_without_a_second_finding_or_alert(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()

    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0ARCHIVED1")  # Slack refuses: channel_not_found
    with pytest.raises(PipelineError):
        handler.lambda_handler(event, None)
    assert len(sandbox.aws.findings()) == 1
    assert sandbox.slack.top_level(SLACK_CHANNEL) == []

    # The event lands in the DLQ (as Lambda's on-failure destination writes it) ...
    sqs = sandbox.aws.client("sqs")
    dlq = sqs.create_queue(QueueName="root-key-detector-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=lambda_failure_record(event))
    # ... and once the channel is fixed, the operator redrives it.
    env = {**os.environ, "SLACK_CHANNEL_ID": SLACK_CHANNEL}
    proc = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", "redrive", "--queue-url", dlq],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])["redrive"]
    assert summary["redriven"] == 1
    assert summary["failed"] == 0
    assert sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1
    assert len(sandbox.aws.findings()) == 1


def test_a_retry_finds_the_alert_a_dead_attempt_posted_and_does_not_post_again(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    sandbox.put_cloudtrail_event(create)
    (event,) = sandbox.receive_routed()
    event_id = create["eventID"]
    fid = finding_id(create["recipientAccountId"], KEY)
    # An invocation claimed the event and the key's alert, posted the alert, and died before
    # recording it, a minute ago: its leases (30 s) have run out.
    env = runtime_from_env()
    ledger = DynamoLedger(
        lambda: env.clients.client("dynamodb"),
        env.settings.ledger_table,
        env.deps.retry_env,
        clock=lambda: time.time() - 60,
    )
    ledger.begin_event(event_id, "root-key-created", 30)
    ledger.claim_alert(fid, event_id, 30)
    posted = WebClient(token=SLACK_TOKEN, base_url=sandbox.slack.base_url).chat_postMessage(
        channel=SLACK_CHANNEL,
        text="Root access key created (posted by the attempt that died)",
        metadata={
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": {
                "event_id": event_id,
                "verdict": "root-key-created",
                "finding_id": fid,
            },
        },
    )

    (result,) = handler.lambda_handler(event, None)["results"]

    assert "found-posted" in result["actions"]
    assert result["slack_ts"] == posted["ts"]
    assert [m.ts for m in sandbox.slack.top_level(SLACK_CHANNEL)] == [posted["ts"]]
    # The found alert is the key's: the deletion replies in its thread.
    sandbox.aws.set_root_key_present(False)
    _handle(sandbox, _lifecycle(create, "DeleteAccessKey", 600))
    assert len(sandbox.slack.replies(SLACK_CHANNEL, posted["ts"])) == 1
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1


def test_a_first_attempt_posts_without_reading_the_channel(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(True)
    _handle(sandbox, sample("root_create_access_key"))
    methods = [r.method for r in sandbox.slack.requests]
    assert methods.count("chat.postMessage") == 1
    assert "conversations.history" not in methods


def test_an_alert_whose_answer_times_out_is_posted_once(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack took the post but answered after the client gave up: a retry of the post in the
    same attempt would alert twice, so the channel is read first."""
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "1")
    sandbox.aws.set_root_key_present(True)
    sandbox.slack.inject("delay", methods="chat.postMessage", delay=1.5)
    results = _handle(sandbox, sample("root_create_access_key"))
    assert "found-posted" in results[0]["actions"]
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1
