"""make plan / make deploy (infra/deploy.py) against a stub AWS CLI (tests/infra/stub_aws.py):
the change set created and printed, never executed by plan; tags and the service role passed;
every parameter the template would refuse reported before anything is uploaded; the CLI's own
credential error shown. No real AWS: the stub records each call and answers canned JSON."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.infra import stub_aws, templates

ROOT = Path(__file__).resolve().parents[2]
deploy = templates.infra_script("deploy")

IDENTITY = {
    "UserId": "AROAEXAMPLE:me",
    "Account": "123456789012",
    "Arn": "arn:aws:sts::123456789012:assumed-role/SecurityAdmin/me",
}
NO_STACK = {
    "rc": 254,
    "stderr": "\nAn error occurred (ValidationError) when calling the DescribeStacks operation: "
    "Stack with id rkd does not exist\n",
}
CHANGES = [
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Add",
            "LogicalResourceId": "DetectorFunction",
            "ResourceType": "AWS::Lambda::Function",
            "Scope": [],
            "Details": [],
        },
    },
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "HeartbeatAlarm",
            "ResourceType": "AWS::CloudWatch::Alarm",
            "Replacement": "False",
            "Scope": ["Properties"],
            "Details": [{"Target": {"Attribute": "Properties", "Name": "EvaluationPeriods"}}],
        },
    },
]
ROLE = "arn:aws:iam::123456789012:role/cfn-deployer"
EXPIRED_SSO = "\nError when retrieving token from sso: Token has expired and refresh failed\n"


def complete(changes: list[dict[str, Any]] = CHANGES, **extra: Any) -> dict[str, Any]:
    return {
        "stdout": {
            "ChangeSetName": "make-x",
            "StackName": "rkd",
            "Status": "CREATE_COMPLETE",
            "Changes": changes,
            "Tags": [{"Key": "team", "Value": "sec"}],
            **extra,
        }
    }


def scenario(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sts get-caller-identity": {"stdout": IDENTITY},
        "s3 cp": {"stdout": ""},
        "cloudformation describe-stacks": NO_STACK,
        "cloudformation create-change-set": {"stdout": {"Id": "arn:cs", "StackId": "arn:stack"}},
        "cloudformation describe-change-set": [
            {"stdout": {"Status": "CREATE_PENDING"}},
            complete(),
        ],
    }
    return {**base, **overrides}


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install the stub with a scenario; returns a function giving the calls made so far."""
    bin_dir = tmp_path / "bin"

    def install(answers: dict[str, Any]) -> Path:
        scenario_path, log = stub_aws.install(bin_dir, answers)
        monkeypatch.setenv("STUB_AWS_SCENARIO", str(scenario_path))
        monkeypatch.setenv("STUB_AWS_LOG", str(log))
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setattr(deploy, "POLL_S", 0.0)
        return log

    return install


def args(command: str, zip_path: Path | None, *extra: str, **params: str) -> list[str]:
    out = [command, "--stack-name", "rkd", "--bucket", "my-artifacts", "--prefix", "rkd"]
    if zip_path is not None:
        out += ["--zip", str(zip_path)]
    defaults = {"SlackMode": "bot", "SlackChannelId": "C0SECALERTS"}
    for key, value in {**defaults, **params}.items():
        out += ["--parameter", f"{key}={value}"]
    return [*out, *extra]


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "lambda.zip"
    path.write_bytes(b"PK not really a zip")
    return path


