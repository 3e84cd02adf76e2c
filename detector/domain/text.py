"""Making attacker-controlled text safe: for Slack mrkdwn and for ASFF length limits."""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
ZWSP = "\u200b"  # zero-width space: breaks Slack's auto-linking and mention parsing

# Characters that reorder or hide text (Trojan Source) or are invisible controls.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r" {2,}")
# Sequences Slack would turn into links, mentions or emoji even without angle brackets:
# a URL scheme, "www.", "@", a dot before a letter of any script (evil.com, evil.com1,
# evil.com_x, пример.рф; the ideographic and full-width dots too), and ":" before an emoji
# name's first character (":skull:", ":custom-emoji:"). Digits after a dot are left alone
# (an IP address is no link).
_AUTOLINK = re.compile(r"(?i)(://|www(?=\.)|@|[.\u3002\uff0e\uff61](?=[^\W\d])|:(?=[\w+'-]))")
# How much input clean() reads for an output of ``limit`` characters: cleaning drops and folds
# characters, so it may need more than ``limit`` of them, but never the whole of a huge field.
_WINDOW_FACTOR = 4
_WINDOW_SLACK = 256


def clean(text: str, limit: int) -> str:
    """Drop control, bidi and format characters, fold whitespace runs, truncate to ``limit``.

    The result has at most ``limit`` characters; a truncated result ends with an ellipsis.
    The work is bounded by ``limit``, not by the length of ``text``: at most
    ``4 * limit + 256`` characters of it are read (a longer text is shown cut).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    window = _WINDOW_FACTOR * limit + _WINDOW_SLACK
    cut = len(text) > window
    if cut:
        text = text[:window]
    if text.isascii() and text.isprintable():  # the common case: nothing to drop or fold
        cleaned = _SPACES.sub(" ", text).strip()
    else:
        out: list[str] = []
        for ch in text:
            if ch in "\t\n\r":
                out.append(" ")
            elif ch not in _BIDI and unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}:
                out.append(ch)
        cleaned = _SPACES.sub(" ", "".join(out)).strip()
    if cut and len(cleaned) < limit:
        return cleaned.rstrip() + ELLIPSIS if cleaned else ELLIPSIS
    return truncate(cleaned, limit)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut is shown by a trailing ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def mrkdwn(text: str, limit: int) -> str:
    """Untrusted text made inert for Slack mrkdwn: no mention, link, emoji or formatting survives.

    ``& < >`` are escaped (so ``<!channel>`` and ``<http://x|y>`` are shown, not parsed);
    formatting characters are neutralised; URL schemes, ``www.``, ``@``, domain dots and emoji
    colons get a zero-width space so Slack's auto-linker and emoji parser see nothing to act on.
    ``limit`` bounds the visible text before escaping.
    """
    text = clean(text, limit)
    text = _AUTOLINK.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)
    # Formatting: *bold* _italic_ ~strike~ `code` > quote; a ZWSP after each defeats pairing.
    text = re.sub(r"([*_~`])", "\\1" + ZWSP, text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mask_key(key_id: str | None) -> str:
    """``AKIA…WXYZ``: enough to recognise a key, not enough to use or search for it."""
    if not key_id:
        return "unknown"
    key_id = clean(key_id, 128)
    if len(key_id) < 12:
        return "****"
    return f"{key_id[:4]}{ELLIPSIS}{key_id[-4:]}"
