"""With the root logger at DEBUG (Lambda's application log level DEBUG), libraries that print
request and response bodies stay at WARNING; the detector's own DEBUG lines still appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from detector import retry
from detector.adapters.secrets import SlackSecret
from detector.log import THIRD_PARTY_LOGGERS, configure, get_logger
from sandbox.aws import SLACK_TOKEN, TOKEN_SECRET_NAME, MotoSandbox

LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "slack_sdk", "slack")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def root_at_debug() -> Iterator[_Keep]:
    """The root logger at DEBUG with a handler keeping every record; libraries unconfigured."""
    root, detector = logging.getLogger(), get_logger()
    before = root.level
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)
    for handler in list(detector.handlers):
        detector.removeHandler(handler)
    keep = _Keep()
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    yield keep
    root.removeHandler(keep)
    root.setLevel(before)
    for handler in list(detector.handlers):
        detector.removeHandler(handler)


def test_reading_the_secret_at_debug_prints_it_nowhere(
    aws: MotoSandbox, root_at_debug: _Keep
) -> None:
    lines = io.StringIO()
    configure("DEBUG", stream=lines)
    secret = SlackSecret(lambda: aws.client("secretsmanager"), TOKEN_SECRET_NAME, retry.RetryEnv())

    assert secret.bot_token() == SLACK_TOKEN
    get_logger().debug("the detector's own debug line", extra={"step": "secret"})

    library = [r for r in root_at_debug.records if r.name.split(".")[0] in LIBRARIES]
    assert [r for r in library if r.levelno < logging.WARNING] == []
    assert not [r for r in root_at_debug.records if SLACK_TOKEN in repr(vars(r))]
    (own,) = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert (own["level"], own["message"], own["step"]) == (
        "DEBUG",
        "the detector's own debug line",
        "secret",
    )


def test_the_libraries_stay_at_warning_whatever_the_root_level(root_at_debug: _Keep) -> None:
    assert set(LIBRARIES) <= set(THIRD_PARTY_LOGGERS)
    configure("DEBUG", stream=io.StringIO())
    for name in THIRD_PARTY_LOGGERS:
        for logger in (logging.getLogger(name), logging.getLogger(f"{name}.anything")):
            assert logger.getEffectiveLevel() == logging.WARNING, logger.name
    assert get_logger().isEnabledFor(logging.DEBUG)
