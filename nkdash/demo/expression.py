"""Odoo domains as data: syntax (normalise, combine, parse), leaf values (coercion,
comparison, ``LIKE`` patterns), display names, and predicates over plain dicts.

Semantics follow Odoo (``odoo/osv/expression.py``): implicit ``&``; prefix ``&``,
``|``, ``!``; ``False`` is null (``("x", "=", False)`` matches unset, ``!=``, ``not in``,
``not like`` and ``not ilike`` also match unset); a ``YYYY-MM-DD`` value on a datetime
field means the start of that day (the end of it for ``>`` and ``<=``).

Stored datetimes may carry microseconds (``write_date``, ``create_date``: see
:mod:`nkdash.demo.store`) and are compared as stored, as PostgreSQL compares
``timestamp`` columns: a value written at ``10:00:00.5`` is ``> "10:00:00"``. A domain
value with a fraction of its own is cut to the second (as ``Datetime.to_datetime`` cuts
strings in Odoo 16-18); clients send whole seconds, what ``read`` gave them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from nkdash.demo.store import Model

TRUE_LEAF = (1, "=", 1)
FALSE_LEAF = (0, "=", 1)
TRUE_DOMAIN = [TRUE_LEAF]
FALSE_DOMAIN = [FALSE_LEAF]

LEAF_OPERATORS = frozenset(
    {
        "=",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "=?",
        "=like",
        "like",
        "not like",
        "ilike",
        "not ilike",
        "=ilike",
        "in",
        "not in",
        "child_of",
        "parent_of",
        "any",
        "not any",
    }
)
NEGATIONS = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike", "not any": "any"}
RANGE_OPERATORS = frozenset({">", ">=", "<", "<="})
RELATIONAL = frozenset({"many2one", "one2many", "many2many"})
NUMERIC = frozenset({"integer", "float", "monetary"})
PARENT_FIELDS = {"stock.location": "location_id"}  # Odoo's _parent_name where it is not parent_id

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


# --------------------------------------------------------------------------- syntax
class Leaf(NamedTuple):
    path: Any
    op: str
    value: Any


class And(NamedTuple):
    children: tuple


class Or(NamedTuple):
    children: tuple


class Not(NamedTuple):
    child: Any


class Any_(NamedTuple):
    """``field any subdomain`` on a relational field (also what a dotted path becomes)."""

    field: str
    domain: list


def is_null(value: Any) -> bool:
    return value is False or value is None


def _check_leaf(token: Any) -> tuple:
    if not isinstance(token, (list, tuple)) or len(token) != 3:
        raise ValueError(f"Invalid leaf {token!r}")
    leaf = tuple(token)
    if leaf in (TRUE_LEAF, FALSE_LEAF):
        return leaf
    if not isinstance(leaf[0], str) or leaf[1] not in LEAF_OPERATORS:
        raise ValueError(f"Invalid leaf {token!r}")
    return leaf


def normalize(domain: Sequence | None) -> list:
    """Odoo's ``normalize_domain``: explicit prefix operators, leaves as tuples."""
    if not domain:
        return list(TRUE_DOMAIN)
    if not isinstance(domain, (list, tuple)):
        raise ValueError(f"Invalid domain {domain!r}")
    result: list = []
    expected = 1
    for token in domain:
        if expected == 0:  # a complete term followed by more: implicit '&'
            result.insert(0, "&")
            expected = 1
        if token in ("&", "|"):
            expected += 1
        elif token != "!":
            token = _check_leaf(token)
            expected -= 1
        result.append(token)
    if expected != 0:
        raise ValueError(f"Invalid domain {domain!r}")
    return result


def AND(domains: Sequence[Sequence]) -> list:
    """Odoo's ``expression.AND``: normalised, ``TRUE`` domains dropped, ``FALSE`` wins."""
    parts = []
    for domain in domains:
        domain = normalize(domain)
        if domain == FALSE_DOMAIN:
            return list(FALSE_DOMAIN)
        if domain != TRUE_DOMAIN:
            parts.append(domain)
    if not parts:
        return list(TRUE_DOMAIN)
    return ["&"] * (len(parts) - 1) + [token for part in parts for token in part]


def parse(domain: Sequence | None) -> Any:
    """Domain -> tree of :class:`And` / :class:`Or` / :class:`Not` / :class:`Leaf` (flattened)."""
    tokens = iter(normalize(domain))

    def term() -> Leaf | And | Or | Not:
        token = next(tokens)
        if token == "!":
            return Not(term())
        if token in ("&", "|"):
            kind = And if token == "&" else Or
            children: list[Leaf | And | Or | Not] = []
            for child in (term(), term()):
                children.extend(child.children if isinstance(child, kind) else [child])
            return kind(tuple(children))
        return Leaf(*token)

    return term()


