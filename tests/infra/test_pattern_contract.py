"""Contract: the templates' rule patterns are the code's patterns, and route what they should.

One source of truth: ``detector.pattern``. Every event-pattern ``AWS::Events::Rule`` in
infra/detector.yaml and infra/member.yaml must carry ``EVENT_PATTERN`` (as the JSON string
CloudFormation takes), and moto's EventBridge pattern engine must route every root
CreateAccessKey / DeleteAccessKey / UpdateAccessKey in tests/events and nothing else; except the
centralized root access rules, which carry ``ROOT_ACCESS_PATTERN`` (AssumeRoot records, and any
other call the root user signed with a long-term key) and never route what ``EVENT_PATTERN``
does. The one scheduled rule (the daily sweep) has no pattern; test_template.py checks it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern

from detector.domain.event import ACCESS_KEY_EVENT_NAMES
from detector.domain.hub_change import IMPORTED_PATTERN, UPDATED_PATTERN
from detector.pattern import (
    ALL_MANAGEMENT_EVENTS,
    EVENT_PATTERN,
    ROOT_ACCESS_PATTERN,
    event_pattern_json,
)
from tests.infra import templates

EVENTS = Path(__file__).resolve().parents[1] / "events"
ROUTED_VERDICTS = {
    "root-key-created",
    "root-key-deleted",
    "root-key-deactivated",
    "root-key-activated",
    "root-created-user-key",
    "root-key-create-failed",
}
DETAIL_TYPES = {
    "AwsApiCall": "AWS API Call via CloudTrail",
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
}


def _rules() -> tuple[list[tuple[str, Any]], list[str], dict[str, str]]:
    """(name, EventPattern) of every pattern rule, the names of the scheduled rules, and every
    rule's State."""
    patterns, scheduled, states = [], [], {}
    for path in (templates.DETECTOR_TEMPLATE, templates.MEMBER_TEMPLATE):
        rules = templates.resources_of_type(templates.load(path), "AWS::Events::Rule")
        for lid, rule in rules.items():
            states[f"{path.name}:{lid}"] = rule["Properties"]["State"]
            if "EventPattern" in rule["Properties"]:
                patterns.append((f"{path.name}:{lid}", rule["Properties"]["EventPattern"]))
            else:
                scheduled.append(f"{path.name}:{lid}")
    return patterns, scheduled, states


ALL_PATTERNS, SCHEDULED_RULES, STATES = _rules()
# The interaction function's rules: changes made in Security Hub (detector/domain/hub_change.py).
HUB_RULES = {
    "detector.yaml:FindingsImportedRule": IMPORTED_PATTERN,
    "detector.yaml:FindingsUpdatedRule": UPDATED_PATTERN,
}
# Centralized root access (CentralizedRootAccess): detector/pattern.py's ROOT_ACCESS_PATTERN.
ROOT_ACCESS_RULES = {
    "detector.yaml:DefaultBusRootAccessRule",
    "detector.yaml:CentralBusRootAccessRule",
    "member.yaml:ForwardRootAccessRule",
}
RULE_PATTERNS = [
    (name, pattern)
    for name, pattern in ALL_PATTERNS
    if name not in HUB_RULES and name not in ROOT_ACCESS_RULES
]


