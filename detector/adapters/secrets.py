"""The Slack secret from Secrets Manager: read once per container, its value never shown."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import botocore.exceptions

from detector import retry
from detector.errors import SecretError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

_TOKEN_KEYS = ("token", "bot_token", "slack_bot_token")
_URL_KEYS = ("url", "webhook_url", "slack_webhook_url")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SlackSecret:
    """Reads the secret on first use and caches it for warm invocations.

    The secret is either the bare value or a JSON object (``{"token": "xoxb-..."}`` or
    ``{"url": "https://hooks.slack.com/services/..."}``). Errors name the secret id, never
    its value.
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
                try:
                    resp = retry.build(retry.AWS_CALL, self._retry_env)(
                        self._client().get_secret_value, SecretId=self._secret_id
                    )
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    raise SecretError(
                        f"secret {self._secret_id!r} could not be read ({retry.error_code(exc)})"
                    ) from None
                value = resp.get("SecretString")
                if not value:
                    raise SecretError(f"secret {self._secret_id!r} has no SecretString")
                self._value = value.strip()
            return self._value

    def invalidate(self) -> None:
        """Forget the cached value (after Slack says the token is invalid: it may be rotated)."""
        with self._lock:
            self._value = None

    def bot_token(self) -> str:
        """The bot token (``xoxb-...``)."""
        token = _pick(self._read(), _TOKEN_KEYS, self._secret_id)
        if not token.startswith("xox"):
            raise SecretError(f"secret {self._secret_id!r} does not hold a Slack token (xox...)")
        return token

    def webhook_url(self) -> str:
        """The incoming-webhook URL (https, or http to a loopback emulator)."""
        url = _pick(self._read(), _URL_KEYS, self._secret_id)
        parsed = urlparse(url)
        loopback = parsed.scheme == "http" and parsed.hostname in _LOOPBACK
        if not (parsed.scheme == "https" or loopback) or not parsed.netloc:
            raise SecretError(f"secret {self._secret_id!r} does not hold an https webhook URL")
        return url


def _pick(raw: str, keys: tuple[str, ...], secret_id: str) -> str:
    if not raw.startswith("{"):
        return raw
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        raise SecretError(f"secret {secret_id!r} looks like JSON but does not parse") from None
    for key in keys:
        value = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(value, str) and value:
            return value.strip()
    raise SecretError(f"secret {secret_id!r} has none of the keys {', '.join(keys)}")
