"""The channel page's mrkdwn and Block Kit drawing (sandbox.slack_page): exact cases and
properties over arbitrary, untrusted text."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.domain.text import clean, mrkdwn
from sandbox.slack_page import Post, render_channel, render_mrkdwn

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
EPOCH = int(datetime(2026, 12, 2, 9, 15, 40, tzinfo=UTC).timestamp())
ALLOWED_TAGS = {"b", "i", "s", "code", "pre", "blockquote", "br", "a", "span", "time"}
ALLOWED_ATTRS = {"href", "rel", "class", "datetime", "title"}


class _Reader(HTMLParser):
    """Tags, attributes and visible text of a fragment (``<br>`` read as a newline)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def read(fragment: str) -> _Reader:
    reader = _Reader()
    reader.feed(fragment)
    reader.close()
    return reader


def shown(fragment: str) -> str:
    return "".join(read(fragment).parts)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold* _italic_ ~gone~", "<b>bold</b> <i>italic</i> <s>gone</s>"),
        ("`*not bold*`", "<code>*not bold*</code>"),
        ("```a &lt;b&gt;```", "<pre>a &lt;b&gt;</pre>"),
        ("snake_case_name", "snake_case_name"),  # no span inside a word
        ("*\u200bnot bold*\u200b", "*\u200bnot bold*\u200b"),  # the detector's defeat holds
        ("`\u200bnot code`\u200b", "`\u200bnot code`\u200b"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("a &amp; b &lt;c&gt;", "a &amp; b &lt;c&gt;"),
        ("&gt; quoted\nafter", "<blockquote>quoted</blockquote>after"),
        (":warning: :not_an_emoji: :\u200bwarning:", "\u26a0\ufe0f :not_an_emoji: :\u200bwarning:"),
        ("<!here> <@U0SANDBOX>", '<span class="mention special">@here</span> '),
    ],
)
def test_mrkdwn_is_drawn_as_slack_draws_it(text: str, html: str) -> None:
    assert render_mrkdwn(text, now=NOW).startswith(html)


def test_links_show_their_label_and_only_web_urls_become_links() -> None:
    out = read(render_mrkdwn("<https://a.example/x?y=1&amp;z=2|the &lt;label&gt;>", now=NOW))
    assert out.tags == [
        ("a", {"href": "https://a.example/x?y=1&z=2", "rel": "noopener noreferrer nofollow"})
    ]
    assert "".join(out.parts) == "the <label>"
    for url in ("javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//x.example"):
        out = read(render_mrkdwn(f"<{url}|click>", now=NOW))
        assert [t for t, _ in out.tags] == []
        assert "".join(out.parts) == "click"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{date_short_pretty} {time_secs}", "today 9:15:40 AM"),
        ("{date_num} {time}", "2026-12-02 9:15 AM"),
        ("{date_long}", "Wednesday, December 2nd, 2026"),
        ("{date}", "December 2nd, 2026"),
        ("{ago}", "14 minutes ago"),
        ("{no_such_token}", "the fallback"),
    ],
)
def test_dates_are_drawn_in_the_reader_zone_or_as_their_fallback(
    pattern: str, expected: str
) -> None:
    assert shown(render_mrkdwn(f"<!date^{EPOCH}^{pattern}|the fallback>", now=NOW)) == expected
    assert shown(render_mrkdwn(f"<!date^not-a-number^{pattern}|the fallback>", now=NOW)) == (
        "the fallback"
    )


def test_a_thread_is_drawn_under_its_parent_and_metadata_is_not_drawn() -> None:
    def message(ts: str, text: str) -> dict[str, object]:
        return {"ts": ts, "text": text, "metadata": {"event_type": "secret_marker"}}

    page = render_channel(
        workspace="W",
        channels={"C1": "alerts"},
        channel_id="C1",
        posts=[
            Post(
                message(f"{EPOCH}.000001", "parent"),
                "bot",
                is_app=True,
                replies=(Post(message(f"{EPOCH + 60}.000001", "child"), "bot", is_app=True),),
            )
        ],
        now=NOW,
    )
    assert page.index("parent") < page.index("1 reply") < page.index("child")
    assert '<section class="thread"' in page
    assert "secret_marker" not in page
    folded = render_channel(
        workspace="W",
        channels={"C1": "alerts"},
        channel_id="C1",
        posts=[Post(message("1.1", "parent"), "bot", replies=(Post(message("2.2", "c"), "b"),))],
        show_replies=False,
        now=NOW,
    )
    assert "1 reply" in folded
    assert '<section class="thread"' not in folded


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_becomes_only_the_renderer_own_markup(text: str) -> None:
    """Whatever a message holds, the page holds no tag or attribute it did not choose, and a
    link is never anything but http(s)."""
    out = read(render_mrkdwn(text, now=NOW))
    for tag, attrs in out.tags:
        assert tag in ALLOWED_TAGS
        assert set(attrs) <= ALLOWED_ATTRS
        if "href" in attrs:
            assert attrs["href"].startswith(("http://", "https://"))
    assert "<script" not in render_mrkdwn(text, now=NOW).lower()


PLAIN = st.text(
    alphabet=st.characters(
        blacklist_characters="*_~`<>&:\ue000\ue001", blacklist_categories=("Cs",)
    ),
    max_size=200,
).filter(lambda t: "http" not in t.lower())


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_text_without_mrkdwn_is_shown_exactly_as_written(text: str) -> None:
    assert shown(render_mrkdwn(text, now=NOW)) == text


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_an_attacker_text_the_detector_escaped_is_shown_verbatim_and_inert(text: str) -> None:
    """The detector's mrkdwn() and this page together: what the attacker typed (cleaned) is
    what the reader sees, with no bold, link, code, emoji or mention made of it."""
    escaped = mrkdwn(text, 300)
    out = read(render_mrkdwn(escaped, now=NOW))
    assert {tag for tag, _ in out.tags} <= {"blockquote"}  # a leading ">" quotes, harmlessly
    seen = "".join(out.parts).replace("\u200b", "")
    expected = clean(text, 300).replace("\u200b", "")
    assert seen == expected.removeprefix(">").removeprefix(" ") or seen == expected


def test_a_longest_message_of_unpaired_marks_draws_in_reasonable_time() -> None:
    """40,000 characters (chat.postMessage's most) of marks that never pair: the page must
    not take quadratic time over them (a span is bounded in length)."""
    text = "*a _b ~c " * 4444
    started = time.perf_counter()
    out = render_mrkdwn(text, now=NOW)
    assert time.perf_counter() - started < 5.0
    assert "<b>" not in out
