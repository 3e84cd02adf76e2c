"""The templates themselves: what moto cannot create or ignores, and least-privilege rules.

test_deploy.py reads back every resource moto creates; this file covers the rest from the
template: the region rule, alarms, queue and bus policies, the async failure destination, the
trail and its bucket, the Slack secret, arm64, TTL/SSE/PITR, the sweep's schedule and settings
(against detector/config.py and detector/handler.py), the timeout/lease pairs, and that
``Resource: "*"`` appears only for actions that have no resource-level permissions; in
member.yaml, the forwarding rule's retries and dead-letter queue, its alarms and where they go,
the forwarding role's trust, and that the central bus's ``aws:PrincipalArn`` pattern admits that
role's ARN and nothing else; centralized root access: which role may open root sessions for
which task (here and in root-access.yaml), the settings each function reads, the function of
their own the root access rules invoke, and the rules that refuse settings that do not fit.
(test_grants.py compares the roles' actions with the code's calls.)
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from detector import handler, metrics
from detector.config import RootAccess, Settings
from detector.domain.root_access import AUDIT_TASK_POLICY, DELETE_TASK_POLICY
from detector.wiring import invocation_lease_s
from tests.infra import templates

DETECTOR = templates.load(templates.DETECTOR_TEMPLATE)
MEMBER = templates.load(templates.MEMBER_TEMPLATE)
ROOT_ACCESS = templates.load(templates.ROOT_ACCESS_TEMPLATE)
RESOURCES = DETECTOR["Resources"]
# Actions with no resource-level permissions (Service Authorization Reference): only these may
# use Resource "*". KMS key policies are excluded: there "*" means "this key".
# Actions with no resource type in the Service Authorization Reference: "*" is the only form.
NO_RESOURCE_LEVEL = {
    "iam:GetAccountSummary",
    "organizations:ListAccounts",
    "cloudtrail:DescribeTrails",
}


def props(logical_id: str, template: dict[str, Any] = DETECTOR) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def getatt(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


@pytest.mark.parametrize("template", [DETECTOR, MEMBER], ids=["detector", "member"])
def test_refuses_regions_other_than_us_east_1(template: dict[str, Any]) -> None:
    (assertion,) = template["Rules"]["UsEast1Only"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert "us-east-1" in assertion["AssertDescription"]


def test_bot_mode_requires_a_channel() -> None:
    rule = DETECTOR["Rules"]["BotModeNeedsChannel"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SlackMode"}, "bot"]}


def test_lambda_is_arm64_python_313_logging_to_its_group() -> None:
    fn = props("DetectorFunction")
    assert fn["Architectures"] == ["arm64"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Handler"] == "detector.handler.lambda_handler"
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}
    assert fn["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasReservedConcurrency"


def test_the_interaction_function_has_its_own_small_reserved_concurrency() -> None:
    fn = props("InteractFunction")
    assert fn["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", 3, {"Ref": "AWS::NoValue"}]
    }


def test_an_invocations_claims_end_before_lambdas_first_retry_for_every_timeout() -> None:
    """Lambda retries a timed-out asynchronous invocation about a minute after it timed out: the
    claims the invocation made (its remaining time plus a margin) must be gone by then, and
    outlast the invocation itself. The template sets no EVENT_LEASE_SECONDS: in Lambda the
    lease follows the invocation's remaining time."""
    fn = props("DetectorFunction")
    assert fn["Timeout"] == {"Ref": "FunctionTimeout"}
    assert "EVENT_LEASE_SECONDS" not in fn["Environment"]["Variables"]
    parameter = DETECTOR["Parameters"]["FunctionTimeout"]
    # long enough for a 1,000-account sweep by default; Lambda allows at most 900 s
    assert parameter["Default"] == 300
    assert max(parameter["AllowedValues"]) <= 900
    for timeout in parameter["AllowedValues"]:
        assert timeout < invocation_lease_s(timeout) < timeout + 60, timeout


def test_async_failures_go_to_the_dead_letter_queue() -> None:
    config = props("DetectorInvokeConfig")
    assert config["FunctionName"] == {"Ref": "DetectorFunction"}
    assert config["Qualifier"] == "$LATEST"
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": getatt("DeadLetterQueue", "Arn")}
    }


def test_queue_policy_admits_only_the_rules_and_tls() -> None:
    policy = props("DeadLetterQueuePolicy")
    assert policy["Queues"] == [{"Ref": "DeadLetterQueue"}]
    allow, hub, root_access, deny = policy["PolicyDocument"]["Statement"]
    # With centralized root access, its rules too (their own statement).
    rules, absent = root_access["Fn::If"][1:]
    assert (root_access["Fn::If"][0], absent) == ("UsesRootAccess", {"Ref": "AWS::NoValue"})
    assert rules["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::If": [
            "UsesRootAccessInOrganization",
            [getatt("DefaultBusRootAccessRule", "Arn"), getatt("CentralBusRootAccessRule", "Arn")],
            [getatt("DefaultBusRootAccessRule", "Arn")],
        ]
    }
    # With triage from Slack, the finding-change rules too (their own statement).
    interactive, absent = hub["Fn::If"][1:]
    assert (hub["Fn::If"][0], absent) == ("IsInteractive", {"Ref": "AWS::NoValue"})
    assert interactive["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        getatt("FindingsImportedRule", "Arn"),
        getatt("FindingsUpdatedRule", "Arn"),
    ]
    assert (interactive["Principal"], interactive["Action"]) == (
        {"Service": "events.amazonaws.com"},
        "sqs:SendMessage",
    )
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::If": [
            "IsOrganization",
            [
                getatt("DefaultBusRule", "Arn"),
                getatt("SweepScheduleRule", "Arn"),
                getatt("CentralBusRule", "Arn"),
            ],
            [getatt("DefaultBusRule", "Arn"), getatt("SweepScheduleRule", "Arn")],
        ]
    }
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _env(**overrides: str) -> dict[str, str]:
    """A minimal valid Lambda environment for detector/config.py, plus ``overrides``."""
    return {
        "AWS_REGION": "us-east-1",
        "SLACK_MODE": "disabled",
        "LEDGER_TABLE": "root-key-detector-ledger",
        **overrides,
    }


