"""Slack delivery: Web API with a bot token (threads, updates) or an incoming webhook."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from detector import retry
from detector.domain.delivery import SlackRef
from detector.domain.message import METADATA_EVENT_TYPE, SlackMessage
from detector.errors import AlertDeliveryError, ExternalServiceError

_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired"})


class SlackBotAlerter:
    """chat.postMessage / chat.update with a bot token; one retry layer (tenacity).

    The WebClient is built once per container with ``retry_handlers=[]`` so slack_sdk adds no
    retries of its own. An ``invalid_auth`` answer drops the cached token once (it may have
    been rotated in Secrets Manager) before giving up.
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
    ) -> None:
        self._token = token
        self._channel = channel
        self._retry_env = retry_env
        self._base_url = base_url
        self._timeout = timeout_s
        self._on_auth_failure = on_auth_failure
        self._client: WebClient | None = None
        self._lock = threading.Lock()

    def _web(self) -> WebClient:
        with self._lock:
            if self._client is None:
                self._client = WebClient(
                    token=self._token(),
                    base_url=self._base_url,
                    timeout=int(max(1, round(self._timeout))),
                    retry_handlers=[],
                )
            return self._client

    def prepare(self) -> None:
        """Read the token and build the client now (a no-op when warm); errors surface later."""
        # Any error here surfaces again with the post, under its retry policy.
        with contextlib.suppress(Exception):
            self._web()

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef:
        """Post to the configured channel (a thread reply when ``thread`` is given)."""
        payload = message.payload()
        kwargs: dict[str, Any] = {
            "channel": thread.channel if thread else self._channel,
            "text": payload["text"],
            "blocks": payload["blocks"],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread is not None:
            kwargs["thread_ts"] = thread.ts
        if "metadata" in payload:
            kwargs["metadata"] = payload["metadata"]
        resp = self._call("chat.postMessage", lambda c: c.chat_postMessage(**kwargs))
        return SlackRef(channel=str(resp["channel"]), ts=str(resp["ts"]))

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Replace the text and blocks of a posted message."""
        payload = message.payload()
        self._call(
            "chat.update",
            lambda c: c.chat_update(channel=ref.channel, ts=ref.ts, **payload),
        )

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        """This event's message if an earlier attempt posted it (by its metadata's event id).

        Reads the thread's replies, or the channel's top-level messages since a minute before
        the event (``channels:history``, or ``groups:history`` for a private channel).
        """
        wanted = _event_id(message.metadata)
        if not wanted:
            return None
        if thread is not None:
            channel = thread.channel
            resp = self._call(
                "conversations.replies",
                lambda c: c.conversations_replies(
                    channel=channel, ts=thread.ts, include_all_metadata=True, limit=_FIND_LIMIT
                ),
            )
        else:
            channel = self._channel
            oldest = f"{since.timestamp() - 60:.6f}"
            resp = self._call(
                "conversations.history",
                lambda c: c.conversations_history(
                    channel=channel, oldest=oldest, include_all_metadata=True, limit=_FIND_LIMIT
                ),
            )
        for found in resp.get("messages") or []:
            if isinstance(found, dict) and _event_id(found.get("metadata")) == wanted:
                return SlackRef(channel=channel, ts=str(found["ts"]))
        return None

    def _call(self, method: str, fn: Callable[[WebClient], Any]) -> Any:
        service = f"slack.{method}"
        for refreshed in (False, True):
            try:
                return retry.build(retry.SLACK_CALL, self._retry_env)(lambda: fn(self._web()))
            except SlackApiError as exc:
                code = retry.error_code(exc)
                if code in _AUTH_ERRORS and not refreshed and self._on_auth_failure:
                    self._on_auth_failure()
                    with self._lock:
                        self._client = None
                    continue
                raise AlertDeliveryError(
                    service, code, _describe(exc), transient=retry.is_transient(exc)
                ) from None
            except (SlackClientError, OSError) as exc:
                raise AlertDeliveryError(
                    service, retry.error_code(exc), str(exc), transient=retry.is_transient(exc)
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover


_FIND_LIMIT = 200  # messages read when looking for an earlier attempt's post


def _event_id(metadata: Any) -> str | None:
    """The event id in our message metadata (None for anyone else's message)."""
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    value = payload.get("event_id") if isinstance(payload, dict) else None
    return value if isinstance(value, str) and value else None


class SlackWebhookAlerter:
    """Incoming webhook: no threads, no updates; a 429 or 5xx is an answer, not an exception."""

    supports_threads = False

    def __init__(
        self, url: Callable[[], str], retry_env: retry.RetryEnv, *, timeout_s: float = 5.0
    ) -> None:
        self._url = url
        self._retry_env = retry_env
        self._timeout = timeout_s
        self._client: WebhookClient | None = None

    def prepare(self) -> None:
        """Read the webhook URL now (a no-op when warm); errors surface with the post."""
        with contextlib.suppress(Exception):  # the post reports it
            self._url()

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> None:
        """Send the message; a thread reply becomes a plain message (webhooks have no threads)."""
        payload = message.payload()

        def send() -> None:
            if self._client is None:
                self._client = WebhookClient(
                    self._url(), timeout=int(max(1, round(self._timeout))), retry_handlers=[]
                )
            resp = self._client.send(
                text=payload["text"], blocks=payload["blocks"], unfurl_links=False
            )
            if resp.status_code == 200:
                return
            transient = resp.status_code == 429 or resp.status_code >= 500
            err = _WebhookError(
                "slack.webhook",
                f"HTTP {resp.status_code}",
                str(resp.body)[:200],
                transient=transient,
            )
            err.retry_after_s = retry.retry_after_s_from_headers(resp.headers)
            raise err

        try:
            retry.build(retry.SLACK_CALL, self._retry_env)(send)
        except ExternalServiceError as exc:
            raise AlertDeliveryError(
                exc.service, exc.code, str(exc), transient=exc.transient
            ) from None
        except (SlackClientError, OSError) as exc:
            # Never let the webhook URL (a secret) reach an error message.
            raise AlertDeliveryError(
                "slack.webhook", retry.error_code(exc), type(exc).__name__, transient=True
            ) from None

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Webhooks cannot edit messages: post the new state instead."""
        self.post(message)

    def find_posted(
        self, message: SlackMessage, *, thread: SlackRef | None, since: datetime
    ) -> SlackRef | None:
        """A webhook cannot read the channel: an earlier attempt's post cannot be found."""
        return None


class _WebhookError(ExternalServiceError):
    retry_after_s: float | None = None


def _describe(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    status = getattr(exc.response, "status_code", None)
    err = data.get("error") if isinstance(data, dict) else None
    return f"Slack answered HTTP {status}, error {err!r}"
