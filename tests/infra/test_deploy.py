"""Deploy infra/detector.yaml and infra/member.yaml through CloudFormation in the sandbox (moto).

CREATE_COMPLETE alone proves nothing: moto silently skips some resource types (see
``MOTO_SKIPS``), so every resource moto does create is read back through its own service's API
and compared with what the detector needs. What moto cannot create or ignores is checked on the
template itself in test_template.py.

These adaptations are made to the template body before moto sees it (all are moto quirks, not
template problems; test_template.py, test_pattern_contract.py and cfn-lint check the unadapted
template):
- moto's ``AWS::Events::Rule`` json-encodes ``EventPattern`` again, so a pattern given as a JSON
  string (as CloudFormation takes it) would be double-encoded: moto gets the parsed pattern (the
  sweep's scheduled rule has none and is left as it is).
- moto's ``AWS::KMS::Key`` stores ``KeyPolicy`` as given, and DescribeKey then fails on a dict:
  moto gets it through ``Fn::ToJsonString`` (which moto resolves).
- moto resolves ``Ref`` to a ``Number`` parameter as a number (CloudFormation: a string), and
  ``Fn::FindInMap`` then misses the mapping's string key (``EventLease``, keyed by
  ``FunctionTimeout``): moto gets that key through ``Fn::Sub``, which yields the string.
- moto has no ``AWS::Lambda::Url`` and refuses a stack whose outputs ``Fn::GetAtt`` a resource
  it cannot create: the function URL and its output are left out (test_template.py checks them).
- moto's IAM policy check refuses an ``iam`` resource that is not a user, role, group... (its
  ``VALID_RESOURCE_PATH_STARTING_VALUES``), where AWS documents ``sts:AssumeRoot``'s resource
  type root-user, ``arn:${Partition}:iam::${Account}:root`` ("Actions, resources, and condition
  keys for AWS Security Token Service"): moto gets ``*`` in its place (``MOTO_ROOT_USERS``);
  test_template.py checks the real resource.
Reading back, moto returns a role's inline CloudFormation policy as a Python repr, not JSON.

The stacks are created on the session's moto server (tests/conftest.py: moto's state is per
process, so there is one server) and the module returns it to its seeded state afterwards.
"""

from __future__ import annotations

import ast
import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from detector import metrics
from detector.config import RootAccess, Settings
from detector.domain.root_access import AUDIT_TASK_POLICY, DELETE_TASK_POLICY
from detector.pattern import ALL_MANAGEMENT_EVENTS, EVENT_PATTERN, ROOT_ACCESS_PATTERN
from sandbox.aws import ACCOUNT_ID, REGION, MotoSandbox
from sandbox.stack import SandboxStack
from tests.infra import templates

