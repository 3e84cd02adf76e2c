"""What an operator watches: every log line names its invocation and version; each invocation
writes its metrics as one EMF line (the sweep's heartbeat included)."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest

from detector import __version__, handler
from detector.errors import SweepError
from detector.log import bind_request, get_logger
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")

FUNCTION = "root-key-detector-DetectorFunction-AbC123"


class Context:
    """The parts of Lambda's context object the handler reads."""

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = FUNCTION
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def _emf_lines(out: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [d for d in docs if "_aws" in d]


def test_every_log_line_of_an_invocation_carries_its_request_id_and_version(
    sandbox: SandboxStack, logs: io.StringIO
) -> None:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    handler.lambda_handler(event, Context("8f5e-request-1"))
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(lines) >= 2  # classified, handled (and more: the pipeline logs from threads)
    assert {line["request_id"] for line in lines} == {"8f5e-request-1"}
    assert {line["version"] for line in lines} == {__version__}
    # After the invocation, nothing is stamped with its id any more.
    get_logger().info("between invocations")
    assert json.loads(logs.getvalue().splitlines()[-1])["request_id"] is None


def test_a_line_logged_from_a_worker_thread_carries_the_request_id(logs: io.StringIO) -> None:
    bind_request("req-threads")
    try:
        worker = threading.Thread(target=lambda: get_logger().warning("from a worker"))
        worker.start()
        worker.join()
    finally:
        bind_request(None)
    line = json.loads(logs.getvalue().splitlines()[-1])
    assert line["message"] == "from a worker"
    assert line["request_id"] == "req-threads"


def test_an_extra_field_cannot_stand_in_for_the_request_id(logs: io.StringIO) -> None:
    bind_request("real")
    try:
        get_logger().info("spoof", extra={"request_id": "forged", "version": "9"})
    finally:
        bind_request(None)
    line = json.loads(logs.getvalue().splitlines()[-1])
    assert (line["request_id"], line["version"]) == ("real", __version__)


def test_a_sweep_writes_one_emf_line_with_its_heartbeat(
    sandbox: SandboxStack, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.aws.set_root_key_present(False)
    capsys.readouterr()
    handler.lambda_handler({"detector": "sweep"}, Context("req-sweep"))
    (doc,) = _emf_lines(capsys.readouterr().out)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RootKeyDetector"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert doc["FunctionName"] == FUNCTION
    assert doc["SweepCompleted"] == 1
    assert doc["SweepAccounts.clean"] == 1
    assert len(doc["SweepDuration"]) == 1
    assert doc["RequestId"] == "req-sweep"
    assert doc["DetectorVersion"] == __version__


def test_a_sweep_whose_alert_fails_counts_its_accounts_but_is_no_heartbeat(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.aws.set_root_key_present(True)  # a key nobody filed: the sweep alerts
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0ARCHIVED1")  # unknown to Slack: the alert fails
    capsys.readouterr()
    with pytest.raises(SweepError):
        handler.lambda_handler({"detector": "sweep"}, Context("req-bad"))
    (doc,) = _emf_lines(capsys.readouterr().out)
    assert doc["SweepAccounts.failed"] == 1
    assert len(doc["SweepDuration"]) == 1
    assert "SweepCompleted" not in doc


def test_an_alert_is_counted_in_the_invocations_metrics(
    sandbox: SandboxStack, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.aws.set_root_key_present(True)
    sandbox.put_cloudtrail_event(sample("root_create_access_key"))
    (event,) = sandbox.receive_routed()
    capsys.readouterr()
    handler.lambda_handler(event, Context("req-alert"))
    (doc,) = _emf_lines(capsys.readouterr().out)
    assert doc["Alerts"] == 1
    assert doc["Confirmations.present"] == 1
