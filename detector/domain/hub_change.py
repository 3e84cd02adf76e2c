"""A change to one of the detector's findings made in Security Hub: what changed, and who did it.

Two EventBridge events say it ("Security Hub event types in EventBridge" and "Logging Security
Hub CSPM API calls with CloudTrail", Security Hub user guide):

- "Security Hub Findings - Imported" follows every BatchImportFindings and BatchUpdateFindings
  with the whole finding after the change (its ``Workflow.Status`` and ``Note``), but not who
  made it: ``Note.UpdatedBy`` is whatever the caller wrote;
- CloudTrail's record of ``BatchUpdateFindings`` ("AWS API Call via CloudTrail") names the
  caller as AWS authenticated it (``userIdentity``) and what was asked (``requestParameters``).

Both are untrusted input: anything of an unexpected shape is read as absent, and an event that
names none of the detector's findings is no change at all. A finding is identified by its Id
and ProductArn together (BatchUpdateFindings, Security Hub API Reference), so each change
carries where it came from: the caller decides whether that is where its finding lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from detector.domain.finding import PRODUCT_FIELD_PREFIX
from detector.domain.text import clean
from detector.domain.triage import MAX_NOTE, Workflow

IMPORTED = "Security Hub Findings - Imported"
CLOUDTRAIL = "AWS API Call via CloudTrail"
SECURITYHUB_SOURCE = "aws.securityhub"
SECURITYHUB_EVENT_SOURCE = "securityhub.amazonaws.com"
UPDATE_EVENT = "BatchUpdateFindings"
MAX_FINDINGS = 100  # BatchUpdateFindings takes at most 100 identifiers
_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,512}")
_PREFIX = f"{PRODUCT_FIELD_PREFIX}/"

# The patterns of the rules that route these events to the interaction function.
IMPORTED_PATTERN: dict[str, Any] = {
    "source": [SECURITYHUB_SOURCE],
    "detail-type": [IMPORTED],
    "detail": {"findings": {"Id": [{"prefix": _PREFIX}]}},
}
UPDATED_PATTERN: dict[str, Any] = {
    "source": [SECURITYHUB_SOURCE],
    "detail-type": [CLOUDTRAIL],
    "detail": {"eventSource": [SECURITYHUB_EVENT_SOURCE], "eventName": [UPDATE_EVENT]},
}


@dataclass(frozen=True, slots=True)
class HubChange:
    """What an event says about the detector's findings."""

    finding_ids: tuple[str, ...]
    workflow: Workflow | None  # None: not said (a note-only update)
    note: str | None  # the finding's note text after the change; None: not said
    author: str | None = None  # who, as AWS authenticated the caller (CloudTrail only)
    issuer: str | None = None  # the role of a role session, else the caller itself
    at: datetime | None = None  # when it happened (the event's time, to the second)
    # Per finding id: (ProductArn, AwsAccountId) as the event gives them; None: not said.
    origins: tuple[tuple[str | None, str | None], ...] = ()

    def origin(self, fid: str) -> tuple[str | None, str | None]:
        """(ProductArn, AwsAccountId) the event gives for ``fid``; (None, None) if unsaid."""
        for known, origin in zip(self.finding_ids, self.origins, strict=False):
            if known == fid:
                return origin
        return None, None


def is_hub_event(event: Any) -> bool:
    """Whether ``event`` is one of the two kinds this module reads."""
    return (
        isinstance(event, dict)
        and event.get("source") == SECURITYHUB_SOURCE
        and event.get("detail-type") in {IMPORTED, CLOUDTRAIL}
    )


def parse_hub_event(event: Any) -> HubChange | None:
    """The change ``event`` describes, or None (not ours, failed, or nothing readable)."""
    if not is_hub_event(event):
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    change = _imported(detail) if event.get("detail-type") == IMPORTED else _updated(detail)
    return None if change is None else replace(change, at=_time(event.get("time")))


