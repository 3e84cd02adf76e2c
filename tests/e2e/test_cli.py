"""``python -m detector`` as a user runs it (subprocesses): its output, and what it says when
something is wrong."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import detector
from sandbox.aws import SLACK_CHANNEL
from sandbox.stack import SandboxStack, lambda_failure_record, sample

EVENTS = Path(__file__).parent.parent / "events"
ROOT = Path(__file__).parent.parent.parent


def _run(*args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess; ``env`` adds variables to this one's (None removes one)."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in merged.items() if v is not None},
        timeout=120,
        check=False,
    )


def test_classify_prints_one_line_per_record_in_order_and_exits_2_on_bad_input(
    tmp_path: Path,
) -> None:
    log_file = next((EVENTS / "logfiles").glob("123456789012_*.json"))
    gz = tmp_path / "log.json.gz"
    gz.write_bytes(gzip.compress(log_file.read_bytes()))
    bad = EVENTS / "invalid" / "scheduled_event.json"
    single = EVENTS / "cloudtrail" / "root_create_access_key.json"

    proc = _run("classify", str(single), str(bad), str(gz))
    assert proc.returncode == 2
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    records = json.loads(log_file.read_text())["Records"]
    assert len(lines) == 2 + len(records)

    first, error, *from_gz = lines
    assert first["verdict"] == "root-key-created"
    assert first["source"] == f"{single}#0"
    assert {"account", "access_key_id", "event_id"} <= first.keys()
    assert "verdict" not in error
    assert "detail-type" in error["error"]
    assert [line["event_id"] for line in from_gz] == [r["eventID"] for r in records]
    assert [line["source"] for line in from_gz] == [f"{gz}#{i}" for i in range(len(records))]


def test_classify_all_good_inputs_exits_0() -> None:
    proc = _run("classify", *map(str, sorted((EVENTS / "cloudtrail").glob("*.json"))))
    assert proc.returncode == 0, proc.stderr
    verdicts = {json.loads(line)["verdict"] for line in proc.stdout.splitlines()}
    assert verdicts == {
        "root-key-created",
        "root-key-deleted",
        "root-key-deactivated",
        "root-key-activated",
        "root-created-user-key",
        "root-key-create-failed",
        "ignored",
    }


@pytest.mark.usefixtures("sandbox")
def test_replay_runs_the_pipeline_against_the_configured_services(
    sandbox: SandboxStack, tmp_path: Path
) -> None:
    sandbox.aws.set_root_key_present(True)
    recorded = tmp_path / "event.json"
    recorded.write_text(json.dumps(sample("root_create_access_key")))
    proc = _run("replay", str(recorded), env=sandbox.detector_env())
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert line["verdict"] == "root-key-created"
    assert "finding-imported" in line["actions"]
    assert len(sandbox.aws.findings()) == 1
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1


def test_replay_without_configuration_names_the_missing_variable(tmp_path: Path) -> None:
    recorded = tmp_path / "event.json"
    recorded.write_text(json.dumps(sample("root_create_access_key")))
    env = dict.fromkeys(("AWS_REGION", "AWS_DEFAULT_REGION"), "")
    proc = _run("replay", str(recorded), env=env)
    assert proc.returncode == 2
    assert "AWS_REGION" in proc.stderr


# ---------------------------------------------------------------------------------------------
# What a user meets when things go wrong: one line naming the problem, a non-zero exit


def _one_line_problem(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    problem = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(problem) == 1, proc.stderr  # JSON log lines aside
    for word in words:
        assert word in problem[0], problem[0]
    return problem[0]


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(sample("root_create_access_key")))
    return path


@pytest.mark.usefixtures("sandbox")
def test_replay_with_a_missing_ledger_table_says_so_in_one_line(
    sandbox: SandboxStack, recorded: Path
) -> None:
    env = {**sandbox.detector_env(), "LEDGER_TABLE": "no-such-ledger"}
    proc = _run("replay", str(recorded), env=env)
    _one_line_problem(proc, "LEDGER_TABLE", "no-such-ledger", "does not exist")
    assert proc.returncode == 2
    with_debug = _run("replay", "--debug", str(recorded), env=env)
    assert "Traceback" in with_debug.stderr  # --debug shows it


@pytest.mark.usefixtures("sandbox")
def test_replay_without_credentials_says_so_in_one_line(
    sandbox: SandboxStack, recorded: Path, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {
        **sandbox.detector_env(),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        env[name] = None
    proc = _run("replay", str(recorded), env=env)
    _one_line_problem(proc, "AWS credentials", "NoCredentialsError")
    env["AWS_PROFILE"] = "no-such-profile"
    proc = _run("replay", str(recorded), env=env)
    _one_line_problem(proc, "AWS_PROFILE", "no-such-profile")


@pytest.mark.parametrize("command", [["replay"], ["sweep"]])
@pytest.mark.usefixtures("sandbox")
def test_an_unreachable_endpoint_is_one_line(
    sandbox: SandboxStack, recorded: Path, command: list[str]
) -> None:
    env = {**sandbox.detector_env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    args = [*command, str(recorded)] if command == ["replay"] else command
    proc = _run(*args, env=env)
    _one_line_problem(proc, "cannot reach", "http://127.0.0.1:9")


@pytest.mark.usefixtures("sandbox")
def test_redrive_of_a_missing_queue_is_one_line(sandbox: SandboxStack) -> None:
    url = f"{sandbox.aws.endpoint_url}/123456789012/no-such-dlq"
    proc = _run("redrive", "--queue-url", url, env=sandbox.detector_env())
    _one_line_problem(proc, "--queue-url", "no such queue", url)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["redrive", "--queue-url", "https://sqs.example/1/q", "--max", "-1"], "--max"),
        (["redrive", "--queue-url", "https://sqs.example/1/q", "--max", "0"], "--max"),
        (["redrive", "--queue-url", "not a url"], "--queue-url"),
        (["sweep", "--accounts", "abc"], "--accounts"),
        (["sweep", "--accounts", "12345678901"], "--accounts"),
        (["sweep", "--accounts", ","], "--accounts"),
    ],
)
def test_a_bad_flag_is_named_and_exits_2(args: list[str], named: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2
    assert named in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ORGANIZATION_NAMES", "yes"), ("SWEEP_CONCURRENCY", "lots"), ("SWEEP_ACCOUNTS", "abc")],
)
@pytest.mark.usefixtures("sandbox")
def test_a_bad_setting_is_named_and_exits_2(
    sandbox: SandboxStack, variable: str, value: str
) -> None:
    proc = _run("sweep", env={**sandbox.detector_env(), variable: value})
    assert proc.returncode == 2
    assert variable in proc.stderr
    assert value in proc.stderr
    assert "seconds" not in proc.stderr


@pytest.mark.usefixtures("sandbox")
def test_sweep_of_another_account_without_a_member_role_is_refused(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    proc = _run("sweep", "--accounts", "210987654321", env=sandbox.detector_env())
    problem = _one_line_problem(proc, "210987654321", "MEMBER_ROLE_NAME", "no way into it")
    assert "123456789012" in problem  # the account it can read
    assert proc.returncode == 2
    assert sandbox.slack.messages(SLACK_CHANNEL) == []  # nothing swept, nothing alerted
    assert sandbox.aws.findings() == []


def test_version() -> None:
    proc = _run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"python -m detector {detector.__version__}"


def test_classify_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``classify big.json | head -1``: the reader goes away; no BrokenPipeError is printed."""
    record = json.loads((EVENTS / "cloudtrail" / "root_create_access_key.json").read_text())
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"Records": [record] * 3000}))
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", "classify", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert json.loads(proc.stdout.readline())["verdict"] == "root-key-created"
    proc.stdout.close()  # what head does after its first line
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "BrokenPipeError" not in stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr


