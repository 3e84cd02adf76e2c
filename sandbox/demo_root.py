"""``make demo-root``: centralized root access on the embedded sandbox, printed for a person.

1. an organization (the detector's account manages it) with one member account whose root user
   holds two access keys nobody alerted on; centralized root access on;
2. the daily sweep lists the member root's keys in an audit root session (sts:AssumeRoot):
   each key its own finding and alert, by its id;
3. the root user signs a call with one key: a reply in that key's thread;
4. a colleague opens a root session with the delete task policy and deletes the other key: the
   key's thread says who opened the session, for which task;
5. alice asks to remove the first key from its alert, rita confirms: the detector deletes it in
   a delete root session, IAM no longer lists it, the finding is resolved with who and when.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from detector import handler, interact
from detector.config import Settings
from detector.domain.finding import finding_id
from detector.domain.root_access import DELETE_TASK_POLICY
from detector.wiring import build_runtime
from sandbox.aws import ACCOUNT_ID, REGION, patched_environ
from sandbox.function_url import FunctionUrl
from sandbox.slack_emulator import StoredMessage
from sandbox.stack import ALICE, RITA, SLACK_CHANNEL, SandboxStack

MEMBER_ROLE = "root-key-detector-member"


def main() -> int:
    """Run the demo; exit 0 only if every step showed what it should."""
    with SandboxStack() as stack:
        member = _organization(stack)
        env = {
            **stack.interactivity_env(),
            "MEMBER_ROLE_NAME": MEMBER_ROLE,
            "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
            "CENTRALIZED_ROOT_ACCESS": "true",
            "ROOT_KEY_REMOVAL": "true",
            "ROOT_KEY_REMOVAL_DRY_RUN": "false",
            "LOG_LEVEL": "ERROR",  # the story, not the detector's JSON log lines
        }
        with patched_environ(env), FunctionUrl(interact.lambda_handler) as url:
            stack.slack.interactivity.request_url = url.url
            handler._runtime = None  # a fresh "container" reading this environment
            ok = _stories(stack, env, member)
    _title("Result")
    print(
        "OK: the sweep found the member root's keys by id; a use of one was a reply in its "
        "thread; a colleague's root session was labelled with who opened it and the task; "
        "alice asked and rita confirmed the removal, the key is gone and its finding resolved."
        if ok
        else "FAILED: see above"
    )
    return 0 if ok else 1


def _organization(stack: SandboxStack) -> str:
    _title("1. An organization with centralized root access")
    member = stack.root_access_organization("payments-prod")
    print(f"management account (the detector's) {ACCOUNT_ID}")
    print(f"member account                      {member}")
    for days in (400, 30):
        key = stack.aws.add_root_key(member, created=datetime.now(UTC) - timedelta(days=days))
        print(f"the member's root holds {key} (created {days} days ago; nobody alerted)")
    return member


def _stories(stack: SandboxStack, env: dict[str, str], member: str) -> bool:
    first, second = (k.key_id for k in stack.aws.root_keys(member))
    ok = _sweep(stack, env, member, (first, second))
    ok &= _use(stack, member, first)
    ok &= _colleague(stack, member, second)
    ok &= _removal(stack, member, first)
    return ok


def _sweep(stack: SandboxStack, env: dict[str, str], member: str, keys: tuple[str, ...]) -> bool:
    _title("2. The daily sweep lists the member root's keys (an audit root session)")
    summary = build_runtime(Settings.from_env(env)).sweep()
    print(f"sweep: {json.dumps(summary.as_dict()['counts'])}")
    _deliver(stack)  # the sweep's own AssumeRoot records: sessions, not alerts
    for finding in stack.aws.findings(member):
        resource = next(r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey")
        print(f"finding {finding['Id']}")
        print(f"  key {resource['Id']}, Compliance {finding['Compliance']['Status']}")
    alerts = _alerts(stack)
    for alert in alerts:
        print(f"alert: {alert.text}")
    wanted = {finding_id(member, k) for k in keys}
    return {f["Id"] for f in stack.aws.findings(member)} == wanted and len(alerts) == 2


def _use(stack: SandboxStack, member: str, key: str) -> bool:
    _title(f"3. The member's root signs a call with {key}")
    stack.aws.set_clock(datetime.now(UTC) + timedelta(seconds=2))  # after the sweep's import
    stack.aws.use_root_key(member, key, event_name="RunInstances")
    for result in _deliver(stack):
        print(f"handler: {json.dumps(result['results'])}")
    replies = _thread(stack, _alert_of(stack, key))
    return len(replies) == 1 and "RunInstances" in replies[0]


def _colleague(stack: SandboxStack, member: str, key: str) -> bool:
    _title(f"4. A colleague opens a root session and deletes {key}")
    sts = stack.aws.person_client("sts", "bob")
    session = sts.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": DELETE_TASK_POLICY})
    creds = session["Credentials"]
    print(f"bob: AssumeRoot {member} {DELETE_TASK_POLICY.rsplit('/', 1)[-1]} -> session key ID")
    iam = _session_client(stack, creds)
    iam.delete_access_key(AccessKeyId=key)
    print(f"bob: DeleteAccessKey {key} with the session's credentials")
    for result in _deliver(stack):
        print(f"handler: {json.dumps(result['results'])}")
    replies = _thread(stack, _alert_of(stack, key))
    return bool(replies) and "bob" in replies[-1] and "IAMDeleteRootUserCredentials" in replies[-1]


def _removal(stack: SandboxStack, member: str, key: str) -> bool:
    _title(f"5. alice asks to remove {key}, rita confirms")
    alert = _alert_of(stack, key)
    for user, action in ((ALICE, "root_remove_key"), (RITA, "root_confirm_removal")):
        answer = stack.slack.click(user, SLACK_CHANNEL, alert.ts, action)
        print(f"{user.name} clicks {action}: HTTP {answer.status}")
        for result in stack.run_jobs(interact.lambda_handler):
            print(f"  the job: {result}")
    _deliver(stack)  # the removal's own DeleteAccessKey record, labelled with its session
    replies = _thread(stack, alert)
    remaining = [k.key_id for k in stack.aws.root_keys(member)]
    print(f"IAM lists the member root's keys: {remaining or 'none'}")
    finding = next(f for f in stack.aws.findings(member) if f["Id"] == finding_id(member, key))
    note = (finding.get("Note") or {}).get("Text", "")
    print(f"finding: Workflow {finding['Workflow']['Status']}; Note {note}")
    said = " ".join(replies)
    return (
        key not in remaining
        and finding["Workflow"]["Status"] == "RESOLVED"
        and "alice" in said
        and "rita" in said
    )


def _deliver(stack: SandboxStack) -> list[dict[str, Any]]:
    return [handler.lambda_handler(event, None) for event in stack.receive_routed()]


def _alerts(stack: SandboxStack) -> list[StoredMessage]:
    digest = "Root access key sweep:"
    return [
        m for m in stack.slack.top_level(SLACK_CHANNEL) if not (m.text or "").startswith(digest)
    ]


def _alert_of(stack: SandboxStack, key: str) -> StoredMessage:
    return next(m for m in _alerts(stack) if key[-4:] in json.dumps(m.blocks))


def _thread(stack: SandboxStack, alert: StoredMessage) -> list[str]:
    replies = stack.slack.replies(SLACK_CHANNEL, alert.ts)
    texts = []
    for reply in replies:
        shown = " ".join(
            b["text"]["text"] for b in reply.blocks or [] if "text" in b and b["type"] == "section"
        )
        texts.append(shown or reply.text or "")
        print("thread reply: " + texts[-1].replace("\n", " "))
    return texts


def _session_client(stack: SandboxStack, creds: dict[str, Any]) -> Any:
    return boto3.client(
        "iam",
        region_name=REGION,
        endpoint_url=stack.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _title(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


if __name__ == "__main__":
    sys.exit(main())