def _envelope(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event CloudTrail would deliver for ``record``."""
    service = record["eventSource"].split(".", 1)[0]
    return {
        "version": "0",
        "id": "00000000-0000-4000-8000-000000000000",
        "detail-type": DETAIL_TYPES[record.get("eventType", "AwsApiCall")],
        "source": f"aws.{service}",
        "account": record.get("recipientAccountId", "123456789012"),
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }


def _samples() -> list[tuple[str, str, dict[str, Any]]]:
    """(id, manifest verdict, EventBridge event) for every record of the fixture corpus."""
    manifest = json.loads((EVENTS / "manifest.json").read_text())
    samples = []
    for name, entries in sorted(manifest.items()):
        if not isinstance(entries, list):  # invalid/*: not CloudTrail at all
            continue
        doc = json.loads((EVENTS / name).read_text())
        records = doc.get("Records", [doc])
        assert len(records) == len(entries), name
        for index, (rec, entry) in enumerate(zip(records, entries, strict=True)):
            if entry.get("error"):  # a record of a log file that is not CloudTrail
                continue
            event = rec if name.startswith("eventbridge/") else _envelope(rec)
            samples.append((f"{name}#{index}", entry["verdict"], event))
    return samples


def _is_root_key_call(event: dict[str, Any]) -> bool:
    detail = event["detail"]
    return (
        detail.get("eventSource") == "iam.amazonaws.com"
        and detail.get("eventName") in ACCESS_KEY_EVENT_NAMES
        and (detail.get("userIdentity") or {}).get("type") == "Root"
    )


SAMPLES = _samples()
ROUTED = [s for s in SAMPLES if s[1] in ROUTED_VERDICTS]
# Ignored by the classifier but still root key calls (e.g. a DeleteAccessKey that failed): the
# rule routes them and the handler decides. Everything else must not reach the Lambda.
IGNORED_ROOT_KEY_CALLS = [s for s in SAMPLES if s[1] == "ignored" and _is_root_key_call(s[2])]
NOT_ROUTED = [s for s in SAMPLES if s[1] == "ignored" and not _is_root_key_call(s[2])]


def test_every_rule_found() -> None:
    names = [name for name, _ in RULE_PATTERNS]
    assert names == [
        "detector.yaml:DefaultBusRule",
        "detector.yaml:CentralBusRule",
        "member.yaml:ForwardRule",
    ]
    # the only rule without the pattern is the sweep's schedule
    assert SCHEDULED_RULES == ["detector.yaml:SweepScheduleRule"]
    assert sorted(name for name, _ in ALL_PATTERNS if name in HUB_RULES) == sorted(HUB_RULES)
    assert {name for name, _ in ALL_PATTERNS if name in ROOT_ACCESS_RULES} == ROOT_ACCESS_RULES


def test_only_the_root_access_rules_receive_read_only_management_events() -> None:
    # "Receiving read-only management events from AWS services" (EventBridge user guide): only a
    # rule in this state is matched against read-only management events; every other rule
    # keeps the default, so that no read call of the account is even considered for it.
    assert {name for name, state in STATES.items() if state == ALL_MANAGEMENT_EVENTS} == (
        ROOT_ACCESS_RULES
    )
    assert {state for name, state in STATES.items() if name not in ROOT_ACCESS_RULES} == {"ENABLED"}


@pytest.mark.parametrize("rule", sorted(HUB_RULES))
def test_the_finding_change_rules_carry_the_codes_patterns(rule: str) -> None:
    (pattern,) = [p for name, p in ALL_PATTERNS if name == rule]
    assert pattern == json.dumps(HUB_RULES[rule], separators=(",", ":"))


@pytest.mark.parametrize(("rule", "pattern"), RULE_PATTERNS, ids=[n for n, _ in RULE_PATTERNS])
def test_template_pattern_is_the_code_pattern(rule: str, pattern: Any) -> None:
    assert isinstance(pattern, str), f"{rule}: EventPattern must be a JSON string"
    assert json.loads(pattern) == EVENT_PATTERN
    assert pattern == event_pattern_json()  # byte for byte, so a diff shows any drift


def test_corpus_covers_both_sides() -> None:
    verdicts = {verdict for _, verdict, _ in ROUTED}
    assert verdicts == ROUTED_VERDICTS
    assert len(ROUTED) >= 20
    assert len(NOT_ROUTED) >= 8
    principals = {s[2]["detail"]["userIdentity"]["type"] for s in NOT_ROUTED}
    assert {"IAMUser", "AssumedRole", "FederatedUser", "AWSService", "Root"} <= principals


@pytest.fixture(params=RULE_PATTERNS, ids=[n for n, _ in RULE_PATTERNS])
def engine(request: pytest.FixtureRequest) -> EventPattern:
    return EventPattern.load(request.param[1])


@pytest.mark.parametrize(("sample", "verdict", "event"), ROUTED, ids=[s[0] for s in ROUTED])
def test_root_key_calls_are_routed(
    engine: EventPattern, sample: str, verdict: str, event: dict[str, Any]
) -> None:
    assert engine.matches_event(event), f"{sample} ({verdict}) must reach the Lambda"


@pytest.mark.parametrize(
    ("sample", "verdict", "event"),
    IGNORED_ROOT_KEY_CALLS,
    ids=[s[0] for s in IGNORED_ROOT_KEY_CALLS],
)
def test_failed_and_user_root_key_calls_still_routed(
    engine: EventPattern, sample: str, verdict: str, event: dict[str, Any]
) -> None:
    # The pattern looks at principal and event name only; the handler classifies the rest.
    assert engine.matches_event(event), sample


@pytest.mark.parametrize(("sample", "verdict", "event"), NOT_ROUTED, ids=[s[0] for s in NOT_ROUTED])
def test_other_principals_and_events_are_not_routed(
    engine: EventPattern, sample: str, verdict: str, event: dict[str, Any]
) -> None:
    assert not engine.matches_event(event), f"{sample} must not reach the Lambda"


def _root_create() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (EVENTS / "eventbridge/root_create_access_key.json").read_text()
    )
    return event


def _variant(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(_root_create())
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("source",), "aws.sts"),
        (("detail-type",), "AWS Service Event via CloudTrail"),
        (("detail", "eventSource"), "sts.amazonaws.com"),
        (("detail", "eventName"), "ListAccessKeys"),
        (("detail", "eventName"), "createaccesskey"),
        (("detail", "userIdentity", "type"), "IAMUser"),
        (("detail", "userIdentity", "type"), "root"),
        (("detail", "userIdentity"), {}),
    ],
    ids=str,
)
def test_one_field_off_is_not_routed(
    engine: EventPattern, path: tuple[str, ...], value: Any
) -> None:
    assert engine.matches_event(_root_create())
    assert not engine.matches_event(_variant(path, value))


# -- centralized root access: ROOT_ACCESS_PATTERN ----------------------------------------------

ROOT_ACCESS_RULE_PATTERNS = sorted((n, p) for n, p in ALL_PATTERNS if n in ROOT_ACCESS_RULES)


@pytest.mark.parametrize(
    ("rule", "pattern"), ROOT_ACCESS_RULE_PATTERNS, ids=[n for n, _ in ROOT_ACCESS_RULE_PATTERNS]
)
def test_the_root_access_rules_carry_the_codes_pattern(rule: str, pattern: Any) -> None:
    assert isinstance(pattern, str), f"{rule}: EventPattern must be a JSON string"
    assert json.loads(pattern) == ROOT_ACCESS_PATTERN
    assert pattern == event_pattern_json(ROOT_ACCESS_PATTERN)


ROOT_ACCESS_ENGINE = EventPattern.load(event_pattern_json(ROOT_ACCESS_PATTERN))
KEY_EVENTS_ENGINE = EventPattern.load(event_pattern_json())
LONG_TERM_KEY = "AKIAIOSFODNN7EXAMPLE"
SESSION_KEY = "ASIAIOSFODNN7EXAMPLE"


def _assume_root(**detail: Any) -> dict[str, Any]:
    """The AssumeRoot record of AWS's example ("Track privileged tasks in AWS CloudTrail", IAM
    User Guide), in the caller's account, as EventBridge delivers it."""
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROACKCEVSQ6C2EXAMPLE:JohnRole1",
            "arn": "arn:aws:sts::111111111111:assumed-role/JohnDoe/JohnRole1",
            "accountId": "111111111111",
            "accessKeyId": SESSION_KEY,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": "arn:aws:iam::111111111111:role/JohnDoe",
                    "accountId": "111111111111",
                },
                "attributes": {"creationDate": "2024-10-25T20:45:28Z", "mfaAuthenticated": "false"},
                "assumedRoot": "true",
            },
        },
        "eventTime": "2024-10-25T20:52:11Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoot",
        "awsRegion": "us-west-2",
        "requestParameters": {
            "targetPrincipal": "222222222222",
            "taskPolicyArn": {
                "arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
            },
        },
        "responseElements": {
            "credentials": {"accessKeyId": "ASIAJEXAMPLEXEG2JICEA", "expiration": "Oct 25, 2024"}
        },
        "eventType": "AwsApiCall",
        "recipientAccountId": "111111111111",
        **detail,
    }
    return _envelope(record)