def test_schedule_invokes_the_lambda_with_the_sweep_input() -> None:
    rule = props("SweepScheduleRule")
    assert "Condition" not in RESOURCES["SweepScheduleRule"]  # both modes sweep
    assert rule["State"] == "ENABLED"
    assert rule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert "EventPattern" not in rule  # a schedule...
    assert "EventBusName" not in rule  # ...on the default bus
    (target,) = rule["Targets"]
    assert target["Arn"] == getatt("DetectorFunction", "Arn")
    assert json.loads(target["Input"]) == {"detector": "sweep"}
    # the same retry policy and dead-letter queue as the event rules' targets
    (event_target,) = props("DefaultBusRule")["Targets"]
    assert target["RetryPolicy"] == event_target["RetryPolicy"]
    assert target["DeadLetterConfig"] == event_target["DeadLetterConfig"]

    permission = props("SweepScheduleRulePermission")
    assert permission == {
        "FunctionName": {"Ref": "DetectorFunction"},
        "Action": "lambda:InvokeFunction",
        "Principal": "events.amazonaws.com",
        "SourceArn": getatt("SweepScheduleRule", "Arn"),
    }


def test_the_schedule_input_is_what_the_handler_sweeps_on(monkeypatch: pytest.MonkeyPatch) -> None:
    (target,) = props("SweepScheduleRule")["Targets"]
    swept: list[object] = []

    class Summary:
        counts: dict[str, int] = {}  # noqa: RUF012 - read only

        def as_dict(self) -> dict[str, int]:
            return {"accounts": 0}

    class Runtime:
        def sweep(self) -> Summary:
            swept.append(self)
            return Summary()

    runtime = Runtime()
    monkeypatch.setattr(handler, "runtime", lambda: runtime)
    assert handler.lambda_handler(json.loads(target["Input"]), None) == {"accounts": 0}
    assert swept == [runtime]


@pytest.mark.parametrize(
    ("expression", "valid"),
    [
        ("rate(1 day)", True),
        ("rate(12 hours)", True),
        ("cron(0 6 * * ? *)", True),
        ("daily", False),
        ("rate 1 day", False),
        ("", False),
    ],
)
def test_schedule_expression_parameter(expression: str, valid: bool) -> None:
    parameter = DETECTOR["Parameters"]["ScheduleExpression"]
    assert parameter["Default"] == "rate(1 day)"
    assert bool(re.fullmatch(parameter["AllowedPattern"], expression)) is valid


def test_sweep_environment() -> None:
    env = props("DetectorFunction")["Environment"]["Variables"]
    assert env["ORGANIZATION_NAMES"] == {"Fn::If": ["IsOrganization", "true", "false"]}
    assert env["SWEEP_CONCURRENCY"] == {"Ref": "SweepConcurrency"}
    assert "SWEEP_FINDINGS_FROM" not in env  # the sweep reads the ledger, not Security Hub
    assert env["SWEEP_ACCOUNTS"] == {
        "Fn::If": ["HasSweepAccounts", {"Ref": "SweepAccounts"}, {"Ref": "AWS::NoValue"}]
    }
    assert env["DETECTOR_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert DETECTOR["Conditions"]["HasSweepAccounts"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SweepAccounts"}, ""]}]
    }


def test_sweep_parameters_are_what_config_accepts() -> None:
    parameters = DETECTOR["Parameters"]
    concurrency = parameters["SweepConcurrency"]
    assert concurrency["Default"] == 32
    for value in (concurrency["MinValue"], concurrency["Default"], concurrency["MaxValue"]):
        settings = Settings.from_env(_env(SWEEP_CONCURRENCY=str(value)))
        assert settings.sweep_concurrency == value
    accounts = parameters["SweepAccounts"]
    assert accounts["Default"] == ""
    pattern = accounts["AllowedPattern"]
    for good in ("", "111122223333", "111122223333,444455556666"):
        assert re.fullmatch(pattern, good), good
        ids = tuple(a for a in good.split(",") if a)
        assert Settings.from_env(_env(SWEEP_ACCOUNTS=good)).sweep_accounts == ids
    for bad in ("1111", "111122223333, 444455556666", "111122223333,", "all"):
        assert not re.fullmatch(pattern, bad), bad


def test_sweep_accounts_only_with_an_organization() -> None:
    rule = DETECTOR["Rules"]["SweepAccountsNeedOrganization"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "SweepAccounts"}, ""]}


def test_findings_are_imported_to_the_own_accounts_default_product_only() -> None:
    product = {
        "Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:"
        "product/${AWS::AccountId}/default"
    }
    for template, logical_id in ((DETECTOR, "DetectorRole"), (MEMBER, "MemberRole")):
        statements = [
            s
            for lid, s in _iam_statements(template)
            if lid == logical_id and "securityhub:BatchImportFindings" in _actions(s)
        ]
        assert [(_actions(s), s["Resource"]) for s in statements] == [
            (["securityhub:BatchImportFindings"], product)
        ], logical_id
    (update,) = [
        s
        for lid, s in _iam_statements(MEMBER)
        if lid == "MemberRole" and "securityhub:BatchUpdateFindings" in _actions(s)
    ]
    assert (_actions(update), update["Resource"]) == (["securityhub:BatchUpdateFindings"], HUB)


HUB = {"Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default"}


def test_triage_is_off_by_default_and_then_creates_nothing() -> None:
    assert DETECTOR["Parameters"]["SlackInteractivity"]["Default"] == "false"
    for logical_id in ("InteractFunction", "InteractUrl", "InteractRole", "SigningSecret"):
        assert RESOURCES[logical_id]["Condition"] in {"IsInteractive", "CreateSigningSecret"}
    assert RESOURCES["InteractOrganizationPolicy"]["Condition"] == "IsInteractiveOrganization"


def test_the_function_url_is_public_only_through_the_url() -> None:
    assert props("InteractUrl")["AuthType"] == "NONE"
    url, via_url = props("InteractUrlPermission"), props("InteractViaUrlPermission")
    # "Control access to Lambda function URLs": both actions, the second only via the URL.
    assert (url["Action"], url["Principal"], url["FunctionUrlAuthType"]) == (
        "lambda:InvokeFunctionUrl",
        "*",
        "NONE",
    )
    assert (via_url["Action"], via_url["Principal"], via_url["InvokedViaFunctionUrl"]) == (
        "lambda:InvokeFunction",
        "*",
        True,
    )


