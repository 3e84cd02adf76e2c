"""The sandbox's fast paths inside moto answer as moto's own code does, and verifying catches
a fast path that does not."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import moto_fast
from sandbox.aws import prepare_moto

prepare_moto()
from moto.dynamodb.models import dynamodb_backends  # noqa: E402 - patched by prepare_moto
from moto.dynamodb.parsing import ast_nodes, validators  # noqa: E402
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # noqa: E402

ACCOUNT = "222233334444"  # an account of its own: other tests never touch it
TABLE = "fast-path-table"
ITEM: dict[str, Any] = {
    "pk": {"S": "k"},
    "a": {"N": "5"},
    "s": {"S": "text"},
    "l": {"L": [{"S": "x"}, {"N": "2"}]},
    "m": {"M": {"x": {"S": "y"}, "inner": {"M": {}}}},
    "ss": {"SS": ["p", "q"]},
    "n": {"N": "1"},
}
NAMES = {"#st": "status", "#a": "a", "#m": "m"}
VALUES = {
    ":one": {"N": "1"},
    ":two": {"N": "2"},
    ":s": {"S": "RUNNING"},
    ":list": {"L": [{"S": "z"}]},
    ":empty": {"L": []},
    ":set": {"SS": ["p"]},
    ":e": {"S": ""},
}
# Update expressions of many shapes, some of which moto rejects (each error must be the same).
EXPRESSIONS = [
    "SET #st = :s, lease = :one, verdict = :s, expires_at = :two ADD attempts :one",
    "SET #a = #a + :one, b = if_not_exists(b, :two) - :one",
    "SET l = list_append(l, :list), l2 = list_append(if_not_exists(l2, :empty), :list)",
    "REMOVE l[0], #m.x SET c = :s",
    "DELETE ss :set",
    "ADD n :two, newset :set",
    "SET #m.inner.deep = :one, #m.x = :s",
    "SET #m.missing.deep = :one",  # a path that does not exist
    "SET a = :one, a = :two",  # the same path twice
    "SET #m = :one, #m.x = :s",  # overlapping paths
    "SET pk = :s",  # the key
    "SET q = nothing + :one",  # an attribute that does not exist
    "SET a = :one SET b = :two",  # two SET clauses
    "SET s = :e",
    "REMOVE l[5], l[1]",
]


@pytest.fixture
def backend() -> Iterator[Any]:
    dynamodb = dynamodb_backends[ACCOUNT]["us-east-1"]
    dynamodb.create_table(
        TABLE,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    yield dynamodb
    dynamodb.delete_table(TABLE)


def _update(dynamodb: Any, expression: str, *, fresh: bool = False) -> Any:
    """The item after the update (or the error), from a fresh copy of ITEM (or no item)."""
    dynamodb.delete_item(TABLE, {"pk": {"S": "k"}})
    if not fresh:
        dynamodb.put_item(TABLE, copy.deepcopy(ITEM))
    try:
        item = dynamodb.update_item(
            TABLE,
            {"pk": {"S": "k"}},
            update_expression=expression,
            expression_attribute_names={k: v for k, v in NAMES.items() if k in expression},
            expression_attribute_values={k: v for k, v in VALUES.items() if k in expression},
        )
    except moto_fast.FastPathMismatch:
        raise
    except Exception as exc:  # noqa: BLE001 - the error is the answer compared
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", item.to_json())


@pytest.mark.parametrize("fresh", [False, True], ids=["existing-item", "new-item"])
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_update_item_answers_as_moto_does(backend: Any, expression: str, fresh: bool) -> None:
    assert moto_fast.apply()  # the fast paths are in place (moto is the expected version)
    ours = _update(backend, expression, fresh=fresh)
    with moto_fast.moto_own_code():
        theirs = _update(backend, expression, fresh=fresh)
    assert ours == theirs


def test_tree_copy_is_a_deep_copy() -> None:
    for expression in EXPRESSIONS:
        tree = UpdateExpressionParser.make(expression)
        ours = validators.deepcopy(tree)
        assert validators.deepcopy is not copy.deepcopy
        assert moto_fast._tree(ours) == moto_fast._tree(copy.deepcopy(tree))
        assert not {id(n) for n in moto_fast._nodes(ours)} & {id(n) for n in moto_fast._nodes(tree)}


# -- a fast path made wrong on purpose: verifying must catch it -------------------------------


def test_verifying_catches_a_wrong_clause_search(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # find_clauses no longer descends into nested update expressions.
    monkeypatch.setitem(moto_fast._NESTS, ast_nodes.UpdateExpression, False)
    with pytest.raises(moto_fast.FastPathMismatch):
        UpdateExpressionParser.make("SET a = :one ADD n :one").find_clauses(
            [ast_nodes.UpdateExpressionAddClause]
        )
    monkeypatch.setattr(moto_fast, "VERIFY_FAST_MOTO", [])
    tree = UpdateExpressionParser.make("SET a = :one ADD n :one")
    assert tree.find_clauses([ast_nodes.UpdateExpressionAddClause]) == []  # wrong, unnoticed


def test_verifying_catches_a_wrong_tree_walk(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The walk no longer replaces ":one" by its value.
    key = (validators.ExpressionAttributeValueProcessor, ast_nodes.ExpressionAttributeValue)
    monkeypatch.setitem(moto_fast._MATCHES, key, None)
    with pytest.raises(moto_fast.FastPathMismatch):
        _update(backend, "SET a = :one")
    monkeypatch.setattr(moto_fast, "VERIFY_FAST_MOTO", [])
    assert _update(backend, "SET a = :one")[0] == "raised"  # wrong, unnoticed


def test_verifying_catches_a_wrong_cached_parse(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = UpdateExpressionParser.make("SET b = :one")
    monkeypatch.setitem(moto_fast._PARSED, "SET a = :one", wrong)
    with pytest.raises(moto_fast.FastPathMismatch):
        _update(backend, "SET a = :one")
    monkeypatch.setattr(moto_fast, "VERIFY_FAST_MOTO", [])
    assert "b" in _update(backend, "SET a = :one")[1]["Attributes"]  # wrong, unnoticed
