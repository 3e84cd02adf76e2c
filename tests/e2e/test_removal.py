"""Removal of a root access key by two responders, end to end in dry run: clicks in the emulated
Slack reach the interaction function signed, the ledger in the sandbox's DynamoDB holds the
request, the jobs reply in the key's thread and redraw the alert. No AWS removal call is made."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector import handler, interact
from detector.log import configure, get_logger
from sandbox.aws import SLACK_CHANNEL
from sandbox.contracts import CONTRACTS
from sandbox.function_url import FunctionUrl
from sandbox.slack_emulator import StoredMessage
from sandbox.slack_interactions import block_actions
from sandbox.stack import ALICE, BOB, RITA, SandboxStack, sample

REMOVE, CONFIRM, CANCEL = "root_remove_key", "root_confirm_removal", "root_cancel_removal"
ACK, SUPPRESS, RESOLVE = "triage_acknowledge", "triage_suppress", "triage_resolve"


def removal_env(sandbox: SandboxStack, *, removal: bool) -> dict[str, str]:
    return {
        **sandbox.interactivity_env(),
        "CENTRALIZED_ROOT_ACCESS": "true",
        "ROOT_KEY_REMOVAL": "true" if removal else "false",
    }


@pytest.fixture(params=[True], ids=["removal-on"])
def removal_on(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def removal_url(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO, removal_on: bool
) -> Iterator[FunctionUrl]:
    """The detector with removal on (dry run, the default), and the interaction function."""
    for key, value in removal_env(sandbox, removal=removal_on).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ROOT_KEY_REMOVAL_DRY_RUN", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(handler, "_runtime", None)
    configure("DEBUG", stream=logs)
    with FunctionUrl(interact.lambda_handler) as url:
        sandbox.slack.interactivity.request_url = url.url
        yield url
    for h in list(get_logger().handlers):
        get_logger().removeHandler(h)


pytestmark = pytest.mark.usefixtures("removal_url")


def alert_of_a_root_key(sandbox: SandboxStack) -> StoredMessage:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    handler.lambda_handler(event, None)
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    return alert


def current(sandbox: SandboxStack, alert: StoredMessage) -> StoredMessage:
    found = sandbox.slack.message(SLACK_CHANNEL, alert.ts)
    assert found is not None
    return found


def buttons(message: StoredMessage) -> list[str]:
    return [
        e["action_id"]
        for b in message.blocks or []
        if b.get("block_id") == "triage_buttons"
        for e in b["elements"]
    ]


def status(message: StoredMessage) -> str:
    block = next(b for b in message.blocks or [] if b.get("block_id") == "triage_status")
    return " ".join(str(e["text"]) for e in block["elements"])


def click(sandbox: SandboxStack, user: Any, alert: StoredMessage, action: str) -> int:
    return sandbox.slack.click(user, SLACK_CHANNEL, current(sandbox, alert).ts, action).status


def jobs(sandbox: SandboxStack) -> list[dict[str, Any]]:
    return sandbox.run_jobs(interact.lambda_handler)


def replies(sandbox: SandboxStack, alert: StoredMessage) -> list[str]:
    return [json.dumps(r.blocks) for r in sandbox.slack.replies(SLACK_CHANNEL, alert.ts)]


def told(sandbox: SandboxStack) -> str:
    return str(sandbox.slack.interactivity.responses[-1]["message"]["text"])


KEY_ID = "AKIAZSANDBOXDEMO7Q2X"  # the sample's new key (responseElements.accessKey)


def test_the_alert_offers_remove_key_when_removal_is_on(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert buttons(alert) == [ACK, SUPPRESS, RESOLVE, REMOVE]
    remove = next(
        e for b in alert.blocks or [] for e in b.get("elements", []) if e.get("action_id") == REMOVE
    )
    assert remove["style"] == "danger"
    assert "second responder" in remove["confirm"]["text"]["text"]


def test_two_responders_in_dry_run_name_the_calls_and_change_nothing_in_aws(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert click(sandbox, ALICE, alert, REMOVE) == 200
    assert jobs(sandbox) == [{"triage": "requested"}]
    (asked,) = replies(sandbox, alert)
    assert "alice (U0ALICE) asks to remove root access key AKIA" in asked
    assert "a second responder must confirm" in asked
    assert "Dry run" in asked
    redrawn = current(sandbox, alert)
    assert buttons(redrawn) == [ACK, SUPPRESS, RESOLVE, CONFIRM, CANCEL]
    assert "Removal of AKIA" in status(redrawn)

    assert click(sandbox, RITA, alert, CONFIRM) == 200
    assert jobs(sandbox) == [{"triage": "dry-run"}]
    outcome = replies(sandbox, alert)[-1]
    assert "alice (U0ALICE)" in outcome
    assert "rita (U0RITA)" in outcome
    for call in (
        "sts AssumeRoot TargetPrincipal=",
        "TaskPolicyArn={arn: arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials}",
        "DurationSeconds=900",
        "iam ListAccessKeys",
        "iam DeleteAccessKey AccessKeyId=AKIA",
    ):
        assert call in outcome
    assert "No AWS call was made" in outcome
    (finding,) = sandbox.aws.findings()
    assert finding["Workflow"]["Status"] == "NEW"  # nothing was removed: the finding stays open
    redrawn = current(sandbox, alert)
    assert buttons(redrawn) == [ACK, SUPPRESS, RESOLVE, REMOVE]  # may be asked again
    assert "dry run" in status(redrawn)
    text = logs.getvalue()
    assert "key removal requested" in text
    assert "key removal confirmed" in text
    assert "key removal dry run" in text
    assert KEY_ID not in text  # logged masked


def test_the_requester_cannot_confirm_their_own_request(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, REMOVE)
    jobs(sandbox)
    assert click(sandbox, ALICE, alert, CONFIRM) == 403
    assert "a second responder must confirm" in told(sandbox)
    assert jobs(sandbox) == []
    assert "same responder" in logs.getvalue()
    assert buttons(current(sandbox, alert))[-2:] == [CONFIRM, CANCEL]  # still pending


def test_a_second_request_while_one_is_pending_is_refused(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, REMOVE)
    # Rita clicks the Remove key button the alert showed before the redraw.
    fid, _ = alert_value(alert)
    payload = block_actions(
        RITA,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=REMOVE,
        value=fid,
        response_url=f"{sandbox.slack.root_url}/actions/y",
    )
    assert sandbox.slack.interactivity.deliver(payload).status == 409
    assert "already asked" in told(sandbox)
    assert jobs(sandbox) == [{"triage": "requested"}]


def alert_value(alert: StoredMessage) -> tuple[str, str]:
    value = next(
        str(e["value"])
        for b in alert.blocks or []
        for e in b.get("elements", [])
        if e.get("action_id") == REMOVE
    )
    return value, value.split("|")[1]


def test_a_click_naming_another_key_is_refused(sandbox: SandboxStack, logs: io.StringIO) -> None:
    alert = alert_of_a_root_key(sandbox)
    value, key = alert_value(alert)
    forged = value.replace(key, "AKIAOTHERKEY0000000X")
    payload = block_actions(
        ALICE,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=REMOVE,
        value=forged,
        response_url=f"{sandbox.slack.root_url}/actions/z",
    )
    assert sandbox.slack.interactivity.deliver(payload).status == 404
    assert "only a key it alerted on" in told(sandbox)
    assert jobs(sandbox) == []
    assert replies(sandbox, alert) == []
    assert "removal of a key not alerted on" in logs.getvalue()


def test_a_user_not_allowed_may_not_ask(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert click(sandbox, BOB, alert, REMOVE) == 403
    assert "not allowed" in told(sandbox)
    assert jobs(sandbox) == []


def test_cancel_ends_the_request(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, REMOVE)
    jobs(sandbox)
    stale = current(sandbox, alert)
    assert click(sandbox, RITA, alert, CANCEL) == 200
    assert jobs(sandbox) == [{"triage": "cancelled"}]
    assert "rita (U0RITA) cancelled alice (U0ALICE)" in replies(sandbox, alert)[-1]
    assert buttons(current(sandbox, alert))[-1] == REMOVE
    # A Confirm sent from the alert as it stood before answers a request no longer pending.
    confirm = next(
        str(e["value"])
        for b in stale.blocks or []
        for e in b.get("elements", [])
        if e.get("action_id") == CONFIRM
    )
    payload = block_actions(
        ALICE,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=CONFIRM,
        value=confirm,
        response_url=f"{sandbox.slack.root_url}/actions/v",
    )
    assert sandbox.slack.interactivity.deliver(payload).status == 409
    assert "no longer pending" in told(sandbox)
    assert jobs(sandbox) == []


@pytest.mark.parametrize("removal_on", [False], ids=["removal-off"], indirect=True)
def test_with_removal_off_no_button_and_a_forged_click_is_refused(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert REMOVE not in buttons(alert)
    fid = next(
        str(e["value"])
        for b in alert.blocks or []
        if b.get("block_id") == "triage_buttons"
        for e in b["elements"]
    )
    payload = block_actions(
        ALICE,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=REMOVE,
        value=f"{fid}|AKIAIOSFODNN7EXAMPLE",
        response_url=f"{sandbox.slack.root_url}/actions/w",
    )
    assert sandbox.slack.interactivity.deliver(payload).status == 403
    assert "not enabled" in told(sandbox)
    assert jobs(sandbox) == []
    assert "removal disabled" in logs.getvalue()
    assert CONTRACTS.take_invocations() == []


def lifecycle(name: str, seconds: int, status: str | None = None) -> dict[str, Any]:
    create = sample("root_create_access_key")
    record: dict[str, Any] = json.loads(json.dumps(create))
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record["eventName"] = name
    record["eventID"] = str(uuid.uuid4())
    record["eventTime"] = (when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    record["requestParameters"] = {"accessKeyId": KEY_ID, **({"status": status} if status else {})}
    record["responseElements"] = None
    return record


def handle(sandbox: SandboxStack, record: dict[str, Any]) -> None:
    sandbox.put_cloudtrail_event(record)
    for event in sandbox.receive_routed():
        handler.lambda_handler(event, None)


def test_a_later_event_of_the_key_keeps_the_pending_request_on_the_alert(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, REMOVE)
    jobs(sandbox)
    handle(sandbox, lifecycle("UpdateAccessKey", 60, "Inactive"))
    redrawn = current(sandbox, alert)
    assert buttons(redrawn)[-2:] == [CONFIRM, CANCEL]
    assert "Removal of AKIA" in status(redrawn)


def test_a_key_deleted_meanwhile_is_not_confirmed(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, REMOVE)
    jobs(sandbox)
    pending = current(sandbox, alert)
    sandbox.aws.set_root_key_present(False)
    handle(sandbox, lifecycle("DeleteAccessKey", 60))  # deleted by hand, before the confirm
    assert buttons(current(sandbox, alert))[-1:] == [CANCEL]
    confirm = next(
        str(e["value"])
        for b in pending.blocks or []
        for e in b.get("elements", [])
        if e.get("action_id") == CONFIRM
    )
    payload = block_actions(
        RITA,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=CONFIRM,
        value=confirm,
        response_url=f"{sandbox.slack.root_url}/actions/u",
    )
    assert sandbox.slack.interactivity.deliver(payload).status == 409
    assert "no longer open" in told(sandbox)
    assert jobs(sandbox) == []


def emf_lines(out: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents written on stdout."""
    return [
        d for d in (json.loads(x) for x in out.splitlines() if x.startswith("{")) if "_aws" in d
    ]


def test_the_interaction_function_writes_its_removal_counts_as_metrics(
    sandbox: SandboxStack, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = alert_of_a_root_key(sandbox)
    capsys.readouterr()  # the detector function's own line
    click(sandbox, ALICE, alert, REMOVE)
    jobs(sandbox)
    assert click(sandbox, ALICE, alert, CONFIRM) == 403  # the requester: refused
    click(sandbox, RITA, alert, CONFIRM)
    assert jobs(sandbox) == [{"triage": "dry-run"}]
    counted: dict[str, float] = {}
    for doc in emf_lines(capsys.readouterr().out):
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [["FunctionName"]]
        for metric in directive["Metrics"]:
            counted[metric["Name"]] = counted.get(metric["Name"], 0) + doc[metric["Name"]]
    assert counted == {
        "KeyRemovals.requested": 1,
        "KeyRemovals.refused": 1,
        "KeyRemovals.dry-run": 1,
    }
