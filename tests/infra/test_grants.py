"""Grants equal calls: each role of the templates allows exactly what the code calls as it.

Both sides are derived, none is listed here:

- **what the templates grant**: every Allow action of the detector's Lambda role
  (``DetectorRole`` in infra/detector.yaml, with the policies its conditions create), of the
  interaction function's role (``InteractRole``, triage from Slack) and of the member role
  (``MemberRole`` in infra/member.yaml), read from the templates as CloudFormation
  would deploy them with each configuration's parameters (:class:`templates.Deployment`);
- **what the code calls**: the real entry points (the Lambda handler, the ``redrive`` and
  ``backfill`` commands) run against the sandbox through its fault layer, which notes every
  request that reaches the AWS endpoint (:class:`sandbox.aws_calls.CallLog`): the service from
  the SigV4 credential scope, the operation from the wire, and the caller from the access key:
  each Lambda's own credentials (its execution role), the member role's (keys the Lambda's
  ``AssumeRole`` received), or an operator's (the CLI).

Each Lambda runs with the environment the template gives it (``DetectorFunction``'s or
``InteractFunction``'s variables, resolved), so what it calls is what the deployed function would
call.

A test fails, naming each difference, when a role grants an action no path calls, or a path
calls an action its role lacks. Only what the Lambda *runtime* does with the function's role
(not the detector's code) is listed here, each with its reason (:func:`runtime_grants`).

**Extending**: a new path of the code is a function taking a :class:`World`, added to
``SCENARIOS`` below (with the configurations it applies to). The recording, the comparison and
the messages need no change.
"""

from __future__ import annotations

import copy
import gzip
import importlib.resources
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from detector import cli, handler, interact
from detector.errors import PipelineError
from detector.log import get_logger
from sandbox.aws import (
    ACCOUNT_ID,
    LEDGER_TABLE,
    REGION,
    SIGNING_SECRET_NAME,
    SLACK_CHANNEL,
    SLACK_SIGNING_SECRET,
    TOKEN_SECRET_NAME,
    WEBHOOK_SECRET_NAME,
    set_root_key_flag,
)
from sandbox.aws_calls import AwsCall, CallLog
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.function_url import LambdaContext as FunctionContext
from sandbox.function_url import url_event
from sandbox.slack_interactions import TEAM_ID, block_actions, form_body, signed_headers
from sandbox.stack import ALICE, SandboxStack, lambda_failure_record
from tests import factories
from tests.conftest import reset_stack
from tests.infra import templates

pytestmark = pytest.mark.integration

ORG_ID = "o-exampleorg1"
LAMBDA_KEY = "AKIALAMBDAEXECUTION1"  # the function's own credentials: its execution role
INTERACT_KEY = "AKIAINTERACTFUNCTION"  # the interaction function's: its own role
OPERATOR_KEY = "AKIAOPERATORSHELL001"  # whoever runs the command line (redrive, backfill)
MEMBER = "210987654321"
OTHER = "345678901234"
KEY = "AKIAZGRANTSTESTKEY01"
DETECTOR = templates.load(templates.DETECTOR_TEMPLATE)
MEMBER_TEMPLATE = templates.load(templates.MEMBER_TEMPLATE)
MEMBER_DEPLOYMENT = templates.Deployment(
    MEMBER_TEMPLATE,
    {
        "CentralEventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/central",
        "DetectorRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/detector",
    },
    account=MEMBER,
)

# Calls that need no permission: the STS API Reference, GetCallerIdentity: "No permissions are
# required to perform this operation."
NEEDS_NO_GRANT = {"sts:GetCallerIdentity"}

# What the command line needs beyond the Lambda's own grants (README, "Replaying the
# dead-letter queue" and "Command line"): it runs with an operator's credentials.
OPERATOR_OWN = {
    "sqs:ReceiveMessage": "redrive reads the dead-letter queue",
    "sqs:DeleteMessage": "redrive deletes each message it replayed",
    "s3:ListBucket": "backfill lists the trail archive's day folders (ListObjectsV2)",
    "s3:GetObject": "backfill reads the log files",
}


