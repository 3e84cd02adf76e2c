"""What Slack (or whatever answers in its place) sends back is untrusted: any answer gives the
result or an AlertDeliveryError built from a Slack-shaped code or the status, nothing else."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.adapters.slack import Answer, BotIdentity, _api_result, _marker
from detector.domain.message import METADATA_EVENT_TYPE
from detector.errors import AlertDeliveryError
from detector.retry import SLACK_TRANSIENT_ERRORS

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODE = re.compile(r"[a-z0-9_]{1,64}|HTTP [0-9]{3}")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
ANSWER_DOCS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"ok": st.one_of(st.booleans(), JSON)},
        optional={"error": st.one_of(st.text(max_size=80), JSON), "ts": JSON},
    ),
)
BODIES = st.one_of(ANSWER_DOCS.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64))
STATUSES = st.sampled_from([200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503])


def _outcome(status: int, body: bytes, headers: dict[str, str]) -> Any:
    try:
        return _api_result("slack.chat.postMessage", Answer(status, headers, body))
    except AlertDeliveryError as err:
        return err


@FAST
@given(
    STATUSES,
    BODIES,
    st.dictionaries(st.sampled_from(["Retry-After", "X"]), st.text(max_size=8)),
)
def test_any_answer_is_a_result_or_an_error_with_a_clean_code(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    outcome = _outcome(status, body, headers)
    if isinstance(outcome, AlertDeliveryError):
        assert CODE.fullmatch(outcome.code), outcome.code
        # Nothing of the body but a Slack-shaped code reaches the error.
        assert str(outcome) == (
            f"slack.chat.postMessage failed ({outcome.code}): "
            f"Slack answered HTTP {status}, error {outcome.code!r}"
        )
        transient = status == 429 or status >= 500 or outcome.code in SLACK_TRANSIENT_ERRORS
        assert outcome.transient == transient
        assert outcome.__context__ is None
    else:
        assert status == 200
        assert outcome["ok"] is True


TEXTISH = st.one_of(st.sampled_from(["", "e-1", "B1", "A1"]), JSON)
METADATA = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"event_type": st.sampled_from([METADATA_EVENT_TYPE, "other", ""])},
        optional={
            "event_payload": st.one_of(
                JSON,
                st.fixed_dictionaries({}, optional={"event_id": TEXTISH, "finding_id": TEXTISH}),
            )
        },
    ),
)


@FAST
@given(METADATA)
def test_any_metadata_names_an_event_of_ours_or_nothing(metadata: Any) -> None:
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    ours = (
        isinstance(metadata, dict)
        and metadata.get("event_type") == METADATA_EVENT_TYPE
        and isinstance(payload, dict)
        and isinstance(payload.get("event_id"), str)
        and payload["event_id"] != ""
        and isinstance(payload.get("finding_id", ""), str)
    )
    expected = (payload["event_id"], payload.get("finding_id", "")) if ours else None
    assert _marker(metadata) == expected


@FAST
@given(st.dictionaries(st.sampled_from(["bot_id", "app_id", "user"]), TEXTISH))
def test_a_message_is_the_bots_only_with_its_bot_id_and_app_id(message: dict[str, Any]) -> None:
    mine = message.get("bot_id") == "B1" and message.get("app_id") == "A1"
    assert BotIdentity(bot_id="B1", app_id="A1").posted(message) == mine
