"""Integration fixtures: one moto server and one Slack emulator per session, reset per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detector import retry
from sandbox.aws import MotoSandbox
from sandbox.slack_emulator import SlackEmulator
from sandbox.stack import SandboxStack


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
