"""What the detector would post to Slack and file in Security Hub for recorded events, offline.

Built with the very functions the pipeline and the sweep use (:mod:`detector.domain.message`,
:mod:`detector.domain.finding`, the planner's notice groups), so a preview cannot say anything
the detector would not. What only a live run knows (IAM's answer, the account's name, the
channel, the key's first sighting, a posted alert's ts) is a labelled placeholder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.delivery import notice_group, refusal
from detector.domain.event import RootKeyEvent, finding_fields_sound
from detector.domain.finding import (
    FindingContext,
    build_finding,
    event_finding_id,
    observed_at,
    resolved,
)
from detector.domain.message import (
    SlackMessage,
    alert_links,
    build_message,
    post_body,
    resolution_message,
    sweep_digest,
    webhook_body,
    with_count,
)
from detector.domain.summary import summary_fields
from detector.domain.sweep_event import sweep_event
from detector.domain.verdict import Verdict, classify

# Slack's reference pages link each example to Block Kit Builder this way: the message's
# {"blocks": [...]} as URL-encoded JSON after the fragment mark ("View in Block Kit Builder",
# https://docs.slack.dev/reference/block-kit/blocks).
BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"


def placeholder(what: str) -> str:
    """A value only a live run knows, labelled so no one takes it for the real one."""
    return f"<placeholder: {what}>"


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What a preview assumes in place of what only a live run knows."""

    region: str = "us-east-1"
    partition: str = "aws"
    channel: str = placeholder("SLACK_CHANNEL_ID")
    # None: no name (Organizations not asked); the default marks where the name would go.
    account_name: str | None = placeholder("account name from AWS Organizations")
    iam: KeyState | None = None  # None: IAM confirms what the verdict expects
    iam_reason: str = placeholder("IAM's answer, in words")


@dataclass
class Story:
    """What earlier records of the same preview did: keys alerted, notice groups opened.

    A preview starts as if the ledger held nothing: a key's first record is its alert, and its
    later records reply in that alert's thread and redraw it.
    """

    alerts: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # fid: (source, seen)
    groups: dict[str, tuple[str, dict[str, Any], int]] = field(default_factory=dict)


def block_kit_builder_url(blocks: list[dict[str, Any]]) -> str:
    """A link that opens ``blocks`` in Slack's Block Kit Builder."""
    doc = json.dumps({"blocks": blocks}, separators=(",", ":"), ensure_ascii=False)
    return BLOCK_KIT_BUILDER + quote(doc, safe="")


def shown(message: SlackMessage) -> dict[str, Any]:
    """What a key's top-level alert is redrawn from: the message without its metadata."""
    return replace(message, metadata=None).payload()


def slack_calls(
    message: SlackMessage,
    channel: str,
    *,
    thread: str | None = None,
    redraw: tuple[str, SlackMessage] | None = None,
) -> dict[str, Any]:
    """A message's bot-mode calls (its post, and the redraw of its thread's top message) and
    its webhook body."""
    body = post_body(message, channel, thread)
    bot: list[dict[str, Any]] = [
        {
            "method": "chat.postMessage",
            "body": body,
            "block_kit_builder": block_kit_builder_url(body["blocks"]),
        }
    ]
    if redraw is not None:
        ts, drawing = redraw
        update = {"channel": channel, "ts": ts, **drawing.payload()}
        bot.append(
            {
                "method": "chat.update",
                "body": update,
                "block_kit_builder": block_kit_builder_url(update["blocks"]),
            }
        )
    return {"bot": bot, "webhook": {"body": webhook_body(message)}}


def confirmation(verdict: Verdict, assume: Assumptions) -> Confirmation:
    """IAM's assumed answer: what the verdict expects unless told otherwise."""
    if assume.iam is not None:
        return Confirmation(assume.iam, assume.iam_reason)
    state = KeyState.PRESENT if verdict.key_expected_present else KeyState.ABSENT
    return Confirmation(state, assume.iam_reason)


def preview_event(
    event: RootKeyEvent, source: str, assume: Assumptions, story: Story
) -> dict[str, Any]:
    """One record's preview: its verdict, its Slack calls and its finding (or why none)."""
    verdict = classify(event)
    out: dict[str, Any] = summary_fields(event, source) | {"verdict": verdict.value}
    if verdict is Verdict.IGNORED:
        return out | {"role": "ignored", "note": "ignored: nothing is posted or filed"}
    why = refusal(event)
    if why is not None:
        return out | {"role": "refused", "note": f"refused, nothing is posted or filed: {why}"}
    if verdict.key_expected_present is None:
        return out | _notice(event, verdict, source, assume, story)
    unfiled = finding_fields_sound(event)
    if unfiled is not None:
        return out | _unfiled(event, verdict, assume, unfiled)
    return out | _key_event(event, verdict, source, assume, story)


