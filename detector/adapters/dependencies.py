"""The sweep's daily look at what the detector depends on in an account: CloudTrail's trails,
the event rule, Security Hub. Read-only calls, each under the AWS_CALL retry policy; a call AWS
refuses is noted as unreadable (its error code), never raised."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.domain.dependencies import Facts, Selectors, Trail, Unreadable, trail_ok
from detector.errors import AwsCallError

_T = TypeVar("_T")
ClientFor = Callable[[str, str], Any]  # (service, account id) -> a client acting there

# Answers that mean "there is none" rather than "cannot say" ("DescribeRule", Amazon
# EventBridge API Reference; "DescribeHub", AWS Security Hub API Reference: an account that
# has not enabled Security Hub gets InvalidAccessException).
RULE_MISSING = frozenset({"ResourceNotFoundException"})
HUB_OFF = frozenset({"InvalidAccessException", "ResourceNotFoundException"})


class AccountDependencies:
    """Reads an account's trails, rule and hub through ``client_for`` (its member role).

    An organization trail logs the events of every account of the organization ("Creating a
    trail for an organization", CloudTrail user guide). When the detector's own account
    (``own_account``) sees one that records this region and is logging management writes, that
    trail is every account's, and member accounts' trails are not read (three calls and a
    client fewer per account); else each account's are.
    """

    def __init__(
        self,
        client_for: ClientFor,
        retry_env: retry.RetryEnv,
        *,
        region: str,
        rule_name_for: Callable[[str], str],
        own_account: Callable[[], str] | None = None,
    ) -> None:
        self._client_for = client_for
        self._retry_env = retry_env
        self._region = region
        self._rule_name_for = rule_name_for
        self._own_account = own_account
        self._lock = threading.Lock()
        self._org_trail: tuple[Trail | None] | None = None  # (the trail or None) once read

    def read(self, account_id: str) -> Facts:
        """The facts of ``account_id``.

        Raises:
            AwsCallError: no client can act in the account (the member role).
        """
        rule_name = self._rule_name_for(account_id)
        org_trail = self._organization_trail()
        trails = (
            (org_trail,)
            if org_trail is not None
            else self._trails(self._client_for("cloudtrail", account_id))
        )
        return Facts(
            region=self._region,
            rule_name=rule_name,
            trails=trails,
            rule_state=self._rule(self._client_for("events", account_id), rule_name),
            hub_enabled=self._hub(self._client_for("securityhub", account_id)),
        )

    def _organization_trail(self) -> Trail | None:
        """The organization trail that covers every account, if the own account sees one."""
        if self._own_account is None:
            return None
        with self._lock:
            if self._org_trail is None:
                self._org_trail = (self._read_organization_trail(self._own_account()),)
            return self._org_trail[0]

    def _read_organization_trail(self, own: str) -> Trail | None:
        trails = self._trails(self._client_for("cloudtrail", own))
        if isinstance(trails, Unreadable):
            return None
        return next((t for t in trails if t.organization and trail_ok(t)), None)

    def _call(self, name: str, fn: Callable[..., _T], **kwargs: Any) -> _T:
        result: _T = retry.build(retry.AWS_CALL, self._retry_env)(aws_call, name, fn, **kwargs)
        return result

    def _trails(self, client: Any) -> tuple[Trail, ...] | Unreadable:
        """Every trail that records this region's events, with its status and selectors
        (an organization trail and a multi-region trail of another region included)."""
        try:
            answer = self._call(
                "cloudtrail.DescribeTrails", client.describe_trails, includeShadowTrails=True
            )
        except AwsCallError as exc:
            return Unreadable(exc.code)
        trails = []
        for item in answer.get("trailList") or []:
            trail = Trail(
                arn=str(item.get("TrailARN") or ""),
                home_region=str(item.get("HomeRegion") or ""),
                multi_region=bool(item.get("IsMultiRegionTrail")),
                organization=bool(item.get("IsOrganizationTrail")),
            )
            if trail.arn and trail.covers(self._region):
                trail = self._details(client, trail)
            trails.append(trail)
        return tuple(trails)

    def _details(self, client: Any, trail: Trail) -> Trail:
        # The ARN, not the name: "GetTrailStatus" (AWS CloudTrail API Reference) requires it
        # for a shadow trail (one of another region, or an organization's).
        selectors: Selectors | Unreadable
        try:
            answer = self._call(
                "cloudtrail.GetEventSelectors", client.get_event_selectors, TrailName=trail.arn
            )
            selectors = Selectors(
                tuple(answer.get("EventSelectors") or ()),
                tuple(answer.get("AdvancedEventSelectors") or ()),
            )
        except AwsCallError as exc:
            selectors = Unreadable(exc.code)
        logging: bool | Unreadable
        try:
            status = self._call(
                "cloudtrail.GetTrailStatus", client.get_trail_status, Name=trail.arn
            )
            logging = bool(status.get("IsLogging"))
        except AwsCallError as exc:
            logging = Unreadable(exc.code)
        return Trail(
            trail.arn,
            trail.home_region,
            trail.multi_region,
            trail.organization,
            logging=logging,
            selectors=selectors,
        )

    def _rule(self, client: Any, name: str) -> str | Unreadable | None:
        try:
            answer = self._call("events.DescribeRule", client.describe_rule, Name=name)
        except AwsCallError as exc:
            return None if exc.code in RULE_MISSING else Unreadable(exc.code)
        return str(answer.get("State") or "")

    def _hub(self, client: Any) -> bool | Unreadable:
        try:
            self._call("securityhub.DescribeHub", client.describe_hub)
        except AwsCallError as exc:
            return False if exc.code in HUB_OFF else Unreadable(exc.code)
        return True
