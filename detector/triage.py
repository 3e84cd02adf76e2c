"""Triage from Slack: a verified interaction request answered at once, and the job that follows.

:func:`answer` runs within Slack's three seconds: verify, parse, authorise, guard against replay,
open the modal (Suppress, Resolve) or hand the job on (Acknowledge, a submitted modal).
:func:`run_job` does the work after the answer: the ledger's conditional write makes it happen
once per change (a double click, a retry or two responders give one update), then
BatchUpdateFindings, one reply in the key's thread and the alert redrawn, each step recorded so
a retried job finishes what its predecessor left.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from detector.domain.delivery import KeyRecord, MessageKind, Progress, SlackRef
from detector.domain.finding import product_arn
from detector.domain.hub_change import HubChange
from detector.domain.interaction import (
    MAX_BODY_BYTES,
    Click,
    LinkClick,
    Refused,
    Responder,
    Responders,
    Submission,
    header,
    is_response_url,
    parse,
    verify,
)
from detector.domain.message import SlackMessage
from detector.domain.removal import REMOVAL_ACTION_IDS, RemovalAction, RemovalStatus, drawing
from detector.domain.text import mrkdwn
from detector.domain.triage import (
    NOTE_AUTHOR,
    TriageAction,
    TriageState,
    modal,
    note_text,
    reply_text,
    responder_label,
    with_triage,
)
from detector.errors import ConfigError, DetectorError, FindingImportError, SecretError
from detector.log import get_logger
from detector.ports import RootCredentials, TriageLedger, TriageSlack, WorkflowSink

JOB_MARK = "triage"  # {"detector": "triage", ...}: an asynchronous invocation carrying a job
# A job is signed by the function that answered Slack, with the app's signing secret: any
# other invoker of the function (it holds lambda:InvokeFunction, not the secret) cannot forge
# who acted, on what, or how.
JOB_MAC_PREFIX = b"triage-job:v1:"
REQUEST_KEEP_S = 900  # a request is remembered past Slack's five-minute window
NOT_ALLOWED = ":no_entry: You are not allowed to triage this finding from Slack."
# Where Slack's response URLs live ("Handling user interaction in your Slack apps").
SLACK_RESPONSE_ORIGINS = ("https://hooks.slack.com/",)


def _no_root_access() -> RootCredentials:
    raise ConfigError("CENTRALIZED_ROOT_ACCESS", "no root credentials are wired for removal")


@dataclass
class TriageDeps:
    """What triage needs, built once per container (see wiring.py)."""

    ledger: TriageLedger
    workflow: WorkflowSink
    slack: TriageSlack
    submit: Callable[[dict[str, Any]], None]  # hands a job to an asynchronous invocation
    signing_secret: Callable[[], str]
    team_id: str
    channel_id: str
    responders: frozenset[str]
    responder_group: str | None = None
    region: str = "us-east-1"
    partition: str = "aws"
    lease_s: float = 60.0
    response_origins: tuple[str, ...] = SLACK_RESPONSE_ORIGINS
    # Whose updates are the detector's own, by full ARN: its role's (None: unknown), and the
    # member role's in the finding's account (None: no member role).
    own_role_arn: Callable[[], str | None] = field(default=lambda: None)
    member_role_name: str | None = None
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())
    # Key removal by two responders (ROOT_KEY_REMOVAL; dry run: ROOT_KEY_REMOVAL_DRY_RUN), and
    # where a confirmed removal gets its root sessions (asked only for a removal, not a dry run).
    removal_enabled: bool = False
    removal_dry_run: bool = True
    root_credentials: Callable[[], RootCredentials] = field(default=_no_root_access)

    def policy(self) -> Responders:
        """Who may act now (a user group's members are asked of Slack each time)."""
        users = set(self.responders)
        if self.responder_group:
            users |= self.slack.group_members(self.responder_group)
        return Responders(self.team_id, self.channel_id, frozenset(users))


def http(status: int, body: str = "") -> dict[str, Any]:
    """A function URL response."""
    headers = {"content-type": "application/json" if body.startswith("{") else "text/plain"}
    return {"statusCode": status, "headers": headers, "body": body}


def request_body(event: dict[str, Any]) -> bytes:
    """The raw body of a function URL request (base64-decoded when Lambda encoded it).

    Raises:
        Refused: 413 past 64 KB (checked before decoding), 400 for a body that does not decode.
    """
    raw = event.get("body") or ""
    if not isinstance(raw, str) or len(raw) > 2 * MAX_BODY_BYTES:
        raise Refused(413, "body over 64 KB")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "body is not base64") from None
    return raw.encode("utf-8", "surrogatepass")


