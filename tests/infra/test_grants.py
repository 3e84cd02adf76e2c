"""Grants equal calls: each role of the templates allows exactly what the code calls as it.

Both sides are derived, none is listed here:

- **what the templates grant**: every Allow action of the detector's Lambda role
  (``DetectorRole`` in infra/detector.yaml, with the policies its conditions create), of the
  interaction function's role (``InteractRole``, triage from Slack), of the member role
  (``MemberRole`` in infra/member.yaml) and of infra/root-access.yaml's two roles (``AuditRole``,
  ``RemovalRole``), read from the templates as CloudFormation would deploy them with each
  configuration's parameters (:class:`templates.Deployment`);
- **what the code calls**: the real entry points (the Lambda handler, the ``redrive`` and
  ``backfill`` commands) run against the sandbox through its fault layer, which notes every
  request that reaches the AWS endpoint (:class:`sandbox.aws_calls.CallLog`): the service from
  the SigV4 credential scope, the operation from the wire, and the caller from the access key:
  each Lambda's own credentials (its execution role), the member role's or a root-access.yaml
  role's (keys an ``AssumeRole`` received), a root session's (keys ``AssumeRoot`` received,
  named by the task policy that limits them), or an operator's (the CLI).

Centralized root access has scenarios and configurations of its own (``ROOT_SCENARIOS``,
``ROOT_ACCESS_CONFIGS``): there a root session's calls must be ones its task policy allows, and
each ``sts:AssumeRoot`` call's ``TaskPolicyArn`` must be the one the caller's grant names in its
``sts:TaskPolicyArn`` condition (moto applies no IAM condition, so the test compares them).

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
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from detector import cli, handler, interact
from detector.domain.finding import finding_id
from detector.domain.removal import RemovalAction
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
from sandbox.root_access import AUDIT_TASK_POLICY, DELETE_TASK_POLICY, TASK_POLICIES
from sandbox.slack_interactions import (
    TEAM_ID,
    SlackUser,
    block_actions,
    form_body,
    signed_headers,
)
from sandbox.stack import ALICE, RITA, SandboxStack, lambda_failure_record
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
# Centralized root access (CentralizedRootAccess, RootKeyRemoval): its own scenarios
# (ROOT_SCENARIOS) run in these configurations only; what they add to each role is one action
# (test_root_access_adds_only_its_own_grants), so a role's grants here must equal its calls in
# these scenarios together with its calls in CONFIGS[2] (the same stack without root access).
# Two responders may act: removal needs one to ask and another to confirm.
DELEGATED_ADMIN = "999988887777"  # the IAM delegated administrator, where root-access.yaml is
_ROOT_BASE = {**CONFIGS[2].parameters, "SlackResponders": f"{ALICE.user_id},{RITA.user_id}"}
ROOT_ACCESS_CONFIGS = (
    Config(
        "organization-root-access",  # this account (the management account) calls AssumeRoot
        {
            **_ROOT_BASE,
            "CentralizedRootAccess": "true",
            "RootKeyRemoval": "true",
            "RootKeyRemovalDryRun": "false",
        },
    ),
    Config(
        "organization-root-access-roles",  # through root-access.yaml's two roles
        {
            **_ROOT_BASE,
            "CentralizedRootAccess": "true",
            "RootAccessRoleArn": (
                f"arn:aws:iam::{DELEGATED_ADMIN}:role/root-key-detector-root-audit"
            ),
            "RootKeyRemoval": "true",
            "RootKeyRemovalDryRun": "false",
            "RootRemovalRoleArn": (
                f"arn:aws:iam::{DELEGATED_ADMIN}:role/root-key-detector-root-removal"
            ),
        },
    ),
    Config(
        "organization-root-access-dry-run",  # removal on, in dry run (the parameter's default)
        {**_ROOT_BASE, "CentralizedRootAccess": "true", "RootKeyRemoval": "true"},
    ),
)
ROOT_ITSELF, ROOT_ROLES, ROOT_DRY_RUN = (c.name for c in ROOT_ACCESS_CONFIGS)
# root-access.yaml as deployed for the "-roles" configuration: trusted by the central stack's
# two roles (named here by ARN; the principal that assumed each is checked against its trust).
DETECTOR_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/root-key-detector-DetectorRole"
INTERACT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/root-key-detector-InteractRole"
ROOT_ACCESS_DEPLOYMENT = templates.Deployment(
    templates.load(templates.ROOT_ACCESS_TEMPLATE),
    {"DetectorRoleArn": DETECTOR_ROLE_ARN, "InteractRoleArn": INTERACT_ROLE_ARN},
    account=DELEGATED_ADMIN,
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


# -- centralized root access -------------------------------------------------------------------


def root_organization(world: World) -> str:
    """An organization whose management account is this one, one member account (Security Hub
    on, a trail), and centralized root access on; the member's id. With RootAccessRoleArn the
    IAM delegated administrator holds root-access.yaml's two roles and calls AssumeRoot."""
    orgs = world.stack.aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    member = str(
        orgs.create_account(Email="member@example.com", AccountName="member")[
            "CreateAccountStatus"
        ]["AccountId"]
    )
    world.enable_security_hub(member)
    world.trail(member)
    through_roles = bool(world.config.parameters.get("RootAccessRoleArn"))
    world.stack.aws.enable_root_access(ACCOUNT_ID, DELEGATED_ADMIN if through_roles else None)
    if through_roles:
        iam = world.stack.aws.client("iam", account_id=DELEGATED_ADMIN)
        for lid in ("AuditRole", "RemovalRole"):
            props = ROOT_ACCESS_DEPLOYMENT.properties(lid)
            iam.create_role(
                RoleName=props["RoleName"],
                AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            )
    return member