def _variant_of(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``event`` with its ``detail`` field at ``path`` set to ``value``."""
    event = copy.deepcopy(event)
    node = event["detail"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


def _root_call(source: str, name: str, key: str = LONG_TERM_KEY, **detail: Any) -> dict[str, Any]:
    """A call the root user made, signed with ``key``."""
    record = {
        "userIdentity": {
            "type": "Root",
            "principalId": "222222222222",
            "arn": "arn:aws:iam::222222222222:root",
            "accountId": "222222222222",
            "accessKeyId": key,
        },
        "eventTime": "2026-11-20T14:03:11Z",
        "eventSource": source,
        "eventName": name,
        "eventType": "AwsApiCall",
        "recipientAccountId": "222222222222",
        **detail,
    }
    return _envelope(record)


@pytest.mark.parametrize(
    "event",
    [
        _assume_root(),
        _assume_root(readOnly=True),
        # refused (not enabled, not allowed): still who tried, the handler decides
        _assume_root(errorCode="AccessDenied", responseElements=None),
        _root_call("s3.amazonaws.com", "ListBuckets", readOnly=True),
        _root_call("ec2.amazonaws.com", "RunInstances", readOnly=False),
        _root_call("iam.amazonaws.com", "ListUsers", readOnly=True),
        _root_call("iam.amazonaws.com", "CreateUser"),
        _root_call("iam.amazonaws.com", "ListAccessKeys", readOnly=True),
        _root_call("sts.amazonaws.com", "GetCallerIdentity", readOnly=True),
    ],
    ids=str,
)
def test_root_sessions_and_uses_of_a_long_term_root_key_are_routed(event: dict[str, Any]) -> None:
    assert ROOT_ACCESS_ENGINE.matches_event(event)
    assert not KEY_EVENTS_ENGINE.matches_event(event)


@pytest.mark.parametrize(
    "event",
    [
        # the key calls go by EVENT_PATTERN, once
        _root_call("iam.amazonaws.com", "CreateAccessKey"),
        _root_call("iam.amazonaws.com", "DeleteAccessKey"),
        _root_call("iam.amazonaws.com", "UpdateAccessKey"),
        # a root session (console, or AssumeRoot's: its records carry the session's ASIA key)
        _root_call("s3.amazonaws.com", "ListBuckets", key=SESSION_KEY),
        _root_call("iam.amazonaws.com", "ListAccessKeys", key=SESSION_KEY),
        # other principals with long-term keys; other STS calls
        _variant_of(
            _root_call("s3.amazonaws.com", "ListBuckets"), ("userIdentity", "type"), "IAMUser"
        ),
        _assume_root(eventName="AssumeRole"),
        _variant_of(_assume_root(), ("eventSource",), "iam.amazonaws.com"),
        # put on a bus by anyone but an AWS service (PutEvents refuses them "aws." sources)
        {**_root_call("s3.amazonaws.com", "ListBuckets"), "source": "custom.forged"},
        {**_root_call("iam.amazonaws.com", "ListUsers"), "source": "custom.forged"},
    ],
    ids=str,
)
def test_root_access_pattern_leaves_out_everything_else(event: dict[str, Any]) -> None:
    assert not ROOT_ACCESS_ENGINE.matches_event(event)


def test_the_root_access_pattern_routes_nothing_the_key_pattern_routes() -> None:
    # No record reaches the function twice: the corpus and its root key calls
    both = [s for s, _, event in SAMPLES if _both(event)]
    assert both == []
    for sample, _, event in ROUTED:
        assert not ROOT_ACCESS_ENGINE.matches_event(event), sample


def _both(event: dict[str, Any]) -> bool:
    return ROOT_ACCESS_ENGINE.matches_event(event) and KEY_EVENTS_ENGINE.matches_event(event)


def _routed_by_root_access(event: dict[str, Any]) -> bool:
    """What ROOT_ACCESS_PATTERN should route, said plainly."""
    detail = event["detail"]
    if event.get("detail-type") != "AWS API Call via CloudTrail":
        return False
    if event.get("source") == "aws.sts" and (
        (detail.get("eventSource"), detail.get("eventName")) == ("sts.amazonaws.com", "AssumeRoot")
    ):
        return True
    who = detail.get("userIdentity") or {}
    key = who.get("accessKeyId")
    key_call = (
        detail.get("eventSource") == "iam.amazonaws.com"
        and detail.get("eventName") in ACCESS_KEY_EVENT_NAMES
    )
    return (
        str(event.get("source", "")).startswith("aws.")
        and who.get("type") == "Root"
        and isinstance(key, str)
        and key.startswith("AKIA")
        and isinstance(detail.get("eventSource"), str)
        and not key_call
    )


_SOURCES = st.sampled_from(
    ["iam.amazonaws.com", "sts.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"]
)
_NAMES = st.sampled_from(
    [*ACCESS_KEY_EVENT_NAMES, "AssumeRoot", "AssumeRole", "ListAccessKeys", "ListBuckets"]
)


@settings(max_examples=300, deadline=None)
@given(
    source=_SOURCES,
    name=_NAMES,
    principal=st.sampled_from(["Root", "IAMUser", "AssumedRole", "AWSService"]),
    key=st.sampled_from([LONG_TERM_KEY, SESSION_KEY, "", None]),
    read_only=st.booleans(),
    detail_type=st.sampled_from(
        ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]
    ),
)
def test_the_root_access_pattern_routes_exactly_what_it_says(
    *, source: str, name: str, principal: str, key: str | None, read_only: bool, detail_type: str
) -> None:
    event = _root_call(source, name, readOnly=read_only)
    event["detail-type"] = detail_type
    event["detail"]["userIdentity"]["type"] = principal
    if key is None:
        del event["detail"]["userIdentity"]["accessKeyId"]
    else:
        event["detail"]["userIdentity"]["accessKeyId"] = key
    assert ROOT_ACCESS_ENGINE.matches_event(event) == _routed_by_root_access(event)
    assert not _both(event)