def _option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def test_make_plan_uploads_the_zip_creates_the_change_set_prints_it_and_executes_nothing(
    tmp_path: Path, stub: Any
) -> None:
    log = stub(scenario())
    out_zip = tmp_path / "dist" / "lambda.zip"
    proc = subprocess.run(  # noqa: S603 - make with this test's own arguments
        [  # noqa: S607 - make from PATH, as a user runs it
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "plan",
            "STACK_NAME=rkd",
            "ARTIFACT_BUCKET=my-artifacts",
            "ARTIFACT_PREFIX=rkd",
            "SLACK_CHANNEL_ID=C0SECALERTS",
            "TAGS=team=sec cost-center=42",
            f"CFN_ROLE_ARN={ROLE}",
            f"LAMBDA_ZIP={out_zip}",
            f"PACKAGE_BUILD_DIR={tmp_path / 'build'}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    calls = stub_aws.calls(log)
    ops = [" ".join(c[:2]) for c in calls]
    assert "cloudformation execute-change-set" not in ops
    # Credentials before anything else; the zip uploaded before the change set names it.
    assert ops[0] == "sts get-caller-identity"
    assert ops.index("s3 cp") < ops.index("cloudformation create-change-set")
    uploads = [c for c in calls if c[:2] == ["s3", "cp"]]
    (upload,) = [c for c in uploads if c[3] == str(out_zip)]
    # A template over CreateChangeSet's 51,200-byte TemplateBody goes through S3 too.
    big = (ROOT / "infra" / "detector.yaml").stat().st_size > 51_200
    assert len(uploads) == 1 + big
    digest = hashlib.sha256(out_zip.read_bytes()).hexdigest()
    assert upload[3:5] == [str(out_zip), f"s3://my-artifacts/rkd/lambda-{digest}.zip"]
    (create,) = [c for c in calls if c[:2] == ["cloudformation", "create-change-set"]]
    assert _option(create, "--change-set-type") == "CREATE"
    assert _option(create, "--region") == "us-east-1"
    assert json.loads(_option(create, "--tags")) == [
        {"Key": "team", "Value": "sec"},
        {"Key": "cost-center", "Value": "42"},
    ]
    assert _option(create, "--role-arn") == ROLE
    parameters = {
        p["ParameterKey"]: p["ParameterValue"] for p in json.loads(_option(create, "--parameters"))
    }
    assert parameters["CodeBucket"] == "my-artifacts"
    assert parameters["CodeKey"] == f"rkd/lambda-{digest}.zip"
    assert parameters["HeartbeatHours"] == "26"
    # Printed for a reviewer: one line per resource, and how to apply it.
    assert re.search(r"Add\s+DetectorFunction\s+AWS::Lambda::Function", proc.stdout)
    assert re.search(
        r"Modify\s+HeartbeatAlarm\s+AWS::CloudWatch::Alarm\s+False\s+EvaluationPeriods", proc.stdout
    )
    assert "Not executed" in proc.stdout
    assert "aws cloudformation execute-change-set" in proc.stdout


def test_an_expired_sso_token_reads_as_such_and_nothing_is_uploaded(
    stub: Any, zip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = stub(scenario(**{"sts get-caller-identity": {"rc": 255, "stderr": EXPIRED_SSO}}))
    assert deploy.main(args("deploy", zip_path)) == 1
    err = capsys.readouterr().err
    assert "Token has expired and refresh failed" in err  # the CLI's own words
    assert "aws sso login" in err
    assert [c[:2] for c in stub_aws.calls(log)] == [["sts", "get-caller-identity"]]


def test_every_parameter_the_template_would_refuse_is_named_before_any_call(
    stub: Any, zip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = stub(scenario())
    status = deploy.main(
        args(
            "plan",
            zip_path,
            SlackChannelId="general",  # AllowedPattern
            FunctionTimeout="301",  # AllowedValues
            SweepConcurrency="0",  # MinValue
            FunctionMemory="lots",  # Number
            HeartbeatHours="200",  # MaxValue
            LogLevel="TRACE",  # AllowedValues
            Nonsense="1",  # not a parameter
        )
    )
    assert status == 1
    err = capsys.readouterr().err
    for expected in (
        "SlackChannelId (make variable SLACK_CHANNEL_ID)='general': does not match AllowedPattern",
        "FunctionTimeout (make variable FUNCTION_TIMEOUT)='301': is not one of AllowedValues",
        "SweepConcurrency (make variable SWEEP_CONCURRENCY)='0': is less than MinValue 1",
        "FunctionMemory (make variable FUNCTION_MEMORY)='lots': is not a number",
        "HeartbeatHours (make variable HEARTBEAT_HOURS)='200': is more than MaxValue 168",
        "LogLevel (make variable LOG_LEVEL)='TRACE': is not one of AllowedValues",
        "Nonsense: the template has no such parameter",
        "nothing was uploaded",
    ):
        assert expected in err
    assert stub_aws.calls(log) == []


def test_a_missing_bucket_names_its_make_variable(
    stub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stub(scenario())
    argv = ["check", "--stack-name", "rkd", "--parameter", "SlackChannelId=C0SECALERTS"]
    assert deploy.main(argv) == 1
    assert "CodeBucket (make variable ARTIFACT_BUCKET): needs a value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"SlackMode": "bot", "SlackChannelId": ""}, "BotModeNeedsChannel"),
        ({"SweepAccounts": "111122223333"}, "SweepAccountsNeedOrganization"),
    ],
)
def test_the_templates_rules_are_checked_too(
    stub: Any, zip_path: Path, params: dict[str, str], rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log = stub(scenario())
    assert deploy.main(args("plan", zip_path, **params)) == 1
    assert f"rule {rule}:" in capsys.readouterr().err
    assert stub_aws.calls(log) == []


def test_an_update_keeps_what_it_does_not_set_and_an_unchanged_stack_says_so(
    stub: Any, zip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = {
        "StackName": "rkd",
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": "LogRetentionDays", "ParameterValue": "731"},
            {"ParameterKey": "SlackMode", "ParameterValue": "bot"},
            {"ParameterKey": "Retired", "ParameterValue": "x"},  # no longer in the template
        ],
    }
    no_changes = {
        "stdout": {
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes. Submit different "
            "information to create a change set.",
        }
    }
    log = stub(
        scenario(
            **{
                "cloudformation describe-stacks": {"stdout": {"Stacks": [stack]}},
                "cloudformation describe-change-set": no_changes,
                "cloudformation delete-change-set": {"stdout": ""},
            }
        )
    )
    assert deploy.main(args("deploy", zip_path)) == 0
    assert "No changes" in capsys.readouterr().out
    calls = stub_aws.calls(log)
    (create,) = [c for c in calls if c[:2] == ["cloudformation", "create-change-set"]]
    assert _option(create, "--change-set-type") == "UPDATE"
    kept = [p for p in json.loads(_option(create, "--parameters")) if p.get("UsePreviousValue")]
    assert kept == [{"ParameterKey": "LogRetentionDays", "UsePreviousValue": True}]
    ops = [" ".join(c[:2]) for c in calls]
    assert "cloudformation delete-change-set" in ops
    assert "cloudformation execute-change-set" not in ops


def test_deploy_executes_the_change_set_and_waits_for_the_stack(
    stub: Any, zip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    created = {
        "StackName": "rkd",
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "DashboardUrl", "OutputValue": "https://example/dash"}],
    }
    log = stub(
        scenario(
            **{
                "cloudformation describe-stacks": [
                    NO_STACK,
                    {"stdout": {"Stacks": [created]}},
                ],
                "cloudformation execute-change-set": {"stdout": ""},
                "cloudformation wait": {"stdout": ""},
            }
        )
    )
    assert deploy.main(args("deploy", zip_path)) == 0
    calls = stub_aws.calls(log)
    (execute,) = [c for c in calls if c[:2] == ["cloudformation", "execute-change-set"]]
    (wait,) = [c for c in calls if c[:2] == ["cloudformation", "wait"]]
    assert wait[2] == "stack-create-complete"
    assert calls.index(execute) < calls.index(wait)
    out = capsys.readouterr().out
    assert "DashboardUrl: https://example/dash" in out
    assert "heartbeat alarm stays in ALARM until the first sweep" in out  # a new stack


def test_without_the_aws_cli_make_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no aws here
    assert deploy.main(args("check", None)) == 1
    assert "the AWS CLI ('aws') is not installed" in capsys.readouterr().err


def test_a_failed_stack_points_at_its_events(
    stub: Any, zip_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub(
        scenario(
            **{
                "cloudformation execute-change-set": {"stdout": ""},
                "cloudformation wait": {
                    "rc": 255,
                    "stderr": "Waiter StackCreateComplete failed: Waiter encountered a terminal "
                    "failure state: ROLLBACK_COMPLETE",
                },
            }
        )
    )
    assert deploy.main(args("deploy", zip_path)) == 1
    err = capsys.readouterr().err
    assert "ROLLBACK_COMPLETE" in err
    assert "describe-stack-events" in err


def test_every_make_variable_reaches_its_parameter() -> None:
    """infra.mk passes each parameter from the variable deploy.py names in its messages."""
    text = (ROOT / "infra" / "infra.mk").read_text()
    passed = dict(re.findall(r"--parameter '(\w+)=\$\((\w+)\)'", text))
    assert passed == {k: v for k, v in deploy.VARIABLES.items() if k != "CodeBucket"}
    assert "--bucket '$(ARTIFACT_BUCKET)'" in text
    declared = deploy.load_template()["Parameters"]
    # Every parameter without a default is set by make.
    assert {n for n, p in declared.items() if "Default" not in p} <= {
        *passed,
        "CodeBucket",
        "CodeKey",
    }
    assert set(passed) <= set(declared)


def test_the_default_parameters_pass_the_templates_own_check() -> None:
    template = deploy.load_template()
    given = {"CodeBucket": "my-artifacts", "CodeKey": "k", "SlackChannelId": "C0SECALERTS"}
    assert deploy.parameter_problems(template, given) == []
    assert deploy.parameter_problems(template, given, region="eu-west-1") == [
        "rule UsEast1Only: Deploy root-key-detector in us-east-1: IAM is a global service and its "
        "CloudTrail events reach EventBridge only in us-east-1, so a stack in any other region "
        "would never fire."
    ]


_key = st.text(st.characters(exclude_characters="="), min_size=1, max_size=20).filter(
    lambda k: not any(c.isspace() for c in k)
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_tags_text_parses_or_is_refused_with_a_message(text: str) -> None:
    try:
        tags = deploy.parse_tags(text)
    except deploy.DeployError as exc:
        message = str(exc)
        tags = None
    if tags is None:
        assert message.startswith("TAGS:")
        return
    assert len(tags) == len(text.split())
    for tag, item in zip(tags, text.split(), strict=True):
        assert f"{tag['Key']}={tag['Value']}" == item
        assert not tag["Key"].lower().startswith("aws:")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_key.filter(lambda k: not k.lower().startswith("aws:")), _key, max_size=10))
def test_tags_round_trip(tags: dict[str, str]) -> None:
    text = " ".join(f"{k}={v}" for k, v in tags.items())
    assert deploy.parse_tags(text) == [{"Key": k, "Value": v} for k, v in tags.items()]
