"""The ASFF finding: what Security Hub accepts and a triager relies on, per verdict and state."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from detector import __version__
from detector.controls import ROOT_ACCESS_KEYS
from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.document import load_document
from detector.domain.event import RootKeyEvent, parse_input
from detector.domain.finding import (
    PRODUCT_FIELD_PREFIX,
    FindingContext,
    build_finding,
    finding_id,
    refreshed,
)
from detector.domain.verdict import Verdict, classify
from tests.factories import (
    ACCOUNT,
    KEY_ID,
    OTHER_ACCOUNT,
    OTHER_KEY_ID,
    as_bytes,
    delete_record,
    record,
    update_record,
)
from tests.unit.contracts import asff_problems

REGION = "us-east-1"
NOW = datetime(2026, 11, 20, 14, 3, 30, tzinfo=UTC)
FFIEC_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/FFIEC"
ROOT_KEY_VERDICTS = (Verdict.CREATED, Verdict.DELETED, Verdict.DEACTIVATED, Verdict.ACTIVATED)
REASONS = {
    KeyState.PRESENT: "GetAccountSummary shows AccountAccessKeysPresent=1",
    KeyState.ABSENT: "GetAccountSummary shows AccountAccessKeysPresent=0",
    KeyState.UNCONFIRMED: "IAM did not answer within 10 s (AccessDenied)",
}


def ctx(event: RootKeyEvent, verdict: Verdict) -> FindingContext:
    """The context of a key's first event, as the pipeline builds it."""
    return FindingContext.first_observation(event, verdict, REGION)


def event_for(verdict: Verdict, key_id: str = KEY_ID, **overrides: Any) -> RootKeyEvent:
    doc = {
        Verdict.CREATED: lambda: record(
            **{"responseElements.accessKey.accessKeyId": key_id, **overrides}
        ),
        Verdict.DELETED: lambda: delete_record(key_id, **overrides),
        Verdict.DEACTIVATED: lambda: update_record("Inactive", key_id, **overrides),
        Verdict.ACTIVATED: lambda: update_record("Active", key_id, **overrides),
    }[verdict]()
    (event,) = parse_input(doc)
    assert classify(event) is verdict
    return event


def finding_for(
    verdict: Verdict, state: KeyState = KeyState.PRESENT, key_id: str = KEY_ID, **overrides: Any
) -> dict[str, Any]:
    event = event_for(verdict, key_id, **overrides)
    return build_finding(event, verdict, Confirmation(state, REASONS[state]), ctx(event, verdict))


FFIEC = ["FFIEC D3.PC.Am.B.1", "FFIEC D3.PC.Am.B.3", "FFIEC D3.PC.Am.B.8"]
# The "Related requirements" of AWS's control IAM.4, as the Security Hub CSPM user guide lists
# them ("Security Hub CSPM controls for IAM"), in its form.
AWS_IAM_4 = [
    "CIS AWS Foundations Benchmark v5.0.0/1.3",
    "CIS AWS Foundations Benchmark v3.0.0/1.4",
    "CIS AWS Foundations Benchmark v1.4.0/1.4",
    "CIS AWS Foundations Benchmark v1.2.0/1.12",
    "NIST.800-53.r5 AC-2(1)",
    "NIST.800-53.r5 AC-3(15)",
    "NIST.800-53.r5 AC-3(7)",
    "NIST.800-53.r5 AC-6",
    "NIST.800-53.r5 AC-6(10)",
    "NIST.800-53.r5 AC-6(2)",
    "PCI DSS v3.2.1/2.1",
    "PCI DSS v3.2.1/2.2",
    "PCI DSS v3.2.1/7.2.1",
]


def test_a_bank_that_rates_it_as_aws_does_files_it_critical() -> None:
    event = event_for(Verdict.CREATED, KEY_ID)
    confirmation = Confirmation(KeyState.PRESENT, REASONS[KeyState.PRESENT])
    control = ROOT_ACCESS_KEYS.with_severity("critical")
    finding = build_finding(
        event, Verdict.CREATED, confirmation, ctx(event, Verdict.CREATED), control
    )
    assert finding["Severity"] == {"Label": "CRITICAL", "Original": "Critical"}
    assert finding["FindingProviderFields"]["Severity"] == finding["Severity"]
    assert finding["Compliance"]["RelatedRequirements"] == [*FFIEC, *AWS_IAM_4]


