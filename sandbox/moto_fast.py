"""Cheaper ways for moto 5.2.5 to reach the same answers: each checked against moto's own path.

Each speed-up here re-states a piece of moto's code with less overhead and steps aside (moto's
own code runs) when moto is not the version it was written against. With ``VERIFY_FAST_MOTO``
set (the test suite sets it), moto's own code runs beside every fast path and the two must agree.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MOTO_VERSION = "5.2.5"  # the version whose code the fast paths re-state

# Set by the test suite: every fast path is checked against moto's own (see each function).
VERIFY_FAST_MOTO: list[bool] = []

_APPLIED: list[str] = []
_APPLY_LOCK = threading.Lock()
# moto's own functions the fast paths replaced, by name (tests and benchmarks compare them).
ORIGINALS: dict[str, tuple[Any, str, Any]] = {}  # name -> (owner, attribute, moto's value)
# What the fast paths remember (module level so that tests can corrupt it on purpose).
_MATCHES: dict[tuple[type, type], Any] = {}  # (processor class, node class) -> map key
_NESTS: dict[type, bool] = {}  # node class -> find_clauses descends into it
_PARSED: dict[str, Any] = {}  # UpdateExpression string -> its parsed tree


def moto_is_expected() -> bool:
    """Whether the installed moto is the one the fast paths re-state."""
    import moto  # noqa: PLC0415 - the sandbox's dependency

    return getattr(moto, "__version__", None) == MOTO_VERSION


def apply() -> list[str]:
    """Install every fast path (once); returns the names of those installed."""
    with _APPLY_LOCK:
        if not _APPLIED and moto_is_expected():
            _fast_ast_traversal()
            _fast_find_clauses()
            _fast_tree_copies()
            _parse_each_update_expression_once()
            _APPLIED.extend(("dynamodb-ast-traversal", "dynamodb-find-clauses"))
            _APPLIED.extend(("dynamodb-tree-copy", "dynamodb-update-expression-cache"))
        return list(_APPLIED)


def _replace(name: str, owner: Any, attribute: str, value: Any) -> None:
    ORIGINALS[name] = (owner, attribute, vars(owner)[attribute])
    setattr(owner, attribute, value)


@contextmanager
def moto_own_code() -> Iterator[None]:
    """Run moto's own code instead of the fast paths for a block (tests and benchmarks only:
    not safe while the sandbox serves requests)."""
    fast = {name: vars(owner)[attribute] for name, (owner, attribute, _) in ORIGINALS.items()}
    for owner, attribute, value in ORIGINALS.values():
        setattr(owner, attribute, value)
    try:
        yield
    finally:
        for name, (owner, attribute, _) in ORIGINALS.items():
            setattr(owner, attribute, fast[name])


class FastPathMismatch(AssertionError):
    """A fast path and moto's own code gave different answers (only raised when verifying)."""


# -- DynamoDB: expression trees -------------------------------------------------------------

_NOT_A_NODE = object()


