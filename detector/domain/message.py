"""Verdict + event -> Slack Block Kit message (slack_sdk.models.blocks) with a plain fallback.

slack_sdk.models is a pure data model: building blocks with it lets Slack's own limits be
checked (``to_dict`` raises SlackObjectFormationError) without any network code here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from detector.controls import ROOT_ACCESS_KEYS, Control
from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.event import InputForm, RootKeyEvent, untrusted_field
from detector.domain.finding import cloudtrail_event_url, securityhub_finding_url
from detector.domain.sweep_event import SWEEP_RESOLVED, sweep_key_inactive
from detector.domain.text import clean, mask_key, mrkdwn, truncate
from detector.domain.verdict import Verdict

METADATA_EVENT_TYPE = "root_key_detector_event"
MAX_FALLBACK = 3000  # what a notification shows; Slack's own cap is 40,000
MAX_FIELD_VALUE = 300  # visible chars of one untrusted value
MAX_UNTRUSTED_SHOWN = 10  # JSON paths named in the "could not be trusted" line

_HEADLINES: dict[Verdict, tuple[str, str]] = {
    Verdict.CREATED: (":rotating_light:", "Root access key created"),
    Verdict.DELETED: (":white_check_mark:", "Root access key deleted"),
    Verdict.DEACTIVATED: (":warning:", "Root access key deactivated (it still exists)"),
    Verdict.ACTIVATED: (":rotating_light:", "Root access key re-activated"),
    Verdict.USER_KEY: (":eyes:", "Root user created an access key for an IAM user"),
    Verdict.CREATE_FAILED: (":eyes:", "Root user tried to create an access key"),
    Verdict.IGNORED: ("", "Event ignored"),
}
_STATE_TEXT: dict[KeyState, str] = {
    KeyState.PRESENT: ":red_circle: PRESENT",
    KeyState.ABSENT: ":large_green_circle: ABSENT",
    KeyState.UNCONFIRMED: ":large_yellow_circle: UNCONFIRMED",
}


@dataclass(frozen=True, slots=True)
class Links:
    """Console deep links for the buttons (built by the caller, which knows the region)."""

    finding: str | None = None
    cloudtrail_event: str | None = None


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message ready for chat.postMessage / chat.update / an incoming webhook."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    # Slack message metadata: lets a reader (or a reconciliation) tie a message to its event.
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SlackMessage:
        """The message a :meth:`payload` describes (the ledger keeps what an alert shows)."""
        blocks = [b for b in Block.parse_all(payload.get("blocks") or []) if b is not None]
        metadata = payload.get("metadata")
        return cls(
            text=str(payload.get("text", "")),
            blocks=blocks,
            metadata=metadata if isinstance(metadata, dict) else None,
        )

    def payload(self) -> dict[str, Any]:
        """JSON-ready text and blocks; raises SlackObjectFormationError past Slack limits."""
        out: dict[str, Any] = {"text": self.text, "blocks": [b.to_dict() for b in self.blocks]}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def alert_links(region: str, event: RootKeyEvent, fid: str | None) -> Links:
    """The alert's buttons: the finding (when it has one) and the CloudTrail event (not for a
    sweep's event, nor for an id the record garbled)."""
    trail = (
        None
        if event.form is InputForm.SWEEP or untrusted_field(event, "eventID")
        else cloudtrail_event_url(region, event.event_id)
    )
    return Links(
        finding=securityhub_finding_url(region, fid) if fid else None, cloudtrail_event=trail
    )


def post_body(message: SlackMessage, channel: str, thread_ts: str | None = None) -> dict[str, Any]:
    """chat.postMessage's body for ``message`` (a thread reply with ``thread_ts``)."""
    payload = message.payload()
    params: dict[str, Any] = {
        "channel": channel,
        "text": payload["text"],
        "blocks": payload["blocks"],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if thread_ts is not None:
        params["thread_ts"] = thread_ts
    if "metadata" in payload:
        params["metadata"] = payload["metadata"]
    return params


def webhook_body(message: SlackMessage) -> dict[str, Any]:
    """An incoming webhook's body (no channel, thread or metadata: webhooks take none)."""
    payload = message.payload()
    return {"text": payload["text"], "blocks": payload["blocks"], "unfurl_links": False}


def headline(verdict: Verdict) -> str:
    """Short plain title of a verdict (used in logs, fallback text and replies)."""
    return _HEADLINES[verdict][1]


def build_message(
    event: RootKeyEvent,
    verdict: Verdict,
    confirmation: Confirmation | None,
    *,
    links: Links | None = None,
    account_name: str | None = None,
    finding_id: str | None = None,
    unfiled: str | None = None,
    control: Control = ROOT_ACCESS_KEYS,
) -> SlackMessage:
    """Build the alert (or notice) for one classified event (``control``: what it reports).

    Every value that came from the event is cleaned, truncated and escaped; the key id is
    masked (the full id is in the finding). The fields the record held in a shape that could
    not be trusted (``event.untrusted``) are named; ``unfiled`` says why no finding was filed
    (e.g. :func:`detector.domain.event.finding_fields_sound`'s answer).
    """
    emoji, title = _HEADLINES[verdict]
    if event.form is InputForm.SWEEP and event.access_key_id:
        title = "Root access key found by the sweep"
    if sweep_key_inactive(event):
        emoji, title = ":warning:", "Root access key found by the sweep (inactive)"
    account = event.account_id or "unknown account"
    named = f"{account} ({mrkdwn(account_name, 80)})" if account_name else account
    key = mask_key(event.access_key_id)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{title}", emoji=True)),
        SectionBlock(
            text=MarkdownTextObject(text=f"{emoji} {_summary(event, verdict, named, control)}")
        ),
        SectionBlock(fields=_fields(event, confirmation, named, key)[:10]),
    ]
    doubts = _doubts(event, unfiled)
    if doubts:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=doubts)))
    buttons = _buttons(links)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    context = [f"Event ID {_value(event.event_id, 64)}"]
    if finding_id:
        context.append(f"Finding {_value(finding_id, 200)}")
    if verdict.key_expected_present is not None:
        context.append(control.context_line)
    blocks.append(DividerBlock())
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))

    state = f" · IAM: {confirmation.state.value}" if confirmation else ""
    text = clean(f"{title} in account {account} ({key}){state}", MAX_FALLBACK)
    metadata = {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {
            "event_id": mrkdwn(event.event_id, 128),
            "verdict": verdict.value,
            "finding_id": finding_id or "",
        },
    }
    return SlackMessage(text=mrkdwn(text, MAX_FALLBACK), blocks=blocks, metadata=metadata)


