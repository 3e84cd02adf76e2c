"""A Lambda function URL on 127.0.0.1: HTTP requests in, the handler's payload 2.0 events out.

"Invoking Lambda function URLs" (Lambda developer guide,
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html): the request becomes an event
of API Gateway's payload format 2.0 (header names lower-cased, duplicate headers joined with
commas, the body base64-encoded unless it is text), and the function's ``{statusCode, headers,
body}`` becomes the answer. The sandbox is strict: a form-encoded body arrives base64-encoded, as
Slack's posts through AWS proxies are reported to (slackapi/python-slack-sdk#859).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.aws import ACCOUNT_ID, REGION, ServedEndpoint, read_body

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the detector reads."""

    function_name: str
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left, as Lambda's context says."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def url_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload 2.0 event Lambda builds for one request."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "")
    text = content_type.startswith(_TEXT_TYPES)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "sandbox",
            "domainName": "sandbox.lambda-url.us-east-1.on.aws",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode("utf-8", "replace") if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }


class FunctionUrl(ServedEndpoint):
    """Serves ``handler`` as a function URL (auth type NONE); ``url`` is its address."""

    def __init__(self, handler: Handler, function_name: str = "root-key-detector-interact"):
        self._handler = handler
        self._function = function_name
        self._server: BaseWSGIServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        if self._server is None:
            raise RuntimeError("the function URL is not started")
        return f"http://127.0.0.1:{self._server.server_port}/"

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1, in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        event = url_event(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "/"),
            headers,
            read_body(environ),
        )
        try:
            answer = self._handler(event, LambdaContext(self._function))
            status = int(answer.get("statusCode", 200))
            body = str(answer.get("body", "")).encode()
            answer_headers = dict(answer.get("headers") or {})
        except Exception:  # noqa: BLE001 - Lambda answers a function error with 502
            status, body, answer_headers = 502, b"Internal Server Error", {}
        start_response(
            f"{status} Status",
            [*answer_headers.items(), ("Content-Length", str(len(body)))],
        )
        return [body]
