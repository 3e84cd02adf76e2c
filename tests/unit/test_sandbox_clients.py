"""The sandbox's seeding clients: one per service, region, endpoint and account."""

from __future__ import annotations

import threading
from typing import Any

from sandbox.aws import MotoSandbox


def test_one_client_per_service_region_endpoint_and_account() -> None:
    sandbox = MotoSandbox(port=4566)  # not started: making a client connects nowhere
    iam = sandbox.client("iam")
    assert sandbox.client("iam") is iam
    assert sandbox.client("iam", "eu-west-1") is not iam
    assert sandbox.client("sts") is not iam
    member = sandbox.client("iam", account_id="111111111111")
    assert member is not iam
    assert sandbox.client("iam", account_id="111111111111") is member
    sandbox.port = 4567  # a restarted server on another port gets clients of its own
    moved = sandbox.client("iam")
    assert moved is not iam
    assert moved.meta.endpoint_url == "http://127.0.0.1:4567"


def test_threads_asking_at_once_share_one_client() -> None:
    sandbox = MotoSandbox(port=4566)
    start = threading.Barrier(8)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(sandbox.client("dynamodb"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8
    assert all(client is got[0] for client in got)
