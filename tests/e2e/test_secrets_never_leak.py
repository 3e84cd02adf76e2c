"""A Slack secret is never shown, well-formed or not, on every path that reads or uses it.

Each path runs as Lambda (or an operator) would run it, with the root logger at DEBUG as
Lambda's JSON log format sets it for the application log level DEBUG, and a secret that is
malformed the ways a hurried operator gets it wrong (a line break inside, a trailing comment,
control characters, the wrong kind of token or URL, JSON with a bad value) or well-formed. The
secret's text must then be nowhere: not in the detector's JSON lines, not in any record of any
Python logger, not in what the process wrote to stdout or stderr, not in a raised error or
anything chained to it, not in the on-failure record Lambda would put in the dead-letter queue,
not in a return value. A malformed secret must show up as the error's name (``SecretError``)
and the problem, and a well-formed one must work.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from detector import cli, handler
from detector.adapters.ledger import DynamoLedger
from detector.domain.finding import finding_id
from detector.wiring import runtime_from_env
from sandbox.aws import TOKEN_SECRET_NAME, WEBHOOK_SECRET_NAME
from sandbox.slack_emulator import APP_BOT
from sandbox.stack import SLACK_CHANNEL, SandboxStack, lambda_failure_record, sample

pytestmark = pytest.mark.usefixtures("detector_env")

KEY = "AKIAZSANDBOXDEMO7Q2X"  # the key sample("root_create_access_key") creates
# Every secret below carries both fragments, one on each side of whatever is wrong with it: a
# leak of any part of the value shows at least one of them.
A, B = "Q7vXkq", "Zr4Kwm"
HOOK = "https://hooks.slack.com/services/T0SANDBOX/B0SANDBOX"
# The libraries a Lambda's root logger would hear from; they start at no level of their own.
LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "slack_sdk", "slack")
# The sandbox runs in this process; its own loggers are not the Lambda's.
SANDBOX_LOGGERS = ("moto", "werkzeug", "sandbox", "flask")


@dataclass(frozen=True)
class Secret:
    """A secret as stored in Secrets Manager, and the fragments that must never be shown."""

    name: str
    mode: str  # "bot" or "webhook"
    value: str | None  # None: the emulator's own webhook URL (well-formed)
    markers: tuple[str, ...] = (A, B)

    @property
    def valid(self) -> bool:
        return self.name == "well-formed"


SECRETS = [
    Secret("line-break", "bot", f"xoxb-1111-2222-{A}\n{B}"),
    Secret("trailing-comment", "bot", f"xoxb-1111-2222-{A}{B} # prod bot, rotated by ops"),
    Secret("control-chars", "bot", f"xoxb-1111-2222-{A}\x1b[0m{B}\x00"),
    Secret("wrong-prefix", "bot", f"xoxp-1111-2222-{A}{B}"),
    Secret("json-bad-value", "bot", json.dumps({"token": f"xoxb-1111-2222-{A}\t{B}"})),
    Secret("well-formed", "bot", json.dumps({"token": f"xoxb-1111-2222-{A}{B}"})),
    Secret("line-break", "webhook", f"{HOOK}/{A}\n{B}"),
    Secret("trailing-comment", "webhook", f"{HOOK}/{A}{B} # the alerts channel"),
    Secret("control-chars", "webhook", f"{HOOK}/{A}\x07{B}\x7f"),
    Secret("wrong-prefix", "webhook", f"http://hooks.slack.com/services/T0SANDBOX/{A}/{B}"),
    Secret("json-bad-value", "webhook", json.dumps({"url": f"{HOOK}/{A} {B}"})),
    Secret("well-formed", "webhook", None, ("sandboxwebhooksecret",)),
]


@dataclass
class Run:
    """Everything a path produced that someone could read later."""

    sandbox: SandboxStack
    returns: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    dlq_records: list[str] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> None:
        """One asynchronous invocation of the handler; a failure leaves an on-failure record."""
        try:
            self.returns.append(handler.lambda_handler(event, None))
        except Exception as exc:  # noqa: BLE001 - what Lambda would record is examined
            self.errors.append(exc)
            self.dlq_records.append(lambda_failure_record(event, exc=exc))

    def routed(self, record: dict[str, Any]) -> dict[str, Any]:
        self.sandbox.put_cloudtrail_event(record)
        (event,) = self.sandbox.receive_routed()
        return event


def _user_key_notice() -> dict[str, Any]:
    record = sample("root_create_access_key")
    record["eventID"] = str(uuid.uuid4())
    record["requestParameters"] = {"userName": "deploy-bot"}
    return record


def cold_start_and_warm_post(run: Run) -> None:
    """A new container's first event (reads the secret, posts), then a warm one (posts)."""
    run.sandbox.aws.set_root_key_present(True)
    run.invoke(run.routed(sample("root_create_access_key")))
    run.invoke(run.routed(_user_key_notice()))


def retry_after_a_dead_attempt(run: Run) -> None:
    """A retry whose predecessor died unrecorded: it looks for that post (find_posted)."""
    run.sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    event = run.routed(create)
    env = runtime_from_env()
    ledger = DynamoLedger(
        lambda: env.clients.client("dynamodb"),
        env.settings.ledger_table,
        env.deps.retry_env,
        clock=lambda: time.time() - 60,
    )
    ledger.begin_event(create["eventID"], "root-key-created", 30)
    ledger.claim_alert(finding_id(create["recipientAccountId"], KEY), create["eventID"], 30)
    run.invoke(event)


