"""The Slack emulator's channel page, fetched over HTTP after the detector's real posts."""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.error import HTTPError

import pytest
from slack_sdk import WebClient

from detector import handler
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN
from sandbox.stack import SandboxStack, sample

pytestmark = pytest.mark.usefixtures("detector_env")


@dataclass
class Node:
    """An element of the page: its tag, attributes, children and text."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def find(self, tag: str | None = None, css: str | None = None) -> list[Node]:
        """Descendants with this tag and class, in document order."""
        found = []
        for child in self.children:
            classes = child.attrs.get("class", "").split()
            if (tag is None or child.tag == tag) and (css is None or css in classes):
                found.append(child)
            found.extend(child.find(tag, css))
        return found


class _Tree(HTMLParser):
    VOID = frozenset({"br", "hr", "meta", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for node in self.stack[1:]:  # every open element holds the text
            node.parts.append(data)


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    html: str
    root: Node

    def messages(self) -> list[Node]:
        return [n for n in self.root.find("article") if "message" in n.attrs.get("class", "")]


def fetch(url: str) -> Page:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - 127.0.0.1
            status, headers, body = resp.status, dict(resp.headers), resp.read()
    except HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    tree = _Tree()
    text = body.decode("utf-8")
    tree.feed(text)
    return Page(status, headers, text, tree.root)


def _handle(sandbox: SandboxStack, *records: dict[str, Any]) -> None:
    for record in records:
        sandbox.put_cloudtrail_event(record)
        for event in sandbox.receive_routed():
            handler.lambda_handler(event, None)


def _later(create: dict[str, Any], name: str, seconds: int, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(create))
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record.update(
        eventName=name,
        eventID=str(uuid.uuid4()),
        eventTime=(when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        responseElements=None,
        **changes,
    )
    return record


def _fields(message: Node) -> dict[str, str]:
    """Each field's label -> its value, as a reader sees them."""
    out = {}
    for cell in message.find("div", "field"):
        (label,) = cell.find("b")[:1]
        out[label.text] = cell.text.removeprefix(label.text).strip()
    return out


def test_the_alert_and_its_thread_read_as_slack_would_show_them(sandbox: SandboxStack) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key", now=datetime.now(UTC) - timedelta(minutes=5))
    _handle(sandbox, create)
    (alert,) = sandbox.slack.top_level(SLACK_CHANNEL)

    page = fetch(sandbox.slack.page_url(SLACK_CHANNEL))
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.root.find("h1")[0].text == "# security-alerts"
    (message,) = page.messages()
    assert message.find("span", "author")[0].text == "root-key-detector"
    assert message.find("span", "badge")[0].text == "APP"
    assert message.find("div", "header")[0].text == "Root access key created"
    summary = message.find("div", "text")[0]
    assert summary.find("b")[0].text == (
        "The root user of account 123456789012 created an access key."
    )
    assert summary.text.startswith("\U0001f6a8 ")  # :rotating_light: drawn as the emoji
    fields = _fields(message)
    assert fields["Account"] == "123456789012"
    assert fields["Access key"] == "AKIA…7Q2X"
    assert fields["IAM confirmation"].startswith("\U0001f534 PRESENT")
    assert fields["Source IP"] == "203.0.113.45"
    assert fields["MFA"] == "yes"
    # The date is drawn from <!date^...> in the reader's time (UTC here), not its fallback.
    (when,) = _fields_nodes(message, "When")[0].find("time")
    moment = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert when.attrs["datetime"] == create["eventTime"]
    assert fields["When"].endswith(f"{moment.minute:02d}:{moment.second:02d} {moment:%p}")
    assert "UTC" not in fields["When"]
    assert "<!date" not in page.html
    buttons = {b.text: b.attrs for b in message.find("a", "button")}
    assert set(buttons) == {"Open finding in Security Hub", "Open CloudTrail event"}
    assert "primary" in buttons["Open finding in Security Hub"]["class"]
    assert buttons["Open finding in Security Hub"]["href"].startswith(
        "https://us-east-1.console.aws.amazon.com/securityhub/"
    )
    assert create["eventID"] in buttons["Open CloudTrail event"]["href"]
    context = message.find("div", "context")[0].text
    assert f"Event ID {create['eventID']}" in context
    assert "root_key_detector_event" not in page.html  # message metadata is not shown

    deactivate = _later(
        create, "UpdateAccessKey", 30, requestParameters={"accessKeyId": "AKIAZSANDBOXDEMO7Q2X"}
    )
    deactivate["requestParameters"]["status"] = "Inactive"
    delete = _later(
        create, "DeleteAccessKey", 60, requestParameters={"accessKeyId": "AKIAZSANDBOXDEMO7Q2X"}
    )
    sandbox.aws.set_root_key_present(True)
    _handle(sandbox, deactivate)
    sandbox.aws.set_root_key_present(False)
    _handle(sandbox, delete)

    page = fetch(sandbox.slack.page_url(SLACK_CHANNEL))
    (post,) = page.root.find("div", "post")  # one top-level message, its replies within it
    parent, *replies = list(post.find("article"))
    assert "reply" not in parent.attrs["class"]
    assert parent.find("div", "header")[0].text == "Root access key deleted"  # chat.update
    assert parent.find("span", "edited")[0].text == "(edited)"
    assert post.find("span", "replies")[0].text == "2 replies"
    (thread,) = post.find("section", "thread")
    assert [r.find("div", "header")[0].text for r in thread.find("article")] == [
        "Root access key deactivated (it still exists)",
        "Root access key deleted",
    ]
    assert all("reply" in r.attrs["class"] for r in replies)
    assert _fields(replies[1])["IAM confirmation"].startswith("\U0001f7e2 ABSENT")

    # One thread (asked for by a reply's ts), and the same thread folded.
    reply_ts = sandbox.slack.replies(SLACK_CHANNEL, alert.ts)[0].ts
    one = fetch(sandbox.slack.page_url(SLACK_CHANNEL, ts=reply_ts))
    assert next(m.attrs["data-ts"] for m in one.messages()) == alert.ts
    folded = fetch(sandbox.slack.page_url(SLACK_CHANNEL, ts=alert.ts, replies=False))
    assert len(folded.messages()) == 1
    assert folded.root.find("span", "replies")[0].text == "2 replies"


