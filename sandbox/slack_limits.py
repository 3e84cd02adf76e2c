"""Slack's documented rate limits and ``ok: false`` answers, as the Slack emulator applies them.

Sources (read 2026-12; docs.slack.dev mirrors api.slack.com):

* "Rate limits" (https://docs.slack.dev/apis/web-api/rate-limits): limits apply per method,
  per workspace, per app, in per-minute windows; Tier 1 is 1+ per minute, Tier 2 20+, Tier 3
  50+, Tier 4 100+; over a limit the answer is HTTP 429 with ``Retry-After`` (seconds) and
  ``{"ok": false, "error": "ratelimited"}``. "Posting messages: 1 per second [per channel].
  Short bursts >1 allowed", and chat.postMessage keeps "a workspace-wide limit" ("several
  hundred messages per minute").
* Method reference pages (https://docs.slack.dev/reference/methods/<method>): auth.test
  "allows hundreds of requests per minute"; chat.update, conversations.history and
  conversations.replies are Tier 3; each page lists the method's errors.
* Changelog "Rate limit changes for non-Marketplace apps" (2025-05-29,
  https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps):
  for commercially distributed apps not approved for the Marketplace, conversations.history
  and conversations.replies are 1 request per minute and "the maximum and default for the
  limit parameter has been reduced to 15 objects"; internal (in-house) and Marketplace apps
  keep Tier 3.
* "Using the Slack Web API" (https://docs.slack.dev/apis/web-api): an error is HTTP 200 with
  ``"ok": false`` and an ``error`` code; Block Kit validation errors (``invalid_blocks``) also
  carry ``errors`` and ``response_metadata.messages``.

Where Slack gives a floor ("50+ per minute", "short bursts"), the emulator takes the floor:
the sandbox is at least as strict as the documents.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

__all__ = [
    "DOCUMENTED_ERRORS",
    "NON_MARKETPLACE_HISTORY_LIMIT",
    "POST_BURST",
    "AppKind",
    "RateLimiter",
    "Window",
    "refusal_body",
]

AppKind = Literal["in-house", "marketplace", "non-marketplace"]
APP_KINDS: Final = frozenset(get_args(AppKind))


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``count`` requests in any ``period`` seconds (a sliding window)."""

    count: int
    period: float = 60.0


TIER_1: Final = Window(1)
TIER_2: Final = Window(20)
TIER_3: Final = Window(50)
TIER_4: Final = Window(100)
# auth.test: "hundreds of requests per minute"; the floor of "hundreds" is taken as 100.
AUTH_TEST: Final = Window(100)
METHOD_LIMITS: Final[dict[str, Window]] = {
    "auth.test": AUTH_TEST,
    "chat.update": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
}
NON_MARKETPLACE_LIMITS: Final[dict[str, Window]] = {
    "conversations.history": TIER_1,
    "conversations.replies": TIER_1,
}
NON_MARKETPLACE_HISTORY_LIMIT: Final = 15
# chat.postMessage: one message per second per channel, "short bursts >1 allowed" (Slack
# names no size: 5 here), and a workspace-wide "several hundred per minute" (300 here).
POST_PER_SECOND: Final = 1.0
POST_BURST: Final = 5
POST_WORKSPACE: Final = Window(300)


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """Counts requests against Slack's limits on an injectable clock (tests never sleep)."""

    clock: Callable[[], float]
    post_burst: int = POST_BURST
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every request counted so far."""
        self._windows.clear()
        self._buckets.clear()

    def check(self, method: str, channel: str | None, app: AppKind) -> float | None:
        """None if the request may proceed (it is then counted); else the seconds to wait."""
        now = self.clock()
        if method == "chat.postMessage":
            return self._post(channel, now)
        window = METHOD_LIMITS.get(method)
        if app == "non-marketplace":
            window = NON_MARKETPLACE_LIMITS.get(method, window)
        if window is None:
            return None
        return self._take(method, window, now)

    def _take(self, key: str, window: Window, now: float) -> float | None:
        times = self._windows.setdefault(key, deque())
        while times and times[0] <= now - window.period:
            times.popleft()
        if len(times) >= window.count:
            return times[0] + window.period - now
        times.append(now)
        return None

    def _post(self, channel: str | None, now: float) -> float | None:
        bucket = None
        if channel is not None:
            bucket = self._buckets.setdefault(channel, _Bucket(float(self.post_burst), now))
            bucket.tokens = min(
                float(self.post_burst), bucket.tokens + (now - bucket.at) * POST_PER_SECOND
            )
            bucket.at = now
            if bucket.tokens < 1.0:
                return (1.0 - bucket.tokens) / POST_PER_SECOND
        wait = self._take("chat.postMessage", POST_WORKSPACE, now)
        if wait is not None:
            return wait
        if bucket is not None:
            bucket.tokens -= 1.0
        return None


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds (as Slack sends it), at least 1."""
    return str(max(1, math.ceil(seconds - 1e-9)))


# Errors every method can answer: authentication ("Using the Slack Web API", each method's
# page) and the server's own trouble.
COMMON_ERRORS: Final = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
# Each method's own errors, from its reference page.
DOCUMENTED_ERRORS: Final[dict[str, frozenset[str]]] = {
    "auth.test": COMMON_ERRORS,
    "chat.postMessage": COMMON_ERRORS
    | {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "too_many_attachments",
        "rate_limited",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "ekm_access_denied",
        "no_permission",
    },
    "chat.update": COMMON_ERRORS
    | {
        "cant_update_message",
        "channel_not_found",
        "edit_window_closed",
        "message_not_found",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "is_archived",
        "too_many_attachments",
    },
    "conversations.history": COMMON_ERRORS
    | {"channel_not_found", "not_in_channel", "invalid_cursor", "invalid_limit"},
    "conversations.replies": COMMON_ERRORS
    | {"channel_not_found", "not_in_channel", "thread_not_found", "invalid_cursor"},
}


def refusal_body(error: str, detail: str | None = None) -> dict[str, Any]:
    """The JSON body Slack answers ``error`` with (HTTP 200, or 429 for ``ratelimited``)."""
    body: dict[str, Any] = {"ok": False, "error": error}
    if error == "invalid_blocks":
        problem = detail or "failed to match all allowed schemas [json-pointer:/blocks/0]"
        body["errors"] = [problem]
        body["response_metadata"] = {"messages": [f"[ERROR] {problem}"]}
    return body