def answer(event: dict[str, Any], deps: TriageDeps) -> dict[str, Any]:
    """Answer one function URL request from Slack (within its three seconds)."""
    headers = event.get("headers") if isinstance(event, dict) else None
    if not isinstance(headers, dict):
        return _refused(Refused(400, "not a function URL request"))
    try:
        body = request_body(event)
        sig = verify(headers, body, deps.signing_secret(), deps.clock())
        interaction = parse(body)
        if isinstance(interaction, LinkClick):
            return http(200)
        record, allowed = _authorised(interaction, deps)
        if not deps.ledger.remember_request(sig, REQUEST_KEEP_S):
            return _seen_before(headers)
        return _act(interaction, record, allowed, deps)
    except Refused as refusal:
        return _refused(refusal)
    except SecretError as exc:  # no traceback: the secret's id and problem say it all
        get_logger().error("signing secret unavailable", extra={"problem": exc.problem})
        return http(503, "not configured")


def _seen_before(headers: dict[str, Any]) -> dict[str, Any]:
    """A request whose signature was handled: Slack's retry is answered, a replay refused."""
    if header(headers, "X-Slack-Retry-Num") is not None:
        return http(200)
    return _refused(Refused(401, "replay of a handled request"))


def _refused(refusal: Refused) -> dict[str, Any]:
    get_logger().warning(
        "slack request refused", extra={"status": refusal.status, "reason": refusal.reason}
    )
    return http(refusal.status, refusal.reason)


def _authorised(
    interaction: Click | Submission, deps: TriageDeps
) -> tuple[KeyRecord, frozenset[str]]:
    """The key's record the interaction acts on, if the responder may act there; and who may
    act now (asked of Slack once per request, when a user group names them).

    Raises:
        Refused: 403 for another workspace or channel; 403 for a user not allowed (who is told
            so, ephemerally); 404 for a message that is not the key's alert.
    """
    responder = interaction.responder
    policy = deps.policy()
    reason = policy.refusal(responder, interaction.channel_id)
    if reason is not None:
        get_logger().warning(
            "slack responder refused",
            extra={"reason": reason, "user_id": responder.user_id, "team_id": responder.team_id},
        )
        if reason == "user not allowed" and isinstance(interaction, Click):
            tell(deps, interaction.response_url, NOT_ALLOWED)
        raise Refused(403, reason)
    record = deps.ledger.read_key(interaction.finding_id)
    ref = SlackRef(interaction.channel_id, interaction.message_ts)
    if record is None or record.slot is None or record.slot.ref != ref:
        raise Refused(404, "not the alert of one of this detector's findings")
    return record, policy.user_ids


def tell(deps: TriageDeps, response_url: str, text: str) -> None:
    """An ephemeral answer, only to one of Slack's response URLs; a failure is only logged."""
    if not is_response_url(response_url, deps.response_origins):
        get_logger().warning("response_url not Slack's: not answered")
        return
    try:
        deps.slack.respond(response_url, text)
    except DetectorError as exc:
        get_logger().warning("ephemeral answer failed", extra={"error_type": type(exc).__name__})