def _summary(event: RootKeyEvent, verdict: Verdict, named: str, control: Control) -> str:
    """The message's first line: who did what, in which account, and what it means."""
    who = "The root user" + (" (AssumeRoot session)" if event.assumed_root else "")
    summary = f"*{who} of account {named} {verdict.action}.*"
    if event.form is InputForm.SWEEP:
        summary = (
            f"*Daily sweep: IAM reports that the root user of account {named} holds an access "
            "key.* No CloudTrail event of its creation reached the detector (made before it was "
            "deployed, or not delivered)."
        )
    if event.form is InputForm.SWEEP and event.access_key_id:
        summary = f"*Daily sweep: the root user of account {named} holds an access key.*"
        summary += " It is *inactive* (it still exists)." if sweep_key_inactive(event) else ""
    if verdict is Verdict.USER_KEY and event.target_user_name:
        summary += f" Target IAM user: {mrkdwn(event.target_user_name, 64)}."
    if verdict is Verdict.CREATE_FAILED:
        summary += f" It failed: {mrkdwn(event.error_code or 'error', 64)}"
        if event.error_message:
            summary += f" ({mrkdwn(event.error_message, MAX_FIELD_VALUE)})"
        summary += "."
    if verdict is not Verdict.USER_KEY and verdict is not Verdict.CREATE_FAILED:
        summary += f" {_severity(control)}."
    return summary


def _severity(control: Control) -> str:
    """The finding's severity, and whose rating it is."""
    rated = control.severity_original
    if rated == control.framework_rating:
        return f"Severity {rated} ({control.framework})"
    return (
        f"Severity {rated} (as configured; {control.framework} rates it {control.framework_rating})"
    )


def _fields(
    event: RootKeyEvent, confirmation: Confirmation | None, named: str, key: str
) -> list[MarkdownTextObject]:
    """The message's labelled fields (Slack shows at most 10 in a section)."""
    fields = [
        _field("Account", named),
        _field("Access key", mrkdwn(key, 16)),
        _field(
            "When",
            "_could not be read_"
            if untrusted_field(event, "eventTime")
            else _when(event.event_time),
        ),
        _field("Source IP", _value(event.source_ip, 64)),
        _field("User agent", _value(event.user_agent, MAX_FIELD_VALUE)),
        _field("MFA", _flag(event.mfa_authenticated)),
        _field(
            "Session",
            ("AssumeRoot (centralized root access)" if event.assumed_root else "root credentials")
            + (", console" if event.console_session else ""),
        ),
        _field("Event", f"{mrkdwn(event.event_name, 64)} in {_value(event.aws_region, 32)}"),
    ]
    if confirmation is not None:
        fields.insert(
            2,
            _field(
                "IAM confirmation",
                f"{_STATE_TEXT[confirmation.state]} ({mrkdwn(confirmation.reason, 200)})",
            ),
        )
    return fields


def _buttons(links: Links | None) -> list[ButtonElement]:
    """Buttons to the finding and the CloudTrail event, for the links the caller has."""
    buttons: list[ButtonElement] = []
    if links and links.finding:
        buttons.append(
            ButtonElement(
                text="Open finding in Security Hub",
                url=links.finding,
                action_id="open_finding",
                style="primary",
            )
        )
    if links and links.cloudtrail_event:
        buttons.append(
            ButtonElement(
                text="Open CloudTrail event", url=links.cloudtrail_event, action_id="open_event"
            )
        )
    return buttons