pytestmark = [
    pytest.mark.integration,
    # moto warns about each resource type it skips; MOTO_SKIPS lists them
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

CODE_BUCKET = "root-key-detector-artifacts"
CODE_KEY = "root-key-detector/lambda-placeholder.zip"
ORG_ID = "o-exampleorg1"
# Resource types moto's CloudFormation skips without an error (checked in test_template.py).
MOTO_SKIPS = {
    "AWS::CloudTrail::Trail",
    "AWS::CloudWatch::Alarm",
    "AWS::Events::EventBusPolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::Secret",
}
SWEEP_INPUT = {"detector": "sweep"}
# Every member account's root user, as the templates write it, and what moto gets instead.
ROOT_USERS = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:root"}
MOTO_ROOT_USERS = "*"
SWEEP_ACCOUNTS = "111122223333,444455556666"


def for_moto(template: dict[str, Any]) -> str:
    """The template body moto can create (see the module docstring for both adaptations)."""
    for rule in templates.resources_of_type(template, "AWS::Events::Rule").values():
        if "EventPattern" in rule["Properties"]:
            rule["Properties"]["EventPattern"] = json.loads(rule["Properties"]["EventPattern"])
    for key in templates.resources_of_type(template, "AWS::KMS::Key").values():
        key["Properties"]["KeyPolicy"] = {"Fn::ToJsonString": key["Properties"]["KeyPolicy"]}
    for url in templates.resources_of_type(template, "AWS::Lambda::Url"):
        del template["Resources"][url]
        outputs = template.get("Outputs", {})
        for name in [n for n, o in outputs.items() if url in json.dumps(o.get("Value"))]:
            del outputs[name]
    return json.dumps(_string_map_keys(template)).replace(json.dumps(ROOT_USERS), '"*"')


def _string_map_keys(node: Any) -> Any:
    """``node`` with each ``Fn::FindInMap`` top-level key ``{"Ref": p}`` as ``${p}``."""
    if isinstance(node, list):
        return [_string_map_keys(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = node.get("Fn::FindInMap")
    if isinstance(found, list) and isinstance(found[1], dict) and set(found[1]) == {"Ref"}:
        return {"Fn::FindInMap": [found[0], {"Fn::Sub": f"${{{found[1]['Ref']}}}"}, found[2]]}
    return {key: _string_map_keys(value) for key, value in node.items()}


@dataclass
class Stack:
    """A created stack: its parameters and its resources (logical id -> physical id)."""

    name: str
    params: dict[str, str]
    physical: dict[str, str]
    outputs: dict[str, str]


def create_stack(sb: MotoSandbox, name: str, path: Any, params: dict[str, str]) -> Stack:
    """Create the stack, wait for CREATE_COMPLETE, return what it made."""
    cfn = sb.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=for_moto(templates.load(path)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 30
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    physical = {
        s["LogicalResourceId"]: s["PhysicalResourceId"]
        for s in summaries
        if s.get("LogicalResourceId") and s.get("PhysicalResourceId")
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Stack(name, params, physical, outputs)


@pytest.fixture(scope="module")
def sandbox(stack: SandboxStack) -> Iterator[MotoSandbox]:
    """The session's moto server (moto's state is per process: one server, shared) with the
    Lambda zip uploaded; returned to its seeded state afterwards, as tests/conftest.py does."""
    sb = stack.aws
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("detector/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    sb.client("s3").create_bucket(Bucket=CODE_BUCKET)
    sb.client("s3").put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=archive.getvalue())
    yield sb
    request = urllib.request.Request(f"{sb.endpoint_url}/moto-api/reset", method="POST", data=b"")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1
        resp.read()
    stack.slack.reset()
    sb.seed(webhook_url=stack.slack.webhook_url)
    stack._route_to_queue()


@pytest.fixture(scope="module")
def slack_secret_arn(sandbox: MotoSandbox) -> str:
    arn: str = sandbox.client("secretsmanager").create_secret(
        Name="root-key-detector/slack", SecretString='{"token": "xoxb-sandbox"}'
    )["ARN"]
    return arn


@pytest.fixture(scope="module")
def org_stack(sandbox: MotoSandbox, slack_secret_arn: str) -> Stack:
    """Organization mode, bot mode with an existing secret, a trail, an alarm email, a sweep
    of two listed accounts; the default schedule and timeout."""
    return create_stack(
        sandbox,
        "rkd-org",
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "bot",
            "SlackChannelId": "C0SECALERTS",
            "SlackSecretArn": slack_secret_arn,
            "OrganizationId": ORG_ID,
            "CreateTrail": "true",
            "AlarmEmail": "alarms@example.com",
            "SweepAccounts": SWEEP_ACCOUNTS,
        },
    )


@pytest.fixture(scope="module")
def single_stack(sandbox: MotoSandbox) -> Stack:
    """One account, Slack disabled (findings only), defaults otherwise."""
    return create_stack(
        sandbox,
        "rkd-single",
        templates.DETECTOR_TEMPLATE,
        {"CodeBucket": CODE_BUCKET, "CodeKey": CODE_KEY, "SlackMode": "disabled"},
    )


@pytest.fixture(scope="module")
def webhook_stack(sandbox: MotoSandbox, slack_secret_arn: str) -> Stack:
    """One account, webhook mode with an existing secret, no reserved concurrency; a cron
    schedule, the shortest timeout and a smaller sweep concurrency."""
    return create_stack(
        sandbox,
        "rkd-webhook",
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "webhook",
            "SlackSecretArn": slack_secret_arn,
            "ReservedConcurrency": "0",
            "LogLevel": "DEBUG",
            "ScheduleExpression": "cron(30 5 * * ? *)",
            "FunctionTimeout": "60",
            "SweepConcurrency": "8",
        },
    )


@pytest.fixture(scope="module")
def whole_org_stack(sandbox: MotoSandbox) -> Stack:
    """Organization mode sweeping every account of the organization; findings only."""
    return create_stack(
        sandbox,
        "rkd-whole-org",
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "disabled",
            "OrganizationId": ORG_ID,
        },
    )


@pytest.fixture(scope="module")
def triage_stack(sandbox: MotoSandbox, slack_secret_arn: str) -> Stack:
    """One account, bot mode, triage from Slack on, with an existing signing secret."""
    signing = sandbox.client("secretsmanager").create_secret(
        Name="rkd-triage/signing", SecretString='{"signing_secret": "0123456789abcdef0123"}'
    )["ARN"]
    return create_stack(
        sandbox,
        "rkd-triage",
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "bot",
            "SlackChannelId": "C0SECALERTS",
            "SlackSecretArn": slack_secret_arn,
            "SlackInteractivity": "true",
            "SlackSigningSecretArn": signing,
            "SlackTeamId": "T0SANDBOX",
            "SlackResponders": "U0ALICE,U0RITA",
        },
    )


def arn_of_queue(sb: MotoSandbox, url: str) -> str:
    attrs = sb.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn: str = attrs["Attributes"]["QueueArn"]
    return arn


def role_actions(sb: MotoSandbox, role_name: str) -> tuple[set[str], list[dict[str, Any]]]:
    """Every action of the role's inline policies, and the statements themselves."""
    iam = sb.client("iam")
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            # moto keeps a role's inline CloudFormation policy as the Python repr of the dict
            doc = ast.literal_eval(doc)
        statements += doc["Statement"]
    actions: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
    return actions, statements


def statement_for(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    (found,) = [
        s
        for s in statements
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    return found


# -- the organization stack ----------------------------------------------------------------


def test_moto_created_every_resource_it_supports(org_stack: Stack) -> None:
    template = templates.load(templates.DETECTOR_TEMPLATE)
    deployment = templates.Deployment(template, org_stack.params)
    supported = {
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] not in MOTO_SKIPS and deployment.exists(lid)
    }
    # Lambda::Permission and EventBus have no physical id in moto; checked on the service below.
    missing = (
        supported
        - set(org_stack.physical)
        - {
            "DefaultBusRulePermission",
            "SweepScheduleRulePermission",
            "CentralBusRulePermission",
            "CentralBus",
        }
    )
    assert missing == set()


def test_rules_route_the_code_pattern_to_the_lambda_with_retries_and_dlq(
    sandbox: MotoSandbox, org_stack: Stack
) -> None:
    events = sandbox.client("events")
    function_arn = sandbox.client("lambda").get_function_configuration(
        FunctionName=org_stack.outputs["FunctionName"]
    )["FunctionArn"]
    dlq_arn = arn_of_queue(sandbox, org_stack.outputs["DeadLetterQueueUrl"])
    central_bus = f"{org_stack.name}-central"
    assert (
        events.describe_event_bus(Name=central_bus)["Arn"]
        == org_stack.outputs["CentralEventBusArn"]
    )
    for logical_id, bus in (("DefaultBusRule", "default"), ("CentralBusRule", central_bus)):
        rule = events.describe_rule(Name=org_stack.physical[logical_id], EventBusName=bus)
        assert rule["State"] == "ENABLED"
        assert json.loads(rule["EventPattern"]) == EVENT_PATTERN
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["Arn"] == function_arn
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 24,
            "MaximumEventAgeInSeconds": 3600,
        }
        assert target["DeadLetterConfig"] == {"Arn": dlq_arn}


def sweep_schedule(sb: MotoSandbox, stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stack's scheduled rule (on the default bus) and its one target."""
    events = sb.client("events")
    rule = events.describe_rule(Name=stack.physical["SweepScheduleRule"])
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    return rule, target


def test_schedule_invokes_the_lambda_with_the_sweep_input_retries_and_dlq(
    sandbox: MotoSandbox, org_stack: Stack
) -> None:
    rule, target = sweep_schedule(sandbox, org_stack)
    assert rule["State"] == "ENABLED"
    assert rule["ScheduleExpression"] == "rate(1 day)"
    assert "EventPattern" not in rule
    function_arn = sandbox.client("lambda").get_function_configuration(
        FunctionName=org_stack.outputs["FunctionName"]
    )["FunctionArn"]
    assert target["Arn"] == function_arn
    assert json.loads(target["Input"]) == SWEEP_INPUT
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 24, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {
        "Arn": arn_of_queue(sandbox, org_stack.outputs["DeadLetterQueueUrl"])
    }


def test_lambda_configuration(
    sandbox: MotoSandbox, org_stack: Stack, slack_secret_arn: str
) -> None:
    lam = sandbox.client("lambda")
    config = lam.get_function_configuration(FunctionName=org_stack.outputs["FunctionName"])
    assert config["Handler"] == "detector.handler.lambda_handler"
    assert config["Runtime"] == "python3.13"
    assert int(config["Timeout"]) == 300  # FunctionTimeout's default: a whole sweep fits
    assert int(config["MemorySize"]) == 1024  # FunctionMemory's default: ~0.6 vCPU
    assert config["Role"] == org_stack.outputs["DetectorRoleArn"]
    # (moto ignores Architectures, LoggingConfig: test_template.py checks arm64 and the log group)
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert env == {
        "SLACK_MODE": "bot",
        "SLACK_TOKEN_SECRET_ID": slack_secret_arn,
        "SLACK_CHANNEL_ID": "C0SECALERTS",
        "CONFIRM_WAIT_SECONDS": "10",
        "KEY_SETTLE_SECONDS": "300",
        "LOG_LEVEL": "INFO",
        "FINDING_SEVERITY": "MEDIUM",
        "LEDGER_TABLE": org_stack.outputs["LedgerTableName"],
        "MEMBER_ROLE_NAME": "root-key-detector-member",
        "ORGANIZATION_NAMES": "true",
        "SWEEP_ACCOUNTS": SWEEP_ACCOUNTS,
        "SWEEP_CONCURRENCY": "32",
        "EVENT_RULE_NAME": "root-key-detector-events",
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
    }
    concurrency = lam.get_function_concurrency(FunctionName=config["FunctionName"])
    assert concurrency["ReservedConcurrentExecutions"] == 5


def test_only_the_three_rules_may_invoke_the_lambda(sandbox: MotoSandbox, org_stack: Stack) -> None:
    policy = json.loads(
        sandbox.client("lambda").get_policy(FunctionName=org_stack.outputs["FunctionName"])[
            "Policy"
        ]
    )
    rule_arns = {
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{org_stack.physical['DefaultBusRule']}",
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{org_stack.physical['SweepScheduleRule']}",
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{org_stack.name}-central/"
        f"{org_stack.physical['CentralBusRule']}",
    }
    sources = set()
    for statement in policy["Statement"]:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "lambda:InvokeFunction"
        sources.add(statement["Condition"]["ArnLike"]["AWS:SourceArn"])
    assert sources == rule_arns


def granted_by_template(stack: Stack, path: Any, role: str) -> set[str]:
    """The actions the template grants ``role`` with the stack's parameters (test_grants.py
    checks that these are exactly the calls the code makes)."""
    deployment = templates.Deployment(templates.load(path), stack.params, account=ACCOUNT_ID)
    return {g.action for g in templates.grants(deployment) if g.role == role}


def test_role_has_the_templates_actions_on_the_narrowest_resources(
    sandbox: MotoSandbox, org_stack: Stack, slack_secret_arn: str
) -> None:
    role_name = org_stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    trust = sandbox.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]

    actions, statements = role_actions(sandbox, role_name)
    assert actions == granted_by_template(org_stack, templates.DETECTOR_TEMPLATE, "DetectorRole")
    # SweepAccounts names the accounts: the organization is never listed
    assert "organizations:ListAccounts" not in actions

    table_arn = (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{org_stack.outputs['LedgerTableName']}"
    )
    expected_resources = {
        "logs:PutLogEvents": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:"
        f"{org_stack.outputs['LogGroupName']}:*",
        "iam:GetAccountSummary": "*",
        "securityhub:BatchImportFindings": f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:"
        f"product/{ACCOUNT_ID}/default",
        "dynamodb:UpdateItem": table_arn,
        "dynamodb:Query": table_arn,
        "sqs:SendMessage": arn_of_queue(sandbox, org_stack.outputs["DeadLetterQueueUrl"]),
        "secretsmanager:GetSecretValue": slack_secret_arn,
        "sts:AssumeRole": "arn:aws:iam::*:role/root-key-detector-member",
        "organizations:DescribeAccount": f"arn:aws:organizations::*:account/{ORG_ID}/*",
    }
    for action, resource in expected_resources.items():
        assert statement_for(statements, action)["Resource"] == resource, action
    assert statement_for(statements, "sts:AssumeRole")["Condition"] == {
        "StringEquals": {"aws:ResourceOrgID": ORG_ID}
    }


def test_a_sweep_of_the_whole_organization_may_list_its_accounts(
    sandbox: MotoSandbox, whole_org_stack: Stack
) -> None:
    role_name = whole_org_stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    actions, statements = role_actions(sandbox, role_name)
    assert actions == granted_by_template(
        whole_org_stack, templates.DETECTOR_TEMPLATE, "DetectorRole"
    )
    assert statement_for(statements, "organizations:ListAccounts")["Resource"] == "*"
    assert "secretsmanager:GetSecretValue" not in actions  # Slack disabled


def test_ledger_table(sandbox: MotoSandbox, org_stack: Stack) -> None:
    table = sandbox.client("dynamodb").describe_table(
        TableName=org_stack.outputs["LedgerTableName"]
    )["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # (moto's CloudFormation ignores TTL, SSE and PITR: test_template.py checks them)


def test_dead_letter_queue_is_encrypted(sandbox: MotoSandbox, org_stack: Stack) -> None:
    attrs = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=org_stack.outputs["DeadLetterQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["MessageRetentionPeriod"] == "1209600"


def test_log_group_retention(sandbox: MotoSandbox, org_stack: Stack) -> None:
    groups = sandbox.client("logs").describe_log_groups(
        logGroupNamePrefix=org_stack.outputs["LogGroupName"]
    )["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [365]


def test_alarm_topic_encrypted_with_a_rotating_key_cloudwatch_may_use(
    sandbox: MotoSandbox, org_stack: Stack
) -> None:
    topic = sandbox.client("sns").get_topic_attributes(TopicArn=org_stack.outputs["AlarmTopicArn"])
    key_arn = topic["Attributes"]["KmsMasterKeyId"]
    kms = sandbox.client("kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["CloudWatchAlarmsPublishToEncryptedTopic"]["Principal"] == {
        "Service": "cloudwatch.amazonaws.com"
    }
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/{org_stack.name}-management-events"
    encrypts = by_sid["CloudTrailEncryptsLogFiles"]
    assert encrypts["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn


def test_the_dashboard_graphs_the_deployed_functions_metrics(
    sandbox: MotoSandbox, org_stack: Stack
) -> None:
    """Read back from CloudWatch: the stack's dashboard, its body valid JSON (moto stores it
    unchecked; PutDashboard refuses a body that is not), every metric of detector/metrics.py
    under the function moto created, and the heartbeat alarm by the name the stack gives it."""
    function = org_stack.outputs["FunctionName"]
    listed = sandbox.client("cloudwatch").list_dashboards(DashboardNamePrefix=org_stack.name)
    assert [d["DashboardName"] for d in listed["DashboardEntries"]] == [org_stack.name]
    assert org_stack.outputs["DashboardUrl"].endswith(f"#dashboards:name={org_stack.name}")
    body = json.loads(
        sandbox.client("cloudwatch").get_dashboard(DashboardName=org_stack.name)["DashboardBody"]
    )
    lines = [
        line
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
    ]
    own = [line for line in lines if line[0] == metrics.NAMESPACE]
    assert {line[1] for line in own} == metrics.emitted_names()
    # KeyRemovals is the interaction function's (named <stack>-interact); key uses and root
    # sessions also the root access function's (<stack>-root-access); the rest the detector's.
    interact = f"{org_stack.name}-interact"
    root_access = f"{org_stack.name}-root-access"
    removals = metrics.KEY_REMOVALS.name
    both = (metrics.KEY_USES.name, metrics.ROOT_SESSIONS.name)
    dims = {
        family: {tuple(line[2:4]) for line in own if line[1].split(".")[0] == family}
        for family in {line[1].split(".")[0] for line in own}
    }
    for family, shown in dims.items():
        if family == removals:
            assert shown == {(metrics.DIMENSION, interact)}
        elif family in both:
            assert shown == {(metrics.DIMENSION, function), (metrics.DIMENSION, root_access)}
        else:
            assert shown == {(metrics.DIMENSION, function)}, family
    queue = arn_of_queue(sandbox, org_stack.outputs["DeadLetterQueueUrl"]).rsplit(":", 1)[1]
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue] in [
        line[:4] for line in lines
    ]
    (alarms,) = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert alarms == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{org_stack.name}-heartbeat"]
    # moto skips AWS::CloudWatch::Alarm (MOTO_SKIPS): test_template.py checks the alarm itself
    # against the same metric, dimension and name.


def test_trail_bucket_encrypted_with_the_stack_key(sandbox: MotoSandbox, org_stack: Stack) -> None:
    s3 = sandbox.client("s3")
    rules = s3.get_bucket_encryption(Bucket=org_stack.physical["TrailBucket"])[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    default = rules[0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/")
    # (moto applies neither versioning, public access block, lifecycle nor the bucket policy
    # from CloudFormation: test_template.py checks them)


# -- the single-account stacks ---------------------------------------------------------------


def test_single_account_has_no_organization_or_slack_permissions(
    sandbox: MotoSandbox, single_stack: Stack
) -> None:
    role_name = single_stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    actions, _ = role_actions(sandbox, role_name)
    assert actions == granted_by_template(single_stack, templates.DETECTOR_TEMPLATE, "DetectorRole")
    assert not [a for a in actions if a.startswith(("sts:", "organizations:", "secretsmanager:"))]
    assert "CentralEventBusArn" not in single_stack.outputs
    assert "SlackSecretArn" not in single_stack.outputs
    buses = {b["Name"] for b in sandbox.client("events").list_event_buses()["EventBuses"]}
    assert f"{single_stack.name}-central" not in buses
    assert "TrailBucket" not in single_stack.physical

    config = sandbox.client("lambda").get_function_configuration(
        FunctionName=single_stack.outputs["FunctionName"]
    )
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert env == {
        "SLACK_MODE": "disabled",
        "CONFIRM_WAIT_SECONDS": "10",
        "KEY_SETTLE_SECONDS": "300",
        "LOG_LEVEL": "INFO",
        "FINDING_SEVERITY": "MEDIUM",
        "LEDGER_TABLE": single_stack.outputs["LedgerTableName"],
        "ORGANIZATION_NAMES": "false",
        "SWEEP_CONCURRENCY": "32",
        "EVENT_RULE_NAME": "root-key-detector-events",
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
    }
    # one account sweeps too (itself: no SWEEP_ACCOUNTS, no member role)
    rule, target = sweep_schedule(sandbox, single_stack)
    assert rule["ScheduleExpression"] == "rate(1 day)"
    assert json.loads(target["Input"]) == SWEEP_INPUT


def test_webhook_mode_reads_the_webhook_secret_and_reserves_nothing(
    sandbox: MotoSandbox, webhook_stack: Stack, slack_secret_arn: str
) -> None:
    lam = sandbox.client("lambda")
    config = lam.get_function_configuration(FunctionName=webhook_stack.outputs["FunctionName"])
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert env == {
        "SLACK_MODE": "webhook",
        "SLACK_WEBHOOK_SECRET_ID": slack_secret_arn,
        "CONFIRM_WAIT_SECONDS": "10",
        "KEY_SETTLE_SECONDS": "300",
        "LOG_LEVEL": "DEBUG",
        "FINDING_SEVERITY": "MEDIUM",
        "LEDGER_TABLE": webhook_stack.outputs["LedgerTableName"],
        "ORGANIZATION_NAMES": "false",
        "SWEEP_CONCURRENCY": "8",
        "EVENT_RULE_NAME": "root-key-detector-events",
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
    }
    assert int(config["Timeout"]) == 60
    rule, target = sweep_schedule(sandbox, webhook_stack)
    assert rule["ScheduleExpression"] == "cron(30 5 * * ? *)"
    assert json.loads(target["Input"]) == SWEEP_INPUT
    concurrency = lam.get_function_concurrency(FunctionName=config["FunctionName"])
    assert concurrency.get("ReservedConcurrentExecutions") is None
    role_name = webhook_stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    actions, statements = role_actions(sandbox, role_name)
    assert actions == granted_by_template(
        webhook_stack, templates.DETECTOR_TEMPLATE, "DetectorRole"
    )
    assert "secretsmanager:GetSecretValue" in actions
    assert (
        statement_for(statements, "secretsmanager:GetSecretValue")["Resource"] == slack_secret_arn
    )


# -- the member stack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def member_stack(sandbox: MotoSandbox, org_stack: Stack) -> Stack:
    """member.yaml against the organization stack, with an alarm email and the root access
    forwarding rule."""
    return create_stack(
        sandbox,
        "rkd-member",
        templates.MEMBER_TEMPLATE,
        {
            "CentralEventBusArn": org_stack.outputs["CentralEventBusArn"],
            "DetectorRoleArn": org_stack.outputs["DetectorRoleArn"],
            "AlarmEmail": "secops@example.com",
            "CentralizedRootAccess": "true",
        },
    )


def test_moto_created_every_member_resource_it_supports(member_stack: Stack) -> None:
    template = templates.load(templates.MEMBER_TEMPLATE)
    supported = {lid for lid, r in template["Resources"].items() if r["Type"] not in MOTO_SKIPS}
    assert supported - set(member_stack.physical) == set()
    assert {"ForwardDeadLetterQueue", "AlarmKey", "AlarmTopic"} <= supported


def test_member_stack_forwards_with_a_role_only_its_rule_may_use(
    sandbox: MotoSandbox, org_stack: Stack, member_stack: Stack
) -> None:
    events = sandbox.client("events")
    rule = events.describe_rule(Name=member_stack.physical["ForwardRule"])
    assert rule["Name"] == "root-key-detector-forward"
    assert rule["Arn"] == member_stack.outputs["ForwardRuleArn"]
    assert json.loads(rule["EventPattern"]) == EVENT_PATTERN
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == org_stack.outputs["CentralEventBusArn"]
    assert target["RoleArn"] == member_stack.outputs["ForwardRoleArn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    queue_arn = arn_of_queue(sandbox, member_stack.outputs["ForwardDeadLetterQueueUrl"])
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}

    iam = sandbox.client("iam")
    role = iam.get_role(RoleName="root-key-detector-forward")["Role"]
    assert role["Arn"] == target["RoleArn"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    root_access = events.describe_rule(Name=member_stack.physical["ForwardRootAccessRule"])
    assert root_access["Name"] == "root-key-detector-forward-root-access"
    assert root_access["Arn"] == member_stack.outputs["ForwardRootAccessRuleArn"]
    assert root_access["State"] == ALL_MANAGEMENT_EVENTS
    assert json.loads(root_access["EventPattern"]) == ROOT_ACCESS_PATTERN
    (same,) = events.list_targets_by_rule(Rule=root_access["Name"])["Targets"]
    assert {k: v for k, v in same.items() if k != "Id"} == {
        k: v for k, v in target.items() if k != "Id"
    }
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnEquals": {"aws:SourceArn": [rule["Arn"], root_access["Arn"]]},
    }
    actions, statements = role_actions(sandbox, role["RoleName"])
    assert actions == {"events:PutEvents"}
    assert statements[0]["Resource"] == org_stack.outputs["CentralEventBusArn"]

    # The central bus's policy (moto skips it; resolved from the template with the central
    # stack's parameters) admits this role's ARN as IAM made it, and not the member role.
    central = templates.Deployment(
        templates.load(templates.DETECTOR_TEMPLATE),
        org_stack.params,
        account=ACCOUNT_ID,
        stack_name=org_stack.name,
    )
    condition = central.properties("CentralBusPolicy")["Statement"]["Condition"]
    assert condition["StringEquals"] == {"aws:PrincipalOrgID": ORG_ID}
    pattern = condition["ArnLike"]["aws:PrincipalArn"]
    assert templates.arn_like(pattern, role["Arn"])
    assert not templates.arn_like(pattern, member_stack.outputs["MemberRoleArn"])


def test_member_dead_letter_queue_is_encrypted_and_keeps_14_days(
    sandbox: MotoSandbox, member_stack: Stack
) -> None:
    attrs = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=member_stack.outputs["ForwardDeadLetterQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["MessageRetentionPeriod"] == "1209600"
    # (moto skips the queue policy and the alarms: test_template.py checks them)


def test_member_alarm_topic_encrypted_with_a_rotating_key_cloudwatch_may_use(
    sandbox: MotoSandbox, member_stack: Stack
) -> None:
    topic = sandbox.client("sns").get_topic_attributes(
        TopicArn=member_stack.outputs["AlarmTopicArn"]
    )
    key_arn = topic["Attributes"]["KmsMasterKeyId"]
    kms = sandbox.client("kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["CloudWatchAlarmsPublishToEncryptedTopic"]["Principal"] == {
        "Service": "cloudwatch.amazonaws.com"
    }


def test_member_role_trusts_only_the_detector_role_and_grants_the_templates_actions(
    sandbox: MotoSandbox, org_stack: Stack, member_stack: Stack
) -> None:
    iam = sandbox.client("iam")
    role = iam.get_role(RoleName="root-key-detector-member")["Role"]
    assert role["Arn"] == member_stack.outputs["MemberRoleArn"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": org_stack.outputs["DetectorRoleArn"]}
    assert trust["Action"] == "sts:AssumeRole"
    actions, statements = role_actions(sandbox, "root-key-detector-member")
    assert actions == granted_by_template(member_stack, templates.MEMBER_TEMPLATE, "MemberRole")
    assert statement_for(statements, "securityhub:BatchImportFindings")["Resource"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
    )


# -- triage from Slack -----------------------------------------------------------------------


def test_triage_deploys_the_interaction_function_with_its_own_role_and_the_settings(
    sandbox: MotoSandbox, triage_stack: Stack, slack_secret_arn: str
) -> None:
    lam = sandbox.client("lambda")
    name = triage_stack.physical["InteractFunction"]
    assert name == f"{triage_stack.name}-interact"
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Handler"] == "detector.interact.lambda_handler"
    assert config["Role"] == triage_stack.outputs["InteractRoleArn"]
    assert config["Role"] != triage_stack.outputs["DetectorRoleArn"]
    env = config["Environment"]["Variables"]
    assert env["SLACK_INTERACTIVITY"] == "true"
    assert env["SLACK_TOKEN_SECRET_ID"] == slack_secret_arn
    assert env["SLACK_SIGNING_SECRET_ID"] == triage_stack.outputs["SlackSigningSecretArn"]
    assert (env["SLACK_TEAM_ID"], env["SLACK_RESPONDERS"]) == ("T0SANDBOX", "U0ALICE,U0RITA")
    detector = lam.get_function_configuration(FunctionName=triage_stack.outputs["FunctionName"])
    assert detector["Environment"]["Variables"]["SLACK_INTERACTIVITY"] == "true"


def test_triage_role_reads_the_secrets_updates_workflow_and_note_and_starts_only_its_jobs(
    sandbox: MotoSandbox, triage_stack: Stack, slack_secret_arn: str
) -> None:
    role = triage_stack.outputs["InteractRoleArn"].rsplit("/", 1)[1]
    trust = sandbox.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    actions, statements = role_actions(sandbox, role)
    assert actions == granted_by_template(triage_stack, templates.DETECTOR_TEMPLATE, "InteractRole")
    invoke = statement_for(statements, "lambda:InvokeFunction")
    assert invoke["Resource"].endswith(f":function:{triage_stack.name}-interact")
    (reads,) = [st["Resource"] for st in statements if st["Sid"] == "ReadSlackSecrets"]
    assert sorted(reads) == sorted([slack_secret_arn, triage_stack.params["SlackSigningSecretArn"]])
    update = statement_for(statements, "securityhub:BatchUpdateFindings")
    assert update["Resource"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:hub/default"
    assert "securityhub:ASFFSyntaxPath/Severity.Label" in update["Condition"]["Null"]
    # The detector's own role no longer reads the signing secret, updates or starts jobs.
    detector = triage_stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    detector_actions, _ = role_actions(sandbox, detector)
    assert not {"securityhub:BatchUpdateFindings", "lambda:InvokeFunction"} & detector_actions


# -- centralized root access ---------------------------------------------------------------


@pytest.fixture(scope="module")
def root_access_stack(sandbox: MotoSandbox, slack_secret_arn: str) -> Stack:
    """Organization mode, triage from Slack, centralized root access with key removal, this
    account calling AssumeRoot itself (the IAM delegated administrator)."""
    signing = sandbox.client("secretsmanager").create_secret(
        Name="rkd-root-access/signing", SecretString='{"signing_secret": "0123456789abcdef0123"}'
    )["ARN"]
    return create_stack(
        sandbox,
        "rkd-root-access",
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "bot",
            "SlackChannelId": "C0SECALERTS",
            "SlackSecretArn": slack_secret_arn,
            "SlackInteractivity": "true",
            "SlackSigningSecretArn": signing,
            "SlackTeamId": "T0SANDBOX",
            "SlackResponders": "U0ALICE,U0RITA",
            "OrganizationId": ORG_ID,
            "EventRuleName": "rkd-root-access-events",
            "CentralizedRootAccess": "true",
            "RootKeyRemoval": "true",
            "RootKeyRemovalDryRun": "false",
        },
    )


def test_moto_created_every_root_access_resource_it_supports(root_access_stack: Stack) -> None:
    template = templates.load(templates.DETECTOR_TEMPLATE)
    deployment = templates.Deployment(template, root_access_stack.params)
    supported = {
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] not in MOTO_SKIPS | {"AWS::Lambda::Url", "AWS::Lambda::Permission"}
        and deployment.exists(lid)
    }
    assert supported - set(root_access_stack.physical) == {"CentralBus"}
    assert {
        "RootAuditPolicy",
        "InteractRootDeletePolicy",
        "DefaultBusRootAccessRule",
        "CentralBusRootAccessRule",
        "RootAccessFunction",
        "RootAccessLogGroup",
        "RootAccessLogsPolicy",
    } <= supported


def _invokers(sb: MotoSandbox, function: str) -> set[str]:
    """The rule ARNs the function's resource policy lets EventBridge invoke it for (and only
    EventBridge, only InvokeFunction)."""
    policy = json.loads(sb.client("lambda").get_policy(FunctionName=function)["Policy"])
    sources = set()
    for statement in policy["Statement"]:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "lambda:InvokeFunction"
        sources.add(statement["Condition"]["ArnLike"]["AWS:SourceArn"])
    return sources


def test_the_root_access_rules_route_their_pattern_to_their_own_function_with_all_events(
    sandbox: MotoSandbox, root_access_stack: Stack
) -> None:
    """Security review: the root access rules take read-only calls too, at a volume the key
    events never reach; they invoke a function of their own, and the key events' rules still
    invoke the detector, so a flood of them cannot take the executions an alert needs."""
    events, lam = sandbox.client("events"), sandbox.client("lambda")
    stack = root_access_stack
    root_function = stack.outputs["RootAccessFunctionName"]
    root_arn = lam.get_function_configuration(FunctionName=root_function)["FunctionArn"]
    detector_arn = lam.get_function_configuration(FunctionName=stack.outputs["FunctionName"])[
        "FunctionArn"
    ]
    assert root_arn != detector_arn
    dlq_arn = arn_of_queue(sandbox, stack.outputs["DeadLetterQueueUrl"])
    central_bus = f"{stack.name}-central"
    root_rules, key_rules = set(), set()
    for logical_id, bus in (
        ("DefaultBusRootAccessRule", "default"),
        ("CentralBusRootAccessRule", central_bus),
    ):
        rule = events.describe_rule(Name=stack.physical[logical_id], EventBusName=bus)
        assert rule["State"] == ALL_MANAGEMENT_EVENTS
        assert json.loads(rule["EventPattern"]) == ROOT_ACCESS_PATTERN
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["Arn"] == root_arn
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 24,
            "MaximumEventAgeInSeconds": 3600,
        }
        assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
        root_rules.add(rule["Arn"])
    # The key events' rules are there as without root access, in their own state, on the
    # detector.
    for logical_id, bus in (("DefaultBusRule", "default"), ("CentralBusRule", central_bus)):
        rule = events.describe_rule(Name=stack.physical[logical_id], EventBusName=bus)
        assert (rule["State"], json.loads(rule["EventPattern"])) == ("ENABLED", EVENT_PATTERN)
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["Arn"] == detector_arn
        key_rules.add(rule["Arn"])
    assert stack.physical["DefaultBusRule"] == "rkd-root-access-events"
    _, sweep = sweep_schedule(sandbox, stack)
    assert sweep["Arn"] == detector_arn
    # Only the root access rules may invoke the root access function; they may not invoke the
    # detector.
    schedule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{stack.physical['SweepScheduleRule']}"
    assert _invokers(sandbox, root_function) == root_rules
    assert _invokers(sandbox, stack.outputs["FunctionName"]) == key_rules | {schedule}


def test_the_root_access_function_runs_the_detectors_code_with_its_own_executions_and_logs(
    sandbox: MotoSandbox, root_access_stack: Stack
) -> None:
    lam = sandbox.client("lambda")
    stack = root_access_stack
    root = lam.get_function_configuration(FunctionName=stack.outputs["RootAccessFunctionName"])
    detector = lam.get_function_configuration(FunctionName=stack.outputs["FunctionName"])
    same = ("Handler", "Runtime", "Role", "Timeout", "MemorySize")
    assert {k: root[k] for k in same} == {k: detector[k] for k in same}
    assert (root["Handler"], root["Role"]) == (
        "detector.handler.lambda_handler",
        stack.outputs["DetectorRoleArn"],
    )
    assert root["Environment"] == detector["Environment"]
    # Its own reserved executions (RootAccessReservedConcurrency's default); the detector keeps
    # ReservedConcurrency's.
    concurrency = {
        name: lam.get_function_concurrency(FunctionName=c["FunctionName"]).get(
            "ReservedConcurrentExecutions"
        )
        for name, c in (("root", root), ("detector", detector))
    }
    assert concurrency == {"root": 2, "detector": 5}
    # Its own log group, kept as long as the detector's; the detector's role may write it.
    group = stack.outputs["RootAccessLogGroupName"]
    assert group != stack.outputs["LogGroupName"]
    groups = sandbox.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [(group, 365)]
    role = stack.outputs["DetectorRoleArn"].rsplit("/", 1)[1]
    _, statements = role_actions(sandbox, role)
    (writes,) = [s for s in statements if s.get("Sid") == "WriteRootAccessLogs"]
    assert writes["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:*"
    assert sorted(writes["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_the_roles_open_root_sessions_for_their_own_task_only(
    sandbox: MotoSandbox, root_access_stack: Stack
) -> None:
    for output, role, task in (
        ("DetectorRoleArn", "DetectorRole", AUDIT_TASK_POLICY),
        ("InteractRoleArn", "InteractRole", DELETE_TASK_POLICY),
    ):
        name = root_access_stack.outputs[output].rsplit("/", 1)[1]
        actions, statements = role_actions(sandbox, name)
        assert actions == granted_by_template(root_access_stack, templates.DETECTOR_TEMPLATE, role)
        statement = statement_for(statements, "sts:AssumeRoot")
        assert statement["Resource"] == MOTO_ROOT_USERS  # the template's: test_template.py
        assert statement["Condition"] == {"ArnEquals": {"sts:TaskPolicyArn": task}}


def test_the_functions_read_the_root_access_settings(
    sandbox: MotoSandbox, root_access_stack: Stack
) -> None:
    lam = sandbox.client("lambda")
    for name in (
        root_access_stack.outputs["FunctionName"],
        root_access_stack.outputs["RootAccessFunctionName"],
        root_access_stack.physical["InteractFunction"],
    ):
        env = {
            k: str(v)
            for k, v in lam.get_function_configuration(FunctionName=name)["Environment"][
                "Variables"
            ].items()
        }
        assert {k: v for k, v in env.items() if "ROOT" in k} == {
            "CENTRALIZED_ROOT_ACCESS": "true",
            "ROOT_KEY_REMOVAL": "true",
            "ROOT_KEY_REMOVAL_DRY_RUN": "false",
        }, name
        settings = Settings.from_env({**env, "AWS_REGION": REGION})
        assert settings.root_access == RootAccess(None, removal=True, removal_dry_run=False)


def test_root_access_yaml_creates_an_audit_role_and_a_removal_role(
    sandbox: MotoSandbox, root_access_stack: Stack
) -> None:
    detector_role = root_access_stack.outputs["DetectorRoleArn"]
    interact_role = root_access_stack.outputs["InteractRoleArn"]
    stack = create_stack(
        sandbox,
        "rkd-root-access-roles",
        templates.ROOT_ACCESS_TEMPLATE,
        {"DetectorRoleArn": detector_role, "InteractRoleArn": interact_role},
    )
    iam = sandbox.client("iam")
    for output, trusted, task in (
        ("AuditRoleArn", detector_role, AUDIT_TASK_POLICY),
        ("RemovalRoleArn", interact_role, DELETE_TASK_POLICY),
    ):
        name = stack.outputs[output].rsplit("/", 1)[1]
        role = iam.get_role(RoleName=name)["Role"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert (trust["Principal"], trust["Action"]) == ({"AWS": trusted}, "sts:AssumeRole")
        actions, statements = role_actions(sandbox, name)
        assert actions == {"sts:AssumeRoot"}
        (statement,) = statements
        assert statement["Resource"] == MOTO_ROOT_USERS  # the template's: test_template.py
        assert statement["Condition"] == {"ArnEquals": {"sts:TaskPolicyArn": task}}
