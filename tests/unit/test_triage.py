"""Triage actions: the Note they write, and the alert's status line and buttons for each state."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.message import SlackMessage
from detector.domain.triage import (
    BUTTONS_BLOCK,
    MAX_NOTE,
    STATUS_BLOCK,
    TriageAction,
    TriageState,
    Workflow,
    metadata,
    note_text,
    parse_metadata,
    reply_text,
    responder_label,
    with_triage,
)
from tests.unit.contracts import live_markup

FID = "root-key-detector/111122223333/root-access-key/0123456789abcdef01234567"
AT = datetime(2026, 12, 2, 1, 30, 5, tzinfo=UTC)


def test_each_action_sets_its_workflow() -> None:
    assert TriageAction.ACKNOWLEDGE.workflow is Workflow.NOTIFIED
    assert TriageAction.SUPPRESS.workflow is Workflow.SUPPRESSED
    assert TriageAction.RESOLVE.workflow is Workflow.RESOLVED
    assert [a.asks_text for a in TriageAction] == [False, True, True]


def test_the_note_names_the_user_the_action_and_the_time() -> None:
    note = note_text(TriageAction.SUPPRESS, responder_label("alice", "U0ALICE"), AT, "test acct")
    assert note == "Suppress in Slack by alice (U0ALICE) at 2026-12-02T01:30:05Z: test acct"


def test_a_note_of_emoji_fits_security_hubs_512_utf16_units() -> None:
    note = note_text(TriageAction.SUPPRESS, responder_label("alice", "U0ALICE"), AT, "😀" * 600)
    assert note.startswith("Suppress in Slack by alice (U0ALICE)")
    assert len(note.encode("utf-16-le")) // 2 <= MAX_NOTE
    assert note.endswith("😀…")


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=300), text=st.text(max_size=3000))
def test_the_note_fits_security_hub_and_holds_no_control_character(name: str, text: str) -> None:
    note = note_text(TriageAction.RESOLVE, responder_label(name, "U0ALICE"), AT, text)
    assert 1 <= len(note.encode("utf-16-le")) // 2 <= MAX_NOTE
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Cs"} for c in note)
    assert "U0ALICE" in note


def drawn(state: TriageState, *, key_present: bool = True) -> dict[str, object]:
    base = SlackMessage(text="Root access key created", blocks=[])
    return with_triage(base, FID, state, key_present=key_present).payload()


def buttons_of(payload: dict[str, object]) -> list[str]:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    actions = [b for b in blocks if b.get("block_id") == BUTTONS_BLOCK]
    return [e["action_id"] for e in actions[0]["elements"]]


def status_of(payload: dict[str, object]) -> str:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    return str(next(b for b in blocks if b.get("block_id") == STATUS_BLOCK)["elements"][0]["text"])


@pytest.mark.parametrize(
    ("workflow", "shown"),
    [
        (Workflow.NEW, ["triage_acknowledge", "triage_suppress", "triage_resolve"]),
        (Workflow.NOTIFIED, ["triage_suppress", "triage_resolve"]),
        (Workflow.SUPPRESSED, ["triage_acknowledge", "triage_resolve"]),
        (Workflow.RESOLVED, ["triage_acknowledge", "triage_suppress"]),
    ],
)
def test_each_state_offers_the_other_actions(workflow: Workflow, shown: list[str]) -> None:
    state = TriageState(workflow, by="alice (U0ALICE)", at=AT)
    payload = drawn(state)
    assert buttons_of(payload) == shown
    assert f"Workflow {workflow.value}" in status_of(payload)


def test_the_buttons_name_the_finding() -> None:
    blocks = drawn(TriageState())["blocks"]
    assert isinstance(blocks, list)
    assert {e["value"] for e in blocks[-1]["elements"]} == {FID}


def test_resolved_while_iam_shows_the_key_says_compliance_stays_failed() -> None:
    state = TriageState(Workflow.RESOLVED, by="alice (U0ALICE)", at=AT, note="rotated")
    assert "Compliance stays *FAILED*" in status_of(drawn(state, key_present=True))
    assert "FAILED" not in status_of(drawn(state, key_present=False))
    assert "Compliance stays FAILED" in reply_text(state, key_present=True)


def test_redrawing_replaces_the_earlier_status_and_buttons() -> None:
    once = with_triage(SlackMessage(text="t"), FID, TriageState(), key_present=True)
    twice = with_triage(once, FID, TriageState(Workflow.NOTIFIED, by="x"), key_present=True)
    ids = [b.block_id for b in twice.blocks]
    assert ids.count(STATUS_BLOCK) == ids.count(BUTTONS_BLOCK) == 1


def test_a_change_in_security_hub_says_so_and_who() -> None:
    state = TriageState(
        Workflow.SUPPRESSED, by="arn:aws:iam::111122223333:role/Analyst", via_slack=False
    )
    assert "in Security Hub" in status_of(drawn(state))
    assert "in Security Hub" in reply_text(state, key_present=True)
    unknown = TriageState(Workflow.SUPPRESSED, via_slack=False)
    assert "author unknown" in reply_text(unknown, key_present=True)


HOSTILE = "<!channel> <http://evil.example|x> *b* @here"


def test_names_and_notes_are_inert_in_slack() -> None:
    state = TriageState(Workflow.SUPPRESSED, by=HOSTILE, at=AT, note=HOSTILE)
    assert not live_markup(drawn(state))
    assert not live_markup({"text": reply_text(state, key_present=True)})


def test_the_state_round_trips_through_the_ledger_form() -> None:
    state = TriageState(Workflow.RESOLVED, by="alice (U0ALICE)", at=AT, note="n")
    assert TriageState.from_dict(state.as_dict()) == state
    assert TriageState.from_dict({"workflow": "BOGUS"}) == TriageState()
    assert TriageState.from_dict(None) == TriageState()


def test_modal_metadata_round_trips_and_rejects_anything_else() -> None:
    raw = metadata(TriageAction.SUPPRESS, FID, "C0SECALERTS", "1.2")
    assert parse_metadata(raw) == (TriageAction.SUPPRESS, FID, "C0SECALERTS", "1.2")
    for bad in ["", "[]", '{"a":"x"}', "x" * 4000, None, '{"a":"triage_resolve","f":1}']:
        assert parse_metadata(bad) is None
