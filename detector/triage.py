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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from detector.domain.delivery import KeyRecord, Progress, SlackRef
from detector.domain.finding import product_arn
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
from detector.domain.text import clean
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
from detector.errors import DetectorError
from detector.log import get_logger
from detector.ports import TriageLedger, TriageSlack, WorkflowSink

JOB_MARK = "triage"  # {"detector": "triage", ...}: an asynchronous invocation carrying a job
REQUEST_KEEP_S = 900  # a request is remembered past Slack's five-minute window
NOT_ALLOWED = ":no_entry: You are not allowed to triage this finding from Slack."
# Where Slack's response URLs live ("Handling user interaction in your Slack apps").
SLACK_RESPONSE_ORIGINS = ("https://hooks.slack.com/",)


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
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())

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
    headers = event.get("headers")
    if not isinstance(headers, dict) or not isinstance(event, dict):
        return _refused(Refused(400, "not a function URL request"))
    try:
        body = request_body(event)
        sig = verify(headers, body, deps.signing_secret(), deps.clock())
        interaction = parse(body)
        if isinstance(interaction, LinkClick):
            return http(200)
        record = _authorised(interaction, deps)
        if not deps.ledger.remember_request(sig, REQUEST_KEEP_S):
            return _seen_before(headers)
        return _act(interaction, record, deps)
    except Refused as refusal:
        return _refused(refusal)


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


def _authorised(interaction: Click | Submission, deps: TriageDeps) -> KeyRecord:
    """The key's record the interaction acts on, if the responder may act there.

    Raises:
        Refused: 403 for another workspace or channel; 403 for a user not allowed (who is told
            so, ephemerally); 404 for a message that is not the key's alert.
    """
    responder = interaction.responder
    reason = deps.policy().refusal(responder, interaction.channel_id)
    if reason is not None:
        get_logger().warning(
            "slack responder refused",
            extra={"reason": reason, "user_id": responder.user_id, "team_id": responder.team_id},
        )
        if reason == "user not allowed" and isinstance(interaction, Click):
            _tell(deps, interaction.response_url, NOT_ALLOWED)
        raise Refused(403, reason)
    record = deps.ledger.read_key(interaction.finding_id)
    ref = SlackRef(interaction.channel_id, interaction.message_ts)
    if record is None or record.slot is None or record.slot.ref != ref:
        raise Refused(404, "not the alert of one of this detector's findings")
    return record


def _tell(deps: TriageDeps, response_url: str, text: str) -> None:
    """An ephemeral answer, only to one of Slack's response URLs; a failure is only logged."""
    if not is_response_url(response_url, deps.response_origins):
        get_logger().warning("response_url not Slack's: not answered")
        return
    try:
        deps.slack.respond(response_url, text)
    except DetectorError as exc:
        get_logger().warning("ephemeral answer failed", extra={"error_type": type(exc).__name__})


def _act(interaction: Click | Submission, record: KeyRecord, deps: TriageDeps) -> dict[str, Any]:
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


# -- the job -----------------------------------------------------------------------------------


def run_job(job: dict[str, Any], deps: TriageDeps) -> str:
    """Carry out one triage job; returns what happened ("done", "unchanged", "gone").

    Raises:
        ExternalServiceError: a step failed after its retries (the job is retried by Lambda and
            finishes the steps left).
    """
    action = TriageAction(str(job["action"]))
    fid, job_id = str(job["finding_id"]), str(job["job"])
    at = datetime.fromisoformat(str(job["at"]))
    record = deps.ledger.read_key(fid)
    if record is None or record.slot is None or record.slot.ref is None:
        return "gone"
    by = responder_label(str(job.get("user_name") or ""), str(job["user_id"]))
    state = TriageState(action.workflow, by=by, at=at, note=str(job.get("text") or ""))
    if not deps.ledger.claim_triage(fid, state.as_dict(), action.workflow.value, job_id):
        get_logger().info("triage unchanged", extra={"job": job_id, "finding_id": fid})
        return "unchanged"
    claim = deps.ledger.begin_event(job_id, JOB_MARK, deps.lease_s)
    if claim.done or claim.token is None:
        return "unchanged"
    progress = claim.progress
    try:
        progress = _steps(record, action, state, progress, deps)
    except BaseException:
        deps.ledger.release_event(job_id, claim.token, progress)
        raise
    deps.ledger.finish_event(job_id, claim.token, progress)
    return "done"


def _steps(
    record: KeyRecord,
    action: TriageAction,
    state: TriageState,
    progress: Progress,
    deps: TriageDeps,
) -> Progress:
    assert record.slot is not None  # noqa: S101 - checked by the caller
    ref = record.slot.ref
    assert ref is not None  # noqa: S101
    present = record.open
    if not progress.finding_done:
        note = note_text(action, state.by, state.at or datetime.now(UTC), state.note)
        arn = (record.finding or {}).get("ProductArn") or product_arn(
            deps.partition, deps.region, record.account
        )
        identifier = {"Id": record.fid, "ProductArn": str(arn)}
        deps.workflow.set_workflow(
            record.account, identifier, action.workflow.value, note, NOTE_AUTHOR
        )
        progress = replace(progress, finding_done=True)
    if not progress.message_sent:
        text = reply_text(state, key_present=present)
        reply = SlackMessage(
            text=clean(f"{state.by} {action.verb} the finding", 300),
            blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
        )
        deps.slack.post(reply, thread=ref)
        progress = replace(progress, message_sent=True)
    if not progress.update_done:
        _redraw(record.fid, deps)
        progress = replace(progress, update_done=True)
    return progress


def _redraw(fid: str, deps: TriageDeps) -> None:
    """The alert as the ledger has it now: a later change than this job's wins, whichever job
    redraws last."""
    now = deps.ledger.read_key(fid)
    if now is None or now.shown is None or now.slot is None or now.slot.ref is None:
        return
    state = TriageState.from_dict(now.triage)
    drawn = with_triage(SlackMessage.from_payload(now.shown), fid, state, key_present=now.open)
    deps.slack.update(now.slot.ref, drawn)
