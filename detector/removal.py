"""Removal of a root access key from Slack, by two responders: the click answered at once, and
the job that follows.

:func:`answer_click` runs within Slack's three seconds, after :func:`detector.triage.answer` has
verified, parsed and authorised the click: it decides (:func:`detector.domain.removal.refusal`),
moves the request on with one conditional write (one pending request per key; the confirmer is
not the requester), and starts a signed job. :func:`run_job` then replies in the key's thread and
redraws the alert; for a confirmation it first removes the key through
:class:`detector.ports.RootCredentials` (or, in dry run, only names the calls) and resolves the
finding. The settings are read again when the job runs: removal turned off, or to dry run, since
the click wins. A confirmation holds the key for its lease; the job records DELETING before its
deletion call, so a retry knows an earlier attempt may have deleted the key. Every step is logged
and counted (metrics.KEY_REMOVALS); no credential ever is logged (the port keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from detector import metrics
from detector.domain.delivery import KeyRecord, MessageKind, Progress
from detector.domain.finding import product_arn
from detector.domain.interaction import Click
from detector.domain.message import SlackMessage
from detector.domain.removal import (
    CONFIRM_LEASE,
    EXPIRED_REASON,
    LAPSED_REASON,
    Refusal,
    RemovalAction,
    RemovalClick,
    RemovalRequest,
    RemovalStatus,
    cancel_reply,
    confirmed_by,
    new_request,
    outcome_reply,
    planned_calls,
    refusal,
    request_reply,
    resolution_note,
    stopped_problem,
    unknown_outcome,
)
from detector.domain.text import mask_key, mrkdwn
from detector.domain.triage import NOTE_AUTHOR, TriageState, Workflow, responder_label
from detector.errors import DetectorError, FindingImportError, NotRootKey
from detector.log import get_logger
from detector.triage import JOB_MARK, TriageDeps, http, job_mac, redraw, tell

CHANGED = Refusal(
    409,
    "removal request changed",
    ":information_source: This key's removal request changed meanwhile: nothing was done.",
)


def _requester_gone(record: KeyRecord, allowed: frozenset[str]) -> Refusal | None:
    """Two responders means two who may act now: one who asked and has since been taken off
    the responders (or out of their user group) no longer counts as the first."""
    request = RemovalRequest.from_dict(record.removal)
    if request is None or request.requester_id in allowed:
        return None
    return Refusal(
        403,
        "requester no longer allowed",
        f":no_entry: {mrkdwn(request.requester, 200)}, who asked, may no longer act: ask again "
        "(Remove key), then a second responder confirms.",
    )


def answer_click(
    click: Click, record: KeyRecord, deps: TriageDeps, *, allowed: frozenset[str]
) -> dict[str, Any]:
    """Answer a Remove key, Confirm removal or Cancel click on ``record``'s alert (``allowed``:
    who may act now, as :func:`detector.triage.answer` asked)."""
    action = RemovalAction(click.action)
    at = datetime.fromtimestamp(deps.clock(), UTC).replace(microsecond=0)
    who = click.responder
    decided = refusal(
        RemovalClick(action, who.user_id, click.key_id or "", click.request_id),
        record,
        enabled=deps.removal_enabled,
        now=at,
    )
    if decided is None and action is RemovalAction.CONFIRM:
        decided = _requester_gone(record, allowed)
    if decided is not None:
        if decided.reason == EXPIRED_REASON:
            _expire(record, deps)
        elif decided.reason == LAPSED_REASON:
            _redrawn(record, deps)  # the alert offers Remove key again, and says why
        return _refuse(decided, click, deps)
    earlier = RemovalRequest.from_dict(record.removal)
    assert record.key_id is not None  # noqa: S101 - refusal() checked it
    label = responder_label(who.name, who.user_id)
    request = _moved(
        action, record, record.key_id, label=label, user_id=who.user_id, at=at, deps=deps
    )
    if request is None:
        return _refuse(CHANGED, click, deps)
    job = {
        "detector": JOB_MARK,
        "job": f"removal/{request.request_id}/{action.value}",
        "action": action.value,
        "finding_id": record.fid,
        "request_id": request.request_id,
        "user_id": who.user_id,
        "user_name": who.name,
        "at": at.isoformat(),
    }
    job["mac"] = job_mac(job, deps.signing_secret())
    log = {"finding_id": record.fid, "request_id": request.request_id, "user_id": who.user_id}
    try:
        deps.submit(job)
    except DetectorError as exc:
        get_logger().error(
            "key removal job not started", extra={**log, "error": type(exc).__name__}
        )
        failed = replace(request, status=RemovalStatus.FAILED, problem="its job could not start")
        if _settle(record.fid, failed, request.status, deps):
            metrics.count(metrics.KEY_REMOVALS, label="failed")
        tell(deps, click.response_url, ":x: The removal could not be started; nothing was done.")
        return http(500, "not started")
    if action is RemovalAction.REMOVE:
        metrics.count(metrics.KEY_REMOVALS, label="requested")
        if earlier is not None and earlier.lapsed(at):
            # The request it replaced was confirmed, and its job never said how it ended.
            metrics.count(metrics.KEY_REMOVALS, label="failed")
            get_logger().error(
                "key removal outcome unknown: its job did not finish within its lease",
                extra={**log, "earlier_request_id": earlier.request_id},
            )
    get_logger().info(
        f"key removal {_done[action]}",
        extra={**log, "key": mask_key(record.key_id), "dry_run": request.dry_run},
    )
    return http(200)


_done = {
    RemovalAction.REMOVE: "requested",
    RemovalAction.CONFIRM: "confirmed",
    RemovalAction.CANCEL: "cancelled",
}


def _moved(
    action: RemovalAction,
    record: KeyRecord,
    key_id: str,
    *,
    label: str,
    user_id: str,
    at: datetime,
    deps: TriageDeps,
) -> RemovalRequest | None:
    """The request after the click, written with one conditional write; None when the write's
    condition failed (another click changed it first)."""
    now = int(at.timestamp())
    if action is RemovalAction.REMOVE:
        request = new_request(record.fid, key_id, user_id, label, at, dry_run=deps.removal_dry_run)
        before = RemovalRequest.from_dict(record.removal)
        if before is not None and before.lapsed(at):
            request = replace(request, earlier=unknown_outcome(before))
        ok = deps.ledger.request_removal(
            record.fid,
            request.as_dict(),
            request_id=request.request_id,
            requester_id=user_id,
            expires_at=int(request.expires.timestamp()),
            now=now,
        )
        return request if ok else None
    current = RemovalRequest.from_dict(record.removal)
    assert current is not None  # noqa: S101 - refusal() checked it
    if action is RemovalAction.CONFIRM:
        request = confirmed_by(current, user_id, label, at)
        ok = deps.ledger.confirm_removal(
            record.fid,
            request.as_dict(),
            request_id=request.request_id,
            confirmer_id=user_id,
            now=now,
            lease_until=int((at + CONFIRM_LEASE).timestamp()),
        )
        return request if ok else None
    request = replace(
        current, status=RemovalStatus.CANCELLED, confirmer_id=user_id, confirmer=label, confirmed=at
    )
    return request if _settle(record.fid, request, RemovalStatus.PENDING, deps) else None


def _settle(fid: str, request: RemovalRequest, from_state: RemovalStatus, deps: TriageDeps) -> bool:
    """Move ``request`` on from ``from_state`` to its own status, in the ledger."""
    return deps.ledger.settle_removal(
        fid,
        request.as_dict(),
        request_id=request.request_id,
        from_state=from_state.value,
        to_state=request.status.value,
    )


def _expire(record: KeyRecord, deps: TriageDeps) -> None:
    """A late click found the request expired: record it so, and redraw the alert (Remove key
    is offered again)."""
    request = RemovalRequest.from_dict(record.removal)
    assert request is not None  # noqa: S101 - refusal() found it expired
    expired = replace(request, status=RemovalStatus.EXPIRED)
    if _settle(record.fid, expired, RemovalStatus.PENDING, deps):
        get_logger().info(
            "key removal request expired",
            extra={"finding_id": record.fid, "request_id": request.request_id},
        )
        _redrawn(record, deps)


def _redrawn(record: KeyRecord, deps: TriageDeps) -> None:
    """The alert redrawn from the ledger, at once (a failure is only logged)."""
    try:
        redraw(record.fid, deps)
    except DetectorError as exc:
        get_logger().warning("redraw failed", extra={"error_type": type(exc).__name__})


def _refuse(decided: Refusal, click: Click, deps: TriageDeps) -> dict[str, Any]:
    metrics.count(metrics.KEY_REMOVALS, label="refused")
    get_logger().warning(
        "key removal refused",
        extra={
            "reason": decided.reason,
            "action": click.action.value,
            "finding_id": click.finding_id,
            "user_id": click.responder.user_id,
        },
    )
    tell(deps, click.response_url, decided.told)
    return http(decided.status, decided.reason)


# -- the job -------------------------------------------------------------------------------------


def run_job(job: dict[str, Any], deps: TriageDeps) -> str:
    """Carry out a signed removal job: "requested", "cancelled", "removed", "failed",
    "dry-run", "unchanged" (done before) or "gone" (no such record or request). A confirmation
    follows the settings as they are now: removal off, it removes nothing; dry run (now or when
    asked), it only names the calls; past its lease, it removes nothing.

    Raises:
        ExternalServiceError: a Slack, Security Hub or ledger step failed after its retries (the
            job is retried by Lambda; a key already removed is not removed again).
    """
    action = RemovalAction(str(job["action"]))
    fid, job_id, rid = str(job["finding_id"]), str(job["job"]), str(job["request_id"])
    record = deps.ledger.read_key(fid)
    request = RemovalRequest.from_dict(record.removal) if record else None
    if record is None or record.slot is None or record.slot.ref is None:
        return "gone"
    if request is None or request.request_id != rid:
        return "gone"
    claim = deps.ledger.begin_event(job_id, JOB_MARK, deps.lease_s)
    if claim.done or claim.token is None:
        return "unchanged"
    steps = _Steps(claim.progress)
    try:
        result = _stage(action, record, request, job_id=job_id, steps=steps, deps=deps)
    except BaseException:
        deps.ledger.release_event(job_id, claim.token, steps.progress)
        raise
    deps.ledger.finish_event(job_id, claim.token, steps.progress)
    return result


@dataclass
class _Steps:
    """The job's progress as it goes (what a failed attempt finished is kept for its retry)."""

    progress: Progress