def _notice(
    event: RootKeyEvent, verdict: Verdict, source: str, assume: Assumptions, story: Story
) -> dict[str, Any]:
    """A notice: no finding; in bot mode one top-level message per account and hour."""
    message = build_message(
        event,
        verdict,
        None,
        links=alert_links(assume.region, event, None),
        account_name=_name(event, assume),
    )
    group = notice_group(event.account_id, event.event_time)
    note = "a notice has no finding: nothing is filed in Security Hub"
    first = story.groups.get(group)
    if first is None:
        story.groups[group] = (source, shown(message), 0)
        calls = slack_calls(message, assume.channel)
        return {"role": "notice", "slack": calls, "finding": None, "note": note}
    opened, top, joined = first
    story.groups[group] = (opened, top, joined + 1)
    ts = placeholder(f"ts of the account's notice of this hour ({opened})")
    drawing = with_count(SlackMessage.from_payload(top), joined + 1)
    calls = slack_calls(message, assume.channel, thread=ts, redraw=(ts, drawing))
    return {"role": "notice-reply", "slack": calls, "finding": None, "note": note}


def _unfiled(
    event: RootKeyEvent, verdict: Verdict, assume: Assumptions, unfiled: str
) -> dict[str, Any]:
    """A root key event whose finding cannot be filed: a message of its own says why."""
    message = build_message(
        event,
        verdict,
        None,
        links=alert_links(assume.region, event, None),
        account_name=_name(event, assume),
        unfiled=unfiled,
    )
    return {
        "role": "notice",
        "slack": slack_calls(message, assume.channel),
        "finding": None,
        "note": f"no finding can be filed: {unfiled}",
    }


def _key_event(
    event: RootKeyEvent, verdict: Verdict, source: str, assume: Assumptions, story: Story
) -> dict[str, Any]:
    """A root key's event: its finding, and its alert or its reply in the alert's thread."""
    fid = event_finding_id(event)
    assert fid is not None  # noqa: S101 - the caller checked the account id
    observed = observed_at(event, verdict)
    earlier = story.alerts.get(fid)
    first_seen = earlier[1] if earlier else observed
    confirmed = confirmation(verdict, assume)
    ctx = FindingContext(
        assume.region,
        fid,
        observed,
        first_seen,
        partition=assume.partition,
        account_name=_name(event, assume),
    )
    finding = build_finding(event, verdict, confirmed, ctx)
    message = build_message(
        event,
        verdict,
        confirmed,
        links=alert_links(assume.region, event, fid),
        finding_id=fid,
        account_name=_name(event, assume),
    )
    if earlier is None:
        story.alerts[fid] = (source, observed)
        if verdict.is_lifecycle:
            _first_seen_unknown(finding)
        return {"role": "alert", "slack": slack_calls(message, assume.channel), "finding": finding}
    ts = placeholder(f"ts of the key's alert ({earlier[0]})")
    redraw = (ts, SlackMessage.from_payload(shown(message))) if verdict.is_lifecycle else None
    calls = slack_calls(message, assume.channel, thread=ts, redraw=redraw)
    return {"role": "reply", "slack": calls, "finding": finding}


def _first_seen_unknown(finding: dict[str, Any]) -> None:
    """A key's later step seen first: when the key was first seen is the ledger's to say."""
    label = placeholder(
        f"when the detector first saw this key (its ledger); {finding['UpdatedAt']} if never"
    )
    finding["FirstObservedAt"] = finding["CreatedAt"] = label


def _name(event: RootKeyEvent, assume: Assumptions) -> str | None:
    return assume.account_name if event.account_id else None


# -- the daily sweep -----------------------------------------------------------------------


def preview_sweep(
    counts: dict[str, int],
    failed: list[tuple[str, str]],
    account: str,
    now: datetime,
    assume: Assumptions,
    *,
    gone: str,
) -> dict[str, Any]:
    """The sweep's own messages: its digest, the alert for a key no event told of, and the
    resolution of a key gone (with the finding update each files); ``gone`` is the sweep's
    reason for a resolution (:data:`detector.sweep.GONE`)."""
    digest = sweep_digest(counts, failed)
    found = sweep_event(account, now)
    alert = preview_event(found, f"sweep of {account}", assume, Story())
    fid = alert["finding"]["Id"]
    resolution = resolution_message(account, assume.account_name, fid)
    ts = placeholder("ts of the key's alert")
    return {
        "digest": {
            "slack": slack_calls(digest, assume.channel),
            "finding": None,
            "note": "posted once per sweep that alerted, resolved or failed; no finding",
        },
        "key_found": {**alert, "note": "a root key IAM reports and no event told of"},
        "key_gone": {
            "slack": slack_calls(resolution, assume.channel, thread=ts),
            "finding": resolved(alert["finding"], now, gone),
            "note": "the key's open finding resolved; a reply in its alert's thread",
        },
    }
