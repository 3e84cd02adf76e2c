"""The EventBridge event pattern: the one source of truth for which events reach the handler.

Built from the parser's CloudTrail names; infra/ templates carry the same pattern, and a
contract test proves they agree.
"""

from __future__ import annotations

import json
from typing import Any

from detector.domain.event import ACCESS_KEY_EVENT_NAMES, IAM_SOURCE, ROOT_PRINCIPAL_TYPE

EVENT_PATTERN: dict[str, Any] = {
    "source": ["aws.iam"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": [IAM_SOURCE],
        "eventName": list(ACCESS_KEY_EVENT_NAMES),
        "userIdentity": {"type": [ROOT_PRINCIPAL_TYPE]},
    },
}


def event_pattern_json() -> str:
    """The pattern as the JSON string EventBridge's PutRule and CloudFormation take."""
    return json.dumps(EVENT_PATTERN, separators=(",", ":"))
