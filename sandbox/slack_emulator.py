"""A local emulator of the parts of Slack that root-key-detector talks to.

It serves, on 127.0.0.1 and with nothing but the standard library:

* the Web API methods ``auth.test``, ``chat.postMessage``, ``chat.update``,
  ``conversations.replies`` and ``conversations.history`` under ``/api/`` (JSON or
  form-encoded bodies, token from ``Authorization: Bearer`` or a ``token`` field,
  errors reported the way Slack reports them: HTTP 200 with ``{"ok": false}``);
* one incoming webhook (``POST`` JSON to ``webhook_path`` -> ``200 ok``);
* Slack's documented limits (see :mod:`sandbox.slack_limits`): per-method rate tiers
  answered with HTTP 429 and ``Retry-After`` (on by default; :meth:`SlackEmulator.set_rate_limits`),
  chat.postMessage's one message per second per channel with short bursts, and the
  non-Marketplace app's conversations.history/replies limits (:meth:`SlackEmulator.set_app`);
* what a real workspace does to the app: a message deleted (:meth:`~SlackEmulator.delete_message`),
  posted by someone else (:meth:`~SlackEmulator.set_author`) or past the team's edit window
  (:meth:`~SlackEmulator.set_edit_window`); a channel archived or without the app; a token
  revoked or a workspace inactive; and any documented ``ok: false`` answer on demand
  (:meth:`~SlackEmulator.refuse`);
* several identities: every token given at construction is the app's bot; :meth:`add_token`
  adds another app's bot or a member, whose messages carry their own ``user`` / ``bot_id`` /
  ``app_id`` the way Slack renders authorship, and who may not edit the app's messages;
* fault injection: queued one-shot faults (:meth:`SlackEmulator.inject`), seeded
  random faults for chaos runs (:meth:`SlackEmulator.set_fault_rates`) and a fixed
  added latency (:meth:`SlackEmulator.set_latency`);
* a JSON control plane under ``/_emulator/`` so other processes can read the request
  log and the stored messages, inject faults and reset the state;
* a read-only page, ``GET /channel/<id or name>``, that draws the channel as Slack would
  (:mod:`sandbox.slack_page`; ``?ts=`` one thread, ``?replies=0`` threads folded). It is not
  part of Slack's API: it is neither logged nor faulted nor rate limited.

Point ``slack_sdk.WebClient(base_url=emulator.base_url)`` and
``slack_sdk.webhook.WebhookClient(emulator.webhook_url)`` at it.

Run ``python -m sandbox.slack_emulator [--port N]`` to serve in the foreground.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import logging
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self, cast, get_args
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from sandbox.slack_interactions import Delivered, InteractionError, Interactivity, SlackUser
from sandbox.slack_limits import (
    APP_KINDS,
    DOCUMENTED_ERRORS,
    NON_MARKETPLACE_HISTORY_LIMIT,
    POST_BURST,
    AppKind,
    RateLimiter,
    refusal_body,
    retry_after_header,
)
from sandbox.slack_page import CONTENT_SECURITY_POLICY, Post, render_channel, render_not_found

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_TOKEN",
    "DEFAULT_WEBHOOK_PATH",
    "DELETED_TEXT",
    "WEBHOOK_CHANNEL",
    "FaultKind",
    "Identity",
    "MessageVersion",
    "RecordedRequest",
    "SlackEmulator",
    "StoredMessage",
    "main",
]

_LOG = logging.getLogger(__name__)

DEFAULT_TOKEN: Final = "xoxb-sandbox-token"
DEFAULT_CHANNELS: Final[Mapping[str, str]] = MappingProxyType({"C0SECALERTS": "security-alerts"})
DEFAULT_WEBHOOK_PATH: Final = "/services/T0SANDBOX/B0SANDBOX/sandboxwebhooksecret"
#: Pseudo channel under which messages received by the incoming webhook are stored.
WEBHOOK_CHANNEL: Final = "webhook"

TEAM_ID: Final = "T0SANDBOX"
BOT_ID: Final = "B0SANDBOX"
BOT_USER_ID: Final = "U0SANDBOX"
APP_ID: Final = "A0SANDBOX"
BOT_NAME: Final = "root-key-detector"

MAX_BLOCKS: Final = 50
MAX_TEXT_LENGTH: Final = 40_000
#: What conversations.history/replies show in place of a deleted message that has replies.
DELETED_TEXT: Final = "This message was deleted."
# Block Kit limits ("Block Kit reference": section, header, context, actions, button).
_SECTION_TEXT_MAX: Final = 3000
_SECTION_FIELDS_MAX: Final = 10
_FIELD_TEXT_MAX: Final = 2000
_HEADER_TEXT_MAX: Final = 150
_CONTEXT_ELEMENTS_MAX: Final = 10
_ACTIONS_ELEMENTS_MAX: Final = 25
_BUTTON_TEXT_MAX: Final = 75
_URL_MAX: Final = 3000
DEFAULT_HISTORY_LIMIT: Final = 100
MAX_HISTORY_LIMIT: Final = 1000

FaultKind = Literal["ratelimit", "server_error", "unavailable", "delay", "drop"]
_FAULT_KINDS: Final[frozenset[str]] = frozenset(get_args(FaultKind))
# Kinds that end with the connection being closed without any response.
_DROPPING_FAULTS: Final = frozenset({"drop", "timeout"})

_CONTROL_PREFIX: Final = "/_emulator/"
_API_PREFIX: Final = "/api/"
_SERVICES_PREFIX: Final = "/services/"
_PAGE_PREFIX: Final = "/channel/"
_ACTIONS_PREFIX: Final = "/actions/"  # response URLs handed out with clicks

_JSON_TYPE: Final = "application/json; charset=utf-8"
_TEXT_TYPE: Final = "text/plain; charset=utf-8"
_HTML_TYPE: Final = "text/html; charset=utf-8"
_PAGE_HEADERS: Final = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Identity:
    """Who a token acts as: an app's bot (``bot_id`` and ``app_id`` set) or a member (neither)."""

    user_id: str
    name: str
    bot_id: str | None = None
    app_id: str | None = None


#: The identity of every token given to :class:`SlackEmulator` at construction: the app's bot.
APP_BOT: Final = Identity(user_id=BOT_USER_ID, name=BOT_NAME, bot_id=BOT_ID, app_id=APP_ID)


@dataclass(frozen=True)
class MessageVersion:
    """A previous version of a message, kept when ``chat.update`` replaced it."""

    text: str | None
    blocks: list[JSONDict] | None
    payload: JSONDict
    #: Slack-style ts of the edit that replaced this version.
    edited_ts: str


