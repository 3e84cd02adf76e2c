"""Fuzz the detector's untrusted-input edge: bytes -> events -> finding + Slack message.

    .venv/bin/python -m bench.fuzz [--iterations N] [--seed S] [--seconds T] [--workers W]
    .venv/bin/python -m bench.fuzz --replay bench/fuzz-crashes/<hash>.json ...

Every input goes through ``load_document`` and ``parse_input``; anything raised there other than
``EventParseError`` is a crash. Every parsed event is classified and, like the pipeline does,
turned into what it would send: for a root-key verdict with an account id the ASFF finding
(checked with ``asff_problems``) and the alert; for notices and key events without an account
the notice. Each message's ``payload()`` must not raise and must hold no live Slack markup
(``live_markup``). An exception anywhere is a crash; a failed check is a violation.

Inputs come from a seeded ``random.Random`` (pure Python, no hypothesis), in three families:
mutated real records from tests/events, random JSON documents, and byte-level mutations
(bit flips, truncation, gzip of valid and invalid content, random bytes). Work is split into
fixed chunks, each with its own RNG derived from (seed, chunk), so a run is reproducible
whatever the number of workers. One reproducer per distinct signature is minimised and saved
to bench/fuzz-crashes/<hash>.json, with a <hash>.txt note (signature, traceback, state).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import multiprocessing
import os
import re
import resource
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

from detector.domain.confirmation import Confirmation, KeyState
from detector.domain.document import load_document
from detector.domain.event import parse_input
from detector.domain.finding import (
    FindingContext,
    build_finding,
    cloudtrail_event_url,
    finding_id,
    securityhub_finding_url,
)
from detector.domain.key_use import key_use, use_message
from detector.domain.message import Links, SlackMessage, build_message, headline
from detector.domain.root_session import labelled_message, sessions_in
from detector.domain.text import mask_key
from detector.domain.verdict import Verdict, classify
from detector.errors import EventParseError
from tests.factories import set_path
from tests.unit.contracts import asff_problems, live_markup

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
CRASH_DIR = Path(__file__).resolve().parent / "fuzz-crashes"
REGION = "us-east-1"
CHUNK = 250  # iterations per unit of work (and per RNG)
PROGRESS_EVERY = 10_000
NOWS = (
    datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
    datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC),
    datetime(2015, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
)
REASONS = (
    "GetAccountSummary: AccountAccessKeysPresent=1; GetAccessKeyLastUsed answered for the key",
    "GetAccountSummary: AccountAccessKeysPresent=0",
    "IAM did not show the key after 4 attempts (eventual consistency)",
    "iam.GetAccountSummary failed (AccessDenied): not authorized to perform iam:GetAccountSummary",
    "sts.AssumeRole failed (ThrottlingException): Rate exceeded",
)
ACCOUNT_ID = re.compile(r"[0-9]{12}")

# ---------------------------------------------------------------------------------------------
# Hostile values

MENTIONS = (
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U0123ABCD|security-oncall>",
    "<#C1|x>", "<!subteam^S0123|@security>", "<!date^1^{date}|x>", "@channel", "@here",
    "@U123", "<!channel|channel>", "<<!here>>", "<!cha\u200bnnel>", "@\u200bhere",
)  # fmt: skip
LINKS = (
    "<http://evil|ok>", "<https://evil.example/x|Open finding in Security Hub>", "http://",
    "https://", "www.", "https://evil.example/login", "www.evil.com", "evil.com", "a.io",
    "mailto:a@b.co", "<mailto:x@y.z|x>", "javascript:alert(1)", "ftp://x", "ht\u200btp://x",
    "slack://channel?team=T1&id=C1", "hxxp://a[.]b", "HTTPS://EVIL.EXAMPLE", "//evil.example",
)  # fmt: skip
FORMATTING = (
    "*", "_", "~", "`", "```", "*bold*", "_it_", "~s~", "`code`", "```block```", "> quote",
    ">>>", "&", "&amp;", "&lt;!channel&gt;", "&#60;", ":rotating_light:", "\\", "\\<", "|",
)  # fmt: skip
CONTROL = (
    "\x00", "\x07", "\x08", "\x1b[31m", "\x7f", "\x85", "\x9b", "\r\n", "\n", "\r", "\t",
    "\x0b", "\x0c", "\u2028", "\u2029", "\n\n\n",
)  # fmt: skip
BIDI = (
    "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u202a", "\u202b", "\u202c", "\u202d",
    "\u200e", "\u200f", "\u061c",
)  # fmt: skip
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f")
SURROGATES = ("\ud800", "\udfff", "\udc00", "\ud83d", "\ud83d\ude00", "\udbff\udfff")
CONFUSABLES = (
    "\u0430dmin",  # Cyrillic a
    "\uff1c!channel\uff1e",  # fullwidth < >
    "\uff20here",  # fullwidth @
    "\u2039!here\u203a",
    "\u3008!channel\u3009",
    "\ufe64!here\ufe65",
    "h\u0074tps\uff1a\uff0f\uff0fevil",
    "\U0001d5f5\U0001d5f2\U0001d5f9\U0001d5f9\U0001d5fc",  # mathematical sans-serif
    "\u0440\u043e\u043e\u0442",  # Cyrillic "root"
    "\u2024com",  # one dot leader
    "AKIA\u0399OSFODNN7EXAMPLE",  # Greek capital iota
)
ODD = (
    "\ue000", "\U000e0001", "\U000e0041", "\U0001f6a8", "a\u0301\u0301\u0301\u0301",
    "\ufffd", "\uffff", "\U0010ffff", "\u0378", "\u00a0", "\u202f", "\u3000", "\u1680",
)  # fmt: skip
PLAIN = (
    "aws-cli/2.22.15", "203.0.113.45", "2001:db8::1", "AWS Internal", "iam.amazonaws.com",
    "AKIAIOSFODNN7EXAMPLE", "root", "example-corp-prod", "123456789012", " ", "", "null",
    "true", "0", "-1", "1e999", "NaN", "None", "   \t  ", "..", "Root",
)  # fmt: skip
FRAGMENT_GROUPS = (MENTIONS, LINKS, FORMATTING, CONTROL, BIDI, ZERO_WIDTH, SURROGATES)
FRAGMENT_GROUPS += (CONFUSABLES, ODD, PLAIN)

ATTACKER_PATHS = (
    "userAgent", "sourceIPAddress", "userIdentity.userName", "userIdentity.principalId",
    "requestParameters.userName", "requestParameters.accessKeyId",
    "responseElements.accessKey.accessKeyId", "errorMessage", "eventID", "recipientAccountId",
    # and the rest of what reaches a finding or a message
    "errorCode", "awsRegion", "userIdentity.arn", "userIdentity.accessKeyId",
    "userIdentity.accountId", "requestParameters.status", "responseElements.accessKey.status",
    "responseElements.accessKey.createDate", "eventTime", "eventVersion",
)  # fmt: skip

EVENT_NAMES = (
    "CreateAccessKey", "CreateAccessKey", "CreateAccessKey", "DeleteAccessKey",
    "DeleteAccessKey", "UpdateAccessKey", "UpdateAccessKey", "createaccesskey",
    "CreateAccessKey ", "ListAccessKeys", "GetAccessKeyLastUsed", "ConsoleLogin", "",
    "CreateAccessKey\u200b", "CreateLoginProfile", None,
)  # fmt: skip
EVENT_SOURCES = (
    "iam.amazonaws.com", "iam.amazonaws.com", "iam.amazonaws.com", "IAM.amazonaws.com",
    "iam.amazonaws.com ", "sts.amazonaws.com", "signin.amazonaws.com", "aws:s3",
    "amazonaws.com", "", "evil.amazonaws.com", "iam.amazonaws.com\u200b", None,
)  # fmt: skip
PRINCIPAL_TYPES = (
    "Root", "Root", "Root", "root", "IAMUser", "AssumedRole", "FederatedUser", "AWSAccount",
    "AWSService", "Unknown", "Root ", "", None, "R\u200boot",
)  # fmt: skip
STATUSES = (
    "Active", "Inactive", "Active", "Inactive", "active", "INACTIVE", " Inactive ", "Expired",
    "", None, 1, True, "Inactive\u200b", "\u0130nactive",
)  # fmt: skip
ERROR_CODES = (
    "AccessDenied", "LimitExceeded", "", " ", "\u200b", "NoSuchEntity", "Client.Throttling",
    0, False,
)  # fmt: skip
TIMES = (
    "2026-11-20T14:03:11Z", "2026-11-20T14:03:11.123456Z", "2026-11-20T14:03:11+05:30",
    "2026-11-20T14:03:11", "2026-11-20", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:59:59.999999+14:00", " 2026-11-20T14:03:11Z\n", "2026-11-20T14:03:11z",
    "2026-W47-5T14:03", "20261120T140311Z", "2026-11-20 14:03:11", "2026-11-20T24:00:00Z",
    "2026-11-20T14:03:11+24:00", "2026-02-30T00:00:00Z", "1795183391000", "",
    "\u0662\u0660\u0662\u0666-11-20T14:03:11Z", "2026-11-20T14:03:11.1234567890Z",
    "2026-11-20T14:03:11Z\x00", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
    "2026-11-20T14:03:11+00:00:00.000001", "2026-11-20T14:03:11\u200bZ", "2026-11-20T14:03",
)  # fmt: skip
CREATE_DATES = (
    *TIMES,
    "Nov 20, 2026, 2:03:11\u202fPM", "Nov 20, 2026 2:03:11 PM", "Mar 14, 2019 9:12:45 AM",
    "Feb 29, 2025 1:00:00 AM", "Jan 1, 0001, 12:00:00 AM", "Dec 31, 9999, 11:59:59 PM",
    "Nov 20, 2026, 13:03:11 PM", "nov 20, 2026, 2:03:11 pm", "Nov\u00a020,\u00a02026",
)  # fmt: skip
ACCOUNTS = (
    "123456789012", "210987654321", "000000000000", "12345678901", "1234567890123",
    "12345678901a", "123456789012\n", " 123456789012", "",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662",  # Arabic-Indic
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff11\uff12",  # fullwidth
    123456789012, 1.23456789012e11, None,
)  # fmt: skip
KEY_IDS = (
    "AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", "", " ", "\u200b", "AKIA", "AKIA\u202eELPMAXE",
    "akiaiosfodnn7example", "A" * 129, "AKIAIOSFODNN7EXAMPLE\n", "\u200b" * 200,
)  # fmt: skip
FLAGS = ("true", "false", "TRUE", " true ", True, False, "yes", 1, None, "", "\u200btrue")
DETAIL_TYPES = (
    "AWS API Call via CloudTrail", "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail", "AWS Service Event via CloudTrail",
    "AWS Console Action via CloudTrail", "aws api call via cloudtrail", "Scheduled Event", "",
    None, 1,
)  # fmt: skip
KEY_VOCABULARY = (
    "Records", "detail", "detail-type", "account", "id", "eventName", "eventSource",
    "eventVersion", "eventID", "eventTime", "userIdentity", "type", "recipientAccountId",
    "requestParameters", "responseElements", "accessKey", "accessKeyId", "userName", "status",
    "errorCode", "errorMessage", "sessionContext", "attributes", "mfaAuthenticated",
    "assumedRoot", "sourceIPAddress", "userAgent", "awsRegion", "createDate", "accountId",
    "principalId", "arn", "sessionCredentialFromConsole", "", "\u0000", "Records ",
)  # fmt: skip


class Raw:
    """JSON text put verbatim into a serialized document (what json.dumps cannot write)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


