"""The sandbox holds Security Hub CSPM's documented contracts (sandbox.securityhub), over HTTP.

Each test is one rule; the rule's document is cited where the sandbox implements it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from sandbox.aws import ACCOUNT_ID, REGION, MotoSandbox
from sandbox.aws_proxy import AwsFaultProxy
from sandbox.aws_server import RemoteMoto
from sandbox.stack import SandboxStack
from tests.factories import DROP, set_path

OTHER = "210987654321"
ROLE = "contract-test"
PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ts(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def asff(
    fid: str = "finding-1", *, at: datetime = T0, account: str = ACCOUNT_ID, **changes: Any
) -> dict[str, Any]:
    """A valid custom-integration finding; ``changes`` set dotted paths (DROP removes)."""
    doc: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default",
        "GeneratorId": "contract-tests/generator",
        "AwsAccountId": account,
        "CreatedAt": ts(at),
        "UpdatedAt": ts(at),
        "Title": "A root access key exists",
        "Description": "The root user holds an access key.",
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards/FFIEC"],
        "Severity": {"Label": "MEDIUM", "Original": "Medium"},
        "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "ProductFields": {"contract-tests/Source": "test"},
    }
    for path, value in changes.items():
        set_path(doc, path.replace("__", "."), value)
    return doc


@pytest.fixture
def hub(sandbox: SandboxStack) -> Any:
    sandbox.aws.set_clock(T0 + timedelta(days=1))  # reset after the test with moto
    return sandbox.aws.client("securityhub")


def account_client(sandbox: SandboxStack, account: str, service: str = "securityhub") -> Any:
    creds = sandbox.aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="contract-test"
    )["Credentials"]
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=sandbox.aws.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def imported(hub: Any, *findings: dict[str, Any]) -> dict[str, Any]:
    resp = hub.batch_import_findings(Findings=list(findings))
    return {k: resp[k] for k in ("FailedCount", "SuccessCount", "FailedFindings")}


def only(hub: Any, fid: str = "finding-1") -> dict[str, Any]:
    (found,) = hub.get_findings(Filters={"Id": [{"Value": fid, "Comparison": "EQUALS"}]})[
        "Findings"
    ]
    return dict(found)


def ok(n: int = 1) -> dict[str, Any]:
    return {"FailedCount": 0, "SuccessCount": n, "FailedFindings": []}


def refused(hub: Any, finding: dict[str, Any]) -> str:
    """The InvalidInput message Security Hub gives this finding (and that nothing was stored)."""
    resp = imported(hub, finding)
    assert (resp["FailedCount"], resp["SuccessCount"]) == (1, 0), resp
    (failure,) = resp["FailedFindings"]
    assert failure["ErrorCode"] == "InvalidInput"
    assert hub.get_findings()["Findings"] == []
    return str(failure["ErrorMessage"])


def customer_update(hub: Any, fid: str = "finding-1", **fields: Any) -> dict[str, Any]:
    resp = hub.batch_update_findings(
        FindingIdentifiers=[{"Id": fid, "ProductArn": PRODUCT}], **fields
    )
    return {k: resp[k] for k in ("ProcessedFindings", "UnprocessedFindings")}


# -- which import wins: UpdatedAt ----------------------------------------------------------------


def test_an_import_older_than_the_stored_finding_is_ignored_but_counts_as_processed(
    hub: Any,
) -> None:
    assert imported(hub, asff(at=T0, Title="newer")) == ok()
    stale = asff(at=T0 - timedelta(minutes=5), Title="older", RecordState="ARCHIVED")
    assert imported(hub, stale) == ok()  # processed: not a failure
    stored = only(hub)
    assert (stored["Title"], stored["RecordState"], stored["UpdatedAt"]) == (
        "newer",
        "ACTIVE",
        ts(T0),
    )


def test_an_import_with_the_same_updated_at_is_ignored(hub: Any) -> None:
    assert imported(hub, asff(Title="first")) == ok()
    assert imported(hub, asff(Title="second")) == ok()
    assert only(hub)["Title"] == "first"


def test_an_import_with_a_later_updated_at_updates_the_finding(hub: Any) -> None:
    imported(hub, asff(Title="first"))
    assert imported(hub, asff(at=T0 + timedelta(milliseconds=1), Title="second")) == ok()
    assert only(hub)["Title"] == "second"


def test_updated_at_is_compared_as_an_instant_not_as_text(hub: Any) -> None:
    imported(hub, asff(Title="first"))
    # 12:30+01:00 is 11:30Z: earlier than the stored 12:00Z although its text sorts later.
    assert imported(hub, asff(Title="earlier", UpdatedAt="2026-11-30T12:30:00+01:00")) == ok()
    assert only(hub)["Title"] == "first"
    assert imported(hub, asff(Title="later", UpdatedAt="2026-11-30T12:00:00.001-00:00")) == ok()
    assert only(hub)["Title"] == "later"


# -- fields a provider may not update ------------------------------------------------------------


def test_a_provider_sets_customer_fields_on_creation_only(hub: Any) -> None:
    first = asff(
        Note={"Text": "from the provider", "UpdatedBy": "provider", "UpdatedAt": ts(T0)},
        UserDefinedFields={"team": "a"},
        VerificationState="UNKNOWN",
        Workflow={"Status": "NOTIFIED"},
    )
    imported(hub, first)
    update = asff(
        at=T0 + timedelta(seconds=1),
        Note={"Text": "changed", "UpdatedBy": "provider", "UpdatedAt": ts(T0)},
        UserDefinedFields={"team": "b"},
        VerificationState="TRUE_POSITIVE",
        Workflow={"Status": "RESOLVED"},
        Title="updated",
    )
    assert imported(hub, update) == ok()
    stored = only(hub)
    assert stored["Title"] == "updated"  # the update happened
    assert stored["Note"]["Text"] == "from the provider"
    assert stored["UserDefinedFields"] == {"team": "a"}
    assert stored["VerificationState"] == "UNKNOWN"
    assert stored["Workflow"] == {"Status": "NOTIFIED"}


def test_region_and_processed_at_are_security_hubs_own(hub: Any) -> None:
    imported(hub, asff(Region="eu-west-3", ProcessedAt="2001-01-01T00:00:00Z"))
    stored = only(hub)
    assert stored["Region"] == REGION
    assert stored["ProcessedAt"] == ts(T0 + timedelta(days=1))  # the sandbox's clock


def test_security_hub_adds_reserved_product_fields_that_a_provider_may_not_send_back(
    hub: Any,
) -> None:
    imported(hub, asff())
    stored = only(hub)
    assert stored["ProductFields"] == {
        "contract-tests/Source": "test",
        "aws/securityhub/FindingId": f"{PRODUCT}/finding-1",
        "aws/securityhub/ProductName": "Default",
        "aws/securityhub/CompanyName": "Personal",
    }
    again = copy.deepcopy(stored)
    again["UpdatedAt"] = ts(T0 + timedelta(seconds=1))
    resp = imported(hub, again)  # what GetFindings returned, re-imported as it is
    assert resp["FailedCount"] == 1
    assert "aws/" in resp["FailedFindings"][0]["ErrorMessage"]


# -- FindingProviderFields and the customer's Severity, Types, ... -----------------------------


def test_a_new_finding_takes_finding_provider_fields_over_the_top_level(hub: Any) -> None:
    imported(
        hub,
        asff(
            Severity={"Label": "LOW"},
            FindingProviderFields={"Severity": {"Label": "HIGH", "Original": "7"}},
        ),
    )
    stored = only(hub)
    assert stored["Severity"]["Label"] == "HIGH"
    assert stored["FindingProviderFields"]["Severity"]["Label"] == "HIGH"
    assert stored["FindingProviderFields"]["Types"] == stored["Types"]  # copied from top level


def test_a_provider_update_reaches_the_top_level_while_no_customer_changed_it(hub: Any) -> None:
    imported(hub, asff())
    later = asff(
        at=T0 + timedelta(seconds=1),
        Severity=DROP,
        FindingProviderFields={"Severity": {"Label": "HIGH"}},
    )
    assert imported(hub, later) == ok()
    stored = only(hub)
    assert stored["Severity"]["Label"] == "HIGH"
    assert stored["Severity"]["Normalized"] == 70  # Label -> Normalized, as documented


def test_a_customers_severity_and_types_survive_later_provider_imports(hub: Any) -> None:
    imported(hub, asff())
    assert customer_update(hub, Severity={"Label": "CRITICAL"}, Types=["TTPs/Triage"]) == {
        "ProcessedFindings": [{"Id": "finding-1", "ProductArn": PRODUCT}],
        "UnprocessedFindings": [],
    }
    later = asff(
        at=T0 + timedelta(seconds=1),
        Severity={"Label": "LOW"},
        Types=["Effects/Data Exposure"],
        FindingProviderFields={"Severity": {"Label": "LOW"}, "Types": ["Effects/Data Exposure"]},
    )
    assert imported(hub, later) == ok()
    stored = only(hub)
    assert (stored["Severity"]["Label"], stored["Types"]) == ("CRITICAL", ["TTPs/Triage"])
    assert stored["FindingProviderFields"]["Severity"]["Label"] == "LOW"  # the provider's own
    assert stored["FindingProviderFields"]["Types"] == ["Effects/Data Exposure"]


# -- refused per finding: InvalidInput in FailedFindings -----------------------------------------

TOO_LONG: dict[str, Callable[[], dict[str, Any]]] = {
    "Id over 512": lambda: asff("i" * 513),
    "Title over 256": lambda: asff(Title="t" * 257),
    "Description over 1024": lambda: asff(Description="d" * 1025),
    "GeneratorId over 512": lambda: asff(GeneratorId="g" * 513),
    "no Resources": lambda: asff(Resources=[]),
    "33 Resources": lambda: asff(Resources=[{"Type": "Other", "Id": f"r{i}"} for i in range(33)]),
    "33 RelatedRequirements": lambda: asff(
        Compliance={"Status": "FAILED", "RelatedRequirements": [f"r{i}" for i in range(33)]}
    ),
    "Recommendation text over 512": lambda: asff(
        Remediation={"Recommendation": {"Text": "x" * 513}}
    ),
    "Severity.Original over 64": lambda: asff(Severity={"Label": "LOW", "Original": "o" * 65}),
    "51 ProductFields": lambda: asff(ProductFields={f"p/{i}": "v" for i in range(51)}),
    "ProductFields key over 128": lambda: asff(ProductFields={"k" * 129: "v"}),
    "ProductFields value over 2048": lambda: asff(ProductFields={"k": "v" * 2049}),
    "51 Types": lambda: asff(Types=[f"TTPs/t{i}" for i in range(51)]),
    "finding over 240 KB": lambda: asff(
        Resources=[{"Type": "Other", "Id": f"{i}-" + "r" * 8000} for i in range(32)]
    ),
}


@pytest.mark.parametrize("make", TOO_LONG.values(), ids=TOO_LONG.keys())
def test_documented_limits_are_refused_per_finding(hub: Any, make: Callable[[], Any]) -> None:
    refused(hub, make())


def test_the_reserved_aws_product_fields_namespace_is_refused(hub: Any) -> None:
    assert "reserved" in refused(hub, asff(ProductFields={"aws/securityhub/FindingId": "x"}))


BAD_ENUMS = {
    "RecordState": {"RecordState": "OPEN"},
    "Compliance.Status": {"Compliance__Status": "FAIL"},
    "Severity.Label": {"Severity__Label": "SEVERE"},
    "Workflow.Status": {"Workflow": {"Status": "CLOSED"}},
    "VerificationState": {"VerificationState": "MAYBE"},
    "Resources.Partition": {"Resources": [{"Type": "Other", "Id": "r", "Partition": "gcp"}]},
}


@pytest.mark.parametrize("changes", BAD_ENUMS.values(), ids=BAD_ENUMS.keys())
def test_values_outside_an_enum_are_refused_per_finding(hub: Any, changes: dict[str, Any]) -> None:
    assert "is not one of" in refused(hub, asff(**changes))


BAD_TIMESTAMPS = [
    "2026-11-30 12:00:00Z",  # no T
    "2026-11-30T12:00:00",  # no zone
    "2026-11-30T12:00Z",  # no seconds
    "2026-11-30T12:00:00.1234567890Z",  # 10 fraction digits
    "2026-11-30T12:00:00+18:01",  # offset beyond 18:00
    "2026-02-30T12:00:00Z",  # no such day
    "2026-11-30T24:00:00Z",
    "1764504000",
    "2026-11-30t12:00:00z",
]


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS)
def test_timestamps_outside_the_documented_formats_are_refused(hub: Any, stamp: str) -> None:
    for field in ("UpdatedAt", "CreatedAt", "FirstObservedAt"):
        assert "timestamp" in refused(hub, asff(**{field: stamp}))
    # A timestamp deep in an object is checked as well.
    deep = asff(Action={"ActionType": "AWS_API_CALL", "AwsApiCallAction": {"FirstSeen": stamp}})
    assert "timestamp" in refused(hub, deep)


GOOD_TIMESTAMPS = [  # the examples of the API Reference's "Timestamps"
    "2019-01-31T23:00:00Z",
    "2019-01-31T23:00:00.123456789Z",
    "2024-01-04T15:25:10+17:59",
    "2024-01-04T15:25:10-1759",
    "2024-01-04T15:25:10.123456789+17:59",
]


@pytest.mark.parametrize("stamp", GOOD_TIMESTAMPS)
def test_the_documented_timestamp_formats_are_accepted(hub: Any, stamp: str) -> None:
    assert imported(hub, asff(CreatedAt=stamp, FirstObservedAt=stamp)) == ok()


MISSING = {
    "no Severity label": {"Severity": {"Original": "Medium"}},
    "no Types": {"Types": DROP},
    "no UpdatedAt": {"UpdatedAt": DROP},
    "other SchemaVersion": {"SchemaVersion": "2020-01-01"},
    "blank Title": {"Title": "   "},
}


@pytest.mark.parametrize("changes", MISSING.values(), ids=MISSING.keys())
def test_required_attributes_are_refused_per_finding(hub: Any, changes: dict[str, Any]) -> None:
    finding = asff(**changes)
    client = raw_client(hub)  # botocore would stop some of these before they leave
    refused(client, finding)


def raw_client(hub: Any) -> Any:
    """The same client, without botocore's own parameter validation (a raw HTTP caller)."""
    return boto3.client(
        "securityhub",
        region_name=REGION,
        endpoint_url=hub.meta.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )


