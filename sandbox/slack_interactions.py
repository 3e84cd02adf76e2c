"""Slack's side of interactivity: the payloads Slack sends when a user clicks or submits, signed.

Shapes follow Slack's reference ("block_actions payload" and "View interaction payloads",
https://docs.slack.dev/reference/interaction-payloads/); the signature follows "Verifying requests
from Slack" (``v0`` HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"


@dataclass(frozen=True)
class SlackUser:
    """A person in the sandbox's workspace."""

    user_id: str
    name: str
    team_id: str = TEAM_ID


def _trigger() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def block_actions(
    user: SlackUser,
    *,
    channel: str,
    message_ts: str,
    action_id: str,
    value: str,
    response_url: str,
    api_app_id: str = "A0SANDBOX",
) -> dict[str, Any]:
    """What Slack sends when ``user`` clicks a button of the message at ``message_ts``."""
    return {
        "type": "block_actions",
        "user": {
            "id": user.user_id,
            "username": user.name,
            "name": user.name,
            "team_id": user.team_id,
        },
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger(),
        "team": {"id": user.team_id, "domain": TEAM_DOMAIN},
        "channel": {"id": channel, "name": "security-alerts"},
        "message": {"type": "message", "ts": message_ts},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "triage_buttons",
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(user: SlackUser, view: dict[str, Any], text: str) -> dict[str, Any]:
    """What Slack sends when ``user`` submits the modal ``view`` (as opened) with ``text``."""
    return {
        "type": "view_submission",
        "team": {"id": user.team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user.user_id, "username": user.name, "team_id": user.team_id},
        "api_app_id": "A0SANDBOX",
        "view": {
            "id": f"V{secrets.token_hex(5).upper()}",
            "type": "modal",
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "hash": secrets.token_hex(8),
            "state": {"values": {"reason": {"text": {"type": "plain_text_input", "value": text}}}},
        },
    }


def form_body(payload: dict[str, Any]) -> bytes:
    """The request body Slack posts: one form field ``payload`` holding the JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """The headers Slack adds: the timestamp and the ``v0`` signature of ``body``."""
    stamp = str(int(time.time() if at is None else at))
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": f"v0={digest}",
    }


# -- the workspace's side: clicks and submissions sent to the app, and what the app answers --

TRIGGER_TTL_S = 3.0  # "views.open method": a trigger id expires three seconds after the click


class InteractionError(Exception):
    """A Web API answer ``ok: false`` with this error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Delivered:
    """One request the workspace sent to the app's Request URL, and the app's answer."""

    payload: dict[str, Any]
    status: int
    body: str


@dataclass
class Interactivity:
    """The interactive half of the Slack emulator (it owns one; see its ``interactivity``).

    ``request_url`` is the app's Request URL (Interactivity & Shortcuts); ``signing_secret`` the
    app's, with which every request is signed like Slack does.
    """

    root_url: Callable[[], str]
    clock: Callable[[], float] = time.monotonic
    signing_secret: str = ""
    request_url: str = ""
    triggers: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (at, user)
    views: list[dict[str, Any]] = field(default_factory=list)  # opened: {"user", "view"}
    responses: list[dict[str, Any]] = field(default_factory=list)  # posted to response URLs
    groups: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget triggers, views, responses and groups."""
        with self.lock:
            self.triggers.clear()
            self.views.clear()
            self.responses.clear()
            self.groups.clear()

    # Web API methods ---------------------------------------------------------------------

    def views_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``views.open``: the trigger id must be one of a click's, at most 3 s old, unused."""
        trigger, view = payload.get("trigger_id"), payload.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(trigger, str) or not isinstance(view, dict):
            raise InteractionError("invalid_arguments")
        with self.lock:
            issued = self.triggers.pop(trigger, None)
            if issued is None:
                raise InteractionError("invalid_trigger_id")
            if self.clock() - issued[0] > TRIGGER_TTL_S:
                raise InteractionError("expired_trigger_id")
            self.views.append({"user": issued[1], "view": view})
        return {"view": {"id": f"V{secrets.token_hex(5).upper()}", **view}}

    def usergroups_users_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``usergroups.users.list``: the members of a user group."""
        group = payload.get("usergroup")
        with self.lock:
            if not isinstance(group, str) or group not in self.groups:
                raise InteractionError("no_such_subteam")
            return {"users": list(self.groups[group])}

    def respond(self, path: str, body: str) -> None:
        """A POST to one of the response URLs this workspace handed out."""
        try:
            doc = json.loads(body)
        except ValueError:
            raise InteractionError("invalid_payload") from None
        with self.lock:
            self.responses.append({"path": path, "message": doc})

    # The person's side -------------------------------------------------------------------

    def click(
        self,
        user: SlackUser,
        message: dict[str, Any],
        action_id: str,
        *,
        channel: str,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivered:
        """``user`` clicks the button ``action_id`` of ``message`` (as stored: ts, blocks)."""
        button = _button(message, action_id)
        payload = block_actions(
            user,
            channel=channel,
            message_ts=str(message["ts"]),
            action_id=action_id,
            value=str(button.get("value", "")),
            response_url=f"{self.root_url()}/actions/{secrets.token_hex(12)}",
        )
        with self.lock:
            self.triggers[payload["trigger_id"]] = (self.clock(), user.user_id)
        return self.deliver(payload, extra_headers=extra_headers)

    def submit(self, user: SlackUser, text: str) -> Delivered:
        """``user`` submits the last modal opened for them, having typed ``text``."""
        with self.lock:
            opened = [v["view"] for v in self.views if v["user"] == user.user_id]
        if not opened:
            raise LookupError(f"no modal is open for {user.user_id}")
        return self.deliver(view_submission(user, opened[-1], text))

    def deliver(
        self,
        payload: dict[str, Any],
        *,
        extra_headers: dict[str, str] | None = None,
        body: bytes | None = None,
        at: float | None = None,
    ) -> Delivered:
        """POST ``payload`` (or ``body`` as it stands) to the Request URL, signed."""
        raw = form_body(payload) if body is None else body
        headers = {**signed_headers(self.signing_secret, raw, at=at), **(extra_headers or {})}
        request = urllib.request.Request(self.request_url, data=raw, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                return Delivered(payload, answer.status, answer.read().decode())
        except urllib.error.HTTPError as error:
            return Delivered(payload, error.code, error.read().decode())


def _button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The button ``action_id`` of a stored message (Slack only sends clicks it showed)."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise LookupError(f"the message shows no button {action_id!r}")