RAW_NUMBERS = (
    "1" + "0" * 5000, "-" + "9" * 4301, "1e999", "-1e999", "1E400", "NaN", "Infinity",
    "-Infinity", "-0", "0.0000000000000000000000000000001", "1" + "0" * 4299,
    "123456789012.0", "1.5e-400",
)  # fmt: skip


def attacker_string(rng: Random) -> str:
    """Text meant to become live Slack markup, break limits or hide in a finding."""
    roll = rng.random()
    # Long strings are few but enough (thousands per 100k run): the detector's clean() and the
    # live_markup check walk every character, so they set the run's speed.
    if roll < 0.03:
        unit = rng.choice(rng.choice(FRAGMENT_GROUPS)) or "A"
        return (unit * (10240 // len(unit) + 1))[: rng.choice((10240, 10241, 4000, 3001))]
    if roll < 0.045:
        return rng.choice(("A", "&", "<", "*", " ", "\u200b", "\ud800", "@a", "www.")) * 10240
    parts = []
    for _ in range(rng.randint(1, 5)):
        parts.append(rng.choice(rng.choice(FRAGMENT_GROUPS)))
        if rng.random() < 0.3:
            parts.append(rng.choice(PLAIN))
    return "".join(parts)


def random_scalar(rng: Random) -> Any:
    kind = rng.randrange(12)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice((0, 1, -1, 2**63, -(2**63) - 1, 10**300, 123456789012))
    if kind == 3:
        return Raw(rng.choice(RAW_NUMBERS))
    if kind == 4:
        return rng.choice((0.0, -0.0, 1.5, 1e308, 5e-324, float("nan"), float("inf")))
    if kind in (5, 6, 7):
        return attacker_string(rng)
    if kind == 8:
        return rng.choice(TIMES + ACCOUNTS[:11])
    return rng.choice(PLAIN + KEY_IDS[:3] + EVENT_NAMES[:8])


def deep(rng: Random) -> Any:
    depth = rng.choice((20, 100, 900, 1100, 5000, 100_000))
    if depth > 100 or rng.random() < 0.5:  # as raw text: cheap to build at any depth
        opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
        return Raw(opener * depth + "1" + closer * depth)
    value: Any = attacker_string(rng)
    for _ in range(depth):
        value = {"detail": value} if rng.random() < 0.5 else [value]
    return value


def random_value(rng: Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return random_scalar(rng)
    if roll < 0.75:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.95:
        return {
            rng.choice(KEY_VOCABULARY) if rng.random() < 0.7 else attacker_string(rng)[:40]: (
                random_value(rng, depth + 1)
            )
            for _ in range(rng.randint(0, 5))
        }
    return deep(rng)


# ---------------------------------------------------------------------------------------------
# Tree mutation


def slots(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in ``doc``, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                out.append((node, key))
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                out.append((node, i))
                if isinstance(value, dict | list):
                    stack.append(value)
    return out


def swap_type(rng: Random, value: Any) -> Any:
    if isinstance(value, str):
        return rng.choice(
            (
                [value],
                {"value": value},
                len(value),
                value == "true",
                Raw(value) if value[:1].isdigit() else None,
                value.encode("utf-8", "surrogatepass").hex(),
                value.upper(),
                f" {value} ",
            )
        )
    if isinstance(value, dict):
        return rng.choice((list(value.values()), list(value), _text(value), None, {}))
    if isinstance(value, list):
        return rng.choice(({str(i): v for i, v in enumerate(value)}, value[:1], None, []))
    if isinstance(value, bool):
        return rng.choice((str(value).lower(), int(value), [value]))
    if isinstance(value, int | float):
        return rng.choice((str(value), [value], {"n": value}, bool(value)))
    return rng.choice(("null", "", [], {}, 0, False))


def _text(value: Any) -> str:
    return json.dumps(value, default=lambda obj: getattr(obj, "text", None))


def m_delete(rng: Random, rec: Any) -> None:
    places = slots(rec)
    if places:
        parent, key = rng.choice(places)
        del parent[key]


def m_replace(rng: Random, rec: Any) -> None:
    places = slots(rec)
    if places:
        parent, key = rng.choice(places)
        parent[key] = random_value(rng)


def m_swap(rng: Random, rec: Any) -> None:
    places = slots(rec)
    if places:
        parent, key = rng.choice(places)
        parent[key] = swap_type(rng, parent[key])


def m_attacker(rng: Random, rec: Any) -> None:
    if isinstance(rec, dict):
        path = rng.choice(ATTACKER_PATHS)
        value: Any = attacker_string(rng) if rng.random() < 0.85 else random_scalar(rng)
        set_path(rec, path, value)


def m_steer(rng: Random, rec: Any) -> None:
    """Move the record between verdicts, with valid and almost-valid values."""
    if not isinstance(rec, dict):
        return
    path, choices = rng.choice(
        (
            ("eventName", EVENT_NAMES),
            ("eventSource", EVENT_SOURCES),
            ("userIdentity.type", PRINCIPAL_TYPES),
            ("requestParameters.status", STATUSES),
            ("responseElements.accessKey.status", STATUSES),
            ("errorCode", ERROR_CODES),
            ("requestParameters.userName", ("alice", "", " ", None, "\u200b", "root")),
            ("userIdentity.sessionContext.assumedRoot", FLAGS),
            ("userIdentity.sessionContext.attributes.mfaAuthenticated", FLAGS),
            ("sessionCredentialFromConsole", FLAGS),
        )
    )
    set_path(rec, path, rng.choice(choices))


def m_edge(rng: Random, rec: Any) -> None:
    """Edge values of the fields the parser interprets."""
    if not isinstance(rec, dict):
        return
    path, choices = rng.choice(
        (
            ("eventTime", TIMES),
            ("responseElements.accessKey.createDate", CREATE_DATES),
            ("recipientAccountId", ACCOUNTS),
            ("userIdentity.accountId", ACCOUNTS),
            ("responseElements.accessKey.accessKeyId", KEY_IDS),
            ("requestParameters.accessKeyId", KEY_IDS),
            ("userIdentity.accessKeyId", KEY_IDS),
            ("sourceIPAddress", ("203.0.113.45", "2001:db8::1", "AWS Internal", "10.0.0.1", "")),
            ("requestParameters", (None, {}, [], "x", 0)),
            ("responseElements", (None, {}, [], "x", {"accessKey": None}, {"accessKey": []})),
            ("userIdentity.sessionContext", (None, {}, [], "x", {"attributes": None})),
            ("userIdentity", (None, {}, {"type": "Root"}, [], "Root")),
        )
    )
    set_path(rec, path, rng.choice(choices))


def m_copy(rng: Random, rec: Any) -> None:
    places = slots(rec)
    if len(places) > 1:
        (src, skey), (dst, dkey) = rng.sample(places, 2)
        dst[dkey] = copy.deepcopy(src[skey])  # a copy: sharing could make a cycle


MUTATIONS: tuple[Callable[[Random, Any], None], ...] = (
    m_delete, m_replace, m_replace, m_swap, m_attacker, m_attacker, m_attacker, m_attacker,
    m_steer, m_steer, m_steer, m_edge, m_edge, m_copy,
)  # fmt: skip


def rootify(rng: Random, rec: dict[str, Any]) -> None:
    """Make the record a root access-key call, so mutants reach finding and message building."""
    identity = rec.get("userIdentity")
    if not isinstance(identity, dict):
        identity = rec["userIdentity"] = {}
    identity["type"] = "Root"
    rec["eventSource"] = "iam.amazonaws.com"
    name = rec["eventName"] = rng.choice(EVENT_NAMES[:7])
    if rng.random() < 0.8:
        rec.pop("errorCode", None)
        rec.pop("errorMessage", None)
    elif name == "CreateAccessKey" and not rec.get("errorCode"):
        rec["errorCode"] = rng.choice(ERROR_CODES[:2])
    request = rec.get("requestParameters")
    if not isinstance(request, dict):
        request = rec["requestParameters"] = {} if name != "CreateAccessKey" else None
    if isinstance(request, dict):
        if rng.random() < 0.85:
            request.pop("userName", None)
        if name == "UpdateAccessKey":
            request["status"] = rng.choice(("Active", "Inactive"))
        if name != "CreateAccessKey" and not request.get("accessKeyId"):
            request["accessKeyId"] = rng.choice(KEY_IDS[:2])
    rec.setdefault("eventTime", "2026-11-20T14:03:11Z")
    rec.setdefault("eventID", "10fe3541-75dc-45f7-a993-4465871481aa")


# ---------------------------------------------------------------------------------------------
# Seeds and serialization


@dataclass(frozen=True)
class Seeds:
    records: tuple[str, ...]  # JSON text of every CloudTrail record in tests/events
    envelopes: tuple[str, ...]  # EventBridge envelopes
    documents: tuple[str, ...]  # whole files (log files and invalid/ included), as JSON text
    files: tuple[bytes, ...]  # every file's bytes, as stored


_SEEDS: dict[str, Seeds] = {}


def seeds() -> Seeds:
    """Read tests/events once per process."""
    if "s" not in _SEEDS:
        records: list[str] = []
        envelopes: list[str] = []
        documents: list[str] = []
        files: list[bytes] = []
        for path in sorted(EVENTS.glob("*/*.json")):
            data = path.read_bytes()
            doc = json.loads(data)
            files.append(data)
            documents.append(json.dumps(doc))
            if path.parent.name == "cloudtrail":
                records.append(json.dumps(doc))
            elif path.parent.name == "eventbridge":
                envelopes.append(json.dumps(doc))
                records.append(json.dumps(doc["detail"]))
            elif path.parent.name == "logfiles":
                records.extend(json.dumps(r) for r in doc["Records"])
        _SEEDS["s"] = Seeds(tuple(records), tuple(envelopes), tuple(documents), tuple(files))
    return _SEEDS["s"]


def dump(rng: Random, doc: Any) -> bytes:
    """Serialize ``doc`` (with any ``Raw`` values verbatim) in a randomly chosen JSON style."""
    raws: list[str] = []

    def default(obj: Any) -> str:
        if isinstance(obj, Raw):
            raws.append(obj.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        raise TypeError(type(obj).__name__)

    style = rng.random()
    text = json.dumps(
        doc,
        default=default,
        ensure_ascii=style < 0.85,
        indent=4 if style > 0.95 else None,
        separators=(",", ":") if style < 0.3 else None,
    )
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000RAW{i}\\u0000"', raw, 1)
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------------
# Input generators


def gen_mutated(rng: Random) -> tuple[str, Any]:
    """A real record (or invalid/ file) mutated 1-5 times, wrapped as one of the three forms."""
    s = seeds()
    if rng.random() < 0.08:
        doc: Any = json.loads(rng.choice(s.documents))
        for _ in range(rng.randint(1, 5)):
            rng.choice(MUTATIONS)(rng, doc)
        return "mutated-document", doc
    rec = json.loads(rng.choice(s.records))
    if rng.random() < 0.6:
        rootify(rng, rec)
    for _ in range(rng.randint(1, 5)):
        rng.choice(MUTATIONS)(rng, rec)
    form = rng.random()
    if form < 0.45:
        return "mutated-record", rec
    if form < 0.75:
        env = json.loads(rng.choice(s.envelopes))
        env["detail"] = rec
        if rng.random() < 0.3:
            key, choices = rng.choice(
                (("detail-type", DETAIL_TYPES), ("account", ACCOUNTS), ("id", KEY_IDS))
            )
            if choices is DETAIL_TYPES or rng.random() < 0.7:
                env[key] = rng.choice(choices)
            else:
                env[key] = attacker_string(rng)
        if rng.random() < 0.1:
            env.pop("account", None)
        return "mutated-envelope", env
    records = [json.loads(rng.choice(s.records)) for _ in range(rng.randint(0, 3))]
    records.insert(rng.randint(0, len(records)), rec)
    if rng.random() < 0.05:
        records.append(random_value(rng))
    return "mutated-logfile", {"Records": records}


def gen_random(rng: Random) -> tuple[str, Any]:
    """A random JSON document, mostly shaped like one of the accepted forms."""
    roll = rng.random()
    if roll < 0.2:
        return "random-json", random_value(rng)
    body = {rng.choice(KEY_VOCABULARY): random_value(rng) for _ in range(rng.randint(0, 12))}
    if roll < 0.45:
        return "random-json", body
    if roll < 0.7:
        return "random-json", {"detail-type": rng.choice(DETAIL_TYPES), "detail": body}
    return "random-json", {"Records": [body, random_value(rng)][: rng.randint(0, 2)]}


def _flip_bits(rng: Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _overwrite(rng: Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.choice(b'\x00"\\{}[],:\xff\xc3\xed\x80 0e-')


def _insert(rng: Random, data: bytearray) -> None:
    at = rng.randint(0, len(data))
    data[at:at] = rng.choice(
        (
            rng.randbytes(rng.randint(1, 16)),
            b"\xed\xa0\x80",  # UTF-8 of a lone surrogate (json decodes with surrogatepass)
            b"\xef\xbb\xbf",
            b"\\ud800",
            b"\\u0000",
            b'"',
            b"NaN",
            b"1" * 5000,
            b"[" * 2000,
        )
    )


def _delete(rng: Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 64)]


def _truncate(rng: Random, data: bytearray) -> None:
    if data:
        del data[rng.randrange(len(data)) :]


def _duplicate(rng: Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        chunk = data[at : at + rng.randint(1, 256)]
        where = rng.randint(0, len(data))
        data[where:where] = chunk


def _splice(rng: Random, data: bytearray) -> None:
    other = rng.choice(seeds().files)
    cut = rng.randint(0, len(data))
    data[cut:] = other[rng.randint(0, len(other)) :]


BYTE_OPS = (_flip_bits, _overwrite, _insert, _delete, _truncate, _duplicate, _splice)


def _corrupt_gzip(rng: Random, data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data, compresslevel=1, mtime=0))
    roll = rng.random()
    if roll < 0.3:
        del packed[rng.randint(2, len(packed) - 1) :]  # truncated stream
    elif roll < 0.6:
        _flip_bits(rng, packed)  # bad deflate data or CRC
    elif roll < 0.8:
        packed += rng.choice((b"garbage", b"\x1f\x8b", b"\x00" * 16, bytes(packed)))
    else:
        packed = bytearray(b"\x1f\x8b" + rng.randbytes(rng.randint(0, 64)))
    return bytes(packed)


def gen_bytes(rng: Random) -> tuple[str, bytes]:
    """Byte-level mutants: bit flips, truncation, gzip of valid and invalid content."""
    roll = rng.random()
    if roll < 0.05:
        return "random-bytes", rng.randbytes(rng.choice((0, 1, 2, 16, 512, 4096)))
    if roll < 0.35:
        base = bytearray(rng.choice(seeds().files))
    else:
        base = bytearray(dump(rng, gen_mutated(rng)[1]))
    for _ in range(rng.randint(1, 3)):
        rng.choice(BYTE_OPS)(rng, base)
    data = bytes(base)
    roll = rng.random()
    if roll < 0.08:
        data = _reencode(rng, data)
    elif roll < 0.2:
        data = gzip.compress(data, compresslevel=1, mtime=0)
        if rng.random() < 0.2:
            data = gzip.compress(data, compresslevel=1, mtime=0)  # gzip of gzip
    elif roll < 0.3:
        data = _corrupt_gzip(rng, data)
    return "byte-mutant", data


def _reencode(rng: Random, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace") if rng.random() < 0.5 else data.decode("latin-1")
    return text.encode(rng.choice(("utf-16", "utf-16-le", "utf-32", "utf-8-sig")), "replace")


def generate(rng: Random) -> tuple[str, bytes]:
    """One fuzz input: (family, bytes)."""
    roll = rng.random()
    if roll < 0.7:
        family, doc = gen_mutated(rng)
    elif roll < 0.8:
        family, doc = gen_random(rng)
    else:
        return gen_bytes(rng)
    data = dump(rng, doc)
    if rng.random() < 0.05:
        data = gzip.compress(data, compresslevel=1, mtime=0)
    return family, data


# ---------------------------------------------------------------------------------------------
# The harness: one input through the detector's pure edge, like pipeline.process does it


@dataclass(frozen=True)
class Issue:
    kind: str  # "crash" | "violation"
    signature: str
    stage: str
    detail: str


@dataclass
class Outcome:
    parsed: bool = False
    parse_error: bool = False
    events: int = 0
    findings: int = 0
    messages: int = 0
    verdicts: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def _frame_name(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3."):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker.startswith("/lib") else tail
    try:
        return str(Path(filename).resolve().relative_to(ROOT))
    except ValueError:
        return filename


def crash(stage: str, exc: BaseException) -> Issue:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(ROOT / "detector"))]
    where = []
    if ours:
        where.append(f"{_frame_name(ours[-1].filename)}:{ours[-1].lineno} ({ours[-1].name})")
    if frames and (not ours or frames[-1] is not ours[-1]):
        last = frames[-1]
        where.append(f"{_frame_name(last.filename)}:{last.lineno} ({last.name})")
    # The message without its values tells apart e.g. Slack's different limits.
    if isinstance(exc, UnicodeError):
        what = f"{getattr(exc, 'encoding', '?')}: {getattr(exc, 'reason', exc)}"
    else:
        what = re.sub(r"\\[xuU][0-9a-fA-F]+|\d+", "_", str(exc).partition("\n")[0])
    signature = (
        f"{type(exc).__name__} ({what[:80]}) in {stage} at {' <- '.join(reversed(where)) or '?'}"
    )
    detail = f"{type(exc).__name__}: {str(exc)[:500]}\n" + "".join(
        traceback.format_exception(exc)[-12:]
    )
    return Issue("crash", signature, stage, detail)


_VALUE_IN = re.compile(r"(, value: |: NonEmptyString is blank| in '| in \"| \[).*", re.S)


def violation(check: str, problems: list[str]) -> Issue:
    """One failed check; its signature is the check plus the first problem without its value."""
    first = problems[0].strip().splitlines()[-1].strip()
    shape = _VALUE_IN.sub("", re.sub(r"\[\d+\]", "[*]", first))[:200]
    return Issue("violation", f"{check}: {shape}", f"check:{check}", "\n".join(problems)[:4000])


Pick = tuple[KeyState, datetime, str]  # the confirm step's answer, the clock, the reason


def check_event(event: Any, picked: Pick, out: Outcome, timings: dict[str, float] | None) -> None:
    """classify -> finding (+ checks) -> message (+ checks), as pipeline.process does it."""
    clock = time.process_time
    stage = "classify"
    try:
        verdict = classify(event)
        out.verdicts.append(verdict.value)
        stage = "mask_key"
        mask_key(event.access_key_id)  # the pipeline's log fields
        headline(verdict)
        if verdict is Verdict.IGNORED:
            return
        fid: str | None = None
        confirmation: Confirmation | None = None
        if verdict.key_expected_present is not None and event.account_id is not None:
            state, now, reason = picked
            confirmation = Confirmation(state, reason)
            stage = "finding_id"
            fid = finding_id(event.account_id, event.access_key_id)
            stage = "build_finding"
            check_finding(event, verdict, confirmation, now=now, fid=fid, out=out, timings=timings)
        t0 = clock()
        stage = "links"
        links = Links(
            finding=securityhub_finding_url(REGION, fid) if fid else None,
            cloudtrail_event=cloudtrail_event_url(REGION, event.event_id),
        )
        stage = "build_message"
        message = build_message(event, verdict, confirmation, links=links, finding_id=fid)
        stage = "payload"
        payload = message.payload()
        out.messages += 1
        t1 = clock()
        stage = "check:live_markup"
        problems = live_markup(payload)
        if problems:
            out.issues.append(violation("live_markup", problems))
        if timings is not None:
            timings["build_message"] += t1 - t0
            timings["check_live_markup"] += clock() - t1
    except Exception as exc:  # noqa: BLE001 - anything but EventParseError is the finding
        out.issues.append(crash(stage, exc))


def check_finding(
    event: Any,
    verdict: Verdict,
    confirmation: Confirmation,
    *,
    now: datetime,
    fid: str,
    out: Outcome,
    timings: dict[str, float] | None,
) -> None:
    """Build the ASFF finding; a crash while checking it is reported as the check's."""
    t0 = time.process_time()
    finding = build_finding(
        event, verdict, confirmation, FindingContext.first_observation(event, verdict, REGION)
    )
    out.findings += 1
    t1 = time.process_time()
    try:
        problems = asff_problems(finding)
        if problems:
            out.issues.append(violation("asff_problems", problems))
        # Beyond the shared checks: the pipeline keys the ledger and the Slack button on
        # finding_id(account, raw key), so the imported finding must carry that same Id; and
        # AwsAccountId must be a real, ASCII, 12-digit account id.
        if finding["Id"] != fid:
            out.issues.append(
                violation("finding-id", [f"Id {finding['Id']!r} != pipeline's [{fid!r}]"])
            )
        if not ACCOUNT_ID.fullmatch(finding["AwsAccountId"]):
            account = finding["AwsAccountId"]
            out.issues.append(
                violation("account-id", [f"AwsAccountId not 12 ASCII digits [{account!r}]"])
            )
    except Exception as exc:  # noqa: BLE001
        out.issues.append(crash("check:asff", exc))
    if timings is not None:
        timings["build_finding"] += t1 - t0
        timings["check_asff"] += time.process_time() - t1


def run_input(
    data: bytes,
    pick: Callable[[], tuple[KeyState, datetime, str]],
    timings: dict[str, float] | None = None,
) -> Outcome:
    """Feed one input through the edge; never raises."""
    out = Outcome()
    t0 = time.process_time()
    stage = "load_document"
    try:
        doc = load_document(data)
        stage = "parse_input"
        events = parse_input(doc)
    except EventParseError:
        out.parse_error = True
        return out
    except Exception as exc:  # noqa: BLE001
        out.issues.append(crash(stage, exc))
        return out
    finally:
        if timings is not None:
            timings["load+parse"] += time.process_time() - t0
    out.parsed = True
    for event in events:
        out.events += 1
        check_event(event, pick(), out, timings)
        check_use(event, out)
    check_sessions(doc, out)
    return out


def check_use(event: Any, out: Outcome) -> None:
    """A root call signed with a long-term key, as the key's thread would be told of it."""
    stage = "key_use"
    try:
        use = key_use(event)
        if use is None:
            return
        stage = "use_message"
        payload = use_message(use, "fid", first=True, uses=1).payload()
        out.messages += 1
        problems = live_markup(payload)
        if problems:
            out.issues.append(violation("live_markup", problems))
    except Exception as exc:  # noqa: BLE001 - the reader must refuse, never raise
        out.issues.append(crash(stage, exc))


_SESSION_KEY = re.compile(r"ASIA[A-Z0-9]{12,124}")


def check_sessions(doc: Any, out: Outcome) -> None:
    """The AssumeRoot records of the input: each a sound session (or refused), its label inert."""
    stage = "sessions_in"
    try:
        for item in sessions_in(doc):
            if not hasattr(item, "caller_arn"):
                continue  # refused, with its reason
            stage = "session"
            problems = []
            if not re.fullmatch(r"[0-9]{12}", item.account):
                problems.append(f"member account {item.account!r}")
            if not _SESSION_KEY.fullmatch(item.access_key_id):
                problems.append(f"session key {item.access_key_id!r}")
            if problems:
                out.issues.append(violation("session", problems))
            stage = "labelled_message"
            payload = labelled_message(SlackMessage(text="alert"), item).payload()
            out.messages += 1
            found = live_markup(payload)
            if found:
                out.issues.append(violation("live_markup", found))
    except Exception as exc:  # noqa: BLE001 - the reader must refuse, never raise
        out.issues.append(crash(stage, exc))


# ---------------------------------------------------------------------------------------------
# Minimising a reproducer


def _fixed(state: KeyState, now: datetime, reason: str) -> Callable[[], Any]:
    return lambda: (state, now, reason)


def minimise(data: bytes, issue: Issue, pick: Callable[[], Any], budget_s: float = 4.0) -> bytes:
    """Greedy, bounded reduction that keeps ``issue.signature``; returns the smallest input.

    Parsable inputs lose log-file records, then keys and list items, then characters of their
    strings; the rest is shrunk byte by byte.
    """
    deadline = time.monotonic() + budget_s

    def keeps(candidate: bytes) -> bool:
        got = run_input(candidate, pick)
        return any(i.signature == issue.signature for i in got.issues)

    try:
        doc = load_document(data)
    except Exception:  # noqa: BLE001 - the issue may be the loader's own crash
        return shrink(data, keeps, deadline)
    if not keeps(json.dumps(doc).encode()):  # the issue needs these exact bytes
        return shrink(data, keeps, deadline)
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        for rec in doc["Records"]:
            if keeps(json.dumps({"Records": [rec]}).encode()):
                doc = {"Records": [rec]}
                break
    while time.monotonic() < deadline and _drop_one(doc, keeps):
        pass
    for parent, key in slots(doc):
        if isinstance(parent[key], str) and time.monotonic() < deadline:

            def keeps_text(text: str, parent: Any = parent, key: Any = key) -> bool:
                old, parent[key] = parent[key], text
                ok = keeps(json.dumps(doc).encode())
                parent[key] = old
                return ok

            parent[key] = shrink(parent[key], keeps_text, deadline)
    return json.dumps(doc, indent=1).encode()


def _drop_one(doc: Any, keeps: Callable[[bytes], bool]) -> bool:
    """Remove the first key or list item whose removal keeps the issue; False if none does."""
    for parent, key in reversed(slots(doc)):
        value = parent[key]
        del parent[key]
        if keeps(json.dumps(doc).encode()):
            return True
        if isinstance(parent, list):
            parent.insert(key, value)
        else:
            parent[key] = value
    return False


def shrink(data: Any, keeps: Callable[[Any], bool], deadline: float) -> Any:
    """Delta-debugging-lite over a str or bytes: drop ever smaller slices while ``keeps``."""
    size = max(1, len(data) // 2)
    while size >= 1 and time.monotonic() < deadline:
        at, shrunk = 0, False
        while at < len(data) and time.monotonic() < deadline:
            candidate = data[:at] + data[at + size :]
            if candidate and keeps(candidate):
                data, shrunk = candidate, True
            else:
                at += size
        if not shrunk:
            size //= 2
    return data


# ---------------------------------------------------------------------------------------------
# Chunks, workers, report


@dataclass
class Example:
    issue: Issue
    data: bytes  # minimised
    original_size: int
    family: str
    where: str  # seed/chunk/index
    state: str
    now: str
    reason: str


@dataclass
class Stats:
    iterations: int = 0
    parsed: int = 0
    parse_errors: int = 0
    events: int = 0
    findings: int = 0
    messages: int = 0
    crashes: int = 0
    violations: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    crash_sigs: Counter[str] = field(default_factory=Counter)
    violation_sigs: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Example] = field(default_factory=dict)
    timings: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Stats) -> None:
        for name in (
            "iterations", "parsed", "parse_errors", "events", "findings", "messages",
            "crashes", "violations",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("verdicts", "families", "crash_sigs", "violation_sigs", "timings"):
            getattr(self, name).update(getattr(other, name))
        for sig, example in other.examples.items():
            self.examples.setdefault(sig, example)


def run_chunk(
    seed: int, chunk: int, count: int, deadline: float, known: frozenset[str] = frozenset()
) -> Stats:
    """``count`` iterations with the RNG of (seed, chunk); stops early at ``deadline``.

    A reproducer is minimised for each signature not in ``known`` (first occurrence only).
    """
    rng = Random(f"{seed}:{chunk}")  # noqa: S311 - fuzzing, not cryptography
    stats = Stats()
    timings: dict[str, float] = Counter()
    picked: list[Pick] = []

    def pick() -> Pick:
        choice = (rng.choice(tuple(KeyState)), rng.choice(NOWS), rng.choice(REASONS))
        picked.append(choice)
        return choice

    for index in range(count):
        if time.time() > deadline:
            break
        t0 = time.process_time()
        family, data = generate(rng)
        timings["generate"] += time.process_time() - t0
        picked.clear()
        out = run_input(data, pick, timings)
        stats.iterations += 1
        stats.families[family] += 1
        stats.parsed += out.parsed
        stats.parse_errors += out.parse_error
        stats.events += out.events
        stats.findings += out.findings
        stats.messages += out.messages
        stats.verdicts.update(out.verdicts)
        for issue in out.issues:
            sigs = stats.crash_sigs if issue.kind == "crash" else stats.violation_sigs
            sigs[issue.signature] += 1
            if issue.kind == "crash":
                stats.crashes += 1
            else:
                stats.violations += 1
            if issue.signature not in stats.examples and issue.signature not in known:
                where = f"seed={seed} chunk={chunk} index={index}"
                budget = min(4.0, max(0.2, deadline - time.time()))  # honour --seconds
                stats.examples[issue.signature] = _example(
                    issue, data, family, where, picked, budget_s=budget
                )
    stats.timings.update(timings)
    return stats


def _example(
    issue: Issue, data: bytes, family: str, where: str, picked: list[Pick], *, budget_s: float
) -> Example:
    # Minimise with one fixed (state, now, reason): the first event's, else any that fails.
    candidates = picked or [(KeyState.UNCONFIRMED, NOWS[0], REASONS[0])]
    for state, now, reason in dict.fromkeys(candidates):
        pick = _fixed(state, now, reason)
        if any(i.signature == issue.signature for i in run_input(data, pick).issues):
            small = minimise(data, issue, pick, budget_s)
            return Example(
                issue, small, len(data), family, where, state.value, now.isoformat(), reason
            )
    state, now, reason = candidates[0]
    return Example(issue, data, len(data), family, where, state.value, now.isoformat(), reason)


def _chunk_args(seed: int, iterations: int, deadline: float) -> Iterator[tuple[Any, ...]]:
    for chunk, start in enumerate(range(0, iterations, CHUNK)):
        if time.time() > deadline:
            return
        yield seed, chunk, min(CHUNK, iterations - start), deadline


def fuzz(iterations: int, seed: int, deadline: float, workers: int) -> Stats:
    total = Stats()
    started = time.monotonic()
    next_report = PROGRESS_EVERY

    def absorb(stats: Stats) -> None:
        nonlocal next_report
        total.merge(stats)
        while total.iterations >= next_report:
            rate = total.iterations / max(time.monotonic() - started, 1e-9)
            print(
                f"fuzz: {total.iterations}/{iterations} iterations, {rate:.0f}/s, "
                f"events={total.events} findings={total.findings} "
                f"crashes={total.crashes} violations={total.violations}",
                file=sys.stderr,
                flush=True,
            )
            next_report += PROGRESS_EVERY

    args = _chunk_args(seed, iterations, deadline)
    if workers <= 1:
        seeds()
        for a in args:
            absorb(run_chunk(*a, frozenset(total.examples)))
        return total
    seeds()  # read before forking: the workers inherit it
    with multiprocessing.Pool(workers) as pool:
        pending: deque[Any] = deque()
        for a in args:
            pending.append(pool.apply_async(run_chunk, (*a, frozenset(total.examples))))
            if len(pending) >= 2 * workers:
                absorb(pending.popleft().get())
        while pending:
            absorb(pending.popleft().get())
    return total


def save(example: Example) -> Path:
    CRASH_DIR.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(example.data).hexdigest()[:16]
    path = CRASH_DIR / f"{digest}.json"
    path.write_bytes(example.data)
    issue = example.issue
    note = (
        f"{issue.kind}: {issue.signature}\n"
        f"stage: {issue.stage}\n"
        f"input: {example.family}, {example.original_size} bytes, minimised to "
        f"{len(example.data)} bytes ({example.where})\n"
        f"confirmation: Confirmation({example.state}, {example.reason!r}); "
        f"FindingContext(region={REGION!r}, now={example.now})\n"
        f"replay: .venv/bin/python -m bench.fuzz --replay {path.relative_to(ROOT)}\n\n"
        f"{issue.detail}\n"
    )
    path.with_suffix(".txt").write_text(note, encoding="utf-8", errors="backslashreplace")
    return path


def report(stats: Stats, seconds: float) -> int:
    err = sys.stderr
    print(f"fuzz: families {dict(sorted(stats.families.items()))}", file=err)
    print(f"fuzz: verdicts {dict(sorted(stats.verdicts.items()))}", file=err)
    busy = sum(stats.timings.values()) or 1.0
    shares = ", ".join(
        f"{k} {v:.1f}s ({100 * v / busy:.0f}%)" for k, v in stats.timings.most_common()
    )
    print(f"fuzz: worker CPU time by stage: {shares}", file=err)
    # CPU time next to wall time: on a shared machine the wall clock also counts waiting.
    cpu = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    print(
        f"fuzz: {stats.iterations / max(seconds, 1e-9):.0f} iterations/s wall, "
        f"{stats.iterations / max(cpu, 1e-9):.0f} per CPU-second (cpu {cpu:.1f}s, "
        f"load average {os.getloadavg()[0]:.1f})",
        file=err,
    )
    for title, sigs in (("crash", stats.crash_sigs), ("violation", stats.violation_sigs)):
        if sigs:
            print(f"distinct {title} signatures: {len(sigs)}")
        for sig, count in sigs.most_common():
            path = save(stats.examples[sig])
            print(f"  {count:7d}  {sig}\n           reproducer: {path.relative_to(ROOT)}")
    print(
        f"fuzz: iterations={stats.iterations} parsed={stats.parsed} "
        f"parse_errors={stats.parse_errors} events={stats.events} findings={stats.findings} "
        f"messages={stats.messages} crashes={stats.crashes} violations={stats.violations} "
        f"seconds={seconds:.1f}",
        flush=True,
    )
    return 1 if stats.crashes or stats.violations else 0


def replay(paths: list[str]) -> int:
    """Run saved inputs through the harness with every KeyState; print what still fails."""
    failed = 0
    for name in paths:
        data = Path(name).read_bytes()
        seen: dict[str, Issue] = {}
        for state in KeyState:
            for issue in run_input(data, _fixed(state, NOWS[0], REASONS[0])).issues:
                seen.setdefault(issue.signature, issue)
        print(f"{name}: {len(seen)} issue(s)")
        for issue in seen.values():
            print(f"  {issue.kind}: {issue.signature}\n    {issue.detail.splitlines()[0]}")
        failed += bool(seen)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--iterations", type=int, default=None, help="default 100,000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="re-run saved inputs")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    iterations = args.iterations
    if iterations is None:
        # --seconds alone: run until the time is up.
        iterations = 100_000 if args.seconds is None else 10**12
    deadline = time.time() + args.seconds if args.seconds is not None else float("inf")
    started = time.monotonic()
    stats = fuzz(iterations, args.seed, deadline, max(1, args.workers))
    return report(stats, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
