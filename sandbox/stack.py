"""The whole embedded environment in one object: moto + Slack emulator + the routing rule.

Used by ``make demo`` and by the end-to-end tests, so both exercise the same path:
CloudTrail-shaped event -> EventBridge rule (the detector's own pattern) -> SQS -> handler.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.domain.hub_change import IMPORTED_PATTERN, UPDATED_PATTERN
from detector.pattern import ALL_MANAGEMENT_EVENTS, ROOT_ACCESS_PATTERN, event_pattern_json
from sandbox.aws import (
    ACCOUNT_ID,
    LEDGER_TABLE,
    REGION,
    SIGNING_SECRET_NAME,
    SLACK_CHANNEL,
    SLACK_SIGNING_SECRET,
    SLACK_TOKEN,
    TOKEN_SECRET_NAME,
    WEBHOOK_SECRET_NAME,
    MotoSandbox,
)
from sandbox.contracts import CONTRACTS
from sandbox.function_url import Handler, LambdaContext
from sandbox.slack_emulator import SlackEmulator
from sandbox.slack_interactions import TEAM_ID, SlackUser

SAMPLES = Path(__file__).parent / "samples"
RULE_NAME = "root-key-detector-root-access-keys"
ROOT_ACCESS_RULE_NAME = "root-key-detector-root-access"
QUEUE_NAME = "root-key-detector-delivery"
HUB_QUEUE_NAME = "root-key-detector-hub-changes"
# moto's pattern engine does not look into arrays of objects (``detail.findings[].Id``), which
# EventBridge does ("Arrays in Amazon EventBridge event patterns"): its copy of the imported rule
# leaves the Id prefix out, and the detector drops any finding not its own (domain/hub_change.py).
HUB_RULES = {
    "root-key-detector-findings-imported": {
        k: v for k, v in IMPORTED_PATTERN.items() if k != "detail"
    },
    "root-key-detector-findings-updated": UPDATED_PATTERN,
}
INTERACT_FUNCTION = "root-key-detector-interact"
# The sandbox workspace's people: Alice and Rita may triage, Bob may not.
ALICE = SlackUser("U0ALICE", "alice")
RITA = SlackUser("U0RITA", "rita")
BOB = SlackUser("U0BOB", "bob")


def sample(name: str, *, now: datetime | None = None) -> dict[str, Any]:
    """A sample CloudTrail record from sandbox/samples, its times moved to ``now``."""
    record: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    record["eventTime"] = stamp
    return record


def lambda_failure_record(
    event: dict[str, Any], error: str | None = None, *, exc: BaseException | None = None
) -> str:
    """What Lambda's on-failure destination writes to the dead-letter queue for ``event``.

    With ``exc`` (what the handler raised), the record carries the function's error response as
    Lambda's Python runtime reports an unhandled exception: ``errorMessage`` (its text),
    ``errorType`` and ``stackTrace`` (Lambda developer guide, "Capturing records of Lambda
    asynchronous invocations" and "Lambda function errors in Python").
    """
    record: dict[str, Any] = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": event,
        "responseContext": {"functionError": error} if error else {},
    }
    if exc is not None:
        record["responseContext"] = {"statusCode": 200, "functionError": error or "Unhandled"}
        record["responsePayload"] = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": "",
            "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
        }
    return json.dumps(record)


@dataclass
class SandboxStack:
    """Start with ``with SandboxStack() as stack:``; everything listens on 127.0.0.1."""

    aws: MotoSandbox = field(default_factory=MotoSandbox)
    slack: SlackEmulator = field(default_factory=lambda: SlackEmulator(tokens=[SLACK_TOKEN]))
    queue_url: str = ""
    hub_queue_url: str = ""
    _member_queues: dict[str, str] = field(default_factory=dict)  # route_root_access's

    def __enter__(self) -> SandboxStack:
        self.aws.start()
        self.slack.start()
        self.aws.seed(webhook_url=self.slack.webhook_url)
        self.slack.interactivity.signing_secret = SLACK_SIGNING_SECRET
        self._route_to_queue()
        return self

    def __exit__(self, *exc: object) -> None:
        self.slack.stop()
        self.aws.stop()

    def _route_to_queue(self) -> None:
        self._member_queues.clear()  # moto was reset (or just started): their queues are gone
        # moto's rules cannot invoke a Lambda: route to SQS and hand the delivery to the handler.
        sqs = self.aws.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = self.aws.client("events")
        events.put_rule(Name=RULE_NAME, EventPattern=event_pattern_json(), State="ENABLED")
        events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "detector", "Arn": arn}])
        # The changes made in Security Hub: the interaction function's two rules, to a queue.
        self.hub_queue_url = sqs.create_queue(QueueName=HUB_QUEUE_NAME)["QueueUrl"]
        hub_arn = sqs.get_queue_attributes(
            QueueUrl=self.hub_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for name, pattern in HUB_RULES.items():
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=name, Targets=[{"Id": "interact", "Arn": hub_arn}])

    def root_access_organization(self, member_name: str = "member") -> str:
        """An organization this account manages, with one member account (Security Hub on),
        centralized root access on, and both accounts' records routed as a stack with
        CentralizedRootAccess routes them; the member's id."""
        org = self.aws.client("organizations")
        org.create_organization(FeatureSet="ALL")
        email = f"{member_name}@example.com"
        created = org.create_account(AccountName=member_name, Email=email)
        member = str(created["CreateAccountStatus"]["AccountId"])
        self.aws.enable_security_hub(member)
        self.aws.enable_root_access(ACCOUNT_ID)
        self.route_root_access(ACCOUNT_ID, member)
        return member

    def route_root_access(self, *accounts: str) -> None:
        """Route each account's records as a stack with CentralizedRootAccess does: the key
        events' rule and the root access rule (it also receives read-only management events),
        to the detector's queue (:meth:`receive_routed`).

        In AWS a member account's rules forward to the detector's bus, whose rules deliver to the
        function; the sandbox makes that one hop (moto delivers to a queue of the rule's own
        account only, so each account gets a queue, and :meth:`receive_routed` reads them all).
        """
        for account in accounts or (ACCOUNT_ID,):
            sqs = self.aws.client("sqs", account_id=account)
            url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events = self.aws.client("events", account_id=account)
            rules = (
                (RULE_NAME, event_pattern_json(), "ENABLED"),
                (
                    ROOT_ACCESS_RULE_NAME,
                    event_pattern_json(ROOT_ACCESS_PATTERN),
                    ALL_MANAGEMENT_EVENTS,
                ),
            )
            for name, pattern, state in rules:
                events.put_rule(Name=name, EventPattern=pattern, State=state)
                events.put_targets(Rule=name, Targets=[{"Id": "detector", "Arn": arn}])
            if account != ACCOUNT_ID:
                self._member_queues[account] = url

    def detector_env(self, *, mode: str = "bot") -> dict[str, str]:
        """The environment a deployed Lambda would have, pointing at the sandbox."""
        env = {
            **self.aws.env(),
            "SLACK_MODE": mode,
            "SLACK_API_URL": self.slack.base_url,
            "SLACK_TOKEN_SECRET_ID": TOKEN_SECRET_NAME,
            "SLACK_CHANNEL_ID": SLACK_CHANNEL,
            "SLACK_WEBHOOK_SECRET_ID": WEBHOOK_SECRET_NAME,
            "LEDGER_TABLE": LEDGER_TABLE,
            "CONFIRM_WAIT_SECONDS": "2",
            "LOG_LEVEL": "WARNING",
        }
        return env

    def interactivity_env(self) -> dict[str, str]:
        """The detector's environment with triage from Slack on (Alice and Rita may act)."""
        return {
            **self.detector_env(),
            "SLACK_INTERACTIVITY": "true",
            "SLACK_SIGNING_SECRET_ID": SIGNING_SECRET_NAME,
            "SLACK_TEAM_ID": TEAM_ID,
            "SLACK_RESPONDERS": f"{ALICE.user_id},{RITA.user_id}",
        }

    def run_jobs(self, handler: Handler) -> list[dict[str, Any]]:
        """Hand every queued asynchronous invocation to ``handler`` (as Lambda would), until
        none is left; their results, in order."""
        results: list[dict[str, Any]] = []
        while taken := CONTRACTS.take_invocations():
            for function, payload in taken:
                results.append(handler(payload, LambdaContext(function.split(":")[-1])))
        return results

    def put_cloudtrail_event(self, record: dict[str, Any]) -> None:
        """Put a record on the default bus the way CloudTrail's EventBridge delivery shapes it."""
        resp = self.aws.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.iam",
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(record),
                }
            ]
        )
        if resp["FailedEntryCount"]:
            raise RuntimeError(f"put_events failed: {resp['Entries']}")

    def receive_hub_changes(self, wait_s: int = 1) -> list[dict[str, Any]]:
        """Every Security Hub event the interaction function's rules routed (deleted once read)."""
        return self.receive_routed(wait_s, queue_url=self.hub_queue_url)

    def receive_routed(
        self, wait_s: int = 1, *, queue_url: str | None = None
    ) -> list[dict[str, Any]]:
        """Every EventBridge event the rules delivered to the detector's queue (and to each
        account's of :meth:`route_root_access`), deleted once read."""
        if queue_url is None and self._member_queues:
            out = self._receive(wait_s, self.queue_url, ACCOUNT_ID)
            for account, url in self._member_queues.items():
                out.extend(self._receive(0, url, account))
            return out
        return self._receive(wait_s, queue_url or self.queue_url, ACCOUNT_ID)

    def _receive(self, wait_s: int, queue_url: str, account: str) -> list[dict[str, Any]]:
        sqs = self.aws.client("sqs", account_id=account)
        out: list[dict[str, Any]] = []
        while True:
            resp = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
            )
            messages = resp.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait_s = 0


__all__ = ["ACCOUNT_ID", "REGION", "SLACK_CHANNEL", "SandboxStack", "sample"]
