"""A channel drawn as Slack draws it: the HTML of the Slack emulator's read-only page.

It renders what the detector posts: Block Kit headers, sections (text and fields), context,
dividers and actions with link buttons, and mrkdwn (bold, italic, strike, code, quotes, links,
mentions, ``<!date^...>`` dates, emoji names), with each thread's replies under their parent.
Message text is untrusted: every character of it is HTML-escaped, only http(s) URLs become links,
and the page carries a Content-Security-Policy that runs no script at all.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["CONTENT_SECURITY_POLICY", "Post", "render_channel", "render_mrkdwn", "render_not_found"]

#: The page is HTML and CSS only: no script, no frame, no request to anywhere else.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

JSONDict = Mapping[str, Any]

# The emoji names the detector uses, and a few common ones; any other name is shown as typed.
_EMOJI: Final[Mapping[str, str]] = {
    "rotating_light": "\U0001f6a8",
    "white_check_mark": "\u2705",
    "warning": "\u26a0\ufe0f",
    "eyes": "\U0001f440",
    "red_circle": "\U0001f534",
    "large_green_circle": "\U0001f7e2",
    "large_yellow_circle": "\U0001f7e1",
    "speech_balloon": "\U0001f4ac",
    "lock": "\U0001f512",
    "key": "\U0001f511",
    "x": "\u274c",
    "information_source": "\u2139\ufe0f",
    "heavy_check_mark": "\u2714\ufe0f",
    "bell": "\U0001f514",
    "memo": "\U0001f4dd",
    "no_entry": "\u26d4",
}

# Characters the renderer uses internally as placeholders; never taken from the message.
_SLOT_OPEN: Final = "\ue000"
_SLOT_CLOSE: Final = "\ue001"
_PRIVATE: Final = re.compile("[\ue000\ue001]")
_SLOT: Final = re.compile(f"{_SLOT_OPEN}(\\d+){_SLOT_CLOSE}")

_ANGLED: Final = re.compile(r"<([^<>\n]*)>")
_PRE: Final = re.compile(r"```(.+?)```", re.DOTALL)
# Like the spans below, a code span does not open on a space or a zero-width space.
_CODE: Final = re.compile("`(?=[^\\s\u200b`])([^`\\n]+)`")
_EMOJI_NAME: Final = re.compile(r":([a-z0-9_+-]+):")
_BARE_URL: Final = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")
# A mrkdwn span: the mark after a start, space or punctuation, not followed by a space (nor by
# the zero-width space the detector adds to defeat pairing); closed by the same mark after a
# non-space and before an end, space or punctuation. A span is at most _SPAN_MAX characters
# long, so that a line of unpaired marks costs linear time, not quadratic.
_SPAN_MAX: Final = 1000
_SPAN: Final = (
    "(?<![\\w{m}])\\{m}(?=[^\\s\u200b{m}])([^\\n]{{0,{most}}}?[^\\s\u200b{m}])\\{m}(?![\\w{m}])"
)
_MARKS: Final = (("*", "b"), ("_", "i"), ("~", "s"))
_DATE_TOKEN: Final = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Post:
    """One message as conversations.history returns it, with who posted it and its replies."""

    message: JSONDict
    author: str
    is_app: bool = False
    replies: tuple[Post, ...] = ()


# --------------------------------------------------------------------------- mrkdwn


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _unescape(text: str) -> str:
    """The three entities Slack's text carries (and only those) back to characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _safe_url(url: str) -> str | None:
    """``url`` when it is an http(s) URL a page may link to, else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url.strip()


def _link(url: str, label: str) -> str:
    safe = _safe_url(url)
    if safe is None:
        return _esc(label)
    return f'<a href="{_esc(safe)}" rel="noopener noreferrer nofollow">{_esc(label)}</a>'


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _clock(moment: datetime, *, seconds: bool) -> str:
    hour = moment.hour % 12 or 12
    tail = f":{moment.second:02d}" if seconds else ""
    return f"{hour}:{moment.minute:02d}{tail} {'AM' if moment.hour < 12 else 'PM'}"


def _pretty(moment: datetime, now: datetime, otherwise: str) -> str:
    days = (moment.date() - now.date()).days
    return {0: "today", -1: "yesterday", 1: "tomorrow"}.get(days, otherwise)


def _ago(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _date_tokens(moment: datetime, now: datetime) -> dict[str, str]:
    """The tokens of Slack's ``<!date^...>`` ("Formatting text for app surfaces": dates)."""
    short = f"{moment:%b} {moment.day}, {moment.year}"
    full = f"{moment:%B} {_ordinal(moment.day)}, {moment.year}"
    long = f"{moment:%A}, {full}"
    return {
        "date_num": f"{moment:%Y-%m-%d}",
        "date": full,
        "date_short": short,
        "date_long": long,
        "date_pretty": _pretty(moment, now, full),
        "date_short_pretty": _pretty(moment, now, short),
        "date_long_pretty": _pretty(moment, now, long),
        "time": _clock(moment, seconds=False),
        "time_secs": _clock(moment, seconds=True),
        "ago": _ago(moment, now),
    }


