"""End-to-end fixtures: the sandbox stack, and the handler reading its environment."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from detector import handler
from detector.log import configure, get_logger
from sandbox.stack import SandboxStack


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the detector logs during the test, as JSON lines."""
    buffer = io.StringIO()
    yield buffer
    for h in list(get_logger().handlers):
        get_logger().removeHandler(h)


@pytest.fixture
def detector_env(sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO) -> None:
    """The Lambda's environment pointing at the sandbox, and a fresh container."""
    for key, value in sandbox.detector_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(handler, "_runtime", None)
    configure("DEBUG", stream=logs)
