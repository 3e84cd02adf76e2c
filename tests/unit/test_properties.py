"""Property tests at the edges: parsing never fails oddly, escaping keeps its invariants."""

from __future__ import annotations

import copy
import gzip
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.document import load_document
from detector.domain.event import RootKeyEvent, parse_input
from detector.domain.finding import (
    FindingContext,
    build_finding,
    cloudtrail_event_url,
    finding_id,
    securityhub_finding_url,
)
from detector.domain.message import Links, build_message
from detector.domain.text import ELLIPSIS, ZWSP, clean, mask_key, mrkdwn
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import delete_record, envelope, log_file, record, update_record
from tests.unit.contracts import (
    BIDI,
    asff_problems,
    autolink_problems,
    live_markup,
    text_problems,
)

# Modest budgets: the whole file runs in seconds on 2 cores. The "explain" phase is left out:
# it re-runs failures many times and adds little to a shrunk example.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
FAST = settings(
    max_examples=150, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow]
)
HEAVY = settings(
    max_examples=60, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------------------------------------
# Strategies

# What json.loads can produce (ints bounded like real JSON numbers, NaN/Infinity allowed).
KNOWN_KEYS = [
    "Records",
    "detail",
    "detail-type",
    "account",
    "id",
    "eventName",
    "eventSource",
    "eventVersion",
    "eventTime",
    "eventID",
    "userIdentity",
    "type",
    "sessionContext",
    "attributes",
    "mfaAuthenticated",
    "assumedRoot",
    "requestParameters",
    "responseElements",
    "accessKey",
    "accessKeyId",
    "createDate",
    "userName",
    "recipientAccountId",
    "accountId",
    "errorCode",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "AWS API Call via CloudTrail",
            "iam.amazonaws.com",
            "CreateAccessKey",
            "Root",
            "true",
            "2026-11-20T14:03:11Z",
            "123456789012",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=12,
)
valid_docs = st.sampled_from(
    [
        record(),
        delete_record(),
        update_record("Inactive"),
        update_record("Active"),
        record(requestParameters={"userName": "ci"}),
        record(errorCode="AccessDenied", responseElements=None),
        envelope(record()),
        envelope(delete_record()),
        log_file(record(), update_record("Inactive"), delete_record()),
    ]
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_docs(draw: st.DrawFn) -> Any:
    """A valid input with a few keys dropped or values replaced by arbitrary JSON."""
    doc = copy.deepcopy(draw(valid_docs))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return doc


SLACK_TOKENS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C1>",
    "<http://x|y>",
    "<https://evil.example/a?b=c|Rotate now>",
    "<mailto:a@b.c|mail>",
    "http://",
    "https://",
    "ftp://",
    "www.",
    "WWW.",
    "evil.com",
    "@here",
    "@channel",
    "@U123",
    "user@example.com",
    "*",
    "_",
    "~",
    "`",
    "```",
    ">",
    "<",
    "&",
    "&lt;",
    "&amp;",
    ":",
    "/",
    "@",
    ".",
    " ",
    "\n",
    "\t",
    "\r",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u061c",
    "\u2028",
    "\ud800",
    "é",
    "名",
    "😀",
    ":skull:",
    ":admin-approved:",
    ":+1:",
    "evil.com1",
    "evil.com_x",
    "пример.рф",
    "exämple.com",
    "xn--e1afmkfd.xn--p1ai",
    "evil\u3002com",
    "evil\uff0ecom",
]
hostile_text = st.one_of(
    st.text(),
    st.lists(st.sampled_from(SLACK_TOKENS) | st.text(max_size=5), max_size=40).map("".join),
    st.tuples(st.sampled_from(SLACK_TOKENS), st.integers(min_value=50, max_value=1500)).map(
        lambda t: t[0] * t[1]
    ),
)
limits = st.integers(min_value=1, max_value=400)
IAM_NAMES = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9+=,.@_-]{1,64}\Z"),
    st.lists(
        st.sampled_from(["@here", "@channel", "www.", "evil.com", "_", "=", ",", ".", "a"]),
        min_size=1,
        max_size=12,
    )
    .map("".join)
    .filter(lambda name: len(name) <= 64),
)


