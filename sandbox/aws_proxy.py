"""The sandbox's AWS endpoint with faults on purpose: throttling and latency in front of moto.

The detector points ``AWS_ENDPOINT_URL`` here instead of at moto's own server. Each request is
either answered with a throttling error in the shape of its protocol (query/XML for IAM and STS,
JSON for DynamoDB, Secrets Manager and SQS, REST-JSON for Security Hub) *before* it reaches moto
(throttled calls have no effect, as with AWS), or handed to moto unchanged after ``latency_s``.

It is a WSGI layer around moto's own application in the same process, served by the same kind of
server as moto's (:func:`sandbox.aws.serve_aws`): one HTTP hop, as with the real service.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer

from sandbox.aws import (
    ACCOUNT_ID,
    ServedEndpoint,
    prepare_moto,
    read_body,
    sandbox_app,
    serve_aws,
    set_root_key_flag,
    set_securityhub_administrator,
)
from sandbox.aws_calls import CallLog
from sandbox.contracts import CONTRACTS

StartResponse = Callable[..., Any]


@dataclass
class ProxyStats:
    """Counts for the chaos report."""

    forwarded: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class AwsFaultProxy(ServedEndpoint):
    """Start with ``with AwsFaultProxy() as proxy:``; ``proxy.endpoint_url`` for clients.

    moto's backends are module state, so this endpoint and a :class:`sandbox.aws.MotoSandbox`
    server in the same process see the same accounts.
    """

    def __init__(
        self,
        *,
        throttle_rate: float = 0.0,
        latency_s: float = 0.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
        control: bool = False,
        refuse: Callable[[str, bytes], bool] | None = None,
        deny: Callable[[str, str, bytes], bool] | None = None,
        contracts: bool = True,
        record: CallLog | None = None,
    ) -> None:
        self.control = control  # serve /_sandbox/ paths (the test harness's controls)
        # Tests: a request for which refuse(X-Amz-Target, body) holds gets a 500 and has no
        # effect (a service failing one kind of write only).
        self.refuse = refuse
        # Tests: a request for which deny(X-Amz-Target, path, body) holds gets AWS's
        # AccessDeniedException (HTTP 400), as a role without the action would.
        self.deny = deny
        # Tests: every signed request that reaches this endpoint (throttled or not) is noted
        # there: its service, operation and caller (see sandbox.aws_calls).
        self.record = record
        self.throttle_rate = throttle_rate
        self.latency_s = latency_s
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not crypto
        self._lock = threading.Lock()
        self.stats = ProxyStats()
        self._host = host
        self._moto = sandbox_app(contracts=contracts)  # behind the contract layer by default
        self._server: BaseWSGIServer | None = None

    @property
    def endpoint_url(self) -> str:
        """What AWS_ENDPOINT_URL must be to go through the faults."""
        assert self._server is not None, "start() first"  # noqa: S101
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AwsFaultProxy:
        """Serve in a daemon thread."""
        prepare_moto()
        app = self._app if self.record is None else self.record.wrap(self._app)
        self._server = serve_aws(app, self._host)
        return self

    def _throttle_now(self) -> bool:
        with self._lock:
            return self._random.random() < self.throttle_rate

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.control and environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            return self._control(environ, start_response)
        if self.latency_s:
            time.sleep(self.latency_s)
        if self.deny is not None:
            body = read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if self.deny(target, environ.get("PATH_INFO", ""), body):
                status, headers, payload = error_response(
                    environ.get("CONTENT_TYPE", ""),
                    target,
                    "AccessDeniedException",
                    400,
                    "User is not authorized to perform this action",
                )
                return _answer(start_response, status, payload, headers)
        if self.refuse is not None:
            body = read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if self.refuse(target, body):
                status, headers, payload = error_response(
                    environ.get("CONTENT_TYPE", ""), target, "InternalServerError", 500, "refused"
                )
                return _answer(start_response, status, payload, headers)
        if not self._throttle_now():
            with self.stats.lock:
                self.stats.forwarded += 1
            return self._moto(environ, start_response)  # type: ignore[no-any-return]
        with self.stats.lock:
            self.stats.throttled += 1
        status, headers, payload = throttle_response(
            environ.get("CONTENT_TYPE", ""), environ.get("HTTP_X_AMZ_TARGET", "")
        )
        return _answer(start_response, status, payload, headers)

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        doc = json.loads(read_body(environ) or b"{}")  # no further than Content-Length
        path = environ["PATH_INFO"]
        if path == "/_sandbox/root-key":
            set_root_key_flag(bool(doc["present"]), str(doc.get("account", ACCOUNT_ID)))
        elif path == "/_sandbox/securityhub-administrator":
            set_securityhub_administrator(doc.get("account"))
        elif path == "/_sandbox/clock":
            now = doc.get("now")
            CONTRACTS.set_clock(None if now is None else datetime.fromisoformat(now))
        elif path == "/_sandbox/account-state":
            CONTRACTS.organizations.set(str(doc["account"]), doc.get("state"))
        elif path == "/_sandbox/faults":
            self.throttle_rate = float(doc.get("throttle_rate", self.throttle_rate))
            self.latency_s = float(doc.get("latency_s", self.latency_s))
        else:
            return _answer(start_response, 404, b"")
        return _answer(start_response, 204, b"")


def _answer(
    start_response: StartResponse,
    status: int,
    payload: bytes,
    headers: dict[str, str] | None = None,
) -> list[bytes]:
    out = [*(headers or {}).items(), ("Content-Length", str(len(payload)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", out)
    return [payload]


def throttle_response(content_type: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """A throttling error in the wire shape the caller's protocol expects."""
    if "x-www-form-urlencoded" in content_type:  # query protocol: IAM, STS
        return error_response(content_type, target, "Throttling", 400, "Rate exceeded")
    if not target:  # REST-JSON (no X-Amz-Target) uses 429
        return error_response(
            content_type, target, "TooManyRequestsException", 429, "Rate exceeded"
        )
    return error_response(content_type, target, "ThrottlingException", 400, "Rate exceeded")


def error_response(
    content_type: str, target: str, code: str, status: int, message: str
) -> tuple[int, dict[str, str], bytes]:
    """An error ``code`` with HTTP ``status`` in the wire shape of the caller's protocol."""
    request_id = str(uuid.uuid4())
    if "x-www-form-urlencoded" in content_type:  # query protocol: IAM, STS
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    body = json.dumps({"__type": code, "message": message})
    headers = {
        "Content-Type": "application/x-amz-json-1.1" if target else "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, body.encode()