def test_classify_reports_a_garbled_record_and_goes_on(tmp_path: Path) -> None:
    path = EVENTS / "sanitised" / "logfile_one_garbled_record.json"
    proc = _run("classify", str(path))
    assert proc.returncode == 2  # a record was not CloudTrail
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["source"] for line in lines] == [f"{path}#{i}" for i in range(5)]
    assert ["error" in line for line in lines] == [False, True, False, True, False]
    assert [line.get("verdict") for line in lines] == [
        "ignored",
        None,
        "root-key-created",
        None,
        "root-key-created",
    ]
    assert lines[2]["account"] is None
    assert lines[2]["untrusted"] == [
        "$.Records[2].recipientAccountId",
        "$.Records[2].userIdentity.accountId",
    ]


@pytest.mark.usefixtures("sandbox")
def test_redrive_counts_undecodable_messages_as_unreadable_and_goes_on(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    sqs = sandbox.aws.client("sqs")
    dlq = sqs.create_queue(QueueName="root-key-detector-dlq")["QueueUrl"]
    bodies = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "huge-number": "9" * 5000,
        "not-cloudtrail": json.dumps({"detail-type": "Scheduled Event", "detail": {}}),
    }
    for body in bodies.values():
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    event = {
        "version": "0",
        "id": "2a6f2d8e-40a0-4f73-9b43-0d8c0b2ad7f1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": "123456789012",
        "detail": sample("root_create_access_key"),
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=lambda_failure_record(event))

    proc = _run("redrive", "--queue-url", dlq, env=sandbox.detector_env())

    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])["redrive"]
    assert (summary["received"], summary["redriven"], summary["unreadable"]) == (4, 1, 3)
    assert proc.returncode == 1  # messages are left in the queue
    assert len(sandbox.aws.findings()) == 1  # the good one went through
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1
