"""Integration fixtures: one moto server and one Slack emulator per session, reset per test."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from detector import retry
from sandbox.aws import MotoSandbox
from sandbox.slack_emulator import SlackEmulator
from sandbox.stack import SandboxStack


@pytest.fixture(scope="session")
def stack() -> Iterator[SandboxStack]:
    with SandboxStack() as running:
        yield running


@pytest.fixture
def sandbox(stack: SandboxStack) -> Iterator[SandboxStack]:
    """The running stack, returned to its seeded state after each test."""
    yield stack
    _reset_moto(stack.aws)
    stack.slack.reset()
    stack.aws.seed(webhook_url=stack.slack.webhook_url)
    stack._route_to_queue()  # noqa: SLF001 - re-create what the reset removed


def _reset_moto(aws: MotoSandbox) -> None:
    req = urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback sandbox
        resp.read()


@pytest.fixture
def aws(sandbox: SandboxStack) -> MotoSandbox:
    return sandbox.aws


@pytest.fixture
def slack(sandbox: SandboxStack) -> SlackEmulator:
    return sandbox.slack


class Sleeps(list[float]):
    """An injected sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry_env(sleeps: Sleeps) -> retry.RetryEnv:
    return retry.RetryEnv(sleep=sleeps)


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
