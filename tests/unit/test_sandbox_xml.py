"""The sandbox's fast XML rendering of moto's answers is byte for byte xmltodict's."""

from __future__ import annotations

from typing import Any

import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.aws import prepare_moto

prepare_moto()
from moto.core import serialize  # noqa: E402 - patched by prepare_moto

NAMES = st.sampled_from(["Member", "key", "value", "SummaryMap", "a-b", "x_1", "Ns:el"])
TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),  # includes &, <, >, quotes, newlines
)
ATTRS = st.dictionaries(st.sampled_from(["@xmlns", "@id", "@lang"]), TEXT, max_size=2)


def _nodes(children: Any) -> Any:
    node = st.fixed_dictionaries({}, optional={"#text": TEXT}).flatmap(
        lambda base: st.tuples(ATTRS, st.dictionaries(NAMES, children, max_size=3)).map(
            lambda parts: {**parts[0], **base, **parts[1]}
        )
    )
    return st.one_of(node, st.lists(node | TEXT, max_size=3))


DOCS = st.dictionaries(NAMES, st.recursive(TEXT, _nodes, max_leaves=12), min_size=1, max_size=2)
MOTO_ARGS = {"full_document": False, "short_empty_elements": True, "pretty": False}


@settings(max_examples=400, deadline=None)
@given(DOCS)
def test_fast_rendering_equals_xmltodict(doc: dict[str, Any]) -> None:
    try:
        expected: Any = xmltodict.unparse(doc, **MOTO_ARGS)
    except ValueError as exc:
        expected = type(exc)
    try:
        fast: Any = serialize.xmltodict.unparse(doc, **MOTO_ARGS)
    except ValueError as exc:
        fast = type(exc)
    assert fast == expected


def test_other_options_are_left_to_xmltodict() -> None:
    doc = {"Root": {"@xmlns": "urn:x", "Child": ["one", {"#text": "two & three"}], "Empty": None}}
    for kwargs in ({"full_document": True}, {**MOTO_ARGS, "pretty": True}):
        assert serialize.xmltodict.unparse(doc, **kwargs) == xmltodict.unparse(doc, **kwargs)
    assert serialize.xmltodict.unparse(doc, **MOTO_ARGS) == (
        '<Root xmlns="urn:x"><Child>one</Child><Child>two &amp; three</Child><Empty/></Root>'
    )