def _stage(
    action: RemovalAction,
    record: KeyRecord,
    request: RemovalRequest,
    *,
    job_id: str,
    steps: _Steps,
    deps: TriageDeps,
) -> str:
    resolved: str | None = None
    if action is RemovalAction.REMOVE:
        result, text = "requested", request_reply(request, record.account)
    elif action is RemovalAction.CANCEL:
        result, text = "cancelled", cancel_reply(request)
    else:
        request = _remove(record, request, deps)
        if request.status is RemovalStatus.REMOVED and not steps.progress.finding_done:
            resolved = _resolve(record, request, job_id, deps)
        steps.progress = replace(steps.progress, finding_done=True)
        result = request.status.value.lower().replace("_", "-")
        text = outcome_reply(request, record.account, resolved=resolved, again=deps.removal_enabled)
    assert record.slot is not None  # noqa: S101 - run_job checked
    assert record.slot.ref is not None  # noqa: S101
    if not steps.progress.message_sent:
        message = SlackMessage(
            text=text.split("\n", 1)[0], blocks=[SectionBlock(text=MarkdownTextObject(text=text))]
        )
        posted = deps.slack.post(message, thread=record.slot.ref)
        steps.progress = replace(
            steps.progress, message=posted, message_kind=MessageKind.REPLY, message_sent=True
        )
    if not steps.progress.update_done:
        redraw(record.fid, deps)
        steps.progress = replace(steps.progress, update_done=True)
    return result


