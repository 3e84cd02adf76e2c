"""RootKeyEvent + Confirmation -> one ASFF finding (a plain dict, within ASFF limits)."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from detector import __version__
from detector.controls import ROOT_ACCESS_KEYS, Control
from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.event import InputForm, RootKeyEvent
from detector.domain.sweep_event import sweep_key_inactive
from detector.domain.text import clean
from detector.domain.verdict import Verdict

SCHEMA_VERSION = "2018-10-08"
GENERATOR_ID = f"root-key-detector/{ROOT_ACCESS_KEYS.id}"
PRODUCT_FIELD_PREFIX = "root-key-detector"

# ASFF limits (AWS Security Finding Format syntax reference).
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_PRODUCT_FIELD_KEY = 128
MAX_PRODUCT_FIELD_VALUE = 2048
MAX_PRODUCT_FIELDS = 50
UNKNOWN_KEY = "unknown-key"


def observed_at(event: RootKeyEvent, verdict: Verdict) -> datetime:
    """When the state an event reports was true: the finding's ``UpdatedAt``.

    Security Hub keeps the import with the newest ``UpdatedAt`` and ignores older ones, so this
    time alone orders a key's events, whatever order they arrive in.
    """
    if event.form is InputForm.SWEEP:
        return event.event_time
    when = event.event_time.replace(microsecond=event.event_time.microsecond // 1000 * 1000)
    # CloudTrail times are whole seconds: a millisecond per rank orders a key's create, update
    # and delete of one second.
    return when + timedelta(milliseconds=verdict.same_second_rank)


@dataclass(frozen=True, slots=True)
class FindingContext:
    """Where the finding goes, which one it is, and the times it carries."""

    region: str  # the Security Hub region importing the finding
    finding_id: str
    observed: datetime  # when the reported state was true: UpdatedAt and LastObservedAt
    first_seen: datetime  # the key's first observation: CreatedAt and FirstObservedAt
    partition: str = "aws"
    account_name: str | None = None

    @classmethod
    def first_observation(
        cls,
        event: RootKeyEvent,
        verdict: Verdict,
        region: str,
        *,
        partition: str = "aws",
        account_name: str | None = None,
    ) -> FindingContext:
        """The context of a key's first event (its own finding, first seen now).

        Raises:
            ValueError: the event has no account id.
        """
        fid = event_finding_id(event)
        if fid is None:
            raise ValueError("an ASFF finding needs the event's account id")
        when = observed_at(event, verdict)
        return cls(region, fid, when, when, partition=partition, account_name=account_name)


def product_arn(partition: str, region: str, account_id: str) -> str:
    """The default product ARN: the only one a account may import its own findings under."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def finding_id(account_id: str, access_key_id: str | None, *, discovery: str = "") -> str:
    """Deterministic Id per (account, key): a repeated event updates the same finding.

    The key id is hashed so the Id can appear in Slack and links, where keys are masked; the
    full key id is in the finding's AwsIamAccessKey resource. A key whose id is unknown (the
    sweep's finds) is told apart by its ``discovery`` (the sweep's event id): a key found after
    an earlier one was resolved gets a finding, and an alert, of its own.
    """
    key = (clean(access_key_id, 128) if access_key_id else "") or UNKNOWN_KEY
    if key == UNKNOWN_KEY and discovery:
        key = f"{UNKNOWN_KEY}:{discovery}"
    # surrogatepass: JSON can carry a lone surrogate; the Id must still be computable.
    digest = hashlib.sha256(f"{account_id}:{key}".encode("utf-8", "surrogatepass")).hexdigest()
    digest = digest[:24]
    return f"{PRODUCT_FIELD_PREFIX}/{account_id}/root-access-key/{digest}"


def event_finding_id(event: RootKeyEvent) -> str | None:
    """The finding an event's key has (None without an account)."""
    if event.account_id is None:
        return None
    discovery = event.event_id if event.form is InputForm.SWEEP else ""
    return finding_id(event.account_id, event.access_key_id, discovery=discovery)


