"""Slack interaction requests: the signature, the payload and who may act, refused one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.interaction import (
    MAX_BODY_BYTES,
    Click,
    LinkClick,
    Refused,
    Responders,
    Submission,
    parse,
    verify,
)
from detector.domain.triage import TriageAction, modal
from sandbox.slack_interactions import (
    SlackUser,
    block_actions,
    form_body,
    signed_headers,
    view_submission,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example shape, not a real one
NOW = 1_800_000_000.0
ALICE = SlackUser("U0ALICE", "alice")
FID = "root-key-detector/111122223333/root-access-key/0123456789abcdef01234567"
CHANNEL = "C0SECALERTS"
TS = "1800000000.000100"
HOOK = "https://hooks.slack.com/actions/T0SANDBOX/1/abc"


def click(action_id: str = "triage_acknowledge", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "channel": CHANNEL,
        "message_ts": TS,
        "action_id": action_id,
        "value": FID,
        "response_url": HOOK,
    }
    return block_actions(kw.pop("user", ALICE), **{**args, **kw})


def outcome(fn: Any, *args: Any) -> Any:
    """What ``fn`` returns, or the refusal it raises (any other exception propagates)."""
    try:
        return fn(*args)
    except Refused as exc:
        return exc


def refused(fn: Any, *args: Any) -> Refused:
    with pytest.raises(Refused) as info:
        fn(*args)
    return info.value


# -- verification ----------------------------------------------------------------------------


def test_a_request_signed_like_slack_passes() -> None:
    body = form_body(click())
    headers = signed_headers(SECRET, body, at=NOW - 10)
    assert verify(headers, body, SECRET, NOW) == headers["x-slack-signature"]


def test_header_names_are_read_in_any_case() -> None:
    body = form_body(click())
    headers = {k.upper(): v for k, v in signed_headers(SECRET, body, at=NOW).items()}
    verify(headers, body, SECRET, NOW)


def test_a_forged_signature_is_401() -> None:
    body = form_body(click())
    headers = signed_headers("another-secret", body, at=NOW)
    assert refused(verify, headers, body, SECRET, NOW).status == 401


def test_a_tampered_body_is_401() -> None:
    body = form_body(click())
    headers = signed_headers(SECRET, body, at=NOW)
    tampered = form_body(click(user=SlackUser("U0MALLORY", "mallory")))
    assert refused(verify, headers, tampered, SECRET, NOW).reason == "signature mismatch"


@pytest.mark.parametrize("age", [301, -301, 86400])
def test_a_timestamp_over_five_minutes_away_is_401(age: int) -> None:
    body = form_body(click())
    headers = signed_headers(SECRET, body, at=NOW - age)
    err = refused(verify, headers, body, SECRET, NOW)
    assert (err.status, err.reason) == (401, "stale timestamp")


def test_five_minutes_exactly_still_passes() -> None:
    body = form_body(click())
    verify(signed_headers(SECRET, body, at=NOW - 300), body, SECRET, NOW)


@pytest.mark.parametrize("drop", ["x-slack-signature", "x-slack-request-timestamp"])
def test_an_unsigned_request_is_401(drop: str) -> None:
    body = form_body(click())
    headers = signed_headers(SECRET, body, at=NOW)
    del headers[drop]
    assert refused(verify, headers, body, SECRET, NOW).status == 401


@pytest.mark.parametrize("stamp", ["", "12.5", "-1", "\uff11\uff12\uff13", "9" * 40])
def test_a_malformed_timestamp_is_401(stamp: str) -> None:
    body = form_body(click())
    headers = {**signed_headers(SECRET, body, at=NOW), "x-slack-request-timestamp": stamp}
    assert refused(verify, headers, body, SECRET, NOW).status == 401


def test_a_body_over_64_kb_is_413_before_anything_else() -> None:
    body = b"payload=" + b"a" * MAX_BODY_BYTES
    headers = signed_headers(SECRET, body, at=NOW)
    assert refused(verify, headers, body, SECRET, NOW).status == 413


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(st.text(max_size=30), st.text(max_size=80), max_size=5),
    body=st.binary(max_size=2000),
)
def test_any_request_is_either_verified_or_refused(headers: dict[str, str], body: bytes) -> None:
    err = outcome(verify, headers, body, SECRET, NOW)
    assert isinstance(err, Refused)  # a random request cannot carry a valid signature
    assert err.status in {401, 413}
    assert SECRET not in err.reason


# -- parsing ---------------------------------------------------------------------------------


def test_a_button_click_is_parsed() -> None:
    got = parse(form_body(click("triage_suppress")))
    assert isinstance(got, Click)
    assert got.action is TriageAction.SUPPRESS
    assert (got.finding_id, got.channel_id, got.message_ts) == (FID, CHANNEL, TS)
    assert (got.responder.user_id, got.responder.name, got.responder.team_id) == (
        "U0ALICE",
        "alice",
        "T0SANDBOX",
    )
    assert got.response_url == HOOK


def test_a_link_button_click_needs_nothing() -> None:
    assert isinstance(parse(form_body(click("open_finding"))), LinkClick)


def test_a_modal_submission_carries_its_reason_and_target() -> None:
    view = modal(TriageAction.RESOLVE, FID, CHANNEL, TS)
    got = parse(form_body(view_submission(ALICE, view, "rotated to an IAM role")))
    assert isinstance(got, Submission)
    assert got.action is TriageAction.RESOLVE
    assert (got.finding_id, got.channel_id, got.message_ts) == (FID, CHANNEL, TS)
    assert got.text == "rotated to an IAM role"


@pytest.mark.parametrize("action_id", ["triage_delete_key", "", "TRIAGE_ACKNOWLEDGE"])
def test_an_unknown_action_is_400(action_id: str) -> None:
    err = refused(parse, form_body(click(action_id)))
    assert (err.status, err.reason) == (400, "unknown action")


def test_a_submission_of_an_unknown_view_is_400() -> None:
    view = {**modal(TriageAction.SUPPRESS, FID, CHANNEL, TS), "callback_id": "other_app"}
    assert refused(parse, form_body(view_submission(ALICE, view, "x"))).status == 400


def test_a_submission_whose_metadata_names_another_action_is_400() -> None:
    view = modal(TriageAction.SUPPRESS, FID, CHANNEL, TS)
    view["callback_id"] = TriageAction.RESOLVE.value
    assert refused(parse, form_body(view_submission(ALICE, view, "x"))).status == 400


def test_a_submission_without_a_reason_is_400() -> None:
    view = modal(TriageAction.SUPPRESS, FID, CHANNEL, TS)
    assert refused(parse, form_body(view_submission(ALICE, view, "  \n "))).status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=",
        b"payload=%7B",
        b"payload=[1,2]",
        b"payload=%7B%7D",
        b"payload=%7B%7D&payload=%7B%7D",
        b"payload=%7B%7D&extra=1",
        b"\xff\xfe",
        b'payload={"type":"block_actions"}',
        b'payload={"type":"shortcut","user":{"id":"U1"}}',
    ],
)
def test_a_malformed_payload_is_400(body: bytes) -> None:
    assert refused(parse, body).status == 400


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("user", "id"), "alice"),
        (("team", "id"), None),
        (("channel", "id"), "#security"),
        (("container", "message_ts"), "soon"),
        (("trigger_id",), 7),
        (("response_url",), None),
    ],
)
def test_a_field_of_the_wrong_shape_is_400(path: tuple[str, ...], value: Any) -> None:
    payload = click()
    target = payload
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    if path == ("team", "id"):
        payload["user"]["team_id"] = None
    if path == ("container", "message_ts"):
        payload["message"]["ts"] = "soon"
    assert refused(parse, form_body(payload)).status == 400


@pytest.mark.parametrize(
    ("user_team", "team"), [("T0OTHER", "T0SANDBOX"), ("T0SANDBOX", "T0OTHER"), ("T0OTHER", None)]
)
def test_a_user_of_another_workspace_is_refused_even_through_ours(
    user_team: str, team: str | None
) -> None:
    payload = click()
    payload["user"]["team_id"] = user_team
    if team is None:
        del payload["team"]
    else:
        payload["team"]["id"] = team
    got = parse(form_body(payload))
    assert isinstance(got, Click)
    policy = Responders("T0SANDBOX", CHANNEL, frozenset({ALICE.user_id}))
    assert policy.refusal(got.responder, CHANNEL) == "another workspace"


def test_a_user_of_ours_is_allowed_with_or_without_the_team_field() -> None:
    policy = Responders("T0SANDBOX", CHANNEL, frozenset({ALICE.user_id}))
    payload = click()
    assert payload["user"]["team_id"] == payload["team"]["id"] == "T0SANDBOX"
    got = parse(form_body(payload))
    assert isinstance(got, Click)
    assert policy.refusal(got.responder, CHANNEL) is None
    del payload["team"]
    got = parse(form_body(payload))
    assert isinstance(got, Click)
    assert policy.refusal(got.responder, CHANNEL) is None


def test_a_value_not_naming_a_detector_finding_is_400() -> None:
    assert refused(parse, form_body(click(value="arn:aws:securityhub:::other"))).status == 400


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_payload_parses_or_is_refused_with_400(payload: Any) -> None:
    err = outcome(parse, _as_body(payload))
    assert not isinstance(err, Refused) or err.status == 400


def _as_body(payload: Any) -> bytes:
    from urllib.parse import urlencode  # noqa: PLC0415

    return urlencode({"payload": json.dumps(payload)}).encode()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["user", "team", "channel", "container", "actions", "message"]),
    _json,
)
def test_a_mutated_click_parses_or_is_refused_with_400(field: str, value: Any) -> None:
    payload = click()
    payload[field] = value
    got = outcome(parse, form_body(payload))
    if isinstance(got, Refused):
        assert got.status == 400
    else:
        assert isinstance(got, Click | LinkClick)
        assert got.responder.user_id.startswith(("U", "W"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_are_refused_with_400(body: bytes) -> None:
    err = outcome(parse, body)
    assert not isinstance(err, Refused) or err.status == 400


# -- authorisation ---------------------------------------------------------------------------

POLICY = Responders(team_id="T0SANDBOX", channel_id=CHANNEL, user_ids=frozenset({"U0ALICE"}))


def responder(payload: dict[str, Any]) -> Click:
    got = parse(form_body(payload))
    assert isinstance(got, Click)
    return got


def test_an_allowed_responder_in_the_channel_may_act() -> None:
    got = responder(click())
    assert POLICY.refusal(got.responder, got.channel_id) is None


def test_a_user_not_allowed_is_refused() -> None:
    got = responder(click(user=SlackUser("U0BOB", "bob")))
    assert POLICY.refusal(got.responder, got.channel_id) == "user not allowed"


def test_another_workspace_is_refused_even_for_an_allowed_id() -> None:
    got = responder(click(user=SlackUser("U0ALICE", "alice", team_id="T0OTHER")))
    assert POLICY.refusal(got.responder, got.channel_id) == "another workspace"


def test_another_channel_is_refused() -> None:
    got = responder(click(channel="C0RANDOM"))
    assert POLICY.refusal(got.responder, got.channel_id) == "another channel"
