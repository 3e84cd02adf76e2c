"""The EventBridge event patterns: the one source of truth for which events reach the handler.

Built from the parser's CloudTrail names; infra/ templates carry the same patterns, and a
contract test proves they agree.

``EVENT_PATTERN``: a root user's access key calls (every stack). ``ROOT_ACCESS_PATTERN``: with
centralized root access only, (a) the ``AssumeRoot`` records of whoever opened a root session
(in the management or IAM delegated administrator account), and (b) any other call the root
user signed with a long-term access key (``AKIA…``): the use of a key. The two never match the
same record, so no record reaches the function twice.
"""

from __future__ import annotations

import json
from typing import Any

from detector.domain.event import (
    ACCESS_KEY_EVENT_NAMES,
    IAM_SOURCE,
    LONG_TERM_KEY_PREFIX,
    ROOT_PRINCIPAL_TYPE,
)
from detector.domain.root_access import ASSUME_ROOT, STS_SOURCE

API_CALL = "AWS API Call via CloudTrail"
# The rule state that also receives read-only management events ("Receiving read-only
# management events from AWS services", EventBridge user guide). The root access rule needs it:
# a root key used only to read (ListBuckets...) is a use too, and CloudTrail may mark
# AssumeRoot read-only as it does AssumeRole; the state receives write events as well.
ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"

EVENT_PATTERN: dict[str, Any] = {
    "source": ["aws.iam"],
    "detail-type": [API_CALL],
    "detail": {
        "eventSource": [IAM_SOURCE],
        "eventName": list(ACCESS_KEY_EVENT_NAMES),
        "userIdentity": {"type": [ROOT_PRINCIPAL_TYPE]},
    },
}

# Only an AWS service's event: PutEvents refuses a source starting "aws." to anyone else
# ("PutEventsRequestEntry", EventBridge API reference), so a record of a root call cannot be
# forged onto a bus (a forged use would take the key's first-use reply, or its last use).
_AWS_SOURCE = [{"prefix": "aws."}]
_ROOT_WITH_LONG_TERM_KEY = {
    "type": [ROOT_PRINCIPAL_TYPE],
    "accessKeyId": [{"prefix": LONG_TERM_KEY_PREFIX}],
}
ROOT_ACCESS_PATTERN: dict[str, Any] = {
    "detail-type": [API_CALL],
    "$or": [
        # (a) someone opened a root session in a member account
        {
            "source": ["aws.sts"],
            "detail": {"eventSource": [STS_SOURCE], "eventName": [ASSUME_ROOT]},
        },
        # (b) the root user signed a call with a long-term key: any service but IAM...
        {
            "source": _AWS_SOURCE,
            "detail": {
                "userIdentity": _ROOT_WITH_LONG_TERM_KEY,
                "eventSource": [{"anything-but": IAM_SOURCE}],
            },
        },
        # ... and IAM's calls but the access key ones (EVENT_PATTERN routes those)
        {
            "source": _AWS_SOURCE,
            "detail": {
                "userIdentity": _ROOT_WITH_LONG_TERM_KEY,
                "eventSource": [IAM_SOURCE],
                "eventName": [{"anything-but": list(ACCESS_KEY_EVENT_NAMES)}],
            },
        },
    ],
}


def event_pattern_json(pattern: dict[str, Any] = EVENT_PATTERN) -> str:
    """The pattern as the JSON string EventBridge's PutRule and CloudFormation take."""
    return json.dumps(pattern, separators=(",", ":"))
