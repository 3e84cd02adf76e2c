"""Triage from the alert, end to end: a person clicks in the emulated Slack, the signed request
reaches the interaction function through its URL, the job it starts updates the finding in the
sandbox's Security Hub, replies in the key's thread and redraws the alert. Every refusal changes
nothing."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detector import handler, interact
from detector.log import configure, get_logger
from sandbox.aws import SIGNING_SECRET_NAME, SLACK_CHANNEL, SLACK_SIGNING_SECRET, SLACK_TOKEN
from sandbox.contracts import CONTRACTS
from sandbox.function_url import FunctionUrl
from sandbox.slack_emulator import StoredMessage
from sandbox.slack_interactions import (
    Delivered,
    SlackUser,
    block_actions,
    form_body,
    signed_headers,
)
from sandbox.stack import ALICE, BOB, RITA, SandboxStack, sample

ACK, SUPPRESS, RESOLVE = "triage_acknowledge", "triage_suppress", "triage_resolve"


@pytest.fixture
def triage_env(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> Iterator[FunctionUrl]:
    """The detector with interactivity on, and the interaction function behind its URL."""
    for key, value in sandbox.interactivity_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(handler, "_runtime", None)
    configure("DEBUG", stream=logs)
    with FunctionUrl(interact.lambda_handler) as url:
        sandbox.slack.interactivity.request_url = url.url
        yield url
    for h in list(get_logger().handlers):
        get_logger().removeHandler(h)


pytestmark = pytest.mark.usefixtures("triage_env")


def alert_of_a_root_key(sandbox: SandboxStack) -> StoredMessage:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    handler.lambda_handler(event, None)
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)
    return alert


def buttons(message: StoredMessage) -> list[str]:
    return [
        e["action_id"]
        for b in message.blocks or []
        if b.get("block_id") == "triage_buttons"
        for e in b["elements"]
    ]


def status(message: StoredMessage) -> str:
    block = next(b for b in message.blocks or [] if b.get("block_id") == "triage_status")
    return str(block["elements"][0]["text"])


def current(sandbox: SandboxStack, alert: StoredMessage) -> StoredMessage:
    found = sandbox.slack.message(SLACK_CHANNEL, alert.ts)
    assert found is not None
    return found


def workflow(sandbox: SandboxStack) -> tuple[str, dict[str, Any] | None]:
    (finding,) = sandbox.aws.findings()
    return finding["Workflow"]["Status"], finding.get("Note")


def click(
    sandbox: SandboxStack, user: SlackUser, alert: StoredMessage, action: str, **kw: Any
) -> Delivered:
    return sandbox.slack.click(user, SLACK_CHANNEL, alert.ts, action, **kw)


def jobs(sandbox: SandboxStack) -> list[dict[str, Any]]:
    return sandbox.run_jobs(interact.lambda_handler)


def test_the_alert_offers_triage(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert buttons(alert) == [ACK, SUPPRESS, RESOLVE]
    assert "Workflow NEW" in status(alert)


def test_acknowledge_sets_notified_with_a_note_replies_once_and_redraws(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    answer = click(sandbox, ALICE, alert, ACK)
    assert answer.status == 200
    assert jobs(sandbox) == [{"triage": "done"}]

    status_now, note = workflow(sandbox)
    assert status_now == "NOTIFIED"
    assert note is not None
    assert "alice (U0ALICE)" in note["Text"]
    assert note["Text"].startswith("Acknowledge in Slack by alice (U0ALICE) at ")
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert "alice (U0ALICE) acknowledged the finding" in json.dumps(reply.blocks)
    redrawn = current(sandbox, alert)
    assert "Workflow NOTIFIED" in status(redrawn)
    assert buttons(redrawn) == [SUPPRESS, RESOLVE]
    assert SLACK_SIGNING_SECRET not in logs.getvalue()
    assert SLACK_TOKEN not in logs.getvalue()


def test_suppress_opens_a_modal_and_the_reason_lands_in_the_note(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert click(sandbox, RITA, alert, SUPPRESS).status == 200
    assert jobs(sandbox) == []  # nothing happens until the modal is submitted
    assert workflow(sandbox)[0] == "NEW"
    (opened,) = sandbox.slack.interactivity.views
    assert opened["view"]["callback_id"] == SUPPRESS

    assert sandbox.slack.interactivity.submit(RITA, "break-glass test account").status == 200
    assert jobs(sandbox) == [{"triage": "done"}]
    status_now, note = workflow(sandbox)
    assert status_now == "SUPPRESSED"
    assert note is not None
    assert note["Text"].endswith(": break-glass test account")
    redrawn = current(sandbox, alert)
    assert "Workflow SUPPRESSED" in status(redrawn)
    assert "break-glass test account" in status(redrawn)


def test_resolve_while_iam_shows_the_key_keeps_compliance_failed(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, RESOLVE)
    sandbox.slack.interactivity.submit(ALICE, "key handed to the vault team")
    jobs(sandbox)
    (finding,) = sandbox.aws.findings()
    assert finding["Workflow"]["Status"] == "RESOLVED"
    assert finding["Compliance"]["Status"] == "FAILED"
    assert "Compliance stays *FAILED*" in status(current(sandbox, alert))
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert "Compliance stays FAILED" in json.dumps(reply.blocks)


def test_a_double_click_and_two_responders_give_one_update_and_one_reply(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    answers = [click(sandbox, u, alert, ACK) for u in (ALICE, ALICE, RITA)]
    assert [a.status for a in answers] == [200, 200, 200]
    results = jobs(sandbox)
    assert sorted(r["triage"] for r in results) == ["done", "unchanged", "unchanged"]
    assert len(sandbox.slack.replies(SLACK_CHANNEL, alert.ts)) == 1
    updates = [r for r in sandbox.slack.requests if r.method == "chat.update"]
    assert len(updates) == 1


def test_a_retried_job_finishes_without_repeating_itself(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, ACK)
    taken = CONTRACTS.take_invocations()
    for function, payload in taken + taken:  # Lambda delivers the same job twice
        CONTRACTS.queue_invocation(function, payload)
    assert [r["triage"] for r in jobs(sandbox)] == ["done", "unchanged"]
    assert len(sandbox.slack.replies(SLACK_CHANNEL, alert.ts)) == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda job: job.pop("mac"),
        lambda job: job.update(user_name="the CISO"),
        lambda job: job.update(action="suppress", text="forged reason"),
        lambda job: job.update(mac="0" * 64),
        lambda job: job.update(mac=["not", "text"]),
    ],
)
def test_a_job_the_function_did_not_sign_changes_nothing(
    sandbox: SandboxStack, forge: Callable[[dict[str, Any]], Any]
) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, ACK)
    ((function, job),) = CONTRACTS.take_invocations()
    forge(job)
    CONTRACTS.queue_invocation(function, job)
    assert jobs(sandbox) == [{"triage": "refused"}]
    nothing_changed(sandbox, alert)


def test_a_responders_name_is_inert_in_the_replys_notification_text(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    loud = SlackUser(ALICE.user_id, "<!channel> *urgent* <https://evil.example|click>")
    click(sandbox, loud, alert, ACK)
    assert jobs(sandbox) == [{"triage": "done"}]
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert "<!channel>" not in reply.text
    assert "<https://" not in reply.text
    assert "*urgent*" not in reply.text
    assert "&lt;!channel&gt;" in reply.text


def test_an_update_security_hub_refuses_is_said_in_the_thread_and_may_be_tried_again(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, ACK)
    # 91 days on, Security Hub has deleted the finding: the update fails for good.
    sandbox.aws.set_clock(datetime.now(UTC) + timedelta(days=91))
    try:
        assert jobs(sandbox) == [{"triage": "failed"}]
        (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
        assert "could not be written to Security Hub" in reply.text
        assert "the finding is unchanged" in reply.text
        assert "Workflow NEW" in status(current(sandbox, alert))
        # The ledger was put back: the next click is tried, not answered "unchanged".
        click(sandbox, RITA, alert, ACK)
        assert jobs(sandbox) == [{"triage": "failed"}]
    finally:
        sandbox.aws.set_clock(None)


# -- refusals: right status, nothing changed, no secret logged ----------------------------------


def nothing_changed(sandbox: SandboxStack, alert: StoredMessage) -> None:
    assert jobs(sandbox) == []
    assert workflow(sandbox) == ("NEW", None)
    assert sandbox.slack.replies(SLACK_CHANNEL, alert.ts) == []
    assert not [r for r in sandbox.slack.requests if r.method in {"chat.update", "views.open"}]


def signed_payload(sandbox: SandboxStack, alert: StoredMessage, **kw: Any) -> dict[str, Any]:
    fid = next(
        e["value"]
        for b in alert.blocks or []
        if b.get("block_id") == "triage_buttons"
        for e in b["elements"]
    )
    args: dict[str, Any] = {
        "channel": SLACK_CHANNEL,
        "message_ts": alert.ts,
        "action_id": ACK,
        "value": fid,
        "response_url": f"{sandbox.slack.root_url}/actions/x",
    }
    return block_actions(kw.pop("user", ALICE), **{**args, **kw})


def test_a_user_not_allowed_is_told_so_and_nothing_changes(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert click(sandbox, BOB, alert, ACK).status == 403
    (told,) = sandbox.slack.interactivity.responses
    assert told["message"]["response_type"] == "ephemeral"
    assert "not allowed" in told["message"]["text"]
    nothing_changed(sandbox, alert)
    assert "U0BOB" in logs.getvalue()


def refuse(sandbox: SandboxStack, alert: StoredMessage, delivered: Delivered, status: int) -> None:
    assert delivered.status == status, delivered.body
    nothing_changed(sandbox, alert)


def test_a_forged_signature_is_401(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    inter = sandbox.slack.interactivity
    inter.signing_secret = "f" * 32
    try:
        refuse(sandbox, alert, inter.deliver(signed_payload(sandbox, alert)), 401)
    finally:
        inter.signing_secret = SLACK_SIGNING_SECRET


def test_a_stale_timestamp_is_401(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    stale = sandbox.slack.interactivity.deliver(
        signed_payload(sandbox, alert), at=time.time() - 301
    )
    refuse(sandbox, alert, stale, 401)


def test_a_replayed_request_is_401_and_acts_once(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    inter = sandbox.slack.interactivity
    body = form_body(signed_payload(sandbox, alert))
    at = time.time()
    assert inter.deliver({}, body=body, at=at).status == 200
    assert inter.deliver({}, body=body, at=at).status == 401
    assert [r["triage"] for r in jobs(sandbox)] == ["done"]


def test_a_tampered_body_is_401(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    inter = sandbox.slack.interactivity
    at = time.time()
    signed_for = form_body(signed_payload(sandbox, alert, user=BOB))
    tampered = form_body(signed_payload(sandbox, alert, user=ALICE))
    headers = signed_headers(SLACK_SIGNING_SECRET, signed_for, at=at)
    answer = inter.deliver({}, body=tampered, at=at, extra_headers=headers)
    refuse(sandbox, alert, answer, 401)


def test_an_unknown_action_is_400(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    payload = signed_payload(sandbox, alert, action_id="triage_delete_key")
    refuse(sandbox, alert, sandbox.slack.interactivity.deliver(payload), 400)


@pytest.mark.parametrize(
    ("user", "channel", "reason"),
    [
        (SlackUser("U0ALICE", "alice", team_id="T0OTHER"), SLACK_CHANNEL, "another workspace"),
        (ALICE, "C0RANDOM", "another channel"),
    ],
)
def test_another_workspace_or_channel_is_403(
    sandbox: SandboxStack, user: SlackUser, channel: str, reason: str
) -> None:
    alert = alert_of_a_root_key(sandbox)
    payload = signed_payload(sandbox, alert, user=user, channel=channel)
    answer = sandbox.slack.interactivity.deliver(payload)
    assert answer.body == reason
    refuse(sandbox, alert, answer, 403)
    assert sandbox.slack.interactivity.responses == []


def test_a_body_over_64_kb_is_413(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    payload = signed_payload(sandbox, alert)
    payload["padding"] = "x" * 70_000
    refuse(sandbox, alert, sandbox.slack.interactivity.deliver(payload), 413)


@pytest.mark.parametrize("body", [b"payload=%7B", b"payload=[]", b"hello", b"payload=%7B%7D"])
def test_a_malformed_payload_is_400(sandbox: SandboxStack, body: bytes) -> None:
    alert = alert_of_a_root_key(sandbox)
    refuse(sandbox, alert, sandbox.slack.interactivity.deliver({}, body=body), 400)


def test_a_click_on_another_message_is_404(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    payload = signed_payload(sandbox, alert, message_ts="1700000000.000001")
    refuse(sandbox, alert, sandbox.slack.interactivity.deliver(payload), 404)


def test_an_unreadable_signing_secret_is_503_without_a_traceback_and_not_read_each_time(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    alert = alert_of_a_root_key(sandbox)
    secrets = sandbox.aws.client("secretsmanager")
    secrets.put_secret_value(SecretId=SIGNING_SECRET_NAME, SecretString='{"other": "x"}')
    assert click(sandbox, ALICE, alert, ACK).status == 503
    # Mended at once, but the failure is remembered for a while: no read per request.
    secrets.put_secret_value(
        SecretId=SIGNING_SECRET_NAME,
        SecretString=json.dumps({"signing_secret": SLACK_SIGNING_SECRET}),
    )
    assert click(sandbox, RITA, alert, ACK).status == 503
    assert "Traceback" not in logs.getvalue()
    assert "signing secret unavailable" in logs.getvalue()
    nothing_changed(sandbox, alert)


def test_no_refusal_logs_a_secret(sandbox: SandboxStack, logs: io.StringIO) -> None:
    alert = alert_of_a_root_key(sandbox)
    inter = sandbox.slack.interactivity
    inter.deliver(signed_payload(sandbox, alert, user=BOB))
    inter.deliver({}, body=b"payload=%7B")
    text = logs.getvalue()
    assert "slack request refused" in text
    for secret in (SLACK_SIGNING_SECRET, SLACK_TOKEN, "/actions/"):
        assert secret not in text


# -- the other way round: a change made in Security Hub, shown in the thread ---------------------


def suppress_in_security_hub(sandbox: SandboxStack, note: str) -> None:
    (finding,) = sandbox.aws.findings()
    sandbox.aws.person_client("securityhub", "analyst").batch_update_findings(
        FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": finding["ProductArn"]}],
        Workflow={"Status": "SUPPRESSED"},
        Note={"Text": note, "UpdatedBy": "analyst"},
    )


def hub_events(sandbox: SandboxStack) -> list[dict[str, Any]]:
    return sandbox.receive_hub_changes(wait_s=0)


def handle(events: list[dict[str, Any]]) -> list[Any]:
    return [interact.lambda_handler(e, None)["hub"] for e in events]


def test_the_detectors_own_imports_and_updates_never_echo(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, ACK)
    jobs(sandbox)
    events = hub_events(sandbox)
    kinds = sorted(e["detail-type"] for e in events)
    # the alert's import, the acknowledgement's update, and CloudTrail's record of it
    assert kinds == [
        "AWS API Call via CloudTrail",
        "Security Hub Findings - Imported",
        "Security Hub Findings - Imported",
    ]
    assert sorted(r[0] for r in handle(events)) == ["stale", "unchanged", "unchanged"]
    assert len(sandbox.slack.replies(SLACK_CHANNEL, alert.ts)) == 1


def test_a_suppression_in_security_hub_shows_who_in_the_thread_and_on_the_alert(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    hub_events(sandbox)  # the alert's own import
    suppress_in_security_hub(sandbox, "accepted risk: sandbox account")
    events = hub_events(sandbox)
    cloudtrail = [e for e in events if e["detail-type"] == "AWS API Call via CloudTrail"]
    imported = [e for e in events if e not in cloudtrail]
    assert handle(cloudtrail + imported) == [["done"], ["unchanged"]]
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    text = json.dumps(reply.blocks)
    assert "suppressed the finding (Workflow SUPPRESSED) in Security Hub" in text
    assert "analyst" in text
    assert "accepted risk" in text
    redrawn = current(sandbox, alert)
    assert "Workflow SUPPRESSED* in Security Hub by arn:" in status(redrawn)
    assert buttons(redrawn) == [ACK, RESOLVE]


def test_when_the_finding_event_comes_first_the_author_is_named_after(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    hub_events(sandbox)
    suppress_in_security_hub(sandbox, "accepted risk")
    events = hub_events(sandbox)
    cloudtrail = [e for e in events if e["detail-type"] == "AWS API Call via CloudTrail"]
    imported = [e for e in events if e not in cloudtrail]
    assert handle(imported) == [["done"]]
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert "author unknown" in json.dumps(reply.blocks)
    assert handle(cloudtrail) == [["author-named"]]
    (reply,) = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert "author unknown" not in json.dumps(reply.blocks)
    assert "analyst" in json.dumps(reply.blocks)
    assert "analyst" in status(current(sandbox, alert))
    assert handle(events) == [["unchanged"], ["unchanged"]]  # redelivered: nothing more


def as_another_accounts(event: dict[str, Any]) -> dict[str, Any]:
    """The same change, to a finding with the same Id in another account's product."""
    other = "arn:aws:securityhub:us-east-1:210987654321:product/210987654321/default"
    text = json.dumps(event)
    for finding in event["detail"].get("findings", []):
        text = text.replace(json.dumps(finding["ProductArn"]), json.dumps(other))
        text = text.replace(json.dumps(finding["AwsAccountId"]), json.dumps("210987654321"))
    for ident in event["detail"].get("requestParameters", {}).get("FindingIdentifiers", []):
        text = text.replace(json.dumps(ident["ProductArn"]), json.dumps(other))
    forged: dict[str, Any] = json.loads(text)
    return forged


