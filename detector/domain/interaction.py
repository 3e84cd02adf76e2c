"""Slack's interaction requests, untrusted until proven: signature check, parsing, authorisation.

Slack signs every request it sends ("Verifying requests from Slack",
https://docs.slack.dev/authentication/verifying-requests-from-slack): ``v0=`` and the hex
HMAC-SHA256, keyed with the app's signing secret, of ``v0:<timestamp>:<raw body>``. A payload
("Handling user interaction in your Slack apps",
https://docs.slack.dev/interactivity/handling-user-interaction) is a form field ``payload``
holding JSON; only what this module returns is trusted by the endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from detector.domain.removal import REMOVAL_ACTION_IDS, RemovalAction, parse_value
from detector.domain.text import clean
from detector.domain.triage import ACTION_IDS, LINK_ACTION_IDS, TriageAction, parse_metadata

MAX_BODY_BYTES = 64 * 1024
MAX_AGE_S = 300  # Slack's guide: refuse a timestamp more than five minutes from local time
MAX_REASON = 400  # what a responder may type (the Note's other parts fit in the rest of 512)

_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
_TEAM = re.compile(r"[TE][A-Z0-9]{2,20}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,20}")
_TS = re.compile(r"\d{1,12}\.\d{1,8}")
_TRIGGER = re.compile(r"[0-9A-Za-z._-]{1,200}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Refused(Exception):
    """A request that must not be acted on: the HTTP status to answer and why (for the log)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the letter case of its name (HTTP names are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's ``X-Slack-Signature`` for ``body`` sent at ``timestamp`` (seconds, as text)."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> str:
    """Check a request came from Slack now; returns its signature (the replay guard's key).

    Raises:
        Refused: 413 for a body over 64 KB; 401 for a missing or malformed header, a timestamp
            more than five minutes from ``now``, or a signature that does not match.
    """
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "body over 64 KB")
    stamp = header(headers, "X-Slack-Request-Timestamp")
    sent = header(headers, "X-Slack-Signature")
    if stamp is None or sent is None:
        raise Refused(401, "unsigned request")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Refused(401, "malformed timestamp")
    if abs(now - int(stamp)) > MAX_AGE_S:
        raise Refused(401, "stale timestamp")
    if not _SIGNATURE.fullmatch(sent):
        raise Refused(401, "malformed signature")
    if not hmac.compare_digest(signature(secret, stamp, body), sent):
        raise Refused(401, "signature mismatch")
    return sent


@dataclass(frozen=True, slots=True)
class Responder:
    """Who acted, as Slack's (signed) payload says: the id is the identity, the name a label."""

    user_id: str
    name: str
    team_id: str  # the user's own workspace (``user.team_id``)
    # The workspace the action came through (``team.id``; differs from the user's in a Slack
    # Connect channel); None: not said.
    via_team_id: str | None = None


@dataclass(frozen=True, slots=True)
class Click:
    """A triage (or removal) button clicked on a key's alert (``block_actions``)."""

    responder: Responder
    action: TriageAction | RemovalAction
    finding_id: str
    channel_id: str
    message_ts: str
    trigger_id: str
    response_url: str
    key_id: str | None = None  # a removal button's key
    request_id: str | None = None  # the removal request a Confirm or Cancel answers


@dataclass(frozen=True, slots=True)
class Submission:
    """The Suppress or Resolve modal submitted (``view_submission``), with what was typed."""

    responder: Responder
    action: TriageAction
    finding_id: str
    channel_id: str
    message_ts: str
    text: str


@dataclass(frozen=True, slots=True)
class LinkClick:
    """A click on one of the alert's link buttons: Slack tells the app, which has nothing to do."""

    responder: Responder


Interaction = Click | Submission | LinkClick