def test_only_asff_severity_labels_are_taken() -> None:
    with pytest.raises(ValueError, match="severity label"):
        ROOT_ACCESS_KEYS.with_severity("SEVERE")


def key_resource(finding: dict[str, Any]) -> dict[str, Any]:
    (res,) = [r for r in finding["Resources"] if r["Type"] == "AwsIamAccessKey"]
    return res


COMBOS = list(itertools.product(ROOT_KEY_VERDICTS, KeyState))


@pytest.mark.parametrize(("verdict", "state"), COMBOS)
def test_security_hub_accepts_the_finding(verdict: Verdict, state: KeyState) -> None:
    assert asff_problems(finding_for(verdict, state)) == []


@pytest.mark.parametrize(("verdict", "state"), COMBOS)
def test_constant_parts_of_every_finding(verdict: Verdict, state: KeyState) -> None:
    finding = finding_for(verdict, state)

    assert finding["SchemaVersion"] == "2018-10-08"
    assert finding["Severity"] == {"Label": "MEDIUM", "Original": "Medium"}
    assert FFIEC_TYPE in finding["Types"]
    # A provider sets severity and types through FindingProviderFields (BatchImportFindings).
    assert finding["FindingProviderFields"] == {
        "Severity": {"Label": "MEDIUM", "Original": "Medium"},
        "Types": [FFIEC_TYPE],
    }
    assert finding["Compliance"]["RelatedRequirements"] == [*FFIEC, *AWS_IAM_4]
    assert finding["AwsAccountId"] == ACCOUNT
    assert finding["ProductArn"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    )
    assert finding["GeneratorId"]
    # A key's first event: created, first and last observed when the event reports, its
    # same-second step order in the milliseconds (create .000, update .001, delete .002).
    step = {Verdict.CREATED: 0, Verdict.ACTIVATED: 1, Verdict.DEACTIVATED: 1, Verdict.DELETED: 2}
    when = f"2026-11-20T14:03:11.00{step[verdict]}Z"
    for name in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        assert finding[name] == when, name
    assert finding["Remediation"]["Recommendation"]["Url"].startswith("https://")
    assert finding["Remediation"]["Recommendation"]["Text"]
    assert state.value in finding["Description"]


@pytest.mark.parametrize(("verdict", "state"), COMBOS)
def test_resources_hold_the_full_key_and_the_account(verdict: Verdict, state: KeyState) -> None:
    finding = finding_for(verdict, state)

    key = key_resource(finding)
    assert key["Id"] == KEY_ID
    assert key["Details"]["AwsIamAccessKey"]["AccessKeyId"] == KEY_ID
    assert key["Details"]["AwsIamAccessKey"]["PrincipalType"] == "Root"
    accounts = [r for r in finding["Resources"] if r["Type"] == "AwsAccount"]
    assert [r["Id"] for r in accounts] == [f"AWS::::Account:{ACCOUNT}"]


@pytest.mark.parametrize(("verdict", "state"), COMBOS)
def test_finding_id_never_shows_the_raw_key(verdict: Verdict, state: KeyState) -> None:
    finding = finding_for(verdict, state)
    assert KEY_ID not in finding["Id"]
    assert KEY_ID[4:] not in finding["Id"]


def test_created_and_present_is_failed_and_active() -> None:
    finding = finding_for(Verdict.CREATED, KeyState.PRESENT)
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["RecordState"] == "ACTIVE"
    assert key_resource(finding)["Details"]["AwsIamAccessKey"]["Status"] == "Active"


def test_created_but_unconfirmed_still_fails() -> None:
    # A detector that resolves because it could not check would hide a live key.
    finding = finding_for(Verdict.CREATED, KeyState.UNCONFIRMED)
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["RecordState"] == "ACTIVE"


def test_deleted_and_absent_is_passed_and_archived() -> None:
    finding = finding_for(Verdict.DELETED, KeyState.ABSENT)
    assert finding["Compliance"]["Status"] == "PASSED"
    assert finding["RecordState"] == "ARCHIVED"


@pytest.mark.parametrize("verdict", ROOT_KEY_VERDICTS)
def test_iam_saying_absent_resolves_whatever_the_event_said(verdict: Verdict) -> None:
    finding = finding_for(verdict, KeyState.ABSENT)
    assert finding["Compliance"]["Status"] == "PASSED"
    assert finding["RecordState"] == "ARCHIVED"


