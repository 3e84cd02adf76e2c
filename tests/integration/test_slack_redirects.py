"""A redirect from Slack's host is refused: the token (or the webhook's path) never follows it.

Two small HTTP servers on 127.0.0.1: "slack" answers every request with a redirect to
"elsewhere", which records what reaches it and answers as Slack would. Whatever the redirect's
status, nothing reaches "elsewhere", the call fails with RedirectRefused and is not retried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from detector import retry
from detector.adapters.slack import SlackBotAlerter, SlackWebhookAlerter
from detector.domain.delivery import SlackRef
from detector.domain.message import SlackMessage
from detector.errors import RedirectRefused

TOKEN = "xoxb-1111-2222-redirectedtoken"
HOOK_PATH = "/services/T0SANDBOX/B0SANDBOX/redirectedhooksecret"
CHANNEL = "C0SECALERTS"
OK = json.dumps({"ok": True, "channel": CHANNEL, "ts": "1700000000.000100", "bot_id": "B0X"})


@dataclass
class Server:
    """A local HTTP server: what it received, and its base URL."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def serve(answer: Callable[[str], tuple[int, dict[str, str], str]]) -> Iterator[Server]:
    """Serve ``answer(path) -> (status, headers, body)`` for any method until the block ends."""
    server_box: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server_box[0].received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers)}
                | {"body": body.decode("utf-8", "replace")}
            )
            status, headers, text = answer(self.path)
            data = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_box.append(Server(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server_box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def redirecting(status: int, only: str = "") -> Iterator[tuple[Server, Server]]:
    """("slack", "elsewhere"): a request to "slack" whose path ends with ``only`` is redirected
    to the same path there; any other is answered as Slack would."""
    answer = (200, {"Content-Type": "application/json"}, OK)
    with serve(lambda _path: answer) as elsewhere:

        def slack_answer(path: str) -> tuple[int, dict[str, str], str]:
            if path.endswith(only):
                return status, {"Location": elsewhere.url + path}, "moved"
            return answer

        with serve(slack_answer) as slack:
            yield slack, elsewhere


STATUSES = [301, 302, 303, 307, 308]


def _bot(base_url: str, sleeps: list[float]) -> SlackBotAlerter:
    env = retry.RetryEnv(sleep=sleeps.append)
    return SlackBotAlerter(lambda: TOKEN, CHANNEL, env, base_url=base_url + "/api/", timeout_s=2)


BOT_CALLS: dict[str, Callable[[SlackBotAlerter], object]] = {
    "chat.postMessage": lambda bot: bot.post(SlackMessage(text="root key")),
    "chat.update": lambda bot: bot.update(SlackRef(CHANNEL, "1.000001"), SlackMessage(text="x")),
    "auth.test": lambda bot: bot.identity(),
    "conversations.history": lambda bot: bot.find_posted(
        SlackMessage(
            text="x",
            metadata={"event_type": "root_key_detector_event", "event_payload": {"event_id": "e"}},
        ),
        thread=None,
        since=datetime.now(UTC),
    ),
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("method", list(BOT_CALLS))
def test_the_web_api_refuses_a_redirect_and_the_token_stays(status: int, method: str) -> None:
    sleeps: list[float] = []
    with (
        redirecting(status, only=f"/api/{method}") as (slack, elsewhere),
        pytest.raises(RedirectRefused) as refused,
    ):
        BOT_CALLS[method](_bot(slack.url, sleeps))

    assert elsewhere.received == []
    assert refused.value.code == f"HTTP {status}"
    assert not refused.value.transient
    assert sleeps == []  # refused once, not retried
    assert [r["path"] for r in slack.received].count(f"/api/{method}") == 1
    assert slack.received[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"  # sent only there
    assert elsewhere.url not in str(refused.value)


@pytest.mark.parametrize("status", STATUSES)
def test_the_webhook_refuses_a_redirect(status: int) -> None:
    sleeps: list[float] = []
    with redirecting(status) as (slack, elsewhere):
        hook = SlackWebhookAlerter(
            lambda: slack.url + HOOK_PATH, retry.RetryEnv(sleep=sleeps.append), timeout_s=2
        )
        with pytest.raises(RedirectRefused) as refused:
            hook.post(SlackMessage(text="root key"))

    assert elsewhere.received == []
    assert sleeps == []
    assert len(slack.received) == 1
    assert "redirectedhooksecret" not in str(refused.value)