def sweep_and_digest(run: Run) -> None:
    """The daily sweep finds root's key: an alert, then the digest."""
    run.sandbox.aws.set_root_key_present(True)
    run.invoke({"detector": "sweep"})


def redrive_from_the_dlq(run: Run) -> None:
    """An operator replays the dead-letter queue with ``python -m detector redrive``."""
    run.sandbox.aws.set_root_key_present(True)
    event = run.routed(sample("root_create_access_key"))
    sqs = run.sandbox.aws.client("sqs")
    url = sqs.create_queue(QueueName="root-key-detector-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=lambda_failure_record(event, "Unhandled"))
    out = io.StringIO()
    try:
        code = cli.main(["redrive", "--queue-url", url, "--max", "1"], out=out)
    except Exception as exc:  # noqa: BLE001 - examined like any other error
        run.errors.append(exc)
        code = None
    run.returns.append({"exit": code, "printed": out.getvalue()})


PATHS: dict[str, tuple[Callable[[Run], None], tuple[str, ...]]] = {
    "cold-start-and-warm-post": (cold_start_and_warm_post, ("bot", "webhook")),
    "retry-find-posted": (retry_after_a_dead_attempt, ("bot",)),
    "sweep-digest": (sweep_and_digest, ("bot", "webhook")),
    "redrive": (redrive_from_the_dlq, ("bot", "webhook")),
}
CASES = [
    pytest.param(path, secret, id=f"{path}-{secret.mode}-{secret.name}")
    for path, (_, modes) in PATHS.items()
    for secret in SECRETS
    if secret.mode in modes
]


class _EveryRecord(logging.Handler):
    """Keeps every record of every logger, rendered with all it carries."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for record in self.records:
            if record.name.split(".")[0] in SANDBOX_LOGGERS:
                continue
            parts = [record.name, record.levelname, _message(record), repr(vars(record))]
            if record.exc_info and record.exc_info[1] is not None:
                parts.append("".join(traceback.format_exception(record.exc_info[1])))
            out.append("\n".join(parts))
        return out


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a badly formatted record still shows its parts
        return f"{record.msg!r} % {record.args!r}"


@pytest.fixture
def every_record() -> Iterator[_EveryRecord]:
    """The root logger at DEBUG, as Lambda sets it, and a handler keeping every record."""
    root = logging.getLogger()
    before = root.level
    for name in LIBRARIES:  # whatever earlier tests configured: Lambda starts from nothing
        logging.getLogger(name).setLevel(logging.NOTSET)
    capture = _EveryRecord()
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    detector = logging.getLogger("root_key_detector")
    detector.addHandler(capture)
    yield capture
    detector.removeHandler(capture)
    root.removeHandler(capture)
    root.setLevel(before)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, what it chains (cause and context) and the failures it carries, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(e for e in getattr(current, "failures", []) if isinstance(e, BaseException))


def _error_texts(exc: BaseException) -> list[str]:
    out = []
    for error in _chain(exc):
        out += [str(error), repr(error), repr(error.args), repr(vars(error))]
        out.append("".join(traceback.format_exception(error)))
    return out


@pytest.mark.parametrize(("path", "secret"), CASES)
def test_the_secret_is_nowhere(
    sandbox: SandboxStack,
    monkeypatch: pytest.MonkeyPatch,
    *,
    logs: io.StringIO,
    every_record: _EveryRecord,
    capfd: pytest.CaptureFixture[str],
    path: str,
    secret: Secret,
) -> None:
    value = secret.value if secret.value is not None else sandbox.slack.webhook_url
    secret_id = TOKEN_SECRET_NAME if secret.mode == "bot" else WEBHOOK_SECRET_NAME
    sandbox.aws.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=value)
    if secret.valid and secret.mode == "bot":
        sandbox.slack.add_token(json.loads(value)["token"], APP_BOT)
    monkeypatch.setenv("SLACK_MODE", secret.mode)
    run = Run(sandbox)
    every_record.records.clear()  # storing the secret is the test's doing, not a path's
    capfd.readouterr()

    PATHS[path][0](run)

    out, err = capfd.readouterr()
    readable = {
        "the detector's JSON lines": [logs.getvalue()],
        "Python logging": every_record.texts(),
        "stdout and stderr": [out, err],
        "raised errors": [t for e in run.errors for t in _error_texts(e)],
        "dead-letter records": run.dlq_records,
        "return values": [json.dumps(r, default=repr) for r in run.returns],
    }
    for where, texts in readable.items():
        for fragment in (value, *secret.markers):
            shown = [t for t in texts if fragment in t]
            assert not shown, f"{fragment!r} in {where}: {shown[0][:2000]}"

    everything = "\n".join(t for texts in readable.values() for t in texts)
    if secret.valid:
        assert not run.errors, [str(e) for e in run.errors]
        assert sandbox.slack.messages(SLACK_CHANNEL if secret.mode == "bot" else "webhook")
        assert "SecretError" not in everything
    else:
        # A bad secret is named by the error's type and its problem, where someone will look.
        kind = "bot token" if secret.mode == "bot" else "webhook URL"
        assert "SecretError" in everything
        assert f"secret {secret_id!r} holds a {kind}" in everything
        assert not sandbox.slack.messages(SLACK_CHANNEL)
        assert not sandbox.slack.messages("webhook")