def test_a_change_to_another_products_finding_with_our_id_is_not_shown(
    sandbox: SandboxStack,
) -> None:
    alert = alert_of_a_root_key(sandbox)
    hub_events(sandbox)
    suppress_in_security_hub(sandbox, "forged: someone else's finding")
    events = [as_another_accounts(e) for e in hub_events(sandbox)]
    assert handle(events) == [["foreign"], ["foreign"]]
    assert sandbox.slack.replies(SLACK_CHANNEL, alert.ts) == []
    assert not [r for r in sandbox.slack.requests if r.method == "chat.update"]


def test_an_update_security_hub_did_not_process_is_not_shown(sandbox: SandboxStack) -> None:
    alert = alert_of_a_root_key(sandbox)
    hub_events(sandbox)
    (finding,) = sandbox.aws.findings()
    other = "arn:aws:securityhub:us-east-1:210987654321:product/210987654321/default"
    sandbox.aws.person_client("securityhub", "analyst").batch_update_findings(
        FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": other}],
        Workflow={"Status": "SUPPRESSED"},
    )
    events = hub_events(sandbox)
    assert [e["detail-type"] for e in events] == ["AWS API Call via CloudTrail"]
    assert handle(events) == [[]]
    nothing_changed(sandbox, alert)


MEMBER_ROLE = "RootKeyDetectorMember"