def _fast_ast_traversal() -> None:
    """Walk DynamoDB's update-expression trees without re-deriving the same facts per node.

    ``UpdateItem`` runs ten processors over its expression's tree (``UpdateExpressionValidator``),
    each a ``DepthFirstTraverser``. For every node of every walk, moto's traversal rebuilds the
    processor's class-to-function map twice (once to test the node, once to process it) and
    tests the node's class with ``isinstance`` against abstract base classes: about a third of
    an UpdateItem's CPU. The walk here is the same walk (same order, same hook calls, same
    replacements in the parent), with the map built once per walk and each node class's match
    remembered. That memo assumes a class's ``isinstance`` answer does not change, which holds
    for moto's node classes (plain subclasses; nothing registers virtual ones).

    A processor class that overrides the traversal itself (none does in moto 5.2.5) keeps
    moto's walk. With ``VERIFY_FAST_MOTO`` set, every walk also runs moto's own traversal on a
    deep copy of the tree with a copy of the processor, and the resulting trees (every node's
    class, attributes and children), the processor's state after the walk, or the error raised,
    must be the same.
    """
    from moto.dynamodb.parsing import ast_nodes  # noqa: PLC0415 - moto internals, sandbox only

    traverser = ast_nodes.DepthFirstTraverser
    node_class = ast_nodes.Node
    original_traverse = traverser.traverse
    base_pre = traverser.pre_processing_of_child
    replaced = ("traverse", "traverse_node_recursively", "process", "nodes_to_be_processed")
    plain: dict[type, bool] = {}  # processor class -> walks the way moto's base class does
    matches = _MATCHES

    def walk_as_moto_does(processor: Any) -> bool:
        kind = type(processor)
        known = plain.get(kind)
        if known is None:
            known = all(getattr(kind, name) is getattr(traverser, name) for name in replaced)
            plain[kind] = known
        return known

    def traverse(self: Any, node: Any) -> Any:
        if not walk_as_moto_does(self):
            return original_traverse(self, node)
        if VERIFY_FAST_MOTO:
            return _verified_walk(self, node, fast_walk, original_traverse)
        return fast_walk(self, node)

    def fast_walk(self: Any, root: Any) -> Any:
        functions = self._processing_map()
        kinds = tuple(functions)
        pre = self.pre_processing_of_child
        if getattr(type(self), "pre_processing_of_child", None) is base_pre:
            pre = None
        kind = type(self)

        def visit(node: Any, child_id: int) -> Any:
            key = (kind, type(node))
            match = matches.get(key, matches)  # the dict itself: not seen yet
            if match is matches:
                if not isinstance(node, node_class):
                    match = _NOT_A_NODE
                elif isinstance(node, kinds):
                    match = next(k for k in kinds if isinstance(node, k))
                else:
                    match = None
                matches[key] = match
            if match is _NOT_A_NODE:
                return node
            parent_node = node.parent
            children = node.children
            if children is not None:
                for i, child_node in enumerate(children):
                    if pre is not None:
                        pre(node, i)
                    visit(child_node, i)
            if match is not None:
                node = functions[match](node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
            return node

        return visit(root, -1)

    _replace("traverse", traverser, "traverse", traverse)


def _verified_walk(processor: Any, node: Any, fast: Any, reference: Any) -> Any:
    """Run ``fast`` and moto's ``reference`` walk on separate copies; they must agree."""
    their_processor = copy.copy(processor)
    their_node = copy.deepcopy(node)
    theirs: Any
    try:
        theirs = ("ok", _tree(reference(their_processor, their_node)))
    except Exception as exc:  # noqa: BLE001 - compared below
        theirs = ("raised", type(exc), str(exc))
    try:
        result = fast(processor, node)
    except Exception as exc:
        ours = ("raised", type(exc), str(exc))
        if ours != theirs:
            raise FastPathMismatch(f"DynamoDB tree walk: {ours!r} != moto's {theirs!r}") from exc
        raise
    ours = ("ok", _tree(result))
    if ours != theirs or _state(processor) != _state(their_processor):
        raise FastPathMismatch(f"DynamoDB tree walk: {ours!r} != moto's {theirs!r}")
    return result


def _tree(value: Any) -> Any:
    """A comparable image of an expression tree: classes, attributes and children, in order."""
    from moto.dynamodb.parsing.ast_nodes import Node  # noqa: PLC0415 - moto internals

    if isinstance(value, Node):
        attrs = sorted(
            (name, _tree(item))
            for name, item in vars(value).items()
            if name not in {"parent", "children"}
        )
        children = None if value.children is None else [_tree(c) for c in value.children]
        parent_ok = all(
            getattr(c, "parent", value) is value
            for c in value.children or []
            if isinstance(c, Node)
        )
        return (type(value).__name__, attrs, children, parent_ok)
    if isinstance(value, (list, tuple)):
        return [_tree(v) for v in value]
    return repr(value)


def _state(processor: Any) -> Any:
    return sorted((k, repr(v)) for k, v in vars(processor).items())


def _fast_find_clauses() -> None:
    """``Node.find_clauses`` with each node class's "does it nest clauses?" answer remembered.

    Validators call it on every update-expression node of a tree, and it descends the whole
    subtree testing each child against two abstract base classes; the ``isinstance`` calls
    through ``ABCMeta`` were most of its cost. The same descent, with the two tests' answer
    kept per class (the same assumption as the traversal above). With ``VERIFY_FAST_MOTO``
    set, moto's own ``find_clauses`` also runs and must return the very same node objects in
    the same order.
    """
    from moto.dynamodb.parsing import ast_nodes  # noqa: PLC0415 - moto internals, sandbox only

    node_class = ast_nodes.Node
    original = node_class.find_clauses
    expression = ast_nodes.Expression
    function = ast_nodes.UpdateExpressionFunction
    nests = _NESTS

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        clauses: list[Any] = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
                continue
            nested = nests.get(kind)
            if nested is None:
                nested = isinstance(child, (expression, function))
                nests[kind] = nested
            if nested:
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    def checked(self: Any, clause_types: Any) -> list[Any]:
        ours = find_clauses(self, clause_types)
        if VERIFY_FAST_MOTO:
            theirs = original(self, clause_types)
            if [id(c) for c in ours] != [id(c) for c in theirs]:
                raise FastPathMismatch(f"find_clauses: {ours!r} != moto's {theirs!r}")
        return ours

    _replace("find_clauses", node_class, "find_clauses", checked)


class _NotATree(Exception):
    """The value holds something the tree copy leaves to ``copy.deepcopy``."""


def _fast_tree_copies() -> None:
    """Copy update-expression trees without ``copy.deepcopy``'s generic machinery.

    Every ``UpdateExpressionValidator`` deep-copies the parsed tree before working on it
    (twice per UpdateItem that creates its item): ~20% of an UpdateItem's CPU went to
    ``deepcopy``'s per-object dispatch. A parsed tree is plain data: nodes (plain classes: no
    ``__deepcopy__``, ``__reduce__``, ``__getstate__`` or slots of their own) whose attributes
    are nodes, lists, strings, numbers, booleans or None. For such a value the copy here builds
    what ``deepcopy`` builds: each node re-created with ``__new__`` and a copy of its
    attributes, each list a new list, immutable values shared, an object reached twice copied
    once. Any other value (``validators`` also deep-copies DynamoDB values) goes to
    ``copy.deepcopy``. With ``VERIFY_FAST_MOTO`` set, ``deepcopy`` also copies every tree, and
    the two copies must have the same image (:func:`_tree`) and share no node with the input.
    """
    from moto.dynamodb.parsing import ast_nodes, validators  # noqa: PLC0415 - moto internals

    node_class = ast_nodes.Node
    deepcopy = copy.deepcopy
    atomic = (str, int, float, bool, type(None))
    plain_nodes: dict[type, bool] = {}

    def plain(kind: type) -> bool:
        known = plain_nodes.get(kind)
        if known is None:
            known = (
                issubclass(kind, node_class)
                and kind.__reduce_ex__ is object.__reduce_ex__
                and kind.__reduce__ is object.__reduce__
                and kind.__getstate__ is object.__getstate__  # type: ignore[attr-defined]
                and not hasattr(kind, "__deepcopy__")
                and not hasattr(kind, "__setstate__")
                and all("__slots__" not in vars(k) for k in kind.__mro__)
            )
            plain_nodes[kind] = known
        return known

    def copy_value(value: Any, memo: dict[int, Any]) -> Any:
        kind = type(value)
        if kind in atomic:
            return value
        found = memo.get(id(value))
        if found is not None:
            return found
        if kind is list:
            new_list: list[Any] = []
            memo[id(value)] = new_list
            new_list.extend(copy_value(item, memo) for item in value)
            return new_list
        if not plain(kind):
            raise _NotATree
        node = kind.__new__(kind)
        memo[id(value)] = node
        node.__dict__.update({k: copy_value(v, memo) for k, v in vars(value).items()})
        return node

    def tree_copy(value: Any, memo: Any = None, _nil: Any = None) -> Any:
        if memo is not None or _nil is not None or not isinstance(value, node_class):
            return deepcopy(value, memo) if _nil is None else deepcopy(value, memo, _nil)
        try:
            ours = copy_value(value, {})
        except _NotATree:
            return deepcopy(value)
        if VERIFY_FAST_MOTO:
            theirs = deepcopy(value)
            if _tree(ours) != _tree(theirs):
                raise FastPathMismatch(
                    f"tree copy: {_tree(ours)!r} != deepcopy's {_tree(theirs)!r}"
                )
            if {id(n) for n in _nodes(ours)} & {id(n) for n in _nodes(value)}:
                raise FastPathMismatch("tree copy shares nodes with the tree it copied")
        return ours

    _replace("deepcopy", validators, "deepcopy", tree_copy)


def _nodes(value: Any) -> list[Any]:
    """Every node and list of a tree (the input of :func:`_tree`), parents included."""
    seen: dict[int, Any] = {}
    todo = [value]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (str, int, float, bool, type(None))):
            continue
        seen[id(item)] = item
        if isinstance(item, list):
            todo.extend(item)
        elif hasattr(item, "__dict__"):
            todo.extend(vars(item).values())
    return list(seen.values())