def _remove(record: KeyRecord, request: RemovalRequest, deps: TriageDeps) -> RemovalRequest:
    """A confirmed request carried out (or, in dry run, its calls named; or stopped) and
    recorded; a request past that step as recorded."""
    if not request.status.under_way:
        return request
    log = {"finding_id": record.fid, "request_id": request.request_id}
    now = datetime.fromtimestamp(deps.clock(), UTC)
    stop = _stopped(request, now, deps)
    from_state = request.status
    if stop is not None:
        get_logger().warning(f"key removal stopped: {stop}", extra=log)
        done = replace(request, status=RemovalStatus.FAILED, problem=stopped_problem(request, stop))
    elif request.dry_run or deps.removal_dry_run:
        # Dry run when it was asked, or now: a removal is made only if neither says dry run.
        done = replace(
            request,
            status=RemovalStatus.DRY_RUN,
            dry_run=True,
            calls=planned_calls(record.account, request.key_id),
        )
        get_logger().info("key removal dry run: no AWS call made", extra=log)
    else:
        deleting = replace(request, status=RemovalStatus.DELETING)
        if not deps.ledger.begin_removal(
            record.fid, deleting.as_dict(), request_id=request.request_id, now=int(now.timestamp())
        ):
            return _as_recorded(record, request, deps)
        from_state = RemovalStatus.DELETING
        # A retry finds it DELETING: its earlier attempt may have deleted the key already.
        done = _delete(record, deleting, log, deps, retry=request.status is from_state)
    if not _settle(record.fid, done, from_state, deps):
        return _as_recorded(record, done, deps)
    label = done.status.value.lower().replace("_", "-")
    if stop is not None and not deps.removal_enabled:
        label = "refused"
    metrics.count(metrics.KEY_REMOVALS, label=label)
    return done


