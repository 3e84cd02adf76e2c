"""The EventBridge event pattern: the one source of truth for which events reach the handler.

infra/ templates carry the same pattern; a contract test proves they agree.
"""

from __future__ import annotations

import json
from typing import Any

ROUTED_EVENT_NAMES = ("CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey")

EVENT_PATTERN: dict[str, Any] = {
    "source": ["aws.iam"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["iam.amazonaws.com"],
        "eventName": list(ROUTED_EVENT_NAMES),
        "userIdentity": {"type": ["Root"]},
    },
}


def event_pattern_json() -> str:
    """The pattern as the JSON string EventBridge's PutRule and CloudFormation take."""
    return json.dumps(EVENT_PATTERN, separators=(",", ":"))