def runtime_grants(
    deployment: templates.Deployment, function: str = "DetectorFunction"
) -> dict[str, str]:
    """What the Lambda service does with the function's role, by action, with the reason.

    Derived from the function's configuration in the template (``function``, and the
    EventInvokeConfig naming it): logs always, X-Ray with active tracing, ``sqs:SendMessage``
    for a queue as on-failure destination or dead-letter queue.
    """
    fn = deployment.properties(function)
    own = {
        # "Defining Lambda function permissions with an execution role" / "Sending Lambda
        # function logs to CloudWatch Logs": Lambda writes the function's log streams with its
        # role (the group itself is the stack's LogGroup, so no logs:CreateLogGroup).
        "logs:CreateLogStream": "Lambda creates the function's log streams with its role",
        "logs:PutLogEvents": "Lambda sends the function's output to its log group",
    }
    if fn.get("TracingConfig", {}).get("Mode") == "Active":
        own["xray:PutTraceSegments"] = "active tracing: Lambda sends the trace with the role"
        own["xray:PutTelemetryRecords"] = "active tracing"
    queues = {fn.get("DeadLetterConfig", {}).get("TargetArn")}
    for lid, resource in deployment.template["Resources"].items():
        if (
            resource["Type"] == "AWS::Lambda::EventInvokeConfig"
            and resource["Properties"]["FunctionName"] == {"Ref": function}
            and deployment.exists(lid)
        ):
            config = deployment.properties(lid)
            queues.add(config["DestinationConfig"]["OnFailure"]["Destination"])
    if any(str(q).startswith("<") and "Queue" in str(q) for q in queues if q):
        # "Capturing records of Lambda asynchronous invocations": Lambda sends the invocation
        # record to an SQS destination with the function's execution role.
        own["sqs:SendMessage"] = "the asynchronous on-failure destination (the DLQ)"
    return own


# -- configurations: the template's parameters, and what the sandbox stands in for ----------


@dataclass(frozen=True)
class Config:
    """One way to deploy infra/detector.yaml."""

    name: str
    parameters: dict[str, str]

    @property
    def organization(self) -> bool:
        return bool(self.parameters.get("OrganizationId"))

    @property
    def slack(self) -> str:
        return self.parameters.get("SlackMode", "bot")

    def deployment(self) -> templates.Deployment:
        secret = WEBHOOK_SECRET_NAME if self.slack == "webhook" else TOKEN_SECRET_NAME
        return templates.Deployment(
            DETECTOR,
            {"CodeBucket": "artifacts", "CodeKey": "lambda.zip", **self.parameters},
            resources={
                "LedgerTable": LEDGER_TABLE,
                "SlackSecret": secret,
                "SigningSecret": SIGNING_SECRET_NAME,
            },
        )


# No waiting for IAM in the sandbox: a new key shows at once, and a finding may be resolved
# as soon as its key is gone.
_BASE = {"ConfirmWaitSeconds": "1", "KeySettleSeconds": "0"}
CONFIGS = (
    Config(
        "organization",  # every account of the organization, each one's own findings
        {**_BASE, "OrganizationId": ORG_ID, "SlackMode": "bot", "SlackChannelId": SLACK_CHANNEL},
    ),
    Config(
        "listed-accounts",  # SWEEP_ACCOUNTS; Slack by webhook
        {
            **_BASE,
            "OrganizationId": ORG_ID,
            "SlackMode": "webhook",
            "SweepAccounts": f"{MEMBER},{OTHER}",
        },
    ),
    Config(
        "organization-triage",  # triage from Slack: the interaction function and its jobs
        {
            **_BASE,
            "OrganizationId": ORG_ID,
            "SlackMode": "bot",
            "SlackChannelId": SLACK_CHANNEL,
            "SlackInteractivity": "true",
            "SlackTeamId": TEAM_ID,
            "SlackResponders": ALICE.user_id,
        },
    ),
    Config("one-account", {**_BASE, "SlackMode": "bot", "SlackChannelId": SLACK_CHANNEL}),
    Config("one-account-findings-only", {**_BASE, "SlackMode": "disabled"}),
)
# Centralized root access (CentralizedRootAccess, RootKeyRemoval): its calls come from the
# RootCredentials adapter, whose scenarios are not here yet, so these configurations are not in
# CONFIGS; test_root_access_adds_only_its_own_grants holds what they add to each role.
ROOT_ACCESS_CONFIGS = (
    Config(
        "organization-root-access",  # this account is the IAM delegated administrator
        {
            **CONFIGS[2].parameters,
            "CentralizedRootAccess": "true",
            "RootKeyRemoval": "true",
            "RootKeyRemovalDryRun": "false",
        },
    ),
    Config(
        "organization-root-access-roles",  # through root-access.yaml's two roles
        {
            **CONFIGS[2].parameters,
            "CentralizedRootAccess": "true",
            "RootAccessRoleArn": "arn:aws:iam::999988887777:role/root-key-detector-root-audit",
            "RootKeyRemoval": "true",
            "RootRemovalRoleArn": "arn:aws:iam::999988887777:role/root-key-detector-root-removal",
        },
    ),
)
ORGANIZATION = frozenset(c.name for c in CONFIGS if c.organization)
BOT = frozenset(c.name for c in CONFIGS if c.slack == "bot")
TRIAGE = frozenset(c.name for c in CONFIGS if c.parameters.get("SlackInteractivity") == "true")


