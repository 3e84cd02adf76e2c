"""Changes made in Security Hub: the finding event says what, CloudTrail's record says who."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.hub_change import HubChange, parse_hub_event
from detector.domain.triage import Workflow

FID = "root-key-detector/123456789012/root-access-key/0123456789abcdef01234567"
ROLE = "arn:aws:iam::123456789012:role/SecurityAnalyst"
SESSION = "arn:aws:sts::123456789012:assumed-role/SecurityAnalyst/alice@example.com"
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def imported(**finding: Any) -> dict[str, Any]:
    doc = {
        "Id": FID,
        "ProductArn": PRODUCT,
        "AwsAccountId": "123456789012",
        "Workflow": {"Status": "SUPPRESSED"},
        "Note": {"Text": "accepted risk"},
    }
    doc.update(finding)
    return {
        "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Imported",
        "time": "2026-12-02T01:30:05Z",
        "detail": {"findings": [doc]},
    }


def updated(**params: Any) -> dict[str, Any]:
    request = {
        "FindingIdentifiers": [{"Id": FID, "ProductArn": PRODUCT}],
        "Workflow": {"Status": "RESOLVED"},
    }
    request.update(params)
    named = [i for i in request["FindingIdentifiers"] if isinstance(i, dict)]
    answer = {
        "ProcessedFindings": [{"Id": i.get("Id"), "ProductArn": PRODUCT} for i in named],
        "UnprocessedFindings": [],
    }
    return {
        "source": "aws.securityhub",
        "detail-type": "AWS API Call via CloudTrail",
        "time": "2026-12-02T01:30:06Z",
        "detail": {
            "eventSource": "securityhub.amazonaws.com",
            "eventName": "BatchUpdateFindings",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": SESSION,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}},
            },
            "requestParameters": request,
            "responseElements": answer,
        },
    }


def test_the_finding_event_says_what_but_not_who() -> None:
    change = parse_hub_event(imported())
    assert change == HubChange(
        finding_ids=(FID,),
        workflow=Workflow.SUPPRESSED,
        note="accepted risk",
        at=datetime(2026, 12, 2, 1, 30, 5, tzinfo=UTC),
        origins=((PRODUCT, "123456789012"),),
    )


def test_a_finding_without_a_note_has_an_empty_note() -> None:
    event = imported()
    del event["detail"]["findings"][0]["Note"]
    change = parse_hub_event(event)
    assert change is not None
    assert change.note == ""


def test_cloudtrails_record_says_who_and_which_role() -> None:
    change = parse_hub_event(updated(Note={"Text": "rotated", "UpdatedBy": "anyone"}))
    assert change is not None
    assert (change.workflow, change.note) == (Workflow.RESOLVED, "rotated")
    assert (change.author, change.issuer) == (SESSION, ROLE)


def test_a_note_only_update_says_no_workflow() -> None:
    change = parse_hub_event(updated(Workflow=None, Note={"Text": "n", "UpdatedBy": "x"}))
    assert change is not None
    assert (change.workflow, change.note) == (None, "n")


def test_an_iam_user_is_its_own_issuer() -> None:
    event = updated()
    event["detail"]["userIdentity"] = {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/bob",
    }
    change = parse_hub_event(event)
    assert change is not None
    assert change.author == change.issuer == "arn:aws:iam::123456789012:user/bob"


def test_only_the_detectors_findings_count() -> None:
    assert (
        parse_hub_event(imported(Id="arn:aws:securityhub:us-east-1::product/aws/guardduty/x"))
        is None
    )
    event = updated(
        FindingIdentifiers=[
            {"Id": "other", "ProductArn": PRODUCT},
            {"Id": FID, "ProductArn": PRODUCT},
            {"Id": FID, "ProductArn": PRODUCT},
        ]
    )
    change = parse_hub_event(event)
    assert change is not None
    assert change.finding_ids == (FID,)


def test_a_failed_call_or_another_call_is_no_change() -> None:
    failed = updated()
    failed["detail"]["errorCode"] = "AccessDenied"
    other = updated()
    other["detail"]["eventName"] = "BatchImportFindings"
    assert parse_hub_event(failed) is None
    assert parse_hub_event(other) is None
    assert parse_hub_event({"source": "aws.iam"}) is None


def test_each_finding_says_its_product_and_account() -> None:
    for event in (imported(), updated()):
        change = parse_hub_event(event)
        assert change is not None
        assert change.origin(FID) == (PRODUCT, "123456789012")
    foreign = imported(ProductArn="arn:aws:securityhub:us-east-1:999999999999:product/x/y")
    change = parse_hub_event(foreign)
    assert change is not None
    assert change.origin(FID) == (foreign["detail"]["findings"][0]["ProductArn"], "123456789012")


def test_a_finding_the_call_did_not_process_is_no_change() -> None:
    unprocessed = updated()
    answer = unprocessed["detail"]["responseElements"]
    answer["UnprocessedFindings"] = [
        {"FindingIdentifier": answer.pop("ProcessedFindings")[0], "ErrorCode": "FindingNotFound"}
    ]
    answer["ProcessedFindings"] = []
    unanswered = updated()
    del unanswered["detail"]["responseElements"]
    assert parse_hub_event(unprocessed) is None
    assert parse_hub_event(unanswered) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[tuple[dict[str, Any], tuple[str, ...], Any]]:
    paths = st.sampled_from(
        [
            ("detail",),
            ("time",),
            ("detail", "findings"),
            ("detail", "userIdentity"),
            ("detail", "requestParameters"),
            ("detail", "requestParameters", "Workflow"),
            ("detail", "requestParameters", "Note"),
            ("detail", "requestParameters", "FindingIdentifiers"),
        ]
    )
    return st.tuples(st.sampled_from([imported(), updated()]), paths, _json)


@settings(max_examples=400, deadline=None)
@given(_mutations())
def test_any_mutation_is_read_or_ignored_never_a_crash(case: Any) -> None:
    event, path, value = case
    event = copy.deepcopy(event)
    target = event
    for name in path[:-1]:
        if not isinstance(target.get(name), dict):
            return
        target = target[name]
    target[path[-1]] = value
    change = parse_hub_event(event)
    if change is not None:
        assert change.finding_ids
        assert all(fid.startswith("root-key-detector/") for fid in change.finding_ids)
        assert change.note is None or len(change.note) <= 512


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_is_read_or_ignored(event: Any) -> None:
    parse_hub_event(event)