def _role_statements(logical_id: str, template: dict[str, Any] = DETECTOR) -> dict[str, Any]:
    return {
        s["Sid"]: s
        for policy in props(logical_id, template)["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    }


def test_triage_has_its_own_role_that_updates_this_accounts_findings_and_invokes_itself() -> None:
    assert props("InteractFunction")["Role"] == getatt("InteractRole", "Arn")
    by_sid = _role_statements("InteractRole")
    assert by_sid["UpdateOwnFindingsWorkflow"]["Resource"] == HUB
    invoke = by_sid["StartTriageJob"]["Resource"]["Fn::Sub"]
    assert invoke.endswith(":function:${AWS::StackName}-interact")
    assert props("InteractFunction")["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-interact"}
    # The detector's role starts no job and updates no finding (security review, issue 16, #3).
    for _, statement in _iam_statements(DETECTOR):
        if "lambda:InvokeFunction" in _actions(statement):
            assert statement is by_sid["StartTriageJob"]
        if "securityhub:BatchUpdateFindings" in _actions(statement):
            assert statement is by_sid["UpdateOwnFindingsWorkflow"]
    assert props("InteractOrganizationPolicy")["Roles"] == [{"Ref": "InteractRole"}]


# "BatchUpdateFindings for customers", Configuring access to BatchUpdateFindings (Security Hub
# user guide): the fields whose securityhub:ASFFSyntaxPath/<field> condition keys it lists.
ASFF_SYNTAX_PATHS = {
    "Confidence",
    "Criticality",
    "Note.Text",
    "Note.UpdatedBy",
    "RelatedFindings",
    "Severity.Label",
    "Severity.Normalized",
    "Severity.Original",
    "Types",
    "UserDefinedFields.key",
    "UserDefinedFields.value",
    "VerificationState",
    "Workflow.Status",
}


@pytest.mark.parametrize(
    ("template", "role"),
    [(DETECTOR, "InteractRole"), (MEMBER, "MemberRole")],
    ids=["interact", "member"],
)
def test_batch_update_findings_may_set_the_workflow_status_and_note_only(
    template: dict[str, Any], role: str
) -> None:
    update = _role_statements(role, template)["UpdateOwnFindingsWorkflow"]
    (null,) = update["Condition"].values()
    assert list(update["Condition"]) == ["Null"]
    assert set(null.values()) == {"true"}  # each of these fields absent from the request
    absent = {key.removeprefix("securityhub:ASFFSyntaxPath/") for key in null}
    assert absent == ASFF_SYNTAX_PATHS - {"Workflow.Status", "Note.Text", "Note.UpdatedBy"}


def test_central_bus_admits_only_the_organizations_forward_roles() -> None:
    assert RESOURCES["CentralBus"]["Condition"] == "IsOrganization"
    policy = props("CentralBusPolicy")
    statement = policy["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == getatt("CentralBus", "Arn")
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
        "ArnLike": {
            "aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${ForwardRoleName}"}
        },
    }


def _bus_pattern(**parameters: str) -> str:
    deployment = templates.Deployment(
        DETECTOR,
        {"CodeBucket": "b", "CodeKey": "k", "OrganizationId": "o-exampleorg1", **parameters},
    )
    pattern: str = deployment.properties("CentralBusPolicy")["Statement"]["Condition"]["ArnLike"][
        "aws:PrincipalArn"
    ]
    return pattern


def _member(account: str = "210987654321", **parameters: str) -> templates.Deployment:
    return templates.Deployment(
        MEMBER,
        {
            "CentralEventBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/central",
            "DetectorRoleArn": "arn:aws:iam::111122223333:role/detector",
            **parameters,
        },
        account=account,
    )


@pytest.mark.parametrize("name", [None, "org-forwarder"])
def test_the_bus_pattern_matches_every_members_forward_role_and_nothing_else(
    name: str | None,
) -> None:
    chosen = {} if name is None else {"ForwardRoleName": name}
    pattern = _bus_pattern(**chosen)
    for account in ("210987654321", "345678901234"):
        member = _member(account, **chosen)
        role_name = member.properties("ForwardRole")["RoleName"]
        assert role_name == (name or "root-key-detector-forward")
        # The ARN IAM gives a role without a path: arn:aws:iam::<account>:role/<name>
        assert templates.arn_like(pattern, f"arn:aws:iam::{account}:role/{role_name}")
        member_role = member.properties("MemberRole")["RoleName"]
        assert not templates.arn_like(pattern, f"arn:aws:iam::{account}:role/{member_role}")
        assert not templates.arn_like(pattern, f"arn:aws:iam::{account}:role/{role_name}-x")
        assert not templates.arn_like(pattern, f"arn:aws:iam::{account}:user/{role_name}")
    assert "Path" not in props("ForwardRole", MEMBER)
    # Both templates default to the same name, as to MemberRoleName.
    for parameter in ("ForwardRoleName", "MemberRoleName"):
        defaults = {t["Parameters"][parameter]["Default"] for t in (DETECTOR, MEMBER)}
        assert len(defaults) == 1, parameter


@pytest.mark.parametrize("root_access", ["false", "true"])
def test_the_forward_role_is_trusted_to_its_own_rules_only(root_access: str) -> None:
    member = _member(CentralizedRootAccess=root_access)
    role = member.properties("ForwardRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    rules = ["ForwardRule"] + (["ForwardRootAccessRule"] if root_access == "true" else [])
    assert [member.exists(r) for r in ("ForwardRule", "ForwardRootAccessRule")] == [
        True,
        root_access == "true",
    ]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "210987654321"},
        # A rule on the default bus: arn:aws:events:<region>:<account>:rule/<name>
        "ArnEquals": {
            "aws:SourceArn": [
                f"arn:aws:events:us-east-1:210987654321:rule/{member.properties(r)['Name']}"
                for r in rules
            ]
        },
    }
    (policy,) = role["Policies"]
    (put,) = policy["PolicyDocument"]["Statement"]
    assert (put["Action"], put["Resource"]) == (
        "events:PutEvents",
        "arn:aws:events:us-east-1:111122223333:event-bus/central",
    )


@pytest.mark.parametrize("rule", ["ForwardRule", "ForwardRootAccessRule"])
def test_the_forward_rules_retry_then_dead_letter_in_the_member_account(rule: str) -> None:
    (target,) = props(rule, MEMBER)["Targets"]
    assert target["Arn"] == {"Ref": "CentralEventBusArn"}
    assert target["RoleArn"] == getatt("ForwardRole", "Arn")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": getatt("ForwardDeadLetterQueue", "Arn")}
    queue = props("ForwardDeadLetterQueue", MEMBER)
    assert queue == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600}
    allow, deny = props("ForwardDeadLetterQueuePolicy", MEMBER)["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == getatt("ForwardDeadLetterQueue", "Arn")
    for root_access in ("false", "true"):
        queue_policy = _member(CentralizedRootAccess=root_access).properties(
            "ForwardDeadLetterQueuePolicy"
        )
        sources = queue_policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]
        rules = ["ForwardRule"] + (["ForwardRootAccessRule"] if root_access == "true" else [])
        assert sources == {"aws:SourceArn": [f"<{r}.Arn>" for r in rules]}
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


