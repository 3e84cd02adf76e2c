"""Shared fixtures: one sandbox (moto server + Slack emulator) per session, reset per test.

moto keeps its state in-process, so exactly one stack may exist: fixtures live here, once.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from sandbox.aws import MotoSandbox
from sandbox.stack import SandboxStack


@pytest.fixture(scope="session")
def stack() -> Iterator[SandboxStack]:
    with SandboxStack() as running:
        yield running


@pytest.fixture
def sandbox(stack: SandboxStack) -> Iterator[SandboxStack]:
    """The running stack, returned to its seeded state after each test."""
    yield stack
    reset_stack(stack)


def reset_stack(stack: SandboxStack) -> None:
    """Return the session's stack to its seeded state (moto emptied, Slack forgotten)."""
    _reset_moto(stack.aws)
    stack.slack.reset()
    stack.aws.seed(webhook_url=stack.slack.webhook_url)
    stack._route_to_queue()


def _reset_moto(aws: MotoSandbox) -> None:
    url = f"{aws.endpoint_url}/moto-api/reset"  # always http://127.0.0.1:<port>
    req = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        resp.read()