def _act(
    interaction: Click | Submission,
    record: KeyRecord,
    allowed: frozenset[str],
    deps: TriageDeps,
) -> dict[str, Any]:
    if isinstance(interaction, Click) and isinstance(interaction.action, RemovalAction):
        from detector import removal  # noqa: PLC0415 - it builds on this module

        return removal.answer_click(interaction, record, deps, allowed=allowed)
    assert isinstance(interaction.action, TriageAction)  # noqa: S101 - removal handled above
    if isinstance(interaction, Click) and interaction.action.asks_text:
        view = modal(interaction.action, record.fid, interaction.channel_id, interaction.message_ts)
        try:
            deps.slack.open_view(interaction.trigger_id, view)
        except DetectorError as exc:
            get_logger().warning("views.open failed", extra={"error_type": type(exc).__name__})
            return http(502, "the modal could not be opened")
        return http(200)
    text = interaction.text if isinstance(interaction, Submission) else ""
    job = _job(interaction.action, record.fid, interaction.responder, text, deps.clock())
    job["mac"] = job_mac(job, deps.signing_secret())
    try:
        deps.submit(job)
    except DetectorError as exc:
        get_logger().error("triage job not started", extra={"error_type": type(exc).__name__})
        return http(500, "not started")
    get_logger().info(
        "triage job started",
        extra={"job": job["job"], "action": job["action"], "user_id": job["user_id"]},
    )
    return http(200)


def _job(action: TriageAction, fid: str, who: Responder, text: str, now: float) -> dict[str, Any]:
    at = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    seed = f"{fid}\n{action.value}\n{who.user_id}\n{at.isoformat()}\n{text}"
    job_id = "triage/" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return {
        "detector": JOB_MARK,
        "job": job_id,
        "action": action.value,
        "finding_id": fid,
        "user_id": who.user_id,
        "user_name": who.name,
        "text": text,
        "at": at.isoformat(),
    }


def job_mac(job: dict[str, Any], secret: str) -> str:
    """HMAC-SHA256 of the job (every field but ``mac``, as canonical JSON) under ``secret``."""
    fields = {k: v for k, v in job.items() if k != "mac"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hmac.new(secret.encode("utf-8"), JOB_MAC_PREFIX + canonical.encode("ascii"), "sha256")
    return digest.hexdigest()


def _signed(job: dict[str, Any], deps: TriageDeps) -> bool:
    mac = job.get("mac")
    if not isinstance(mac, str):
        return False
    try:
        expected = job_mac(job, deps.signing_secret())
    except (TypeError, ValueError):  # a field JSON cannot hold: not a job this function made
        return False
    return hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), expected.encode("ascii"))


# -- the job -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """One change of a finding's triage, to carry out once."""

    record: KeyRecord
    state: TriageState
    job: str
    update: tuple[str, str] | None = None  # (status, note) for BatchUpdateFindings; None: done
    note_only: bool = False


def run_job(job: dict[str, Any], deps: TriageDeps) -> str:
    """Carry out one triage job; returns what happened ("done", "unchanged", "gone",
    "failed" when Security Hub refused the update for good, or "refused" for a job this
    function did not sign).

    Raises:
        ExternalServiceError: a step failed after its retries (the job is retried by Lambda and
            finishes the steps left).
    """
    if not _signed(job, deps):
        get_logger().warning("triage job refused: not signed by this function")
        return "refused"
    if str(job.get("action")) in REMOVAL_ACTION_IDS:
        from detector import removal  # noqa: PLC0415 - it builds on this module

        return removal.run_job(job, deps)
    action = TriageAction(str(job["action"]))
    fid, job_id = str(job["finding_id"]), str(job["job"])
    at = datetime.fromisoformat(str(job["at"]))
    record = deps.ledger.read_key(fid)
    if record is None or record.slot is None or record.slot.ref is None:
        return "gone"
    by = responder_label(str(job.get("user_name") or ""), str(job["user_id"]))
    reason = str(job.get("text") or "")
    note = note_text(action, by, at, reason)
    current = TriageState.from_dict(record.triage)
    state = current.followed_by(
        TriageState(action.workflow, by=by, at=at, note=reason, finding_note=note)
    )
    if not deps.ledger.claim_triage(fid, state.as_dict(), action.workflow.value, job_id):
        get_logger().info("triage unchanged", extra={"job": job_id, "finding_id": fid})
        return "unchanged"
    change = _Change(record, state, job_id, update=(action.workflow.value, note))
    try:
        return _carry_out(change, deps)
    except FindingImportError as exc:
        if exc.transient:
            raise  # Lambda retries the job
        return _failed(change, exc, deps)