MEMBER_ALARMS = {
    "ForwardDeadLetterQueueAlarm": {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "Dimensions": [
            {"Name": "QueueName", "Value": getatt("ForwardDeadLetterQueue", "QueueName")}
        ],
    },
    "ForwardFailedAlarm": {
        "Namespace": "AWS/Events",
        "MetricName": "FailedInvocations",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "RuleName", "Value": {"Ref": "ForwardRule"}}],
    },
    "ForwardRootAccessFailedAlarm": {
        "Namespace": "AWS/Events",
        "MetricName": "FailedInvocations",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "RuleName", "Value": {"Ref": "ForwardRootAccessRule"}}],
    },
}


@pytest.mark.parametrize(
    ("parameters", "actions"),
    [
        ({}, None),
        ({"AlarmEmail": "secops@example.com"}, ["<AlarmTopic>"]),
        (
            {"AlarmTopicArn": "arn:aws:sns:us-east-1:210987654321:ops"},
            ["arn:aws:sns:us-east-1:210987654321:ops"],
        ),
    ],
    ids=["no-destination", "email", "existing-topic"],
)
def test_member_alarms_fire_above_zero_to_the_chosen_destination(
    parameters: dict[str, str], actions: list[str] | None
) -> None:
    member = _member(CentralizedRootAccess="true", **parameters)
    for alarm, expected in MEMBER_ALARMS.items():
        p = props(alarm, MEMBER)
        assert {key: p[key] for key in expected} == expected, alarm
        assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanThreshold", 0)
        assert p["TreatMissingData"] == "notBreaching"
        assert member.properties(alarm).get("AlarmActions") == actions, alarm
    assert member.properties("ForwardDeadLetterQueueAlarm").get("OKActions") == actions
    with_topic = "AlarmEmail" in parameters
    for logical_id in ("AlarmKey", "AlarmTopic", "AlarmEmailSubscription"):
        assert member.exists(logical_id) is with_topic, logical_id
    if with_topic:
        assert member.properties("AlarmTopic")["KmsMasterKeyId"] == "<AlarmKey.Arn>"
        assert member.properties("AlarmKey")["EnableKeyRotation"] is True
        sids = {s["Sid"] for s in member.properties("AlarmKey")["KeyPolicy"]["Statement"]}
        assert "CloudWatchAlarmsPublishToEncryptedTopic" in sids


def test_member_alarms_go_to_one_destination_at_most() -> None:
    rule = MEMBER["Rules"]["OneAlarmDestination"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("AlarmEmail", ["", "secops@example.com"], ["secops", "a b@example.com"]),
        (
            "AlarmTopicArn",
            ["", "arn:aws:sns:us-east-1:210987654321:ops-alerts"],
            ["arn:aws:sns:eu-west-1:210987654321:ops", "arn:aws:sqs:us-east-1:210987654321:q"],
        ),
        ("ForwardRoleName", ["root-key-detector-forward"], ["", "a/b", "x" * 65]),
    ],
)
def test_member_parameter_patterns(parameter: str, good: list[str], bad: list[str]) -> None:
    pattern = MEMBER["Parameters"][parameter]["AllowedPattern"]
    assert all(re.fullmatch(pattern, value) for value in good)
    assert not any(re.fullmatch(pattern, value) for value in bad)


def test_only_a_sweep_of_the_whole_organization_may_list_its_accounts() -> None:
    policy = RESOURCES["ListAccountsPolicy"]
    assert policy["Condition"] == "SweepsWholeOrganization"
    assert DETECTOR["Conditions"]["SweepsWholeOrganization"] == {
        "Fn::And": [
            {"Condition": "IsOrganization"},
            {"Fn::Not": [{"Condition": "HasSweepAccounts"}]},
        ]
    }
    actions = {
        (lid, action)
        for lid, statement in _iam_statements(DETECTOR)
        for action in _actions(statement)
        if action.startswith("organizations:List")
    }
    assert actions == {("ListAccountsPolicy", "organizations:ListAccounts")}


ALARMS = {
    "DeadLetterQueueAlarm": {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "Dimensions": [{"Name": "QueueName", "Value": getatt("DeadLetterQueue", "QueueName")}],
    },
    "LambdaErrorsAlarm": {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "DetectorFunction"}}],
    },
    "RootAccessErrorsAlarm": {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "RootAccessFunction"}}],
    },
}


