"""The rule-condition language: plain data, interpreted by a small tree walker.

A condition is a JSON/TOML value of one of these shapes::

    {"all": [COND, ...]}        every one holds
    {"any": [COND, ...]}        at least one holds
    {"not": COND}               negation
    {"fact": PATH, "op": "eq" | "ne", "value": SCALAR}
    {"fact": PATH, "op": "in", "value": [SCALAR, ...]}
    {"fact": PATH, "op": "gt" | "ge" | "lt" | "le", "value": NUMBER}
    {"fact": PATH, "op": "exists" | "missing" | "is_true" | "is_false"}
    {"fact": PATH, "op": "some", "match": COND}   PATH is a list; COND is read per item

``PATH`` is dotted (``return.signed_at``, ``derived.days_left_to_deadline``,
``video.best.requirements.completeness.verdict``); inside ``some`` it is
relative to the item (``where``, ``kept``).

Evaluation is three-valued (Kleene logic): a condition is true, false or
unknown (``None``). A missing or null fact is unknown, and an unknown fact never
satisfies ``eq``/``ne``/``in``/``gt``/``lt``/``is_true``/``is_false``; ``not``
of unknown stays unknown. Only ``exists`` and ``missing`` look at unknown-ness
itself. A rule fires only when its condition is *true*, so "unknown stays
unknown, never false". Nothing in a condition is ever passed to ``eval``: the
walker only compares values, which is why user-supplied rulebooks are safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

VALUE_OPS = frozenset({"eq", "ne", "in", "gt", "ge", "lt", "le"})
UNARY_OPS = frozenset({"exists", "missing", "is_true", "is_false"})
NESTED_OPS = frozenset({"some"})
OPS = VALUE_OPS | UNARY_OPS | NESTED_OPS
MAX_DEPTH = 16

Facts = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Result:
    """A condition's value (True, False or None = unknown) and the facts that decided it.

    For a true result ``facts`` are the facts that made it true; for an unknown
    result they are the unknown facts that kept it from being decided.
    """

    value: bool | None
    facts: Facts = ()


class ConditionError(ValueError):
    """A condition that does not follow the grammar (raised while loading a rulebook)."""


# --- validation -----------------------------------------------------------------------------

# ``lookup(path, scope)`` returns the JSON Schema of a fact (``scope`` is the item schema
# inside ``some``), or None when no such fact exists.
Lookup = Callable[[str, Any], Any]
# ``accepts(schema, value)`` says whether a rule's literal fits the fact's schema.
Accepts = Callable[[Any, Any], bool]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def validate(
    node: Any,
    where: str,
    lookup: Lookup,
    accepts: Accepts,
    scope: Any = None,
    depth: int = 0,
) -> None:
    """Check ``node`` against the grammar and the fact catalogue; raise ``ConditionError``."""
    if depth > MAX_DEPTH:
        raise ConditionError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, Mapping):
        raise ConditionError(f"{where}: expected a table like {{fact=..., op=...}}, got {node!r}")
    keys = set(node)
    for combinator in ("all", "any"):
        if combinator in keys:
            if keys != {combinator}:
                raise ConditionError(
                    f"{where}: '{combinator}' stands alone, got keys {sorted(keys)}"
                )
            items = node[combinator]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}.{combinator}: expected a non-empty list")
            for i, child in enumerate(items):
                validate(child, f"{where}.{combinator}[{i}]", lookup, accepts, scope, depth + 1)
            return
    if "not" in keys:
        if keys != {"not"}:
            raise ConditionError(f"{where}: 'not' stands alone, got keys {sorted(keys)}")
        validate(node["not"], f"{where}.not", lookup, accepts, scope, depth + 1)
        return
    if "fact" not in keys or "op" not in keys:
        raise ConditionError(
            f"{where}: expected all/any/not or {{fact, op[, value]}}, got keys {sorted(keys)}"
        )
    fact, op = node["fact"], node["op"]
    if not isinstance(fact, str) or not fact:
        raise ConditionError(f"{where}: fact must be a dotted path, got {fact!r}")
    if op not in OPS:
        raise ConditionError(f"{where}: unknown op {op!r}; known: {sorted(OPS)}")
    fact_schema = lookup(fact, scope)
    if fact_schema is None:
        raise ConditionError(f"{where}: unknown fact {fact!r} (see docs/predict.md, 'Facts')")
    allowed = {"fact", "op"} | ({"value"} if op in VALUE_OPS else set())
    allowed |= {"match"} if op in NESTED_OPS else set()
    extra = keys - allowed
    if extra:
        raise ConditionError(f"{where}: op {op!r} takes no {sorted(extra)}")
    if op in VALUE_OPS:
        if "value" not in keys:
            raise ConditionError(f"{where}: op {op!r} needs a value")
        value = node["value"]
        if op in ("gt", "ge", "lt", "le"):
            if not _is_number(value):
                raise ConditionError(f"{where}: op {op!r} needs a number, got {value!r}")
            if not accepts(fact_schema, value):
                raise ConditionError(f"{where}: {fact!r} is not a number fact")
        elif op == "in":
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{where}: op 'in' needs a non-empty list")
            for v in value:
                if v is None or not accepts(fact_schema, v):
                    raise ConditionError(f"{where}: {v!r} is not a possible value of {fact!r}")
        elif value is None or not accepts(fact_schema, value):
            raise ConditionError(f"{where}: {value!r} is not a possible value of {fact!r}")
    elif op in ("is_true", "is_false"):
        if not accepts(fact_schema, True):
            raise ConditionError(f"{where}: {fact!r} is not a true/false fact")
    elif op == "some":
        item_schema = fact_schema.get("items") if isinstance(fact_schema, Mapping) else None
        if item_schema is None:
            raise ConditionError(f"{where}: op 'some' needs a list fact, {fact!r} is not one")
        if "match" not in keys:
            raise ConditionError(f"{where}: op 'some' needs a match condition")
        validate(node["match"], f"{where}.match", lookup, accepts, item_schema, depth + 1)


# --- evaluation -----------------------------------------------------------------------------


def get(root: Any, path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    node = root
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _eq(a: Any, b: Any) -> bool:
    # ``True == 1`` in Python; a rule comparing a flag must not match a count.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if not (_is_number(a) and _is_number(b)):
        return None
    if op == "gt":
        return a > b
    if op == "ge":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def _merge(results: list[Result]) -> Facts:
    seen: dict[str, Any] = {}
    for r in results:
        for k, v in r.facts:
            seen.setdefault(k, v)
    return tuple(seen.items())


def _some_true(rs: list[Result]) -> Result | None:
    """Three-valued OR of ``rs``: True (with the facts of the true ones) if any is true,
    else unknown (the unknown ones' facts) if any is unknown; None when all are false."""
    trues = [r for r in rs if r.value is True]
    if trues:
        return Result(True, _merge(trues))
    unknown = [r for r in rs if r.value is None]
    if unknown:
        return Result(None, _merge(unknown))
    return None


def evaluate(node: Mapping[str, Any], root: Any, prefix: str = "") -> Result:
    """Evaluate a validated condition against ``root`` (the facts) in three-valued logic."""
    if "all" in node:
        rs = [evaluate(c, root, prefix) for c in node["all"]]
        falses = [r for r in rs if r.value is False]
        if falses:
            return Result(False, falses[0].facts)
        unknown = [r for r in rs if r.value is None]
        if unknown:
            return Result(None, _merge(unknown))
        return Result(True, _merge(rs))
    if "any" in node:
        rs = [evaluate(c, root, prefix) for c in node["any"]]
        either = _some_true(rs)
        return either if either is not None else Result(False, _merge(rs))
    if "not" in node:
        r = evaluate(node["not"], root, prefix)
        return Result(None if r.value is None else not r.value, r.facts)

    path, op = node["fact"], node["op"]
    value = get(root, path)
    shown = prefix + path
    if op == "exists":
        return Result(value is not None, ((shown, value),))
    if op == "missing":
        return Result(value is None, ((shown, value),))
    if value is None:
        return Result(None, ((shown, None),))
    if op == "some":
        if not isinstance(value, list):
            return Result(None, ((shown, None),))
        rs = [evaluate(node["match"], item, f"{shown}[{i}].") for i, item in enumerate(value)]
        either = _some_true(rs)
        if either is not None:
            return either
        return Result(False, ((shown, f"{len(value)} item(s), none matching"),))
    facts: Facts = ((shown, value),)
    if op == "is_true":
        return Result(value is True, facts)
    if op == "is_false":
        return Result(value is False, facts)
    if op == "eq":
        return Result(_eq(value, node["value"]), facts)
    if op == "ne":
        return Result(not _eq(value, node["value"]), facts)
    if op == "in":
        return Result(any(_eq(value, v) for v in node["value"]), facts)
    return Result(_compare(op, value, node["value"]), facts)