@dataclass
class StoredMessage:
    """A message as the emulator stored it (copies are handed out, never the original)."""

    channel: str
    ts: str
    #: ``None`` for a top-level message, the parent's ts for a thread reply.
    thread_ts: str | None
    text: str | None
    blocks: list[JSONDict] | None
    #: The parsed request payload of the latest post/update of this message.
    payload: JSONDict
    #: ``"chat.postMessage"`` or ``"webhook"``.
    source: str = "chat.postMessage"
    #: Previous versions, oldest first; ``len(edits)`` is the edit count.
    edits: list[MessageVersion] = field(default_factory=list)
    #: Who posted it: the poster's user id (the app's bot user unless a test says otherwise).
    author: str = BOT_USER_ID
    #: Deleted (by a person or an admin): chat.update answers message_not_found.
    deleted: bool = False
    #: When it was posted, on the emulator's clock (for the team's edit window).
    posted_at: float = 0.0

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None

    def to_json(self) -> JSONDict:
        return asdict(self)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the emulator received (control-plane requests are not recorded)."""

    #: Web API method (``"chat.postMessage"``), ``"webhook"`` for ``/services/...``,
    #: ``"unknown"`` for any other path.
    method: str
    http_method: str
    path: str
    headers: dict[str, str]
    body: str
    #: Parsed payload, ``None`` when the body could not be parsed.
    payload: JSONDict | None
    #: HTTP status sent back, ``None`` when the connection was dropped.
    status: int | None
    response_body: str | None
    #: Fault applied to this request (``"ratelimit"``, ``"drop"``, ``"timeout"``, ...).
    fault: str | None
    #: ``time.time()`` when the request was received.
    timestamp: float

    def to_json(self) -> JSONDict:
        return asdict(self)


@dataclass
class _QueuedFault:
    kind: str
    remaining: int
    methods: frozenset[str] | None
    retry_after: float
    delay: float


@dataclass(frozen=True)
class _Fault:
    kind: str
    retry_after: float = 1
    delay: float = 0.0


@dataclass(frozen=True)
class _FaultRates:
    ratelimit: float
    server_error: float
    timeout: float
    retry_after: float
    timeout_delay: float
    rng: random.Random


@dataclass(frozen=True)
class _Response:
    status: int
    body: str
    content_type: str = _JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


class _SlackError(Exception):
    """A Slack-style error: ``{"ok": false, "error": error}`` with HTTP ``status``."""

    def __init__(
        self,
        error: str,
        status: int = 200,
        *,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.detail = detail  # e.g. which Block Kit limit a block broke
        self.retry_after = retry_after


@dataclass
class _Refusal:
    error: str
    methods: frozenset[str] | None
    remaining: int | None  # None: until cleared


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _micros(ts: str) -> int:
    """A Slack ts ("1796165218.188747") as whole microseconds: exact, unlike a float."""
    return int(Decimal(ts) * 1_000_000)


def _cursor_us(cursor: str) -> int:
    try:
        kind, _, ts = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        value = _micros(ts)
    except (ValueError, UnicodeDecodeError, ArithmeticError):
        raise _SlackError("invalid_cursor") from None
    if kind != "next_ts":
        raise _SlackError("invalid_cursor")
    return value


def _json_response(
    status: int, data: JSONDict, headers: tuple[tuple[str, str], ...] = ()
) -> _Response:
    return _Response(status=status, body=json.dumps(data), headers=headers)


def _text_response(status: int, text: str) -> _Response:
    return _Response(status=status, body=text, content_type=_TEXT_TYPE)


# --------------------------------------------------------------------------- payload parsing


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _parse_api_payload(content_type: str, body: str, query: str) -> tuple[JSONDict, str | None]:
    """Query string + body (JSON or form) -> (payload, parse error or None)."""
    payload: JSONDict = dict(parse_qsl(query, keep_blank_values=True))
    media = _media_type(content_type)
    if media == "application/json" or (not media and body.lstrip().startswith("{")):
        try:
            parsed = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError:
            return payload, "invalid_json"
        if not isinstance(parsed, dict):
            return payload, "invalid_json"
        payload.update(parsed)
    elif body:
        payload.update(parse_qsl(body, keep_blank_values=True))
    return payload, None


def _parse_webhook_payload(content_type: str, body: str) -> JSONDict | None:
    """JSON body, or a form with a ``payload`` field holding JSON (both accepted by Slack)."""
    text = body
    if _media_type(content_type) == "application/x-www-form-urlencoded":
        text = dict(parse_qsl(body, keep_blank_values=True)).get("payload", "")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _optional_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _parse_blocks(raw: object) -> list[JSONDict] | None:
    """Validate ``blocks`` (a list, or a JSON string of one, as form bodies carry it)."""
    if raw is None:
        return None
    value = raw
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _SlackError("invalid_blocks") from None
    if not isinstance(value, list) or len(value) > MAX_BLOCKS:
        raise _SlackError("invalid_blocks")
    blocks: list[JSONDict] = []
    for index, block in enumerate(value):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _SlackError("invalid_blocks")
        problem = _block_problem(block)
        if problem is not None:
            raise _SlackError("invalid_blocks", detail=f"{problem} [json-pointer:/blocks/{index}]")
        blocks.append(block)
    return blocks


def _text_of(obj: object) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return cast(str, obj["text"])
    return ""


def _block_problem(block: JSONDict) -> str | None:
    """The Block Kit limit ``block`` breaks (None when within them), as Slack words it."""
    kind = block["type"]
    if kind == "section":
        fields = block.get("fields") or []
        if not isinstance(fields, list) or len(fields) > _SECTION_FIELDS_MAX:
            return f"must be less than {_SECTION_FIELDS_MAX + 1} items"
        return _too_long(
            [(_text_of(block.get("text")), _SECTION_TEXT_MAX)]
            + [(_text_of(f), _FIELD_TEXT_MAX) for f in fields]
        )
    if kind == "header":
        return _too_long([(_text_of(block.get("text")), _HEADER_TEXT_MAX)])
    if kind in {"context", "actions"}:
        elements = block.get("elements") or []
        most = _CONTEXT_ELEMENTS_MAX if kind == "context" else _ACTIONS_ELEMENTS_MAX
        if not isinstance(elements, list) or len(elements) > most:
            return f"must be less than {most + 1} items"
        if not all(isinstance(e, dict) for e in elements):
            return "must be an object"
        buttons = [e for e in elements if e.get("type") == "button"]
        return _too_long(
            [(_text_of(b.get("text")), _BUTTON_TEXT_MAX) for b in buttons]
            + [(str(b.get("url") or ""), _URL_MAX) for b in buttons]
        )
    return None


def _too_long(texts: list[tuple[str, int]]) -> str | None:
    for text, most in texts:
        if len(text) > most:
            return f"must be less than {most + 1} characters"
    return None


def _parse_content(payload: JSONDict) -> tuple[str | None, list[JSONDict] | None]:
    """(text, blocks) of a message payload, raising the error Slack would return."""
    blocks = _parse_blocks(payload.get("blocks"))
    text = _optional_str(payload.get("text"))
    if text is None and not blocks:
        raise _SlackError("no_text")
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise _SlackError("msg_too_long")
    return text, blocks


def _parse_limit(payload: JSONDict) -> int:
    raw = payload.get("limit")
    if raw is None or raw == "":
        return DEFAULT_HISTORY_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise _SlackError("invalid_limit") from None
    return min(max(limit, 1), MAX_HISTORY_LIMIT)


def _flag(value: object) -> bool:
    """A boolean argument as Slack reads it: true/1 (JSON true, or form text)."""
    return value is True or (isinstance(value, str | int) and str(value).lower() in {"1", "true"})


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{name} must be an integer")
    return int(value)


def _as_float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{name} must be a number")
    return float(value)


# --------------------------------------------------------------------------- HTTP plumbing


class _EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: SlackEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # the client gave up (timeouts, chaos runs): nothing to report
        _LOG.error(
            "slack emulator: error handling a request from %s", client_address, exc_info=error
        )


class _Handler(BaseHTTPRequestHandler):
    server: _EmulatorServer
    server_version = "SlackEmulator/1.0"
    sys_version = ""
    # A client that connects and never sends a request does not pin a thread forever.
    timeout = 60
    # Answers go out in several writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK would add ~40 ms to each (real Slack has no such delay).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.server.emulator._serve(self)

    def do_POST(self) -> None:
        self.server.emulator._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request logging on stderr."""

    def read_body(self) -> str:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        data = self.rfile.read(length) if length > 0 else b""
        return data.decode("utf-8", errors="replace")

    def send(self, response: _Response) -> None:
        encoded = response.body.encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)

    def drop(self) -> None:
        """Close the connection without writing a single byte of response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- the emulator


class SlackEmulator:
    """A Slack Web API + incoming webhook emulator serving in a daemon thread.

    >>> with SlackEmulator() as emu:  # doctest: +SKIP
    ...     WebClient(token="xoxb-sandbox-token", base_url=emu.base_url).auth_test()
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        channels: Mapping[str, str] = DEFAULT_CHANNELS,
        webhook_path: str = DEFAULT_WEBHOOK_PATH,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: bool = True,
        app: AppKind = "in-house",
        post_burst: int = POST_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rate_limits``: Slack's per-method limits, answered with 429 and Retry-After.
        ``app``: what kind of app the token is ("non-marketplace": conversations.history and
        .replies at 1 request a minute and ``limit`` at most 15). ``clock``: seconds, for the
        limits and the edit window (tests pass one they advance, and never sleep)."""
        if not webhook_path.startswith(_SERVICES_PREFIX):
            raise ValueError(f"webhook_path must start with {_SERVICES_PREFIX!r}: {webhook_path!r}")
        given = [tokens] if isinstance(tokens, str) else list(tokens)
        self._given: dict[str, Identity] = dict.fromkeys(given, APP_BOT)
        self._identities: dict[str, Identity] = dict(self._given)  # by token
        self._people: dict[str, Identity] = {BOT_USER_ID: APP_BOT}  # by user id
        self._channels = dict(channels)
        self._webhook_path = webhook_path
        self._host = host
        self._port = port

        self._lock = threading.RLock()
        self._messages: list[StoredMessage] = []
        self._by_key: dict[tuple[str, str], StoredMessage] = {}
        self._threads: dict[tuple[str, str], list[StoredMessage]] = {}
        self._log: list[RecordedRequest] = []
        self._queued: list[_QueuedFault] = []
        self._rates: _FaultRates | None = None
        self._latency = 0.0
        self._last_ts_us = 0
        self._clock = clock
        self._defaults = (rate_limits, self._app_kind(app))
        self._rate_limits, self._app = self._defaults
        self._limiter = RateLimiter(clock, post_burst)
        self._refusals: list[_Refusal] = []
        self._archived: set[str] = set()
        self._outside: set[str] = set()  # channels the app is not a member of
        self._revoked: set[str] = set()
        self._inactive = False
        self._edit_window: float | None = None

        self._server: _EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._stopping = threading.Event()

        #: Interactivity: clicks and modal submissions sent, signed, to the app's Request URL.
        self.interactivity = Interactivity(root_url=lambda: self.root_url, clock=clock)
        self._api: dict[str, Callable[[JSONDict, Identity], JSONDict]] = {
            "views.open": self._interactive(self.interactivity.views_open),
            "usergroups.users.list": self._interactive(self.interactivity.usergroups_users_list),
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the Slack emulator is already running")
        server = _EmulatorServer((self._host, self._port), self)
        self._stopping.clear()
        host, port = server.server_address[:2]
        host = str(host)
        self._address = ("127.0.0.1" if host in {"", "0.0.0.0"} else host, int(port))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"slack-emulator-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent); pending sleeps are cut short."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (no trailing slash)."""
        if self._address is None:
            raise RuntimeError("the Slack emulator has not been started")
        host, port = self._address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """Web API base URL, as ``slack_sdk.WebClient(base_url=...)`` takes it."""
        return f"{self.root_url}{_API_PREFIX}"

    @property
    def webhook_url(self) -> str:
        return f"{self.root_url}{self._webhook_path}"

    def page_url(self, channel: str, *, ts: str | None = None, replies: bool = True) -> str:
        """The read-only page of ``channel`` (one thread with ``ts``; folded: ``replies=False``)."""
        query = [f"ts={quote(ts)}"] if ts is not None else []
        if not replies:
            query.append("replies=0")
        tail = f"?{'&'.join(query)}" if query else ""
        return f"{self.root_url}{_PAGE_PREFIX}{quote(channel, safe='')}{tail}"

    # ------------------------------------------------------------------ store

    def _resolve_channel(self, channel: str) -> str | None:
        if channel in self._channels or channel == WEBHOOK_CHANNEL:
            return channel
        name = channel.removeprefix("#")
        for channel_id, channel_name in self._channels.items():
            if channel_name == name:
                return channel_id
        return None

    def _store_key(self, channel: str) -> str:
        return self._resolve_channel(channel) or channel

    def messages(self, channel: str) -> list[StoredMessage]:
        """All messages of ``channel`` (ID, name or ``"webhook"``), in post order."""
        key = self._store_key(channel)
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if m.channel == key]

    def top_level(self, channel: str) -> list[StoredMessage]:
        """Top-level (non-reply) messages of ``channel``, in post order."""
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def replies(self, channel: str, thread_ts: str) -> list[StoredMessage]:
        """Replies in the thread started by ``thread_ts`` (the parent excluded), in post order."""
        key = self._store_key(channel)
        with self._lock:
            return [copy.deepcopy(m) for m in self._threads.get((key, thread_ts), [])]

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        key = self._store_key(channel)
        with self._lock:
            found = self._by_key.get((key, ts))
            return copy.deepcopy(found) if found is not None else None

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def add_token(self, token: str, identity: Identity) -> None:
        """Accept ``token`` as ``identity`` (another app's bot, or a member) until :meth:`reset`."""
        with self._lock:
            self._identities[token] = identity
            self._people[identity.user_id] = identity

    def reset(self) -> None:
        """Forget messages, the request log, faults, refusals, the latency, the workspace's
        state and the tokens :meth:`add_token` added; rate limits and the app kind go back to
        the constructor's settings."""
        with self._lock:
            self._identities = dict(self._given)
            self._people = {BOT_USER_ID: APP_BOT}
            self._messages.clear()
            self._by_key.clear()
            self._threads.clear()
            self._log.clear()
            self._queued.clear()
            self._rates = None
            self._latency = 0.0
            self._rate_limits, self._app = self._defaults
            self._limiter.reset()
            self._refusals.clear()
            self._archived.clear()
            self._outside.clear()
            self._revoked.clear()
            self._inactive = False
            self._edit_window = None
        self.interactivity.reset()

    # ------------------------------------------------------------------ interactivity

    @staticmethod
    def _interactive(
        method: Callable[[JSONDict], JSONDict],
    ) -> Callable[[JSONDict, Identity], JSONDict]:
        def call(payload: JSONDict, identity: Identity) -> JSONDict:
            try:
                return method(payload)
            except InteractionError as error:
                raise _SlackError(error.error) from None

        return call

    def click(
        self,
        user: SlackUser,
        channel: str,
        ts: str,
        action_id: str,
        *,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivered:
        """``user`` clicks a button of the message at ``ts``: Slack's signed request to the
        app's Request URL (``interactivity.request_url``), and the app's answer."""
        stored = self._stored(channel, ts)
        message = {"ts": stored.ts, "blocks": copy.deepcopy(stored.blocks or [])}
        return self.interactivity.click(
            user, message, action_id, channel=channel, extra_headers=extra_headers
        )

    # ------------------------------------------------------------------ workspace settings

    @staticmethod
    def _app_kind(app: str) -> AppKind:
        if app not in APP_KINDS:
            raise ValueError(f"unknown app kind {app!r}; expected one of {sorted(APP_KINDS)}")
        return cast(AppKind, app)

    def set_rate_limits(self, enabled: bool) -> None:
        """Switch Slack's rate limits on or off (until :meth:`reset`); the counts restart."""
        with self._lock:
            self._rate_limits = enabled
            self._limiter.reset()

    def set_app(self, app: AppKind) -> None:
        """What kind of app the token belongs to (until :meth:`reset`).

        "non-marketplace": commercially distributed and not Marketplace-approved, so
        conversations.history and conversations.replies allow 1 request a minute and
        ``limit`` at most 15 (Slack changelog, 2025-05-29). "in-house" (the default) and
        "marketplace" keep Tier 3 and the usual limits. The counts restart.
        """
        with self._lock:
            self._app = self._app_kind(app)
            self._limiter.reset()  # another app: its own counts

    def set_edit_window(self, seconds: float | None) -> None:
        """The team's message edit setting: chat.update of a message posted more than
        ``seconds`` ago answers ``edit_window_closed`` (None: editable any time)."""
        if seconds is not None and seconds < 0:
            raise ValueError("the edit window must be >= 0 seconds")
        with self._lock:
            self._edit_window = seconds

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message as a person or an admin would (chat.update: message_not_found)."""
        self._stored(channel, ts).deleted = True

    def set_author(self, channel: str, ts: str, user: str) -> None:
        """Make a message someone else's: the app's chat.update answers cant_update_message."""
        self._stored(channel, ts).author = user

    def archive_channel(self, channel: str) -> None:
        """Archive a channel: posting and updating in it answer ``is_archived``."""
        with self._lock:
            self._archived.add(self._known_channel(channel))

    def remove_app(self, channel: str) -> None:
        """Remove the app from a channel: posting and reading answer ``not_in_channel``."""
        with self._lock:
            self._outside.add(self._known_channel(channel))

    def revoke_token(self, token: str) -> None:
        """Revoke a token (the app was uninstalled): every call answers ``token_revoked``."""
        with self._lock:
            self._revoked.add(token)

    def deactivate_workspace(self) -> None:
        """Every call answers ``account_inactive`` (the workspace or bot user was deleted)."""
        with self._lock:
            self._inactive = True

    def refuse(
        self, error: str, *, methods: str | Iterable[str] | None = None, times: int | None = None
    ) -> None:
        """Answer ``error`` to the next ``times`` calls of ``methods`` (None: every call, until
        :meth:`reset`), the way Slack answers it: HTTP 200 and ``{"ok": false, "error": ...}``
        (``invalid_blocks`` with its ``errors``), or 429 with Retry-After for ``ratelimited``.

        Raises:
            ValueError: a method's reference page does not list ``error``.
        """
        selected = None
        if methods is not None:
            selected = frozenset([methods] if isinstance(methods, str) else methods)
        for method in selected or DOCUMENTED_ERRORS:
            if error not in DOCUMENTED_ERRORS.get(method, frozenset()):
                raise ValueError(f"{method} does not document the error {error!r}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._refusals.append(_Refusal(error, selected, times))

    def _stored(self, channel: str, ts: str) -> StoredMessage:
        key = self._store_key(channel)
        with self._lock:
            found = self._by_key.get((key, ts))
        if found is None:
            raise KeyError(f"no message {ts} in {channel}")
        return found

    def _known_channel(self, channel: str) -> str:
        resolved = self._resolve_channel(channel)
        if resolved is None or resolved == WEBHOOK_CHANNEL:
            raise KeyError(f"unknown channel {channel!r}")
        return resolved

    def _next_ts(self) -> str:
        with self._lock:
            self._last_ts_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
            seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _add_message(self, message: StoredMessage) -> None:
        with self._lock:
            self._messages.append(message)
            self._by_key[(message.channel, message.ts)] = message
            if message.thread_ts is not None:
                self._threads.setdefault((message.channel, message.thread_ts), []).append(message)

    def _render(self, message: StoredMessage, *, metadata: bool = True) -> JSONDict:
        """The message shaped the way Slack's API returns it (call with the lock held).

        Authorship as Slack renders it: a message an app's bot posted carries the bot's user
        (``user``), ``bot_id``, ``app_id`` and ``bot_profile``; a member's only ``user``.
        ``metadata`` only when asked for (conversations.history/replies return it only with
        ``include_all_metadata``).
        """
        author = self._people.get(message.author)
        rendered: JSONDict = {
            "type": "message",
            "user": message.author,
            "team": TEAM_ID,
            "ts": message.ts,
            "text": message.text or "",
        }
        if author is not None and author.bot_id is not None:
            rendered["bot_id"] = author.bot_id
            if author.app_id is not None:
                rendered["app_id"] = author.app_id
            rendered["bot_profile"] = {
                "id": author.bot_id,
                "app_id": author.app_id,
                "name": author.name,
                "deleted": False,
                "team_id": TEAM_ID,
            }
        if message.deleted:  # kept for its replies: Slack shows a tombstone
            rendered.update(subtype="tombstone", text=DELETED_TEXT, user="USLACKBOT")
            for key in ("bot_id", "app_id", "bot_profile"):
                rendered.pop(key, None)
        elif message.blocks is not None:
            rendered["blocks"] = copy.deepcopy(message.blocks)
        stored_metadata = message.payload.get("metadata")
        if metadata and isinstance(stored_metadata, dict) and not message.deleted:
            rendered["metadata"] = copy.deepcopy(stored_metadata)
        if message.edits:
            editor = author.bot_id if author is not None and author.bot_id else message.author
            rendered["edited"] = {"user": editor, "ts": message.edits[-1].edited_ts}
        if message.thread_ts is not None:
            rendered["thread_ts"] = message.thread_ts
            parent = self._by_key.get((message.channel, message.thread_ts))
            rendered["parent_user_id"] = parent.author if parent else message.author
            return rendered
        replies = self._threads.get((message.channel, message.ts), [])
        if replies:
            users = list(dict.fromkeys(r.author for r in replies))
            rendered.update(
                thread_ts=message.ts,
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1].ts,
            )
        return rendered

    # ------------------------------------------------------------------ faults

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        methods: str | Iterable[str] | None = None,
        retry_after: float = 1,
        delay: float = 0.0,
    ) -> None:
        """Queue a fault for the next ``times`` matching requests.

        ``methods`` limits it to those Web API methods (``"webhook"`` for the incoming
        webhook); ``None`` matches any request. ``delay`` seconds are slept before the fault
        is applied (for ``"delay"`` the request is then handled normally).
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay must be >= 0")
        selected = None
        if methods is not None:
            selected = frozenset([methods] if isinstance(methods, str) else methods)
        with self._lock:
            self._queued.append(_QueuedFault(kind, times, selected, retry_after, delay))

    def set_fault_rates(
        self,
        *,
        ratelimit: float = 0.0,
        server_error: float = 0.0,
        timeout: float = 0.0,
        retry_after: float = 1,
        timeout_delay: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """Make every request independently fail with these probabilities.

        ``"timeout"`` sleeps ``timeout_delay`` seconds, then drops the connection. With a
        ``seed`` the sequence of outcomes is deterministic (one draw per request). Queued
        faults from :meth:`inject` take precedence. All rates 0 switches this off.
        """
        rates = (ratelimit, server_error, timeout)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must be within [0, 1] and sum to at most 1")
        if retry_after < 0 or timeout_delay < 0:
            raise ValueError("retry_after and timeout_delay must be >= 0")
        with self._lock:
            if not any(rates):
                self._rates = None
                return
            self._rates = _FaultRates(
                ratelimit=ratelimit,
                server_error=server_error,
                timeout=timeout,
                retry_after=retry_after,
                timeout_delay=timeout_delay,
                rng=random.Random(seed),  # noqa: S311 - chaos testing, not cryptography
            )

    def set_latency(self, seconds: float) -> None:
        """Sleep ``seconds`` before handling every (non control-plane) request."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = seconds

    def _draw_random_fault(self) -> _Fault | None:
        rates = self._rates
        if rates is None:
            return None
        draw = rates.rng.random()
        if draw < rates.ratelimit:
            return _Fault("ratelimit", retry_after=rates.retry_after)
        draw -= rates.ratelimit
        if draw < rates.server_error:
            return _Fault("server_error")
        draw -= rates.server_error
        if draw < rates.timeout:
            return _Fault("timeout", delay=rates.timeout_delay)
        return None

    def _pick_fault(self, method: str) -> _Fault | None:
        with self._lock:
            drawn = self._draw_random_fault()
            for queued in self._queued:
                if queued.methods is None or method in queued.methods:
                    queued.remaining -= 1
                    if queued.remaining <= 0:
                        self._queued.remove(queued)
                    return _Fault(queued.kind, queued.retry_after, queued.delay)
            return drawn

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    @staticmethod
    def _fault_response(fault: _Fault) -> _Response | None:
        if fault.kind == "ratelimit":
            return _json_response(
                429,
                {"ok": False, "error": "ratelimited"},
                headers=(("Retry-After", f"{fault.retry_after:g}"),),
            )
        if fault.kind == "server_error":
            return _json_response(500, {"ok": False, "error": "internal_error"})
        if fault.kind == "unavailable":
            return _json_response(503, {"ok": False, "error": "service_unavailable"})
        return None

    # ------------------------------------------------------------------ request handling

    def _serve(self, handler: _Handler) -> None:
        """Entry point for every HTTP request (runs on the handler's thread)."""
        received = time.time()
        url = urlsplit(handler.path)
        body = handler.read_body()
        if handler.command == "GET" and url.path.startswith(_PAGE_PREFIX):
            handler.send(self._page(url.path, url.query))
            return
        if url.path.startswith(_CONTROL_PREFIX):
            handler.send(self._control(handler.command, url.path, url.query, body))
            return
        if handler.command == "POST" and url.path.startswith(_ACTIONS_PREFIX):
            try:
                self.interactivity.respond(url.path, body)
            except InteractionError as error:
                handler.send(_text_response(400, error.error))
                return
            handler.send(_text_response(200, "ok"))
            return

        content_type = handler.headers.get("Content-Type") or ""
        method = self._method_name(url.path)
        parse_error: str | None = None
        payload: JSONDict | None
        if method == "webhook":
            payload = _parse_webhook_payload(content_type, body)
        else:
            payload, parse_error = _parse_api_payload(content_type, body, url.query)

        def record(response: _Response | None, fault: _Fault | None) -> None:
            entry = RecordedRequest(
                method=method,
                http_method=handler.command,
                path=handler.path,
                headers=dict(handler.headers.items()),
                body=body,
                payload=payload,
                status=None if response is None else response.status,
                response_body=None if response is None else response.body,
                fault=None if fault is None else fault.kind,
                timestamp=received,
            )
            with self._lock:
                self._log.append(entry)

        with self._lock:
            latency = self._latency
        self._sleep(latency)
        fault = self._pick_fault(method)
        response: _Response | None = None
        if fault is not None:
            self._sleep(fault.delay)
            if fault.kind in _DROPPING_FAULTS:
                record(None, fault)  # before the client can observe the drop
                handler.drop()
                return
            response = self._fault_response(fault)
        if response is None:
            if method == "webhook":
                response = self._handle_webhook(url.path, payload)
            elif url.path.startswith(_API_PREFIX):
                authorization = handler.headers.get("Authorization")
                response = self._handle_api(method, payload or {}, parse_error, authorization)
            else:
                response = _json_response(404, {"ok": False, "error": "not_found"})
        record(response, fault)  # before the client can observe the response
        handler.send(response)

    @staticmethod
    def _method_name(path: str) -> str:
        if path.startswith(_API_PREFIX):
            return path.removeprefix(_API_PREFIX)
        if path.startswith(_SERVICES_PREFIX):
            return "webhook"
        return "unknown"

    def _handle_webhook(self, path: str, payload: JSONDict | None) -> _Response:
        if path != self._webhook_path:
            return _text_response(404, "no_service")
        if payload is None:
            return _text_response(400, "invalid_payload")
        try:
            text, blocks = _parse_content(payload)
        except _SlackError as error:
            return _text_response(
                400, "invalid_payload" if error.error == "no_text" else error.error
            )
        message = StoredMessage(
            channel=WEBHOOK_CHANNEL,
            ts=self._next_ts(),
            thread_ts=None,
            text=text,
            blocks=blocks,
            payload=payload,
            source="webhook",
        )
        self._add_message(message)
        return _text_response(200, "ok")

    def _handle_api(
        self, method: str, payload: JSONDict, parse_error: str | None, authorization: str | None
    ) -> _Response:
        try:
            result = self._call_api(method, payload, parse_error, authorization)
        except _SlackError as error:
            headers: tuple[tuple[str, str], ...] = ()
            if error.retry_after is not None:
                headers = (("Retry-After", retry_after_header(error.retry_after)),)
            return _json_response(error.status, refusal_body(error.error, error.detail), headers)
        return _json_response(200, {"ok": True, **result})

    def _call_api(
        self, method: str, payload: JSONDict, parse_error: str | None, authorization: str | None
    ) -> JSONDict:
        handler = self._api.get(method)
        if handler is None:
            raise _SlackError("unknown_method")
        if parse_error is not None:
            raise _SlackError(parse_error)
        identity = self._authenticate(payload, authorization)
        self._rate_limit(method, payload)
        self._refusal(method)
        return handler(payload, identity)

    def _rate_limit(self, method: str, payload: JSONDict) -> None:
        """Slack's limits, counted per method (chat.postMessage per channel too)."""
        raw = _optional_str(payload.get("channel"))
        channel = self._resolve_channel(raw) if raw is not None else None
        with self._lock:
            if not self._rate_limits:
                return
            wait = self._limiter.check(method, channel, self._app)
        if wait is not None:
            raise _SlackError("ratelimited", 429, retry_after=wait)

    def _refusal(self, method: str) -> None:
        with self._lock:
            for refusal in self._refusals:
                if refusal.methods is not None and method not in refusal.methods:
                    continue
                if refusal.remaining is not None:
                    refusal.remaining -= 1
                    if refusal.remaining <= 0:
                        self._refusals.remove(refusal)
                if refusal.error == "ratelimited":
                    raise _SlackError("ratelimited", 429, retry_after=1)
                raise _SlackError(refusal.error)

    def _authenticate(self, payload: JSONDict, authorization: str | None) -> Identity:
        token = _bearer_token(authorization) or _optional_str(payload.get("token"))
        if token is None:
            raise _SlackError("not_authed")
        with self._lock:
            identity = self._identities.get(token)
            if identity is None:
                raise _SlackError("invalid_auth")
            if token in self._revoked:
                raise _SlackError("token_revoked")
            if self._inactive:
                raise _SlackError("account_inactive")
        return identity

    def _channel_of(self, payload: JSONDict) -> str:
        raw = _optional_str(payload.get("channel"))
        channel = self._resolve_channel(raw) if raw is not None else None
        if channel is None or channel == WEBHOOK_CHANNEL:
            raise _SlackError("channel_not_found")
        return channel

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, payload: JSONDict, identity: Identity) -> JSONDict:
        """The fields Slack's auth.test reference documents: ``bot_id`` only for a bot token
        (no ``app_id``: the reference does not promise one)."""
        result: JSONDict = {
            "url": "https://sandbox.slack.com/",
            "team": "Sandbox",
            "user": identity.name,
            "team_id": TEAM_ID,
            "user_id": identity.user_id,
            "is_enterprise_install": False,
        }
        if identity.bot_id is not None:
            result["bot_id"] = identity.bot_id
        return result

    def _writable(self, channel: str) -> None:
        """chat.postMessage's and chat.update's channel checks (their reference pages)."""
        with self._lock:
            if channel in self._archived:
                raise _SlackError("is_archived")
            if channel in self._outside:
                raise _SlackError("not_in_channel")

    def _readable(self, channel: str) -> None:
        with self._lock:
            if channel in self._outside:
                raise _SlackError("not_in_channel")

    def _chat_post_message(self, payload: JSONDict, identity: Identity) -> JSONDict:
        channel = self._channel_of(payload)
        self._writable(channel)
        text, blocks = _parse_content(payload)
        thread_ts = _optional_str(payload.get("thread_ts"))
        with self._lock:
            if thread_ts is not None:
                parent = self._by_key.get((channel, thread_ts))
                if parent is not None and parent.thread_ts is not None:
                    thread_ts = parent.thread_ts  # replying to a reply lands in its thread
            message = StoredMessage(
                channel=channel,
                ts=self._next_ts(),
                thread_ts=thread_ts,
                text=text,
                blocks=blocks,
                payload=payload,
                author=identity.user_id,
                posted_at=self._clock(),
            )
            self._add_message(message)
            rendered = self._render(message)
        return {"channel": channel, "ts": message.ts, "message": rendered}

    def _chat_update(self, payload: JSONDict, identity: Identity) -> JSONDict:
        """Fields present in the update replace the stored ones; absent ones are kept.

        As chat.update's reference page lists: ``message_not_found`` for no such message (or
        a deleted one), ``cant_update_message`` for someone else's, ``edit_window_closed``
        past the team's edit setting, ``is_archived`` in an archived channel.
        """
        channel = self._channel_of(payload)
        ts = _optional_str(payload.get("ts"))
        text, blocks = _parse_content(payload)
        with self._lock:
            if channel in self._archived:
                raise _SlackError("is_archived")
            message = self._by_key.get((channel, ts)) if ts is not None else None
            if message is None or message.deleted:
                raise _SlackError("message_not_found")
            if message.author != identity.user_id:
                raise _SlackError("cant_update_message")
            window = self._edit_window
            if window is not None and self._clock() - message.posted_at > window:
                raise _SlackError("edit_window_closed")
            message.edits.append(
                MessageVersion(
                    text=message.text,
                    blocks=message.blocks,
                    payload=message.payload,
                    edited_ts=self._next_ts(),
                )
            )
            if "text" in payload:
                message.text = text
            if "blocks" in payload:
                message.blocks = blocks or None
            if "metadata" not in payload and "metadata" in message.payload:
                # Like Slack: an update that sends no metadata keeps the message's own.
                payload = {**payload, "metadata": message.payload["metadata"]}
            message.payload = payload
            rendered = self._render(message)
        return {"channel": channel, "ts": message.ts, "text": rendered["text"], "message": rendered}

    def _history_limit(self, payload: JSONDict) -> int:
        limit = _parse_limit(payload)
        with self._lock:
            if self._app == "non-marketplace":
                # "The maximum and default for the limit parameter has been reduced to 15".
                explicit = payload.get("limit") not in (None, "")
                return min(limit, NON_MARKETPLACE_HISTORY_LIMIT) if explicit else 15
        return limit

    def _conversations_history(self, payload: JSONDict, identity: Identity) -> JSONDict:
        """Top-level messages, newest first, a page of ``limit`` with a ``next_cursor``.

        A deleted message is left out, or shown as a tombstone while it has replies.
        """
        channel = self._channel_of(payload)
        self._readable(channel)
        limit = self._history_limit(payload)
        try:
            oldest = _micros(str(payload.get("oldest") or 0))  # like Slack: only later ones
            latest = _micros(str(payload["latest"])) if payload.get("latest") else None
        except (ValueError, ArithmeticError):
            raise _SlackError("invalid_arguments") from None
        cursor = _optional_str(payload.get("cursor"))
        until = latest - 1 if latest is not None else None  # "latest" itself is excluded
        if cursor is not None:
            at = _cursor_us(cursor)  # the first message of the next page, included
            until = at if until is None else min(until, at)
        with self._lock:
            top = [
                m
                for m in reversed(self._messages)
                if m.channel == channel
                and m.thread_ts is None
                and oldest < _micros(m.ts)
                and (until is None or _micros(m.ts) <= until)
                and (not m.deleted or self._threads.get((channel, m.ts)))
            ]
            page = top[:limit]
            metadata = _flag(payload.get("include_all_metadata"))
            rendered = [self._render(m, metadata=metadata) for m in page]
            has_more = len(top) > limit
        return {
            "messages": rendered,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": _cursor(top[limit].ts) if has_more else ""},
        }

    def _conversations_replies(self, payload: JSONDict, identity: Identity) -> JSONDict:
        """A thread, parent first, a page of ``limit`` with a ``next_cursor``."""
        channel = self._channel_of(payload)
        self._readable(channel)
        ts = _optional_str(payload.get("ts"))
        if ts is None:
            raise _SlackError("invalid_arguments")
        limit = self._history_limit(payload)
        cursor = _optional_str(payload.get("cursor"))
        start = _cursor_us(cursor) if cursor is not None else 0  # included
        with self._lock:
            found = self._by_key.get((channel, ts))
            if found is None:
                raise _SlackError("thread_not_found")
            root_ts = found.thread_ts or found.ts
            root = self._by_key.get((channel, root_ts))
            replies = [m for m in self._threads.get((channel, root_ts), []) if not m.deleted]
            if root is not None and root.deleted and not replies:
                raise _SlackError("thread_not_found")
            thread = ([root] if root is not None else []) + replies
            thread = [m for m in thread if _micros(m.ts) >= start]
            metadata = _flag(payload.get("include_all_metadata"))
            rendered = [self._render(m, metadata=metadata) for m in thread[:limit]]
            has_more = len(thread) > limit
        return {
            "messages": rendered,
            "has_more": has_more,
            "response_metadata": {"next_cursor": _cursor(thread[limit].ts) if has_more else ""},
        }

    # ------------------------------------------------------------------ the page

    def _page(self, path: str, query: str) -> _Response:
        """``/channel/<id or name>[?ts=TS][&replies=0]``: the channel as Slack would draw it."""
        params = dict(parse_qsl(query))
        raw = unquote(path.removeprefix(_PAGE_PREFIX).strip("/"))
        ts = params.get("ts")
        with self._lock:
            channel = self._resolve_channel(raw)
            if channel is None:
                return self._html(404, render_not_found(f"No channel {raw!r} in this workspace."))
            posts = self._posts(channel, ts)
            channels = {**self._channels}
            if any(m.channel == WEBHOOK_CHANNEL for m in self._messages):
                channels[WEBHOOK_CHANNEL] = "incoming-webhook"
        if ts is not None and not posts:
            return self._html(404, render_not_found(f"No message {ts!r} in this channel."))
        page = render_channel(
            workspace="Sandbox",
            channels=channels,
            channel_id=channel,
            posts=posts,
            show_replies=params.get("replies", "1") not in {"0", "false"},
            link=lambda channel_id: f"{_PAGE_PREFIX}{quote(channel_id, safe='')}",
        )
        return self._html(200, page)

    @staticmethod
    def _html(status: int, page: str) -> _Response:
        return _Response(status=status, body=page, content_type=_HTML_TYPE, headers=_PAGE_HEADERS)

    def _posts(self, channel: str, ts: str | None) -> list[Post]:
        """Top-level messages (a deleted one only while it has replies), oldest first, each
        with its replies; only the thread holding ``ts`` when given (call with the lock held)."""
        if ts is not None:
            found = self._by_key.get((channel, ts))
            ts = None if found is None else (found.thread_ts or found.ts)
            if ts is None:
                return []
        posts = []
        for message in self._messages:
            if message.channel != channel or message.thread_ts is not None:
                continue
            if ts is not None and message.ts != ts:
                continue
            replies = [r for r in self._threads.get((channel, message.ts), []) if not r.deleted]
            if message.deleted and not replies:
                continue
            posts.append(self._post(message, tuple(self._post(r) for r in replies)))
        return posts

    def _post(self, message: StoredMessage, replies: tuple[Post, ...] = ()) -> Post:
        author = self._people.get(message.author)
        return Post(
            message=self._render(message, metadata=False),
            author=author.name if author is not None else message.author,
            is_app=author is not None and author.bot_id is not None,
            replies=replies,
        )

    # ------------------------------------------------------------------ control plane

    def _control(self, verb: str, path: str, query: str, body: str) -> _Response:
        route = (verb, path.removeprefix(_CONTROL_PREFIX).rstrip("/"))
        params = dict(parse_qsl(query))
        if route == ("GET", "requests"):
            return _json_response(
                200, {"ok": True, "requests": [r.to_json() for r in self.requests]}
            )
        if route == ("GET", "messages"):
            channel = params.get("channel")
            if channel is None:
                with self._lock:
                    found = [copy.deepcopy(m) for m in self._messages]
            else:
                found = self.messages(channel)
            return _json_response(200, {"ok": True, "messages": [m.to_json() for m in found]})
        if route == ("GET", "info"):
            info = {"base_url": self.base_url, "webhook_url": self.webhook_url}
            return _json_response(200, {"ok": True, **info, "channels": self._channels})
        if route == ("POST", "reset"):
            self.reset()
            return _json_response(200, {"ok": True})
        if route == ("POST", "faults"):
            return self._control_faults(body)
        return _json_response(404, {"ok": False, "error": "unknown_control_endpoint"})

    def _control_faults(self, body: str) -> _Response:
        """Body: ``inject()`` kwargs incl. ``kind``; ``{"rates": {...}}``; ``{"latency": s}``."""
        try:
            spec = json.loads(body or "{}")
        except json.JSONDecodeError:
            return _json_response(400, {"ok": False, "error": "invalid_json"})
        if not isinstance(spec, dict):
            return _json_response(400, {"ok": False, "error": "invalid_json"})
        try:
            self._apply_fault_spec(spec)
        except (TypeError, ValueError) as error:
            return _json_response(400, {"ok": False, "error": str(error)})
        return _json_response(200, {"ok": True})

    def _apply_fault_spec(self, spec: JSONDict) -> None:
        """Also: ``{"rate_limits": bool}``, ``{"app": kind}``, ``{"edit_window": s | null}``,
        ``{"refuse": {"error": ..., "methods": [...], "times": n}}``,
        ``{"delete": {"channel": ..., "ts": ...}}``."""
        settings = {"rate_limits", "app", "edit_window", "refuse", "delete"}
        if not {"kind", "rates", "latency"} & spec.keys():
            if not settings & spec.keys():
                raise ValueError(
                    f"expected 'kind', 'rates', 'latency' or one of {sorted(settings)}"
                )
            self._apply_settings(spec)
            return
        self._apply_settings(spec)
        if "latency" in spec:
            self.set_latency(_as_float(spec["latency"], "latency"))
        rates = spec.get("rates")
        if rates is not None:
            if not isinstance(rates, dict):
                raise ValueError("rates must be an object")
            seed = rates.get("seed")
            self.set_fault_rates(
                ratelimit=_as_float(rates.get("ratelimit", 0.0), "ratelimit"),
                server_error=_as_float(rates.get("server_error", 0.0), "server_error"),
                timeout=_as_float(rates.get("timeout", 0.0), "timeout"),
                retry_after=_as_float(rates.get("retry_after", 1), "retry_after"),
                timeout_delay=_as_float(rates.get("timeout_delay", 1.0), "timeout_delay"),
                seed=None if seed is None else _as_int(seed, "seed"),
            )
        if "kind" in spec:
            kind = spec["kind"]
            if kind not in _FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
            methods = spec.get("methods")
            if methods is not None and not (
                isinstance(methods, str)
                or (isinstance(methods, list) and all(isinstance(m, str) for m in methods))
            ):
                raise ValueError("methods must be a string or a list of strings")
            self.inject(
                cast(FaultKind, kind),
                times=_as_int(spec.get("times", 1), "times"),
                methods=methods,
                retry_after=_as_float(spec.get("retry_after", 1), "retry_after"),
                delay=_as_float(spec.get("delay", 0.0), "delay"),
            )

    def _apply_settings(self, spec: JSONDict) -> None:
        if "rate_limits" in spec:
            if not isinstance(spec["rate_limits"], bool):
                raise ValueError("rate_limits must be true or false")
            self.set_rate_limits(spec["rate_limits"])
        if "app" in spec:
            self.set_app(cast(AppKind, str(spec["app"])))
        if "edit_window" in spec:
            window = spec["edit_window"]
            self.set_edit_window(None if window is None else _as_float(window, "edit_window"))
        refuse = spec.get("refuse")
        if refuse is not None:
            if not isinstance(refuse, dict) or not isinstance(refuse.get("error"), str):
                raise ValueError("refuse must be an object with an 'error'")
            times = refuse.get("times")
            self.refuse(
                refuse["error"],
                methods=refuse.get("methods"),
                times=None if times is None else _as_int(times, "times"),
            )
        delete = spec.get("delete")
        if delete is not None:
            if not isinstance(delete, dict):
                raise ValueError("delete must be an object with 'channel' and 'ts'")
            try:
                self.delete_message(str(delete.get("channel")), str(delete.get("ts")))
            except KeyError as exc:
                raise ValueError(str(exc)) from None


# --------------------------------------------------------------------------- CLI


def _parse_channel(value: str) -> tuple[str, str]:
    channel_id, sep, name = value.partition("=")
    if not sep or not channel_id or not name:
        raise argparse.ArgumentTypeError(f"expected ID=NAME, got {value!r}")
    return channel_id, name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.slack_emulator",
        description="Serve a local Slack Web API + incoming webhook emulator in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--token", action="append", dest="tokens", help=f"accepted token (default {DEFAULT_TOKEN})"
    )
    parser.add_argument(
        "--channel",
        action="append",
        dest="channels",
        type=_parse_channel,
        metavar="ID=NAME",
        help="known channel (default C0SECALERTS=security-alerts)",
    )
    parser.add_argument("--webhook-path", default=DEFAULT_WEBHOOK_PATH)
    args = parser.parse_args(argv)

    tokens: list[str] = args.tokens or [DEFAULT_TOKEN]
    channels: Mapping[str, str] = dict(args.channels) if args.channels else DEFAULT_CHANNELS
    # SIGTERM stops the server as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    emulator = SlackEmulator(
        tokens=tokens,
        channels=channels,
        webhook_path=args.webhook_path,
        host=args.host,
        port=args.port,
    )
    with emulator, contextlib.suppress(KeyboardInterrupt):
        print(f"base_url={emulator.base_url}", flush=True)
        print(f"webhook_url={emulator.webhook_url}", flush=True)
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