def test_untrusted_text_from_an_event_is_shown_as_text_never_as_markup(
    sandbox: SandboxStack,
) -> None:
    sandbox.aws.set_root_key_present(True)
    create = sample("root_create_access_key")
    create["userAgent"] = "<script>alert(1)</script> *bold* <https://evil.example|click>"
    _handle(sandbox, create)

    page = fetch(sandbox.slack.page_url(SLACK_CHANNEL))
    (message,) = page.messages()
    agent = _fields(message)["User agent"]
    # Shown as typed (the detector's zero-width spaces aside), and nothing of it is markup.
    assert agent.replace("\u200b", "") == create["userAgent"]
    assert "<script" not in page.html.lower()
    assert not message.find("script")
    assert [a.attrs["href"] for a in message.find("a") if "evil" in a.attrs["href"]] == []
    # Only the label is bold: the value's *bold* stays as typed.
    assert [b.text for b in _fields_nodes(message, "User agent")[0].find("b")] == ["User agent"]


def _fields_nodes(message: Node, label: str) -> list[Node]:
    return [c for c in message.find("div", "field") if c.text.startswith(label)]


def test_markup_posted_straight_to_slack_is_escaped_and_only_web_links_are_links(
    sandbox: SandboxStack,
) -> None:
    client = WebClient(token=SLACK_TOKEN, base_url=sandbox.slack.base_url)
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    client.chat_postMessage(
        channel=SLACK_CHANNEL,
        text=evil,
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": evil}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{evil} <javascript:x|run>"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "<b>press</b>"},
                        "url": "javascript:alert(3)",
                    }
                ],
            },
        ],
    )
    client.chat_postMessage(channel=SLACK_CHANNEL, text=f"no blocks: {evil}")

    page = fetch(sandbox.slack.page_url(SLACK_CHANNEL))
    assert "<script" not in page.html.lower()
    assert "<img" not in page.html.lower()
    assert not page.root.find("script")
    assert not page.root.find("img")
    first, second = page.messages()
    assert first.find("div", "header")[0].text == evil
    assert evil in first.find("div", "text")[0].text
    assert [a.attrs.get("href") for a in first.find("a")] == []  # javascript: is never a link
    assert first.find(css="button")[0].text == "<b>press</b>"
    assert second.find("div", "text")[0].text == f"no blocks: {evil}"


def test_an_unknown_channel_is_a_404_page_and_the_page_is_not_part_of_the_api(
    sandbox: SandboxStack,
) -> None:
    missing = fetch(f"{sandbox.slack.root_url}/channel/%3Cscript%3E")
    assert missing.status == 404
    assert "<script" not in missing.html
    assert "No channel '<script>'" in missing.root.find("p")[0].text
    assert fetch(sandbox.slack.page_url("#security-alerts")).status == 200  # by name too
    assert fetch(sandbox.slack.page_url(SLACK_CHANNEL, ts="1.000001")).status == 404
    assert sandbox.slack.requests == []  # neither logged nor counted as Web API calls
