"""Shared checks: what Security Hub and Slack accept, and what Slack would render live."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

# ASFF limits (AWS Security Finding Format syntax): botocore's model does not carry them.
ASFF_LIMITS = {
    "Id": 512,
    "Title": 256,
    "Description": 1024,
    "ResourceId": 512,
    "ProductFieldsEntries": 50,
    "ProductFieldKey": 128,
    "ProductFieldValue": 2048,
}
# Slack's own rendering of dates: the one `<...>` token our messages create on purpose.
DATE_TOKEN = re.compile(
    r"<!date\^-?\d+\^\{date_short_pretty\} \{time_secs\}"
    r"\|-?\d{1,4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC>"
)
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@cache
def import_shape() -> Shape:
    """BatchImportFindings' input shape, from botocore's bundled model (no network)."""
    model = botocore.session.get_session().get_service_model("securityhub")
    return model.operation_model("BatchImportFindings").input_shape


def _non_empty_problems(shape: Shape, value: Any, path: str) -> list[str]:
    """Security Hub's NonEmptyString (pattern ``.*\\S.*``), which botocore does not check."""
    problems: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                problems += _non_empty_problems(member, value[name], f"{path}.{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            problems += _non_empty_problems(shape.member, item, f"{path}[{i}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            problems += _non_empty_problems(shape.key, key, f"{path}{{key {key!r}}}")
            problems += _non_empty_problems(shape.value, item, f"{path}[{key!r}]")
    elif (
        shape.type_name == "string"
        and isinstance(value, str)
        and shape.metadata.get("pattern") == ".*\\S.*"
        and not re.search(r"\S", value)
    ):
        problems.append(f"{path}: NonEmptyString is blank: {value!r}")
    return problems


def asff_problems(finding: dict[str, Any]) -> list[str]:
    """Everything Security Hub would reject in ``finding``; empty when it would import it."""
    params = {"Findings": [finding]}
    report = ParamValidator().validate(params, import_shape())
    problems = [report.generate_report()] if report.has_errors() else []
    problems += _non_empty_problems(import_shape(), params, "$")
    limits = ASFF_LIMITS
    if len(finding.get("Id", "")) > limits["Id"]:
        problems.append(f"Id longer than {limits['Id']}")
    if len(finding.get("Title", "")) > limits["Title"]:
        problems.append(f"Title longer than {limits['Title']}")
    if len(finding.get("Description", "")) > limits["Description"]:
        problems.append(f"Description longer than {limits['Description']}")
    for res in finding.get("Resources", []):
        if len(res.get("Id", "")) > limits["ResourceId"]:
            problems.append(f"Resource Id longer than {limits['ResourceId']}")
    fields = finding.get("ProductFields", {})
    if len(fields) > limits["ProductFieldsEntries"]:
        problems.append("more than 50 ProductFields")
    for key, value in fields.items():
        if len(key) > limits["ProductFieldKey"]:
            problems.append(f"ProductFields key longer than 128: {key!r}")
        if len(value) > limits["ProductFieldValue"]:
            problems.append(f"ProductFields value longer than 2048 under {key!r}")
    return problems


def _strings(node: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        out: list[tuple[str, str]] = []
        for key, value in node.items():
            out += _strings(value, f"{path}.{key}")
        return out
    if isinstance(node, list):
        return [s for i, item in enumerate(node) for s in _strings(item, f"{path}[{i}]")]
    return []


def _our_button_urls(payload: dict[str, Any]) -> set[str]:
    """JSON paths of the button URLs the message itself creates (and nothing else)."""
    paths = set()
    for b, block in enumerate(payload.get("blocks", [])):
        if block.get("type") != "actions":
            continue
        for e, element in enumerate(block.get("elements", [])):
            if element.get("type") == "button" and "url" in element:
                paths.add(f"$.blocks[{b}].elements[{e}].url")
    return paths


def live_markup(payload: dict[str, Any]) -> list[str]:
    """Every place in a Slack payload where Slack would render a mention, link or control.

    Exempt, precisely: the ``url`` of the message's own buttons, and Slack's date token
    ``<!date^...|...>`` inside the "When" field. Everything else must hold no ``<`` or ``>``,
    no ``://``, no ``@`` directly before a letter, no control or bidi characters.
    """
    # Round-trip through JSON: what Slack receives, not what the objects hold.
    doc = json.loads(json.dumps(payload))
    exempt = _our_button_urls(doc)
    problems: list[str] = []
    for path, text in _strings(doc, "$"):
        if path in exempt:
            continue
        checked = DATE_TOKEN.sub("", text, count=1) if text.startswith("*When*\n") else text
        problems += [f"{path}: {p}" for p in text_problems(checked)]
    return problems


def text_problems(text: str) -> list[str]:
    """Why ``text`` is not inert Slack mrkdwn (an empty list when it is)."""
    problems = []
    if "<" in text or ">" in text:
        problems.append(f"angle bracket in {text[:120]!r}")
    if "://" in text:
        problems.append(f"'://' in {text[:120]!r}")
    if re.search(r"@(?=[^\W\d_])", text):
        problems.append(f"'@' before a letter in {text[:120]!r}")
    bad = [c for c in text if c in BIDI or (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    if bad:
        problems.append(f"control/bidi characters {bad[:5]!r}")
    return problems


# Slack's own parsing of plain mrkdwn text: an emoji code, and a domain (a dot before a letter
# of any script, also the ideographic and full-width dots) it would auto-link.
EMOJI_CODE = re.compile(r":[\w+'-]+:")
DOMAIN_DOT = re.compile(r"[.\u3002\uff0e\uff61](?=[^\W\d])")


def autolink_problems(text: str) -> list[str]:
    """Why Slack would still render an emoji or a link in untrusted ``text`` (empty if none).

    Only for text that is all untrusted (mrkdwn()'s output): the message's own emoji and
    requirement ids ("D3.PC.Am.B.1") are ours.
    """
    problems = []
    if EMOJI_CODE.search(text):
        problems.append(f"emoji code in {text[:120]!r}")
    if DOMAIN_DOT.search(text):
        problems.append(f"domain dot in {text[:120]!r}")
    if re.search(r"(?i)www\.", text):
        problems.append(f"'www.' in {text[:120]!r}")
    return problems