def _alerted_root_key(world: World, member: str) -> str:
    """A root key of ``member`` that an event alerted on (the detector's own container)."""
    key = world.stack.aws.add_root_key(member)
    world.container()
    (result,) = world.invoke(_event(_created(member, key)))
    assert "alerted" in result["actions"], result
    return key


def root_sweep_and_key_use(world: World) -> None:
    """The daily sweep lists the member root's key by its id in an audit root session; then a
    call signed with that key is a reply in the key's thread (the finding notes the last use)."""
    member = root_organization(world)
    world.trail(ACCOUNT_ID)  # the management account's root is asked as before (no session)
    key = world.stack.aws.add_root_key(member)
    world.container()
    counts = world.sweep()["counts"]
    assert counts.get("alerted") == 1, counts
    assert [f["Id"] for f in world.stack.aws.findings(member)] == [finding_id(member, key)]
    # CloudTrail's times are whole seconds: the use comes after the sweep's import.
    world.stack.aws.set_clock(datetime.now(UTC) + timedelta(seconds=2))
    try:
        world.stack.route_root_access(member)
        world.stack.aws.use_root_key(member, key, event_name="RunInstances")
        results = [r for e in world.stack.receive_routed(0) for r in world.invoke(e)]
    finally:
        world.stack.aws.set_clock(None)
    assert any(r.get("key_use") for r in results), results
    (alert,) = [
        m for m in world.stack.slack.top_level(SLACK_CHANNEL) if key[-4:] in json.dumps(m.blocks)
    ]
    assert len(world.stack.slack.replies(SLACK_CHANNEL, alert.ts)) == 1


def root_session_record(world: World) -> None:
    """A colleague opens a root session (AssumeRoot, delete task) and deletes the alerted key:
    the member's Root record, then the caller's AssumeRoot record, label the key's thread with
    who opened the session and its task."""
    member = root_organization(world)
    key = _alerted_root_key(world, member)
    world.stack.route_root_access(ACCOUNT_ID, member)
    # Bob acts on the sandbox directly (his calls are not the detector's).
    sts = world.stack.aws.person_client("sts", "bob")
    creds = sts.assume_root(TargetPrincipal=member, TaskPolicyArn={"arn": DELETE_TASK_POLICY})[
        "Credentials"
    ]
    import boto3  # noqa: PLC0415

    boto3.client(
        "iam",
        region_name=REGION,
        endpoint_url=world.stack.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).delete_access_key(AccessKeyId=key)
    events = world.stack.receive_routed(0)
    events.sort(key=lambda e: e["detail"]["eventName"] == "AssumeRoot")  # the member's first
    assert [e["detail"]["eventName"] for e in events][-1] == "AssumeRoot", events
    for event in events:
        world.invoke(event)
    (alert,) = world.stack.slack.top_level(SLACK_CHANNEL)
    said = json.dumps([r.blocks for r in world.stack.slack.replies(SLACK_CHANNEL, alert.ts)])
    assert "bob" in said, said
    assert "IAMDeleteRootUserCredentials" in said, said


