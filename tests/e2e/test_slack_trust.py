"""A retry takes for its own only what its own app posted: planted metadata buries no alert.

Message metadata is not a signature: any app in the workspace (or a member with a user token
of one) can post a message whose metadata names an event. A retry that finds no record of its
predecessor's post reads the channel; it must accept only a message of the detector's own bot
(``bot_id`` from ``auth.test``) whose metadata names this event and this finding.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web import WebClient

from detector import handler
from detector.domain.finding import finding_id
from detector.domain.message import METADATA_EVENT_TYPE
from detector.errors import PipelineError
from sandbox.slack_emulator import BOT_USER_ID, Identity
from sandbox.stack import SLACK_CHANNEL, SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")
KEY = "AKIAZSANDBOXDEMO7Q2X"  # the key sample("root_create_access_key") creates

POSERS = {
    "another-app": ("xoxb-another-app", Identity("U0HELPER", "helper", "B0HELPER", "A0HELPER")),
    "a-channel-member": ("xoxp-a-member", Identity("U0MALLORY", "mallory")),
}


def _delete(create: dict[str, Any], seconds: int) -> dict[str, Any]:
    record = json.loads(json.dumps(create))
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record |= {
        "eventName": "DeleteAccessKey",
        "eventID": str(uuid.uuid4()),
        "eventTime": (when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "requestParameters": {"accessKeyId": KEY},
        "responseElements": None,
    }
    return record


@pytest.mark.parametrize("poser", list(POSERS))
def test_a_planted_message_does_not_stand_in_for_the_alert(
    sandbox: SandboxStack, poser: str
) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    sandbox.put_cloudtrail_event(create)
    (event,) = sandbox.receive_routed()
    # Someone who can post in the channel plants a message naming the event and its finding
    # (both computable from the CloudTrail record).
    token, identity = POSERS[poser]
    sandbox.slack.add_token(token, identity)
    planted = WebClient(token=token, base_url=sandbox.slack.base_url).chat_postMessage(
        channel=SLACK_CHANNEL,
        text="routine maintenance, nothing to see",
        metadata={
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": {
                "event_id": create["eventID"],
                "verdict": "root-key-created",
                "finding_id": finding_id(create["recipientAccountId"], KEY),
            },
        },
    )["ts"]
    # The first attempt fails: Slack asks for a longer pause than an invocation may take.
    sandbox.slack.inject("ratelimit", retry_after=120, methods="chat.postMessage")
    with pytest.raises(PipelineError):
        handler.lambda_handler(event, None)

    (result,) = handler.lambda_handler(event, None)["results"]  # Lambda's retry

    assert "found-posted" not in result["actions"]
    assert "alerted" in result["actions"]
    (alert,) = [m for m in sandbox.slack.top_level(SLACK_CHANNEL) if m.author == BOT_USER_ID]
    assert result["slack_ts"] == alert.ts != planted
    assert "Root access key created" in (alert.text or "")
    # The key's story continues under the real alert, never under the planted message.
    sandbox.aws.set_root_key_present(False)
    sandbox.put_cloudtrail_event(_delete(create, 60))
    for routed in sandbox.receive_routed():
        handler.lambda_handler(routed, None)
    assert len(sandbox.slack.replies(SLACK_CHANNEL, alert.ts)) == 1
    assert sandbox.slack.replies(SLACK_CHANNEL, planted) == []
    planted_now = sandbox.slack.message(SLACK_CHANNEL, planted)
    assert planted_now is not None
    assert not planted_now.edits  # never redrawn as if it were the alert
