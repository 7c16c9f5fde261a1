"""Odoo's model methods over a demo :class:`~nkdash.demo.store.Database`, per version.

``Registry(db)`` authenticates users and hands out an :class:`Env`; ``env[model]`` is a
``Methods<version>`` object whose ``@rpc`` methods are exactly what ``execute_kw`` and
JSON-2 may call, with Odoo's signatures (a record method takes the ids first, as
``execute_kw`` passes them). Results have Odoo's shapes: many2one ``[id, name]`` or
``False``, x2many id lists, ``read_group`` rows with ``__domain``/``__range``/counts,
``formatted_read_group`` rows (Odoo 19) with ``__extra_domain``.

Exceptions (:mod:`nkdash.demo.exceptions`, re-exported here) carry the name Odoo's RPC
layers serialise (``odoo_name``) and the HTTP status JSON-2 answers with
(``http_status``). Grouping specs and aggregates are in :mod:`nkdash.demo.grouping`.

Simplifications, documented: the default order and the order of many2one values is
``id`` / the related display name (not each model's ``_order``); weeks are en_US weeks
(Sunday first, week 1 holds 1 January); group labels are English.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol, TypeVar, cast, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nkdash.demo.domain import AND, Domains, Indexes, dict_predicate, display_name
from nkdash.demo.exceptions import AccessDenied, AccessError, DatabaseNotFound, MissingError, UserError, odoo_name
from nkdash.demo.grouping import COUNT, Aggregate, GroupBy, many2one_value, null_last, related_name
from nkdash.demo.store import Database, Field, Model, User, read_datetime

__all__ = [
    "AccessDenied",
    "AccessError",
    "DatabaseNotFound",
    "Env",
    "MissingError",
    "Registry",
    "UserError",
    "odoo_name",
]


# --------------------------------------------------------------------------- registry
class Registry:
    """The ORM over one database: users, environments, indexes, one lock for all calls."""

    def __init__(self, db: Database):
        self.db = db
        self.indexes = Indexes()
        self.lock = db.lock
        self.methods = METHODS[db.version]
        _watch_writes(db, self.lock, self.indexes.invalidate)
        db.listeners.append(self.indexes.invalidate)

    def check_db(self, name: str) -> None:
        if name != self.db.name:
            raise DatabaseNotFound(name)

    def authenticate(self, db_name: str, login: str, password: str) -> int | bool:
        """``common.authenticate``: the uid, or ``False`` for bad credentials."""
        self.check_db(db_name)
        user = self.db.users.get(login)
        return user.uid if user is not None and _password_ok(user, password) else False

    def user(self, db_name: str, uid: int, password: str) -> User:
        """The user ``execute_kw`` runs as; :class:`AccessDenied` unless uid and password match."""
        self.check_db(db_name)
        user = self.find_user(uid)
        if user is None or not _password_ok(user, password):
            raise AccessDenied()
        return user

    def find_user(self, uid: int) -> User | None:
        return next((u for u in self.db.users.values() if u.uid == uid), None)

    def api_key_user(self, key: str) -> User | None:
        return next((u for u in self.db.users.values() if u.api_key and u.api_key == key), None)

    def env(self, user: User, context: Mapping | None = None) -> Env:
        return Env(self, user, dict(context or {}))


def _password_ok(user: User, password: Any) -> bool:
    return bool(password) and password in (user.password, user.api_key)


def _watch_writes(db: Database, lock: threading.RLock, invalidate: Callable[[str], None]) -> None:
    """Wrap this database's ``write``/``create``/``unlink(model, ...)``: they run under the
    ORM's lock, then the indexes of that model are refreshed."""
    for name in ("write", "create", "unlink"):
        original = getattr(db, name)

        @functools.wraps(original)
        def tracked(*args, _original=original, **kwargs):
            with lock:
                try:
                    return _original(*args, **kwargs)
                finally:
                    invalidate(args[0] if args else kwargs["model"])

        setattr(db, name, tracked)