def _date(body: str, fallback: str, now: datetime) -> str:
    """``!date^EPOCH^FORMAT[^LINK]``: the date in the reader's zone (here UTC), else the fallback.

    Slack shows the fallback when it cannot read the date; so does this page.
    """
    parts = body.split("^")
    if len(parts) < 3:
        return _esc(fallback)
    try:
        moment = datetime.fromtimestamp(int(parts[1]), UTC)
    except (ValueError, OverflowError, OSError):
        return _esc(fallback)
    tokens = _date_tokens(moment, now)
    unknown = [t for t in _DATE_TOKEN.findall(parts[2]) if t not in tokens]
    if unknown:
        return _esc(fallback)
    shown = _DATE_TOKEN.sub(lambda m: tokens[m.group(1)], parts[2])
    title = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    inner = f'<time datetime="{moment:%Y-%m-%dT%H:%M:%SZ}" title="{_esc(title)}">'
    inner += f"{_esc(shown)}</time>"
    if len(parts) > 3 and _safe_url(parts[3]):
        return f'<a href="{_esc(parts[3])}" rel="noopener noreferrer nofollow">{inner}</a>'
    return inner


def _angled(body: str, now: datetime) -> str:
    """One ``<...>`` sequence: a link, a mention, a special mention or a date."""
    target, _, label = body.partition("|")
    target, label = _unescape(target), _unescape(label)
    if target.startswith("!date^"):
        return _date(target, label, now)
    if target.startswith("@"):
        return f'<span class="mention">@{_esc(label or target[1:])}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_esc(label or target[1:])}</span>'
    if target.startswith("!"):
        name = target[1:].split("^", 1)
        shown = label or (name[0] if name[0] in {"here", "channel", "everyone"} else name[-1])
        return f'<span class="mention special">@{_esc(shown.lstrip("@"))}</span>'
    if target.startswith("mailto:"):  # shown, not linked
        return _esc(label or target.removeprefix("mailto:"))
    if _safe_url(target):
        return _link(target, label or target)
    return _esc(label or f"<{target}>")


def _emoji(text: str) -> str:
    return _EMOJI_NAME.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)


def render_mrkdwn(text: str, *, now: datetime | None = None) -> str:
    """Slack mrkdwn -> HTML; every character of ``text`` is escaped before it is shown.

    Args:
        text: the mrkdwn as Slack stores it (``&amp; &lt; &gt;`` escaped, ``<...>`` sequences).
        now: the reader's "now", for "today" and "yesterday" in dates.
    """
    when = now or datetime.now(UTC)
    slots: list[str] = []

    def slot(rendered: str) -> str:
        slots.append(rendered)
        return f"{_SLOT_OPEN}{len(slots) - 1}{_SLOT_CLOSE}"

    def restore(value: str) -> str:
        # Slots can hold slots (a link inside code is shown as written, a code span holds text).
        while _SLOT.search(value):
            value = _SLOT.sub(lambda m: slots[int(m.group(1))], value)
        return value

    source = _PRIVATE.sub("\ufffd", text)
    # Code first: what a code span holds is shown as typed (escaped), never formatted.
    source = _PRE.sub(lambda m: slot(f"<pre>{_esc(_unescape(m.group(1)).strip())}</pre>"), source)
    source = _CODE.sub(lambda m: slot(f"<code>{_esc(_unescape(m.group(1)))}</code>"), source)
    source = _ANGLED.sub(lambda m: slot(_angled(m.group(1), when)), source)
    source = _BARE_URL.sub(lambda m: slot(_link(m.group(0), m.group(0))), source)
    escaped = _esc(_unescape(source))
    for mark, tag in _MARKS:
        pattern = re.compile(_SPAN.format(m=mark, most=_SPAN_MAX - 1))
        escaped = pattern.sub(lambda m, t=tag: f"<{t}>{m.group(1)}</{t}>", escaped)
    escaped = _emoji(escaped)
    lines: list[str] = []
    quote: list[str] = []
    for line in escaped.split("\n"):
        if line.startswith("&gt;"):
            quote.append(line.removeprefix("&gt;").removeprefix(" "))
            continue
        if quote:
            lines.append(f"<blockquote>{'<br>'.join(quote)}</blockquote>")
            quote = []
        lines.append(line)
    if quote:
        lines.append(f"<blockquote>{'<br>'.join(quote)}</blockquote>")
    joined = "<br>".join(lines).replace("</blockquote><br>", "</blockquote>")
    return restore(joined)


