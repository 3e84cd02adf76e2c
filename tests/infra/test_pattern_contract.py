"""Contract: the rule pattern in both templates is the code's pattern, and it routes what it should.

One source of truth: ``detector.pattern.EVENT_PATTERN``. Every event-pattern
``AWS::Events::Rule`` in infra/detector.yaml and infra/member.yaml must carry it (as the JSON
string CloudFormation takes), and moto's EventBridge pattern engine must route every root
CreateAccessKey / DeleteAccessKey / UpdateAccessKey in tests/events and nothing else. The one
scheduled rule (the daily sweep) has no pattern; test_template.py checks it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from detector.domain.event import ACCESS_KEY_EVENT_NAMES
from detector.domain.hub_change import IMPORTED_PATTERN, UPDATED_PATTERN
from detector.pattern import EVENT_PATTERN, event_pattern_json
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


def _rules() -> tuple[list[tuple[str, Any]], list[str]]:
    """(name, EventPattern) of every pattern rule, and the names of the scheduled rules."""
    patterns, scheduled = [], []
    for path in (templates.DETECTOR_TEMPLATE, templates.MEMBER_TEMPLATE):
        rules = templates.resources_of_type(templates.load(path), "AWS::Events::Rule")
        for lid, rule in rules.items():
            if "EventPattern" in rule["Properties"]:
                patterns.append((f"{path.name}:{lid}", rule["Properties"]["EventPattern"]))
            else:
                scheduled.append(f"{path.name}:{lid}")
    return patterns, scheduled


ALL_PATTERNS, SCHEDULED_RULES = _rules()
# The interaction function's rules: changes made in Security Hub (detector/domain/hub_change.py).
HUB_RULES = {
    "detector.yaml:FindingsImportedRule": IMPORTED_PATTERN,
    "detector.yaml:FindingsUpdatedRule": UPDATED_PATTERN,
}
RULE_PATTERNS = [(name, pattern) for name, pattern in ALL_PATTERNS if name not in HUB_RULES]


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