@pytest.mark.parametrize(("alarm", "expected"), ALARMS.items(), ids=list(ALARMS))
def test_alarms_fire_above_zero_to_the_topic(alarm: str, expected: dict[str, Any]) -> None:
    p = props(alarm)
    assert {key: p[key] for key in expected} == expected
    assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanThreshold", 0)
    assert p["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_alarm_topic_encrypted_and_email_optional() -> None:
    assert props("AlarmTopic")["KmsMasterKeyId"] == getatt("StackKey", "Arn")
    assert props("StackKey")["EnableKeyRotation"] is True
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_slack_secret_created_empty_only_when_not_given() -> None:
    secret = RESOURCES["SlackSecret"]
    assert secret["Condition"] == "CreateSlackSecret"
    assert "SecretString" not in secret["Properties"]
    assert "GenerateSecretString" not in secret["Properties"]
    assert DETECTOR["Conditions"]["CreateSlackSecret"] == {
        "Fn::And": [{"Condition": "UsesSlack"}, {"Fn::Not": [{"Condition": "HasSlackSecretArn"}]}]
    }


def test_ledger_table_ttl_encryption_and_recovery() -> None:
    table = props("LedgerTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_trail_and_its_bucket() -> None:
    for logical_id in ("TrailBucket", "TrailBucketPolicy", "Trail"):
        assert RESOURCES[logical_id]["Condition"] == "ShouldCreateTrail"
    trail = props("Trail")
    assert trail["EnableLogFileValidation"] is True
    assert trail["IsLogging"] is True
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True  # IAM is a global service
    assert trail["KMSKeyId"] == getatt("StackKey", "Arn")
    assert RESOURCES["Trail"]["DependsOn"] == "TrailBucketPolicy"

    bucket = props("TrailBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"

    statements = props("TrailBucketPolicy")["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"
    writes = [s for s in statements if s.get("Action") == "s3:PutObject"]
    assert writes[0]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert writes[0]["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"


def _iam_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::Policy":
            documents = [properties["PolicyDocument"]]
        for document in documents:
            found += [(logical_id, s) for s in document["Statement"]]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return list(action) if isinstance(action, list) else [action]


@pytest.mark.parametrize(
    "template", [DETECTOR, MEMBER, ROOT_ACCESS], ids=["detector", "member", "root-access"]
)
def test_wildcard_resource_only_where_aws_accepts_nothing_narrower(
    template: dict[str, Any],
) -> None:
    statements = _iam_statements(template)
    assert statements
    for logical_id, statement in statements:
        assert statement["Effect"] == "Allow", logical_id
        actions = _actions(statement)
        assert not any("*" in a for a in actions), (logical_id, actions)
        if statement["Resource"] == "*":
            assert set(actions) <= NO_RESOURCE_LEVEL, (logical_id, actions)
        if actions == ["sts:AssumeRoot"]:
            # any member account's root user, for one task policy (see the tests below)
            assert statement["Resource"] == MEMBER_ROOTS, logical_id
            assert set(statement["Condition"]) == {"ArnEquals"}, logical_id


def test_member_role_trusts_the_detector_role_and_the_interaction_role_when_given() -> None:
    detector = "arn:aws:iam::111122223333:role/detector"
    interact = "arn:aws:iam::111122223333:role/interact"
    trusted = []
    for extra in ({}, {"InteractRoleArn": interact}):
        deployment = templates.Deployment(
            MEMBER,
            {
                "CentralEventBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/central",
                "DetectorRoleArn": detector,
                **extra,
            },
            account="210987654321",
        )
        role = deployment.properties("MemberRole")
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Action"] == "sts:AssumeRole"
        trusted.append(trust["Principal"])
    assert trusted == [{"AWS": detector}, {"AWS": [detector, interact]}]


@pytest.mark.parametrize(
    "template", [DETECTOR, MEMBER, ROOT_ACCESS], ids=["detector", "member", "root-access"]
)
def test_every_checkov_skip_says_why(template: dict[str, Any]) -> None:
    for logical_id, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV"), logical_id
            assert len(skip["comment"].split()) >= 8, (logical_id, skip["id"])


# -- watching it run: the heartbeat alarm and the dashboard, tied to detector/metrics.py -------


def test_the_heartbeat_fires_after_26_hours_without_a_completed_sweep() -> None:
    deployment = templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k"})
    p = deployment.properties("HeartbeatAlarm")
    # What detector/metrics.py writes, under the dimension the handler gives it.
    assert (p["Namespace"], p["MetricName"]) == (metrics.NAMESPACE, metrics.SWEEP_COMPLETED.name)
    assert metrics.SWEEP_COMPLETED.name in metrics.emitted_names()
    assert p["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": "<DetectorFunction>"}]
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    # Every one of the last 26 hours without a sweep (missing data breaches): 26 hours.
    assert p["TreatMissingData"] == "breaching"
    assert p["Period"] * int(p["EvaluationPeriods"]) == 26 * 3600
    assert p["DatapointsToAlarm"] == p["EvaluationPeriods"]
    assert p["AlarmActions"] == p["OKActions"] == ["<AlarmTopic>"]


def test_the_heartbeat_window_stays_within_cloudwatchs_seven_days() -> None:
    # "PutMetricAlarm" (CloudWatch API Reference): Period x EvaluationPeriods at most 7 days.
    hours = DETECTOR["Parameters"]["HeartbeatHours"]
    assert hours["MinValue"] >= 1
    assert hours["MaxValue"] * props("HeartbeatAlarm")["Period"] <= 7 * 24 * 3600


def _dashboard() -> dict[str, Any]:
    deployment = templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k"})
    body: dict[str, Any] = json.loads(deployment.properties("Dashboard")["DashboardBody"])
    return body


def _dashboard_metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [
        line
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
    ]


def test_the_dashboard_shows_every_metric_the_detector_emits_and_no_other() -> None:
    lines = [line for line in _dashboard_metrics(_dashboard()) if line[0] == metrics.NAMESPACE]
    assert {line[1] for line in lines} == metrics.emitted_names()
    deployment = templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k"})
    # The interaction function's name, as the stack names it (the dashboard is drawn whether or
    # not the stack is interactive, so it cannot Ref the conditional function).
    interact = deployment.resolve(
        DETECTOR["Resources"]["InteractFunction"]["Properties"]["FunctionName"]
    )
    root_access = deployment.resolve(
        DETECTOR["Resources"]["RootAccessFunction"]["Properties"]["FunctionName"]
    )
    # Key uses and root sessions come mostly from the root access route's function, and from
    # the detector's (a key call signed with an alerted key, the sweep's last-use backstop).
    both = {metrics.KEY_USES.name, metrics.ROOT_SESSIONS.name}
    for line in lines:  # the one dimension: the deployed function that emits it
        family = line[1].split(".")[0]
        if family == metrics.KEY_REMOVALS.name:  # removal.py's metric
            emitters = {interact}
        elif family in both:
            emitters = {root_access, "<DetectorFunction>"}
        else:
            emitters = {"<DetectorFunction>"}
        assert line[2] == metrics.DIMENSION, line
        assert line[3] in emitters, line
    for name in (n for n in metrics.emitted_names() if n.split(".")[0] in both):
        shown = {line[3] for line in lines if line[1] == name}
        assert shown == {root_access, "<DetectorFunction>"}, name


def test_a_failed_key_removal_raises_the_alarm() -> None:
    deployment = templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k", **TRIAGE})
    p = deployment.properties("KeyRemovalFailedAlarm")
    name = metrics.KEY_REMOVALS.emitted_name("failed")
    assert (p["Namespace"], p["MetricName"]) == (metrics.NAMESPACE, name)
    assert name in metrics.emitted_names()
    assert p["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": "<InteractFunction>"}]
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == (
        "Sum",
        "GreaterThanThreshold",
        0,
    )
    assert p["TreatMissingData"] == "notBreaching"
    assert p["AlarmActions"] == p["OKActions"] == ["<AlarmTopic>"]
    assert not templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k"}).exists(
        "KeyRemovalFailedAlarm"
    )  # no interaction function, no removal


def test_the_dashboard_shows_the_heartbeat_alarm_by_its_arn() -> None:
    deployment = templates.Deployment(DETECTOR, {"CodeBucket": "b", "CodeKey": "k"})
    name = deployment.properties("HeartbeatAlarm")["AlarmName"]
    (widget,) = [w for w in _dashboard()["widgets"] if w["type"] == "alarm"]
    assert widget["properties"]["alarms"] == [
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    ]


def test_the_dashboards_widgets_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for widget in _dashboard()["widgets"]:
        x, y, w, h = (widget[k] for k in ("x", "y", "width", "height"))
        assert x >= 0, widget
        assert x + w <= 24, widget
        cells = {(x + i, y + j) for i in range(w) for j in range(h)}
        assert not cells & taken, widget
        taken |= cells
        assert widget["properties"].get("region", "us-east-1") == "us-east-1"


# -- centralized root access ------------------------------------------------------------------
# "Actions, resources, and condition keys for AWS Security Token Service": sts:AssumeRoot's
# resource type is root-user (arn:${Partition}:iam::${Account}:root), its one condition key
# sts:TaskPolicyArn (an ARN).
MEMBER_ROOTS = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:root"}
AUDIT_ROLE = "arn:aws:iam::999988887777:role/root-key-detector-root-audit"
REMOVAL_ROLE = "arn:aws:iam::999988887777:role/root-key-detector-root-removal"
ORG = {"OrganizationId": "o-exampleorg1"}
TRIAGE = {
    "SlackChannelId": "C0SECALERTS",
    "SlackInteractivity": "true",
    "SlackTeamId": "T0SANDBOX",
    "SlackResponders": "U0ALICE",
}
ROOT_ACCESS_RESOURCES = [
    "RootAuditPolicy",
    "RootAccessRolePolicy",
    "InteractRootDeletePolicy",
    "InteractRootAccessRolePolicy",
    "DefaultBusRootAccessRule",
    "DefaultBusRootAccessRulePermission",
    "CentralBusRootAccessRule",
    "CentralBusRootAccessRulePermission",
    "RootAccessFunction",
    "RootAccessLogGroup",
    "RootAccessLogsPolicy",
    "RootAccessInvokeConfig",
    "RootAccessErrorsAlarm",
]
ROOT_ACCESS_VARIABLES = {
    "CENTRALIZED_ROOT_ACCESS",
    "ROOT_ACCESS_ROLE_ARN",
    "ROOT_KEY_REMOVAL",
    "ROOT_KEY_REMOVAL_DRY_RUN",
}


def _deployment(**parameters: str) -> templates.Deployment:
    return templates.Deployment(
        DETECTOR,
        {"CodeBucket": "b", "CodeKey": "k", "SlackChannelId": "C0SECALERTS", **parameters},
        resources={"LedgerTable": "ledger", "SlackSecret": "slack", "SigningSecret": "signing"},
    )


def _assume_grants(deployment: templates.Deployment) -> dict[str, list[dict[str, Any]]]:
    """Role -> its sts:AssumeRoot statements and its sts:AssumeRole ones but the member role's."""
    out: dict[str, list[dict[str, Any]]] = {}
    for grant in templates.grants(deployment):
        member_role = grant.statement.get("Sid") == "AssumeMemberRole"
        if grant.action == "sts:AssumeRoot" or (
            grant.action == "sts:AssumeRole" and not member_role
        ):
            out.setdefault(grant.role, []).append(grant.statement)
    return out


def _assume_root(task: str) -> dict[str, Any]:
    return {
        "Action": "sts:AssumeRoot",
        "Resource": "arn:aws:iam::*:root",
        "Condition": {"ArnEquals": {"sts:TaskPolicyArn": task}},
    }


def _assume_role(arn: str) -> dict[str, Any]:
    return {"Action": "sts:AssumeRole", "Resource": arn}


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({**ORG, **TRIAGE}, {}),
        (
            {**ORG, **TRIAGE, "CentralizedRootAccess": "true"},
            {"DetectorRole": [_assume_root(AUDIT_TASK_POLICY)]},
        ),
        (  # a dry run (the default) never opens a root session: no right to
            {**ORG, **TRIAGE, "CentralizedRootAccess": "true", "RootKeyRemoval": "true"},
            {"DetectorRole": [_assume_root(AUDIT_TASK_POLICY)]},
        ),
        (
            {
                **ORG,
                **TRIAGE,
                "CentralizedRootAccess": "true",
                "RootKeyRemoval": "true",
                "RootKeyRemovalDryRun": "false",
            },
            {
                "DetectorRole": [_assume_root(AUDIT_TASK_POLICY)],
                "InteractRole": [_assume_root(DELETE_TASK_POLICY)],
            },
        ),
        (
            {**ORG, **TRIAGE, "CentralizedRootAccess": "true", "RootAccessRoleArn": AUDIT_ROLE},
            {"DetectorRole": [_assume_role(AUDIT_ROLE)]},
        ),
        (
            {
                **ORG,
                **TRIAGE,
                "CentralizedRootAccess": "true",
                "RootAccessRoleArn": AUDIT_ROLE,
                "RootKeyRemoval": "true",
                "RootKeyRemovalDryRun": "false",
                "RootRemovalRoleArn": REMOVAL_ROLE,
            },
            {
                "DetectorRole": [_assume_role(AUDIT_ROLE)],
                "InteractRole": [_assume_role(REMOVAL_ROLE)],
            },
        ),
    ],
    ids=[
        "off",
        "audit",
        "audit-and-dry-run",
        "audit-and-removal",
        "through-the-audit-role",
        "through-both-roles",
    ],
)
def test_each_role_may_open_root_sessions_for_its_own_task_only(
    parameters: dict[str, str], expected: dict[str, list[dict[str, Any]]]
) -> None:
    got = _assume_grants(_deployment(**parameters))
    assert {
        role: [{k: s[k] for k in ("Action", "Resource", "Condition") if k in s} for s in stmts]
        for role, stmts in got.items()
    } == expected


