"""``redrive --dry-run`` and ``sweep --dry-run`` as an operator runs them: they say what they
would do, and the sandbox shows that nothing changed (no finding, no Slack post, no ledger
item, no message deleted)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.aws import SLACK_CHANNEL
from sandbox.stack import SandboxStack, lambda_failure_record, sample
from tests.e2e.test_cli import _run


def _ledger_items(sandbox: SandboxStack) -> int:
    table = sandbox.detector_env()["LEDGER_TABLE"]
    return int(sandbox.aws.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


def _nothing_changed(sandbox: SandboxStack) -> None:
    assert sandbox.aws.findings() == []
    assert sandbox.slack.messages(SLACK_CHANNEL) == []
    assert _ledger_items(sandbox) == 0


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_redrive_dry_run_says_what_it_would_do_and_deletes_nothing(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    sqs = sandbox.aws.client("sqs")
    dlq = sqs.create_queue(QueueName="root-key-detector-dlq")["QueueUrl"]
    event = {
        "version": "0",
        "id": "5d0c1c1e-8d1a-4b7e-9f59-2f4f0c0f9a01",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": "123456789012",
        "detail": sample("root_create_access_key"),
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=lambda_failure_record(event))
    sqs.send_message(QueueUrl=dlq, MessageBody=lambda_failure_record({"detector": "sweep"}))

    proc = _run("redrive", "--queue-url", dlq, "--dry-run", env=sandbox.detector_env())

    assert proc.returncode == 0, proc.stderr
    *lines, last = _lines(proc.stdout)
    assert last["redrive"]["dry_run"] is True
    assert (last["redrive"]["received"], last["redrive"]["redriven"]) == (2, 2)
    would = {line["would"]: line for line in lines}
    assert set(would) == {"process", "run the sweep"}
    (record,) = would["process"]["records"]
    assert (record["verdict"], record["account"]) == ("root-key-created", "123456789012")
    _nothing_changed(sandbox)
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    held = int(attributes["ApproximateNumberOfMessages"])
    held += int(attributes["ApproximateNumberOfMessagesNotVisible"])
    assert held == 2  # both still in the queue


def test_sweep_dry_run_says_what_it_would_do_and_does_nothing(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(True)

    proc = _run("sweep", "--dry-run", env=sandbox.detector_env())

    assert proc.returncode == 0, proc.stderr
    account, summary = _lines(proc.stdout)
    assert account["status"] == "alerted"
    assert account["detail"] == "would: alert a root key no record covers"
    assert summary["sweep"]["dry_run"] is True
    _nothing_changed(sandbox)

    # The same sweep for real does what the dry run said.
    proc = _run("sweep", env=sandbox.detector_env())
    assert proc.returncode == 0, proc.stderr
    assert len(sandbox.aws.findings()) == 1
