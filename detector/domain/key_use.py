"""A use of root's access key: a root call signed with it, or the last use IAM reports.

A CloudTrail record whose ``userIdentity`` is the root user and whose ``accessKeyId`` is a
long-term key (``AKIA…``) was signed with that key, whatever the call ("CloudTrail
userIdentity element", CloudTrail user guide; the prefixes: "Unique identifiers", IAM user
guide). The detector follows only keys it alerted on: the first use is a reply in the key's
thread, later ones at most one reply an hour with a count, and the finding records the last.

What reaches the detector within seconds: the records its event rules route. EventBridge
matches write management events by default, read-only ones (most Get*, List*, Describe*) only
for a rule whose state is ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, and data events only
if a trail logs them ("Receiving read-only management events from AWS services", EventBridge
user guide). Every other use is seen by the daily sweep, through ``GetAccessKeyLastUsed``: the
last use only, so without a count ("AccessKeyLastUsed", IAM API reference).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from detector.domain.event import (
    LONG_TERM_KEY_PREFIX,
    InputForm,
    RootKeyEvent,
    untrusted_field,
)
from detector.domain.finding import (
    MAX_PRODUCT_FIELD_VALUE,
    MAX_PRODUCT_FIELDS,
    PRODUCT_FIELD_PREFIX,
    iso,
)
from detector.domain.message import METADATA_EVENT_TYPE, SlackMessage
from detector.domain.root_access import RootKey
from detector.domain.text import clean, mask_key, mrkdwn

# An access key id: 16 to 128 characters ("AccessKey", IAM API reference: pattern [\w]+); AWS
# issues upper-case letters and digits. Anything else in the record is not a key to follow.
_LONG_TERM_KEY_RE = re.compile(LONG_TERM_KEY_PREFIX + r"[A-Z0-9]{12,124}")
REPLY_EVERY = timedelta(hours=1)  # at most one use reply per key this often
KEY_USED = "root-key-used"  # what a use's message is tagged with (its "verdict")
SWEEP_USE_PREFIX = "sweep-use-"  # the sweep's last-use observations (never a CloudTrail id)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One use of a root access key: when, what, from where (``event_id``: what counts it)."""

    account: str
    key_id: str
    event_id: str
    when: datetime
    what: str  # the call (``s3.amazonaws.com ListBuckets``), or the service IAM names
    source_ip: str | None = None
    region: str | None = None
    counted: bool = True  # a CloudTrail record (False: IAM's last-use date, count unknown)
    observed: datetime | None = None  # when the sweep read IAM's last use (None: ``when``)


def key_use(event: RootKeyEvent) -> KeyUse | None:
    """The use of root's long-term access key a CloudTrail record is, or None.

    A sweep's own event, a record whose id, time or account could not be read, and a call
    made with session credentials (console, ``AssumeRoot``) are no use of an access key.
    """
    key = event.caller_access_key_id
    if event.form is InputForm.SWEEP or not event.is_root or event.account_id is None:
        return None
    if not key or not _LONG_TERM_KEY_RE.fullmatch(key):
        return None
    if untrusted_field(event, "eventID") or untrusted_field(event, "eventTime"):
        return None
    return KeyUse(
        account=event.account_id,
        key_id=key,
        event_id=event.event_id,
        when=event.event_time,
        what=f"{event.event_name} ({event.event_source})",
        source_ip=event.source_ip,
        region=event.aws_region,
    )


def last_use(account: str, key: RootKey, now: datetime) -> KeyUse | None:
    """The last use IAM reports for a key the sweep listed at ``now`` (None: never used)."""
    if key.last_used is None:
        return None
    return KeyUse(
        account=account,
        key_id=key.key_id,
        event_id=f"{SWEEP_USE_PREFIX}{account}-{iso(key.last_used)}",
        when=key.last_used,
        what=_named(key.last_used_service) or "a service IAM does not name",
        region=_named(key.last_used_region),
        counted=False,
        observed=now,
    )


def _named(value: str | None) -> str | None:
    """IAM's ServiceName or Region, None for its "N/A" ("AccessKeyLastUsed", IAM API
    reference: no use since IAM began tracking)."""
    return None if not value or value == "N/A" else value


def use_text(use: KeyUse, *, first: bool, uses: int) -> str:
    """The reply's words: the first use, a count since the last reply, or IAM's last use."""
    when = iso(use.when)
    plural = "use" if uses == 1 else "uses"
    if not use.counted:  # IAM's last-use date: how often is not known
        where = f", {use.region}" if use.region else ""
        said = f"used at {when} ({use.what}{where}), the last use IAM reports"
        return f"{uses} {plural} since the last reply; {said}" if uses else said
    source = use.source_ip or "an address not recorded"
    said = f"{use.what} from {source} at {when}"
    if first:
        return f"first use: {said}"
    return f"{uses} {plural} since the last reply; the latest: {said}"


def use_message(use: KeyUse, fid: str, *, first: bool, uses: int) -> SlackMessage:
    """The reply in the key's thread (values from the record are cleaned and escaped)."""
    said = use_text(use, first=first, uses=uses)
    body = f":key: *Root access key {mrkdwn(mask_key(use.key_id), 40)}:* {mrkdwn(said, 600)}"
    return SlackMessage(
        text=mrkdwn(clean(f"Root access key {mask_key(use.key_id)} {said}", 600), 600),
        blocks=[SectionBlock(text=MarkdownTextObject(text=body))],
        metadata={
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": {
                "event_id": mrkdwn(use.event_id, 128),
                "verdict": KEY_USED,
                "finding_id": fid,
            },
        },
    )


def with_last_use(finding: dict[str, Any], use: KeyUse, observed: datetime) -> dict[str, Any]:
    """The key's finding recording its last use, as observed at ``observed``.

    For a CloudTrail record that is the use's own time: Security Hub keeps the newest
    ``UpdatedAt``, so a later state of the key (its deletion) still wins over the record of an
    earlier use. The sweep observes at its own time, as its other imports do.
    """
    out = copy.deepcopy(finding)
    out["UpdatedAt"] = out["LastObservedAt"] = iso(observed)
    raw = {
        "LastUsedAt": iso(use.when),
        "LastUsedBy": use.what,
        "LastUsedFrom": use.source_ip,
        "LastUsedRegion": use.region,
    }
    fields = {k: v for k, v in dict(out.get("ProductFields", {})).items() if "/LastUsed" not in k}
    for name, value in raw.items():
        cleaned = clean(value, MAX_PRODUCT_FIELD_VALUE) if value else ""
        if cleaned:
            fields[f"{PRODUCT_FIELD_PREFIX}/{name}"] = cleaned
    out["ProductFields"] = dict(list(fields.items())[:MAX_PRODUCT_FIELDS])
    return out
