"""`make plan` and `make deploy`: a CloudFormation change set of infra/detector.yaml, through the
AWS CLI.

Both first check, before anything is built or uploaded, every parameter against what the
template declares (AllowedPattern, AllowedValues, MinLength/MaxLength, MinValue/MaxValue, its
Rules), then the CLI's credentials (its own error shown as it is: an expired SSO token reads as
such). Then they upload the Lambda zip (content-addressed, so uploading it again changes nothing)
and create a change set: ``plan`` prints it and stops, for change control to review and run
later with ``aws cloudformation execute-change-set``; ``deploy`` prints it, executes it and
waits. ``TAGS`` tag the stack and, through CloudFormation, its resources; ``CFN_ROLE_ARN`` is
the service role CloudFormation acts with.

Usage: python infra/deploy.py {check,plan,deploy} --stack-name NAME --bucket BUCKET
           [--prefix P] [--zip dist/lambda.zip] [--tags "k=v k2=v2"] [--role-arn ARN]
           [--parameter Key=Value ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
TEMPLATE = Path(__file__).resolve().parent / "detector.yaml"
# "CreateChangeSet" (CloudFormation API Reference): TemplateBody is at most 51,200 bytes; a
# larger template goes through S3 (TemplateURL).
MAX_TEMPLATE_BODY = 51_200
# "Tag" (CloudFormation API Reference): key 1-128 characters, value 0-256, no "aws:" prefix;
# a stack carries at most 50 tags.
MAX_TAGS = 50
POLL_S = 2.0  # between DescribeChangeSet calls while CloudFormation computes the change set
# The make variable behind each parameter (infra/infra.mk), so that an error names what to set.
VARIABLES = {
    "CodeBucket": "ARTIFACT_BUCKET",
    "SlackMode": "SLACK_MODE",
    "SlackChannelId": "SLACK_CHANNEL_ID",
    "SlackSecretArn": "SLACK_SECRET_ARN",
    "OrganizationId": "ORGANIZATION_ID",
    "MemberRoleName": "MEMBER_ROLE_NAME",
    "ForwardRoleName": "FORWARD_ROLE_NAME",
    "AlarmEmail": "ALARM_EMAIL",
    "HeartbeatHours": "HEARTBEAT_HOURS",
    "CreateTrail": "CREATE_TRAIL",
    "ReservedConcurrency": "RESERVED_CONCURRENCY",
    "LogLevel": "LOG_LEVEL",
    "FindingSeverity": "FINDING_SEVERITY",
    "SlackInteractivity": "SLACK_INTERACTIVITY",
    "SlackSigningSecretArn": "SLACK_SIGNING_SECRET_ARN",
    "SlackTeamId": "SLACK_TEAM_ID",
    "SlackResponders": "SLACK_RESPONDERS",
    "SlackResponderGroup": "SLACK_RESPONDER_GROUP",
    "ScheduleExpression": "SCHEDULE_EXPRESSION",
    "SweepAccounts": "SWEEP_ACCOUNTS",
    "SweepConcurrency": "SWEEP_CONCURRENCY",
    "FunctionTimeout": "FUNCTION_TIMEOUT",
    "FunctionMemory": "FUNCTION_MEMORY",
    "CentralizedRootAccess": "CENTRALIZED_ROOT_ACCESS",
    "RootAccessRoleArn": "ROOT_ACCESS_ROLE_ARN",
    "RootRemovalRoleArn": "ROOT_REMOVAL_ROLE_ARN",
    "RootKeyRemoval": "ROOT_KEY_REMOVAL",
    "RootKeyRemovalDryRun": "ROOT_KEY_REMOVAL_DRY_RUN",
    "RootAccessReservedConcurrency": "ROOT_ACCESS_RESERVED_CONCURRENCY",
}
# What `make deploy` computes itself: not a make variable.
COMPUTED = {"CodeKey"}
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


class DeployError(Exception):
    """What stops a plan or deploy, said for the person running make."""


# -- the template's own rules --------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Reads a CloudFormation template: a short-form tag becomes its long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):  # !GetAtt Name.Attr
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data (intrinsic functions in their long form)."""
    doc: dict[str, Any] = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader
    return doc


