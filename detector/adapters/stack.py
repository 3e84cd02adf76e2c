"""A deployed detector stack, read back: its function's settings and its dead-letter queue.

CloudFormation's DescribeStacks gives the stack's outputs (DescribeStackResource stands in for
an output a stack lacks), Lambda's GetFunctionConfiguration the function's environment. Every
call goes through the AWS_CALL retry policy; a failure leaves as :class:`StackError`. What is
read is untrusted: only the detector's own settings are kept, each plain text of bounded size,
and nothing here prints a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.config import VARIABLES
from detector.errors import AwsCallError, StackError

# The detector's own settings (config.VARIABLES): what the function's environment is read for.
# AWS_* variables are the SDK's and Lambda's (the region is the one the stack is read in).
DETECTOR_SETTINGS = frozenset(v.name for v in VARIABLES if not v.name.startswith("AWS_"))
# infra/detector.yaml's logical ids and outputs.
FUNCTION_RESOURCE, FUNCTION_OUTPUT = "DetectorFunction", "FunctionName"
QUEUE_RESOURCE, QUEUE_OUTPUT = "DeadLetterQueue", "DeadLetterQueueUrl"
MAX_VALUE = 4096
_PLAIN = re.compile(r"[\x20-\x7e]*")  # printable ASCII: what the settings are made of
# CloudFormation stack names ("CreateStack", AWS CloudFormation API Reference): a letter, then
# letters, digits and hyphens, 128 characters at most; a stack id (ARN) is taken too.
STACK_NAME = re.compile(
    r"[A-Za-z][A-Za-z0-9-]{0,127}|arn:[a-z-]+:cloudformation:[\x21-\x7e]{1,1000}"
)
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUEUE_PATH = re.compile(r"/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DeployedDetector:
    """What a deployed detector runs with."""

    stack: str
    region: str
    function_name: str
    settings: dict[str, str]  # the function's environment, the detector's variables only
    dead_letter_queue_url: str


class StackReader:
    """Reads a detector stack through CloudFormation and Lambda clients of one region."""

    def __init__(
        self,
        cloudformation: Any,
        lambda_client: Any,
        region: str,
        retry_env: retry.RetryEnv | None = None,
    ) -> None:
        self._cfn = cloudformation
        self._lambda = lambda_client
        self._region = region
        self._retry_env = retry_env or retry.RetryEnv()

    def read(self, stack: str) -> DeployedDetector:
        """The deployed detector of ``stack`` (a name or a stack id).

        Raises:
            StackError: the stack, its function or its queue cannot be read, or what they hold
                is not what the detector's template makes.
        """
        if not STACK_NAME.fullmatch(stack):
            raise StackError(f"not a CloudFormation stack name: {stack!r}")
        outputs = self._outputs(stack)
        function = outputs.get(FUNCTION_OUTPUT) or self._physical(stack, FUNCTION_RESOURCE)
        if not _FUNCTION_NAME.fullmatch(function):
            raise StackError(f"stack {stack}: its function's name is not a Lambda function name")
        queue = outputs.get(QUEUE_OUTPUT) or self._physical(stack, QUEUE_RESOURCE)
        if not queue_url_ok(queue):
            raise StackError(f"stack {stack}: its dead-letter queue's URL is not an SQS queue URL")
        return DeployedDetector(stack, self._region, function, self._settings(function), queue)

    def _call(self, service: str, fn: Callable[[], _T], *, stack: str = "") -> _T:
        try:
            result: _T = retry.build(retry.AWS_CALL, self._retry_env)(aws_call, service, fn)
        except AwsCallError as exc:
            code = exc.code
            if stack and code == "ValidationError" and "does not exist" in exc.detail:
                raise StackError(f"no stack {stack!r} in {self._region}") from exc
            raise StackError(f"{service} failed ({code}): {exc.detail}") from exc
        return result

    def _outputs(self, stack: str) -> dict[str, str]:
        resp = self._call(
            "cloudformation.DescribeStacks",
            lambda: self._cfn.describe_stacks(StackName=stack),
            stack=stack,
        )
        stacks = resp.get("Stacks") or []
        if not stacks:
            raise StackError(f"no stack {stack!r} in {self._region}")
        return {
            str(o.get("OutputKey")): str(o.get("OutputValue", ""))
            for o in stacks[0].get("Outputs") or []
        }

    def _physical(self, stack: str, logical: str) -> str:
        resp = self._call(
            "cloudformation.DescribeStackResource",
            lambda: self._cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical),
        )
        detail = resp.get("StackResourceDetail") or {}
        return str(detail.get("PhysicalResourceId") or "")

    def _settings(self, function: str) -> dict[str, str]:
        resp = self._call(
            "lambda.GetFunctionConfiguration",
            lambda: self._lambda.get_function_configuration(FunctionName=function),
        )
        variables = (resp.get("Environment") or {}).get("Variables") or {}
        return detector_settings(variables)


def detector_settings(variables: Mapping[str, Any]) -> dict[str, str]:
    """The detector's own settings among a function's environment variables.

    Raises:
        StackError: one of them is not plain printable text of bounded size (named, its
            value never shown).
    """
    out: dict[str, str] = {}
    for name in sorted(DETECTOR_SETTINGS & set(variables)):
        value = variables[name]
        if not isinstance(value, str) or len(value) > MAX_VALUE or not _PLAIN.fullmatch(value):
            raise StackError(f"the function's {name} is not a plain setting (value not shown)")
        out[name] = value
    return out


def queue_url_ok(url: str) -> bool:
    """An SQS queue URL: http(s), a host, ``/<account>/<queue name>``, nothing else."""
    parts = urlsplit(url)
    return (
        parts.scheme in {"https", "http"}
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and not parts.username
        and _QUEUE_PATH.fullmatch(parts.path) is not None
    )


def read_deployed(stack: str, region: str | None = None) -> DeployedDetector:
    """The deployed detector of ``stack``, read in ``region`` (default: the session's).

    Raises:
        StackError: see :meth:`StackReader.read`; or no region is configured.
    """
    if not STACK_NAME.fullmatch(stack):  # before anything else: the name is the user's typo
        raise StackError(f"not a CloudFormation stack name: {stack!r}")
    return stack_reader(region).read(stack)


def stack_reader(region: str | None = None) -> StackReader:
    """A reader through CloudFormation and Lambda clients of ``region`` (default: the
    session's); AWS_ENDPOINT_URL is honoured as everywhere.

    Raises:
        StackError: no region is configured.
    """
    import boto3  # noqa: PLC0415 - only this command needs boto3's session

    from detector.adapters.aws import botocore_config  # noqa: PLC0415

    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise StackError("no AWS region: set AWS_REGION to the stack's region")
    config = botocore_config()
    cfn = session.client("cloudformation", config=config)
    lam = session.client("lambda", config=config)
    return StackReader(cfn, lam, session.region_name)
