"""``preview`` says what the detector does: the same events run through the real pipeline
against the sandbox, and what the Slack emulator and Security Hub received is what the preview
printed (its placeholders filled with what only the live run knew)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detector import handler
from detector.domain.confirmation import KeyState
from detector.domain.event import RootKeyEvent, parse_event
from detector.domain.preview import Assumptions, Story, preview_event, preview_sweep
from sandbox.aws import ACCOUNT_ID, REGION, SLACK_CHANNEL
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")
EVENTS = Path(__file__).parent.parent / "events" / "cloudtrail"
KEY = "AKIAZSANDBOXDEMO7Q2X"  # the key sample("root_create_access_key") creates
REASON = "root-key-detector/ConfirmationReason"
ALERT_TS = "<placeholder: ts of the key's alert"
NOTICE_TS = "<placeholder: ts of the account's notice"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _story() -> list[dict[str, Any]]:
    """A key created, deactivated and deleted; then two notices of the same account and hour."""
    now = datetime.now(UTC).replace(minute=0, second=5)
    create = sample("root_create_access_key", now=now)
    later = []
    for name, status, seconds in (
        ("UpdateAccessKey", "Inactive", 60),
        ("DeleteAccessKey", None, 120),
    ):
        record = json.loads(json.dumps(create))
        record |= {"eventName": name, "eventID": str(uuid.uuid4()), "responseElements": None}
        record["eventTime"] = _stamp(now + timedelta(seconds=seconds))
        record["requestParameters"] = {"accessKeyId": KEY, **({"status": status} if status else {})}
        later.append(record)
    notices = []
    for offset, name in enumerate(
        ("root_create_access_key_for_user", "root_create_access_key_failed_limit")
    ):
        record = json.loads((EVENTS / f"{name}.json").read_text())
        record["eventTime"] = _stamp(now + timedelta(minutes=5 + offset))
        notices.append(record)
    return [create, *later, *notices]


def _deliver(sandbox: SandboxStack, record: dict[str, Any]) -> RootKeyEvent:
    """Run one record through the rule and the handler; the event as the detector read it."""
    sandbox.put_cloudtrail_event(record)
    (routed,) = sandbox.receive_routed()
    handler.lambda_handler(routed, None)
    return parse_event(routed)


def _as_imported(filed: dict[str, Any], shown: dict[str, Any]) -> dict[str, Any]:
    """The finding as the detector imported it: the fields the preview shows, without what
    Security Hub adds on import (the ``aws/securityhub/`` product fields and the normalized
    severity: AWS Security Hub User Guide, "Required top-level attributes in ASFF" and
    "Severity")."""
    out = {k: json.loads(json.dumps(filed[k])) for k in shown if k in filed}
    out["ProductFields"] = {
        k: v for k, v in out["ProductFields"].items() if not k.startswith("aws/securityhub/")
    }
    out["Severity"].pop("Normalized", None)
    return out


def _filled(doc: Any, alert_ts: str | None, notice_ts: str | None) -> Any:
    """The preview with its ts placeholders replaced by the posted messages' ts."""
    if isinstance(doc, dict):
        return {k: _filled(v, alert_ts, notice_ts) for k, v in doc.items()}
    if isinstance(doc, str) and doc.startswith(ALERT_TS):
        return alert_ts
    if isinstance(doc, str) and doc.startswith(NOTICE_TS):
        return notice_ts
    return doc


