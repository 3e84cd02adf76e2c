"""What the detector depends on in an account, and the sweep's verdict on each part.

A root key event reaches the detector only if a CloudTrail trail logs the account's management
write events in the detector's region and the account's event rule is enabled; a finding lands
only where Security Hub is on. The adapter reads the facts; :func:`assess` judges them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

IAM_SOURCE = "iam.amazonaws.com"


class Check(StrEnum):
    """The parts of an account the detector depends on."""

    TRAIL = "trail"  # a logging trail records management write events in the region
    RULE = "rule"  # the rule that sends root key events on (forward rule, or the stack's)
    HUB = "security-hub"  # Security Hub is enabled in the region


class Verdict(StrEnum):
    """How one check ended."""

    OK = "ok"
    PROBLEM = "problem"
    UNREADABLE = "unreadable"  # AWS refused to say (AccessDenied, say): not known to be broken


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A fact AWS would not give: the error code it answered with."""

    code: str


@dataclass(frozen=True, slots=True)
class Selectors:
    """A trail's event selectors (GetEventSelectors), as AWS answered them."""

    basic: tuple[Mapping[str, Any], ...] = ()
    advanced: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Trail:
    """One trail DescribeTrails lists (shadow and organization trails included)."""

    arn: str
    home_region: str
    multi_region: bool
    organization: bool = False
    logging: bool | Unreadable | None = None  # GetTrailStatus.IsLogging; None: not asked
    selectors: Selectors | Unreadable | None = None  # None: not asked

    def covers(self, region: str) -> bool:
        """Whether the trail records events of ``region``."""
        return self.multi_region or self.home_region == region


@dataclass(frozen=True, slots=True)
class Facts:
    """What AWS says about an account's dependencies."""

    region: str
    rule_name: str
    trails: tuple[Trail, ...] | Unreadable
    rule_state: str | Unreadable | None  # DescribeRule.State; None: no such rule
    hub_enabled: bool | Unreadable


@dataclass(frozen=True, slots=True)
class Assessment:
    """One check's verdict, and what to tell an operator."""

    check: Check
    verdict: Verdict
    detail: str = ""


def logs_management_writes(selectors: Selectors) -> bool:
    """Whether some selector records IAM's management write events.

    "Logging management events" (CloudTrail user guide): a basic selector with
    IncludeManagementEvents and ReadWriteType All or WriteOnly; an advanced selector whose
    eventCategory is Management and which neither keeps read-only events alone nor leaves out
    iam.amazonaws.com.
    """
    return any(_basic_logs(s) for s in selectors.basic) or any(
        _advanced_logs(s) for s in selectors.advanced
    )


def _basic_logs(selector: Mapping[str, Any]) -> bool:
    excluded = selector.get("ExcludeManagementEventSources") or []
    return (
        selector.get("IncludeManagementEvents", True) is True
        and selector.get("ReadWriteType", "All") in ("All", "WriteOnly")
        and IAM_SOURCE not in excluded
    )


def _advanced_logs(selector: Mapping[str, Any]) -> bool:
    fields = {
        str(f.get("Field")): f for f in selector.get("FieldSelectors") or [] if isinstance(f, dict)
    }
    category = fields.get("eventCategory")
    if category is None or "Management" not in (category.get("Equals") or []):
        return False
    return _admits(fields.get("readOnly"), "false") and _admits(
        fields.get("eventSource"), IAM_SOURCE
    )


def _admits(field: Mapping[str, Any] | None, value: str) -> bool:
    """Whether a field selector lets events with ``value`` through (absent: all)."""
    if field is None:
        return True
    equals = field.get("Equals")
    if equals is not None and value not in equals:
        return False
    for negation in ("NotEquals", "NotStartsWith"):
        for other in field.get(negation) or []:
            if value == other or (negation == "NotStartsWith" and value.startswith(other)):
                return False
    starts = field.get("StartsWith")
    return starts is None or any(value.startswith(s) for s in starts)


def assess(facts: Facts) -> tuple[Assessment, ...]:
    """The verdict of each check, in :class:`Check` order."""
    return (_trail(facts), _rule(facts), _hub(facts))


def _trail(facts: Facts) -> Assessment:
    if isinstance(facts.trails, Unreadable):
        return _unreadable(Check.TRAIL, "trails", facts.trails)
    covering = [t for t in facts.trails if t.covers(facts.region)]
    if not covering:
        return Assessment(
            Check.TRAIL, Verdict.PROBLEM, f"no CloudTrail trail covers {facts.region}"
        )
    if any(trail_ok(t) for t in covering):
        return Assessment(Check.TRAIL, Verdict.OK)
    unreadable = _first_unreadable(covering)
    if unreadable is not None:
        return _unreadable(Check.TRAIL, "trail status", unreadable)
    names = ", ".join(sorted(_name(t.arn) for t in covering))
    if not any(t.logging is True for t in covering):
        return Assessment(Check.TRAIL, Verdict.PROBLEM, f"trail {names} is not logging")
    return Assessment(
        Check.TRAIL, Verdict.PROBLEM, f"trail {names} does not log management write events"
    )


def trail_ok(trail: Trail) -> bool:
    """Whether ``trail`` is logging and keeps IAM's management write events."""
    return (
        trail.logging is True
        and isinstance(trail.selectors, Selectors)
        and logs_management_writes(trail.selectors)
    )


def _first_unreadable(trails: Iterable[Trail]) -> Unreadable | None:
    for trail in trails:
        for fact in (trail.logging, trail.selectors):
            if isinstance(fact, Unreadable):
                return fact
    return None


def _rule(facts: Facts) -> Assessment:
    state = facts.rule_state
    if isinstance(state, Unreadable):
        return _unreadable(Check.RULE, f"rule {facts.rule_name}", state)
    if state is None:
        return Assessment(Check.RULE, Verdict.PROBLEM, f"rule {facts.rule_name} does not exist")
    if state != "ENABLED":
        return Assessment(Check.RULE, Verdict.PROBLEM, f"rule {facts.rule_name} is {state}")
    return Assessment(Check.RULE, Verdict.OK)


def _hub(facts: Facts) -> Assessment:
    if isinstance(facts.hub_enabled, Unreadable):
        return _unreadable(Check.HUB, "Security Hub", facts.hub_enabled)
    if not facts.hub_enabled:
        return Assessment(
            Check.HUB, Verdict.PROBLEM, f"Security Hub is not enabled in {facts.region}"
        )
    return Assessment(Check.HUB, Verdict.OK)


def _unreadable(check: Check, what: str, fact: Unreadable) -> Assessment:
    return Assessment(check, Verdict.UNREADABLE, f"{what} cannot be read ({fact.code})")


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def problems(assessments: Iterable[Assessment]) -> list[str]:
    """What an operator should hear of: every check not OK, as one phrase each."""
    return [a.detail for a in assessments if a.verdict is not Verdict.OK]