def _click(world: World, user: SlackUser, action: RemovalAction) -> None:
    """``user`` clicks ``action`` on the alert (the interaction function's own container), and
    the job it starts runs."""
    (alert,) = world.stack.slack.top_level(SLACK_CHANNEL)
    (button,) = [
        e
        for b in alert.blocks or []
        for e in b.get("elements") or []
        if e.get("action_id") == action.value
    ]
    payload = block_actions(
        user,
        channel=SLACK_CHANNEL,
        message_ts=alert.ts,
        action_id=action.value,
        value=button["value"],
        response_url=f"{world.stack.slack.root_url}/actions/grants",
    )
    body = form_body(payload)
    world.container(INTERACT_KEY, "InteractFunction")
    context = FunctionContext("root-key-detector-interact")
    answer = interact.lambda_handler(
        url_event("POST", "/", signed_headers(SLACK_SIGNING_SECRET, body), body), context
    )
    assert answer["statusCode"] == 200, answer


def root_removal(world: World) -> None:
    """Alice asks to remove the alerted key, Rita confirms: a delete root session deletes it
    (RootKeyRemovalDryRun false), or only says which calls it would make (dry run)."""
    member = root_organization(world)
    key = _alerted_root_key(world, member)
    _click(world, ALICE, RemovalAction.REMOVE)
    assert world.stack.run_jobs(interact.lambda_handler) == [{"triage": "requested"}]
    _click(world, RITA, RemovalAction.CONFIRM)
    dry_run = world.config.parameters.get("RootKeyRemovalDryRun", "true") == "true"
    results = world.stack.run_jobs(interact.lambda_handler)
    assert results == [{"triage": "dry-run" if dry_run else "removed"}], results
    left = [k.key_id for k in world.stack.aws.root_keys(member)]
    assert left == ([key] if dry_run else []), left


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
# The paths of centralized root access, in ROOT_ACCESS_CONFIGS. A root session's records call
# AssumeRoot nowhere: one configuration is enough for them. The sweep and a key use run in both
# configurations whose detector role is compared in full.
ROOT_SCENARIOS = (
    Scenario(
        "root: the sweep in audit root sessions, then a call signed with the key",
        root_sweep_and_key_use,
        frozenset({ROOT_ITSELF, ROOT_ROLES}),
    ),
    Scenario("root: a colleague's root session", root_session_record, frozenset({ROOT_ITSELF})),
    Scenario("root: removal by two responders", root_removal),
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
    yield from _recording(stack, CONFIGS, SCENARIOS)


@pytest.fixture(scope="module")
def root_recorded(stack: SandboxStack) -> Iterator[list[Recorded]]:
    """Every AWS call of centralized root access's scenarios in its configurations."""
    yield from _recording(stack, ROOT_ACCESS_CONFIGS, ROOT_SCENARIOS)


def _recording(
    stack: SandboxStack, configs: tuple[Config, ...], scenarios: tuple[Scenario, ...]
) -> Iterator[list[Recorded]]:
    found: list[Recorded] = []
    try:
        log = CallLog()
        with pytest.MonkeyPatch.context() as monkeypatch, AwsFaultProxy(record=log) as proxy:
            for config in configs:
                for scenario in scenarios:
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
    """Which role of the templates (or who else) made a call: a root session is named after
    its task policy ("root session IAMAuditRootUserCredentials")."""
    if call.root_task_policy is not None:
        return f"root session {call.root_task_policy.rsplit('/', 1)[-1]}"
    member_role = MEMBER_DEPLOYMENT.properties("MemberRole")["RoleName"]
    root_roles = {
        f"arn:aws:iam::{DELEGATED_ADMIN}:role/{ROOT_ACCESS_DEPLOYMENT.values[name]}": lid
        for lid, name in (("AuditRole", "AuditRoleName"), ("RemovalRole", "RemovalRoleName"))
    }
    if call.role_arn is not None:
        if call.role_name == member_role:
            return "MemberRole"
        return root_roles.get(call.role_arn, f"role {call.role_arn}")
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
        for action in r.call.actions:
            if action not in NEEDS_NO_GRANT:
                out.setdefault(action, set()).add(f"{r.scenario} [{r.config}]")
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
            action
            for r in recorded
            for action in r.call.actions
            if action.split(":")[1].lower() not in actions.get(r.call.service, set())
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
    # way: what the feature adds is one root call per role, for that role's task only, and the
    # ledger's PutItem a key use's transaction needs (SlackResponders, two responders here,
    # changes no grant).
    without = CONFIGS[2]
    changed = {k for k, v in config.parameters.items() if without.parameters.get(k) != v}
    assert changed - {"SlackResponders"} == {k for k in config.parameters if "Root" in k}
    assume = "sts:AssumeRole" if "RootAccessRoleArn" in config.parameters else "sts:AssumeRoot"
    deletes = config.parameters.get("RootKeyRemovalDryRun") == "false"  # a dry run holds none
    expected = {
        "DetectorRole": [assume, "dynamodb:PutItem"],
        "InteractRole": [assume] if deletes else [],
    }
    for role, actions in expected.items():
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
        assert sorted(a for a, _ in added) == sorted(actions), role
    member = templates.grants(MEMBER_DEPLOYMENT)
    assert not {g.action for g in member} & {"sts:AssumeRoot", "sts:AssumeRole"}


def _grants_of(config: Config, role: str) -> list[templates.Grant]:
    return [g for g in templates.grants(config.deployment()) if g.role == role]


# -- centralized root access: the comparisons --------------------------------------------------

ROOT_ROLES_OF = {  # the root-access.yaml role each task's AssumeRoot goes through
    AUDIT_TASK_POLICY: "AuditRole",
    DELETE_TASK_POLICY: "RemovalRole",
}


def _root_steps(calls: list[Recorded], config: str, scenario: str) -> list[tuple[str, ...]]:
    """The scenario's steps of centralized root access, in order: AssumeRoot (who, task), a
    root session's calls, and AssumeRole of any role but the member role (who, which role)."""
    member_role = MEMBER_DEPLOYMENT.properties("MemberRole")["RoleName"]
    steps: list[tuple[str, ...]] = []
    for r in calls:
        if (r.config, r.scenario) != (config, scenario):
            continue
        who, action = _principal(r.call), r.call.action
        if action == "sts:AssumeRoot":
            steps.append((who, action, str(r.call.parameter("TaskPolicyArn.arn"))))
        elif action == "sts:AssumeRole" and not str(r.call.parameter("RoleArn")).endswith(
            f":role/{member_role}"
        ):
            steps.append((who, action, str(r.call.parameter("RoleArn"))))
        elif r.call.root_task_policy is not None:
            steps.append((who, action))
    return steps


AUDIT_SESSION = "root session IAMAuditRootUserCredentials"
DELETE_SESSION = "root session IAMDeleteRootUserCredentials"
ROLES_PARAMETERS = ROOT_ACCESS_CONFIGS[1].parameters


@pytest.mark.parametrize(
    ("config", "scenario", "steps"),
    [
        (
            ROOT_ITSELF,
            "root: the sweep in audit root sessions, then a call signed with the key",
            [
                ("DetectorRole", "sts:AssumeRoot", AUDIT_TASK_POLICY),
                (AUDIT_SESSION, "iam:ListAccessKeys"),
                (AUDIT_SESSION, "iam:GetAccessKeyLastUsed"),
            ],
        ),
        (
            ROOT_ROLES,
            "root: the sweep in audit root sessions, then a call signed with the key",
            [
                ("DetectorRole", "sts:AssumeRole", ROLES_PARAMETERS["RootAccessRoleArn"]),
                ("AuditRole", "sts:AssumeRoot", AUDIT_TASK_POLICY),
                (AUDIT_SESSION, "iam:ListAccessKeys"),
                (AUDIT_SESSION, "iam:GetAccessKeyLastUsed"),
            ],
        ),
        (
            ROOT_ITSELF,
            "root: removal by two responders",
            [
                ("InteractRole", "sts:AssumeRoot", DELETE_TASK_POLICY),
                (DELETE_SESSION, "iam:ListAccessKeys"),
                (DELETE_SESSION, "iam:DeleteAccessKey"),
                (DELETE_SESSION, "iam:ListAccessKeys"),
            ],
        ),
        (
            ROOT_ROLES,
            "root: removal by two responders",
            [
                ("InteractRole", "sts:AssumeRole", ROLES_PARAMETERS["RootRemovalRoleArn"]),
                ("RemovalRole", "sts:AssumeRoot", DELETE_TASK_POLICY),
                (DELETE_SESSION, "iam:ListAccessKeys"),
                (DELETE_SESSION, "iam:DeleteAccessKey"),
                (DELETE_SESSION, "iam:ListAccessKeys"),
            ],
        ),
        (ROOT_DRY_RUN, "root: removal by two responders", []),  # no AssumeRoot, no session
        (ROOT_ITSELF, "root: a colleague's root session", []),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_root_access_path_opens_the_sessions_it_needs_and_calls_only_those(
    root_recorded: list[Recorded], config: str, scenario: str, steps: list[tuple[str, ...]]
) -> None:
    assert any(r.scenario == scenario and r.config == config for r in root_recorded)
    assert _root_steps(root_recorded, config, scenario) == steps


def test_root_access_calls_are_known_and_made_by_the_templates_roles(
    root_recorded: list[Recorded],
) -> None:
    assert not [r for r in root_recorded if r.call.operation == "?"]
    actions = _iam_actions()
    assert not {
        action
        for r in root_recorded
        for action in r.call.actions
        if action.split(":")[1].lower() not in actions.get(r.call.service, set())
    }
    known = {"DetectorRole", "InteractRole", "MemberRole", "AuditRole", "RemovalRole"}
    known |= {f"root session {t.rsplit('/', 1)[-1]}" for t in TASK_POLICIES}
    strangers = sorted(
        {
            f"{_principal(r.call)} called {r.call.action} in {r.scenario} [{r.config}]"
            for r in root_recorded
            if _principal(r.call) not in known
        }
    )
    assert strangers == []


def test_a_root_sessions_calls_are_those_its_task_policy_allows(
    root_recorded: list[Recorded],
) -> None:
    session_calls = [r for r in root_recorded if r.call.root_task_policy is not None]
    assert {r.call.root_task_policy for r in session_calls} == {
        AUDIT_TASK_POLICY,
        DELETE_TASK_POLICY,
    }
    outside = sorted(
        {
            f"{r.call.action} (HTTP {r.call.status}) in a session of {r.call.root_task_policy}: "
            f"{r.scenario} [{r.config}]"
            for r in session_calls
            if r.call.action not in TASK_POLICIES[str(r.call.root_task_policy)]
            or r.call.status != 200
        }
    )
    assert outside == [], "\n".join(outside)


# (configuration, role) whose grants must equal its calls: the root scenarios' in that
# configuration together with CONFIGS[2]'s (the same stack without root access). The dry-run
# configuration runs removal only, so only the interaction function's role is complete there.
ROOT_ROLE_CHECKS = [
    (ROOT_ITSELF, "DetectorRole"),
    (ROOT_ITSELF, "InteractRole"),
    (ROOT_ROLES, "DetectorRole"),
    (ROOT_ROLES, "InteractRole"),
    (ROOT_DRY_RUN, "InteractRole"),
]
# A grant a configuration holds on purpose without any path calling it (none today: a dry run
# holds no right to open a root session, RootKeyRemovalDryRun false alone grants it).
HELD_BUT_NOT_CALLED: dict[tuple[str, str], set[str]] = {}


@pytest.mark.parametrize(("config", "role"), ROOT_ROLE_CHECKS)
def test_with_root_access_each_role_grants_exactly_the_calls_it_makes(
    recorded: list[Recorded], root_recorded: list[Recorded], config: str, role: str
) -> None:
    deployment = next(c for c in ROOT_ACCESS_CONFIGS if c.name == config).deployment()
    function = "DetectorFunction" if role == "DetectorRole" else "InteractFunction"
    granted = _granted(deployment, role)
    needed = _needed(recorded, role, CONFIGS[2].name)
    for action, where in _needed(root_recorded, role, config).items():
        needed.setdefault(action, set()).update(where)
    runtime = runtime_grants(deployment, function)
    problems = [
        f"{role} lacks {action}, which {', '.join(sorted(where))} calls"
        for action, where in sorted(needed.items())
        if action not in granted
    ]
    held = HELD_BUT_NOT_CALLED.get((config, role), set())
    problems += [
        f"{granted[action]} grants {action}, which no path calls in {config}"
        for action in sorted(granted)
        if action not in needed and action not in runtime and action not in held
    ]
    problems += [
        f"{role} in {config} no longer holds {action} uncalled: drop it from HELD_BUT_NOT_CALLED"
        for action in sorted(held)
        if action in needed or action not in granted
    ]
    assert problems == [], "\n".join(problems)


def test_with_root_access_the_member_role_grants_every_call_made_through_it(
    root_recorded: list[Recorded],
) -> None:
    granted = _granted(MEMBER_DEPLOYMENT, "MemberRole")
    lacking = sorted(set(_needed(root_recorded, "MemberRole")) - set(granted))
    assert lacking == []


def test_root_access_yaml_roles_call_only_assume_root_with_their_own_task(
    root_recorded: list[Recorded],
) -> None:
    for task, role in ROOT_ROLES_OF.items():
        calls = {
            (r.call.action, r.call.parameter("TaskPolicyArn.arn"))
            for r in root_recorded
            if _principal(r.call) == role
        }
        assert calls == {("sts:AssumeRoot", task)}, role
        assert set(_granted(ROOT_ACCESS_DEPLOYMENT, role)) == {"sts:AssumeRoot"}, role


def test_each_root_access_yaml_role_is_assumed_only_by_the_role_it_trusts(
    root_recorded: list[Recorded],
) -> None:
    trusted_by = {DETECTOR_ROLE_ARN: "DetectorRole", INTERACT_ROLE_ARN: "InteractRole"}
    roles = ROOT_ACCESS_CONFIGS[1].parameters
    for lid, parameter in (
        ("AuditRole", "RootAccessRoleArn"),
        ("RemovalRole", "RootRemovalRoleArn"),
    ):
        props = ROOT_ACCESS_DEPLOYMENT.properties(lid)
        assert roles[parameter].endswith(f":role/{props['RoleName']}")
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assumers = {
            _principal(r.call)
            for r in root_recorded
            if r.call.action == "sts:AssumeRole" and r.call.parameter("RoleArn") == roles[parameter]
        }
        assert assumers == {trusted_by[trust["Principal"]["AWS"]]}, lid


def _statements(config: str, principal: str, action: str) -> list[dict[str, Any]]:
    """The statements allowing ``action`` to ``principal`` as ``config`` deploys it."""
    if principal in ROOT_ROLES_OF.values():
        deployment = ROOT_ACCESS_DEPLOYMENT
    else:
        deployment = next(c for c in ROOT_ACCESS_CONFIGS if c.name == config).deployment()
    return [
        g.statement
        for g in templates.grants(deployment)
        if g.role == principal and g.action == action
    ]


def test_assume_roots_condition_names_the_task_policy_each_path_passes(
    root_recorded: list[Recorded],
) -> None:
    # moto applies no IAM condition: the template's condition value is compared with the
    # TaskPolicyArn each AssumeRoot call sent ("Actions, resources, and condition keys for AWS
    # Security Token Service": sts:TaskPolicyArn, ARN; "IAM JSON policy elements: Condition
    # operators": ArnEquals).
    calls = [r for r in root_recorded if r.call.action == "sts:AssumeRoot"]
    assert {_principal(r.call) for r in calls} == {
        "DetectorRole",
        "InteractRole",
        "AuditRole",
        "RemovalRole",
    }
    for r in calls:
        who = _principal(r.call)
        (statement,) = _statements(r.config, who, "sts:AssumeRoot")
        wanted = statement["Condition"]["ArnEquals"]["sts:TaskPolicyArn"]
        sent = str(r.call.parameter("TaskPolicyArn.arn"))
        assert templates.arn_like(wanted, sent), (who, r.scenario, wanted, sent)
        assert wanted == sent, (who, r.scenario)
        target = str(r.call.parameter("TargetPrincipal"))
        root = target if target.startswith("arn:") else f"arn:aws:iam::{target}:root"
        assert templates.arn_like(statement["Resource"], root), (who, statement["Resource"])


def test_assume_role_for_root_access_names_only_the_granted_role(
    root_recorded: list[Recorded],
) -> None:
    member_role = MEMBER_DEPLOYMENT.properties("MemberRole")["RoleName"]
    for r in root_recorded:
        arn = str(r.call.parameter("RoleArn"))
        if r.call.action != "sts:AssumeRole" or arn.endswith(f":role/{member_role}"):
            continue
        resources = {
            str(s["Resource"]) for s in _statements(r.config, _principal(r.call), "sts:AssumeRole")
        }
        assert arn in resources, (r.scenario, r.config, arn, resources)
