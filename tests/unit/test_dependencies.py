"""The sweep's verdict on what the detector depends on in an account, as a table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.domain.dependencies import (
    Assessment,
    Check,
    Facts,
    Selectors,
    Trail,
    Unreadable,
    Verdict,
    assess,
    logs_management_writes,
)

REGION = "us-east-1"
ARN = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
ALL = Selectors(basic=({"ReadWriteType": "All", "IncludeManagementEvents": True},))
DENIED = Unreadable("AccessDeniedException")


def trail(**kw: Any) -> Trail:
    base: dict[str, Any] = {
        "arn": ARN,
        "home_region": REGION,
        "multi_region": False,
        "logging": True,
        "selectors": ALL,
    }
    return Trail(**(base | kw))


def facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "region": REGION,
        "rule_name": "root-key-detector-forward",
        "trails": (trail(),),
        "rule_state": "ENABLED",
        "hub_enabled": True,
    }
    return Facts(**(base | kw))


def verdict(f: Facts, check: Check) -> Assessment:
    return next(a for a in assess(f) if a.check is check)


TRAIL_TABLE = [
    ("a logging trail of this region, all events", (trail(),), Verdict.OK, ""),
    (
        "a multi-region trail of another region (a shadow trail)",
        (trail(home_region="eu-west-1", multi_region=True),),
        Verdict.OK,
        "",
    ),
    (
        "an organization trail",
        (trail(organization=True, multi_region=True, home_region="us-west-2"),),
        Verdict.OK,
        "",
    ),
    ("no trail", (), Verdict.PROBLEM, "no CloudTrail trail covers us-east-1"),
    (
        "only another region's single-region trail",
        (trail(home_region="eu-west-1", logging=None, selectors=None),),
        Verdict.PROBLEM,
        "no CloudTrail trail covers us-east-1",
    ),
    ("stopped", (trail(logging=False),), Verdict.PROBLEM, "trail org is not logging"),
    (
        "read events only",
        (trail(selectors=Selectors(basic=({"ReadWriteType": "ReadOnly"},))),),
        Verdict.PROBLEM,
        "trail org does not log management write events",
    ),
    (
        "data events only",
        (trail(selectors=Selectors(basic=({"IncludeManagementEvents": False},))),),
        Verdict.PROBLEM,
        "trail org does not log management write events",
    ),
    (
        "one stopped trail and one good",
        (trail(logging=False), trail(arn=ARN + "2")),
        Verdict.OK,
        "",
    ),
    ("the trails cannot be listed", DENIED, Verdict.UNREADABLE, "trails cannot be read"),
    (
        "the status cannot be read",
        (trail(logging=DENIED),),
        Verdict.UNREADABLE,
        "trail status cannot be read (AccessDeniedException)",
    ),
]


@pytest.mark.parametrize(
    ("trails", "expected", "detail"),
    [row[1:] for row in TRAIL_TABLE],
    ids=[row[0] for row in TRAIL_TABLE],
)
def test_the_trail_check(trails: Any, expected: Verdict, detail: str) -> None:
    got = verdict(facts(trails=trails), Check.TRAIL)
    assert got.verdict is expected
    assert detail in got.detail


def _advanced(*fields: dict[str, Any]) -> Selectors:
    return Selectors(advanced=({"Name": "mgmt", "FieldSelectors": list(fields)},))


MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}
SELECTOR_TABLE = [
    ("basic, all", Selectors(basic=({"ReadWriteType": "All"},)), True),
    ("basic, write only", Selectors(basic=({"ReadWriteType": "WriteOnly"},)), True),
    ("basic, read only", Selectors(basic=({"ReadWriteType": "ReadOnly"},)), False),
    ("none at all", Selectors(), False),
    ("advanced, management", _advanced(MANAGEMENT), True),
    (
        "advanced, management writes",
        _advanced(MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}),
        True,
    ),
    (
        "advanced, management reads",
        _advanced(MANAGEMENT, {"Field": "readOnly", "Equals": ["true"]}),
        False,
    ),
    (
        "advanced, IAM left out",
        _advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["iam.amazonaws.com"]}),
        False,
    ),
    (
        "advanced, KMS left out",
        _advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}),
        True,
    ),
    ("advanced, data events", _advanced({"Field": "eventCategory", "Equals": ["Data"]}), False),
]


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [row[1:] for row in SELECTOR_TABLE],
    ids=[row[0] for row in SELECTOR_TABLE],
)
def test_which_selectors_log_iams_write_events(selectors: Selectors, expected: bool) -> None:
    assert logs_management_writes(selectors) is expected


RULE_TABLE = [
    ("enabled", "ENABLED", Verdict.OK, ""),
    ("disabled", "DISABLED", Verdict.PROBLEM, "rule root-key-detector-forward is DISABLED"),
    ("missing", None, Verdict.PROBLEM, "rule root-key-detector-forward does not exist"),
    (
        "denied",
        DENIED,
        Verdict.UNREADABLE,
        "rule root-key-detector-forward cannot be read (AccessDeniedException)",
    ),
]


@pytest.mark.parametrize(
    ("state", "expected", "detail"),
    [row[1:] for row in RULE_TABLE],
    ids=[row[0] for row in RULE_TABLE],
)
def test_the_rule_check(state: Any, expected: Verdict, detail: str) -> None:
    got = verdict(facts(rule_state=state), Check.RULE)
    assert (got.verdict, got.detail) == (expected, detail)


HUB_TABLE = [
    ("enabled", True, Verdict.OK, ""),
    ("not enabled", False, Verdict.PROBLEM, "Security Hub is not enabled in us-east-1"),
    ("denied", DENIED, Verdict.UNREADABLE, "Security Hub cannot be read (AccessDeniedException)"),
]


@pytest.mark.parametrize(
    ("hub", "expected", "detail"),
    [row[1:] for row in HUB_TABLE],
    ids=[row[0] for row in HUB_TABLE],
)
def test_the_hub_check(hub: Any, expected: Verdict, detail: str) -> None:
    got = verdict(facts(hub_enabled=hub), Check.HUB)
    assert (got.verdict, got.detail) == (expected, detail)


_JSON = st.recursive(
    st.none() | st.booleans() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner),
    max_leaves=20,
)


@given(
    st.lists(st.dictionaries(st.text(max_size=30), _JSON), max_size=3),
    st.lists(
        st.fixed_dictionaries(
            {"FieldSelectors": st.lists(st.dictionaries(st.text(max_size=20), _JSON), max_size=4)}
        ),
        max_size=3,
    ),
)
def test_any_selector_answer_gets_a_yes_or_no(basic: Any, advanced: Any) -> None:
    assert logs_management_writes(Selectors(tuple(basic), tuple(advanced))) in (True, False)
