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
import time
from dataclasses import dataclass
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