def made_by(event: dict[str, Any], account: str, role: str) -> dict[str, Any]:
    """CloudTrail's record of the same call, made by a session of ``role`` in ``account``."""
    forged: dict[str, Any] = json.loads(json.dumps(event))
    forged["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/session",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}"}
        },
    }
    return forged


@pytest.mark.parametrize(
    ("account", "shown"), [("123456789012", ["own"]), ("210987654321", ["done"])]
)
def test_only_the_member_role_of_the_findings_own_account_is_the_detectors(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, account: str, shown: list[str]
) -> None:
    monkeypatch.setenv("MEMBER_ROLE_NAME", MEMBER_ROLE)
    alert = alert_of_a_root_key(sandbox)
    hub_events(sandbox)
    suppress_in_security_hub(sandbox, "by a role named like the detector's")
    events = hub_events(sandbox)
    (cloudtrail,) = [e for e in events if e["detail-type"] == "AWS API Call via CloudTrail"]
    assert handle([made_by(cloudtrail, account, MEMBER_ROLE)]) == [shown]
    replies = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)
    assert len(replies) == (0 if shown == ["own"] else 1)


@pytest.mark.parametrize("event", [{}, {"headers": "x"}, [], {"detector": "sweep"}])
def test_anything_else_sent_to_the_function_is_400(sandbox: SandboxStack, event: Any) -> None:
    alert = alert_of_a_root_key(sandbox)
    assert interact.lambda_handler(event, None)["statusCode"] == 400
    nothing_changed(sandbox, alert)


