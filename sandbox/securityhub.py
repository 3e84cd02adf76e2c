"""Security Hub CSPM's findings as AWS documents them: the store behind the contract layer.

moto keeps whatever ``BatchImportFindings`` sends, overwrites a finding on every import, ignores
``GetFindings``'s filters and has no ``BatchUpdateFindings``. The detector must work against the
real service, so the sandbox answers those three operations from this store instead, holding the
rules AWS documents. Each rule says where it is written; the documents (read 2026-12-01):

[IMPORT]    "BatchImportFindings for finding providers" (earlier title: "Using BatchImportFindings
            to create and update findings"), Security Hub CSPM User Guide,
            https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html
            (its "Using FindingProviderFields" section as in the awsdocs/aws-security-hub-user-
            guide repository's last version, 2023; the rest as the page reads now)
[REQUIRED]  "Required top-level ASFF attributes", Security Hub CSPM User Guide,
            https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html
[OPTIONAL]  "Optional top-level ASFF attributes", Security Hub CSPM User Guide,
            https://docs.aws.amazon.com/securityhub/latest/userguide/asff-top-level-attributes.html
[FPF]       API Reference, FindingProviderFields and FindingProviderSeverity,
            https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_FindingProviderFields.html
[UPDATE]    API Reference, BatchUpdateFindings,
            https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html,
            and "BatchUpdateFindings for customers", Security Hub CSPM User Guide,
            https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchupdatefindings.html
[WORKFLOW]  "Setting the workflow status of findings in Security Hub CSPM",
            https://docs.aws.amazon.com/securityhub/latest/userguide/findings-workflow-status.html
[RETENTION] "Creating and updating findings in Security Hub",
            https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-update-types.html
[TIMESTAMP] API Reference, "Timestamps",
            https://docs.aws.amazon.com/securityhub/1.0/APIReference/Welcome.html#timestamps
[FILTERS]   API Reference, GetFindings, AwsSecurityFindingFilters, StringFilter, MapFilter,
            https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindings.html
[MODEL]     botocore's securityhub service model (botocore/data/securityhub/2018-10-26/
            service-2.json): its member documentation is the API Reference's, with the length
            limits botocore itself never checks (it checks types, required members, minimums).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import botocore.session
from botocore.model import Shape, StructureShape

SCHEMA_VERSION = "2018-10-08"  # [REQUIRED] SchemaVersion: the one published version
RETENTION = timedelta(days=90)  # [RETENTION]
MAX_FINDING_BYTES = 240 * 1024  # [IMPORT] "up to 240 KB per finding"
MAX_BATCH = 100  # [IMPORT] "up to 100 findings per batch"; [UPDATE] "up to 100 findings"
MAX_FILTER_ATTRIBUTES = 10  # [FILTERS] "You can filter by up to 10 finding attributes"
MAX_FILTER_VALUES = 20  # [FILTERS] "For each attribute, you can provide up to 20 filter values"

# [IMPORT] "Restricted attributes": after a finding is created, BatchImportFindings cannot change
# them; "Any content in those fields and objects is ignored".
CUSTOMER_OWNED = ("Note", "UserDefinedFields", "VerificationState", "Workflow")
# [FPF] The attributes a provider sets through FindingProviderFields; a customer's
# BatchUpdateFindings change to the top-level one wins over every later import.
PROVIDER_ATTRIBUTES = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
# [OPTIONAL] Region, ProcessedAt: "Security Hub populates this attribute automatically ... You
# cannot update it using BatchImportFindings or BatchUpdateFindings" (the model's ProcessedAt:
# "when Security Hub received a finding and begins to process it").
SERVICE_OWNED = ("Region", "ProcessedAt")
# [OPTIONAL] ProductName and CompanyName are Security Hub's too, except for a custom integration
# (the detector is one), which may set them. What Security Hub shows when a custom integration
# sets neither, and the aws/securityhub/* ProductFields it adds to every finding, are not
# documented values: they are what GetFindings answers for custom integrations' findings.
CUSTOM_PRODUCT_NAME = "Default"
CUSTOM_COMPANY_NAME = "Personal"
RESERVED_PREFIX = "aws/"  # [OPTIONAL] ProductFields: "a reserved namespace for AWS products"

# [MODEL] Severity.Label <-> Severity.Normalized, filled in when only one is given.
NORMALIZED_OF_LABEL = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}

# [MODEL] "Length Constraints" and "Array Members" of the finding's members (maximums; botocore
# checks only minimums). Paths: "a.b" nests, "a[]" is each item of a list.
MAX_LENGTH: tuple[tuple[str, int], ...] = (
    ("Id", 512),
    ("GeneratorId", 512),
    ("ProductArn", 2048),
    ("ProductName", 128),
    ("CompanyName", 128),
    ("Region", 16),
    ("Title", 256),
    ("Description", 1024),
    ("AwsAccountName", 50),
    ("Severity.Original", 64),
    ("FindingProviderFields.Severity.Original", 64),
    ("Remediation.Recommendation.Text", 512),
    ("Note.Text", 512),
    ("Resources[].Type", 256),
    ("Resources[].Region", 16),
    ("Malware[].Name", 64),
    ("Malware[].Path", 512),
    ("Process.Name", 64),
    ("Process.Path", 512),
    ("Action.AwsApiCallAction.Api", 128),
    ("Action.AwsApiCallAction.ServiceName", 128),
    ("Action.AwsApiCallAction.DomainDetails.Domain", 128),
    ("Action.DnsRequestAction.Domain", 128),
)
ITEMS: tuple[tuple[str, int, int], ...] = (  # (path, minimum, maximum)
    ("Resources", 1, 32),
    ("Types", 0, 50),
    ("FindingProviderFields.Types", 0, 50),
    ("Compliance.RelatedRequirements", 0, 32),
    ("RelatedFindings", 1, 10),
    ("FindingProviderFields.RelatedFindings", 1, 10),
    ("Malware", 0, 5),
    ("Threats", 1, 32),
    ("ThreatIntelIndicators", 1, 5),
)
# [MODEL] ProductFields and UserDefinedFields: "up to 50 key-value pairs ... the key can contain
# up to 128 characters, and the value can contain up to" 2048 (ProductFields) or 1024.
FIELD_MAPS = {"ProductFields": (50, 128, 2048), "UserDefinedFields": (50, 128, 1024)}


class SecurityHubError(Exception):
    """A refusal of the whole request, answered as Security Hub's REST-JSON errors are."""

    STATUS: ClassVar[dict[str, int]] = {  # [MODEL] each error shape's httpStatusCode
        "InvalidInputException": 400,
        "InvalidAccessException": 401,
        "AccessDeniedException": 403,
        "LimitExceededException": 429,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        """The HTTP status Security Hub answers this error with."""
        return self.STATUS[self.code]


def invalid_input(message: str) -> SecurityHubError:
    """InvalidInputException (400)."""
    return SecurityHubError("InvalidInputException", message)


@dataclass(frozen=True)
class Caller:
    """Who calls, where: the account and principal of the credentials, the signing region."""

    account: str
    arn: str
    region: str

    @property
    def partition(self) -> str:
        """The partition of the region."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def default_product_arn(self) -> str:
        """The only product ARN under which this account may import its own findings."""
        return (
            f"arn:{self.partition}:securityhub:{self.region}:{self.account}:"
            f"product/{self.account}/default"
        )


# -- timestamps ---------------------------------------------------------------------------------

# [TIMESTAMP] "Timestamps can end with Z or ("+" / "-") time-hour [":" time-minute]. The
# time-secfrac after seconds is limited to a maximum of 9 digits. The offset is bounded by
# +/-18:00." (its examples: ...SSZ, ...SS.mmmmmmmmmZ, ...SS+HH:MM, ...SS-HHMM).
_TIMESTAMP = re.compile(
    r"(?P<Y>[0-9]{4})-(?P<M>[0-9]{2})-(?P<D>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?"
    r"(?:Z|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)"
)
_MAX_OFFSET_MINUTES = 18 * 60


def parse_timestamp(text: object) -> datetime | None:
    """The instant a Security Hub timestamp names (UTC), or None if it is not one.

    Fractions are kept to the millisecond: [TIMESTAMP] "If a finding provider sends a finding
    ... that contains a timestamp in nanoseconds, we round it to milliseconds."
    """
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    offset = 0
    if match["sign"]:
        hours, minutes = int(match["oh"]), int(match["om"] or 0)
        offset = hours * 60 + minutes
        if minutes > 59 or offset > _MAX_OFFSET_MINUTES:
            return None
        offset = -offset if match["sign"] == "-" else offset
    nanos = int((match["frac"] or "0").ljust(9, "0"))
    try:
        local = datetime(
            int(match["Y"]),
            int(match["M"]),
            int(match["D"]),
            int(match["h"]),
            int(match["m"]),
            int(match["s"]),
            tzinfo=UTC,
        )
        return local + timedelta(milliseconds=(nanos + 500_000) // 1_000_000, minutes=-offset)
    except (ValueError, OverflowError):
        return None


def iso(instant: datetime) -> str:
    """A timestamp as Security Hub writes its own (UTC, milliseconds, Z)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- validation of one finding ------------------------------------------------------------------

_TIMESTAMP_DOC = "validation and formatting of timestamp fields"  # [MODEL] marks every timestamp


@functools.cache
def _shape(name: str) -> StructureShape:
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.shape_for(name)
    assert isinstance(shape, StructureShape)  # noqa: S101 - the model's own structures
    return shape


@functools.cache
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def model_error(value: Any, shape: Shape, path: str, *, timestamp: bool = False) -> str | None:
    """What in ``value`` breaks botocore's model of ``shape`` (None: nothing).

    Checked: JSON types, required members, enum values, patterns (Smithy patterns are not
    anchored: searched), minimums and maximums, and the timestamp format of every member the
    model documents as a Security Hub timestamp. botocore's client checks types, required
    members and minimums only; a raw HTTP caller is checked too.
    """
    kind = shape.type_name
    if kind == "structure":
        return _structure_error(value, shape, path)
    if kind == "list":
        if not isinstance(value, list):
            return f"{path} must be a list"
        error = _size_error(len(value), shape, path, "items")
        for i, item in enumerate(value):
            if error:
                return error
            error = model_error(item, shape.member, f"{path}[{i}]")  # type: ignore[attr-defined]
        return error
    if kind == "map":
        if not isinstance(value, dict):
            return f"{path} must be an object"
        for key, item in value.items():
            error = model_error(key, shape.key, f"{path} key", timestamp=False)  # type: ignore[attr-defined]
            error = error or model_error(item, shape.value, f"{path}.{key}")  # type: ignore[attr-defined]
            if error:
                return error
        return None
    if kind == "string":
        return _string_error(value, shape, path, timestamp=timestamp)
    return _scalar_error(value, kind, shape, path)


def _structure_error(value: Any, shape: Shape, path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path or 'finding'} must be an object"
    assert isinstance(shape, StructureShape)  # noqa: S101
    prefix = f"{path}." if path else ""
    for name in shape.required_members:
        if name not in value:
            return f"{prefix}{name} is required"
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            continue  # not in this botocore's model: not checked
        stamp = _TIMESTAMP_DOC in (member.documentation or "")
        error = model_error(item, member, f"{prefix}{name}", timestamp=stamp)
        if error:
            return error
    return None


def _string_error(value: Any, shape: Shape, path: str, *, timestamp: bool) -> str | None:
    if not isinstance(value, str):
        return f"{path} must be a string"
    if shape.enum and value not in shape.enum:
        return f"{path} {value!r} is not one of {', '.join(shape.enum)}"
    pattern = shape.metadata.get("pattern")
    if pattern and not _pattern(pattern).search(value):
        return f"{path} does not match the pattern {pattern}"
    if timestamp and parse_timestamp(value) is None:
        return f"{path} {value[:64]!r} is not a timestamp Security Hub accepts"
    return _size_error(len(value), shape, path, "characters")


def _scalar_error(value: Any, kind: str, shape: Shape, path: str) -> str | None:
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{path} must be a boolean"
    if kind in {"integer", "long"} and (not isinstance(value, int) or isinstance(value, bool)):
        return f"{path} must be an integer"
    if kind in {"double", "float"} and (
        not isinstance(value, (int, float)) or isinstance(value, bool)
    ):
        return f"{path} must be a number"
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if isinstance(value, (int, float)) and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        return f"{path} must be between {low} and {high}"
    return None


def _size_error(size: int, shape: Shape, path: str, unit: str) -> str | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        return f"{path} must have at least {low} {unit}"
    if high is not None and size > high:
        return f"{path} must have at most {high} {unit}"
    return None


def at_path(doc: Any, path: str) -> Iterator[Any]:
    """Every value at ``path`` in ``doc`` ("a.b" nests, "a[]" is each item of list a)."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(doc, dict) or name not in doc:
        return
    value = doc[name]
    values = value if many and isinstance(value, list) else [] if many else [value]
    for item in values:
        if rest:
            yield from at_path(item, rest)
        else:
            yield item


def finding_error(finding: Any) -> str | None:
    """Why Security Hub refuses this finding (``InvalidInput``), or None.

    Raises nothing: every refusal is the finding's own, in FailedFindings ([IMPORT]).
    """
    error = model_error(finding, _shape("AwsSecurityFinding"), "")
    if error:
        return error
    if finding["SchemaVersion"] != SCHEMA_VERSION:  # [REQUIRED] SchemaVersion
        return f"SchemaVersion must be {SCHEMA_VERSION}"
    if not re.fullmatch(r"[0-9]{12}", finding["AwsAccountId"]):  # [MODEL] "Length: 12"
        return "AwsAccountId must be a 12-digit account id"
    if len(json.dumps(finding).encode()) > MAX_FINDING_BYTES:
        return "Finding size exceeded 240 KB"
    return _limit_error(finding) or _field_map_error(finding) or _provider_fields_error(finding)


def _limit_error(finding: dict[str, Any]) -> str | None:
    for path, limit in MAX_LENGTH:
        for value in at_path(finding, path):
            if isinstance(value, str) and len(value) > limit:
                return f"{path} is longer than {limit} characters"
    for path, low, high in ITEMS:
        for value in at_path(finding, path):
            if isinstance(value, list) and not low <= len(value) <= high:
                return f"{path} must have {low} to {high} items"
    return None


def _field_map_error(finding: dict[str, Any]) -> str | None:
    for name, (pairs, key_max, value_max) in FIELD_MAPS.items():
        fields = finding.get(name) or {}
        if len(fields) > pairs:
            return f"{name} has more than {pairs} key-value pairs"
        for key, value in fields.items():
            if len(key) > key_max or len(value) > value_max:
                return f"{name} key {key[:64]!r}: key over {key_max} or value over {value_max}"
    for key in finding.get("ProductFields") or {}:
        if key.startswith(RESERVED_PREFIX):  # [OPTIONAL] ProductFields
            return (
                f"ProductFields key {key[:64]!r}: the aws/ prefix is reserved for AWS products "
                "and services and must not be submitted by third-party integrations"
            )
    return None


def _provider_fields_error(finding: dict[str, Any]) -> str | None:
    provided = finding.get("FindingProviderFields") or {}
    # [REQUIRED] Severity: "the finding must have either the Label or Normalized field
    # populated ... If neither attribute is populated, then the finding is not valid"; it may
    # come through FindingProviderFields ([IMPORT] "Using FindingProviderFields").
    severities = [finding.get("Severity") or {}, provided.get("Severity") or {}]
    if not any("Label" in s or "Normalized" in s for s in severities):
        return "Severity needs a Label (or Normalized), top-level or in FindingProviderFields"
    # [REQUIRED] Types: "One or more finding types".
    if not (finding.get("Types") or provided.get("Types")):
        return "Types needs one or more finding types, top-level or in FindingProviderFields"
    return None


# -- the store ----------------------------------------------------------------------------------


@dataclass
class _Stored:
    finding: dict[str, Any]
    seq: int  # creation order: GetFindings pages in it
    updated_at: datetime
    customer_set: set[str] = field(default_factory=set)  # PROVIDER_ATTRIBUTES a customer changed


class SecurityHubFindings:
    """Every account's findings in this process, as Security Hub CSPM keeps them."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._findings: dict[tuple[str, str], _Stored] = {}  # (ProductArn, Id) -> finding
        self._seq = 0
        self.administrator: str | None = None
        self._busy: dict[str, int] = {}  # finding Id -> updates still refused as concurrent

    def reset(self) -> None:
        """Forget every finding and the administrator."""
        with self._lock:
            self._findings.clear()
            self.administrator = None
            self._busy.clear()

    def busy(self, finding_id: str, updates: int) -> None:
        """The next ``updates`` BatchUpdateFindings of ``finding_id`` meet another update in
        progress: ConcurrentUpdateError in UnprocessedFindings ([UPDATE]: "another request
        attempted to update the finding while this request was being processed", which a
        BatchImportFindings at the same moment causes)."""
        with self._lock:
            self._busy[finding_id] = updates

    def sees(self, caller: Caller, finding: dict[str, Any]) -> bool:
        """Whether ``caller`` reads (and may BatchUpdateFindings) ``finding``.

        Each account sees its own findings in the signing region; the administrator sees its
        members' too, and the sandbox's administrator has every account as a member ([UPDATE]:
        "Administrator accounts can update findings for their account and their member
        accounts. A member account can update findings only for their own account").
        """
        return finding.get("Region") == caller.region and (
            finding.get("AwsAccountId") == caller.account or caller.account == self.administrator
        )

    def _expire(self, now: datetime) -> None:
        # [RETENTION] "Security Hub retains an existing finding ... for 90 days after the most
        # recent value of the UpdatedAt ASFF field ... At the end of this 90 day period, Security
        # Hub permanently deletes the finding". BatchUpdateFindings does not move UpdatedAt.
        cutoff = now - RETENTION
        for key in [k for k, s in self._findings.items() if s.updated_at < cutoff]:
            del self._findings[key]

    # -- BatchImportFindings ----------------------------------------------------------------

    def batch_import(
        self,
        caller: Caller,
        body: dict[str, Any],
        *,
        enabled: bool,
        changed: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """BatchImportFindings: per-finding refusals in FailedFindings, as [IMPORT] says.

        Raises:
            SecurityHubError: the request as a whole is refused (too many findings; a finding
                for another account or under another product ARN).
        """
        findings = body.get("Findings")
        if not isinstance(findings, list) or not 1 <= len(findings) <= MAX_BATCH:
            raise invalid_input(f"Findings must hold 1 to {MAX_BATCH} findings")
        for finding in findings:
            _authorize(caller, finding)
        failed: list[dict[str, str]] = []
        now = self._clock()
        with self._lock:
            self._expire(now)
            for finding in findings:
                error = self._import_error(finding, enabled=enabled, caller=caller)
                if error is not None:
                    failed.append(error)
                    continue
                self._import(caller, finding, now)
                if changed is not None:
                    stored = self._findings[(finding["ProductArn"], finding["Id"])]
                    changed.append(copy.deepcopy(stored.finding))
        return {
            "FailedCount": len(failed),
            "SuccessCount": len(findings) - len(failed),
            "FailedFindings": failed,
        }

    @staticmethod
    def _import_error(finding: Any, *, enabled: bool, caller: Caller) -> dict[str, str] | None:
        fid = finding.get("Id") if isinstance(finding, dict) else None
        fid = fid if isinstance(fid, str) and fid else "unknown"
        if not enabled:
            # [IMPORT] "If Security Hub CSPM is disabled ... the findings are returned in the
            # FailedFindings list, with an InvalidAccess error."
            message = f"Account {caller.account} is not subscribed to AWS Security Hub CSPM"
            return {"Id": fid, "ErrorCode": "InvalidAccess", "ErrorMessage": message}
        error = finding_error(finding)
        if error is None:
            return None
        return {"Id": fid, "ErrorCode": "InvalidInput", "ErrorMessage": error}

    def _import(self, caller: Caller, finding: dict[str, Any], now: datetime) -> None:
        key = (finding["ProductArn"], finding["Id"])
        updated_at = parse_timestamp(finding["UpdatedAt"])
        assert updated_at is not None  # noqa: S101 - validated
        old = self._findings.get(key)
        if old is None:
            self._seq += 1
            doc = _created(caller, finding, now)
            self._findings[key] = _Stored(doc, self._seq, updated_at)
            return
        # [IMPORT] "If UpdatedAt on the update matches or occurs before UpdatedAt on the
        # existing finding, Security Hub CSPM ignores the update request." It is still a
        # processed finding (SuccessCount), not a failure.
        if updated_at <= old.updated_at:
            return
        old.finding = _updated(old, finding, now)
        old.updated_at = updated_at

    # -- GetFindings --------------------------------------------------------------------------

    def get_findings(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """GetFindings with the filters the sandbox implements ([FILTERS]), paginated.

        Raises:
            SecurityHubError: InvalidInputException for a bad MaxResults, NextToken or filter,
                or for a filter or SortCriteria the sandbox does not implement (it never
                answers unfiltered when asked to filter).
        """
        max_results = body.get("MaxResults", 100)
        if not isinstance(max_results, int) or not 1 <= max_results <= 100:  # [MODEL] 1..100
            raise invalid_input("MaxResults must be a number between 1 and 100")
        if body.get("SortCriteria"):
            raise invalid_input("SortCriteria: not implemented by the sandbox")
        now = self._clock()
        matches = compile_filters(body.get("Filters") or {}, now)
        after = _token_seq(body.get("NextToken"))
        with self._lock:
            self._expire(now)
            candidates = sorted(
                (s for s in self._findings.values() if s.seq > after),
                key=lambda s: s.seq,
            )
            found = [s for s in candidates if self.sees(caller, s.finding) and matches(s.finding)]
            page = [copy.deepcopy(s.finding) for s in found[:max_results]]
        answer: dict[str, Any] = {"Findings": page}
        if len(found) > max_results:
            answer["NextToken"] = _token(found[max_results - 1].seq)
        return answer

    # -- BatchUpdateFindings -----------------------------------------------------------------

    def batch_update(
        self, caller: Caller, body: dict[str, Any], changed: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """BatchUpdateFindings: the customer's fields; UpdatedAt stays ([UPDATE]).

        Raises:
            SecurityHubError: no identifiers, or more than 100.
        """
        identifiers = body.get("FindingIdentifiers")
        if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= MAX_BATCH:
            raise invalid_input(f"FindingIdentifiers must hold 1 to {MAX_BATCH} identifiers")
        error = update_error(body)
        keys = [_identifier(i) for i in identifiers]
        seen = Counter(k for k in keys if k is not None)
        now = self._clock()
        processed: list[dict[str, str]] = []
        unprocessed: list[dict[str, Any]] = []
        with self._lock:
            self._expire(now)
            for ident, key in zip(identifiers, keys, strict=True):
                code = self._update_one(caller, body, key, seen=seen, error=error, now=now)
                if code is None:
                    processed.append({"Id": key[1], "ProductArn": key[0]})  # type: ignore[index]
                    if changed is not None:
                        changed.append(copy.deepcopy(self._findings[key].finding))  # type: ignore[index]
                else:
                    unprocessed.append(
                        {"FindingIdentifier": ident, "ErrorCode": code[0], "ErrorMessage": code[1]}
                    )
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}

    def _update_one(
        self,
        caller: Caller,
        body: dict[str, Any],
        key: tuple[str, str] | None,
        *,
        seen: Counter[tuple[str, str]],
        error: str | None,
        now: datetime,
    ) -> tuple[str, str] | None:
        # [UPDATE] BatchUpdateFindingsUnprocessedFinding.ErrorCode and its messages.
        if key is None:
            return "InvalidInput", "Invalid Input: a finding identifier needs Id and ProductArn"
        if seen[key] > 1:
            return "DuplicatedFindingIdentifier", "Finding Identifier is duplicated"
        if error is not None:
            return "InvalidInput", f"Invalid Input: {error}"
        stored = self._findings.get(key)
        if stored is None or not self.sees(caller, stored.finding):
            return "FindingNotFound", "Finding Not Found"
        if self._busy.get(key[1], 0) > 0:
            self._busy[key[1]] -= 1
            return "ConcurrentUpdateError", "Finding was being updated by another request"
        _apply_customer_update(stored, body, now)
        return None


# -- import: create and update --------------------------------------------------------------------


def _authorize(caller: Caller, finding: Any) -> None:
    """BatchImportFindings for another account, or under another product, is denied.

    The API Reference (BatchImportFindings): with the default product ARN "the identifier of the
    account that you are calling BatchImportFindings from needs to be the same as the
    AwsAccountId attribute for the finding"; "Integrating Security Hub CSPM with custom
    products": a custom integration imports under its account's default product ARN. AWS
    answers both with AccessDeniedException for the request (AWS Support, quoted in
    https://github.com/prowler-cloud/prowler/issues/867).
    """
    if not isinstance(finding, dict):
        return
    arn, account = finding.get("ProductArn"), finding.get("AwsAccountId")
    resource = arn if isinstance(arn, str) else caller.default_product_arn
    if (isinstance(arn, str) and arn != caller.default_product_arn) or (
        isinstance(account, str) and account != caller.account
    ):
        raise SecurityHubError(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: securityhub:BatchImportFindings "
            f"on resource: {resource}",
        )


def _created(caller: Caller, finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    doc = copy.deepcopy(finding)
    doc["Region"] = caller.region  # SERVICE_OWNED
    doc["ProcessedAt"] = iso(now)
    doc.setdefault("ProductName", CUSTOM_PRODUCT_NAME)
    doc.setdefault("CompanyName", CUSTOM_COMPANY_NAME)
    # [OPTIONAL] RecordState: "By default, when initially generated ... findings are considered
    # ACTIVE". [WORKFLOW] NEW: "The initial state of a finding".
    doc.setdefault("RecordState", "ACTIVE")
    doc.setdefault("Workflow", {"Status": "NEW"})
    _merge_provider_attributes(doc, finding, None)
    _add_service_product_fields(doc)
    return doc


def _updated(old: _Stored, finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    doc = copy.deepcopy(old.finding)
    skipped = {*CUSTOMER_OWNED, *SERVICE_OWNED, *PROVIDER_ATTRIBUTES, "FindingProviderFields"}
    for name, value in finding.items():
        if name not in skipped:
            doc[name] = copy.deepcopy(value)
    doc["ProcessedAt"] = iso(now)
    _merge_provider_attributes(doc, finding, old)
    _reset_workflow(old.finding, doc)
    _add_service_product_fields(doc)
    return doc


def _merge_provider_attributes(
    doc: dict[str, Any], finding: dict[str, Any], old: _Stored | None
) -> None:
    """Top-level attributes and FindingProviderFields, as [IMPORT] "Using FindingProviderFields"
    says.

    - only in FindingProviderFields (the preferred way): it is stored there and replicated to the
      top level, unless a customer changed the top-level attribute with BatchUpdateFindings;
    - only at the top level: it overwrites FindingProviderFields' value, and the top level unless
      a customer changed it;
    - in both: a new finding takes FindingProviderFields' value for both ("It does not use the
      provided top-level attribute value"); an existing one takes each, the top level again only
      if no customer changed it.
    """
    incoming = finding.get("FindingProviderFields") or {}
    stored = dict(old.finding.get("FindingProviderFields") or {}) if old else {}
    customer = old.customer_set if old else set()
    for name in PROVIDER_ATTRIBUTES:
        in_fpf, in_top = name in incoming, name in finding
        if in_fpf or in_top:
            stored[name] = copy.deepcopy(incoming[name] if in_fpf else finding[name])
        if name in customer:
            continue  # the customer's value stays (doc holds it)
        if old is None and in_fpf:
            doc[name] = copy.deepcopy(incoming[name])
        elif in_top:
            doc[name] = copy.deepcopy(finding[name])
        elif in_fpf:
            doc[name] = copy.deepcopy(incoming[name])
    for severity in (doc.get("Severity"), stored.get("Severity")):
        if isinstance(severity, dict):
            _complete_severity(severity)
    if stored:
        doc["FindingProviderFields"] = stored


def _complete_severity(severity: dict[str, Any]) -> None:
    # [MODEL] Severity: "If only one of these attributes is populated, then Security Hub CSPM
    # automatically populates the other one", by the documented table.
    if "Label" in severity and "Normalized" not in severity:
        severity["Normalized"] = NORMALIZED_OF_LABEL[severity["Label"]]
    elif "Normalized" in severity and "Label" not in severity:
        severity["Label"] = label_of_normalized(int(severity["Normalized"]))


def label_of_normalized(normalized: int) -> str:
    """[MODEL] Severity.Label from Normalized: 0, 1-39, 40-69, 70-89, 90-100."""
    for floor, label in ((90, "CRITICAL"), (70, "HIGH"), (40, "MEDIUM"), (1, "LOW")):
        if normalized >= floor:
            return label
    return "INFORMATIONAL"


def _reset_workflow(old: dict[str, Any], new: dict[str, Any]) -> None:
    """[WORKFLOW] "Security Hub CSPM also resets the workflow status from either NOTIFIED or
    RESOLVED to NEW" when RecordState goes ARCHIVED -> ACTIVE or Compliance.Status goes PASSED ->
    FAILED, WARNING or NOT_AVAILABLE; SUPPRESSED "does not change". Going the other way
    (ACTIVE -> ARCHIVED, FAILED -> PASSED) changes nothing: only control findings, which
    Security Hub makes itself, are set RESOLVED when they pass.
    """
    reopened = (old.get("RecordState") == "ARCHIVED" and new.get("RecordState") == "ACTIVE") or (
        _compliance(old) == "PASSED" and _compliance(new) in {"FAILED", "WARNING", "NOT_AVAILABLE"}
    )
    workflow = new.get("Workflow") or {}
    if reopened and workflow.get("Status") in {"NOTIFIED", "RESOLVED"}:
        new["Workflow"] = {**workflow, "Status": "NEW"}


def _compliance(finding: dict[str, Any]) -> Any:
    compliance = finding.get("Compliance")
    return compliance.get("Status") if isinstance(compliance, dict) else None


def _add_service_product_fields(doc: dict[str, Any]) -> None:
    """The aws/securityhub/* keys Security Hub adds to every finding's ProductFields.

    [OPTIONAL] ProductName: filtering by product name through the API uses "the
    aws/securityhub/ProductName attribute under ProductFields"; FindingId and CompanyName come
    with it in GetFindings' answers. They are in the reserved aws/ namespace: a provider that
    re-imports what GetFindings returned is refused ([OPTIONAL] ProductFields).
    """
    fields = dict(doc.get("ProductFields") or {})
    fields["aws/securityhub/FindingId"] = f"{doc['ProductArn']}/{doc['Id']}"
    fields["aws/securityhub/ProductName"] = CUSTOM_PRODUCT_NAME
    fields["aws/securityhub/CompanyName"] = CUSTOM_COMPANY_NAME
    doc["ProductFields"] = fields


# -- BatchUpdateFindings --------------------------------------------------------------------------

_UPDATE_MAX_LENGTH = (("Note.Text", 512),)  # [MODEL] Note.Text: "Maximum of 512"
_UPDATE_ITEMS = (("Types", 1, 50), ("RelatedFindings", 1, 10))  # [MODEL] as on the finding


def update_error(body: dict[str, Any]) -> str | None:
    """What in a BatchUpdateFindings request breaks the model or the documented limits."""
    request = _shape("BatchUpdateFindingsRequest")
    for name, value in body.items():
        member = request.members.get(name)
        if member is None or name == "FindingIdentifiers":
            continue
        error = model_error(value, member, name)
        if error:
            return error
    for path, limit in _UPDATE_MAX_LENGTH:
        if any(isinstance(v, str) and len(v) > limit for v in at_path(body, path)):
            return f"{path} is longer than {limit} characters"
    for path, low, high in _UPDATE_ITEMS:
        if any(isinstance(v, list) and not low <= len(v) <= high for v in at_path(body, path)):
            return f"{path} must have {low} to {high} items"
    pairs, key_max, value_max = FIELD_MAPS["UserDefinedFields"]
    fields = body.get("UserDefinedFields") or {}
    too_long = any(len(k) > key_max or len(v) > value_max for k, v in fields.items())
    if len(fields) > pairs or too_long:
        return f"UserDefinedFields: at most {pairs} pairs, keys {key_max}, values {value_max}"
    return None


def _identifier(ident: Any) -> tuple[str, str] | None:
    if not isinstance(ident, dict):
        return None
    fid, arn = ident.get("Id"), ident.get("ProductArn")
    if not (isinstance(fid, str) and fid and isinstance(arn, str) and arn):
        return None
    return arn, fid


def _apply_customer_update(stored: _Stored, body: dict[str, Any], now: datetime) -> None:
    doc = stored.finding
    if "Note" in body:  # Security Hub stamps the note; the request has no UpdatedAt for it
        doc["Note"] = {**copy.deepcopy(body["Note"]), "UpdatedAt": iso(now)}
    if "Severity" in body:
        severity = copy.deepcopy(body["Severity"])
        _complete_severity(severity)
        doc["Severity"] = {**(doc.get("Severity") or {}), **severity}
        stored.customer_set.add("Severity")
    for name in ("Types", "Confidence", "Criticality", "RelatedFindings"):
        if name in body:
            doc[name] = copy.deepcopy(body[name])
            stored.customer_set.add(name)
    for name in ("UserDefinedFields", "VerificationState"):
        if name in body:
            doc[name] = copy.deepcopy(body[name])
    status = (body.get("Workflow") or {}).get("Status")
    if status is not None:
        doc["Workflow"] = {**(doc.get("Workflow") or {}), "Status": status}


# -- GetFindings' filters -------------------------------------------------------------------------

Finding = dict[str, Any]


def _text(*path: str) -> Callable[[Finding], list[str]]:
    def values(finding: Finding) -> list[str]:
        node: Any = finding
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
        return [node] if isinstance(node, str) else []

    return values


def _each(list_name: str, name: str | None = None) -> Callable[[Finding], list[str]]:
    def values(finding: Finding) -> list[str]:
        items = finding.get(list_name)
        if not isinstance(items, list):
            return []
        picked = [i.get(name) if name and isinstance(i, dict) else i for i in items]
        return [v for v in picked if isinstance(v, str)]

    return values


# [FILTERS] AwsSecurityFindingFilters members the sandbox implements, and what each reads.
STRING_FILTERS: dict[str, Callable[[Finding], list[str]]] = {
    "Id": _text("Id"),
    "ProductArn": _text("ProductArn"),
    "GeneratorId": _text("GeneratorId"),
    "AwsAccountId": _text("AwsAccountId"),
    "Region": _text("Region"),
    "Title": _text("Title"),
    "Description": _text("Description"),
    "ProductName": _text("ProductName"),
    "CompanyName": _text("CompanyName"),
    "RecordState": _text("RecordState"),
    "VerificationState": _text("VerificationState"),
    "WorkflowStatus": _text("Workflow", "Status"),
    "ComplianceStatus": _text("Compliance", "Status"),
    "SeverityLabel": _text("Severity", "Label"),
    "Type": _each("Types"),
    "ResourceId": _each("Resources", "Id"),
    "ResourceType": _each("Resources", "Type"),
}
DATE_FILTERS = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt")
MAP_FILTERS = ("ProductFields", "UserDefinedFields")
_POSITIVE = {"EQUALS", "PREFIX"}
_NEGATIVE = {"NOT_EQUALS", "PREFIX_NOT_EQUALS"}
_RULES_ONLY = {"CONTAINS", "NOT_CONTAINS", "CONTAINS_WORD"}

Matcher = Callable[[Finding], bool]


def compile_filters(filters: Any, now: datetime) -> Matcher:
    """A predicate for GetFindings' Filters: attributes are ANDed ([FILTERS]).

    Raises:
        SecurityHubError: InvalidInputException for a malformed or unimplemented filter.
    """
    if not isinstance(filters, dict):
        raise invalid_input("Filters must be an object")
    active = {name: values for name, values in filters.items() if values}
    if len(active) > MAX_FILTER_ATTRIBUTES:
        raise invalid_input(f"Filters: at most {MAX_FILTER_ATTRIBUTES} finding attributes")
    matchers: list[Matcher] = []
    for name, values in active.items():
        if not isinstance(values, list) or len(values) > MAX_FILTER_VALUES:
            raise invalid_input(f"Filters.{name}: a list of at most {MAX_FILTER_VALUES} filters")
        if name in STRING_FILTERS:
            matchers.append(_string_matcher(name, values))
        elif name in DATE_FILTERS:
            matchers.append(_date_matcher(name, values, now))
        elif name in MAP_FILTERS:
            matchers.append(_map_matcher(name, values))
        else:
            raise invalid_input(f"Filters.{name}: not implemented by the sandbox")
    return lambda finding: all(m(finding) for m in matchers)


def _comparisons(name: str, values: list[Any], keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    out = []
    for item in values:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in keys):
            raise invalid_input(f"Filters.{name}: each filter needs {', '.join(keys)}")
        out.append(tuple(item[k] for k in keys))
    comparisons = {c[-1] for c in out}
    if comparisons & _RULES_ONLY:
        # [FILTERS] "The CONTAINS operator works with automation rules V1 and V2. The
        # NOT_CONTAINS operator works only with automation rules V1. The CONTAINS_WORD operator
        # works only in the GetFindingsV2 ... APIs."
        rules_only = sorted(comparisons & _RULES_ONLY)
        raise invalid_input(f"Filters.{name}: {rules_only} not available in GetFindings")
    unknown = comparisons - _POSITIVE - _NEGATIVE
    if unknown:
        raise invalid_input(f"Filters.{name}: unknown comparison {sorted(unknown)}")
    if "EQUALS" in comparisons and comparisons & _NEGATIVE:
        # [FILTERS] "you can't provide both an EQUALS filter and a NOT_EQUALS or
        # PREFIX_NOT_EQUALS filter on the same field. Combining filters in this way returns an
        # error."
        raise invalid_input(f"Filters.{name}: EQUALS cannot be combined with NOT_ filters")
    return out


def _hit(comparison: str, wanted: str, value: str) -> bool:
    if comparison in {"EQUALS", "NOT_EQUALS"}:
        return value == wanted
    return value.startswith(wanted)  # PREFIX, PREFIX_NOT_EQUALS


def _string_matcher(name: str, values: list[Any]) -> Matcher:
    comparisons = _comparisons(name, values, ("Value", "Comparison"))
    positive = [c for c in comparisons if c[1] in _POSITIVE]
    negative = [c for c in comparisons if c[1] in _NEGATIVE]
    read = STRING_FILTERS[name]

    def matches(finding: Finding) -> bool:
        # [FILTERS] EQUALS and PREFIX on one field are ORed, the NOT_ ones ANDed; PREFIX first.
        got = read(finding)
        if positive and not any(_hit(c, w, v) for w, c in positive for v in got):
            return False
        return not any(_hit(c, w, v) for w, c in negative for v in got)

    return matches


def _map_matcher(name: str, values: list[Any]) -> Matcher:
    comparisons = _comparisons(name, values, ("Key", "Value", "Comparison"))
    if any(c[2] in {"PREFIX", "PREFIX_NOT_EQUALS"} for c in comparisons):
        raise invalid_input(f"Filters.{name}: a map filter compares with EQUALS or NOT_EQUALS")

    def matches(finding: Finding) -> bool:
        fields = finding.get(name) or {}
        equals = [(k, v) for k, v, c in comparisons if c == "EQUALS"]
        if equals and not any(fields.get(k) == v for k, v in equals):
            return False
        return not any(fields.get(k) == v for k, v, c in comparisons if c == "NOT_EQUALS")

    return matches


def _date_matcher(name: str, values: list[Any], now: datetime) -> Matcher:
    windows = [_window(name, item, now) for item in values]

    def matches(finding: Finding) -> bool:
        instant = parse_timestamp(finding.get(name))
        return instant is not None and any(
            (start is None or instant >= start) and (end is None or instant <= end)
            for start, end in windows
        )

    return matches


def _window(name: str, item: Any, now: datetime) -> tuple[datetime | None, datetime | None]:
    if not isinstance(item, dict):
        raise invalid_input(f"Filters.{name}: each filter is an object")
    error = model_error(item, _shape("DateFilter"), f"Filters.{name}")
    if error:
        raise invalid_input(error)
    if "DateRange" in item:
        days = item["DateRange"].get("Value")
        if not isinstance(days, int):
            raise invalid_input(f"Filters.{name}.DateRange needs a Value")
        edge = now - timedelta(days=days)
        if item["DateRange"].get("Comparison") == "OLDER_THAN":
            return None, edge - timedelta(microseconds=1)
        return edge, now  # WITHIN, the default
    start, end = parse_timestamp(item.get("Start")), parse_timestamp(item.get("End"))
    if start is None and end is None:
        raise invalid_input(f"Filters.{name}: give Start and End, or a DateRange")
    return start, end


def _token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode()


def _token_seq(token: Any) -> int:
    if not token:
        return 0
    try:
        seq = json.loads(base64.urlsafe_b64decode(str(token).encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_input("The NextToken is not valid") from exc
    if not isinstance(seq, int):
        raise invalid_input("The NextToken is not valid")
    return seq