def _failed(change: _Change, exc: FindingImportError, deps: TriageDeps) -> str:
    """Security Hub refused the update for good: the ledger goes back to what it showed (so a
    later click is tried again, not answered "unchanged") and the thread says so."""
    record = change.record
    get_logger().error(
        "triage update refused by Security Hub",
        extra={"job": change.job, "finding_id": record.fid, "error_code": exc.code},
    )
    deps.ledger.undo_triage(record.fid, record.triage, change.job)
    ref = record.slot.ref if record.slot is not None else None
    assert ref is not None  # noqa: S101 - run_job checked
    who = mrkdwn(change.state.by or "someone", 200)
    text = (
        f":x: {who}: Workflow {change.state.workflow.value} could not be written to Security "
        f"Hub ({mrkdwn(exc.code, 80)}); the finding is unchanged."
    )
    message = SlackMessage(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])
    try:
        deps.slack.post(message, thread=ref)
    except DetectorError as err:
        get_logger().warning("failure reply not posted", extra={"error_type": type(err).__name__})
    return "failed"


def _carry_out(change: _Change, deps: TriageDeps) -> str:
    """The change's steps not yet done: BatchUpdateFindings, the reply, the redraw."""
    claim = deps.ledger.begin_event(change.job, JOB_MARK, deps.lease_s)
    if claim.done or claim.token is None:
        return "unchanged"
    progress = claim.progress
    try:
        progress = _steps(change, progress, deps)
    except BaseException:
        deps.ledger.release_event(change.job, claim.token, progress)
        raise
    deps.ledger.finish_event(change.job, claim.token, progress)
    return "done"


def _steps(change: _Change, progress: Progress, deps: TriageDeps) -> Progress:
    record = change.record
    assert record.slot is not None  # noqa: S101 - checked by the caller
    ref = record.slot.ref
    assert ref is not None  # noqa: S101
    if change.update is not None and not progress.finding_done:
        arn = (record.finding or {}).get("ProductArn") or product_arn(
            deps.partition, deps.region, record.account
        )
        identifier = {"Id": record.fid, "ProductArn": str(arn)}
        status, note = change.update
        deps.workflow.set_workflow(record.account, identifier, status, note, NOTE_AUTHOR)
    progress = replace(progress, finding_done=True)
    if not progress.message_sent:
        posted = deps.slack.post(_reply(change), thread=ref)
        progress = replace(
            progress, message=posted, message_kind=MessageKind.REPLY, message_sent=True
        )
    if not progress.update_done:
        redraw(record.fid, deps)
        progress = replace(progress, update_done=True)
    return progress


def _reply(change: _Change) -> SlackMessage:
    state = change.state
    text = reply_text(state, key_present=change.record.open, note_only=change.note_only)
    who = state.by or "someone"
    return SlackMessage(
        # The fallback text is shown in notifications and parsed as mrkdwn too.
        text=f"{mrkdwn(who, 200)}: Workflow {state.workflow.value}",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
    )