def test_two_responders_at_the_same_moment_give_one_update(sandbox: SandboxStack) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    alert = alert_of_a_root_key(sandbox)
    click(sandbox, ALICE, alert, ACK)
    click(sandbox, RITA, alert, ACK)
    queued = CONTRACTS.take_invocations()
    assert len(queued) == 2
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda job: interact.lambda_handler(job[1], None)["triage"], queued)
        )
    assert sorted(results) == ["done", "unchanged"]
    assert len(sandbox.slack.replies(SLACK_CHANNEL, alert.ts)) == 1
    assert workflow(sandbox)[0] == "NOTIFIED"


def test_a_member_of_the_responder_group_may_act(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_RESPONDERS", "")
    monkeypatch.setenv("SLACK_RESPONDER_GROUP", "S0SECOPS")
    monkeypatch.setattr(handler, "_runtime", None)
    sandbox.slack.interactivity.groups["S0SECOPS"] = [BOB.user_id]
    alert = alert_of_a_root_key(sandbox)
    assert click(sandbox, ALICE, alert, ACK).status == 403  # not in the group
    assert click(sandbox, BOB, alert, ACK).status == 200
    assert jobs(sandbox) == [{"triage": "done"}]
    assert "bob (U0BOB)" in str(workflow(sandbox)[1])
