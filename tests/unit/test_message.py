"""The Slack alert: within Block Kit limits, key masked, state shown, attacker text inert."""

from __future__ import annotations

import json
from typing import Any

import pytest

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.event import RootKeyEvent, parse_input
from detector.domain.finding import cloudtrail_event_url, finding_id, securityhub_finding_url
from detector.domain.message import Links, SlackMessage, build_message
from detector.domain.verdict import Verdict, classify
from tests.factories import (
    ACCOUNT,
    KEY_ID,
    delete_record,
    record,
    update_record,
)
from tests.unit.contracts import live_markup

REGION = "us-east-1"
MASKED = f"{KEY_ID[:4]}…{KEY_ID[-4:]}"
HOSTILE = (
    "<!channel> <!here> <@U0123ABCD> <#C0123ABCD> <http://evil.example/phish|Click to rotate> "
    "https://evil.example www.evil.example @here @channel *bold* _it_ ~s~ `code` "
    "&amp; \u202eenil\u2066 \x1b[31m\n> quoted"
)


def doc_for(verdict: Verdict, **overrides: Any) -> dict[str, Any]:
    factories = {
        Verdict.CREATED: lambda: record(**overrides),
        Verdict.DELETED: lambda: delete_record(**overrides),
        Verdict.DEACTIVATED: lambda: update_record("Inactive", **overrides),
        Verdict.ACTIVATED: lambda: update_record("Active", **overrides),
        Verdict.USER_KEY: lambda: record(**{"requestParameters": {"userName": "ci"}, **overrides}),
        Verdict.CREATE_FAILED: lambda: record(
            **{
                "errorCode": "LimitExceeded",
                "errorMessage": "Cannot exceed quota for AccessKeysPerUser: 2",
                "responseElements": None,
                **overrides,
            }
        ),
        Verdict.IGNORED: lambda: record(eventName="ListAccessKeys", **overrides),
    }
    return factories[verdict]()


def event_for(verdict: Verdict, **overrides: Any) -> RootKeyEvent:
    (event,) = parse_input(doc_for(verdict, **overrides))
    assert classify(event) is verdict
    return event


def confirmation_for(verdict: Verdict, state: KeyState = KeyState.PRESENT) -> Confirmation | None:
    if verdict.key_expected_present is None:
        return None
    return Confirmation(state, f"GetAccountSummary answered ({state.value.lower()})")


def message_for(
    verdict: Verdict,
    state: KeyState = KeyState.PRESENT,
    *,
    account_name: str | None = "acme-prod",
    **overrides: Any,
) -> SlackMessage:
    event = event_for(verdict, **overrides)
    fid = finding_id(event.account_id, event.access_key_id) if event.account_id else None
    links = Links(
        finding=securityhub_finding_url(REGION, fid) if fid else None,
        cloudtrail_event=cloudtrail_event_url(REGION, event.event_id),
    )
    return build_message(
        event,
        verdict,
        confirmation_for(verdict, state),
        links=links,
        account_name=account_name,
        finding_id=fid,
    )


def dumped(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def blocks_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in payload["blocks"] if b["type"] == kind]


def section_texts(payload: dict[str, Any]) -> list[str]:
    texts = []
    for block in blocks_of(payload, "section"):
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [f["text"] for f in block.get("fields", [])]
    return texts


ALL_VERDICTS = list(Verdict)
LONG = {
    "userAgent": "Mozilla/5.0 " * 1000,
    "sourceIPAddress": "a" * 5000,
    "errorMessage": "<!channel> " * 1000,
    "awsRegion": "r" * 500,
}


@pytest.mark.parametrize("verdict", ALL_VERDICTS)
@pytest.mark.parametrize("extreme", [False, True], ids=["normal", "huge-values"])
def test_payload_is_within_block_kit_limits(verdict: Verdict, extreme: bool) -> None:
    overrides = LONG if extreme else {}
    message = message_for(verdict, account_name="n" * 500 if extreme else "acme", **overrides)

    payload = message.payload()  # raises SlackObjectFormationError past Slack's limits

    (header,) = blocks_of(payload, "header")
    assert 0 < len(header["text"]["text"]) <= 150
    for block in blocks_of(payload, "section"):
        assert len(block.get("fields", [])) <= 10
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    for block in blocks_of(payload, "actions"):
        for button in block["elements"]:
            assert button["url"].startswith("https://")
            assert len(button["url"]) <= 3000
    for block in blocks_of(payload, "context"):
        assert all(len(e["text"]) <= 3000 for e in block["elements"])
    assert 0 < len(payload["text"]) <= 3000
    assert len(payload["blocks"]) <= 50


