"""``preview`` and the new ``classify`` inputs as an operator runs them: a subprocess with no
AWS or Slack settings at all (a fresh clone, no credentials)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.factories import delete_record, record

ROOT = Path(__file__).parent.parent.parent
EVENTS = ROOT / "tests" / "events" / "cloudtrail"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with nothing in its environment but PATH and a HOME without AWS files."""
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "detector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
        input=stdin,
        timeout=120,
        check=False,
    )


def _documents(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    docs, at = [], 0
    while (at := _skip(text, at)) < len(text):
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_preview_needs_no_settings_and_shows_every_kind_of_record(tmp_path: Path) -> None:
    later = delete_record("AKIAZSANDBOXDEMO7Q2X", eventTime="2026-11-28T09:20:00Z", eventID="d")
    created = json.loads((ROOT / "sandbox" / "samples" / "root_create_access_key.json").read_text())
    story = tmp_path / "story.jsonl"
    story.write_text(json.dumps(created) + "\n" + json.dumps(later) + "\n")
    proc = _run(
        "preview",
        str(story),
        str(EVENTS / "root_create_access_key_failed_limit.json"),
        str(EVENTS / "root_console_login.json"),
    )
    assert proc.returncode == 0, proc.stderr
    docs = _documents(proc.stdout)
    assert [d["role"] for d in docs] == ["alert", "reply", "notice", "ignored"]
    alert = docs[0]
    assert alert["slack"]["bot"][0]["block_kit_builder"].startswith(
        "https://app.slack.com/block-kit-builder/#"
    )
    assert alert["finding"]["Compliance"]["Status"] == "FAILED"
    assert alert["slack"]["bot"][0]["body"]["channel"] == "<placeholder: SLACK_CHANNEL_ID>"
    assert docs[1]["finding"]["RecordState"] == "ARCHIVED"
    assert [c["method"] for c in docs[1]["slack"]["bot"]] == ["chat.postMessage", "chat.update"]
    assert docs[2]["finding"] is None
    assert "no finding" in docs[2]["note"]


def test_preview_of_a_bad_input_says_so_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    proc = _run("preview", str(bad))
    assert proc.returncode == 2
    (doc,) = _documents(proc.stdout)
    assert doc["source"] == str(bad)
    assert "not JSON" in doc["error"]
    assert _run("preview").returncode == 2


def test_preview_digest_from_the_sweep_s_output() -> None:
    sweep = "\n".join(
        [
            json.dumps({"account": "111122223333", "status": "alerted", "detail": "new key"}),
            json.dumps(
                {
                    "sweep": {
                        "accounts": 3,
                        "counts": {"alerted": 1, "clean": 1, "failed": 1},
                        "failed": [{"account": "444455556666", "status": "failed", "detail": "x"}],
                    }
                }
            ),
        ]
    )
    proc = _run("preview", "--digest", "-", stdin=sweep)
    assert proc.returncode == 0, proc.stderr
    (doc,) = _documents(proc.stdout)
    assert doc["digest"]["slack"]["bot"][0]["body"]["text"] == (
        "Root access key sweep: alerted 1, clean 1, failed 1"
    )
    assert doc["key_found"]["finding"]["AwsAccountId"] == "111122223333"
    assert doc["key_gone"]["finding"]["Compliance"]["Status"] == "PASSED"
    example = _run("preview", "--digest")
    assert example.returncode == 0
    assert "an example sweep" in _documents(example.stdout)[0]["source"]


def test_classify_reads_lookup_events_and_directories_filters_and_counts(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    lookup = {
        "Events": [
            {"EventId": "1", "CloudTrailEvent": json.dumps(record(eventID="created"))},
            {"EventId": "2", "CloudTrailEvent": json.dumps(record(eventName="ListAccessKeys"))},
            {"EventId": "3", "CloudTrailEvent": "{broken"},
        ]
    }
    (tmp_path / "lookup.json").write_text(json.dumps(lookup))
    (tmp_path / "sub" / "more.jsonl").write_text(
        json.dumps(delete_record(eventID="deleted"))
        + "\n"
        + json.dumps(record(eventID="c2"))
        + "\n"
    )
    proc = _run(
        "classify", "--verdict", "root-key-created", "--verdict", "root-key-deleted", str(tmp_path)
    )
    assert proc.returncode == 2  # the broken entry
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line.get("event_id") for line in lines] == ["created", None, "deleted", "c2"]
    assert lines[1]["source"] == f"{tmp_path / 'lookup.json'}#2"
    assert lines[2]["source"] == f"{tmp_path / 'sub' / 'more.jsonl'}:1#0"
    assert proc.stderr.strip().splitlines() == [
        "classify: 4 records (ignored 1, root-key-created 2, root-key-deleted 1), 3 shown;"
        " 1 not CloudTrail, 0 inputs unreadable"
    ]


def test_classify_summary_without_a_filter() -> None:
    proc = _run("classify", str(EVENTS / "root_create_access_key.json"))
    assert proc.returncode == 0
    assert proc.stderr.strip() == (
        "classify: 1 record (root-key-created 1); 0 not CloudTrail, 0 inputs unreadable"
    )
    bad = _run("classify", "--verdict", "maybe", "x.json")
    assert bad.returncode == 2
    assert "--verdict" in bad.stderr
