"""A container's first event keeps what it built out of the collected generations."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector import handler, pipeline
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_the_first_event_freezes_its_clients_and_warm_events_collect_as_usual(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.aws.set_root_key_present(True)
    collecting: list[bool] = []
    real_run = pipeline.run

    def run(doc: Any, deps: pipeline.Dependencies) -> list[pipeline.Outcome]:
        collecting.append(gc.isenabled())
        return real_run(doc, deps)

    monkeypatch.setattr(handler.pipeline, "run", run)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    assert "alerted" in handler.lambda_handler(event, None)["results"][0]["actions"]
    assert handler.lambda_handler(event, None)["processed"] == 1  # warm: a redelivery

    assert collecting == [False, True]  # the first event only: no collections meanwhile
    assert gc.isenabled()
    dynamodb = handler.runtime().clients.client("dynamodb")  # created by the first event
    assert not any(o is dynamodb for o in gc.get_objects())


COLD_CHILD = """
import json, sys
from detector.handler import lambda_handler
out = lambda_handler(json.loads(sys.stdin.read()), None)
unneeded = ("boto3", "s3transfer", "detector.sweep", "detector.domain.reconcile",
            "detector.adapters.organizations")
print(json.dumps({"actions": out["results"][0]["actions"],
                  "imported": sorted(m for m in unneeded if m in sys.modules)}))
"""


def test_a_cold_process_alerts_without_importing_the_boto3_package(sandbox: SandboxStack) -> None:
    # Its clients come from botocore itself (no boto3, no s3transfer); the sweep's modules stay
    # off an event's cold start.
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    proc = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", COLD_CHILD],
        input=json.dumps(event),
        env={**os.environ, **sandbox.detector_env()},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout.splitlines()[-1])  # after the invocation's EMF metrics line
    assert "alerted" in out["actions"]
    assert out["imported"] == []