@pytest.mark.parametrize("verdict", ALL_VERDICTS)
def test_key_id_is_masked_everywhere(verdict: Verdict) -> None:
    payload = message_for(verdict).payload()
    text = dumped(payload)

    assert KEY_ID not in text
    assert KEY_ID[4:-4] not in text  # not even the secret-looking middle
    # A failed create has no key; an ignored record (not an access-key call) keeps none.
    if verdict not in {Verdict.CREATE_FAILED, Verdict.IGNORED}:
        assert MASKED in text
        assert MASKED in payload["text"]


def test_masked_key_for_a_caller_supplied_key_id() -> None:
    # Update/Delete name the key in requestParameters: masked the same way.
    payload = message_for(Verdict.DEACTIVATED).payload()
    assert KEY_ID not in dumped(payload)
    assert MASKED in dumped(payload)


@pytest.mark.parametrize("verdict", ALL_VERDICTS)
def test_fallback_text_names_what_happened_and_the_account(verdict: Verdict) -> None:
    payload = message_for(verdict).payload()
    assert payload["text"].strip()
    assert ACCOUNT in payload["text"]


@pytest.mark.parametrize("verdict", [Verdict.CREATED, Verdict.ACTIVATED])
def test_fallback_text_says_root_key_on_alerts(verdict: Verdict) -> None:
    assert "Root access key" in message_for(verdict).payload()["text"]


def test_account_name_is_shown_with_the_id() -> None:
    text = dumped(message_for(Verdict.CREATED, account_name="acme-prod").payload())
    assert ACCOUNT in text
    assert "acme-prod" in text


@pytest.mark.parametrize(
    "verdict", [Verdict.CREATED, Verdict.DELETED, Verdict.DEACTIVATED, Verdict.ACTIVATED]
)
@pytest.mark.parametrize("state", list(KeyState))
def test_confirmation_state_is_shown(verdict: Verdict, state: KeyState) -> None:
    payload = message_for(verdict, state).payload()
    assert any(state.value in t for t in section_texts(payload))
    assert state.value in payload["text"]
    others = {s.value for s in KeyState} - {state.value}
    assert not any(o in t for t in section_texts(payload) for o in others)


def test_created_without_confirmation_still_builds() -> None:
    event = event_for(Verdict.CREATED)
    payload = build_message(event, Verdict.CREATED, None).payload()
    assert ACCOUNT in payload["text"]
    assert KEY_ID not in dumped(payload)


@pytest.mark.parametrize("verdict", [Verdict.CREATED, Verdict.DELETED, Verdict.CREATE_FAILED])
def test_assume_root_session_is_labelled(verdict: Verdict) -> None:
    overrides = {"userIdentity.sessionContext.assumedRoot": "true"}
    labelled = dumped(message_for(verdict, **overrides).payload())
    plain = dumped(message_for(verdict).payload())
    assert "AssumeRoot" in labelled
    assert "AssumeRoot" not in plain


def test_event_details_are_shown() -> None:
    text = dumped(message_for(Verdict.CREATED).payload())
    assert "203.0.113.45" in text
    assert "aws-cli" in text
    assert "CreateAccessKey" in text
    assert "<!date^1795183391^" in text  # 2026-11-20T14:03:11Z, shown in the reader's zone


def test_buttons_link_to_the_finding_and_the_event() -> None:
    payload = message_for(Verdict.CREATED).payload()
    (actions,) = blocks_of(payload, "actions")
    urls = [b["url"] for b in actions["elements"]]
    assert any("securityhub" in u for u in urls)
    assert any("cloudtrail" in u and "10fe3541-75dc-45f7-a993-4465871481aa" in u for u in urls)


@pytest.mark.parametrize(
    "field",
    [
        "userAgent",
        "sourceIPAddress",
        "errorMessage",
        "errorCode",
        "awsRegion",
        "requestParameters.userName",
    ],
)
def test_attacker_text_is_escaped(field: str) -> None:
    verdict = Verdict.CREATE_FAILED if field.startswith("error") else Verdict.CREATED
    if field == "requestParameters.userName":
        # An IAM user name holds only letters, digits and +=,.@_- (anything else is untrusted):
        # its worst is a mention or a link.
        payload = message_for(Verdict.USER_KEY, **{field: "@channel.www.evil.com,@here"}).payload()
        assert live_markup(payload) == []
        assert "@channel" not in dumped(payload)
        return
    payload = message_for(verdict, **{field: HOSTILE}).payload()

    assert live_markup(payload) == []
    text = dumped(payload)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text  # shown, not swallowed
    assert "\u202e" not in text