@dataclass
class Env:
    registry: Registry
    user: User
    context: dict = field(default_factory=dict)

    def __getitem__(self, model: str) -> Methods17:
        return self.registry.methods(self, self.registry.db.models[model])

    def __contains__(self, model: str) -> bool:
        return model in self.registry.db.models

    @property
    def tz(self) -> ZoneInfo | None:
        try:
            return ZoneInfo(self.context["tz"]) if self.context.get("tz") else None
        except (ZoneInfoNotFoundError, ValueError):
            return None


# --------------------------------------------------------------------------- RPC methods
class RpcMethod(Protocol):
    """A model method marked by :func:`rpc` (unbound: called with the methods object first)."""

    rpc_records: bool
    rpc_free: bool

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


F = TypeVar("F", bound=Callable[..., Any])


@overload
def rpc(func: F) -> F: ...
@overload
def rpc(*, records: bool = False, free: bool = False) -> Callable[[F], F]: ...
def rpc(func: F | None = None, *, records: bool = False, free: bool = False) -> F | Callable[[F], F]:
    """Mark a public model method. ``records``: takes ids first; ``free``: no access check."""

    def mark(f: F) -> F:
        marked = cast(RpcMethod, f)  # f plus the attributes set next
        marked.rpc_records, marked.rpc_free = records, free
        return f

    return mark(func) if func is not None else mark


ORDER_TERM = re.compile(r'\s*"?([\w.:]+)"?(?:\s+(asc|desc))?\s*', re.I)
BAD_ORDER = (
    'Invalid "order" specified ({}). A valid "order" specification is a comma-separated list '
    "of valid field names (optionally followed by asc/desc for the direction)"
)


def parse_order(order: str | None) -> list[tuple[str, bool]]:
    """``"date_order desc, id"`` -> ``[("date_order", True), ("id", False)]`` (True = descending)."""
    terms = []
    for part in (order or "").split(","):
        if not part.strip():
            continue
        match = ORDER_TERM.fullmatch(part)
        if not match:
            raise ValueError(BAD_ORDER.format(order))
        terms.append((match.group(1), (match.group(2) or "").lower() == "desc"))
    return terms


