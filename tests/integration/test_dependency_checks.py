"""The sweep's dependency checks over HTTP against the sandbox: the adapter reads trails, the
event rule and Security Hub as AWS answers them, and the sandbox answers CloudTrail as AWS
documents it where moto is kinder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from detector import retry
from detector.adapters.dependencies import AccountDependencies
from detector.domain.dependencies import Check, Verdict, assess
from sandbox.aws import ACCOUNT_ID, REGION
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.stack import SandboxStack

RULE = "root-key-detector-events"
PATTERN = '{"source": ["aws.iam"]}'


def _client(proxy: AwsFaultProxy, service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=proxy.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def proxy(sandbox: SandboxStack) -> Iterator[AwsFaultProxy]:
    with AwsFaultProxy() as running:
        yield running


def _reader(proxy: AwsFaultProxy, sleeps: list[float] | None = None) -> AccountDependencies:
    clients: dict[str, Any] = {}

    def client_for(service: str, _account: str) -> Any:
        return clients.setdefault(service, _client(proxy, service))

    env = retry.RetryEnv(sleep=(sleeps if sleeps is not None else []).append)
    return AccountDependencies(client_for, env, region=REGION, rule_name_for=lambda _a: RULE)


def _verdicts(proxy: AwsFaultProxy) -> dict[Check, tuple[Verdict, str]]:
    return {a.check: (a.verdict, a.detail) for a in assess(_reader(proxy).read(ACCOUNT_ID))}


def _trail(proxy: AwsFaultProxy, name: str, region: str = REGION, **kw: Any) -> Any:
    _client(proxy, "s3").create_bucket(Bucket=f"{name}-logs")
    trails = _client(proxy, "cloudtrail", region)
    trails.create_trail(Name=name, S3BucketName=f"{name}-logs", **kw)
    trails.start_logging(Name=name)
    return trails


def test_an_account_with_nothing_says_what_is_missing(proxy: AwsFaultProxy) -> None:
    _client(proxy, "securityhub").disable_security_hub()
    got = _verdicts(proxy)
    assert got == {
        Check.TRAIL: (Verdict.PROBLEM, f"no CloudTrail trail covers {REGION}"),
        Check.RULE: (Verdict.PROBLEM, f"rule {RULE} does not exist"),
        Check.HUB: (Verdict.PROBLEM, f"Security Hub is not enabled in {REGION}"),
    }


def test_a_logging_trail_an_enabled_rule_and_security_hub_are_ok(proxy: AwsFaultProxy) -> None:
    _trail(proxy, "management")
    _client(proxy, "events").put_rule(Name=RULE, EventPattern=PATTERN, State="ENABLED")
    _client(proxy, "securityhub").enable_security_hub()
    assert {c: v for c, (v, _) in _verdicts(proxy).items()} == dict.fromkeys(Check, Verdict.OK)


def test_a_stopped_trail_a_disabled_rule_and_read_only_selectors_are_problems(
    proxy: AwsFaultProxy,
) -> None:
    trails = _trail(proxy, "management")
    trails.stop_logging(Name="management")
    _client(proxy, "events").put_rule(Name=RULE, EventPattern=PATTERN, State="DISABLED")
    got = _verdicts(proxy)
    assert got[Check.TRAIL] == (Verdict.PROBLEM, "trail management is not logging")
    assert got[Check.RULE] == (Verdict.PROBLEM, f"rule {RULE} is DISABLED")

    trails.start_logging(Name="management")
    trails.put_event_selectors(
        TrailName="management",
        EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
    )
    assert _verdicts(proxy)[Check.TRAIL] == (
        Verdict.PROBLEM,
        "trail management does not log management write events",
    )


def test_a_multi_region_trail_of_another_region_counts(proxy: AwsFaultProxy) -> None:
    _trail(proxy, "everywhere", region="eu-west-1", IsMultiRegionTrail=True)
    assert _verdicts(proxy)[Check.TRAIL][0] is Verdict.OK


def test_another_regions_single_region_trail_does_not(proxy: AwsFaultProxy) -> None:
    _trail(proxy, "ireland", region="eu-west-1")
    assert _verdicts(proxy)[Check.TRAIL][0] is Verdict.PROBLEM


def test_the_checks_ride_out_throttling(proxy: AwsFaultProxy) -> None:
    _trail(proxy, "management")
    seen = {"n": 0}

    def throttle_twice(target: str, _body: bytes) -> bool:
        seen["n"] += 1
        proxy.throttle_rate = 1.0 if target.endswith(".DescribeTrails") and seen["n"] <= 2 else 0
        return False

    proxy.refuse = throttle_twice
    sleeps: list[float] = []
    facts = _reader(proxy, sleeps).read(ACCOUNT_ID)
    assert assess(facts)[0].verdict is Verdict.OK
    assert proxy.stats.throttled == 2
    assert len(sleeps) == 2


# -- the sandbox's CloudTrail contract (sandbox/cloudtrail.py) --------------------------------


def test_a_shadow_trails_selectors_come_from_its_region(proxy: AwsFaultProxy) -> None:
    home = _trail(proxy, "everywhere", region="eu-west-1", IsMultiRegionTrail=True)
    arn = home.get_trail(Name="everywhere")["Trail"]["TrailARN"]
    answer = _client(proxy, "cloudtrail").get_event_selectors(TrailName=arn)
    assert answer["TrailARN"] == arn
    assert answer["EventSelectors"][0]["IncludeManagementEvents"] is True


def test_a_new_trail_has_the_default_selector_as_in_aws(proxy: AwsFaultProxy) -> None:
    trails = _trail(proxy, "management")
    answer = trails.get_event_selectors(TrailName="management")
    assert answer["EventSelectors"] == [
        {
            "ReadWriteType": "All",
            "IncludeManagementEvents": True,
            "DataResources": [],
            "ExcludeManagementEventSources": [],
        }
    ]


def test_a_shadow_trails_status_needs_its_arn(proxy: AwsFaultProxy) -> None:
    home = _trail(proxy, "everywhere", region="eu-west-1", IsMultiRegionTrail=True)
    arn = home.get_trail(Name="everywhere")["Trail"]["TrailARN"]
    here = _client(proxy, "cloudtrail")
    with pytest.raises(ClientError) as refused:
        here.get_trail_status(Name="everywhere")
    assert refused.value.response["Error"]["Code"] == "TrailNotFoundException"
    assert here.get_trail_status(Name=arn)["IsLogging"] is True
    assert home.get_trail_status(Name="everywhere")["IsLogging"] is True  # its own region


def test_an_organization_trail_seen_by_the_detectors_account_covers_every_member(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    member = "210987654321"
    sandbox.aws.client("organizations").create_organization(FeatureSet="ALL")
    _trail(proxy, "organization", IsMultiRegionTrail=True, IsOrganizationTrail=True)
    asked: list[tuple[str, str]] = []

    def client_for(service: str, account: str) -> Any:
        asked.append((service, account))
        if account == ACCOUNT_ID:
            return _client(proxy, service)
        return sandbox.aws.client(service, account_id=account)

    reader = AccountDependencies(
        client_for,
        retry.RetryEnv(sleep=lambda _s: None),
        region=REGION,
        rule_name_for=lambda _a: RULE,
        own_account=lambda: ACCOUNT_ID,
    )
    (trail, _rule, _hub) = assess(reader.read(member))
    assert trail.verdict is Verdict.OK
    assert ("cloudtrail", member) not in asked  # the member's own trails were never read
    assert reader.read("345678901234").trails == reader.read(member).trails
    assert asked.count(("cloudtrail", ACCOUNT_ID)) == 1  # the organization's, read once


def test_without_an_organization_trail_each_members_trails_are_read(
    sandbox: SandboxStack, proxy: AwsFaultProxy
) -> None:
    member = "210987654321"
    _trail(proxy, "own-only")  # the detector's account logs only itself
    reader = AccountDependencies(
        lambda service, account: sandbox.aws.client(service, account_id=account),
        retry.RetryEnv(sleep=lambda _s: None),
        region=REGION,
        rule_name_for=lambda _a: RULE,
        own_account=lambda: ACCOUNT_ID,
    )
    (trail, _rule, _hub) = assess(reader.read(member))
    assert (trail.verdict, trail.detail) == (
        Verdict.PROBLEM,
        f"no CloudTrail trail covers {REGION}",
    )


def test_a_check_the_role_may_not_make_is_unreadable_at_once_not_a_failure(
    proxy: AwsFaultProxy,
) -> None:
    _trail(proxy, "management")
    proxy.deny = lambda target, path, _body: (
        target.endswith((".DescribeTrails", ".DescribeRule")) or path == "/accounts"
    )
    sleeps: list[float] = []
    got = {a.check: (a.verdict, a.detail) for a in assess(_reader(proxy, sleeps).read(ACCOUNT_ID))}
    assert got == {
        Check.TRAIL: (Verdict.UNREADABLE, "trails cannot be read (AccessDeniedException)"),
        Check.RULE: (Verdict.UNREADABLE, f"rule {RULE} cannot be read (AccessDeniedException)"),
        Check.HUB: (Verdict.UNREADABLE, "Security Hub cannot be read (AccessDeniedException)"),
    }
    assert sleeps == []  # a denial is not retried