def _label(name: str) -> str:
    variable = VARIABLES.get(name)
    return f"{name} (make variable {variable})" if variable else name


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parameter_problems(
    template: dict[str, Any], given: dict[str, str], *, region: str = REGION
) -> list[str]:
    """Every reason CloudFormation would refuse ``given`` for ``template`` ("Parameters" and
    "Rules" in the CloudFormation User Guide's template reference), as sentences."""
    declared: dict[str, dict[str, Any]] = template.get("Parameters", {})
    problems = [
        f"{name}: the template has no such parameter" for name in sorted(set(given) - set(declared))
    ]
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            problems.append(f"{_label(name)}: needs a value (the template has no default)")
    for name, value in values.items():
        problems += [f"{_label(name)}={value!r}: {p}" for p in _refusals(declared[name], value)]
    if not problems:
        problems += _rule_problems(template, values, region)
    return problems


def _refusals(spec: dict[str, Any], value: str) -> list[str]:
    kind = spec.get("Type", "String")
    out: list[str] = []
    if kind == "Number":
        number = _number(value)
        if number is None:
            return ["is not a number"]
        if "MinValue" in spec and number < float(spec["MinValue"]):
            out.append(f"is less than MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            out.append(f"is more than MaxValue {spec['MaxValue']}")
        allowed = spec.get("AllowedValues")
        if allowed is not None and all(_number(str(a)) != number for a in allowed):
            out.append(f"is not one of AllowedValues {', '.join(map(str, allowed))}")
        return out
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        out.append(f"is shorter than MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        out.append(f"is longer than MaxLength {spec['MaxLength']}")
    pattern = spec.get("AllowedPattern")
    # CloudFormation matches the pattern against the whole value.
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        out.append(f"does not match AllowedPattern {pattern}")
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        out.append(f"is not one of AllowedValues {', '.join(map(str, allowed))}")
    return out


def _rule_problems(template: dict[str, Any], values: dict[str, str], region: str) -> list[str]:
    out: list[str] = []
    for name, rule in template.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not _evaluate(condition, values, region):
            continue
        for assertion in rule.get("Assertions", []):
            if not _evaluate(assertion["Assert"], values, region):
                text = " ".join(str(assertion.get("AssertDescription", name)).split())
                out.append(f"rule {name}: {text}")
    return out


def _evaluate(node: Any, values: dict[str, str], region: str) -> Any:
    """A rule's condition, for the functions rules take ("Rules" in the CloudFormation User
    Guide); any other function is refused, so that a new one is not silently passed."""
    if not isinstance(node, dict):
        return node
    ((fn, arg),) = node.items()
    if fn == "Ref":
        if arg == "AWS::Region":
            return region
        if arg not in values:
            raise DeployError(f"a rule refers to {arg}, which this check cannot know")
        return values[arg]
    if fn == "Fn::Equals":
        left, right = (_evaluate(x, values, region) for x in arg)
        return str(left) == str(right)
    if fn == "Fn::Not":
        return not _evaluate(arg[0], values, region)
    if fn == "Fn::And":
        return all(_evaluate(x, values, region) for x in arg)
    if fn == "Fn::Or":
        return any(_evaluate(x, values, region) for x in arg)
    if fn == "Fn::Contains":
        items, item = (_evaluate(x, values, region) for x in arg)
        return str(item) in [str(i) for i in items]
    raise DeployError(f"this check cannot evaluate {fn} in a rule; update infra/deploy.py")


def parse_tags(text: str) -> list[dict[str, str]]:
    """``"team=sec cost-center=42"`` as CloudFormation tags, checked as CloudFormation would."""
    tags: list[dict[str, str]] = []
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f'TAGS: {item!r} is not key=value (TAGS="team=sec cost-center=42")')
        if len(key) > 128 or len(value) > 256:
            raise DeployError(f"TAGS: {item!r}: a key has at most 128 characters, a value 256")
        if key.lower().startswith("aws:"):
            raise DeployError(f"TAGS: {key!r}: the aws: prefix is reserved for AWS")
        if any(t["Key"] == key for t in tags):
            raise DeployError(f"TAGS: {key!r} is given twice")
        tags.append({"Key": key, "Value": value})
    if len(tags) > MAX_TAGS:
        raise DeployError(f"TAGS: {len(tags)} tags; a stack carries at most {MAX_TAGS}")
    return tags


# -- the AWS CLI ---------------------------------------------------------------------------


@dataclass
class Aws:
    """Runs the AWS CLI; its stderr goes to the user as it is when a call fails."""

    region: str = REGION

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``aws ARGS --region REGION``; raises :class:`DeployError` with the CLI's own error."""
        proc = subprocess.run(  # noqa: S603 - the aws CLI, arguments from this script
            ["aws", *args, "--region", self.region],  # noqa: S607 - the user's aws on PATH
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise DeployError(f"'aws {' '.join(args[:2])}' failed:\n{proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> Any:
        """The call's JSON answer."""
        out = self.run(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}


def check_cli() -> None:
    """The AWS CLI is installed."""
    if shutil.which("aws") is None:
        raise DeployError(
            "the AWS CLI ('aws') is not installed. Install it (e.g. 'pipx install awscli' or "
            "AWS's installer) and configure credentials; it is not part of the project venv."
        )


def check_credentials(aws: Aws) -> dict[str, Any]:
    """Who the CLI's credentials are; their failure said in the CLI's own words."""
    proc = aws.run("sts", "get-caller-identity", "--output", "json", check=False)
    if proc.returncode != 0:
        error = proc.stderr.strip() or f"exit status {proc.returncode}, no message"
        hint = "Configure them (aws configure / aws sso login / AWS_PROFILE=...) and retry."
        if "sso" in error.lower() or "token" in error.lower():
            hint = "Sign in again (aws sso login, with the same AWS_PROFILE) and retry."
        raise DeployError(
            f"the AWS CLI has no usable credentials. 'aws sts get-caller-identity' said:\n"
            f"  {error.replace(chr(10), chr(10) + '  ')}\n{hint}"
        )
    identity: dict[str, Any] = json.loads(proc.stdout)
    return identity


# -- the change set ------------------------------------------------------------------------


@dataclass
class Request:
    """What to deploy: the stack, where the artifacts go, its parameters, tags and role."""

    stack_name: str
    bucket: str
    prefix: str
    parameters: dict[str, str]
    tags: list[dict[str, str]]
    role_arn: str | None = None


def check(request: Request, template: dict[str, Any]) -> None:
    """Everything that can be checked before anything is built or uploaded."""
    problems: list[str] = []
    if _STACK_NAME.fullmatch(request.stack_name) is None:
        problems.append(
            f"STACK_NAME={request.stack_name!r}: a stack name is a letter, then letters, "
            "digits and hyphens, at most 128 characters"
        )
    with_code = {"CodeKey": f"{request.prefix}/lambda-0.zip", **request.parameters}
    problems += parameter_problems(template, with_code)
    if request.role_arn is not None and not re.fullmatch(
        r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+", request.role_arn
    ):
        problems.append(f"CFN_ROLE_ARN={request.role_arn!r}: not an IAM role ARN")
    if problems:
        raise DeployError(
            "the template would refuse these parameters (nothing was uploaded):\n  "
            + "\n  ".join(problems)
        )


def upload(aws: Aws, request: Request, path: Path, kind: str) -> str:
    """Upload ``path`` under its SHA-256 (the same content, the same key); its key."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"{request.prefix}/{kind}-{digest}{path.suffix}"
    print(f"uploading {path} to s3://{request.bucket}/{key}", flush=True)
    aws.run("s3", "cp", "--only-show-errors", str(path), f"s3://{request.bucket}/{key}")
    return key


def existing_stack(aws: Aws, name: str) -> dict[str, Any] | None:
    """The stack as DescribeStacks gives it, or ``None`` if there is none to update."""
    proc = aws.run("cloudformation", "describe-stacks", "--stack-name", name, check=False)
    if proc.returncode != 0:
        if "does not exist" in proc.stderr:
            return None
        raise DeployError(f"'aws cloudformation describe-stacks' failed:\n{proc.stderr.strip()}")
    stack: dict[str, Any] = json.loads(proc.stdout)["Stacks"][0]
    # A stack that only ever had change sets created is created by the next one.
    return None if stack.get("StackStatus") == "REVIEW_IN_PROGRESS" else stack


def create_change_set(
    aws: Aws, request: Request, code_key: str, template: Path, stack: dict[str, Any] | None
) -> str:
    """Create the change set (not executed) of ``stack`` (``None``: a new one); its name."""
    # A change set's name: a letter, then letters, digits and hyphens, at most 128 characters.
    name = f"make-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    given = {**request.parameters, "CodeKey": code_key}
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
    if stack is not None:  # what this deploy does not set keeps the stack's value
        declared = load_template(template).get("Parameters", {})
        parameters += [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack.get("Parameters", [])
            if p["ParameterKey"] not in given and p["ParameterKey"] in declared
        ]
    if template.stat().st_size <= MAX_TEMPLATE_BODY:
        source = ["--template-body", f"file://{template}"]
    else:
        key = upload(aws, request, template, "template")
        source = ["--template-url", f"https://s3.{REGION}.amazonaws.com/{request.bucket}/{key}"]
    args = [
        "cloudformation",
        "create-change-set",
        "--stack-name",
        request.stack_name,
        "--change-set-name",
        name,
        "--change-set-type",
        "UPDATE" if stack is not None else "CREATE",
        *source,
        "--capabilities",
        "CAPABILITY_IAM",
        "--parameters",
        json.dumps(parameters),
        "--description",
        f"make deploy/plan, Lambda code {code_key}",
    ]
    if request.tags:
        args += ["--tags", json.dumps(request.tags)]
    if request.role_arn:
        args += ["--role-arn", request.role_arn]
    aws.json(*args)
    return name


def wait_for_change_set(
    aws: Aws, stack: str, name: str, *, timeout_s: float = 600, poll_s: float | None = None
) -> dict[str, Any] | None:
    """The created change set with all its changes; ``None`` if it holds no change at all."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = aws.json(
            "cloudformation",
            "describe-change-set",
            "--stack-name",
            stack,
            "--change-set-name",
            name,
        )
        status = described.get("Status")
        if status == "CREATE_COMPLETE":
            break
        if status == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if "didn't contain changes" in reason or "No updates are to be performed" in reason:
                aws.run(
                    "cloudformation",
                    "delete-change-set",
                    "--stack-name",
                    stack,
                    "--change-set-name",
                    name,
                )
                return None
            raise DeployError(f"CloudFormation could not create change set {name}: {reason}")
        if time.monotonic() > deadline:
            raise DeployError(f"change set {name} still {status} after {timeout_s:.0f} s")
        time.sleep(POLL_S if poll_s is None else poll_s)
    changes = list(described.get("Changes", []))
    token = described.get("NextToken")
    while token:
        page = aws.json(
            "cloudformation",
            "describe-change-set",
            "--stack-name",
            stack,
            "--change-set-name",
            name,
            "--next-token",
            token,
        )
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    described["Changes"] = changes
    return dict(described)


def render(change_set: dict[str, Any]) -> str:
    """The change set as a reviewer reads it: one line per resource, what changes in it."""
    rows = [("ACTION", "LOGICAL ID", "TYPE", "REPLACEMENT", "WHAT CHANGES")]
    for change in change_set.get("Changes", []):
        rc = change.get("ResourceChange", {})
        targets = sorted(
            {
                str(d.get("Target", {}).get("Name") or d.get("Target", {}).get("Attribute", ""))
                for d in rc.get("Details", [])
            }
            - {""}
        )
        what = ", ".join(targets) or ", ".join(rc.get("Scope", [])) or "-"
        replacement = rc.get("Replacement", "-") if rc.get("Action") == "Modify" else "-"
        rows.append(
            (
                str(rc.get("Action", "?")),
                str(rc.get("LogicalResourceId", "?")),
                str(rc.get("ResourceType", "?")),
                str(replacement),
                what,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    ]
    head = (
        f"Change set {change_set.get('ChangeSetName')} for stack {change_set.get('StackName')}: "
        f"{len(rows) - 1} resource change(s)"
    )
    tags = change_set.get("Tags") or []
    if tags:
        head += "\nTags: " + " ".join(f"{t['Key']}={t['Value']}" for t in tags)
    if change_set.get("RoleARN"):
        head += f"\nCloudFormation service role: {change_set['RoleARN']}"
    return head + "\n" + "\n".join(lines)


def execute(aws: Aws, stack: str, name: str, *, create: bool) -> None:
    """Execute the change set and wait until the stack is done."""
    aws.run(
        "cloudformation", "execute-change-set", "--stack-name", stack, "--change-set-name", name
    )
    waiter = "stack-create-complete" if create else "stack-update-complete"
    proc = aws.run("cloudformation", "wait", waiter, "--stack-name", stack, check=False)
    if proc.returncode != 0:
        raise DeployError(
            f"stack {stack} did not finish: {proc.stderr.strip()}\n"
            f"See: aws cloudformation describe-stack-events --region {REGION} --stack-name {stack}"
        )


# -- the commands --------------------------------------------------------------------------


def run(command: str, request: Request, zip_path: Path | None, template: Path = TEMPLATE) -> int:
    """``check``, ``plan`` or ``deploy``; the exit status."""
    aws = Aws()
    check(request, load_template(template))
    check_cli()
    identity = check_credentials(aws)
    print(f"AWS account {identity.get('Account')} as {identity.get('Arn')}, {REGION}", flush=True)
    if command == "check":
        return 0
    if zip_path is None or not zip_path.is_file():
        raise DeployError(f"no Lambda zip at {zip_path}: run make package")
    code_key = upload(aws, request, zip_path, "lambda")
    stack = existing_stack(aws, request.stack_name)
    name = create_change_set(aws, request, code_key, template, stack)
    change_set = wait_for_change_set(aws, request.stack_name, name)
    if change_set is None:
        print(f"No changes: stack {request.stack_name} is already what this would deploy.")
        return 0
    print(render(change_set), flush=True)
    if command == "plan":
        print(
            "\nNot executed. To apply it once approved:\n"
            f"  aws cloudformation execute-change-set --region {REGION} "
            f"--stack-name {request.stack_name} --change-set-name {name}\n"
            "To discard it:\n"
            f"  aws cloudformation delete-change-set --region {REGION} "
            f"--stack-name {request.stack_name} --change-set-name {name}"
        )
        return 0
    execute(aws, request.stack_name, name, create=stack is None)
    outputs = aws.json("cloudformation", "describe-stacks", "--stack-name", request.stack_name)
    for output in outputs["Stacks"][0].get("Outputs", []):
        print(f"{output['OutputKey']}: {output['OutputValue']}")
    if stack is None:
        print(
            "\nThe heartbeat alarm stays in ALARM until the first sweep: run one now (README, "
            "'Watching it run'):\n"
            f"  aws lambda invoke --region {REGION} --function-name <FunctionName above> "
            '--cli-binary-format raw-in-base64-out --payload \'{"detector": "sweep"}\' '
            "/dev/stdout"
        )
    return 0


def _parameters(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise DeployError(f"--parameter {item!r} is not Key=Value")
        out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "plan", "deploy"])
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--bucket", default="")
    parser.add_argument("--prefix", default="root-key-detector")
    parser.add_argument("--zip", type=Path)
    parser.add_argument("--tags", default="")
    parser.add_argument("--role-arn", default="")
    parser.add_argument("--parameter", action="append", default=[])
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    try:
        parameters = _parameters(args.parameter)
        if args.bucket:
            parameters.setdefault("CodeBucket", args.bucket)
        request = Request(
            stack_name=args.stack_name,
            bucket=args.bucket,
            prefix=args.prefix.strip("/"),
            parameters=parameters,
            tags=parse_tags(args.tags),
            role_arn=args.role_arn or None,
        )
        return run(args.command, request, args.zip, args.template)
    except DeployError as exc:
        print(f"make {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