def test_attacker_account_name_is_escaped() -> None:
    payload = message_for(Verdict.CREATED, account_name=HOSTILE).payload()
    assert live_markup(payload) == []


@pytest.mark.parametrize("verdict", ALL_VERDICTS)
def test_ordinary_message_has_no_live_markup_besides_ours(verdict: Verdict) -> None:
    assert live_markup(message_for(verdict).payload()) == []


def test_long_attacker_values_are_truncated() -> None:
    payload = message_for(Verdict.CREATED, userAgent="A" * 10_000).payload()
    (ua,) = [t for t in section_texts(payload) if t.startswith("*User agent*")]
    assert len(ua) < 400
    assert ua.endswith("…")


@pytest.mark.parametrize(
    "text",
    ["<!channel>", "see https://evil.example", "ping @here", "a\u202eb", "<http://x|y>", "a\x07"],
)
def test_the_live_markup_check_flags_what_slack_would_render(text: str) -> None:
    # Guard against a checker that silently accepts everything.
    payload = {
        "text": "ok",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
    assert live_markup(payload)


def test_the_live_markup_check_exempts_only_our_buttons_and_date() -> None:
    url = "https://us-east-1.console.aws.amazon.com/x"
    when = "*When*\n<!date^1795183391^{date_short_pretty} {time_secs}|2026-11-20 14:03:11 UTC>"
    ours = {
        "text": "ok",
        "blocks": [
            {"type": "section", "fields": [{"type": "mrkdwn", "text": when}]},
            {"type": "actions", "elements": [{"type": "button", "url": url}]},
        ],
    }
    assert live_markup(ours) == []
    elsewhere = {"text": "ok", "blocks": [{"type": "section", "url": url}]}
    assert live_markup(elsewhere)
    two_dates = {
        "text": "ok",
        "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": when + " <!here>"}]}],
    }
    assert live_markup(two_dates)


# ---------------------------------------------------------------------------------------------
# Sanitised input: the alert names what it could not trust


def test_the_alert_names_the_fields_it_could_not_trust() -> None:
    overrides = {"eventTime": "redacted", "recipientAccountId": "1234567890", "eventID": None}
    event = event_for(Verdict.CREATED, **overrides)
    payload = build_message(
        event, Verdict.CREATED, confirmation_for(Verdict.CREATED), unfiled="no account"
    ).payload()
    text = dumped(payload).replace("\u200b", "")

    for path in ("$.eventTime", "$.recipientAccountId", "$.eventID"):
        assert path in text
    assert "*When*\\n_could not be read_" in text  # no 1970 date shown as the event's time
    assert "<!date^0^" not in text
    assert "No Security Hub finding was filed:* no account" in text
    assert live_markup(payload) == []


def test_a_sound_record_has_no_doubts_line() -> None:
    text = dumped(message_for(Verdict.CREATED).payload())
    assert "cannot be trusted" not in text
    assert "No Security Hub finding" not in text


def test_many_untrusted_fields_stay_within_block_kit_limits() -> None:
    overrides = {k: ["x"] for k in ("userAgent", "sourceIPAddress", "awsRegion", "eventVersion")}
    overrides |= {f"userIdentity.{k}": ["x"] for k in ("arn", "principalId", "userName", "type")}
    overrides["userIdentity.type"] = "Root"
    overrides |= {"eventTime": "x", "eventID": ["x"], "recipientAccountId": "1", "errorMessage": {}}
    event = event_for(Verdict.CREATED, **overrides)
    assert len(event.untrusted) > 10
    payload = build_message(event, Verdict.CREATED, None, unfiled="x" * 5000).payload()
    assert f" and {len(event.untrusted) - 10} more" in dumped(payload)
    for block in blocks_of(payload, "section"):
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_aws_root_user_as_target_is_roots_own_key_in_the_alert() -> None:
    event = event_for(Verdict.CREATED, requestParameters={"userName": "AWS ROOT USER"})
    text = dumped(build_message(event, Verdict.CREATED, None).payload())
    assert "created an access key." in text
    assert "IAM user" not in text
