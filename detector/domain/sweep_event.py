"""The event the daily sweep raises for a root key that IAM reports and nobody alerted on."""

from __future__ import annotations

import hashlib
from datetime import datetime

from detector.domain.event import (
    CREATE_ACCESS_KEY,
    IAM_SOURCE,
    ROOT_PRINCIPAL_TYPE,
    InputForm,
    RootKeyEvent,
)
from detector.domain.root_access import RootKey

SWEEP_EVENT_PREFIX = "sweep-"  # the daily sweep's own events (never a CloudTrail event id)
# What the sweep's resolution of a key (IAM shows it gone) records and tags its message with.
SWEEP_RESOLVED = "sweep-resolved"


def sweep_event(account_id: str, now: datetime, *, event_id: str | None = None) -> RootKeyEvent:
    """The event the daily sweep raises for an account whose root holds a key nobody alerted.

    Its id is per account and day, so a sweep re-run the same day is a duplicate; ``event_id``
    names an earlier sweep's event whose alert never reached Slack, to finish that one.
    """
    return RootKeyEvent(
        event_id=event_id or f"{SWEEP_EVENT_PREFIX}{account_id}-{now:%Y%m%d}",
        event_time=now,
        event_name=CREATE_ACCESS_KEY,
        event_source=IAM_SOURCE,
        aws_region=None,
        account_id=account_id,
        source_ip=None,
        user_agent=None,
        principal_type=ROOT_PRINCIPAL_TYPE,
        principal_id=None,
        caller_access_key_id=None,
        mfa_authenticated=None,
        assumed_root=False,
        console_session=False,
        error_code=None,
        error_message=None,
        target_user_name=None,
        access_key_id=None,
        key_status="Active",
        key_created_at=None,
        form=InputForm.SWEEP,
    )


def key_sweep_event(
    account_id: str, key: RootKey, now: datetime, *, event_id: str | None = None
) -> RootKeyEvent:
    """The event the sweep raises for one key it listed in root's keys (centralized root
    access): the key's id, status and creation date, so the key gets its own finding.

    Its id is per account, key, status and day (the key id itself is hashed: event ids are
    shown in Slack, where key ids are masked); ``event_id`` finishes an earlier sweep's event
    whose alert never reached Slack.
    """
    digest = hashlib.sha256(key.key_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    state = "a" if key.active else "i"
    return sweep_event(account_id, now, event_id=event_id)._replace(
        event_id=event_id or f"{SWEEP_EVENT_PREFIX}{account_id}-{now:%Y%m%d}-{digest}-{state}",
        access_key_id=key.key_id,
        key_status=key.status,
        key_created_at=key.created,
    )


def sweep_key_inactive(event: RootKeyEvent) -> bool:
    """A key the sweep listed as Inactive (it still exists, and cannot sign requests)."""
    return event.form is InputForm.SWEEP and (event.key_status or "").lower() == "inactive"
