"""The interfaces the pipeline sees; adapters/ implements them over the network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from detector.domain.confirmation import Confirmation
from detector.domain.message import SlackMessage


@dataclass(frozen=True, slots=True)
class SlackRef:
    """Where a posted message lives: enough to reply in its thread or update it."""

    channel: str
    ts: str


class KeyConfirmer(Protocol):
    """Asks IAM whether root holds the key now. Never raises: failure is UNCONFIRMED."""

    def confirm(
        self,
        account_id: str,
        access_key_id: str | None,
        *,
        expect_present: bool,
        event_time: datetime,
    ) -> Confirmation: ...


class FindingSink(Protocol):
    """Imports one ASFF finding; raises FindingImportError if Security Hub refuses it."""

    def import_finding(self, finding: dict[str, Any]) -> None: ...


class Alerter(Protocol):
    """Posts to Slack; raises AlertDeliveryError once its retry policy gives up."""

    @property
    def supports_threads(self) -> bool: ...

    def post(self, message: SlackMessage, *, thread: SlackRef | None = None) -> SlackRef | None:
        """Post a message (a reply when ``thread`` is given); the ref is None for webhooks."""
        ...

    def update(self, ref: SlackRef, message: SlackMessage) -> None:
        """Replace a posted message's content."""
        ...