def redraw(fid: str, deps: TriageDeps) -> None:
    """The alert as the ledger has it now: a later change than this job's wins, whichever job
    redraws last."""
    now = deps.ledger.read_key(fid)
    if now is None or now.shown is None or now.slot is None or now.slot.ref is None:
        return
    state = TriageState.from_dict(now.triage)
    at = datetime.fromtimestamp(deps.clock(), UTC)
    removal = drawing(now, now=at) if deps.removal_enabled else None
    removed = (now.removal or {}).get("status") == RemovalStatus.REMOVED.value
    drawn = with_triage(
        SlackMessage.from_payload(now.shown),
        fid,
        state,
        key_present=now.open and not removed,
        removal=removal,
    )
    deps.slack.update(now.slot.ref, drawn)


# -- changes made in Security Hub ----------------------------------------------------------------


def run_hub_change(change: HubChange, deps: TriageDeps) -> list[str]:
    """Show a change made in Security Hub in each finding's thread and alert (once per change,
    whichever of its two events comes first; the second names the author if the first could
    not). The detector's own updates are dropped: by their role, and by the ledger's state."""
    return [_hub_change(fid, change, deps) for fid in change.finding_ids]


def _own(record: KeyRecord, change: HubChange, deps: TriageDeps) -> bool:
    """Whether the change was made by this function's own role (the interaction function's), or
    by the member role in the finding's own account (a role of that name in any other account is
    someone else's)."""
    if change.issuer is None:
        return False
    own = {deps.own_role_arn()}
    if deps.member_role_name:
        own.add(f"arn:{deps.partition}:iam::{record.account}:role/{deps.member_role_name}")
    return change.issuer in own


def _hub_change(fid: str, change: HubChange, deps: TriageDeps) -> str:
    record = deps.ledger.read_key(fid)
    if record is None or record.slot is None or record.slot.ref is None:
        return "gone"
    if not _same_finding(record, change, deps):
        # Same Id, another product or account: someone else's finding, not ours (a finding is
        # {Id, ProductArn}: BatchUpdateFindings, Security Hub API Reference).
        return "foreign"
    if _own(record, change, deps):
        return "own"
    current = TriageState.from_dict(record.triage)
    workflow = change.workflow or current.workflow
    note = change.note if change.note is not None else current.finding_note
    seed = f"{fid}\n{workflow.value}\n{note}"
    job = "hub/" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if workflow is current.workflow and note == current.finding_note:
        if change.author and not current.by and not current.via_slack:
            return _name_author(record, current, change.author, job, deps)
        return "unchanged"
    if current.was(workflow, note) or (
        change.at is not None and current.at is not None and change.at < current.at
    ):
        # An earlier state, or older than the one shown: an echo of an earlier import or
        # update arriving late. A change is shown once, in the order it was made.
        return "stale"
    state = current.followed_by(
        TriageState(
            workflow,
            by=change.author or "",
            at=change.at or datetime.fromtimestamp(deps.clock(), UTC).replace(microsecond=0),
            note=note,
            via_slack=False,
            finding_note=note,
        )
    )
    if not deps.ledger.claim_triage(fid, state.as_dict(), workflow.value, job, note_counts=True):
        return "unchanged"
    note_only = workflow is current.workflow
    return _carry_out(_Change(record, state, job, note_only=note_only), deps)


def _same_finding(record: KeyRecord, change: HubChange, deps: TriageDeps) -> bool:
    """Whether the event's finding is the record's: its ProductArn and its account."""
    arn, account = change.origin(record.fid)
    ours = (record.finding or {}).get("ProductArn") or product_arn(
        deps.partition, deps.region, record.account
    )
    if arn is None or arn != ours:
        return False
    return account == record.account


def _name_author(
    record: KeyRecord, current: TriageState, author: str, job: str, deps: TriageDeps
) -> str:
    """The change was shown without its author (its finding event came first): name it in the
    reply already posted and on the alert."""
    state = replace(current, by=author)
    if not deps.ledger.claim_triage(
        record.fid, state.as_dict(), state.workflow.value, job, note_counts=True
    ):
        return "unchanged"
    done, reply = deps.ledger.event_message(job)
    if done and reply is not None:
        deps.slack.update(reply, _reply(_Change(record, state, job)))
    redraw(record.fid, deps)
    return "author-named"
