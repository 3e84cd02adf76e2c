"""The caller's AssumeRoot record: untrusted input read into a RootSession, or no session.

AWS's shapes: "Track privileged tasks in AWS CloudTrail" (IAM User Guide) and "AssumeRoot" (STS
API reference). A record that cannot be trusted opens no session: the member record is then
alerted on as any root call is, never labelled wrongly.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.event import parse_event
from detector.domain.finding import MAX_DESCRIPTION, MAX_PRODUCT_FIELD_VALUE
from detector.domain.message import SlackMessage
from detector.domain.root_access import MAX_ROOT_SESSION, RootSession
from detector.domain.root_session import (
    LABEL_BLOCK,
    Rejected,
    Touch,
    is_labelled,
    labelled_finding,
    labelled_message,
    labels,
    session_key,
    sessions_in,
)
from tests.factories import DROP, envelope, log_file
from tests.session_factories import (
    CALLER_ARN,
    MANAGEMENT,
    MEMBER,
    SESSION_KEY,
    STARTED,
    assume_root,
    member_delete,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"


def only(doc: Any) -> RootSession:
    (session,) = sessions_in(doc)
    assert isinstance(session, RootSession), session
    return session


def test_the_callers_record_names_who_which_account_task_and_key() -> None:
    session = only(assume_root())
    assert session.account == MEMBER
    assert session.access_key_id == SESSION_KEY
    assert session.caller_arn == CALLER_ARN
    assert session.task == "IAMDeleteRootUserCredentials"
    assert session.started == STARTED
    assert session.expires == STARTED + MAX_ROOT_SESSION  # "Nov 20, 2026, 2:15:00 PM"


def test_every_form_yields_the_same_session() -> None:
    rec = assume_root()
    bare = only(rec)
    assert only(envelope(rec, source="aws.sts", region="us-west-2", account=MANAGEMENT)) == bare
    other = {"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances"}
    assert [s for s in sessions_in(log_file(other, rec, member_delete())) if s] == [bare]


@pytest.mark.parametrize(
    ("name", "accounts_keys"),
    [
        ("cloudtrail/sts_assume_root.json", [(MEMBER, "ASIAL2KOKGHRPEXAMPLE")]),
        ("eventbridge/sts_assume_root.json", [(MEMBER, "ASIAMZTCRCXZ4EXAMPLE")]),
        (
            "logfiles/123456789012_CloudTrail_us-east-1_20241212T0935Z_Rs4Tq8Lm2Vx6Kp0B.json",
            [(MEMBER, "ASIA5KMQBIUGJEXAMPLE")],
        ),
        ("sanitised/sts_assume_root_aws_example.json", [(MEMBER, "ASIAL2KOKGHRPEXAMPLE")]),
        ("cloudtrail/sts_assume_root_failed.json", []),
    ],
)
def test_corpus_sessions(name: str, accounts_keys: list[tuple[str, str]]) -> None:
    found = sessions_in(json.loads((EVENTS / name).read_text()))
    assert all(isinstance(s, RootSession) for s in found)
    assert [(s.account, s.access_key_id) for s in found if isinstance(s, RootSession)] == (
        accounts_keys
    )


def test_the_corpus_member_records_fall_in_their_sessions() -> None:
    """The pairs the corpus README names: each member record is covered by its session."""
    session = only(json.loads((EVENTS / "cloudtrail/sts_assume_root.json").read_text()))
    for name in ("root_delete_access_key_assumed_root", "root_delete_access_key_root_session"):
        event = parse_event(json.loads((EVENTS / f"cloudtrail/{name}.json").read_text()))
        assert labels(session, event), name
    session = only(json.loads((EVENTS / "eventbridge/sts_assume_root.json").read_text()))
    event = parse_event(
        json.loads((EVENTS / "eventbridge/root_delete_access_key_assumed_root.json").read_text())
    )
    assert labels(session, event)


def test_a_failed_call_opens_no_session() -> None:
    assert sessions_in(assume_root(errorCode="AccessDenied", responseElements=None)) == []


def test_the_target_may_be_the_members_root_arn() -> None:
    rec = assume_root(**{"requestParameters.targetPrincipal": f"arn:aws:iam::{MEMBER}:root"})
    assert only(rec).account == MEMBER


def test_the_session_token_is_never_kept() -> None:
    assert "EXAMPLE-session-token" not in repr(only(assume_root()))


def test_a_record_without_an_event_id_gets_the_same_stand_in_every_time() -> None:
    first = only(assume_root(eventID=DROP))
    assert first.event_id.startswith("unidentified-session-")
    assert only(assume_root(eventID=DROP)).event_id == first.event_id


def test_an_unreadable_expiration_falls_back_to_the_900_second_bound() -> None:
    session = only(assume_root(**{"responseElements.credentials.expiration": "soon"}))
    assert session.expires is None
    assert session.covers(STARTED + MAX_ROOT_SESSION)
    assert not session.covers(STARTED + MAX_ROOT_SESSION + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("requestParameters.targetPrincipal", "21098765432"),  # 11 digits
        ("requestParameters.targetPrincipal", "arn:aws:iam::210987654321:user/bob"),
        ("requestParameters.targetPrincipal", ["210987654321"]),
        ("requestParameters.taskPolicyArn.arn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("requestParameters.taskPolicyArn", "arn:aws:iam::aws:policy/root-task/X"),
        ("responseElements.credentials.accessKeyId", "AKIAR00TSESS1EXAMPLE"),  # long-term
        ("responseElements.credentials.accessKeyId", "ASIA short"),
        ("responseElements.credentials.expiration", "Nov 20, 2026, 3:15:00 PM"),  # 75 minutes
        ("responseElements.credentials.expiration", "Nov 20, 2026, 1:59:00 PM"),  # before
        ("responseElements", None),
        ("userIdentity.arn", "arn:aws:iam::111122223333:root"),
        ("userIdentity.arn", "<script>"),
        ("userIdentity.type", "Root"),  # root cannot call AssumeRoot
        ("eventTime", "2026-11-20 14:00:00"),
        ("eventTime", "2019-11-20T14:00:00Z"),  # before AssumeRoot existed
        ("recipientAccountId", "444455556666"),  # not the caller's account
        ("userIdentity.accountId", "444455556666"),
        ("requestParameters.targetPrincipal", "111122223333"),  # the caller's own account
        ("userIdentity.accountId", {"not": "an account"}),  # found by make fuzz: no crash
        ("recipientAccountId", ["111122223333"]),
    ],
)
def test_a_field_that_cannot_be_trusted_opens_no_session(path: str, value: Any) -> None:
    (rejected,) = sessions_in(assume_root(**{path: value}))
    assert isinstance(rejected, Rejected)
    assert rejected.path == "$"
    assert rejected.reason


# -- which member records a session covers ---------------------------------------------------


def test_a_member_record_in_the_session_is_labelled() -> None:
    assert labels(only(assume_root()), parse_event(member_delete(60)))


@pytest.mark.parametrize(
    "rec",
    [
        member_delete(901),  # after the session ended
        member_delete(-5),  # before it was opened
        member_delete(60, account="444455556666"),  # another account, the same key id
        member_delete(60, **{"userIdentity.accessKeyId": "ASIAOTHERSESSEXAMPLE"}),
        member_delete(60, **{"userIdentity.type": "IAMUser"}),
    ],
    ids=["after", "before", "other-account", "other-key", "not-root"],
)
def test_a_record_outside_the_session_is_not_labelled(rec: dict[str, Any]) -> None:
    assert not labels(only(assume_root()), parse_event(rec))


@pytest.mark.parametrize(
    "rec",
    [
        # no task policy lets a root session create or reactivate a key
        member_delete(60, eventName="CreateAccessKey"),
        member_delete(60, eventName="UpdateAccessKey"),
        # IAM refused it: the root user's own alarm, not a colleague's task
        member_delete(60, errorCode="AccessDenied"),
    ],
    ids=["create", "update", "refused"],
)
def test_a_call_the_task_policy_does_not_allow_is_not_labelled(rec: dict[str, Any]) -> None:
    assert not labels(only(assume_root()), parse_event(rec))


def test_an_audit_session_does_not_label_a_deletion() -> None:
    audit = assume_root(
        **{
            "requestParameters.taskPolicyArn.arn": (
                "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
            )
        }
    )
    assert not labels(only(audit), parse_event(member_delete(60)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"source": "custom.forged", "account": MANAGEMENT},  # not AWS's event
        {"source": "aws.sts", "account": "444455556666"},  # not the caller's account
    ],
    ids=["source", "account"],
)
def test_an_event_that_cannot_be_aws_own_opens_no_session(overrides: dict[str, Any]) -> None:
    (rejected,) = sessions_in(envelope(assume_root(), **overrides))
    assert isinstance(rejected, Rejected)
    assert rejected.path == "$.detail"


def test_root_signing_with_a_long_term_key_has_no_session_key() -> None:
    event = parse_event(member_delete(60, **{"userIdentity.accessKeyId": "AKIAR00TLONGEXAMPLE1"}))
    assert session_key(event) is None


# -- the label -------------------------------------------------------------------------------

FINDING: dict[str, Any] = {
    "Id": "root-key-detector/210987654321/root-access-key/0123",
    "UpdatedAt": "2026-11-20T14:01:00.002Z",
    "LastObservedAt": "2026-11-20T14:01:00.002Z",
    "Description": "The root user of account 210987654321 deleted an access key.",
    "ProductFields": {
        "root-key-detector/EventId": "member-delete-60",
        "root-key-detector/AssumedRoot": "false",
    },
}


def test_the_labelled_finding_names_caller_and_task_and_is_newer() -> None:
    labelled = labelled_finding(FINDING, only(assume_root()), bump=timedelta(milliseconds=1))
    fields = labelled["ProductFields"]
    assert fields["root-key-detector/RootSessionCaller"] == CALLER_ARN
    assert fields["root-key-detector/RootSessionTaskPolicy"].endswith(
        "root-task/IAMDeleteRootUserCredentials"
    )
    assert fields["root-key-detector/AssumedRoot"] == "true"
    assert labelled["Description"].startswith(f"Made in a root session: {CALLER_ARN} opened")
    assert labelled["UpdatedAt"] == "2026-11-20T14:01:00.003Z" > FINDING["UpdatedAt"]
    assert is_labelled(labelled)
    assert not is_labelled(FINDING)
    again = labelled_finding(labelled, only(assume_root()))
    assert again == labelled  # labelling twice changes nothing


def test_the_labelled_alert_says_a_privileged_task_not_an_attack() -> None:
    message = SlackMessage(text="Root access key deleted in account 210987654321")
    labelled = labelled_message(message, only(assume_root()))
    shown = labelled.text.replace("\u200b", "")  # ZWSP keeps Slack from linking the ARN
    assert shown.startswith(f"Privileged task (AssumeRoot by {CALLER_ARN}")
    assert shown.endswith(message.text)
    (block,) = [b for b in labelled.blocks if b.block_id == LABEL_BLOCK]
    text = block.to_dict()["text"]["text"]
    assert "Privileged task in a root session, not the root user's own credentials" in text
    assert "IAMDeleteRootUserCredentials" in text
    assert labelled_message(labelled, only(assume_root())) == labelled


def test_a_touch_survives_its_stored_form() -> None:
    touch = Touch("fid", "event", STARTED)
    assert Touch.load(touch.dump()) == touch
    assert Touch.load("not json") is None
    assert Touch.load('{"fid": "x"}') is None


# -- properties: any value in any field -------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "eventTime",
    "eventID",
    "errorCode",
    "userIdentity",
    "userIdentity.arn",
    "userIdentity.type",
    "requestParameters",
    "requestParameters.targetPrincipal",
    "requestParameters.taskPolicyArn",
    "requestParameters.taskPolicyArn.arn",
    "responseElements",
    "responseElements.credentials",
    "responseElements.credentials.accessKeyId",
    "responseElements.credentials.expiration",
]
_ACCOUNT = re.compile(r"[0-9]{12}")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON, min_size=1, max_size=4))
def test_any_garbled_record_yields_a_sound_session_or_none(garbled: dict[str, Any]) -> None:
    for item in sessions_in(assume_root(**garbled)):
        if isinstance(item, Rejected):
            continue
        assert _ACCOUNT.fullmatch(item.account)
        assert re.fullmatch(r"ASIA[A-Z0-9]{12,124}", item.access_key_id)
        assert item.caller_arn.startswith("arn:aws")
        assert item.task_policy_arn.startswith("arn:aws")
        assert item.started >= datetime(2024, 11, 1, tzinfo=UTC)
        assert item.expires is None or item.started < item.expires
        # Whatever the record says, a session covers at most 900 seconds.
        assert not item.covers(item.started + MAX_ROOT_SESSION + timedelta(seconds=1))
        labelled = labelled_finding(FINDING, item)
        assert len(labelled["Description"]) <= MAX_DESCRIPTION
        assert all(len(v) <= MAX_PRODUCT_FIELD_VALUE for v in labelled["ProductFields"].values())
        labelled_message(SlackMessage(text="x"), item).payload()  # within Slack's limits


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_input_is_read_without_raising(doc: Any) -> None:
    for wrapped in (
        doc,
        {"Records": [doc]},
        {"detail-type": "AWS API Call via CloudTrail", "detail": doc},
    ):
        sessions_in(wrapped)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-2000, max_value=2000), st.sampled_from([MEMBER, "444455556666"]))
def test_a_member_record_is_labelled_only_within_the_session(offset: int, account: str) -> None:
    session = only(assume_root())
    event = parse_event(member_delete(offset, account=account))
    inside = 0 <= offset <= MAX_ROOT_SESSION.total_seconds() and account == MEMBER
    assert labels(session, event) is inside