@pytest.mark.parametrize("state", [KeyState.PRESENT, KeyState.UNCONFIRMED])
def test_deactivated_key_stays_failed_and_shows_inactive(state: KeyState) -> None:
    finding = finding_for(Verdict.DEACTIVATED, state)
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["RecordState"] == "ACTIVE"
    assert key_resource(finding)["Details"]["AwsIamAccessKey"]["Status"] == "Inactive"


@pytest.mark.parametrize("state", [KeyState.PRESENT, KeyState.UNCONFIRMED])
def test_activated_key_is_failed_and_active(state: KeyState) -> None:
    finding = finding_for(Verdict.ACTIVATED, state)
    assert finding["Compliance"]["Status"] == "FAILED"
    assert key_resource(finding)["Details"]["AwsIamAccessKey"]["Status"] == "Active"


def test_id_is_shared_by_the_whole_lifecycle_of_one_key() -> None:
    ids = {finding_for(v, s)["Id"] for v, s in COMBOS}
    assert len(ids) == 1
    assert finding_for(Verdict.CREATED)["Id"] == finding_for(Verdict.DELETED, KeyState.ABSENT)["Id"]


def test_id_is_deterministic_across_builds_and_event_details() -> None:
    first = finding_for(Verdict.CREATED)
    again = finding_for(Verdict.CREATED, eventID="another-delivery", sourceIPAddress="192.0.2.1")
    assert first["Id"] == again["Id"]


def test_id_differs_for_another_key_or_account() -> None:
    base = finding_for(Verdict.CREATED)["Id"]
    other_key = finding_for(Verdict.CREATED, key_id=OTHER_KEY_ID)["Id"]
    other_account = finding_for(Verdict.CREATED, recipientAccountId=OTHER_ACCOUNT)["Id"]
    assert len({base, other_key, other_account}) == 3


def test_other_account_imports_under_its_own_default_product() -> None:
    finding = finding_for(Verdict.CREATED, recipientAccountId=OTHER_ACCOUNT)
    assert finding["AwsAccountId"] == OTHER_ACCOUNT
    assert finding["ProductArn"] == (
        f"arn:aws:securityhub:{REGION}:{OTHER_ACCOUNT}:product/{OTHER_ACCOUNT}/default"
    )


def test_api_call_action_names_the_call() -> None:
    call = finding_for(Verdict.CREATED)["Action"]["AwsApiCallAction"]
    assert finding_for(Verdict.CREATED)["Action"]["ActionType"] == "AWS_API_CALL"
    assert call["Api"] == "CreateAccessKey"
    assert call["ServiceName"] == "iam.amazonaws.com"


def test_ipv4_caller_uses_remote_ip_details() -> None:
    call = finding_for(Verdict.CREATED, sourceIPAddress="203.0.113.45")["Action"][
        "AwsApiCallAction"
    ]
    assert call["RemoteIpDetails"]["IpAddressV4"] == "203.0.113.45"


@pytest.mark.parametrize(
    "source_ip", ["2001:db8:a0b:12f0::1", "AWS Internal", "iam.amazonaws.com", None, ""]
)
def test_non_ipv4_caller_has_no_remote_ip_details(source_ip: str | None) -> None:
    finding = finding_for(Verdict.CREATED, sourceIPAddress=source_ip)
    assert "RemoteIpDetails" not in finding["Action"]["AwsApiCallAction"]
    assert asff_problems(finding) == []


def test_ipv6_caller_is_kept_in_product_fields() -> None:
    finding = finding_for(Verdict.CREATED, sourceIPAddress="2001:db8:a0b:12f0::1")
    assert "2001:db8:a0b:12f0::1" in finding["ProductFields"].values()


def test_product_fields_carry_event_id_user_agent_and_mfa() -> None:
    fields = finding_for(Verdict.CREATED)["ProductFields"]
    values = set(fields.values())
    assert "10fe3541-75dc-45f7-a993-4465871481aa" in values
    assert any(v.startswith("aws-cli/2.22.15") for v in values)
    assert any(k.endswith("MfaAuthenticated") and v == "true" for k, v in fields.items())