def parse(body: bytes) -> Interaction:
    """The interaction a verified body holds.

    Raises:
        Refused: 400 for a body that is not one ``payload`` field of a JSON object of the
            expected shape, or an action this app never offered.
    """
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=4)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, f"malformed body ({type(exc).__name__})") from None
    raw = form.get("payload") or []
    if len(raw) != 1 or set(form) != {"payload"}:
        raise Refused(400, "malformed body: one payload field expected")
    try:
        payload = json.loads(raw[0])
    except ValueError:
        raise Refused(400, "malformed payload: not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "malformed payload: not an object")
    kind = payload.get("type")
    if kind == "block_actions":
        return _click(payload)
    if kind == "view_submission":
        return _submission(payload)
    raise Refused(400, "unsupported interaction type")


def _click(payload: dict[str, Any]) -> Click | LinkClick:
    responder = _responder(payload)
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Refused(400, "malformed payload: actions")
    action_id = actions[0].get("action_id")
    if action_id in LINK_ACTION_IDS:
        return LinkClick(responder)
    key = action_id if isinstance(action_id, str) else ""
    action: TriageAction | RemovalAction | None = ACTION_IDS.get(key) or REMOVAL_ACTION_IDS.get(key)
    if action is None:
        raise Refused(400, "unknown action")
    value = actions[0].get("value")
    key_id = request_id = None
    if isinstance(action, RemovalAction):
        parsed = parse_value(_text(value, 700, "removal value"))
        if parsed is None or (parsed[2] is None) != (action is RemovalAction.REMOVE):
            raise Refused(400, "malformed payload: removal value")
        value, key_id, request_id = parsed
    channel = _dig(payload, "channel", "id")
    ts = _dig(payload, "container", "message_ts") or _dig(payload, "message", "ts")
    return Click(
        responder=responder,
        action=action,
        finding_id=_finding(value),
        channel_id=_match(channel, _CHANNEL, "channel"),
        message_ts=_match(ts, _TS, "message ts"),
        trigger_id=_match(payload.get("trigger_id"), _TRIGGER, "trigger_id"),
        response_url=_text(payload.get("response_url"), 500, "response_url"),
        key_id=key_id,
        request_id=request_id,
    )


def _submission(payload: dict[str, Any]) -> Submission:
    responder = _responder(payload)
    view = payload.get("view")
    if not isinstance(view, dict):
        raise Refused(400, "malformed payload: view")
    action = ACTION_IDS.get(view.get("callback_id"))  # type: ignore[arg-type]
    if action is None or not action.asks_text:
        raise Refused(400, "unknown action")
    meta = parse_metadata(view.get("private_metadata"))
    if meta is None or meta[0] is not action:
        raise Refused(400, "malformed payload: private_metadata")
    _, fid, channel, ts = meta
    typed = _dig(view, "state", "values", "reason", "text", "value")
    text = clean(typed, MAX_REASON) if isinstance(typed, str) else ""
    if not text:
        raise Refused(400, "malformed payload: no reason given")
    return Submission(
        responder=responder,
        action=action,
        finding_id=_finding(fid),
        channel_id=_match(channel, _CHANNEL, "channel"),
        message_ts=_match(ts, _TS, "message ts"),
        text=text,
    )


def _responder(payload: dict[str, Any]) -> Responder:
    user = payload.get("user")
    if not isinstance(user, dict):
        raise Refused(400, "malformed payload: user")
    # The user's own workspace decides; a Slack Connect channel shares the message with users
    # of other workspaces, whose ``team.id`` may be the host's ("Slack Connect API reference",
    # https://docs.slack.dev/reference/slack-connect-api-reference; "block_actions payloads").
    via = _dig(payload, "team", "id")
    name = user.get("name") or user.get("username")
    return Responder(
        user_id=_match(user.get("id"), _USER, "user id"),
        name=clean(name, 80) if isinstance(name, str) else "",
        team_id=_match(user.get("team_id"), _TEAM, "team id"),
        via_team_id=None if via is None else _match(via, _TEAM, "team id"),
    )


def _finding(value: Any) -> str:
    fid = _text(value, 512, "finding id")
    if not fid.startswith("root-key-detector/"):
        raise Refused(400, "malformed payload: not one of this detector's findings")
    return fid


def _dig(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _match(value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Refused(400, f"malformed payload: {what}")
    return value


def _text(value: Any, limit: int, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise Refused(400, f"malformed payload: {what}")
    return value


@dataclass(frozen=True, slots=True)
class Responders:
    """Who may triage from Slack: a workspace, the alert channel, and users (by id, or as
    members of a user group, resolved by the caller)."""

    team_id: str
    channel_id: str
    user_ids: frozenset[str]

    def refusal(self, responder: Responder, channel_id: str | None) -> str | None:
        """Why ``responder`` may not act here, or None."""
        if responder.team_id != self.team_id or responder.via_team_id not in {None, self.team_id}:
            return "another workspace"
        if channel_id is not None and channel_id != self.channel_id:
            return "another channel"
        if responder.user_id not in self.user_ids:
            return "user not allowed"
        return None


def is_response_url(url: str, origins: tuple[str, ...]) -> bool:
    """Whether ``url`` is one of Slack's response URLs (under one of ``origins``)."""
    return any(url.startswith(origin) for origin in origins)