def test_the_task_policies_are_the_codes() -> None:
    # The template names the same task policies detector/domain/root_access.py calls AssumeRoot
    # with, in the partition the stack is in.
    for logical_id, task in (
        ("RootAuditPolicy", AUDIT_TASK_POLICY),
        ("InteractRootDeletePolicy", DELETE_TASK_POLICY),
    ):
        (statement,) = props(logical_id)["PolicyDocument"]["Statement"]
        wanted = task.replace("arn:aws:", "arn:${AWS::Partition}:")
        assert statement["Condition"] == {"ArnEquals": {"sts:TaskPolicyArn": {"Fn::Sub": wanted}}}
    for logical_id, task in (("AuditRole", AUDIT_TASK_POLICY), ("RemovalRole", DELETE_TASK_POLICY)):
        (policy,) = props(logical_id, ROOT_ACCESS)["Policies"]
        (statement,) = policy["PolicyDocument"]["Statement"]
        wanted = task.replace("arn:aws:", "arn:${AWS::Partition}:")
        assert statement["Condition"] == {"ArnEquals": {"sts:TaskPolicyArn": {"Fn::Sub": wanted}}}


def test_centralized_root_access_is_off_by_default_and_then_creates_and_sets_nothing() -> None:
    deployment = _deployment(**ORG, **TRIAGE)
    assert [r for r in ROOT_ACCESS_RESOURCES if deployment.exists(r)] == []
    for function in ("DetectorFunction", "InteractFunction"):
        env = deployment.properties(function)["Environment"]["Variables"]
        assert ROOT_ACCESS_VARIABLES.isdisjoint(env), function
    assert not _member().exists("ForwardRootAccessRule")