def _plain(obj: object) -> str:
    """A plain_text object (emoji names shown as emoji when ``emoji`` is not false)."""
    if not isinstance(obj, Mapping):
        return ""
    text = _esc(str(obj.get("text", "")))
    return _emoji(text) if obj.get("emoji", True) is not False else text


def _text_object(obj: object, now: datetime) -> str:
    if not isinstance(obj, Mapping):
        return ""
    if obj.get("type") == "mrkdwn":
        return render_mrkdwn(str(obj.get("text", "")), now=now)
    return _plain(obj)


# --------------------------------------------------------------------------- Block Kit


def _button(element: JSONDict, now: datetime) -> str:
    style = element.get("style")
    css = "button" + (f" {style}" if style in {"primary", "danger"} else "")
    label = _text_object(element.get("text"), now)
    url = _safe_url(str(element.get("url") or ""))
    if url is None:
        return f'<span class="{css}">{label}</span>'
    href = _esc(url)
    return f'<a class="{css}" href="{href}" rel="noopener noreferrer nofollow">{label}</a>'


def _header(block: JSONDict, now: datetime) -> str:
    return f'<div class="header">{_plain(block.get("text"))}</div>'


def _section(block: JSONDict, now: datetime) -> str:
    out = []
    if block.get("text"):
        out.append(f'<div class="text">{_text_object(block.get("text"), now)}</div>')
    fields = block.get("fields") or []
    if isinstance(fields, list) and fields:
        cells = "".join(f'<div class="field">{_text_object(f, now)}</div>' for f in fields)
        out.append(f'<div class="fields">{cells}</div>')
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and accessory.get("type") == "button":
        out.append(f'<div class="actions">{_button(accessory, now)}</div>')
    return f'<div class="section">{"".join(out)}</div>'


def _divider(block: JSONDict, now: datetime) -> str:
    return '<hr class="divider">'


def _context(block: JSONDict, now: datetime) -> str:
    parts = []
    for element in block.get("elements") or []:
        if isinstance(element, Mapping) and element.get("type") == "image":
            alt = _esc(str(element.get("alt_text", "")))
            parts.append(f'<span class="image-alt">[{alt}]</span>')
        else:
            parts.append(f"<span>{_text_object(element, now)}</span>")
    return f'<div class="context">{"".join(parts)}</div>'


def _actions(block: JSONDict, now: datetime) -> str:
    shown = []
    for element in block.get("elements") or []:
        if isinstance(element, Mapping) and element.get("type") == "button":
            shown.append(_button(element, now))
        elif isinstance(element, Mapping):
            shown.append(f'<span class="unsupported">[{_esc(str(element.get("type")))}]</span>')
    return f'<div class="actions">{"".join(shown)}</div>'


_BLOCKS: Final[Mapping[str, Callable[[JSONDict, datetime], str]]] = {
    "header": _header,
    "section": _section,
    "divider": _divider,
    "context": _context,
    "actions": _actions,
}


def _block(block: JSONDict, now: datetime) -> str:
    draw = _BLOCKS.get(str(block.get("type")))
    if draw is None:
        return f'<div class="unsupported">[{_esc(str(block.get("type")))} block]</div>'
    return draw(block, now)


def _body(message: JSONDict, now: datetime) -> str:
    if message.get("subtype") == "tombstone":
        return f'<div class="tombstone">{_esc(str(message.get("text", "")))}</div>'
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        return "".join(_block(b, now) for b in blocks if isinstance(b, Mapping))
    return f'<div class="text">{render_mrkdwn(str(message.get("text", "")), now=now)}</div>'


