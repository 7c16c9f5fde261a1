"""Odoo domains evaluated over the demo store, with indexes for the selective leaves.

A domain is compiled once per call into a :class:`Filter`: a Python predicate over a
stored record plus, when a selective leaf allows it, a *source* (a sorted list of
candidate ids taken from an index) and bounds on ``id``. :meth:`Domains.select` then
walks the candidates in id order and yields the ids that pass the predicate, lazily,
so keyset paging (``[("id", ">", last)]``, ``order="id"``, ``limit=n``) touches about
``n`` records.

Semantics follow Odoo (``odoo/osv/expression.py``; the syntax and leaf values are in
:mod:`nkdash.demo.expression`): dotted paths and ``any`` over relational fields; string
values on relational fields search the related display name; ``active_test``.
The syntax helpers and :class:`~nkdash.demo.indexes.Indexes` are re-exported here.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from math import inf
from typing import Any

from nkdash.demo.expression import (
    AND,
    FALSE_LEAF,
    NEGATIONS,
    PARENT_FIELDS,
    RANGE_OPERATORS,
    RELATIONAL,
    TRUE_LEAF,
    And,
    Any_,
    Leaf,
    Not,
    Or,
    Predicate,
    Record,
    all_of,
    always,
    any_of,
    coerce,
    dict_predicate,
    display_name,
    is_null,
    mentions,
    normalize,
    parse,
    value_test,
)
from nkdash.demo.indexes import Indexes
from nkdash.demo.store import Database, Model

__all__ = ["AND", "Domains", "Filter", "Indexes", "Source", "dict_predicate", "display_name", "is_null", "normalize"]


@dataclass(frozen=True)
class Source:
    """Candidate ids from an index: ``size`` is exact or an upper bound, ``fetch`` sorts them."""

    size: int
    fetch: Callable[[], list[int]]


def _source(ids: Sequence[int]) -> Source:
    return Source(len(ids), lambda: sorted(ids))


def _union(lists: list[list[int]]) -> Source:
    return Source(sum(map(len, lists)), lambda: sorted(chain.from_iterable(lists)))


@dataclass(frozen=True)
class Filter:
    predicate: Predicate = always
    source: Source | None = None  # None: every record is a candidate
    lo: float = -inf  # id >= lo
    hi: float = inf  # id < hi


ID_BOUNDS = {
    ">": lambda n: (n + 1, inf),
    ">=": lambda n: (n, inf),
    "<": lambda n: (-inf, n),
    "<=": lambda n: (-inf, n + 1),
}


# --------------------------------------------------------------------------- evaluation
class Domains:
    """Compiles and runs domains over one database for one call (its context and version)."""

    def __init__(self, db: Database, indexes: Indexes, context: dict | None = None):
        self.db = db
        self.indexes = indexes
        self.context = context or {}

    # public ------------------------------------------------------------------
    def search(
        self, model: Model, domain: Sequence | None, *, active_test: bool | None = None, reverse: bool = False
    ) -> Iterator[int]:
        """Matching ids in id order (descending with ``reverse``), lazily."""
        return self.select(model, self.compile(model, domain, active_test=active_test), reverse=reverse)

    def compile(self, model: Model, domain: Sequence | None, *, active_test: bool | None = None) -> Filter:
        if active_test is None:
            active_test = self.context.get("active_test", True) is not False
        if active_test and "active" in model.fields and not mentions(domain, "active"):
            domain = AND([[("active", "=", True)], domain or []])
        return self._node(model, parse(domain))

    def select(self, model: Model, flt: Filter, *, reverse: bool = False) -> Iterator[int]:
        ids = self._candidates(model, flt)
        start, stop = bisect_left(ids, flt.lo), bisect_left(ids, flt.hi)
        positions = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
        records, predicate = model.records, flt.predicate
        for position in positions:
            rid = ids[position]
            record = records.get(rid)
            if record is not None and predicate(record):
                yield rid

    def _candidates(self, model: Model, flt: Filter) -> list[int]:
        everything = self.indexes.ids(model)
        if flt.source is None:
            return everything
        in_bounds = bisect_left(everything, flt.hi) - bisect_left(everything, flt.lo)
        return everything if in_bounds <= flt.source.size else flt.source.fetch()

    def ids(self, model: Model, domain: Sequence | None, **kw: Any) -> list[int]:
        return list(self.search(model, domain, **kw))

    # tree --------------------------------------------------------------------
    def _node(self, model: Model, node: Any) -> Filter:
        if isinstance(node, And):
            return self._and(model, node.children)
        if isinstance(node, Or):
            return self._or(model, node.children)
        if isinstance(node, Not):
            inner = self._node(model, node.child).predicate
            return Filter(lambda record: not inner(record))
        if isinstance(node, Any_):
            return self._any(model, node.field, node.domain)
        return self._leaf(model, node)

    def _and(self, model: Model, children: tuple) -> Filter:
        merged = self._merge_many2one_paths(model, children)
        filters = [self._node(model, child) for child in merged]
        filters += self._date_ranges(model, merged)
        sources = [f.source for f in filters if f.source is not None]
        return Filter(
            all_of([f.predicate for f in filters]),
            min(sources, key=lambda s: s.size) if sources else None,
            max(f.lo for f in filters),
            min(f.hi for f in filters),
        )

    def _or(self, model: Model, children: tuple) -> Filter:
        filters = [self._node(model, child) for child in children]
        sources = [f.source for f in filters if f.source is not None]
        source = None
        if len(sources) == len(filters):  # every child has a source
            source = Source(
                sum(s.size for s in sources), lambda: sorted(set(chain.from_iterable(s.fetch() for s in sources)))
            )
        return Filter(any_of([f.predicate for f in filters]), source)

    def _merge_many2one_paths(self, model: Model, children: tuple) -> list:
        """AND of ``m2o.x`` leaves -> one ``m2o any [...]`` (same meaning: one related record)."""
        merged: dict[str, list] = {}
        rest = []
        for child in children:
            head, _, tail = child.path.partition(".") if _is_path_leaf(child) else ("", "", "")
            field = model.fields.get(head) if tail else None
            if field is not None and field.type == "many2one":
                merged.setdefault(head, []).append((tail, child.op, child.value))
            else:
                rest.append(child)
        return rest + [Any_(head, leaves) for head, leaves in merged.items()]

    def _date_ranges(self, model: Model, children: list) -> list[Filter]:
        """One index lookup per date/datetime field bounded on both sides by the AND."""
        bounds: dict[str, dict[str, Any]] = {}
        for child in children:
            if not isinstance(child, Leaf) or child.op not in RANGE_OPERATORS or is_null(child.value):
                continue
            field = model.fields.get(child.path) if isinstance(child.path, str) else None
            if field is None or field.type not in ("date", "datetime"):
                continue
            value = coerce(field.type, child.op, child.value)
            limits = bounds.setdefault(child.path, {})
            if child.op in (">", ">="):
                limits["lo"] = max(limits.get("lo", (value, child.op)), (value, child.op))
            else:
                limits["hi"] = min(limits.get("hi", (value, child.op)), (value, child.op))
        return [
            Filter(source=self._range_source(model, fname, limits.get("lo"), limits.get("hi")))
            for fname, limits in bounds.items()
            if len(limits) == 2
        ]

    def _range_source(self, model: Model, fname: str, lo: tuple | None, hi: tuple | None) -> Source:
        values, ids = self.indexes.ordered(model, fname)
        start = 0 if lo is None else (bisect_left if lo[1] == ">=" else bisect_right)(values, lo[0])
        stop = len(values) if hi is None else (bisect_right if hi[1] == "<=" else bisect_left)(values, hi[0])
        return Source(max(stop - start, 0), lambda: sorted(ids[start:stop]))

    # leaves ------------------------------------------------------------------
    def _leaf(self, model: Model, leaf: Leaf) -> Filter:
        if tuple(leaf) == TRUE_LEAF:
            return Filter()
        if tuple(leaf) == FALSE_LEAF:
            return Filter(lambda record: False, _source([]))
        path, op, value = leaf
        if op == "=?":
            return Filter() if is_null(value) else self._leaf(model, Leaf(path, "=", value))
        if op in ("any", "not any") and self.db.version < 17:
            raise ValueError(f"Invalid leaf {tuple(leaf)!r}")
        head, _, tail = path.partition(".")
        field = model.fields.get(head)
        if field is None:
            raise ValueError(f"Invalid field {head!r} on model {model.name!r}")
        if tail:  # Odoo 17: (a.b, op, v) -> (a, any, [(b, op, v)])
            if field.type not in RELATIONAL:
                raise ValueError(f"Invalid field {path!r} on model {model.name!r}")
            return self._any(model, head, [(tail, op, value)])
        if op in NEGATIONS:
            inner = self._leaf(model, Leaf(path, NEGATIONS[op], value)).predicate
            return Filter(lambda record: not inner(record))
        if op == "any":
            if field.type not in RELATIONAL:
                raise ValueError(f"Invalid leaf {tuple(leaf)!r}: {head!r} is not relational")
            return self._any(model, head, value)
        if head == "id":
            return self._id_leaf(model, op, value)
        if field.type in RELATIONAL:
            return self._relational_leaf(model, head, op, value)
        if op in ("child_of", "parent_of"):
            raise ValueError(f"Invalid leaf {tuple(leaf)!r}: {head!r} is not relational")
        return self._scalar_leaf(model, head, op, value)

    def _scalar_leaf(self, model: Model, fname: str, op: str, value: Any) -> Filter:
        field = model.fields[fname]
        test = value_test(op, coerce(field.type, op, value))
        if fname == "display_name":
            return Filter(lambda record: test(display_name(model, record)))
        source = None
        if op in RANGE_OPERATORS and not is_null(value) and field.type in ("date", "datetime"):
            bound = (coerce(field.type, op, value), op)
            source = self._range_source(model, fname, *((bound, None) if op[0] == ">" else (None, bound)))
        return Filter(lambda record: test(record.get(fname, False)), source)

    def _id_leaf(self, model: Model, op: str, value: Any) -> Filter:
        if op in ("child_of", "parent_of"):
            return self._id_in(self._hierarchy(model, op, value))
        test = value_test(op, value)

        def predicate(record: Record) -> bool:
            return test(record["id"])

        if op in RANGE_OPERATORS and isinstance(value, int) and not isinstance(value, bool):
            return Filter(predicate, None, *ID_BOUNDS[op](value))
        if op in ("=", "in"):
            values = value if isinstance(value, (list, tuple)) else [value]
            return Filter(predicate, _source([v for v in set(values) if isinstance(v, int)]))
        return Filter(predicate)

    def _id_in(self, ids: Iterable[int]) -> Filter:
        wanted = set(ids)
        return Filter(lambda record: record["id"] in wanted, _source(list(wanted)))

    # relational --------------------------------------------------------------
    def _relational_leaf(self, model: Model, fname: str, op: str, value: Any) -> Filter:
        relation = model.fields[fname].relation
        assert relation is not None  # a relational field names its model
        comodel = self.db.models[relation]
        if op in ("child_of", "parent_of"):
            return self._related_in(model, fname, self._hierarchy(comodel, op, value))
        if _are_names(value):  # name_search on the comodel
            return self._related_in(model, fname, self._name_ids(comodel, op, value))
        if op not in ("=", "in"):  # id comparisons (many2one only)
            if model.fields[fname].type != "many2one":
                raise ValueError(f"Invalid leaf {(fname, op, value)!r}")
            test = value_test(op, value)
            return Filter(lambda record: test(record.get(fname, False)))
        values = value if isinstance(value, (list, tuple)) else [value]
        ids = [v for v in values if not is_null(v)]
        if len(ids) == len(values):
            return self._related_in(model, fname, ids)
        null = self._related_null(model, fname)
        if not ids:
            return null
        return Filter(any_of([self._related_in(model, fname, ids).predicate, null.predicate]))

    def _related_in(self, model: Model, fname: str, ids: Iterable[int]) -> Filter:
        """Records whose ``fname`` points at one of ``ids`` (any of them for x2many)."""
        field = model.fields[fname]
        wanted = set(ids)
        if field.type == "many2one":
            buckets = self.indexes.buckets(model, fname)
            lists = [buckets[i] for i in wanted if i in buckets]
            return Filter(lambda record: record.get(fname, False) in wanted, _union(lists))
        if field.type == "one2many":
            assert field.relation is not None and field.inverse is not None  # a one2many names both
            comodel = self.db.models[field.relation]
            parents: set[Any] = {comodel.records[i].get(field.inverse) for i in wanted if i in comodel.records}
            parents.discard(False)
            return self._id_in(list(parents))
        return Filter(lambda record: not wanted.isdisjoint(record.get(fname) or ()))

    def _related_null(self, model: Model, fname: str) -> Filter:
        field = model.fields[fname]
        if field.type == "many2one":
            return Filter(
                lambda record: is_null(record.get(fname, False)),
                _union([self.indexes.buckets(model, fname).get(False, [])]),
            )
        if field.type == "one2many":
            assert field.relation is not None and field.inverse is not None  # a one2many names both
            comodel = self.db.models[field.relation]
            parents = self.indexes.buckets(comodel, field.inverse)
            return Filter(lambda record: record["id"] not in parents)
        return Filter(lambda record: not record.get(fname))

    def _any(self, model: Model, fname: str, domain: Sequence) -> Filter:
        field = model.fields.get(fname)
        if field is None:
            raise ValueError(f"Invalid field {fname!r} on model {model.name!r}")
        assert field.relation is not None  # "any" is for relational fields
        comodel = self.db.models[field.relation]
        # Odoo searches a many2one's comodel with active_test=False, x2many with the context's
        active_test = False if field.type == "many2one" else None
        return self._related_in(model, fname, self.ids(comodel, domain, active_test=active_test))

    def _name_ids(self, model: Model, op: str, value: Any) -> list[int]:
        return self.ids(model, [("display_name", op, value)], active_test=False)

    # hierarchies -------------------------------------------------------------
    def _hierarchy(self, model: Model, op: str, value: Any) -> set[int]:
        """``child_of``: the ids and their descendants; ``parent_of``: and their ancestors."""
        if isinstance(value, str):
            roots = self._name_ids(model, "ilike", value)
        else:
            roots = [v for v in (value if isinstance(value, (list, tuple)) else [value]) if not is_null(v)]
        parent = PARENT_FIELDS.get(model.name, "parent_id")
        if parent not in model.fields:
            return set(roots)
        return self._descendants(model, parent, roots) if op == "child_of" else self._ancestors(model, parent, roots)

    def _descendants(self, model: Model, parent: str, roots: list[int]) -> set[int]:
        children = self.indexes.buckets(model, parent)
        found, todo = set(), list(roots)
        while todo:
            rid = todo.pop()
            if rid not in found and rid in model.records:
                found.add(rid)
                todo.extend(children.get(rid, ()))
        return found

    def _ancestors(self, model: Model, parent: str, roots: list[int]) -> set[int]:
        found = set()
        for rid in roots:
            while rid and rid in model.records and rid not in found:
                found.add(rid)
                rid = model.records[rid].get(parent, False)
        return found


def _is_path_leaf(node: Any) -> bool:
    return isinstance(node, Leaf) and isinstance(node.path, str)


def _are_names(value: Any) -> bool:
    """A string, or a non-empty list of strings: searched on the related display name."""
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)