def iso(ts: datetime) -> str:
    """ASFF's timestamp form: UTC, milliseconds, ``Z`` (fixed width, so it sorts as text)."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_finding(
    event: RootKeyEvent,
    verdict: Verdict,
    confirmation: Confirmation,
    ctx: FindingContext,
    control: Control = ROOT_ACCESS_KEYS,
) -> dict[str, Any]:
    """Build the ASFF finding for a root-key event.

    A created/activated/deactivated key is Compliance FAILED, RecordState ACTIVE. A deleted key
    (or a created key IAM already reports ABSENT) is PASSED and ARCHIVED, which resolves it.

    Raises:
        ValueError: the event has no account id or is not about root's own key.
    """
    if event.account_id is None:
        raise ValueError("an ASFF finding needs the event's account id")
    if verdict.key_expected_present is None:
        raise ValueError(f"no root-key finding for verdict {verdict}")
    account = event.account_id
    # A key id that cleans to nothing (blank, control characters) is as good as unknown.
    key_id = clean(event.access_key_id, 128) if event.access_key_id else None
    key_id = key_id or None
    is_resolved = confirmation.state is KeyState.ABSENT or (
        verdict is Verdict.DELETED and confirmation.state is not KeyState.PRESENT
    )
    status = _key_status(verdict, is_resolved)
    if status == "Active" and sweep_key_inactive(event):
        status = "Inactive"  # the sweep listed the key as Inactive
    first = iso(min(ctx.first_seen, ctx.observed))
    observed = iso(ctx.observed)

    key_details: dict[str, Any] = {
        "PrincipalType": "Root",
        "PrincipalName": "root",
        "AccountId": account,
        "PrincipalId": clean(event.principal_id or "", 128) or account,
    }
    if status != "Deleted":
        key_details["Status"] = status
    if key_id:
        key_details["AccessKeyId"] = key_id
    if event.key_created_at is not None:
        key_details["CreatedAt"] = iso(event.key_created_at)

    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": ctx.finding_id,
        "ProductArn": product_arn(ctx.partition, ctx.region, account),
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": account,
        "Types": [control.finding_type],
        "FirstObservedAt": first,
        "LastObservedAt": observed,
        "CreatedAt": first,
        "UpdatedAt": observed,
        "Severity": _severity(control),
        "FindingProviderFields": {"Severity": _severity(control), "Types": [control.finding_type]},
        "Title": clean(f"{control.title} ({control.framework})", MAX_TITLE),
        "Description": _description(event, verdict, confirmation, control, ctx),
        "Remediation": {
            "Recommendation": {"Text": control.remediation_text, "Url": control.remediation_url}
        },
        "ProductFields": _product_fields(event, verdict, confirmation, ctx),
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": key_id or f"{account}/{UNKNOWN_KEY}",
                "Partition": ctx.partition,
                "Region": ctx.region,
                "Details": {"AwsIamAccessKey": key_details},
            },
            {
                "Type": "AwsAccount",
                "Id": f"AWS::::Account:{account}",
                "Partition": ctx.partition,
                "Region": ctx.region,
            },
        ],
        "Compliance": {
            "Status": "PASSED" if is_resolved else "FAILED",
            "RelatedRequirements": list(control.requirements),
        },
        "RecordState": "ARCHIVED" if is_resolved else "ACTIVE",
        "Action": _action(event),
    }
    source_url = cloudtrail_event_url(ctx.region, event.event_id)
    if source_url is not None and event.form is not InputForm.SWEEP:
        finding["SourceUrl"] = source_url
    return finding


def refreshed(finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The detector's own finding, observed again at ``now`` (the key is still there).

    Security Hub deletes a finding 90 days after its last update: the sweep re-imports the
    findings of keys that still exist, unchanged but for the times of this observation.
    """
    out = copy.deepcopy(finding)
    out["UpdatedAt"] = out["LastObservedAt"] = iso(now)
    fields = dict(out.get("ProductFields", {}))
    fields[f"{PRODUCT_FIELD_PREFIX}/Version"] = __version__  # this release re-imports it
    out["ProductFields"] = dict(list(fields.items())[:MAX_PRODUCT_FIELDS])
    return out


