"""moto in server mode, in-process: a real HTTP endpoint speaking the AWS wire protocol.

In-process because moto cannot hold a root access key: the sandbox sets IAM's account
summary flag (AccountAccessKeysPresent) directly in moto's backend.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from detector.adapters.ledger import create_table

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
SLACK_TOKEN = "xoxb-sandbox-token"
SLACK_CHANNEL = "C0SECALERTS"
TOKEN_SECRET_NAME = "root-key-detector/slack-bot-token"
WEBHOOK_SECRET_NAME = "root-key-detector/slack-webhook-url"
LEDGER_TABLE = "root-key-detector-ledger"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class MotoSandbox:
    """A moto server on 127.0.0.1 (a free port) plus helpers to seed and inspect it."""

    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadedMotoServer | None = None

    def start(self) -> MotoSandbox:
        """Start the server; returns self."""
        # werkzeug logs every request to stderr; the demo and tests want quiet output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _make_dynamodb_writes_atomic()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """What AWS_ENDPOINT_URL must be for clients to reach this sandbox."""
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the detector) at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **FAKE_CREDENTIALS,
        }

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client for the sandbox (for seeding and inspecting, not for the detector)."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # -- seeding ---------------------------------------------------------------------------

    def seed(self, *, slack_token: str = SLACK_TOKEN, webhook_url: str | None = None) -> None:
        """Enable Security Hub and store the Slack secrets, as a deployment would have."""
        self.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
        sm = self.client("secretsmanager")
        sm.create_secret(Name=TOKEN_SECRET_NAME, SecretString=json.dumps({"token": slack_token}))
        if webhook_url:
            sm.create_secret(Name=WEBHOOK_SECRET_NAME, SecretString=webhook_url)
        create_table(self.client("dynamodb"), LEDGER_TABLE)

    def set_root_key_present(self, present: bool, account_id: str = ACCOUNT_ID) -> None:
        """What IAM's GetAccountSummary reports as AccountAccessKeysPresent for root."""
        set_root_key_flag(present, account_id)

    # -- inspecting ------------------------------------------------------------------------

    def findings(self, account_id: str = ACCOUNT_ID) -> list[dict[str, Any]]:
        """Every finding Security Hub holds for the account (moto ignores filters)."""
        out: list[dict[str, Any]] = []
        paginator_token: str | None = None
        client = self.client("securityhub")
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 100}
            if paginator_token:
                kwargs["NextToken"] = paginator_token
            resp = client.get_findings(**kwargs)
            out.extend(f for f in resp["Findings"] if f.get("AwsAccountId") == account_id)
            paginator_token = resp.get("NextToken")
            if not paginator_token:
                return out


def set_root_key_flag(present: bool, account_id: str = ACCOUNT_ID) -> None:
    """Set moto's AccountAccessKeysPresent for root (moto itself cannot hold a root key)."""
    from moto.iam.models import iam_backends  # noqa: PLC0415 - moto internals, sandbox only

    summary = iam_backends[account_id]["aws"].account_summary
    summary._account_access_keys_present = 1 if present else 0


_DYNAMODB_LOCK = threading.RLock()


def _make_dynamodb_writes_atomic() -> None:
    """Give moto's DynamoDB what the real one guarantees: an atomic conditional write.

    moto's threaded server evaluates a ConditionExpression and applies the write without a
    lock, so two concurrent claims can both succeed; DynamoDB never lets that happen. The
    ledger's exactly-once behaviour is tested against the real guarantee, so the sandbox
    serialises moto's DynamoDB writes (and consistent reads) behind one lock.
    """
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - moto internals

    for name in ("put_item", "update_item", "delete_item", "get_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_sandbox_atomic", False):
            continue

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_LOCK:
                return __original(self, *args, **kwargs)

        locked._sandbox_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (the detector reads os.environ)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