def test_one_bad_finding_does_not_refuse_the_others(hub: Any) -> None:
    resp = imported(hub, asff("good"), asff("bad", Title="t" * 257))
    assert (resp["SuccessCount"], resp["FailedCount"]) == (1, 1)
    assert resp["FailedFindings"][0]["Id"] == "bad"
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == ["good"]


def test_more_than_100_findings_in_one_request_is_refused(hub: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        hub.batch_import_findings(Findings=[asff(f"f{i}") for i in range(101)])
    assert err.value.response["Error"]["Code"] == "InvalidInputException"


# -- whose findings: the account's own, under its default product --------------------------------


def test_a_finding_for_another_account_is_denied(hub: Any) -> None:
    other = asff(AwsAccountId=OTHER)  # this account's product ARN, another account's finding
    with pytest.raises(botocore.exceptions.ClientError) as err:
        hub.batch_import_findings(Findings=[other])
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert hub.get_findings()["Findings"] == []


def test_a_finding_under_another_product_arn_is_denied(hub: Any) -> None:
    for arn in (
        f"arn:aws:securityhub:{REGION}:{OTHER}:product/{OTHER}/default",
        f"arn:aws:securityhub:eu-west-1:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default",
        f"arn:aws:securityhub:{REGION}::product/aws/guardduty",
    ):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            hub.batch_import_findings(Findings=[asff(ProductArn=arn)])
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert hub.get_findings()["Findings"] == []


def test_an_account_without_security_hub_gets_invalid_access_per_finding(
    sandbox: SandboxStack, hub: Any
) -> None:
    member = account_client(sandbox, OTHER)
    resp = member.batch_import_findings(Findings=[asff(account=OTHER)])
    assert resp["FailedCount"] == 1
    assert resp["FailedFindings"][0]["ErrorCode"] == "InvalidAccess"
    member.enable_security_hub()
    assert member.batch_import_findings(Findings=[asff(account=OTHER)])["SuccessCount"] == 1


def test_an_account_without_security_hub_cannot_update_findings(
    sandbox: SandboxStack, hub: Any
) -> None:
    member = account_client(sandbox, OTHER)
    identifiers = [{"Id": "x", "ProductArn": PRODUCT}]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        member.batch_update_findings(FindingIdentifiers=identifiers, Confidence=1)
    assert err.value.response["Error"]["Code"] == "InvalidAccessException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    member.enable_security_hub()
    resp = member.batch_update_findings(FindingIdentifiers=identifiers, Confidence=1)
    assert resp["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"
    member.disable_security_hub()
    with pytest.raises(botocore.exceptions.ClientError):
        member.batch_update_findings(FindingIdentifiers=identifiers, Confidence=1)


# -- workflow status on import -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["NOTIFIED", "RESOLVED"])
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"RecordState": "ARCHIVED"}, {"RecordState": "ACTIVE"}),
        ({"Compliance__Status": "PASSED"}, {"Compliance__Status": "FAILED"}),
        ({"Compliance__Status": "PASSED"}, {"Compliance__Status": "WARNING"}),
    ],
    ids=["archived->active", "passed->failed", "passed->warning"],
)
def test_a_reopened_finding_goes_back_to_new(
    hub: Any, status: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    imported(hub, asff(**before))
    customer_update(hub, Workflow={"Status": status})
    imported(hub, asff(at=T0 + timedelta(seconds=1), **after))
    assert only(hub)["Workflow"]["Status"] == "NEW"


def test_a_suppressed_finding_stays_suppressed_when_it_reopens(hub: Any) -> None:
    imported(hub, asff(RecordState="ARCHIVED", Compliance={"Status": "PASSED"}))
    customer_update(hub, Workflow={"Status": "SUPPRESSED"})
    imported(hub, asff(at=T0 + timedelta(seconds=1)))  # ACTIVE, FAILED
    assert only(hub)["Workflow"]["Status"] == "SUPPRESSED"


def test_archiving_or_passing_a_custom_finding_leaves_its_workflow_alone(hub: Any) -> None:
    imported(hub, asff())
    customer_update(hub, Workflow={"Status": "NOTIFIED"})
    imported(
        hub,
        asff(at=T0 + timedelta(seconds=1), RecordState="ARCHIVED", Compliance={"Status": "PASSED"}),
    )
    stored = only(hub)
    assert (stored["RecordState"], stored["Workflow"]["Status"]) == ("ARCHIVED", "NOTIFIED")


def test_a_new_finding_starts_new_and_active(hub: Any) -> None:
    imported(hub, asff(RecordState=DROP))
    stored = only(hub)
    assert (stored["RecordState"], stored["Workflow"]) == ("ACTIVE", {"Status": "NEW"})


# -- retention: 90 days after the last UpdatedAt -------------------------------------------------


def test_a_finding_not_updated_for_90_days_is_deleted(sandbox: SandboxStack, hub: Any) -> None:
    imported(hub, asff())
    customer_update(hub, Note={"Text": "looked at it", "UpdatedBy": "analyst"})  # no UpdatedAt
    sandbox.aws.set_clock(T0 + timedelta(days=90))
    assert only(hub)["UpdatedAt"] == ts(T0)  # 90 days: still kept
    sandbox.aws.set_clock(T0 + timedelta(days=90, milliseconds=1))
    assert hub.get_findings()["Findings"] == []
    assert customer_update(hub)["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"
    # The same Id imported again is a new finding: nothing of the old one is left.
    assert imported(hub, asff(at=T0 + timedelta(days=91), Title="again")) == ok()
    stored = only(hub)
    assert (stored["Title"], "Note" in stored) == ("again", False)


# -- BatchUpdateFindings -------------------------------------------------------------------------


def test_batch_update_findings_sets_the_customers_fields_and_not_updated_at(hub: Any) -> None:
    imported(hub, asff())
    related = [{"ProductArn": PRODUCT, "Id": "finding-0"}]
    resp = customer_update(
        hub,
        Workflow={"Status": "NOTIFIED"},
        Note={"Text": "owner paged", "UpdatedBy": "analyst"},
        VerificationState="TRUE_POSITIVE",
        Confidence=80,
        Criticality=90,
        UserDefinedFields={"ticket": "SEC-1"},
        RelatedFindings=related,
        Severity={"Normalized": 75},
    )
    assert resp["UnprocessedFindings"] == []
    stored = only(hub)
    assert stored["UpdatedAt"] == ts(T0)  # BatchUpdateFindings does not move it
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["Note"] == {
        "Text": "owner paged",
        "UpdatedBy": "analyst",
        "UpdatedAt": ts(T0 + timedelta(days=1)),  # stamped by Security Hub
    }
    assert (stored["VerificationState"], stored["Confidence"], stored["Criticality"]) == (
        "TRUE_POSITIVE",
        80,
        90,
    )
    assert stored["UserDefinedFields"] == {"ticket": "SEC-1"}
    assert stored["RelatedFindings"] == related
    assert (stored["Severity"]["Label"], stored["Severity"]["Normalized"]) == ("HIGH", 75)


def test_later_provider_imports_cannot_undo_the_customers_fields(hub: Any) -> None:
    imported(hub, asff())
    customer_update(
        hub,
        Workflow={"Status": "SUPPRESSED"},
        Confidence=10,
        Criticality=20,
        RelatedFindings=[{"ProductArn": PRODUCT, "Id": "other"}],
    )
    later = asff(
        at=T0 + timedelta(seconds=1),
        Workflow={"Status": "NEW"},
        Confidence=99,
        FindingProviderFields={"Confidence": 99, "Criticality": 99},
    )
    assert imported(hub, later) == ok()
    stored = only(hub)
    assert stored["Workflow"]["Status"] == "SUPPRESSED"
    assert (stored["Confidence"], stored["Criticality"]) == (10, 20)
    assert stored["RelatedFindings"] == [{"ProductArn": PRODUCT, "Id": "other"}]
    assert stored["FindingProviderFields"]["Confidence"] == 99


def test_batch_update_findings_answers_each_unprocessed_finding_with_its_error(hub: Any) -> None:
    imported(hub, asff())
    here = {"Id": "finding-1", "ProductArn": PRODUCT}
    missing = {"Id": "nope", "ProductArn": PRODUCT}
    resp = hub.batch_update_findings(
        FindingIdentifiers=[missing, here, here], Workflow={"Status": "RESOLVED"}
    )
    codes = {(u["FindingIdentifier"]["Id"], u["ErrorCode"]) for u in resp["UnprocessedFindings"]}
    assert codes == {("nope", "FindingNotFound"), ("finding-1", "DuplicatedFindingIdentifier")}
    assert resp["ProcessedFindings"] == []
    bad = customer_update(hub, Workflow={"Status": "CLOSED"})
    assert bad["UnprocessedFindings"][0]["ErrorCode"] == "InvalidInput"
    out_of_range = customer_update(hub, Confidence=101)
    assert out_of_range["UnprocessedFindings"][0]["ErrorCode"] == "InvalidInput"
    assert only(hub)["Workflow"]["Status"] == "NEW"


def test_a_member_updates_only_its_own_findings_and_the_administrator_its_members(
    sandbox: SandboxStack, hub: Any
) -> None:
    member = account_client(sandbox, OTHER)
    member.enable_security_hub()
    member.batch_import_findings(Findings=[asff("theirs", account=OTHER)])
    theirs = {"Id": "theirs", "ProductArn": asff(account=OTHER)["ProductArn"]}
    resp = hub.batch_update_findings(FindingIdentifiers=[theirs], Workflow={"Status": "NOTIFIED"})
    assert resp["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"
    sandbox.aws.set_securityhub_administrator(ACCOUNT_ID)
    resp = hub.batch_update_findings(FindingIdentifiers=[theirs], Workflow={"Status": "NOTIFIED"})
    assert resp["ProcessedFindings"] == [theirs]
    assert sandbox.aws.findings(OTHER)[0]["Workflow"]["Status"] == "NOTIFIED"


# -- GetFindings: filters and pages --------------------------------------------------------------


def _two_findings(hub: Any) -> None:
    imported(
        hub,
        asff("a", GeneratorId="gen-a", RecordState="ACTIVE", Compliance={"Status": "FAILED"}),
        asff("b", GeneratorId="gen-b", RecordState="ARCHIVED", Compliance={"Status": "PASSED"}),
    )
    customer_update(hub, "b", Workflow={"Status": "RESOLVED"})


EQUALS = {
    "Id": ("b", ["b"]),
    "GeneratorId": ("gen-a", ["a"]),
    "AwsAccountId": (ACCOUNT_ID, ["a", "b"]),
    "ProductArn": (PRODUCT, ["a", "b"]),
    "RecordState": ("ARCHIVED", ["b"]),
    "WorkflowStatus": ("RESOLVED", ["b"]),
    "ComplianceStatus": ("FAILED", ["a"]),
    "SeverityLabel": ("MEDIUM", ["a", "b"]),
    "Region": ("eu-west-1", []),
}


@pytest.mark.parametrize(("name", "case"), EQUALS.items(), ids=EQUALS.keys())
def test_get_findings_applies_equals_filters(
    hub: Any, name: str, case: tuple[str, list[str]]
) -> None:
    _two_findings(hub)
    value, expected = case
    found = hub.get_findings(Filters={name: [{"Value": value, "Comparison": "EQUALS"}]})
    assert [f["Id"] for f in found["Findings"]] == expected


def test_positive_filters_are_ored_and_negative_ones_anded(hub: Any) -> None:
    imported(hub, asff("web-1"), asff("web-2"), asff("db-1"), asff("db-2"))
    filters = {
        "Id": [
            {"Value": "web-", "Comparison": "PREFIX"},
            {"Value": "db-", "Comparison": "PREFIX"},
            {"Value": "web-2", "Comparison": "NOT_EQUALS"},
            {"Value": "db-1", "Comparison": "PREFIX_NOT_EQUALS"},
        ],
        "GeneratorId": [{"Value": "contract-tests/generator", "Comparison": "EQUALS"}],
    }
    assert [f["Id"] for f in hub.get_findings(Filters=filters)["Findings"]] == ["web-1", "db-2"]


def test_map_and_date_filters(hub: Any) -> None:
    imported(
        hub,
        asff("old", ProductFields={"contract-tests/Source": "sweep"}),
        asff("new", at=T0 + timedelta(hours=1)),
    )
    by_field = hub.get_findings(
        Filters={
            "ProductFields": [
                {"Key": "contract-tests/Source", "Value": "sweep", "Comparison": "EQUALS"}
            ]
        }
    )
    assert [f["Id"] for f in by_field["Findings"]] == ["old"]
    window = {"Start": ts(T0 + timedelta(minutes=30)), "End": ts(T0 + timedelta(hours=2))}
    by_date = hub.get_findings(Filters={"UpdatedAt": [window]})
    assert [f["Id"] for f in by_date["Findings"]] == ["new"]
    recent = hub.get_findings(Filters={"UpdatedAt": [{"DateRange": {"Value": 2, "Unit": "DAYS"}}]})
    assert len(recent["Findings"]) == 2  # the sandbox's clock is a day later


REFUSED_FILTERS = {
    "CONTAINS (automation rules only)": {"Title": [{"Value": "root", "Comparison": "CONTAINS"}]},
    "EQUALS with NOT_EQUALS": {
        "Id": [
            {"Value": "a", "Comparison": "EQUALS"},
            {"Value": "b", "Comparison": "NOT_EQUALS"},
        ]
    },
    "not implemented here": {"ResourceTags": [{"Key": "k", "Value": "v", "Comparison": "EQUALS"}]},
    "11 attributes": {
        name: [{"Value": "x", "Comparison": "EQUALS"}]
        for name in [
            "Id",
            "GeneratorId",
            "AwsAccountId",
            "ProductArn",
            "RecordState",
            "WorkflowStatus",
            "ComplianceStatus",
            "SeverityLabel",
            "Region",
            "Title",
            "Description",
        ]
    },
    "21 values": {"Id": [{"Value": f"i{i}", "Comparison": "EQUALS"} for i in range(21)]},
}


@pytest.mark.parametrize("filters", REFUSED_FILTERS.values(), ids=REFUSED_FILTERS.keys())
def test_a_filter_get_findings_does_not_take_is_refused_not_ignored(
    hub: Any, filters: dict[str, Any]
) -> None:
    imported(hub, asff())
    with pytest.raises(botocore.exceptions.ClientError) as err:
        hub.get_findings(Filters=filters)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"


def test_get_findings_pages_with_max_results_and_next_token(hub: Any) -> None:
    imported(hub, *(asff(f"f{i}") for i in range(5)))
    first = hub.get_findings(MaxResults=2)
    assert [f["Id"] for f in first["Findings"]] == ["f0", "f1"]
    pages = list(hub.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["Findings"]) for p in pages] == [2, 2, 1]
    assert sorted(f["Id"] for p in pages for f in p["Findings"]) == [f"f{i}" for i in range(5)]
    assert "NextToken" not in pages[-1]
    for bad in ({"MaxResults": 101}, {"NextToken": "not-a-token"}):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            hub.get_findings(**bad)
        assert err.value.response["Error"]["Code"] == "InvalidInputException"


# -- who sees what: each account its own, the administrator its members' ------------------------


def test_each_account_reads_its_own_findings_and_the_administrator_every_accounts(
    sandbox: SandboxStack, hub: Any
) -> None:
    member = account_client(sandbox, OTHER)
    member.enable_security_hub()
    member.batch_import_findings(Findings=[asff("theirs", account=OTHER)])
    imported(hub, asff("ours"))
    assert [f["Id"] for f in member.get_findings()["Findings"]] == ["theirs"]
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == ["ours"]
    sandbox.aws.set_securityhub_administrator(ACCOUNT_ID)
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == ["theirs", "ours"]
    assert [f["Id"] for f in member.get_findings()["Findings"]] == ["theirs"]
    assert [f["Id"] for f in sandbox.aws.findings(OTHER)] == ["theirs"]
    sandbox.aws.set_securityhub_administrator(None)
    assert [f["Id"] for f in hub.get_findings()["Findings"]] == ["ours"]


# -- the layer is everywhere, and off only when asked --------------------------------------------


def test_the_fault_proxy_serves_the_same_contract_layer(sandbox: SandboxStack, hub: Any) -> None:
    imported(hub, asff(Title="through the sandbox"))
    with AwsFaultProxy() as proxy:
        via_proxy = boto3.client(
            "securityhub",
            region_name=REGION,
            endpoint_url=proxy.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert imported(via_proxy, asff(Title="stale", at=T0 - timedelta(days=1))) == ok()
        assert only(via_proxy)["Title"] == "through the sandbox"


def test_the_child_process_sandbox_serves_the_layer_and_its_controls() -> None:
    with RemoteMoto() as remote:  # sandbox.aws_server: moto and the fault proxy in a child
        remote.enable_security_hub(ACCOUNT_ID)
        via_proxy = boto3.client(
            "securityhub",
            region_name=REGION,
            endpoint_url=remote.proxy_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert imported(via_proxy, asff(Title="newer")) == ok()
        assert imported(via_proxy, asff(Title="stale", at=T0 - timedelta(days=1))) == ok()
        assert [f["Title"] for f in remote.findings()] == ["newer"]
        remote.set_clock(T0 + timedelta(days=91))
        assert remote.findings() == []
        organizations = remote.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        remote.set_account_state(ACCOUNT_ID, "PENDING_CLOSURE")
        account = organizations.describe_account(AccountId=ACCOUNT_ID)["Account"]
        assert (account["State"], "Status" in account) == ("PENDING_CLOSURE", False)


def test_moto_alone_lets_a_stale_import_win_the_layer_does_not(
    sandbox: SandboxStack, hub: Any
) -> None:
    imported(hub, asff(Title="newer"))
    imported(hub, asff(Title="stale", at=T0 - timedelta(days=1)))
    assert only(hub)["Title"] == "newer"
    with MotoSandbox(contracts=False) as bare:  # moto's own Security Hub, no contracts
        moto_hub = bare.client("securityhub")
        moto_hub.batch_import_findings(Findings=[asff(Title="newer")])
        moto_hub.batch_import_findings(Findings=[asff(Title="stale", at=T0 - timedelta(days=1))])
        (found,) = moto_hub.get_findings()["Findings"]
        assert found["Title"] == "stale"


def test_a_moto_reset_empties_the_layer(sandbox: SandboxStack, hub: Any) -> None:
    imported(hub, asff())
    sandbox.aws.set_securityhub_administrator(ACCOUNT_ID)
    from tests.conftest import _reset_moto  # noqa: PLC0415 - the fixture's own reset

    _reset_moto(sandbox.aws)
    sandbox.aws.seed(webhook_url=sandbox.slack.webhook_url)
    assert hub.get_findings()["Findings"] == []
    assert datetime.now(UTC) - sandbox_clock(hub) < timedelta(minutes=1)  # real time again


def sandbox_clock(hub: Any) -> datetime:
    """The sandbox's time, as Security Hub stamps it on a finding it processes."""
    hub.batch_import_findings(Findings=[asff("clock", at=datetime.now(UTC))])
    stamp = only(hub, "clock")["ProcessedAt"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