def test_the_finding_names_the_release_that_wrote_it() -> None:
    finding = finding_for(Verdict.CREATED)
    assert finding["ProductFields"][f"{PRODUCT_FIELD_PREFIX}/Version"] == __version__
    assert not any(k.startswith("aws/") for k in finding["ProductFields"])
    assert asff_problems(finding) == []
    older = {**finding, "ProductFields": {f"{PRODUCT_FIELD_PREFIX}/Version": "0.0.1"}}
    again = refreshed(older, datetime(2027, 1, 1, tzinfo=UTC))
    assert again["ProductFields"][f"{PRODUCT_FIELD_PREFIX}/Version"] == __version__


def test_assumed_root_session_is_described() -> None:
    finding = finding_for(Verdict.CREATED, **{"userIdentity.sessionContext.assumedRoot": "true"})
    assert "AssumeRoot" in finding["Description"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("responseElements.accessKey.accessKeyId", "   "),
        ("responseElements.accessKey.accessKeyId", "\u200b\u202e"),
        ("sourceIPAddress", "\x00"),
        ("sourceIPAddress", " \u2066 "),
        ("userAgent", "\x1b[31m"),
        ("userIdentity.principalId", "\x07"),
    ],
)
def test_blank_after_cleaning_values_never_make_security_hub_reject(field: str, value: str) -> None:
    # Security Hub rejects a blank NonEmptyString (e.g. a Resource Id): the finding would be lost.
    finding = finding_for(Verdict.CREATED, **{field: value})
    assert asff_problems(finding) == []


def test_key_id_with_a_lone_surrogate_still_gets_a_finding() -> None:
    # JSON can carry "\\ud800": json.loads turns it into a lone surrogate, which cannot be
    # UTF-8 encoded. No IAM key id holds one: the id is untrusted, and the finding (and its
    # Id) must still be built; an Id from such a key id can be computed too.
    raw = as_bytes(record()).replace(KEY_ID.encode(), b"AKIA\\ud800IOSFODNN7EXAMPLE")
    (event,) = parse_input(load_document(raw))
    assert event.access_key_id is None
    assert event.untrusted == ("$.responseElements.accessKey.accessKeyId",)
    assert finding_id(ACCOUNT, "AKIA\ud800IOSFODNN7EXAMPLE").startswith(
        f"{PRODUCT_FIELD_PREFIX}/{ACCOUNT}/"
    )

    fid = finding_id(ACCOUNT, event.access_key_id)
    finding = build_finding(
        event, Verdict.CREATED, Confirmation(KeyState.PRESENT, "x"), ctx(event, Verdict.CREATED)
    )

    assert finding["Id"] == fid
    assert asff_problems(finding) == []


def test_no_finding_without_an_account() -> None:
    (event,) = parse_input(record(recipientAccountId=None, **{"userIdentity.accountId": None}))
    with pytest.raises(ValueError, match="account"):
        build_finding(
            event, Verdict.CREATED, Confirmation(KeyState.PRESENT, "x"), ctx(event, Verdict.CREATED)
        )


@pytest.mark.parametrize("verdict", [Verdict.USER_KEY, Verdict.CREATE_FAILED, Verdict.IGNORED])
def test_no_root_key_finding_for_notice_verdicts(verdict: Verdict) -> None:
    (event,) = parse_input(record())
    with pytest.raises(ValueError, match="verdict"):
        build_finding(event, verdict, Confirmation(KeyState.PRESENT, "x"), ctx(event, verdict))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Title": "   "}, "Title"),
        ({"Title": "t" * 257}, "Title"),
        ({"Description": "d" * 1025}, "Description"),
        ({"Id": "i" * 513}, "Id"),
        ({"ProductFields": {f"k{i}": "v" for i in range(51)}}, "ProductFields"),
        ({"ProductFields": {"k" * 129: "v"}}, "key"),
        ({"ProductFields": {"k": "v" * 2049}}, "value"),
        ({"Severity": {"Label": 3}}, "Label"),
        ({"Types": "not a list"}, "Types"),
    ],
)
def test_the_contract_check_catches_what_security_hub_rejects(
    change: dict[str, Any], problem: str
) -> None:
    # Guard against a checker that silently accepts everything.
    finding = {**finding_for(Verdict.CREATED), **change}
    problems = asff_problems(finding)
    assert problems
    assert problem in " ".join(problems)


def test_the_contract_check_catches_a_missing_required_field() -> None:
    finding = finding_for(Verdict.CREATED)
    del finding["ProductArn"]
    assert "ProductArn" in " ".join(asff_problems(finding))