# --------------------------------------------------------------------------- the page


def _moment(ts: object) -> datetime:
    try:
        return datetime.fromtimestamp(float(str(ts)), UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


def _avatar(author: str, *, is_app: bool) -> str:
    letters = "".join(w[0] for w in re.split(r"[\W_]+", author) if w)[:2].upper() or "?"
    css = "avatar app" if is_app else "avatar"
    return f'<div class="{css}" aria-hidden="true">{_esc(letters)}</div>'


def _message(post: Post, now: datetime, *, reply: bool = False) -> str:
    message = post.message
    ts = str(message.get("ts", ""))
    moment = _moment(ts)
    badge = '<span class="badge">APP</span>' if post.is_app else ""
    edited = '<span class="edited">(edited)</span>' if message.get("edited") else ""
    author = _esc(post.author) if message.get("subtype") != "tombstone" else ""
    head = (
        f'<div class="meta"><span class="author">{author}</span>{badge}'
        f'<time class="ts" datetime="{moment:%Y-%m-%dT%H:%M:%SZ}" title="{_esc(ts)}">'
        f"{_clock(moment, seconds=False)}</time>{edited}</div>"
    )
    css = "message reply" if reply else "message"
    return (
        f'<article class="{css}" id="m{_esc(ts.replace(".", "-"))}" data-ts="{_esc(ts)}">'
        f"{_avatar(post.author, is_app=post.is_app)}"
        f'<div class="content">{head}{_body(message, now)}</div></article>'
    )


def _thread(post: Post, now: datetime, *, show_replies: bool) -> str:
    out = [_message(post, now)]
    if post.replies:
        count = len(post.replies)
        last = _moment(post.replies[-1].message.get("ts"))
        day = _pretty(last, now, f"{last:%b} {last.day}")
        out.append(
            f'<div class="thread-summary"><span class="replies">{count} '
            f"{'reply' if count == 1 else 'replies'}</span>"
            f'<span class="last">Last reply {day} at {_clock(last, seconds=False)}</span></div>'
        )
        if show_replies:
            replies = "".join(_message(r, now, reply=True) for r in post.replies)
            out.append(f'<section class="thread" aria-label="Thread">{replies}</section>')
    return f'<div class="post">{"".join(out)}</div>'


def _day_divider(moment: datetime, now: datetime) -> str:
    label = _pretty(moment, now, f"{moment:%A}, {moment:%B} {_ordinal(moment.day)}").capitalize()
    return f'<div class="day"><span>{_esc(label)}</span></div>'


def render_channel(
    *,
    workspace: str,
    channels: Mapping[str, str],
    channel_id: str,
    posts: Sequence[Post],
    show_replies: bool = True,
    now: datetime | None = None,
    link: Callable[[str], str] = lambda channel_id: f"/channel/{channel_id}",
) -> str:
    """The whole page: a sidebar of ``channels``, the channel's header, then its ``posts``
    (oldest first, as Slack lists them), each thread's replies under it when ``show_replies``."""
    when = now or datetime.now(UTC)
    name = channels.get(channel_id, channel_id)
    items = "".join(
        f'<li class="{"active" if cid == channel_id else ""}">'
        f'<a href="{_esc(link(cid))}"># {_esc(cname)}</a></li>'
        for cid, cname in channels.items()
    )
    body: list[str] = []
    last_day: datetime | None = None
    for post in posts:
        moment = _moment(post.message.get("ts"))
        if last_day is None or moment.date() != last_day.date():
            body.append(_day_divider(moment, when))
            last_day = moment
        body.append(_thread(post, when, show_replies=show_replies))
    if not posts:
        body.append('<p class="empty">No messages in this channel yet.</p>')
    return _PAGE.format(
        title=_esc(f"#{name} - {workspace}"),
        css=_CSS,
        workspace=_esc(workspace),
        channels=items,
        name=_esc(name),
        messages="".join(body),
    )


def render_not_found(what: str) -> str:
    """A small page saying ``what`` was not found (escaped)."""
    return _PAGE.format(
        title="Not found",
        css=_CSS,
        workspace="Sandbox",
        channels="",
        name="not found",
        messages=f'<p class="empty">{_esc(what)}</p>',
    )


_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body><div class="app">
<nav class="sidebar"><div class="workspace">{workspace}</div>
<div class="section-title">Channels</div><ul>{channels}</ul></nav>
<main class="channel"><header class="channel-header"><h1># {name}</h1></header>
<div class="messages">{messages}</div></main>
</div></body></html>
"""

_CSS: Final = """
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{font:15px/1.46668 Lato,"Helvetica Neue","Noto Sans",Helvetica,Arial,sans-serif;
color:#1d1c1d;background:#fff;-webkit-font-smoothing:antialiased}
.app{display:flex;min-height:100%}
.sidebar{flex:0 0 200px;background:#3f0e40;color:#cfc3cf;padding:12px 0}
.sidebar .workspace{color:#fff;font-weight:900;font-size:18px;padding:4px 16px 14px;
border-bottom:1px solid #522653}
.sidebar .section-title{padding:14px 16px 4px;font-size:14px}
.sidebar ul{list-style:none;margin:0;padding:0}
.sidebar li a{display:block;padding:3px 16px;color:#cfc3cf;text-decoration:none}
.sidebar li.active a{background:#1164a3;color:#fff}
.channel{flex:1;min-width:0}
.channel-header{border-bottom:1px solid #dddddd;padding:10px 20px}
.channel-header h1{margin:0;font-size:18px;font-weight:900}
.messages{padding:8px 0 16px}
.day{display:flex;align-items:center;margin:12px 0 4px}
.day:before,.day:after{content:"";flex:1;border-top:1px solid #dddddd}
.day span{font-size:13px;font-weight:700;border:1px solid #dddddd;border-radius:24px;
padding:2px 16px}
.message{display:flex;padding:8px 20px}
.avatar{flex:0 0 36px;height:36px;border-radius:6px;background:#616061;color:#fff;
font-weight:900;font-size:14px;display:flex;align-items:center;justify-content:center;
margin-right:8px}
.avatar.app{background:#e01e5a}
.content{flex:1;min-width:0;overflow-wrap:anywhere}
.meta{line-height:1.2;margin-bottom:2px}
.author{font-weight:900}
.badge{display:inline-block;background:rgba(29,28,29,.13);color:rgba(29,28,29,.7);
font-size:10px;font-weight:700;border-radius:2px;padding:0 3px;margin-left:4px;
vertical-align:1px}
.ts,.edited{color:#616061;font-size:12px;margin-left:6px}
.header{font-size:18px;font-weight:900;line-height:1.33;margin:4px 0 6px}
.section{margin:4px 0}
.text{margin:2px 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 16px;margin:8px 0;max-width:640px}
.context{color:#616061;font-size:12px;margin:6px 0}
.context span+span{margin-left:6px}
hr.divider{border:0;border-top:1px solid #dddddd;margin:10px 0}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.button{display:inline-block;border:1px solid rgba(29,28,29,.3);border-radius:4px;
padding:0 12px;height:28px;line-height:26px;font-size:13px;font-weight:700;color:#1d1c1d;
text-decoration:none;background:#fff}
.button.primary{background:#007a5a;border-color:#007a5a;color:#fff}
.button.danger{background:#e01e5a;border-color:#e01e5a;color:#fff}
a{color:#1264a3;text-decoration:none}
code{font:12px Monaco,Menlo,Consolas,"Courier New",monospace;color:#e01e5a;
background:rgba(29,28,29,.04);border:1px solid rgba(29,28,29,.13);border-radius:3px;
padding:1px 3px}
pre{font:12px/1.5 Monaco,Menlo,Consolas,"Courier New",monospace;background:rgba(29,28,29,.04);
border:1px solid rgba(29,28,29,.13);border-radius:4px;padding:8px;white-space:pre-wrap;margin:4px 0}
blockquote{margin:4px 0;padding-left:12px;border-left:4px solid #dddddd}
.mention{background:rgba(29,155,209,.1);color:#1264a3;border-radius:3px;padding:0 2px}
.mention.special{background:rgba(242,199,68,.4);color:#1d1c1d}
.thread-summary{margin:-4px 20px 4px 64px;font-size:13px}
.thread-summary .replies{color:#1264a3;font-weight:700}
.thread-summary .last{color:#616061;margin-left:8px}
.thread{margin:0 20px 8px 64px;border-left:3px solid #dddddd;padding-left:4px}
.thread .message{padding:6px 8px}
.tombstone{color:#616061;font-style:italic}
.unsupported,.image-alt{color:#616061;font-style:italic}
.empty{color:#616061;padding:16px 20px}
"""