def _settings(deployment: templates.Deployment, function: str) -> Settings:
    env = {
        k: str(v) for k, v in deployment.properties(function)["Environment"]["Variables"].items()
    }
    return Settings.from_env({**env, "AWS_REGION": "us-east-1"})


@pytest.mark.parametrize(
    ("parameters", "detector", "interact"),
    [
        (
            {**ORG, **TRIAGE, "CentralizedRootAccess": "true"},
            RootAccess(None),
            RootAccess(None),
        ),
        (
            {
                **ORG,
                **TRIAGE,
                "CentralizedRootAccess": "true",
                "RootKeyRemoval": "true",
                "RootKeyRemovalDryRun": "false",
            },
            RootAccess(None, removal=True, removal_dry_run=False),
            RootAccess(None, removal=True, removal_dry_run=False),
        ),
        (
            {
                **ORG,
                **TRIAGE,
                "CentralizedRootAccess": "true",
                "RootAccessRoleArn": AUDIT_ROLE,
                "RootKeyRemoval": "true",
                "RootRemovalRoleArn": REMOVAL_ROLE,
            },
            RootAccess(AUDIT_ROLE, removal=True),
            RootAccess(REMOVAL_ROLE, removal=True),
        ),
    ],
    ids=["audit", "removal", "through-roles"],
)
def test_each_function_reads_the_root_access_its_role_may_use(
    parameters: dict[str, str], detector: RootAccess, interact: RootAccess
) -> None:
    deployment = _deployment(**parameters)
    assert _settings(deployment, "DetectorFunction").root_access == detector
    assert _settings(deployment, "InteractFunction").root_access == interact
    # The root access function runs the detector's code with the detector's settings.
    assert _settings(deployment, "RootAccessFunction") == _settings(deployment, "DetectorFunction")


@pytest.mark.parametrize(
    ("parameters", "refusal"),
    [
        ({"CentralizedRootAccess": "true"}, "CentralizedRootAccessNeedsOrganization"),
        ({**ORG, "RootAccessRoleArn": AUDIT_ROLE}, "RootAccessRoleNeedsCentralizedRootAccess"),
        (
            {**ORG, **TRIAGE, "RootKeyRemoval": "true"},
            "RootKeyRemovalNeedsRootAccessAndInteractivity",
        ),
        (
            {**ORG, "CentralizedRootAccess": "true", "RootKeyRemoval": "true"},
            "RootKeyRemovalNeedsRootAccessAndInteractivity",
        ),
        (
            {
                **ORG,
                **TRIAGE,
                "CentralizedRootAccess": "true",
                "RootAccessRoleArn": AUDIT_ROLE,
                "RootKeyRemoval": "true",
            },
            "RootRemovalRoleWithTheAuditRole",
        ),
        (
            {**ORG, **TRIAGE, "CentralizedRootAccess": "true", "RootRemovalRoleArn": REMOVAL_ROLE},
            "RootRemovalRoleOnlyForRemovalThroughRoles",
        ),
    ],
    ids=str,
)
def test_the_stack_refuses_root_access_settings_that_do_not_fit(
    parameters: dict[str, str], refusal: str
) -> None:
    deploy = templates.infra_script("deploy")
    given = {
        "CodeBucket": "artifacts",
        "CodeKey": "k",
        "SlackChannelId": "C0SECALERTS",
        **parameters,
    }
    problems = deploy.parameter_problems(DETECTOR, given)
    assert problems
    assert all(p.startswith(f"rule {refusal}:") for p in problems), problems


def test_the_root_access_settings_that_fit_pass() -> None:
    deploy = templates.infra_script("deploy")
    base = {
        "CodeBucket": "artifacts",
        "CodeKey": "k",
        **ORG,
        **TRIAGE,
        "CentralizedRootAccess": "true",
    }
    for extra in (
        {},
        {"RootKeyRemoval": "true"},
        {"RootAccessRoleArn": AUDIT_ROLE},
        {
            "RootAccessRoleArn": AUDIT_ROLE,
            "RootKeyRemoval": "true",
            "RootRemovalRoleArn": REMOVAL_ROLE,
        },
    ):
        assert deploy.parameter_problems(DETECTOR, {**base, **extra}) == [], extra


# -- centralized root access: its own function (security review: a flood of read-only root
# calls must not take the executions a root CreateAccessKey alert needs) ----------------------
ROOT_RULES = ("DefaultBusRootAccessRule", "CentralBusRootAccessRule")
KEY_RULES = ("DefaultBusRule", "CentralBusRule", "SweepScheduleRule")


def _targets_and_invokers(
    deployment: templates.Deployment,
) -> tuple[dict[str, str], dict[str, str]]:
    """Each rule's one target, and each Lambda permission's function, by rule."""
    targets, invokers = {}, {}
    for lid in templates.resources_of_type(DETECTOR, "AWS::Events::Rule"):
        if deployment.exists(lid):
            (target,) = deployment.properties(lid)["Targets"]
            targets[lid] = target["Arn"]
    for lid in templates.resources_of_type(DETECTOR, "AWS::Lambda::Permission"):
        permission = deployment.properties(lid) if deployment.exists(lid) else {}
        if permission.get("Principal") == "events.amazonaws.com":
            invokers[permission["SourceArn"].strip("<>").removesuffix(".Arn")] = permission[
                "FunctionName"
            ]
    return targets, invokers


def test_the_root_access_rules_invoke_their_own_function_with_retries_and_the_dlq() -> None:
    deployment = _deployment(**ORG, CentralizedRootAccess="true")
    for rule in ROOT_RULES:
        (target,) = deployment.properties(rule)["Targets"]
        assert target == {
            "Id": "root-access",
            "Arn": "<RootAccessFunction.Arn>",
            "RetryPolicy": {"MaximumRetryAttempts": 24, "MaximumEventAgeInSeconds": 3600},
            "DeadLetterConfig": {"Arn": "<DeadLetterQueue.Arn>"},
        }
        permission = deployment.properties(f"{rule}Permission")
        assert permission == {
            "FunctionName": "<RootAccessFunction>",
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceArn": f"<{rule}.Arn>",
        }
    assert deployment.properties("CentralBusRootAccessRule")["EventBusName"] == "<CentralBus.Name>"
    assert "EventBusName" not in deployment.properties("DefaultBusRootAccessRule")