def _stopped(request: RemovalRequest, now: datetime, deps: TriageDeps) -> str | None:
    """Why a confirmed request's job may make no AWS call now, or None."""
    if not deps.removal_enabled:
        return "key removal was turned off (ROOT_KEY_REMOVAL) after it was confirmed"
    if request.lapsed(now):
        minutes = f"{CONFIRM_LEASE.total_seconds() / 60:g}"
        return f"its job did not run within the {minutes} minutes a confirmation holds the key"
    if request.status is RemovalStatus.DELETING and deps.removal_dry_run:
        return "dry run (ROOT_KEY_REMOVAL_DRY_RUN) was turned on while it was under way"
    return None


def _as_recorded(record: KeyRecord, request: RemovalRequest, deps: TriageDeps) -> RemovalRequest:
    """The request as the ledger has it now (another write moved it first); ``request`` itself
    when the ledger holds another request by now (this one's outcome is still this job's)."""
    now = deps.ledger.read_key(record.fid)
    settled = RemovalRequest.from_dict(now.removal) if now else None
    if settled is None or settled.request_id != request.request_id:
        return request
    return settled


def _delete(
    record: KeyRecord,
    request: RemovalRequest,
    log: dict[str, Any],
    deps: TriageDeps,
    *,
    retry: bool,
) -> RemovalRequest:
    """The key deleted in a root session with the delete task policy, and IAM asked again
    (``retry``: an earlier attempt of this request reached DELETING, and may have deleted it)."""
    get_logger().info("key removal: AssumeRoot, DeleteAccessKey", extra={**log, "retry": retry})
    try:
        report = deps.root_credentials().remove_root_key(record.account, request.key_id)
    except NotRootKey:
        if retry:
            # The earlier attempt deleted it and ended before recording so: it is removed.
            get_logger().info(
                "key removal done: IAM no longer lists the key (deleted by an earlier attempt)",
                extra=log,
            )
            return replace(
                request,
                status=RemovalStatus.REMOVED,
                calls=(
                    "sts:AssumeRoot",
                    "iam:ListAccessKeys (the key no longer listed: an earlier attempt of this "
                    "removal deleted it)",
                ),
            )
        # Gone before this removal's first DeleteAccessKey: removed by someone else.
        get_logger().warning("key removal: IAM no longer lists the key", extra=log)
        return replace(
            request,
            status=RemovalStatus.FAILED,
            problem="IAM no longer lists the key: nothing was deleted (it was removed already).",
        )
    except DetectorError as exc:
        code = str(getattr(exc, "code", "") or type(exc).__name__)
        where = str(getattr(exc, "service", "") or "the removal")
        get_logger().error(
            "key removal failed", extra={**log, "error_code": code, "service": where}
        )
        return replace(
            request,
            status=RemovalStatus.FAILED,
            problem=f"{where} was refused ({code}); the key was not removed.",
        )
    if not report.gone:
        get_logger().error("key removal: IAM still lists the key", extra=log)
        return replace(
            request,
            status=RemovalStatus.FAILED,
            calls=report.calls,
            problem="IAM still lists the key after DeleteAccessKey.",
        )
    get_logger().info("key removal done: IAM no longer lists the key", extra=log)
    return replace(request, status=RemovalStatus.REMOVED, calls=report.calls)


def _resolve(record: KeyRecord, request: RemovalRequest, job_id: str, deps: TriageDeps) -> str:
    """The finding resolved with a note of who and when; what the reply says of it."""
    note = resolution_note(request)
    current = TriageState.from_dict(record.triage)
    state = current.followed_by(
        TriageState(
            Workflow.RESOLVED,
            by=f"{request.requester} and {request.confirmer}",
            at=request.confirmed,
            note=f"root key {mask_key(request.key_id)} removed",
            finding_note=note,
        )
    )
    claimed = deps.ledger.claim_triage(record.fid, state.as_dict(), Workflow.RESOLVED.value, job_id)
    arn = (record.finding or {}).get("ProductArn") or product_arn(
        deps.partition, deps.region, record.account
    )
    identifier = {"Id": record.fid, "ProductArn": str(arn)}
    try:
        deps.workflow.set_workflow(
            record.account, identifier, Workflow.RESOLVED.value, note, NOTE_AUTHOR
        )
    except FindingImportError as exc:
        if exc.transient:
            raise
        if claimed:
            deps.ledger.undo_triage(record.fid, record.triage, job_id)
        get_logger().error(
            "key removed, finding not resolved",
            extra={"finding_id": record.fid, "error_code": exc.code},
        )
        return f"Security Hub refused to resolve the finding ({exc.code}): resolve it by hand."
    get_logger().info("finding resolved after key removal", extra={"finding_id": record.fid})
    return "The finding is resolved (Workflow RESOLVED) with a note of who and when."
