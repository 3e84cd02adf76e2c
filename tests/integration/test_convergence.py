"""An older event's import that lands after a newer event finished is superseded, even when the
older event's attempt then fails (here: Slack refuses it)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from detector import pipeline, retry
from detector.config import Settings
from detector.errors import DetectorError
from detector.wiring import Runtime, build_runtime
from sandbox.aws import LEDGER_TABLE
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SLACK_CHANNEL, SandboxStack, sample

SLOW_S = 0.3  # every AWS call of the older event's invocation


def _runtime(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *services: str) -> Runtime:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # botocore reads the endpoint when a client is made
    runtime = build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv(sleep=lambda _s: 0))
    for service in services:
        runtime.clients.client(service)
    return runtime


def _envelope(record: dict[str, Any]) -> dict[str, Any]:
    return {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": record}


def test_a_late_older_import_in_a_failed_attempt_does_not_win(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    update = json.loads(json.dumps(create))
    update |= {
        "eventName": "UpdateAccessKey",
        "eventID": str(uuid.uuid4()),
        "eventTime": create["eventTime"].replace("Z", "").rsplit(":", 1)[0] + ":59Z",
        "requestParameters": {"accessKeyId": "AKIAZSANDBOXDEMO7Q2X", "status": "Inactive"},
        "responseElements": None,
    }
    with AwsFaultProxy(latency_s=SLOW_S) as slow:
        # The older event's invocation: slow AWS calls, and a Slack channel that refuses it.
        older = _runtime(
            {
                **sandbox.detector_env(),
                "AWS_ENDPOINT_URL": slow.endpoint_url,
                "SLACK_CHANNEL_ID": "C0ARCHIVED1",
            },
            monkeypatch,
            "dynamodb",
            "iam",
            "securityhub",
        )
        newer = _runtime(sandbox.detector_env(), monkeypatch)
        failures: list[BaseException] = []

        def handle_older() -> None:
            try:
                pipeline.run(_envelope(create), older.deps)
            except pipeline.PipelineError as exc:
                failures.append(exc)

        thread = threading.Thread(target=handle_older)
        thread.start()
        # The older event has claimed "newest" (round 1); its import is on its way when the
        # newer event is handled from start to finish.
        time.sleep(SLOW_S * 1.5)
        try:
            (outcome,) = pipeline.run(_envelope(update), newer.deps)
        except pipeline.PipelineError as exc:  # its reply waits for the key's alert: retried
            outcome = exc.outcome
        thread.join(timeout=30)

    assert "finding-imported" in outcome.actions
    assert len(failures) == 1  # Slack refused the older event: it will be retried
    (finding,) = sandbox.aws.findings()
    assert finding["Resources"][0]["Details"]["AwsIamAccessKey"]["Status"] == "Inactive"


def test_an_unsettled_finding_reopens_the_event_and_its_retry_settles_it(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 3 marks the event done beside settling the finding. When settling fails (here:
    DynamoDB refuses it through every retry), the event must not stay done: the retry would
    skip it and the key's state would stay unrecorded, with nothing left to repair it."""
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    refusing = threading.Event()
    refusing.set()

    def refuse(target: str, body: bytes) -> bool:
        # The settle write (finalize_finding) is the only one that sets finding_event.
        return refusing.is_set() and target.endswith(".UpdateItem") and b"finding_event" in body

    with AwsFaultProxy(refuse=refuse) as proxy:
        runtime = _runtime(
            {**sandbox.detector_env(), "AWS_ENDPOINT_URL": proxy.endpoint_url}, monkeypatch
        )
        with pytest.raises(DetectorError) as first:
            pipeline.run(_envelope(create), runtime.deps)
        refusing.clear()
        (retried,) = pipeline.run(_envelope(create), runtime.deps)

    assert "already-done" not in retried.actions  # the retry did the missing step
    assert "finding-imported" in retried.actions
    assert "alerted" not in retried.actions  # the alert was posted once, by the first attempt
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert retried.slack_ts == alert.ts
    state = sandbox.aws.client("dynamodb").get_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": f"FINDING#{retried.finding_id}"}, "sk": {"S": "STATE"}},
        ConsistentRead=True,
    )["Item"]
    assert state["finding_event"]["S"] == create["eventID"]  # settled: later events rely on it
    (finding,) = sandbox.aws.findings()
    assert finding["Id"] == retried.finding_id
    # The first attempt said what failed and what it had done.
    assert isinstance(first.value, pipeline.PipelineError)
    assert "InternalServerError" in str(first.value)
    assert "finding-imported" in first.value.outcome.actions
    # A third delivery finds the event done.
    (again,) = pipeline.run(_envelope(create), runtime.deps)
    assert again.actions == ["already-done"]