def _unescape(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def _forbidden_chars(text: str, *, allow_zwsp: bool) -> list[str]:
    bad = []
    for ch in text:
        if allow_zwsp and ch == ZWSP:
            continue
        if ch in BIDI or unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            bad.append(ch)
    return bad


# ---------------------------------------------------------------------------------------------
# (a) parsing: a list of RootKeyEvent or EventParseError, nothing else


def _parse_or_error(doc: Any) -> None:
    try:
        events = parse_input(doc)
    except EventParseError as exc:
        path = exc.path
    else:
        path = "$"
        assert isinstance(events, list)
        for event in events:
            assert isinstance(event, RootKeyEvent)
            assert isinstance(classify(event), Verdict)
    assert path.startswith("$")  # an error names a JSON path


@FAST
@given(json_values)
def test_arbitrary_json_parses_or_raises_event_parse_error(doc: Any) -> None:
    _parse_or_error(doc)


@FAST
@given(st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values, max_size=6))
def test_arbitrary_objects_with_cloudtrail_keys_parse_or_raise(doc: dict[str, Any]) -> None:
    _parse_or_error(doc)
    _parse_or_error({"Records": [doc]})
    _parse_or_error(envelope(doc))


@FAST
@given(mutated_docs())
def test_mutated_valid_inputs_parse_or_raise(doc: Any) -> None:
    _parse_or_error(doc)


raw_bytes = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(gzip.compress),
    st.binary(max_size=200).map(lambda b: b"\x1f\x8b" + b),
    st.builds(
        lambda d, n: gzip.compress(json.dumps(d).encode())[:n], json_values, st.integers(0, 60)
    ),
    json_values.map(lambda d: json.dumps(d).encode()),
    mutated_docs().map(lambda d: json.dumps(d).encode()),
    st.text(max_size=100).map(lambda s: s.encode("utf-16")),
    st.integers(min_value=1, max_value=6000).map(lambda n: b"7" * n),
)


@FAST
@given(raw_bytes)
def test_arbitrary_bytes_load_or_raise_event_parse_error(data: bytes) -> None:
    try:
        doc = load_document(data)
    except EventParseError as exc:
        path = exc.path
    else:
        path = "$"
        _parse_or_error(doc)
    assert path == "$"  # undecodable bytes are the document's fault as a whole


# ---------------------------------------------------------------------------------------------
# (b) text: escaping invariants


@FAST
@given(hostile_text, limits)
def test_mrkdwn_output_is_inert(text: str, limit: int) -> None:
    out = mrkdwn(text, limit)

    assert text_problems(out) == []
    assert autolink_problems(out) == []
    assert "\n" not in out
    assert _forbidden_chars(out, allow_zwsp=True) == []


@FAST
@given(
    st.lists(
        st.sampled_from(["evil", "com", "рф", "ä", "1", "_", "x", ":", ".", "\u3002", "-", "+"]),
        max_size=30,
    ).map("".join),
    limits,
)
def test_mrkdwn_leaves_no_emoji_code_or_domain(text: str, limit: int) -> None:
    assert autolink_problems(mrkdwn(text, limit)) == []


@FAST
@given(hostile_text, limits)
def test_mrkdwn_shows_exactly_the_cleaned_text(text: str, limit: int) -> None:
    out = mrkdwn(text, limit)
    visible = _unescape(out.replace(ZWSP, ""))

    # Nothing is lost or added but zero-width spaces and entity escapes ...
    assert visible == clean(text, limit)
    # ... so the visible length is bounded by the limit, and each visible character costs at
    # most 5 ("&" -> "&amp;"; "<" -> "&lt;"; "@", "*", ... -> char + ZWSP).
    assert len(visible) <= limit
    assert len(out) <= 5 * limit


def test_mrkdwn_bound_is_tight() -> None:
    assert len(mrkdwn("&" * 40, 40)) == 5 * 40


@FAST
@given(hostile_text, limits)
def test_clean_is_bounded_and_printable(text: str, limit: int) -> None:
    out = clean(text, limit)

    assert len(out) <= limit
    assert _forbidden_chars(out, allow_zwsp=False) == []
    assert "\n" not in out
    assert "\t" not in out
    if len(clean(text, 10**9)) > limit:
        assert out.endswith(ELLIPSIS)  # a cut is visible
    if text.isprintable() and text == text.strip() and "  " not in text and len(text) <= limit:
        assert out == text  # ordinary text is left alone


@FAST
@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
    | st.text(alphabet=" a."),  # runs of spaces, at the ends too
    limits,
)
def test_clean_takes_printable_ascii_the_same_way_as_any_text(text: str, limit: int) -> None:
    # Printable ASCII skips the per-character pass; a dropped control character forces it.
    assert clean(text, limit) == clean(text + "\x00", limit) == clean("\u202e" + text, limit)


KEYS = st.from_regex(r"\A(AKIA|ASIA)[A-Z2-7]{16}\Z")