@pytest.mark.parametrize(
    "parameters",
    [{**ORG, "CentralizedRootAccess": "true"}, {**ORG, **TRIAGE, "CentralizedRootAccess": "true"}],
    ids=["organization", "with-triage"],
)
def test_only_the_root_access_rules_invoke_the_root_access_function(
    parameters: dict[str, str],
) -> None:
    """The key events and the sweep stay on the detector; the root access function takes the
    root access rules and nothing else, and only they may invoke it."""
    targets, invokers = _targets_and_invokers(_deployment(**parameters))
    for rule in KEY_RULES:
        assert (targets[rule], invokers[rule]) == ("<DetectorFunction.Arn>", "<DetectorFunction>")
    for rule in ROOT_RULES:
        assert (targets[rule], invokers[rule]) == (
            "<RootAccessFunction.Arn>",
            "<RootAccessFunction>",
        )
    assert {r for r, arn in targets.items() if arn == "<RootAccessFunction.Arn>"} == set(ROOT_RULES)
    assert {r for r, fn in invokers.items() if fn == "<RootAccessFunction>"} == set(ROOT_RULES)


def test_without_root_access_the_detector_alone_is_invoked() -> None:
    deployment = _deployment(**ORG)
    targets, invokers = _targets_and_invokers(deployment)
    assert set(targets) == set(invokers) == set(KEY_RULES)
    assert set(targets.values()) == {"<DetectorFunction.Arn>"}
    assert not deployment.exists("RootAccessFunction")


def test_the_root_access_function_is_the_detector_with_its_own_logs_and_concurrency() -> None:
    root, detector = props("RootAccessFunction"), props("DetectorFunction")
    assert RESOURCES["RootAccessFunction"]["Condition"] == "UsesRootAccess"
    same = ("Runtime", "Architectures", "Handler", "Code", "Role", "MemorySize", "Timeout")
    assert {k: root[k] for k in same} == {k: detector[k] for k in same}
    assert root["Handler"] == "detector.handler.lambda_handler"
    assert root["Role"] == getatt("DetectorRole", "Arn")
    # The environment word for word, but for the flag the function's own condition already holds.
    root_env, detector_env = root["Environment"]["Variables"], detector["Environment"]["Variables"]
    assert {k: v for k, v in root_env.items() if k != "CENTRALIZED_ROOT_ACCESS"} == {
        k: v for k, v in detector_env.items() if k != "CENTRALIZED_ROOT_ACCESS"
    }
    assert root_env["CENTRALIZED_ROOT_ACCESS"] == {"Ref": "CentralizedRootAccess"}
    # Its own log group, kept as long as the detector's.
    assert root["LoggingConfig"] == {"LogGroup": {"Ref": "RootAccessLogGroup"}, "LogFormat": "Text"}
    assert RESOURCES["RootAccessLogGroup"]["Condition"] == "UsesRootAccess"
    assert props("RootAccessLogGroup") == props("LogGroup")
    assert RESOURCES["RootAccessLogGroup"]["DeletionPolicy"] == "Retain"
    # The same asynchronous failure handling as the detector: retried, then dead-lettered.
    config, detector_config = props("RootAccessInvokeConfig"), props("DetectorInvokeConfig")
    assert config["FunctionName"] == {"Ref": "RootAccessFunction"}
    assert {k: v for k, v in config.items() if k != "FunctionName"} == {
        k: v for k, v in detector_config.items() if k != "FunctionName"
    }


def test_the_detectors_role_writes_the_root_access_functions_log_group_only_with_it() -> None:
    deployment = _deployment(**ORG, CentralizedRootAccess="true")
    (statement,) = deployment.properties("RootAccessLogsPolicy")["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:<RootAccessLogGroup>:*"
    )
    assert RESOURCES["RootAccessLogsPolicy"]["Properties"]["Roles"] == [{"Ref": "DetectorRole"}]
    assert not _deployment(**ORG).exists("RootAccessLogsPolicy")


@pytest.mark.parametrize(
    ("parameters", "detector", "root_access"),
    [
        ({}, 5, 2),
        ({"RootAccessReservedConcurrency": "10"}, 5, 10),
        ({"RootAccessReservedConcurrency": "0"}, 5, None),
        ({"ReservedConcurrency": "0"}, None, None),
    ],
    ids=["defaults", "raised", "root-access-none", "none-at-all"],
)
def test_the_root_access_function_reserves_its_own_executions(
    parameters: dict[str, str], detector: int | None, root_access: int | None
) -> None:
    deployment = _deployment(**ORG, CentralizedRootAccess="true", **parameters)

    def reserved(function: str) -> int | None:
        value = deployment.properties(function).get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    assert (reserved("DetectorFunction"), reserved("RootAccessFunction")) == (
        detector,
        root_access,
    )
    parameter = DETECTOR["Parameters"]["RootAccessReservedConcurrency"]
    assert (parameter["Default"], parameter["MinValue"]) == (2, 0)
    assert parameter["MaxValue"] == DETECTOR["Parameters"]["ReservedConcurrency"]["MaxValue"]


def test_the_root_access_function_is_named_in_the_outputs() -> None:
    outputs = DETECTOR["Outputs"]
    assert outputs["RootAccessFunctionName"] == {
        "Condition": "UsesRootAccess",
        "Description": outputs["RootAccessFunctionName"]["Description"],
        "Value": {"Ref": "RootAccessFunction"},
    }
    assert outputs["RootAccessLogGroupName"]["Value"] == {"Ref": "RootAccessLogGroup"}
    assert outputs["RootAccessLogGroupName"]["Condition"] == "UsesRootAccess"


def test_root_access_yaml_trusts_one_role_for_each_task() -> None:
    detector_role = "arn:aws:iam::111122223333:role/root-key-detector-DetectorRole-EXAMPLE"
    interact_role = "arn:aws:iam::111122223333:role/root-key-detector-InteractRole-EXAMPLE"
    alone = templates.Deployment(ROOT_ACCESS, {"DetectorRoleArn": detector_role})
    assert not alone.exists("RemovalRole")
    both = templates.Deployment(
        ROOT_ACCESS, {"DetectorRoleArn": detector_role, "InteractRoleArn": interact_role}
    )
    for role, principal in (("AuditRole", detector_role), ("RemovalRole", interact_role)):
        (trust,) = both.properties(role)["AssumeRolePolicyDocument"]["Statement"]
        assert trust == {
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
        }
    assert {g.role: g.action for g in templates.grants(both)} == {
        "AuditRole": "sts:AssumeRoot",
        "RemovalRole": "sts:AssumeRoot",
    }
    assert ROOT_ACCESS["Rules"]["UsEast1Only"]["Assertions"][0]["Assert"] == {
        "Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]
    }
    # The central stack's parameters take root-access.yaml's role ARNs (default names).
    for name in ("RootAccessRoleArn", "RootRemovalRoleArn"):
        pattern = DETECTOR["Parameters"][name]["AllowedPattern"]
        assert re.search(pattern, AUDIT_ROLE)
        assert re.search(pattern, REMOVAL_ROLE)
        assert re.search(pattern, "")
        assert not re.search(pattern, "root-key-detector-root-audit")