def mentions(domain: Sequence | None, field: str) -> bool:
    return any(isinstance(t, (list, tuple)) and t and t[0] == field for t in domain or ())


# --------------------------------------------------------------------------- values
def like_matcher(pattern: str, *, wrap: bool, ignore_case: bool) -> Callable[[str], bool]:
    """SQL ``LIKE`` pattern (``%``, ``_``, backslash escapes) -> match function."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    body = "".join(parts)
    regex = re.compile(f".*{body}.*" if wrap else body, re.S | (re.I if ignore_case else 0))
    return lambda value: regex.fullmatch(value) is not None


def value_test(op: str, right: Any) -> Callable[[Any], bool]:
    """Test of a stored scalar against a positive operator (negations are handled by callers)."""
    if op == "=":
        return is_null if is_null(right) else (lambda v: not is_null(v) and v == right)
    if op == "in":
        right = right if isinstance(right, (list, tuple, set, frozenset)) else [right]
        nulls = any(is_null(r) for r in right)
        values = {r for r in right if not is_null(r)}
        return lambda v: nulls if is_null(v) else v in values
    if op in RANGE_OPERATORS:
        if is_null(right):
            return lambda v: False
        compare = {
            ">": lambda v: v > right,
            ">=": lambda v: v >= right,
            "<": lambda v: v < right,
            "<=": lambda v: v <= right,
        }[op]
        return lambda v: not is_null(v) and compare(v)
    if op in ("like", "ilike", "=like", "=ilike"):
        if is_null(right):
            return lambda v: False
        match = like_matcher(str(right), wrap=not op.startswith("="), ignore_case="ilike" in op)
        return lambda v: not is_null(v) and match(v if isinstance(v, str) else str(v))
    raise ValueError(f"Invalid operator {op!r}")


def coerce(field_type: str, op: str, right: Any) -> Any:
    """Make a leaf value comparable with stored values (strings for dates, numbers)."""
    if isinstance(right, (list, tuple)):
        return [coerce(field_type, op, r) for r in right]
    if is_null(right):
        return right
    if field_type == "datetime":
        if isinstance(right, dt.datetime):
            return right.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(right, dt.date):
            right = right.isoformat()
        right = str(right).replace("T", " ")
        if len(right) == 10:
            return right + (" 23:59:59" if op in (">", "<=") else " 00:00:00")
        return right[:19]
    if field_type == "date":
        return right.isoformat()[:10] if isinstance(right, dt.date) else str(right)[:10]
    if field_type in NUMERIC and isinstance(right, str):
        try:
            return float(right)
        except ValueError:
            raise ValueError(f"Invalid value {right!r} for a {field_type} field") from None
    return right


def display_name(model: Model, record: Record) -> str:
    """``display_name`` from the model's rec_name, ``model,id`` when that is empty."""
    value = record.get(model.rec_name, False)
    if is_null(value) or value == "":
        return f"{model.name},{record['id']}"
    return value if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- predicates
def always(record: Record) -> bool:
    return True


def all_of(predicates: list[Predicate]) -> Predicate:
    predicates = [p for p in predicates if p is not always]
    if not predicates:
        return always
    if len(predicates) == 1:
        return predicates[0]

    def conjunction(record: Record) -> bool:
        return all(predicate(record) for predicate in predicates)

    return conjunction


def any_of(predicates: list[Predicate]) -> Predicate:
    if always in predicates:
        return always

    def disjunction(record: Record) -> bool:
        return any(predicate(record) for predicate in predicates)

    return disjunction


def dict_predicate(domain: Sequence | None) -> Predicate:
    """A domain over plain dicts (keys as fields, scalar comparisons): ``having`` clauses."""

    def compile_node(node: Any) -> Predicate:
        if isinstance(node, And):
            return all_of([compile_node(c) for c in node.children])
        if isinstance(node, Or):
            return any_of([compile_node(c) for c in node.children])
        if isinstance(node, Not):
            inner = compile_node(node.child)
            return lambda row: not inner(row)
        if tuple(node) in (TRUE_LEAF, FALSE_LEAF):
            return always if tuple(node) == TRUE_LEAF else (lambda row: False)
        key, op, value = node
        negate = op in NEGATIONS
        test = value_test(NEGATIONS.get(op, op), value)
        return (lambda row: not test(row.get(key, False))) if negate else (lambda row: test(row.get(key, False)))

    return compile_node(parse(domain))