class Methods17:
    """The model methods of Odoo 17 (the base the other versions adjust)."""

    def __init__(self, env: Env, model: Model):
        self.env = env
        self.model = model
        self.db = env.registry.db
        self.domains = Domains(self.db, env.registry.indexes, env.context)

    # dispatch ----------------------------------------------------------------
    def public_method(self, name: str) -> RpcMethod:
        """The function behind an RPC method name (unbound: call it with this object first)."""
        if name.startswith("_"):
            raise AccessError(f"Private methods (such as '{self.model.name}.{name}') cannot be called remotely.")
        func: RpcMethod | None = getattr(type(self), name, None)
        if (
            func is None
            or not hasattr(func, "rpc_records")
            or (name == "context_get" and self.model.name != "res.users")
        ):
            raise AttributeError(f"The method '{self.model.name}.{name}' does not exist")
        return func

    def call(self, name: str, args: Sequence = (), kwargs: Mapping | None = None) -> Any:
        """``execute_kw`` semantics: a record method gets the ids as its first argument."""
        func = self.public_method(name)
        if not func.rpc_free:
            self.check_access()
        with self.env.registry.lock:
            return func(self, *args, **dict(kwargs or {}))

    def check_access(self) -> None:
        allowed = self.env.user.allowed_models
        if allowed is not None and self.model.name not in allowed:
            raise AccessError(
                f"You are not allowed to access '{self.model.description}' ({self.model.name}) "
                "records.\n\nContact your administrator to request access if necessary."
            )

    # search / read -----------------------------------------------------------
    @rpc
    def search(self, domain, offset=0, limit=None, order=None):
        return self._search(domain, offset, limit, order)

    @rpc
    def search_count(self, domain, limit=None):
        return sum(1 for _ in islice(self.domains.search(self.model, domain), limit or None))

    @rpc
    def search_read(self, domain=None, fields=None, offset=0, limit=None, order=None, **read_kwargs):
        return self._read(self._search(domain, offset, limit, order), fields, **read_kwargs)

    @rpc(records=True)
    def read(self, ids, fields=None, load="_classic_read"):
        return self._read(ids, fields, load)

    @rpc(records=True)
    def write(self, ids, vals):
        ids = _as_ids(ids)
        for name in vals:
            spec = self.model.fields.get(name)
            if spec is None or not spec.store or spec.readonly or spec.type == "one2many":
                raise ValueError(f"Invalid field {name!r} on model {self.model.name!r}")
        missing = [i for i in ids if i not in self.model.records]
        if missing:
            record = f"{self.model.name}({', '.join(map(str, missing))},)"
            raise MissingError(
                f"Record does not exist or has been deleted.\n(Record: {record}, User: {self.env.user.uid})"
            )
        self.db.write(self.model.name, ids, dict(vals))
        return True

    def _search(self, domain, offset=0, limit=None, order=None) -> list[int]:
        offset = offset or 0
        terms = parse_order(order)
        for fname, _ in terms:
            spec = self.model.fields.get(fname)
            if spec is None or not spec.store:
                raise ValueError(f"Invalid field {fname!r} on model {self.model.name!r}")
        stop = offset + limit if limit else None
        if all(fname == "id" for fname, _ in terms[:1]):  # id order: stream, stop early
            reverse = bool(terms) and terms[0][1]
            return list(islice(self.domains.search(self.model, domain, reverse=reverse), offset, stop))
        ids = self.domains.ids(self.model, domain)
        for fname, descending in reversed(terms):
            key = self._sort_key(fname)
            ids.sort(key=lambda rid: key(self.model.records[rid]), reverse=descending)
        return ids[offset:stop]

    def _sort_key(self, fname: str) -> Callable[[dict], tuple]:
        """PostgreSQL order: nulls last ascending, first descending; many2one by related name."""
        spec = self.model.fields[fname]
        if spec.type == "boolean":
            return lambda record: (False, bool(record.get(fname)))
        if spec.type == "many2one":
            assert spec.relation is not None  # a many2one names its model
            comodel = self.db.models[spec.relation]
            return lambda record: null_last(record.get(fname, False), lambda v: related_name(comodel, v))
        return lambda record: null_last(record.get(fname, False), lambda v: v)

    def _read(self, ids, fields=None, load="_classic_read") -> list[dict]:
        names = self._check_fields(fields) if fields else list(self.model.fields)
        readers = {name: self._reader(name, load) for name in names if name != "id"}
        rows = []
        for rid in _as_ids(ids):
            record = self.model.records.get(rid)
            if record is not None:
                rows.append({"id": rid, **{name: read(record) for name, read in readers.items()}})
        return rows

    def _check_fields(self, fields) -> list[str]:
        names = [fields] if isinstance(fields, str) else list(fields)
        for name in names:
            if name not in self.model.fields:
                raise ValueError(f"Invalid field {name!r} on model {self.model.name!r}")
        return names

    def _reader(self, name: str, load: str | None) -> Callable[[dict], Any]:
        spec = self.model.fields[name]
        if name == "display_name":
            return lambda record: display_name(self.model, record)
        if spec.type == "many2one":
            assert spec.relation is not None  # a many2one names its model
            comodel = self.db.models[spec.relation]
            if load != "_classic_read":
                return lambda record: record.get(name) or False
            names: dict[int, list] = {}  # one lookup per related record and call
            return lambda record: many2one_value(comodel, record.get(name, False), names)
        if spec.type == "one2many":
            assert spec.relation is not None and spec.inverse is not None  # a one2many names both
            children = self.env.registry.indexes.buckets(self.db.models[spec.relation], spec.inverse)
            return lambda record: list(children.get(record["id"], ()))
        if spec.type == "many2many":
            return lambda record: list(record.get(name) or ())
        if spec.type == "datetime":  # stored with microseconds, read to the second
            return lambda record: read_datetime(record.get(name, False))
        default = 0 if spec.type in ("integer", "float", "monetary") else False
        return lambda record: record.get(name, default)

    # metadata ----------------------------------------------------------------
    @rpc(free=True)
    def fields_get(self, allfields=None, attributes=None):
        names = allfields or list(self.model.fields)
        described = {name: self._describe(name, self.model.fields[name]) for name in names if name in self.model.fields}
        if attributes:
            described = {name: {k: d[k] for k in attributes if k in d} for name, d in described.items()}
        return described

    aggregator_attribute = "group_operator"

    def _describe(self, name: str, spec: Field) -> dict:
        out = {
            "name": name,
            "type": spec.type,
            "string": spec.string or name.replace("_", " ").title(),
            "required": spec.required,
            "readonly": spec.readonly,
            "store": spec.store,
            "sortable": spec.store,
            "searchable": True,
            "groupable": spec.store and spec.type != "one2many",
            "manual": False,
            "company_dependent": False,
            "depends": [],
            "exportable": True,
            "translate": False,
            "change_default": False,
        }
        if spec.relation:
            out.update(relation=spec.relation, context={}, domain=[])
        if spec.inverse:
            out["relation_field"] = spec.inverse
        if spec.type == "selection":
            out["selection"] = [list(pair) for pair in spec.selection]
        if spec.aggregator:
            out[self.aggregator_attribute] = spec.aggregator
        return out

    @rpc(free=True)
    def check_access_rights(self, operation, raise_exception=True):
        try:
            self.check_access()
        except AccessError:
            if raise_exception:
                raise
            return False
        return True

    @rpc(free=True)
    def context_get(self):
        record = self.model.records.get(self.env.user.uid, {})
        return {
            "lang": record.get("lang") or "en_US",
            "tz": record.get("tz") or self.db.company_tz,
            "uid": self.env.user.uid,
        }

    @rpc
    def name_search(self, name="", args=None, operator="ilike", limit=100):
        return self._name_search(name, args, operator, limit)

    def _name_search(self, name, domain, operator, limit) -> list[list]:
        if name or operator not in ("ilike", "like", "=ilike", "=like"):
            domain = AND([domain or [], [("display_name", operator, name)]])
        ids = islice(self.domains.search(self.model, domain), limit or None)
        return [[rid, display_name(self.model, self.model.records[rid])] for rid in ids]

    # grouping ----------------------------------------------------------------
    @rpc
    def read_group(self, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
        groupby = [groupby] if isinstance(groupby, str) else list(groupby or [])
        shown = groupby[:1] if lazy else groupby
        specs = [GroupBy.parse(self.model, spec, default="month") for spec in shown]
        count_key = f"{shown[0].split(':')[0]}_count" if lazy and shown else "__count"
        aggregates = {count_key: COUNT, **self._read_group_aggregates(fields, {s.fname for s in specs})}
        field_names = {s.fname: s.spec for s in specs}  # orderby may name the field of "date:day"
        rows = []
        for key, values in self._grouped(
            domain, specs, {**aggregates, "__count": COUNT}, orderby, aliases=field_names, offset=offset, limit=limit
        ):
            row, pieces = self._group_row(specs, key, formatted=False)
            row.update((name, values[name]) for name in aggregates)
            row["__domain"] = AND([domain or [], *pieces])
            if lazy and len(groupby) > 1:
                row["__context"] = {"group_by": groupby[1:]}
            rows.append(row)
        return rows

    def _read_group_aggregates(self, fields, grouped: set[str]) -> dict[str, Aggregate]:
        """``read_group`` field specs: ``name``, ``name:func``, ``alias:func(name)``."""
        if not fields:
            fields = [n for n, f in self.model.fields.items() if f.aggregator and f.store]
        out = {}
        for spec in fields:
            match = re.fullmatch(r"(\w+)(?::(\w+)(?:\((\w+)\))?)?", spec.strip())
            if not match:
                raise ValueError(f"Invalid field specification {spec!r}.")
            name, func, fname = match.groups()
            if name == "__count":
                continue
            fname = fname or name
            field_spec = self.model.fields.get(fname)
            if field_spec is None:
                raise ValueError(f"Invalid field {fname!r} on model {self.model.name!r}")
            func = func or (field_spec.aggregator if fname not in grouped else None)
            if func and field_spec.store:
                out[name] = Aggregate(fname, Aggregate.check(func))
        return out

    def _grouped(
        self,
        domain,
        specs: list[GroupBy],
        aggregates: Mapping[str, Aggregate],
        order,
        *,
        aliases: Mapping[str, str] | None = None,
        having=None,
        offset=0,
        limit=None,
    ) -> list[tuple]:
        """(group key, aggregate values) per group: kept by ``having``, ordered, paged."""
        groups = [
            (key, {name: agg.compute(self.model, records) for name, agg in aggregates.items()})
            for key, records in self._groups(domain, specs)
        ]
        if having:
            keep = dict_predicate(having)
            groups = [group for group in groups if keep(group[1])]
        for name, descending in reversed(parse_order(order)):
            name = (aliases or {}).get(name, name)
            groups.sort(key=self._group_order(name, specs, aggregates, order), reverse=descending)
        offset = offset or 0
        return groups[offset : offset + limit if limit else None]

    def _groups(self, domain, specs: list[GroupBy]) -> list[tuple[tuple, list]]:
        """(key, records) per group, ordered by the groupby values."""
        tz = self.env.tz
        groups: dict[tuple, list] = {}
        records = self.model.records
        for rid in self.domains.search(self.model, domain):
            record = records[rid]
            groups.setdefault(tuple(s.key(record, tz) for s in specs), []).append(record)
        if not specs and not groups:
            groups[()] = []  # no groupby: always one group
        keys = [s.sort_key(self.db) for s in specs]
        return sorted(groups.items(), key=lambda item: tuple(k(v) for k, v in zip(keys, item[0])))

    def _group_order(self, name: str, specs: list[GroupBy], aggregates: Mapping, order) -> Callable:
        """Sort key of an order term: a groupby spec or an aggregate name."""
        for index, spec in enumerate(specs):
            if spec.spec == name:
                sort_key = spec.sort_key(self.db)
                return lambda group: sort_key(group[0][index])
        if name in aggregates:
            return lambda group: null_last(group[1][name], lambda v: v)
        raise ValueError(BAD_ORDER.format(order))

    def _group_row(self, specs: list[GroupBy], key: tuple, *, formatted: bool) -> tuple[dict, list]:
        """The groupby values of one row and the domain pieces that select its records."""
        row: dict[str, Any] = {}
        pieces = []
        for spec, value in zip(specs, key):
            shown, piece, span = spec.describe(value, self.db, self.env.tz, formatted=formatted)
            row[spec.spec] = shown
            pieces.append(piece)
            if spec.granularity and not formatted:
                row.setdefault("__range", {})[spec.spec] = span
        return row, pieces


class Methods16(Methods17):
    """Odoo 16: ``search`` still takes ``count``; ``name_get`` still exists."""

    @rpc
    def search(self, domain, offset=0, limit=None, order=None, count=False):
        ids = self._search(domain, offset, limit, order)
        return len(ids) if count else ids

    @rpc(records=True)
    def name_get(self, ids):
        return [
            [rid, display_name(self.model, self.model.records[rid])]
            for rid in _as_ids(ids)
            if rid in self.model.records
        ]


class Methods18(Methods17):
    """Odoo 18: ``name_search`` takes ``domain``; fields_get says ``aggregator``."""

    aggregator_attribute = "aggregator"

    @rpc
    def name_search(self, name="", domain=None, operator="ilike", limit=100):
        return self._name_search(name, domain, operator, limit)


class Methods19(Methods18):
    """Odoo 19: ``formatted_read_group`` (``read_group`` is deprecated but still answers)."""

    @rpc
    def formatted_read_group(self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None):
        specs = [GroupBy.parse(self.model, spec, default=None) for spec in groupby]
        wanted = {spec: Aggregate.parse(self.model, spec) for spec in aggregates}
        mentioned = {name for name, _ in parse_order(order)}
        mentioned |= {term[0] for term in having or () if isinstance(term, (list, tuple))}
        extra = {name: Aggregate.parse(self.model, name) for name in mentioned - {s.spec for s in specs} - set(wanted)}
        rows = []
        for key, values in self._grouped(
            domain, specs, {**extra, **wanted}, order, having=having, offset=offset, limit=limit
        ):
            row, pieces = self._group_row(specs, key, formatted=True)
            row.update((name, values[name]) for name in wanted)
            row["__extra_domain"] = AND(pieces)
            rows.append(row)
        return rows


METHODS: dict[int, type[Methods17]] = {16: Methods16, 17: Methods17, 18: Methods18, 19: Methods19}


def _as_ids(ids: Any) -> list[int]:
    return [ids] if isinstance(ids, int) else list(ids or ())
