"""A container's first event keeps what it built out of the collected generations."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from detector import handler, pipeline
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")


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
