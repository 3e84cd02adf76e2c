"""``make demo``: the whole detection path on the embedded sandbox, printed for a person.

1. start moto (AWS) and the Slack emulator on 127.0.0.1, seed them as a deployment would be;
2. give the root user an access key (moto cannot: the sandbox sets IAM's summary flag);
3. put a root CreateAccessKey event and an IAM user's CreateAccessKey event on the bus;
4. the EventBridge rule (the detector's own pattern) routes to SQS; the Lambda handler runs on
   each delivered event;
5. show the finding as Security Hub returns it and the alert as Slack received it;
6. triage from the alert: a named responder clicks Acknowledge in the Slack emulator (a signed
   request to the interaction function's URL), and the finding shows Workflow NOTIFIED with a
   note naming them; then someone suppresses the finding in Security Hub, and the key's thread
   says who;
7. the key's later life: root deactivates, then deletes it.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import textwrap
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from detector import handler, interact
from sandbox.aws import patched_environ
from sandbox.function_url import FunctionUrl
from sandbox.stack import ALICE, SLACK_CHANNEL, SandboxStack, sample


def main() -> int:
    """Run the demo; exit 0 only if the whole path worked."""
    ok = True
    with SandboxStack() as stack:
        _title("1. Sandbox")
        print(f"AWS (moto server)      {stack.aws.endpoint_url}")
        print(f"Slack Web API emulator {stack.slack.base_url}")
        stack.aws.set_root_key_present(True)

        root = sample("root_create_access_key")
        user = sample("iam_user_create_access_key")
        _title("2. Events put on the default bus")
        for label, record in (("root", root), ("IAM user", user)):
            who = record["userIdentity"]["type"]
            print(f"{label:9} {record['eventName']} by {who:8} eventID {record['eventID']}")
            stack.put_cloudtrail_event(record)

        delivered = stack.receive_routed()
        routed_ids = {event["detail"]["eventID"] for event in delivered}
        _title("3. Routed by the rule to the handler")
        for record in (root, user):
            routed = record["eventID"] in routed_ids
            print(f"{record['userIdentity']['type']:8} -> {'ROUTED' if routed else 'not routed'}")
        ok &= routed_ids == {root["eventID"]}

        with patched_environ(stack.interactivity_env()):
            handler._runtime = None  # a fresh "container" reading this environment
            for event in delivered:
                summary = _invoke(event)
                print("handler returned:", json.dumps(summary["results"]))

        _title("4. Finding in Security Hub")
        findings = stack.aws.findings()
        for finding in findings:
            _print_finding(finding)
        ok &= len(findings) == 1 and findings[0]["Compliance"]["Status"] == "FAILED"

        _title("5. Alert in Slack (as the emulator received it)")
        messages = stack.slack.top_level(SLACK_CHANNEL)
        for message in messages:
            _print_message(message.text or "", message.blocks or [])
        ok &= len(messages) == 1

        ok &= _triage_story(stack)
        ok &= _lifecycle_story(stack, root)

    _title("9. What CloudWatch would count (the handler's EMF metric lines)")
    print(", ".join(f"{name} {value:g}" for name, value in sorted(_METRICS.items())))

    _title("Result")
    print(
        "OK: one MEDIUM finding (Compliance FAILED) and one Slack alert; the IAM user's event "
        "was not routed; alice acknowledged it from Slack (Workflow NOTIFIED, with her note) and "
        "the thread showed a suppression made in Security Hub, with who made it; the key's "
        "deactivation and deletion are replies in the alert's thread and resolved the finding."
        if ok
        else "FAILED: see above"
    )
    return 0 if ok else 1


# Each invocation writes its metrics as one embedded-metric-format line on stdout, which Lambda
# sends to CloudWatch Logs; the demo adds them up instead of printing them.
_METRICS: Counter[str] = Counter()


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    """One handler invocation, its EMF line counted in ``_METRICS``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary: dict[str, Any] = handler.lambda_handler(event, None)
    for line in out.getvalue().splitlines():
        doc = json.loads(line)
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = doc[metric["Name"]]
            _METRICS[metric["Name"]] += sum(value) if isinstance(value, list) else value
    return summary


def _triage_story(stack: SandboxStack) -> bool:
    """Alice acknowledges from Slack; an analyst suppresses in Security Hub; the thread says so."""
    _title("6. Triage from the alert: alice clicks Acknowledge")
    (alert,) = stack.slack.top_level(SLACK_CHANNEL)
    with patched_environ(stack.interactivity_env()), FunctionUrl(interact.lambda_handler) as url:
        stack.slack.interactivity.request_url = url.url
        answer = stack.slack.click(ALICE, SLACK_CHANNEL, alert.ts, "triage_acknowledge")
        print(f"Slack -> {url.url} (signed, as Slack signs): HTTP {answer.status}")
        for result in stack.run_jobs(interact.lambda_handler):
            print(f"the job it started: {result}")
        (finding,) = stack.aws.findings()
        note = finding.get("Note") or {}
        print(f"finding: Workflow {finding['Workflow']['Status']}")
        print(f"  Note  {note.get('Text')} (UpdatedBy {note.get('UpdatedBy')})")
        acked = finding["Workflow"]["Status"] == "NOTIFIED" and "alice (U0ALICE)" in str(note)
        _print_thread(stack, alert.ts)

        _title("7. Meanwhile, in Security Hub: an analyst suppresses the finding")
        stack.receive_hub_changes(wait_s=0)  # the detector's own import and update: nothing new
        stack.aws.person_client("securityhub", "analyst").batch_update_findings(
            FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": finding["ProductArn"]}],
            Workflow={"Status": "SUPPRESSED"},
            Note={"Text": "accepted risk: break-glass account, key in the vault", "UpdatedBy": "x"},
        )
        for event in stack.receive_hub_changes():
            result = interact.lambda_handler(event, None)
            print(f"{event['detail-type']:34} -> {result['hub']}")
    replies = _print_thread(stack, alert.ts)
    shown = json.dumps(replies[-1].blocks) if replies else ""
    return acked and len(replies) == 2 and "analyst" in shown and "SUPPRESSED" in shown