def test_the_bot_mode_story_is_what_the_preview_printed(sandbox: SandboxStack) -> None:
    story = Story()
    expected_calls: list[tuple[str, dict[str, Any]]] = []
    for n, record in enumerate(_story()):
        sandbox.aws.set_root_key_present(n < 2)  # the key is gone when it is deleted
        before = len(sandbox.aws.findings())
        event = _deliver(sandbox, record)
        findings = sandbox.aws.findings()
        reason = findings[0]["ProductFields"][REASON] if findings else ""
        assume = Assumptions(
            region=REGION, channel=SLACK_CHANNEL, account_name=None, iam_reason=reason
        )
        preview = preview_event(event, f"record {n}", assume, story)

        if preview["finding"] is None:
            assert len(findings) == before  # a notice files nothing
        else:
            (filed,) = findings
            assert _as_imported(filed, preview["finding"]) == preview["finding"]
        expected_calls += [(c["method"], c["body"]) for c in preview["slack"]["bot"]]

    (alert, notice) = sandbox.slack.top_level(SLACK_CHANNEL)
    sent = [
        (r.method, r.payload)
        for r in sandbox.slack.requests
        if r.method in {"chat.postMessage", "chat.update"}
    ]
    assert [method for method, _ in sent] == [method for method, _ in expected_calls]
    assert sent == [(m, _filled(body, alert.ts, notice.ts)) for m, body in expected_calls]


def test_a_webhook_receives_the_preview_s_webhook_body(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_MODE", "webhook")
    sandbox.aws.set_root_key_present(True)
    event = _deliver(sandbox, sample("root_create_access_key"))
    (filed,) = sandbox.aws.findings()
    assume = Assumptions(
        region=REGION,
        account_name=None,
        iam=KeyState.PRESENT,
        iam_reason=filed["ProductFields"][REASON],
    )
    preview = preview_event(event, "record", assume, Story())

    (posted,) = [r for r in sandbox.slack.requests if r.method == "webhook"]
    assert posted.payload == preview["slack"]["webhook"]["body"]
    assert "metadata" not in posted.payload
    assert _as_imported(filed, preview["finding"]) == preview["finding"]


def _posts(sandbox: SandboxStack, since: int) -> list[dict[str, Any]]:
    return [
        r.payload or {} for r in sandbox.slack.requests[since:] if r.method == "chat.postMessage"
    ]


def test_the_sweep_s_messages_are_what_preview_digest_printed(
    sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detector.sweep import GONE  # noqa: PLC0415
    from detector.wiring import runtime_from_env  # noqa: PLC0415

    monkeypatch.setenv("KEY_SETTLE_SECONDS", "0")  # the next sweep may resolve the key at once
    runtime = runtime_from_env()
    sandbox.aws.add_dependencies()  # the digest then holds the counts alone, as preview's
    sandbox.aws.set_root_key_present(True)
    found = runtime.sweep()  # a root key no event told of: an alert and a digest
    (filed,) = sandbox.aws.findings()
    when = datetime.fromisoformat(filed["FirstObservedAt"])
    assume = Assumptions(
        region=REGION,
        channel=SLACK_CHANNEL,
        account_name=None,
        iam_reason=filed["ProductFields"][REASON],
    )
    preview = preview_sweep(found.counts, [], ACCOUNT_ID, when, assume, gone=GONE)
    alert, digest = _posts(sandbox, 0)
    assert alert == preview["key_found"]["slack"]["bot"][0]["body"]
    assert _as_imported(filed, preview["key_found"]["finding"]) == preview["key_found"]["finding"]
    assert digest == preview["digest"]["slack"]["bot"][0]["body"]

    sandbox.aws.set_root_key_present(False)
    seen = len(sandbox.slack.requests)
    gone = runtime.sweep()  # the key is gone: its finding resolved, a reply, a digest
    top = sandbox.slack.top_level(SLACK_CHANNEL)[0]  # the alert (the digest came after)
    preview = preview_sweep(gone.counts, [], ACCOUNT_ID, when, assume, gone=GONE)
    resolution, digest = _posts(sandbox, seen)
    assert resolution == _filled(preview["key_gone"]["slack"]["bot"][0]["body"], top.ts, None)
    assert digest == preview["digest"]["slack"]["bot"][0]["body"]
    (resolved,) = sandbox.aws.findings()
    assert resolved["RecordState"] == preview["key_gone"]["finding"]["RecordState"] == "ARCHIVED"
