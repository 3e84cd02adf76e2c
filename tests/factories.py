"""Factories for CloudTrail records, EventBridge envelopes and log files (realistic defaults).

``record(**overrides)`` returns a root ``CreateAccessKey`` record as CloudTrail writes it.
Overrides replace top-level keys; a key with dots (``**{"userIdentity.userName": "alias"}``)
sets a nested value, creating objects on the way; the value ``DROP`` removes the key.
"""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any, Final

ACCOUNT: Final = "123456789012"
OTHER_ACCOUNT: Final = "210987654321"
KEY_ID: Final = "AKIAIOSFODNN7EXAMPLE"
OTHER_KEY_ID: Final = "AKIAI44QH8DHBEXAMPLE"
CALLER_KEY_ID: Final = "ASIAY34FZKBOKMUTVV7A"
EVENT_ID: Final = "10fe3541-75dc-45f7-a993-4465871481aa"
ENVELOPE_ID: Final = "f903e8a1-bf3f-4e19-824b-68810b419855"
EVENT_TIME: Final = "2026-11-20T14:03:11Z"
SOURCE_IP: Final = "203.0.113.45"
USER_AGENT: Final = (
    "aws-cli/2.22.15 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/command#iam.create-access-key"
)


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Final = _Drop()


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in ``doc``, creating objects on the way; DROP removes the leaf."""
    *parents, leaf = dotted.split(".")
    target = doc
    for name in parents:
        nxt = target.get(name)
        if not isinstance(nxt, dict):
            nxt = {}
            target[name] = nxt
        target = nxt
    if value is DROP:
        target.pop(leaf, None)
    else:
        target[leaf] = value


def _apply(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in overrides.items():
        set_path(doc, dotted, value)
    return doc


def record(**overrides: Any) -> dict[str, Any]:
    """A root CreateAccessKey record (CloudTrail eventVersion 1.10), with overrides applied."""
    doc: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "Root",
            "principalId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:root",
            "accountId": ACCOUNT,
            "accessKeyId": CALLER_KEY_ID,
            "sessionContext": {
                "attributes": {"creationDate": "2026-11-20T13:51:42Z", "mfaAuthenticated": "true"}
            },
        },
        "eventTime": EVENT_TIME,
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": SOURCE_IP,
        "userAgent": USER_AGENT,
        "requestParameters": None,
        "responseElements": {
            "accessKey": {
                "accessKeyId": KEY_ID,
                "status": "Active",
                # IAM's current rendering (older ones are tested in test_event_parsing).
                "createDate": "Nov 20, 2026, 2:03:11 PM",
            }
        },
        "requestID": "0968c324-e306-4f6e-8835-1ba2b3767612",
        "eventID": EVENT_ID,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "iam.amazonaws.com",
        },
    }
    return _apply(doc, overrides)


def delete_record(key_id: str = KEY_ID, **overrides: Any) -> dict[str, Any]:
    """Root DeleteAccessKey of ``key_id`` (no userName: root's own key)."""
    base = {
        "eventName": "DeleteAccessKey",
        "eventID": "ea693040-6ba0-43e3-b32f-37b75b42decb",
        "requestParameters": {"accessKeyId": key_id},
        "responseElements": None,
    }
    return record(**{**base, **overrides})


def update_record(
    status: Any = "Inactive", key_id: str = KEY_ID, **overrides: Any
) -> dict[str, Any]:
    """Root UpdateAccessKey setting ``key_id`` to ``status``."""
    base = {
        "eventName": "UpdateAccessKey",
        "eventID": "be8c04d4-90a4-478a-8b25-57e8bb21a35c",
        "requestParameters": {"accessKeyId": key_id, "status": status},
        "responseElements": None,
    }
    return record(**{**base, **overrides})


def envelope(rec: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The EventBridge event that carries ``rec`` as its ``detail``."""
    doc: dict[str, Any] = {
        "version": "0",
        "id": ENVELOPE_ID,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": rec.get("eventTime", EVENT_TIME),
        "region": "us-east-1",
        "resources": [],
        "detail": copy.deepcopy(rec),
    }
    return _apply(doc, overrides)


def log_file(*records: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail log file object holding ``records`` in order."""
    return {"Records": [copy.deepcopy(r) for r in records]}


def as_bytes(doc: Any, *, gzipped: bool = False) -> bytes:
    """The bytes of ``doc`` as a file would hold them (gzip-compressed like S3 log files)."""
    data = json.dumps(doc).encode()
    return gzip.compress(data) if gzipped else data