def _print_thread(stack: SandboxStack, ts: str) -> list[Any]:
    replies = stack.slack.replies(SLACK_CHANNEL, ts)
    for reply in replies:
        texts = [b["text"]["text"] for b in reply.blocks or [] if b.get("type") == "section"]
        print("thread reply: " + " ".join(texts).replace("\n", " "))
    alert = stack.slack.message(SLACK_CHANNEL, ts)
    status = [
        b["elements"][0]["text"]
        for b in (alert.blocks if alert else None) or []
        if b.get("block_id") == "triage_status"
    ]
    buttons = [
        e["text"]["text"]
        for b in (alert.blocks if alert else None) or []
        if b.get("block_id") == "triage_buttons"
        for e in b["elements"]
    ]
    print(f"the alert's status line: {' '.join(status)}")
    print(f"the alert's buttons:     {', '.join(buttons)}")
    return replies


def _lifecycle_story(stack: SandboxStack, root: dict[str, Any]) -> bool:
    """Deactivate then delete the key: two thread replies, the finding resolved."""
    _title("8. The story goes on: root deactivates, then deletes the key")
    deactivate = _lifecycle(root, "UpdateAccessKey", 30, "Inactive")
    delete = _lifecycle(root, "DeleteAccessKey", 60)
    redelivered = 0
    with patched_environ(stack.interactivity_env()):
        for record, key_present in ((deactivate, True), (delete, False)):
            stack.aws.set_root_key_present(key_present)
            stack.put_cloudtrail_event(record)
            for event in stack.receive_routed():
                _invoke(event)
                # EventBridge delivers at least once: a second delivery changes nothing.
                again = _invoke(event)["results"][0]["status"]
                redelivered += again == "duplicate"
    (alert,) = stack.slack.top_level(SLACK_CHANNEL)
    replies = stack.slack.replies(SLACK_CHANNEL, alert.ts)[2:]  # after the two triage replies
    for reply in replies:
        print(f"thread reply: {reply.text}")
    print(f"top-level alert now reads: {alert.text}")
    print(f"redelivered events skipped: {redelivered} of 2")
    (finding,) = stack.aws.findings()
    print(
        f"finding: Compliance {finding['Compliance']['Status']}, "
        f"RecordState {finding['RecordState']} (resolved)"
    )
    return len(replies) == 2 and finding["RecordState"] == "ARCHIVED" and redelivered == 2


def _lifecycle(
    create: dict[str, Any], name: str, seconds: int, status: str | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(create))
    key = create["responseElements"]["accessKey"]["accessKeyId"]
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record.update(
        eventName=name,
        eventID=str(uuid.uuid4()),
        eventTime=(when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        requestParameters={"accessKeyId": key, **({"status": status} if status else {})},
        responseElements=None,
    )
    return record


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def _print_finding(f: dict[str, Any]) -> None:
    key = f["Resources"][0]
    print(f"Id            {f['Id']}")
    print(f"Title         {f['Title']}")
    print(f"Severity      {f['Severity']['Label']} (original: {f['Severity'].get('Original')})")
    print(f"Types         {', '.join(f['Types'])}")
    print(f"Compliance    {f['Compliance']['Status']}")
    for req in f["Compliance"].get("RelatedRequirements", []):
        print(f"  requirement {req}")
    print(f"RecordState   {f.get('RecordState')}")
    print(f"Resource      {key['Type']} {key['Id']}")
    print(f"Remediation   {f['Remediation']['Recommendation']['Url']}")
    print("Description   " + textwrap.fill(f["Description"], 90, subsequent_indent=" " * 14))


def _print_message(text: str, blocks: list[dict[str, Any]]) -> None:
    print(f"fallback text: {text}")
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            print(f"# {block['text']['text']}")
        elif kind == "section":
            if "text" in block:
                print(block["text"]["text"])
            for field in block.get("fields", []):
                print("  " + field["text"].replace("\n", ": ", 1))
        elif kind == "actions":
            for el in block.get("elements", []):
                print(f"  [{el['text']['text']}] -> {el.get('url', '')[:90]}")
        elif kind == "context":
            print("  " + " ".join(e.get("text", "") for e in block.get("elements", [])))


if __name__ == "__main__":
    sys.exit(main())
