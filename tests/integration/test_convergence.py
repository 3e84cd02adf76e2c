"""The delivery protocol against the sandbox: what one attempt leaves behind when a write fails,
and how its retry finishes the event. (Chosen interleavings run against in-memory fakes in
tests/unit/test_delivery_interleavings.py.)"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from detector import pipeline, retry
from detector.config import Settings
from detector.domain.delivery import Action, Status
from detector.errors import DetectorError, PipelineError
from detector.wiring import Runtime, build_runtime
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


def test_an_unrecorded_state_reopens_the_event_and_its_retry_records_it(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 3 marks the event done beside recording the key's state. When recording fails
    (here: DynamoDB refuses it through every retry), the event must not stay done: the retry
    would skip it and the ledger would never learn the key's state (the sweep reads it)."""
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    refusing = threading.Event()
    refusing.set()

    def refuse(target: str, body: bytes) -> bool:
        # Recording the key's state is the only write that sets "observed".
        return refusing.is_set() and target.endswith(".UpdateItem") and b"observed = :t" in body

    with AwsFaultProxy(refuse=refuse) as proxy:
        runtime = _runtime(
            {**sandbox.detector_env(), "AWS_ENDPOINT_URL": proxy.endpoint_url}, monkeypatch
        )
        with pytest.raises(DetectorError) as first:
            pipeline.run(_envelope(create), runtime.deps)
        refusing.clear()
        (retried,) = pipeline.run(_envelope(create), runtime.deps)
        # A third delivery, and the ledger read, through the endpoint while it still serves.
        (again,) = pipeline.run(_envelope(create), runtime.deps)
        assert retried.finding_id is not None
        record = runtime.deps.ledger.read_key(retried.finding_id)

    assert retried.status is Status.HANDLED  # the retry did the missing step
    assert Action.FINDING_IMPORTED not in retried.actions  # imported once, by the first
    assert Action.ALERTED not in retried.actions  # the alert was posted once, by the first
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    assert retried.slack_ts == alert.ts
    assert record is not None
    assert record.open
    assert record.finding is not None
    (finding,) = sandbox.aws.findings()
    assert finding["Id"] == retried.finding_id == record.finding["Id"]
    # The first attempt said what failed and what it had done.
    assert isinstance(first.value, PipelineError)
    assert "InternalServerError" in str(first.value)
    assert Action.FINDING_IMPORTED in first.value.outcome.actions
    # The third delivery found the event done.
    assert again.status is Status.DUPLICATE
