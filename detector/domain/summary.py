"""What identifies one parsed event in the command line's ``classify`` output."""

from __future__ import annotations

from typing import Any

from detector.domain.event import RootKeyEvent, untrusted_field


def summary_fields(event: RootKeyEvent, source: str) -> dict[str, Any]:
    """What identifies an event in a ``classify`` line (``source`` says where it was read)."""
    fields: dict[str, Any] = {
        "source": source,
        "event_id": event.event_id,
        "event_name": event.event_name,
        "event_time": (
            None
            if untrusted_field(event, "eventTime")
            else event.event_time.isoformat().replace("+00:00", "Z")
        ),
        "account": event.account_id,
        "access_key_id": event.access_key_id,
        "principal_type": event.principal_type,
        "assumed_root": event.assumed_root,
    }
    if event.untrusted:
        fields["untrusted"] = list(event.untrusted)
    return fields