# -- the world a scenario acts in --------------------------------------------------------------


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the handler reads."""

    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:root-key-detector"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class World:
    """The sandbox, one configuration's Lambda environment, and what scenarios need."""

    stack: SandboxStack
    config: Config
    endpoint: str
    monkeypatch: pytest.MonkeyPatch
    deployment: templates.Deployment = field(init=False)

    def __post_init__(self) -> None:
        self.deployment = self.config.deployment()

    def lambda_env(
        self, access_key: str = LAMBDA_KEY, function: str = "DetectorFunction"
    ) -> dict[str, str]:
        """The function's environment from the template, pointed at the sandbox."""
        variables = self.deployment.properties(function)["Environment"]["Variables"]
        return {
            **{k: str(v) for k, v in variables.items()},
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "SLACK_API_URL": self.stack.slack.base_url,  # the template takes https:// only
        }

    def container(
        self, access_key: str = LAMBDA_KEY, function: str = "DetectorFunction", **overrides: str
    ) -> None:
        """A fresh process environment (a cold Lambda container, or an operator's shell)."""
        template_vars = {
            name
            for fn in ("DetectorFunction", "InteractFunction")
            for name in DETECTOR["Resources"][fn]["Properties"]["Environment"]["Variables"]
        }
        for name in [
            n for n in os.environ if n.startswith(("AWS_", "SLACK_")) or n in template_vars
        ]:
            self.monkeypatch.delenv(name)
        for name, value in {**self.lambda_env(access_key, function), **overrides}.items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setattr(handler, "_runtime", None)

    def invoke(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The handler's results for ``event`` (it must succeed)."""
        results: list[dict[str, Any]] = handler.lambda_handler(event, LambdaContext())["results"]
        return results

    def invoke_failing(self, event: dict[str, Any]) -> None:
        """The handler fails on ``event`` (Lambda would retry it, then dead-letter it)."""
        with pytest.raises(PipelineError):
            handler.lambda_handler(event, LambdaContext())

    def sweep(self) -> dict[str, Any]:
        summary: dict[str, Any] = handler.lambda_handler({"detector": "sweep"}, LambdaContext())
        return summary

    def member_client(self, service: str, account: str) -> Any:
        """A client acting in ``account`` straight on moto (seeding: not recorded)."""
        import boto3  # noqa: PLC0415

        role = f"arn:aws:iam::{account}:role/{self.deployment.values['MemberRoleName']}"
        creds = self.stack.aws.client("sts").assume_role(RoleArn=role, RoleSessionName="seed")
        c = creds["Credentials"]
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=REGION,
            endpoint_url=self.stack.aws.endpoint_url,
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    def trail(self, account: str) -> None:
        """A logging trail in ``account`` (the sweep then reads its status and selectors)."""
        own = account == ACCOUNT_ID
        s3 = self.stack.aws.client("s3") if own else self.member_client("s3", account)
        trails = (
            self.stack.aws.client("cloudtrail")
            if own
            else self.member_client("cloudtrail", account)
        )
        bucket = f"trail-{account}"
        s3.create_bucket(Bucket=bucket)
        trails.create_trail(Name="management", S3BucketName=bucket)
        trails.start_logging(Name="management")

    def enable_security_hub(self, account: str) -> None:
        if account != ACCOUNT_ID:
            self.member_client("securityhub", account).enable_security_hub()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in(account: str, rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` as account ``account``'s root did it, now, with a fresh event id."""
    rec = copy.deepcopy(rec)
    rec.update(eventID=str(uuid.uuid4()), eventTime=_now(), recipientAccountId=account)
    rec["userIdentity"].update(
        accountId=account, principalId=account, arn=f"arn:aws:iam::{account}:root"
    )
    return rec


def _event(rec: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event carrying ``rec``, from the record's own account."""
    return factories.envelope(rec, id=str(uuid.uuid4()), account=rec["recipientAccountId"])


def _created(account: str, key: str = KEY) -> dict[str, Any]:
    return _in(account, factories.record(**{"responseElements.accessKey.accessKeyId": key}))


def _deleted(account: str, key: str = KEY) -> dict[str, Any]:
    return _in(account, factories.delete_record(key))


# -- the paths of the code ---------------------------------------------------------------------


def every_verdict(world: World) -> None:
    """A root key event of every verdict, in this account."""
    world.container()
    set_root_key_flag(True, ACCOUNT_ID)
    records = [
        _created(ACCOUNT_ID),
        _in(ACCOUNT_ID, factories.update_record("Inactive", KEY)),
        _in(ACCOUNT_ID, factories.update_record("Active", KEY)),
    ]
    results = [r for rec in records for r in world.invoke(_event(rec))]
    set_root_key_flag(False, ACCOUNT_ID)
    for rec in (
        _deleted(ACCOUNT_ID),
        _in(ACCOUNT_ID, factories.record(requestParameters={"userName": "deploy-bot"})),
        _in(
            ACCOUNT_ID,
            factories.record(
                errorCode="LimitExceededException",
                errorMessage="Cannot exceed quota for AccessKeysPerUser: 2",
                responseElements=None,
            ),
        ),
        _in(
            ACCOUNT_ID,
            factories.delete_record(KEY, errorCode="NoSuchEntityException", errorMessage="x"),
        ),
    ):
        results += world.invoke(_event(rec))
    assert [r["verdict"] for r in results] == [
        "root-key-created",
        "root-key-deactivated",
        "root-key-activated",
        "root-key-deleted",
        "root-created-user-key",
        "root-key-create-failed",
        "ignored",
    ]


def redelivered(world: World) -> None:
    """EventBridge (or Lambda's retry) delivers a handled event again."""
    world.container()
    set_root_key_flag(True, ACCOUNT_ID)
    event = _event(_created(ACCOUNT_ID))
    world.invoke(event)
    (again,) = world.invoke(event)
    assert again["status"] == "duplicate", again


def slack_refuses_then_retry(world: World) -> None:
    """Slack refuses the alert (the attempt fails); Lambda's retry posts it."""
    set_root_key_flag(True, ACCOUNT_ID)
    event = _event(_created(ACCOUNT_ID))
    world.container(SLACK_CHANNEL_ID="C0ARCHIVED1")  # unknown to Slack: channel_not_found
    world.invoke_failing(event)
    world.container()
    (result,) = world.invoke(event)
    assert "alerted" in result["actions"], result


def member_event(world: World) -> None:
    """A member account's root creates and deletes a key (through the member role)."""
    world.enable_security_hub(MEMBER)
    world.container()
    set_root_key_flag(True, MEMBER)
    (created,) = world.invoke(_event(_created(MEMBER)))
    set_root_key_flag(False, MEMBER)
    (deleted,) = world.invoke(_event(_deleted(MEMBER)))
    assert (created["confirmation"], deleted["confirmation"]) == ("PRESENT", "ABSENT")


def triage(world: World) -> None:
    """A responder acknowledges two alerts from Slack: this account's key and a member's (its
    finding updated through the member role); the jobs run as asynchronous invocations of the
    interaction function, with its own role and environment."""
    world.enable_security_hub(MEMBER)
    world.container()
    for account in (ACCOUNT_ID, MEMBER):
        set_root_key_flag(True, account)
        world.invoke(_event(_created(account)))
    world.container(INTERACT_KEY, "InteractFunction")
    context = FunctionContext("root-key-detector-interact")
    for alert in world.stack.slack.top_level(SLACK_CHANNEL):
        payload = interaction_for(world.stack, alert)
        body = form_body(payload)
        headers = signed_headers(SLACK_SIGNING_SECRET, body)
        answer = interact.lambda_handler(url_event("POST", "/", headers, body), context)
        assert answer["statusCode"] == 200, answer
    results = world.stack.run_jobs(interact.lambda_handler)
    assert results == [{"triage": "done"}] * 2, results


def hub_change(world: World) -> None:
    """Someone suppresses a finding in Security Hub; the interaction function shows it in the
    key's thread (the finding event says what changed, CloudTrail's record says who)."""
    world.container()
    set_root_key_flag(True, ACCOUNT_ID)
    world.invoke(_event(_created(ACCOUNT_ID)))
    world.stack.receive_hub_changes(wait_s=0)  # the alert's own import
    (finding,) = world.stack.aws.findings()
    world.stack.aws.person_client("securityhub", "analyst").batch_update_findings(
        FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": finding["ProductArn"]}],
        Workflow={"Status": "SUPPRESSED"},
        Note={"Text": "accepted risk", "UpdatedBy": "analyst"},
    )
    events = world.stack.receive_hub_changes(wait_s=0)
    world.container(INTERACT_KEY, "InteractFunction")
    context = FunctionContext("root-key-detector-interact")
    results = [interact.lambda_handler(e, context)["hub"] for e in events]
    assert ["done"] in results, results


def interaction_for(stack: SandboxStack, alert: Any) -> dict[str, Any]:
    """Alice's click on an alert's Acknowledge button."""
    (button,) = [
        e
        for b in alert.blocks or []
        for e in b.get("elements") or []
        if e.get("action_id") == "triage_acknowledge"
    ]
    return block_actions(
        ALICE,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id="triage_acknowledge",
        value=button["value"],
        response_url=f"{stack.slack.root_url}/actions/grants",
    )


def sweep(world: World) -> None:
    """The daily sweep: one account holds an unalerted key, one an open finding whose key is
    gone (every account of the organization, SWEEP_ACCOUNTS, or this account alone)."""
    if not world.config.organization:
        world.trail(ACCOUNT_ID)
        world.container()
        set_root_key_flag(True, ACCOUNT_ID)
        first = world.sweep()
        set_root_key_flag(False, ACCOUNT_ID)
        second = world.sweep()
        assert (first["counts"], second["counts"]) == ({"alerted": 1}, {"resolved": 1})
        return
    if world.config.parameters.get("SweepAccounts"):
        alerted, resolved = MEMBER, OTHER
    else:
        orgs = world.stack.aws.client("organizations")
        orgs.create_organization(FeatureSet="ALL")
        alerted, resolved = (
            orgs.create_account(Email=f"{name}@example.com", AccountName=name)[
                "CreateAccountStatus"
            ]["AccountId"]
            for name in ("alerted", "resolved")
        )
    for account in (alerted, resolved):
        world.enable_security_hub(account)
        world.trail(account)
    world.container()
    set_root_key_flag(True, resolved)  # alerted by an event, then deleted unseen
    world.invoke(_event(_created(resolved)))
    set_root_key_flag(False, resolved)
    set_root_key_flag(True, alerted)  # created before the detector existed
    set_root_key_flag(False, ACCOUNT_ID)
    counts = world.sweep()["counts"]
    assert counts.get("alerted") == 1, counts
    assert counts.get("resolved") == 1, counts


def redrive(world: World) -> None:
    """``redrive``: a failed event and a failed sweep wait in the dead-letter queue."""
    sqs = world.stack.aws.client("sqs")
    queue = sqs.create_queue(QueueName="root-key-detector-dlq")["QueueUrl"]
    set_root_key_flag(True, ACCOUNT_ID)
    sqs.send_message(
        QueueUrl=queue, MessageBody=lambda_failure_record(_event(_created(ACCOUNT_ID)))
    )
    sqs.send_message(QueueUrl=queue, MessageBody=lambda_failure_record({"detector": "sweep"}))
    world.container(OPERATOR_KEY)
    out = io.StringIO()
    assert cli.main(["redrive", "--queue-url", queue], out) == cli.EXIT_OK, out.getvalue()
    assert json.loads(out.getvalue().splitlines()[-1])["redrive"]["redriven"] == 2


def backfill(world: World) -> None:
    """``backfill --apply``: a root key event found in the trail's archive in S3."""
    s3 = world.stack.aws.client("s3")
    s3.create_bucket(Bucket="trail-archive")
    rec = _created(ACCOUNT_ID)
    day = datetime.now(UTC).date()
    key = (
        f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{REGION}/{day:%Y/%m/%d}/"
        f"{ACCOUNT_ID}_CloudTrail_{REGION}_{day:%Y%m%d}T0000Z_grants.json.gz"
    )
    body = gzip.compress(json.dumps(factories.log_file(rec)).encode())
    s3.put_object(Bucket="trail-archive", Key=key, Body=body)
    set_root_key_flag(True, ACCOUNT_ID)
    world.container(OPERATOR_KEY)
    out = io.StringIO()
    argv = ["backfill", "--bucket", "trail-archive", "--since", f"{day}", "--apply"]
    assert cli.main(argv, out) == cli.EXIT_OK, out.getvalue()
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert "finding-imported" in line["actions"], line


@dataclass(frozen=True)
class Scenario:
    """A path of the code, and the configurations it applies to (None: every one)."""

    name: str
    run: Callable[[World], None]
    configs: frozenset[str] | None = None


# Every path whose calls the grants must cover. Add new paths here.
SCENARIOS = (
    Scenario("root key events of every verdict", every_verdict),
    Scenario("an event delivered twice", redelivered),
    Scenario("Slack refuses an alert, the retry posts it", slack_refuses_then_retry, BOT),
    Scenario("a member account's root key", member_event, ORGANIZATION),
    Scenario("the daily sweep", sweep),
    Scenario("triage from Slack", triage, TRIAGE),
    Scenario("a change made in Security Hub", hub_change, TRIAGE),
    # The command line runs with an operator's credentials. In one account only: in an
    # organization its member-account steps need the member role, which trusts the
    # detector's role alone (README, "Replaying the dead-letter queue").
    Scenario("redrive", redrive, frozenset({"one-account"})),
    Scenario("backfill --apply", backfill, frozenset({"one-account"})),
)


# -- recording -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    config: str
    scenario: str
    call: AwsCall


@pytest.fixture(scope="module")
def recorded(stack: SandboxStack) -> Iterator[list[Recorded]]:
    """Every AWS call of every scenario in every configuration."""
    found: list[Recorded] = []
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            for config in CONFIGS:
                log = CallLog()
                with AwsFaultProxy(record=log) as proxy:
                    for scenario in SCENARIOS:
                        if scenario.configs is not None and config.name not in scenario.configs:
                            continue
                        reset_stack(stack)
                        log.clear()
                        world = World(stack, config, proxy.endpoint_url, monkeypatch)
                        try:
                            scenario.run(world)
                        except BaseException as exc:
                            exc.add_note(f"scenario {scenario.name!r} in {config.name!r}")
                            raise
                        found += [Recorded(config.name, scenario.name, c) for c in log.calls()]
        yield found
    finally:
        reset_stack(stack)
        for h in list(get_logger().handlers):
            get_logger().removeHandler(h)


def _principal(call: AwsCall) -> str:
    """Which role of the templates (or who else) made a call."""
    member_role = MEMBER_DEPLOYMENT.properties("MemberRole")["RoleName"]
    if call.role_arn is not None:
        return "MemberRole" if call.role_name == member_role else f"role {call.role_arn}"
    return {LAMBDA_KEY: "DetectorRole", INTERACT_KEY: "InteractRole", OPERATOR_KEY: "operator"}.get(
        call.access_key_id, f"access key {call.access_key_id}"
    )


def _needed(
    calls: list[Recorded], principal: str, config: str | None = None
) -> dict[str, set[str]]:
    """Action -> the scenarios that called it, as ``principal`` (in ``config``)."""
    out: dict[str, set[str]] = {}
    for r in calls:
        if _principal(r.call) != principal or (config is not None and r.config != config):
            continue
        if r.call.action not in NEEDS_NO_GRANT:
            out.setdefault(r.call.action, set()).add(f"{r.scenario} [{r.config}]")
    return out


def _granted(deployment: templates.Deployment, role: str) -> dict[str, str]:
    """Action -> the policy granting it, for ``role``."""
    return {g.action: g.policy for g in templates.grants(deployment) if g.role == role}


@cache
def _iam_actions() -> dict[str, set[str]]:
    """IAM's actions by service prefix, lower case: cfn-lint's copy of the Service Authorization
    Reference (cfn-lint is a dependency of moto's CloudFormation)."""
    text = (
        importlib.resources.files("cfnlint.data.AdditionalSpecs")
        .joinpath("Policies.json")
        .read_text()
    )
    return {prefix: set(service["Actions"]) for prefix, service in json.loads(text).items()}


# -- the comparisons ---------------------------------------------------------------------------


def test_every_call_is_recognised_and_is_an_iam_action(recorded: list[Recorded]) -> None:
    assert recorded
    unknown = sorted(
        {f"{r.call.service}: {r.scenario}" for r in recorded if r.call.operation == "?"}
    )
    assert unknown == [], "requests whose operation the recorder could not tell"
    actions = _iam_actions()
    not_actions = sorted(
        {
            r.call.action
            for r in recorded
            if r.call.action.split(":")[1].lower() not in actions.get(r.call.service, set())
        }
    )
    assert not_actions == [], (
        "not IAM actions: add the operation's action to sandbox.aws_calls.IAM_ACTION_OF"
    )


def test_every_call_comes_from_a_role_of_the_templates_or_the_operator(
    recorded: list[Recorded],
) -> None:
    strangers = sorted(
        {
            f"{_principal(r.call)} called {r.call.action} in {r.scenario} [{r.config}]"
            for r in recorded
            if _principal(r.call) not in {"DetectorRole", "InteractRole", "MemberRole", "operator"}
        }
    )
    assert strangers == []
    # The Lambda assumes the member role by the name both templates give it.
    env = CONFIGS[0].deployment().properties("DetectorFunction")["Environment"]["Variables"]
    assert env["MEMBER_ROLE_NAME"] == MEMBER_DEPLOYMENT.properties("MemberRole")["RoleName"]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_the_lambda_role_grants_every_call_it_makes(
    recorded: list[Recorded], config: Config
) -> None:
    deployment = config.deployment()
    granted = _granted(deployment, "DetectorRole")
    needed = _needed(recorded, "DetectorRole", config.name)
    assert needed, "no scenario ran as the Lambda"
    runtime = runtime_grants(deployment)
    lacking = [
        f"DetectorRole lacks {action}, which {', '.join(sorted(where))} calls"
        for action, where in sorted(needed.items())
        if action not in granted
    ] + [
        f"DetectorRole lacks {action}, which the Lambda runtime needs: {why}"
        for action, why in sorted(runtime.items())
        if action not in granted
    ]
    assert lacking == [], "\n".join(lacking)


def test_the_lambda_role_grants_nothing_no_path_calls(recorded: list[Recorded]) -> None:
    # A grant is used if, in some configuration that creates it, a path calls it (or the
    # Lambda runtime needs it).
    used_somewhere: dict[tuple[str, str], bool] = {}
    for config in CONFIGS:
        deployment = config.deployment()
        used = set(_needed(recorded, "DetectorRole", config.name)) | set(runtime_grants(deployment))
        for action, policy in _granted(deployment, "DetectorRole").items():
            key = (policy, action)
            used_somewhere[key] = used_somewhere.get(key, False) or action in used
    unused = [
        f"{policy} grants {action}, which no path calls in any configuration that creates it"
        for (policy, action), used in sorted(used_somewhere.items())
        if not used
    ]
    assert unused == [], "\n".join(unused)


@pytest.mark.parametrize("config", sorted(TRIAGE))
def test_the_interaction_role_grants_exactly_the_calls_the_function_makes(
    recorded: list[Recorded], config: str
) -> None:
    deployment = next(c for c in CONFIGS if c.name == config).deployment()
    # The scenarios call as the interaction function with INTERACT_KEY: the template's role.
    assert deployment.properties("InteractFunction")["Role"] == "<InteractRole.Arn>"
    assert deployment.properties("DetectorFunction")["Role"] == "<DetectorRole.Arn>"
    granted = _granted(deployment, "InteractRole")
    needed = _needed(recorded, "InteractRole", config)
    assert needed, "no scenario ran as the interaction function"
    runtime = runtime_grants(deployment, "InteractFunction")
    problems = (
        [
            f"InteractRole lacks {action}, which {', '.join(sorted(where))} calls"
            for action, where in sorted(needed.items())
            if action not in granted
        ]
        + [
            f"InteractRole lacks {action}, which the Lambda runtime needs: {why}"
            for action, why in sorted(runtime.items())
            if action not in granted
        ]
        + [
            f"{granted[action]} grants {action}, which the interaction function never calls"
            for action in sorted(granted)
            if action not in needed and action not in runtime
        ]
    )
    assert problems == [], "\n".join(problems)


def test_no_role_but_the_interaction_functions_starts_a_triage_job(
    recorded: list[Recorded],
) -> None:
    # The function submits its own jobs (an asynchronous invocation of itself); the detector's
    # role cannot invoke it (security review, issue 16, #3).
    invokers = {_principal(r.call) for r in recorded if r.call.action == "lambda:InvokeFunction"}
    assert invokers == {"InteractRole"}
    for config in CONFIGS:
        assert "lambda:InvokeFunction" not in _granted(config.deployment(), "DetectorRole")


def test_the_member_role_grants_exactly_the_calls_made_through_it(
    recorded: list[Recorded],
) -> None:
    granted = _granted(MEMBER_DEPLOYMENT, "MemberRole")
    needed = _needed(recorded, "MemberRole")
    assert needed, "no scenario acted in a member account"
    problems = [
        f"MemberRole lacks {action}, which {', '.join(sorted(where))} calls"
        for action, where in sorted(needed.items())
        if action not in granted
    ] + [
        f"MemberRole grants {action}, which no path calls"
        for action in sorted(granted)
        if action not in needed
    ]
    assert problems == [], "\n".join(problems)


def test_the_command_line_needs_the_lambdas_grants_and_the_documented_ones(
    recorded: list[Recorded],
) -> None:
    operator = _needed(recorded, "operator")
    granted = _granted(
        next(c for c in CONFIGS if c.name == "one-account").deployment(), "DetectorRole"
    )
    beyond = {action for action in operator if action not in granted}
    assert beyond == set(OPERATOR_OWN), (
        "the command line's calls beyond the Lambda's grants changed: "
        f"{sorted(beyond ^ set(OPERATOR_OWN))} (update OPERATOR_OWN and the README)"
    )
    readme = (templates.INFRA.parent / "README.md").read_text()
    assert all(f"`{action}`" in readme for action in OPERATOR_OWN), "README names each one"


def test_the_runtimes_own_grants_follow_the_functions_configuration() -> None:
    deployment = CONFIGS[0].deployment()
    fn = deployment.properties("DetectorFunction")
    assert "TracingConfig" not in fn  # no X-Ray: nothing to grant for it
    assert set(runtime_grants(deployment)) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }


@pytest.mark.parametrize("config", ROOT_ACCESS_CONFIGS, ids=[c.name for c in ROOT_ACCESS_CONFIGS])
def test_root_access_adds_only_its_own_grants(config: Config) -> None:
    # The same deployment without centralized root access grants every other action the same
    # way: what the feature adds is one call per role, for that role's task only.
    without = CONFIGS[2]
    assert {k: v for k, v in config.parameters.items() if k not in without.parameters} == {
        k: v for k, v in config.parameters.items() if "Root" in k
    }
    through_roles = "RootAccessRoleArn" in config.parameters
    expected = {
        "DetectorRole": "sts:AssumeRole" if through_roles else "sts:AssumeRoot",
        "InteractRole": "sts:AssumeRole" if through_roles else "sts:AssumeRoot",
    }
    for role, action in expected.items():
        before = {
            (g.action, json.dumps(g.statement, sort_keys=True)) for g in _grants_of(without, role)
        }
        after = {
            (g.action, json.dumps(g.statement, sort_keys=True)) for g in _grants_of(config, role)
        }
        assert before <= after, role
        added = after - before
        if role == "DetectorRole":  # it runs the root access function too: that one's log group
            logs = {
                (g.action, json.dumps(g.statement, sort_keys=True))
                for g in _grants_of(config, role)
                if g.policy == "RootAccessLogsPolicy"
            }
            assert {action for action, _ in logs} == {"logs:CreateLogStream", "logs:PutLogEvents"}
            added -= logs
        (added,) = added
        assert added[0] == action, role
    member = templates.grants(MEMBER_DEPLOYMENT)
    assert not {g.action for g in member} & {"sts:AssumeRoot", "sts:AssumeRole"}


def _grants_of(config: Config, role: str) -> list[templates.Grant]:
    return [g for g in templates.grants(config.deployment()) if g.role == role]
