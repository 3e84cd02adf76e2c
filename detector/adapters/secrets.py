"""The Slack secret from Secrets Manager: read once per container, checked, its value never shown.

A secret is checked when it is read, before anything sends it anywhere: a token with a line
break inside or a webhook URL followed by a comment would otherwise reach the HTTP layer, whose
errors quote what they refuse. A :class:`SecretError` names the secret (its id) and the problem,
never the value, and chains no exception that might hold the value.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.errors import SecretError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

TOKEN_KEYS = ("token", "bot_token", "slack_bot_token")
URL_KEYS = ("url", "webhook_url", "slack_webhook_url")
SIGNING_KEYS = ("signing_secret", "secret")
# An app's signing secret ("Verifying requests from Slack"): shown under Basic Information as
# hex; accepted here as 16 to 128 letters and digits.
_SIGNING_SECRET = re.compile(r"[A-Za-z0-9]{16,128}")

# Slack's "Token types" (https://api.slack.com/authentication/token-types): bot tokens start
# "xoxb-"; with token rotation on ("Using token rotation",
# https://docs.slack.dev/authentication/using-token-rotation) the expiring bot token starts
# "xoxe.xoxb-". After the prefix a token is letters, digits and hyphens. User ("xoxp-"),
# app-level ("xapp-") and configuration tokens cannot post as the app's bot: refused.
_BOT_TOKEN_PREFIXES = ("xoxb-", "xoxe.xoxb-")
_TOKEN_BODY = re.compile(r"[A-Za-z0-9-]+")
MAX_TOKEN_LENGTH = 512
# Slack's "Sending messages using incoming webhooks" (https://api.slack.com/messaging/webhooks):
# https://hooks.slack.com/services/T.../B.../...
# Plain http is accepted only to a loopback emulator, as SLACK_API_URL is (config.py).
_SEGMENT = r"[A-Za-z0-9_-]+"
_WEBHOOK_PATH = rf"/services/{_SEGMENT}/{_SEGMENT}/{_SEGMENT}"
_WEBHOOK_URL = re.compile(
    rf"https://hooks\.slack\.com{_WEBHOOK_PATH}"
    rf"|http://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{{1,5}})?{_WEBHOOK_PATH}"
)
MAX_URL_LENGTH = 512
_UNPARSED = object()


class SlackSecret:
    """Reads the secret on first use and caches it for warm invocations.

    The secret is either the bare value or a JSON object (``{"token": "xoxb-..."}`` or
    ``{"url": "https://hooks.slack.com/services/..."}``); whitespace around the value is
    dropped, whitespace or a control character inside it is an error.
    """

    def __init__(
        self,
        client: Callable[[], SecretsManagerClient],
        secret_id: str,
        retry_env: retry.RetryEnv,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._retry_env = retry_env
        self._value: str | None = None
        self._lock = threading.Lock()

    def _read(self) -> str:
        with self._lock:
            if self._value is None:
                self._value = self._fetch()
            return self._value

    def _fetch(self) -> str:
        resp: Any = None
        code: str | None = None
        try:
            resp = retry.build(retry.AWS_CALL, self._retry_env)(
                aws_call,
                "secretsmanager.GetSecretValue",
                self._client().get_secret_value,
                SecretId=self._secret_id,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a SecretError, below
            code = retry.error_code(exc)
        # Raised outside the except block: nothing of the failed call is chained to the error.
        if code is not None:
            raise SecretError(self._secret_id, f"could not be read ({code})")
        value = resp.get("SecretString") if isinstance(resp, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise SecretError(self._secret_id, "holds no SecretString (empty, or a binary secret)")
        return value.strip()

    @property
    def secret_id(self) -> str:
        """The secret's name or ARN (never its value)."""
        return self._secret_id

    def read(self) -> str:
        """The raw value (read once per container)."""
        return self._read()

    def invalidate(self) -> None:
        """Forget the cached value (after Slack says the token is invalid: it may be rotated)."""
        with self._lock:
            self._value = None

    def bot_token(self) -> str:
        """The bot token (``xoxb-...``).

        Raises:
            SecretError: the secret cannot be read or holds no well-formed bot token.
        """
        token, where = _pick(self._read(), TOKEN_KEYS, self._secret_id)
        problem = bot_token_problem(token)
        if problem is not None:
            raise SecretError(self._secret_id, f"holds a bot token ({where}) that {problem}")
        return token

    def webhook_url(self) -> str:
        """The incoming-webhook URL (``https://hooks.slack.com/services/...``).

        Raises:
            SecretError: the secret cannot be read or holds no well-formed webhook URL.
        """
        url, where = _pick(self._read(), URL_KEYS, self._secret_id)
        problem = webhook_url_problem(url)
        if problem is not None:
            raise SecretError(self._secret_id, f"holds a webhook URL ({where}) that {problem}")
        return url


def signing_secret(secret: SlackSecret) -> str:
    """The app's signing secret held by ``secret``.

    Raises:
        SecretError: the secret cannot be read or holds no well-formed signing secret.
    """
    value, where = _pick(secret.read(), SIGNING_KEYS, secret.secret_id)
    if not _SIGNING_SECRET.fullmatch(value):
        raise SecretError(
            secret.secret_id, f"holds a signing secret ({where}) that is not 16-128 letters/digits"
        )
    return value


def bot_token_problem(token: str) -> str | None:
    """What is wrong with ``token`` as a Slack bot token (None: nothing); never quotes it."""
    if _has_invisible(token):
        return "has whitespace or a control character inside"
    if not token.startswith(_BOT_TOKEN_PREFIXES):
        return "does not start with xoxb- (a bot token is needed, not a user or app token)"
    prefix = next(p for p in _BOT_TOKEN_PREFIXES if token.startswith(p))
    if not _TOKEN_BODY.fullmatch(token.removeprefix(prefix)):
        return "has characters a Slack token does not have (letters, digits and - only)"
    if len(token) > MAX_TOKEN_LENGTH:
        return f"is longer than {MAX_TOKEN_LENGTH} characters"
    return None


def webhook_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an incoming-webhook URL (None: nothing); never quotes it."""
    if _has_invisible(url):
        return "has whitespace or a control character inside"
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if not _WEBHOOK_URL.fullmatch(url):
        return "is not of the form https://hooks.slack.com/services/T.../B.../..."
    return None


def _has_invisible(text: str) -> bool:
    # Whitespace and Unicode's "C" categories: controls, format characters (zero-width
    # spaces, bidi marks), surrogates, private use and unassigned code points.
    return any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text)


def _pick(raw: str, keys: tuple[str, ...], secret_id: str) -> tuple[str, str]:
    """The value and where it was found ("the bare value", or the JSON key)."""
    if not raw.startswith("{"):
        return raw, "the bare value"
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        doc = _UNPARSED
    # Raised outside the except block: a JSONDecodeError carries the whole document (.doc).
    if doc is _UNPARSED or not isinstance(doc, dict):
        raise SecretError(secret_id, "looks like a JSON object but does not parse as one")
    for key in keys:
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), f"key {key!r}"
    raise SecretError(secret_id, f"is JSON with no text under any of the keys {', '.join(keys)}")
