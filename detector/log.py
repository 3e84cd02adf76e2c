"""JSON log lines for CloudWatch: one object per line, fields searchable with Logs Insights.

Every line carries the Lambda request id of its invocation and the detector's version.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from detector import __version__

LOGGER_NAME = "root_key_detector"
# Libraries whose debug or info lines can print a secret: botocore logs every response body at
# DEBUG (GetSecretValue's SecretString included), urllib3 and slack_sdk log requests. Lambda's
# JSON log format sets the root logger to the function's application log level, so with DEBUG
# there they would print; held at WARNING here, whatever the root level.
THIRD_PARTY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "slack_sdk", "slack")
THIRD_PARTY_LEVEL = logging.WARNING
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# The Lambda request id of the invocation under way. A process-wide value, not a context
# variable: the pipeline's worker threads do not inherit context variables, and a Lambda
# container runs one invocation at a time.
_request_id: str | None = None


def bind_request(request_id: object) -> str | None:
    """Stamp every log line from now on with ``request_id`` (``None`` or empty: outside an
    invocation); the id now bound."""
    global _request_id  # noqa: PLW0603 - one invocation at a time per process
    _request_id = str(request_id) if request_id else None
    return _request_id


def request_id() -> str | None:
    """The request id log lines carry now."""
    return _request_id


class JsonFormatter(logging.Formatter):
    """Formats a record and its ``extra`` fields as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error_type"] = type(exc).__name__
            doc["error"] = str(exc)
        # Last, so that no ``extra`` field can stand in for them.
        doc["request_id"] = _request_id
        doc["version"] = __version__
        # ensure_ascii: a raw bidi or control character from an event would reorder or hide what
        # a reader of the log sees (Trojan Source); escaped, it is shown and still searchable.
        return json.dumps(doc, default=str, ensure_ascii=True)


def get_logger() -> logging.Logger:
    """The detector's logger (configure it once with :func:`configure`)."""
    return logging.getLogger(LOGGER_NAME)


def configure(level: str = "INFO", stream: Any = None) -> logging.Logger:
    """Send the detector's logs as JSON lines to ``stream`` (stderr by default). Idempotent.

    ``level`` is the detector's own; the libraries in :data:`THIRD_PARTY_LOGGERS` are held at
    WARNING whatever the root logger's level (their loggers set no level of their own, so every
    child logger inherits this one).
    """
    hold_third_party()
    logger = get_logger()
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_detector", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._detector = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger


def hold_third_party() -> None:
    """Hold the loggers of libraries that can print secrets at WARNING. Idempotent."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(THIRD_PARTY_LEVEL)
