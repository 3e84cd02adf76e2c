"""A fault-injecting HTTP proxy in front of moto: AWS throttling and latency, on purpose.

The detector points ``AWS_ENDPOINT_URL`` here instead of at moto. Each request is either
answered with a throttling error in the shape of its protocol (query/XML for IAM and STS, JSON
for DynamoDB, Secrets Manager and SQS, REST-JSON for Security Hub) *before* it reaches moto
(throttled calls have no effect, as with AWS), or forwarded unchanged after ``latency_s``.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sandbox.aws import ACCOUNT_ID, set_root_key_flag

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class ProxyStats:
    """Counts for the chaos report."""

    forwarded: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class AwsFaultProxy:
    """Start with ``with AwsFaultProxy(upstream) as proxy:``; ``proxy.endpoint_url`` for clients."""

    def __init__(
        self,
        upstream: str,
        *,
        throttle_rate: float = 0.0,
        latency_s: float = 0.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
        control: bool = False,
    ) -> None:
        parts = urlsplit(upstream)
        self._up_host = parts.hostname or "127.0.0.1"
        self._up_port = parts.port or 80
        self.control = control  # serve /_sandbox/ paths (only beside an in-process moto)
        self.throttle_rate = throttle_rate
        self.latency_s = latency_s
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not crypto
        self._lock = threading.Lock()
        self.stats = ProxyStats()
        self._server = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """What AWS_ENDPOINT_URL must be to go through the proxy."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AwsFaultProxy:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> AwsFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _throttle_now(self) -> bool:
        with self._lock:
            return self._random.random() < self.throttle_rate

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


def throttle_response(content_type: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """A throttling error in the wire shape the caller's protocol expects."""
    request_id = str(uuid.uuid4())
    if "x-www-form-urlencoded" in content_type:  # query protocol: IAM, STS
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return 400, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    code = "TooManyRequestsException" if not target else "ThrottlingException"
    body = f'{{"__type": "{code}", "message": "Rate exceeded"}}'
    status = 429 if not target else 400  # REST-JSON (no X-Amz-Target) uses 429
    headers = {
        "Content-Type": "application/x-amz-json-1.1" if target else "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, body.encode()


def _make_handler(proxy: AwsFaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if proxy.control and self.path.startswith("/_sandbox/"):
                self._control(json.loads(body or b"{}"))
                return
            if proxy.latency_s:
                time.sleep(proxy.latency_s)
            if proxy._throttle_now():
                with proxy.stats.lock:
                    proxy.stats.throttled += 1
                status, headers, payload = throttle_response(
                    self.headers.get("Content-Type", ""), self.headers.get("X-Amz-Target", "")
                )
            else:
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                status, raw_headers, payload = proxy._forward(self.command, self.path, fwd, body)
                headers = {
                    k: v
                    for k, v in raw_headers
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
                }
                with proxy.stats.lock:
                    proxy.stats.forwarded += 1
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _control(self, doc: dict[str, Any]) -> None:
            if self.path == "/_sandbox/root-key":
                set_root_key_flag(bool(doc["present"]), str(doc.get("account", ACCOUNT_ID)))
            elif self.path == "/_sandbox/faults":
                proxy.throttle_rate = float(doc.get("throttle_rate", proxy.throttle_rate))
                proxy.latency_s = float(doc.get("latency_s", proxy.latency_s))
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay

    return Handler
