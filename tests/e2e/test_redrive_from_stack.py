"""``redrive --from-stack``: the deployed stack (infra/detector.yaml, created in the sandbox's
CloudFormation) says which queue to drain and with which settings; nothing is typed by hand."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sandbox.aws import ACCOUNT_ID, SLACK_CHANNEL, SLACK_TOKEN, TOKEN_SECRET_NAME
from sandbox.stack import SandboxStack, lambda_failure_record, sample
from tests.infra import templates
from tests.infra.test_deploy import create_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]
ROOT = Path(__file__).parent.parent.parent
STACK = "rkd-operator"
CODE_BUCKET = "rkd-artifacts"
CODE_KEY = "lambda.zip"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess with only ``env`` (and PATH): what an operator's shell holds."""
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        timeout=120,
        check=False,
    )


def _deploy(sandbox: SandboxStack) -> dict[str, str]:
    """The detector's stack in bot mode, its function pointed at the Slack emulator; its
    outputs."""
    aws = sandbox.aws
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("detector/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    aws.client("s3").create_bucket(Bucket=CODE_BUCKET)
    aws.client("s3").put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code.getvalue())
    secret = aws.client("secretsmanager").describe_secret(SecretId=TOKEN_SECRET_NAME)["ARN"]
    stack = create_stack(
        aws,
        STACK,
        templates.DETECTOR_TEMPLATE,
        {
            "CodeBucket": CODE_BUCKET,
            "CodeKey": CODE_KEY,
            "SlackMode": "bot",
            "SlackChannelId": SLACK_CHANNEL,
            "SlackSecretArn": secret,
        },
    )
    # The template takes only an https SlackApiUrl; the function's own configuration is what
    # --from-stack reads, so the emulator's URL is set there, as an operator could. moto
    # resolves a Number parameter's Ref as a number (tests/infra/test_deploy.py); Lambda's
    # variables are strings, as they are set here.
    lam = aws.client("lambda")
    function = stack.outputs["FunctionName"]
    variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName=function,
        Environment={
            "Variables": {
                **{k: str(v) for k, v in variables.items()},
                "SLACK_API_URL": sandbox.slack.base_url,
            }
        },
    )
    return stack.outputs


def _failed_delivery() -> str:
    event: dict[str, Any] = {
        "version": "0",
        "id": "5d0b2c44-0f52-4c1e-9d3a-6a7b8c9d0e1f",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT_ID,
        "detail": sample("root_create_access_key"),
    }
    return lambda_failure_record(event)


def test_redrive_from_the_stack_drains_its_queue_with_its_function_s_settings(
    sandbox: SandboxStack,
) -> None:
    outputs = _deploy(sandbox)
    sandbox.aws.set_root_key_present(True)
    dlq = outputs["DeadLetterQueueUrl"]
    sandbox.aws.client("sqs").send_message(QueueUrl=dlq, MessageBody=_failed_delivery())
    # The operator's shell: credentials, region, endpoint, and stale detector settings that
    # must not be used (the stack's are).
    env = {**sandbox.aws.env(), "LEDGER_TABLE": "stale-table", "SLACK_MODE": "webhook"}

    proc = _run("redrive", "--from-stack", STACK, env=env)

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])["redrive"]
    assert (summary["received"], summary["redriven"]) == (1, 1)
    (finding,) = sandbox.aws.findings()
    assert finding["Compliance"]["Status"] == "FAILED"
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)  # bot mode, the stack's channel
    assert alert.source == "chat.postMessage"
    ledger = outputs["LedgerTableName"]
    assert sandbox.aws.client("dynamodb").scan(TableName=ledger)["Count"] > 0
    # What it read is named, never shown: no secret ARN, token or table name in the output.
    assert f"stack {STACK}: function {outputs['FunctionName']}" in proc.stderr
    assert "LEDGER_TABLE" in proc.stderr
    assert "SLACK_TOKEN_SECRET_ID" in proc.stderr
    for value in (TOKEN_SECRET_NAME, SLACK_TOKEN, ledger, sandbox.slack.base_url):
        assert value not in proc.stderr + proc.stdout


def test_a_missing_stack_is_one_line(sandbox: SandboxStack) -> None:
    proc = _run("redrive", "--from-stack", "no-such-stack", env=sandbox.aws.env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "python -m detector redrive: --from-stack: no stack 'no-such-stack' in us-east-1"
        " (--debug shows the traceback)"
    ]


def test_from_stack_and_queue_url_are_one_or_the_other() -> None:
    both = _run("redrive", "--from-stack", STACK, "--queue-url", "https://sqs.example/1/q", env={})
    neither = _run("redrive", env={})
    assert both.returncode == neither.returncode == 2
    assert "not allowed with argument" in both.stderr
    assert "one of the arguments --queue-url --from-stack is required" in neither.stderr