@FAST
@given(st.none() | hostile_text | KEYS)
def test_mask_key_reveals_at_most_four_leading_and_four_trailing(key: str | None) -> None:
    out = mask_key(key)
    if out in {"unknown", "****"}:
        return
    head, sep, tail = out.partition(ELLIPSIS)
    assert sep == ELLIPSIS
    assert len(head) == 4
    assert len(tail) <= 4
    assert key is not None
    cleaned = clean(key, 128)
    assert cleaned.startswith(head)
    assert cleaned.endswith(tail)


@FAST
@given(KEYS)
def test_mask_key_of_a_real_key(key: str) -> None:
    assert mask_key(key) == f"{key[:4]}{ELLIPSIS}{key[-4:]}"


# ---------------------------------------------------------------------------------------------
# (c) attacker-controlled fields end up inert in Slack and valid in Security Hub

VERDICT_DOCS = {
    Verdict.CREATED: lambda key: record(**{"responseElements.accessKey.accessKeyId": key}),
    Verdict.DELETED: delete_record,
    Verdict.DEACTIVATED: lambda key: update_record("Inactive", key),
    Verdict.ACTIVATED: lambda key: update_record("Active", key),
    Verdict.USER_KEY: lambda key: record(
        requestParameters={"userName": "ci"},
        **{"responseElements.accessKey.accessKeyId": key},
    ),
    Verdict.CREATE_FAILED: lambda key: record(
        errorCode="AccessDenied",
        errorMessage="denied",
        responseElements={"accessKey": {"accessKeyId": key}},
    ),
}
NOW = datetime(2026, 11, 20, 14, 3, 30, tzinfo=UTC)
attacker = st.one_of(hostile_text, st.sampled_from(SLACK_TOKENS), st.none())


@st.composite
def hostile_events(draw: st.DrawFn) -> tuple[RootKeyEvent, Verdict]:
    verdict = draw(st.sampled_from(list(VERDICT_DOCS)))
    key = draw(st.one_of(KEYS, hostile_text.filter(bool)))
    doc = VERDICT_DOCS[verdict](key)
    doc["userAgent"] = draw(attacker)
    doc["sourceIPAddress"] = draw(attacker)
    doc["userIdentity"]["userName"] = draw(attacker)
    doc["userIdentity"]["accessKeyId"] = draw(attacker)
    if verdict is Verdict.USER_KEY:
        # IAM user names take only letters, digits and +=,.@_- : the most hostile of those.
        doc["requestParameters"]["userName"] = draw(IAM_NAMES)
    if verdict is Verdict.CREATE_FAILED:
        doc["errorMessage"] = draw(attacker)
        doc["errorCode"] = draw(hostile_text.filter(bool))
    (event,) = parse_input(doc)
    assert classify(event) is verdict
    return event, verdict


def _message_payload(event: RootKeyEvent, verdict: Verdict, account_name: str | None) -> Any:
    # A real Id, but not from the hostile key: finding_id() has its own tests, this is about
    # what build_message does with hostile text.
    fid = finding_id(event.account_id, "AKIAIOSFODNN7EXAMPLE") if event.account_id else None
    links = Links(
        finding=securityhub_finding_url("us-east-1", fid) if fid else None,
        cloudtrail_event=cloudtrail_event_url("us-east-1", event.event_id),
    )
    confirmation = (
        Confirmation(KeyState.UNCONFIRMED, "IAM did not answer")
        if verdict.key_expected_present is not None
        else None
    )
    message = build_message(
        event, verdict, confirmation, links=links, account_name=account_name, finding_id=fid
    )
    return message.payload()  # SlackObjectFormationError would fail the test


@HEAVY
@given(hostile_events(), attacker)
def test_slack_message_from_hostile_fields_is_valid_and_inert(
    drawn: tuple[RootKeyEvent, Verdict], account_name: str | None
) -> None:
    event, verdict = drawn
    payload = _message_payload(event, verdict, account_name)

    json.dumps(payload)
    assert live_markup(payload) == []
    if event.access_key_id and len(event.access_key_id) >= 12 and event.access_key_id.isalnum():
        assert event.access_key_id not in json.dumps(payload, ensure_ascii=False)


@HEAVY
@given(hostile_events(), st.sampled_from(list(KeyState)), attacker)
def test_finding_from_hostile_fields_passes_security_hub_validation(
    drawn: tuple[RootKeyEvent, Verdict], state: KeyState, account_name: str | None
) -> None:
    event, verdict = drawn
    if verdict.key_expected_present is None:
        return  # no root-key finding for notices
    ctx = FindingContext.first_observation(event, verdict, "us-east-1", account_name=account_name)
    finding = build_finding(event, verdict, Confirmation(state, "reason"), ctx)

    assert asff_problems(finding) == []