def _time(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None


def _imported(detail: dict[str, Any]) -> HubChange | None:
    findings = detail.get("findings")
    if not isinstance(findings, list) or len(findings) != 1 or not isinstance(findings[0], dict):
        return None
    finding = findings[0]
    ids = _ours([finding.get("Id")])
    if not ids:
        return None
    note = finding.get("Note")
    return HubChange(
        finding_ids=ids,
        workflow=_workflow(finding.get("Workflow")),
        note=_note(note) if isinstance(note, dict) else "",
        origins=((_text(finding.get("ProductArn")), _text(finding.get("AwsAccountId"))),),
    )


def _updated(detail: dict[str, Any]) -> HubChange | None:
    if (
        detail.get("eventSource") != SECURITYHUB_EVENT_SOURCE
        or detail.get("eventName") != UPDATE_EVENT
        or detail.get("errorCode") is not None
    ):
        return None
    params = detail.get("requestParameters")
    if not isinstance(params, dict):
        return None
    identifiers = params.get("FindingIdentifiers")
    if not isinstance(identifiers, list):
        return None
    # Only the findings the call changed: those in the answer's ProcessedFindings (one listed
    # only in UnprocessedFindings, or a call without an answer, changed nothing).
    processed = _processed(detail.get("responseElements"))
    pairs = [
        (i.get("Id"), _text(i.get("ProductArn")))
        for i in identifiers[:MAX_FINDINGS]
        if isinstance(i, dict)
    ]
    ids = _ours([fid for fid, arn in pairs if (fid, arn) in processed])
    if not ids:
        return None
    arns = {fid: arn for fid, arn in pairs if (fid, arn) in processed}
    note = params.get("Note")
    author, issuer = _caller(detail.get("userIdentity"))
    return HubChange(
        finding_ids=ids,
        workflow=_workflow(params.get("Workflow")),
        note=_note(note) if isinstance(note, dict) else None,
        author=author,
        issuer=issuer,
        # The request names no account but its ProductArn does (its fifth field).
        origins=tuple((arns[fid], _arn_account(arns[fid])) for fid in ids),
    )


def _processed(answer: Any) -> set[tuple[Any, str | None]]:
    found = answer.get("ProcessedFindings") if isinstance(answer, dict) else None
    if not isinstance(found, list):
        return set()
    return {
        (f.get("Id"), _text(f.get("ProductArn")))
        for f in found[:MAX_FINDINGS]
        if isinstance(f, dict) and isinstance(f.get("Id"), str)
    }


def _arn_account(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) > 5 else None


def _text(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and len(raw) <= 2048 else None


def _ours(ids: list[Any]) -> tuple[str, ...]:
    found: list[str] = []
    for fid in ids:
        if (
            isinstance(fid, str)
            and fid.startswith(_PREFIX)
            and len(fid) <= 512
            and fid.isprintable()
            and fid not in found
        ):
            found.append(fid)
    return tuple(found)


def _workflow(raw: Any) -> Workflow | None:
    status = raw.get("Status") if isinstance(raw, dict) else None
    try:
        return Workflow(status) if isinstance(status, str) else None
    except ValueError:
        return None


def _note(raw: dict[str, Any]) -> str | None:
    text = raw.get("Text")
    return clean(text, MAX_NOTE) if isinstance(text, str) else None


def _caller(identity: Any) -> tuple[str | None, str | None]:
    """(the caller's ARN, the role it is a session of or the caller) from ``userIdentity``."""
    if not isinstance(identity, dict):
        return None, None
    arn = identity.get("arn")
    author = arn if isinstance(arn, str) and _ARN.fullmatch(arn) else None
    context = identity.get("sessionContext")
    issuer_doc = context.get("sessionIssuer") if isinstance(context, dict) else None
    issuer = issuer_doc.get("arn") if isinstance(issuer_doc, dict) else None
    if isinstance(issuer, str) and _ARN.fullmatch(issuer):
        return author, issuer
    return author, author
