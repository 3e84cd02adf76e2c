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
from detector.wiring import Runtime, build_runtime
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SandboxStack, sample

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
