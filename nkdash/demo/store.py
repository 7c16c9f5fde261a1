"""The demo Odoo's in-memory database: the contract between the generator and the server.

The generator (:mod:`nkdash.demo.generate`) fills a :class:`Database`; the server
(:mod:`nkdash.demo.server`, :mod:`nkdash.demo.orm`) answers RPC calls from it.

Values are stored in the shape Odoo's ORM ``read()`` returns them *before* many2one
names are attached:

- many2one: the related id (``int``) or ``False``
- one2many: not stored; computed by the server from ``Field.inverse``
- many2many: a list of ids
- char/text/selection: ``str`` or ``False``
- date: ``"YYYY-MM-DD"`` or ``False``; datetime: naive UTC ``"YYYY-MM-DD HH:MM:SS"`` or ``False``
- integer/float/monetary: numbers (never ``False``); boolean: ``bool``

Every record has ``id``, ``create_date`` and ``write_date`` (datetime strings).
``display_name`` is computed by the server from :attr:`Model.rec_name`.

Sub-second stamps: Odoo stamps ``create_date``/``write_date`` with the transaction's
clock, microseconds included (PostgreSQL ``timestamp``), while the datetimes it sets
itself (``Datetime.now()``) and every value ``read`` returns are cut to the second. So
:meth:`Database.write` and :meth:`Database.create` store those two stamps as
``"YYYY-MM-DD HH:MM:SS.ffffff"`` when the time given has microseconds
(:func:`fmt_stamp`); the server reads them back cut to the second and compares them in
domains at full precision. Stored datetime strings sort like the moments they name.
Generated history has whole seconds.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal[
    "integer",
    "float",
    "monetary",
    "char",
    "text",
    "boolean",
    "date",
    "datetime",
    "selection",
    "many2one",
    "one2many",
    "many2many",
]


@dataclass(frozen=True)
class Field:
    type: FieldType
    string: str = ""
    relation: str | None = None  # many2one / one2many / many2many target model
    inverse: str | None = None  # one2many: the many2one field on `relation` pointing back
    selection: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    store: bool = True
    aggregator: str | None = None  # "sum" for numeric fields that read_group sums by default


def m2o(relation: str, string: str = "", **kw: Any) -> Field:
    return Field("many2one", string, relation=relation, **kw)


def o2m(relation: str, inverse: str, string: str = "") -> Field:
    return Field("one2many", string, relation=relation, inverse=inverse)


@dataclass
class Model:
    name: str
    fields: dict[str, Field]
    rec_name: str = "name"
    records: dict[int, dict[str, Any]] = field(default_factory=dict)  # insertion order = id order
    description: str = ""
    next_id: int = 1

    def add(self, values: dict[str, Any]) -> int:
        """Insert a record; ``values`` may carry its own ``id`` (>= next_id)."""
        rid = values.get("id") or self.next_id
        values["id"] = rid
        self.records[rid] = values
        self.next_id = max(self.next_id, rid + 1)
        return rid


def fmt_datetime(value: dt.datetime) -> str:
    """Naive-UTC datetime -> Odoo's string form (cut to the second)."""
    return _naive_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def fmt_stamp(value: dt.datetime) -> str:
    """A ``create_date``/``write_date`` as PostgreSQL keeps it: microseconds when there are any."""
    value = _naive_utc(value)
    return value.isoformat(" ", "microseconds" if value.microsecond else "seconds")


def read_datetime(value: Any) -> Any:
    """A stored datetime as ``read`` returns it: ``"YYYY-MM-DD HH:MM:SS"`` (or ``False``)."""
    return value[:19] if isinstance(value, str) else value


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


BASE_FIELDS: dict[str, Field] = {
    "id": Field("integer", "ID", readonly=True),
    "display_name": Field("char", "Display Name", readonly=True, store=False),
    "create_date": Field("datetime", "Created on", readonly=True),
    "write_date": Field("datetime", "Last Updated on", readonly=True),
}


@dataclass
class User:
    login: str
    password: str
    uid: int
    api_key: str | None = None  # JSON-2 bearer key (Odoo 19); also accepted as password
    allowed_models: frozenset[str] | None = None  # None = all models readable


@dataclass
class Database:
    """One demo Odoo database."""

    name: str
    version: int  # 16, 17, 18 or 19
    models: dict[str, Model] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)  # by login
    company_tz: str = "Europe/Brussels"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))
    listeners: list = field(default_factory=list, repr=False, compare=False)  # called as f(model|None) on change
    # held by the server during every call: hold it while changing records in place (no call sees half an edit)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def notify(self, model: str | None = None) -> None:
        """Tell whoever indexes these records (the demo server) that ``model`` (None: any) changed."""
        for listener in self.listeners:
            listener(model)

    def model(self, name: str) -> Model:
        return self.models[name]

    def define(self, name: str, fields: dict[str, Field], rec_name: str = "name", description: str = "") -> Model:
        model = Model(name, {**BASE_FIELDS, **fields}, rec_name=rec_name, description=description or name)
        self.models[name] = model
        return model

    def write(self, model: str, ids: Iterable[int], values: dict[str, Any], when: dt.datetime | None = None) -> None:
        """Change records after the fact (a late edit): ``write_date`` becomes ``when`` (default :attr:`now`)."""
        stamp = fmt_stamp(when or self.now)
        recs = self.models[model].records
        for rid in ids:
            recs[rid].update(values)
            recs[rid]["write_date"] = stamp

    def create(self, model: str, values: dict[str, Any], when: dt.datetime | None = None) -> int:
        """Insert a record created at ``when`` (default :attr:`now`); returns its id."""
        stamp = fmt_stamp(when or self.now)
        values = {"create_date": stamp, "write_date": stamp, **values}
        return self.models[model].add(values)

    def unlink(self, model: str, ids: Iterable[int]) -> list[int]:
        """Delete records (ids are never reused); returns the ids that existed. Callers keep
        the database consistent (Odoo's rules, dependent records): see ``generate.events``."""
        recs = self.models[model].records
        return [rid for rid in ids if recs.pop(rid, None) is not None]
