"""``python -m detector classify`` and ``replay`` as a user runs them (subprocesses)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.aws import SLACK_CHANNEL
from sandbox.stack import SandboxStack, sample

EVENTS = Path(__file__).parent.parent / "events"
ROOT = Path(__file__).parent.parent.parent


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
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
