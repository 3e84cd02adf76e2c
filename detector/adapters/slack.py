"""Slack delivery: Web API with a bot token (threads, updates) or an incoming webhook.

Every failure becomes an :class:`AlertDeliveryError` built from its type, Slack's error code or
the HTTP status only, never from an exception's text (which may quote the token or the URL).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from detector import retry
from detector.adapters.pacing import Pacer
from detector.domain.delivery import SlackRef
from detector.domain.message import METADATA_EVENT_TYPE, SlackMessage, post_body, webhook_body
from detector.errors import AlertDeliveryError, RedirectRefused

_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired"})
_SLACK_CODE = re.compile(r"[a-z0-9_]{1,64}")  # Slack's error codes: snake_case words
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_MAX_BODY = 8 * 1024 * 1024  # an answer is read up to this size
_USER_AGENT = "root-key-detector"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, whatever its status."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class SlackHttp:
    """POSTs to Slack through a urllib opener that follows no redirect and raises no HTTPError.

    Not slack_sdk's clients: their urllib transport follows redirects, so a 302 from the API
    host would send ``Authorization: Bearer xoxb-...`` on to wherever it points, and slack_sdk
    has no public way to stop that (Block Kit is still modelled with slack_sdk, in
    :mod:`detector.domain.message`).

    The opener has only the HTTP, HTTPS (certificates verified) and proxy handlers (proxies
    from the environment, as slack_sdk honoured them): no redirect handler, no error processor,
    so every status comes back as an :class:`Answer` and a 3xx is refused here.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout = timeout_s
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        ):
            self._opener.add_handler(handler)

    def post(self, service: str, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST ``body`` to ``url``.

        Raises:
            RedirectRefused: the answer was a 3xx (nothing is sent to its Location).
            AlertDeliveryError: the request failed before an answer (code: the error's type;
                transient for network errors and timeouts).
        """
        answer: Answer | None = None
        failure: AlertDeliveryError | None = None
        try:
            request = urllib.request.Request(  # noqa: S310 - the opener has only http(s) handlers
                url, data=body, headers={"User-Agent": _USER_AGENT, **headers}, method="POST"
            )
            with self._opener.open(request, timeout=self._timeout) as resp:
                answer = Answer(int(resp.status), dict(resp.headers.items()), resp.read(_MAX_BODY))
        except Exception as exc:  # noqa: BLE001 - every failure is translated, below
            failure = _transport_error(service, exc)
        # Raised outside the except block, so the original (whose text may quote the token or
        # the webhook URL) is neither the cause nor the context of the error.
        if failure is not None:
            raise failure
        assert answer is not None  # noqa: S101 - set when no failure
        if 300 <= answer.status < 400:
            raise RedirectRefused(
                service,
                f"HTTP {answer.status}",
                "Slack answered with a redirect; it is not followed (it would take the request "
                "and its credentials to another host)",
                transient=False,
            )
        return answer


def _transport_error(service: str, exc: Exception) -> AlertDeliveryError:
    name = type(exc).__name__
    # Network trouble and timeouts may pass; a ValueError (http.client's InvalidURL, an
    # invalid header value) never does.
    transient = isinstance(exc, OSError | http.client.HTTPException) and not isinstance(
        exc, ValueError
    )
    error = AlertDeliveryError(
        service, name, f"{name} before Slack answered (details withheld)", transient=transient
    )
    # urllib wraps what fails while connecting and sending in URLError; anything else failed
    # while waiting for the answer, after Slack had the whole request.
    error.maybe_delivered = transient and not isinstance(exc, urllib.error.URLError)
    return error


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot token posts as, from ``auth.test``."""

    bot_id: str
    user_id: str | None = None
    app_id: str | None = None  # when auth.test names it

    def posted(self, message: Mapping[str, Any]) -> bool:
        """Whether this bot posted ``message`` (as conversations.history/replies return it).

        A message an app's bot posts carries the bot's ``bot_id`` and the app's ``app_id``
        (Slack sets both; no one else can post them).
        """
        if message.get("bot_id") != self.bot_id:
            return False
        return self.app_id is None or message.get("app_id") == self.app_id


class SlackBotAlerter:
    """chat.postMessage / chat.update with a bot token; one retry layer (tenacity).

    An ``invalid_auth`` answer drops the cached token once (it may have been rotated in
    Secrets Manager) before giving up.
    """

    supports_threads = True

    def __init__(
        self,
        token: Callable[[], str],
        channel: str,
        retry_env: retry.RetryEnv,
        *,
        base_url: str,
        timeout_s: float = 5.0,
        on_auth_failure: Callable[[], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._token = token
        self._channel = channel
        self._pacer = pacer  # posts within Slack's per-channel rate (adapters/pacing.py)
        self._retry_env = retry_env
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._http = SlackHttp(timeout_s)
        self._on_auth_failure = on_auth_failure
        self._bearer: str | None = None
        self._identity: BotIdentity | None = None
        self._lock = threading.Lock()

    def _current_token(self) -> str:
        with self._lock:
            if self._bearer is None:
                self._bearer = self._token()
            return self._bearer

    def prepare(self) -> None:
        """Read the token now (a no-op when warm); errors surface later, with the post."""
        # Any error here surfaces again with the post, under its retry policy.
        with contextlib.suppress(Exception):
            self._current_token()

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef:
        """Post to the configured channel (a thread reply when ``thread`` is given)."""
        params = post_body(
            message, thread.channel if thread else self._channel, thread.ts if thread else None
        )
        resp = self._call("chat.postMessage", params)
        channel, ts = resp.get("channel"), resp.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str) or not _TS.fullmatch(ts):
            raise AlertDeliveryError(
                "slack.chat.postMessage",
                "invalid_response",
                "Slack accepted the message but named no channel and ts",
                transient=False,
            )
        return SlackRef(channel=channel, ts=ts)

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Replace the text and blocks of a posted message."""
        self._call("chat.update", {"channel": ref.channel, "ts": ref.ts, **message.payload()})

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (``views.open``). Once, unretried: the trigger id lives three seconds
        and works once ("views.open method", Slack reference)."""
        self._send(
            "slack.views.open", "views.open", {"trigger_id": trigger_id, "view": view}, form=False
        )

    def group_members(self, group_id: str) -> frozenset[str]:
        """The user ids of a user group (``usergroups.users.list``, scope ``usergroups:read``)."""
        data = self._call("usergroups.users.list", {"usergroup": group_id}, form=True)
        users = data.get("users")
        return (
            frozenset(u for u in users if isinstance(u, str))
            if isinstance(users, list)
            else frozenset()
        )

    def respond(self, response_url: str, text: str) -> None:
        """An ephemeral answer to the person who clicked, through the payload's response_url
        (no token: the URL is the credential, and it is never logged)."""
        body = json.dumps({"response_type": "ephemeral", "replace_original": False, "text": text})
        answer = self._http.post(
            "slack.response_url",
            response_url,
            body.encode(),
            {"Content-Type": "application/json; charset=utf-8"},
        )
        if answer.status != 200:
            raise AlertDeliveryError(
                "slack.response_url",
                f"HTTP {answer.status}",
                f"Slack answered HTTP {answer.status}",
                transient=answer.status == 429 or answer.status >= 500,
            )

    def identity(self) -> BotIdentity:
        """The bot this token posts as (``auth.test``, asked once per container).

        Raises:
            AlertDeliveryError: Slack could not be asked, or the token is not a bot's.
        """
        with self._lock:
            if self._identity is not None:
                return self._identity
        data = self._call("auth.test", {}, form=True)
        bot_id, user_id, app_id = (data.get(k) for k in ("bot_id", "user_id", "app_id"))
        if not isinstance(bot_id, str) or not bot_id:
            raise AlertDeliveryError(
                "slack.auth.test",
                "not_a_bot_token",
                "auth.test names no bot: the app's own posts cannot be told from others'",
                transient=False,
            )
        found = BotIdentity(
            bot_id=bot_id,
            user_id=user_id if isinstance(user_id, str) and user_id else None,
            app_id=app_id if isinstance(app_id, str) and app_id else None,
        )
        with self._lock:
            self._identity = found
        return found

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        """This event's message if an earlier attempt posted it.

        Only a message this app's bot posted (its ``bot_id``, and ``app_id`` when auth.test
        names it) whose metadata names this event and this finding counts: anyone else can
        post metadata. Reads the thread's replies, or the channel's top-level messages since a
        minute before the event (``channels:history``, or ``groups:history`` for a private
        channel).
        """
        wanted = _marker(message.metadata)
        if wanted is None:
            return None
        me = self.identity()
        params: dict[str, Any] = {"include_all_metadata": "true", "limit": str(_FIND_LIMIT)}
        if thread is not None:
            channel = thread.channel
            resp = self._call(
                "conversations.replies", {**params, "channel": channel, "ts": thread.ts}, form=True
            )
        else:
            channel = self._channel
            oldest = f"{since.timestamp() - 60:.6f}"
            resp = self._call(
                "conversations.history", {**params, "channel": channel, "oldest": oldest}, form=True
            )
        for found in resp.get("messages") or []:
            if not isinstance(found, dict) or not me.posted(found):
                continue
            ts = found.get("ts")
            if _marker(found.get("metadata")) != wanted or not isinstance(ts, str):
                continue
            if _TS.fullmatch(ts):
                return SlackRef(channel=channel, ts=ts)
        return None

    def _call(self, method: str, params: dict[str, Any], *, form: bool = False) -> dict[str, Any]:
        for refreshed in (False, True):
            try:
                return retry.build(retry.SLACK_CALL, self._retry_env)(
                    lambda: self._api(method, params, form=form)
                )
            except AlertDeliveryError as exc:
                if exc.code in _AUTH_ERRORS and not refreshed and self._on_auth_failure:
                    self._on_auth_failure()
                    with self._lock:
                        self._bearer = None
                        self._identity = None
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _api(self, method: str, params: dict[str, Any], *, form: bool) -> dict[str, Any]:
        """One Web API call: JSON body (chat.*) or form-encoded (read methods, auth.test)."""
        service = f"slack.{method}"
        if method == "chat.postMessage" and self._pacer is not None:
            self._pacer.wait(str(params["channel"]))  # every attempt, retries too
        if method == "chat.postMessage":
            try:
                return self._send(service, method, params, form=form)
            except AlertDeliveryError as exc:
                if not exc.maybe_delivered:
                    raise
                # Not retried here: posting again could post twice. The caller looks first.
                exc.transient = False
                raise
        return self._send(service, method, params, form=form)

    def _send(
        self, service: str, method: str, params: dict[str, Any], *, form: bool
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._current_token()}"}
        if form:
            body = urlencode(params).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(params).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        answer = self._http.post(service, self._base_url + method, body, headers)
        return _api_result(service, answer)


_FIND_LIMIT = 200  # messages read when looking for an earlier attempt's post


def _api_result(service: str, answer: Answer) -> dict[str, Any]:
    """The Web API's ``{"ok": true, ...}``, else the error it names (``ok: false`` or status)."""
    status = answer.status
    retry_after = retry.retry_after_s_from_headers(answer.headers)
    try:
        data: Any = json.loads(answer.body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("ok") is True and status == 200:
        return data
    error = data.get("error") if isinstance(data, dict) else None
    code = error if isinstance(error, str) and _SLACK_CODE.fullmatch(error) else f"HTTP {status}"
    transient = status == 429 or status >= 500 or code in retry.SLACK_TRANSIENT_ERRORS
    raise AlertDeliveryError(
        service,
        code,
        f"Slack answered HTTP {status}, error {code!r}",
        transient=transient,
        retry_after_s=retry_after,
    )


def _marker(metadata: Any) -> tuple[str, str] | None:
    """(event id, finding id) in our message metadata (None for anyone else's message)."""
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict):
        return None
    event_id, finding_id = payload.get("event_id"), payload.get("finding_id", "")
    if not isinstance(event_id, str) or not event_id or not isinstance(finding_id, str):
        return None
    return event_id, finding_id


class SlackWebhookAlerter:
    """Incoming webhook: no threads, no updates; a 429 or 5xx is retried."""

    supports_threads = False

    def __init__(
        self, url: Callable[[], str], retry_env: retry.RetryEnv, *, timeout_s: float = 5.0
    ) -> None:
        self._url = url
        self._retry_env = retry_env
        self._http = SlackHttp(timeout_s)

    def prepare(self) -> None:
        """Read the webhook URL now (a no-op when warm); errors surface with the post."""
        with contextlib.suppress(Exception):  # the post reports it
            self._url()

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> None:
        """Send the message; a thread reply becomes a plain message (webhooks have no threads)."""
        body = json.dumps(webhook_body(message)).encode()

        def send() -> None:
            answer = self._http.post(
                "slack.webhook",
                self._url(),
                body,
                {"Content-Type": "application/json; charset=utf-8"},
            )
            if answer.status == 200:
                return
            # Slack's webhook errors are short codes (no_service, invalid_payload...); anything
            # else in the body is not repeated.
            reason = answer.body[:64].decode("utf-8", "replace").strip()
            shown = reason if _SLACK_CODE.fullmatch(reason) else "no error code"
            raise AlertDeliveryError(
                "slack.webhook",
                f"HTTP {answer.status}",
                f"Slack answered HTTP {answer.status}: {shown}",
                transient=answer.status == 429 or answer.status >= 500,
                retry_after_s=retry.retry_after_s_from_headers(answer.headers),
            )

        retry.build(retry.SLACK_CALL, self._retry_env)(send)

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Webhooks cannot edit messages: post the new state instead."""
        self.post(message)

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        """A webhook cannot read the channel: an earlier attempt's post cannot be found."""
        return None