def resolved(finding: dict[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    """The detector's own finding, resolved at ``now``: the key is gone (PASSED, ARCHIVED)."""
    out = refreshed(finding, now)
    out["Compliance"] = {**out.get("Compliance", {}), "Status": "PASSED"}
    out["RecordState"] = "ARCHIVED"
    for resource in out.get("Resources", []):
        details = resource.get("Details", {}).get("AwsIamAccessKey")
        if isinstance(details, dict):
            details.pop("Status", None)
    fields = dict(out.get("ProductFields", {}))
    fields[f"{PRODUCT_FIELD_PREFIX}/Confirmation"] = "ABSENT"
    fields[f"{PRODUCT_FIELD_PREFIX}/ConfirmationReason"] = clean(reason, MAX_PRODUCT_FIELD_VALUE)
    fields[f"{PRODUCT_FIELD_PREFIX}/ResolvedBy"] = "sweep"
    out["ProductFields"] = dict(list(fields.items())[:MAX_PRODUCT_FIELDS])
    out["Description"] = clean(
        f"Resolved at {iso(now)}: {reason}. " + str(out.get("Description", "")), MAX_DESCRIPTION
    )
    return out


def _severity(control: Control) -> dict[str, str]:
    return {"Label": control.severity_label, "Original": control.severity_original}


def _key_status(verdict: Verdict, resolved: bool) -> str:
    if resolved:
        return "Deleted"
    return "Inactive" if verdict is Verdict.DEACTIVATED else "Active"


def _description(
    event: RootKeyEvent,
    verdict: Verdict,
    confirmation: Confirmation,
    control: Control,
    ctx: FindingContext,
) -> str:
    account = event.account_id or "unknown"
    if ctx.account_name:
        account = f"{account} ({ctx.account_name})"
    who = "The root user (AssumeRoot session)" if event.assumed_root else "The root user"
    happened = f"{who} of account {account} {verdict.action} at {iso(event.event_time)}. "
    if event.form is InputForm.SWEEP:
        happened = (
            f"The daily sweep found that the root user of account {account} holds an access "
            f"key ({iso(event.event_time)}); no CloudTrail event of its creation was seen. "
        )
    if event.form is InputForm.SWEEP and event.access_key_id:
        created = f", created {iso(event.key_created_at)}" if event.key_created_at else ""
        happened = (
            f"The daily sweep listed root's access keys in account {account} "
            f"({iso(event.event_time)}): root holds key {event.access_key_id} "
            f"({event.key_status or 'status unknown'}{created}). "
        )
    text = (
        happened + f"IAM confirmation: {confirmation.state.value} ({confirmation.reason}). "
        f"{control.description}"
    )
    return clean(text, MAX_DESCRIPTION)


def _product_fields(
    event: RootKeyEvent, verdict: Verdict, confirmation: Confirmation, ctx: FindingContext
) -> dict[str, str]:
    raw: dict[str, str | None] = {
        "Version": __version__,  # the detector release that wrote the finding
        "EventId": event.event_id,
        "EventName": event.event_name,
        "EventTime": iso(event.event_time),
        "Verdict": verdict.value,
        "Confirmation": confirmation.state.value,
        "ConfirmationReason": confirmation.reason,
        "SourceIPAddress": event.source_ip,
        "UserAgent": event.user_agent,
        "MfaAuthenticated": _flag(event.mfa_authenticated),
        "AssumedRoot": _flag(event.assumed_root),
        "CallerAccessKeyId": event.caller_access_key_id,
        "AccountName": ctx.account_name,
        "EventRegion": event.aws_region,
        "Source": event.form.value,
    }
    fields = {
        f"{PRODUCT_FIELD_PREFIX}/{k}"[:MAX_PRODUCT_FIELD_KEY]: clean(v, MAX_PRODUCT_FIELD_VALUE)
        for k, v in raw.items()
        if v
    }
    # clean() may empty a value made only of control characters; ASFF wants non-empty values.
    return dict(list({k: v for k, v in fields.items() if v}.items())[:MAX_PRODUCT_FIELDS])


def _flag(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def _action(event: RootKeyEvent) -> dict[str, Any]:
    call: dict[str, Any] = {
        "Api": clean(event.event_name, 128),
        "ServiceName": clean(event.event_source, 128),
        "FirstSeen": iso(event.event_time),
        "LastSeen": iso(event.event_time),
    }
    ip = _ipv4(event.source_ip)
    if ip is not None:
        call["CallerType"] = "remoteip"
        call["RemoteIpDetails"] = {"IpAddressV4": ip}
    elif event.source_ip and not _is_ip(event.source_ip) and clean(event.source_ip, 128):
        # "AWS Internal" or a service host name; IPv6 stays in ProductFields (no ASFF field).
        call["CallerType"] = "domain"
        call["DomainDetails"] = {"Domain": clean(event.source_ip, 128)}
    return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": call}


def _ipv4(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_EVENT_ID_RE = re.compile(r"[A-Za-z0-9-]{1,128}")


def cloudtrail_event_url(region: str, event_id: str) -> str | None:
    """Console link to the CloudTrail event (Event history keeps 90 days).

    None when the event id is not shaped like CloudTrail's (a UUID): an attacker-shaped id
    never becomes part of a URL.
    """
    if not _EVENT_ID_RE.fullmatch(event_id):
        return None
    return (
        f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}"
        f"#/events/{quote(event_id, safe='')}"
    )


def securityhub_finding_url(region: str, finding: str) -> str:
    """Console link that opens the Security Hub findings view filtered to this finding's Id."""
    # The console's filter syntax is itself URL-encoded inside the fragment.
    search = quote(f"Id=\\operator\\:EQUALS\\:{finding}", safe="")
    return (
        f"https://{region}.console.aws.amazon.com/securityhub/home?region={region}"
        f"#/findings?search={quote(search, safe='')}"
    )