def _doubts(event: RootKeyEvent, unfiled: str | None) -> str:
    """What the alert could not trust, and why no finding was filed (empty when all is sound)."""
    lines: list[str] = []
    if event.untrusted:
        shown = ", ".join(event.untrusted[:MAX_UNTRUSTED_SHOWN])
        more = len(event.untrusted) - MAX_UNTRUSTED_SHOWN
        lines.append(
            ":warning: *Fields this record holds in a shape that cannot be trusted* (read as "
            f"absent): {mrkdwn(shown, 1200)}" + (f" and {more} more" if more > 0 else "")
        )
    if unfiled:
        lines.append(f":warning: *No Security Hub finding was filed:* {mrkdwn(unfiled, 1000)}")
    return "\n".join(lines)


def _field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=f"*{label}*\n{value}")


def _value(text: str | None, limit: int) -> str:
    if not text:
        return "_not recorded_"
    return mrkdwn(text, limit) or "_not recorded_"


def _flag(value: bool | None) -> str:
    return {True: "yes", False: "*no*", None: "_not recorded_"}[value]


def _when(ts: datetime) -> str:
    # Slack renders <!date^epoch^...|fallback> in the reader's own time zone.
    epoch = int(ts.timestamp())
    fallback = ts.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def with_count(message: SlackMessage, more: int) -> SlackMessage:
    """A notice group's top-level message, with how many more notices its thread holds."""
    if more <= 0:
        return message
    plural = "notice" if more == 1 else "notices"
    note = ContextBlock(
        elements=[
            MarkdownTextObject(
                text=f":speech_balloon: *{more} more {plural}* for this account this hour: "
                "see the thread."
            )
        ]
    )
    return SlackMessage(
        text=clean(f"{message.text} (+{more} more in the thread)", MAX_FALLBACK),
        blocks=[*message.blocks, note],
        metadata=message.metadata,
    )


# chat.update / chat.postMessage answers meaning the key's top-level alert is gone or frozen: it
# was deleted (message_not_found, thread_not_found) or Slack no longer lets it be edited.
ALERT_GONE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"}
)


def replacement(message: SlackMessage) -> SlackMessage:
    """A new top-level message for a key whose alert was deleted or can no longer be edited."""
    note = ContextBlock(
        elements=[
            MarkdownTextObject(
                text=":warning: This key's earlier alert was deleted or can no longer be edited: "
                "this message takes its place, and later events reply here."
            )
        ]
    )
    return SlackMessage(
        text=clean(f"{message.text} (replaces a deleted alert)", MAX_FALLBACK),
        blocks=[*message.blocks, note],
        metadata=message.metadata,
    )


def without_ledger(message: SlackMessage, code: str) -> SlackMessage:
    """A root key's alert sent while the delivery ledger cannot be reached."""
    note = ContextBlock(
        elements=[
            MarkdownTextObject(
                text=f":warning: The detector's delivery ledger could not be reached "
                f"({mrkdwn(code, 64)}): this alert may be repeated, and its finding is filed once "
                "the ledger answers again."
            )
        ]
    )
    return SlackMessage(
        text=clean(f"{message.text} (duplicates possible: ledger unavailable)", MAX_FALLBACK),
        blocks=[*message.blocks, note],
        metadata=message.metadata,
    )


def resolution_message(account: str, account_name: str | None, finding_id: str) -> SlackMessage:
    """The sweep found the key gone: a reply (or post) saying the finding is resolved."""
    named = f"{account} ({mrkdwn(account_name, 80)})" if account_name else account
    text = (
        f":white_check_mark: *Resolved by the daily sweep:* IAM reports that the root user of "
        f"account {named} holds no access key any more. The finding is archived (Compliance "
        "PASSED)."
    )
    return SlackMessage(
        text=f"Root access key gone in account {account}: finding resolved",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=text)),
            ContextBlock(elements=[MarkdownTextObject(text=f"Finding {_value(finding_id, 200)}")]),
        ],
        metadata={
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": {
                "event_id": "",
                "verdict": SWEEP_RESOLVED,
                "finding_id": finding_id,
            },
        },
    )


def sweep_digest(
    counts: dict[str, int],
    failed: list[tuple[str, str]],
    broken: list[tuple[str, str]] | None = None,
) -> SlackMessage:
    """One message per sweep that changed anything or found a dependency broken: counts, the
    accounts it could not read, and the accounts whose trail, rule or Security Hub is not
    as the detector needs (``broken``: account, what is wrong)."""
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    lines = [f"*Root access key sweep:* {summary}."]
    for account, reason in failed[:20]:
        lines.append(f"• {account}: {mrkdwn(reason, 200)}")
    if len(failed) > 20:
        lines.append(f"• … and {len(failed) - 20} more accounts not read")
    broken = broken or []
    if broken:
        lines.append(f"*What the detector depends on:* {len(broken)} account(s) need attention.")
    for account, reason in broken[:20]:
        lines.append(f"• {account}: {mrkdwn(reason, 300)}")
    if len(broken) > 20:
        lines.append(f"• … and {len(broken) - 20} more accounts")
    return SlackMessage(
        text=clean(f"Root access key sweep: {summary}", MAX_FALLBACK),
        blocks=[SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 2900)))],
    )