_PARSED_LIMIT = 512


def _parse_each_update_expression_once() -> None:
    """Parse each distinct UpdateExpression once, not twice per call and again every call.

    moto parses an UpdateItem's expression in its response layer (to list the names and values
    it uses) and again in its backend; the detector sends the same few expressions over and
    over. The parsed tree is only read: the response layer lists clauses, and the backend hands
    it to ``UpdateExpressionValidator``, which works on its own copy. So the tree made for an
    expression string is kept (up to 512 strings) and handed out again. An expression that
    fails to parse raises as before, every time. With ``VERIFY_FAST_MOTO`` set, each cached
    tree is also parsed again and compared with the kept one (:func:`_tree`), which also
    catches anyone having changed the kept tree since.
    """
    from moto.dynamodb.parsing.expressions import (  # noqa: PLC0415 - moto internals
        UpdateExpressionParser,
    )

    make = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    parsed = _PARSED
    lock = threading.Lock()

    def make_once(cls: Any, expression_str: Any) -> Any:
        if cls is not UpdateExpressionParser or type(expression_str) is not str:
            return make(cls, expression_str)
        with lock:
            tree = parsed.get(expression_str)
        if tree is None:
            tree = make(cls, expression_str)
            with lock:
                if len(parsed) >= _PARSED_LIMIT:
                    parsed.clear()
                tree = parsed.setdefault(expression_str, tree)
        elif VERIFY_FAST_MOTO:
            fresh = make(cls, expression_str)
            if _tree(tree) != _tree(fresh):
                raise FastPathMismatch(f"cached parse of {expression_str!r} changed")
        return tree

    _replace("make", UpdateExpressionParser, "make", classmethod(make_once))
