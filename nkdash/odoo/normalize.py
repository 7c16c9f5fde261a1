"""Odoo value shapes -> plain Python values, or pyarrow columns.

Odoo answers ``False`` for every empty value, ``[id, "name"]`` for a many2one, and naive
UTC strings for datetimes. :func:`normalize` turns a record into ``None``, ``int``,
``datetime`` (aware, UTC) and ``date`` values, using the field types from ``fields_get``.
:func:`normalize_table` does the same for a whole page at once, one typed pyarrow column
per field (the ETL's path: no per-record dict, datetimes parsed by Arrow).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

UTC = dt.UTC
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"


def parse_datetime(value: Any) -> dt.datetime | None:
    if value is False or value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return dt.datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


def parse_date(value: Any) -> dt.date | None:
    if value is False or value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value[:10])


def format_datetime(value: dt.datetime) -> str:
    """Aware or naive-UTC datetime -> Odoo's naive UTC string, for domains."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _many2one(value: Any) -> tuple[int | None, str | None]:
    if value is False or value is None:
        return None, None
    if isinstance(value, (list, tuple)):
        return int(value[0]), (value[1] if len(value) > 1 else None)
    return int(value), None


def _scalar(ftype: str, value: Any) -> Any:
    if ftype == "boolean":
        return bool(value)
    if ftype in ("integer", "float", "monetary"):
        return value if value is not False else None
    if ftype == "datetime":
        return parse_datetime(value)
    if ftype == "date":
        return parse_date(value)
    if ftype in ("one2many", "many2many"):
        return list(value or [])
    return None if value is False else value


def normalize(record: Mapping[str, Any], types: Mapping[str, str], with_names: Iterable[str] = ()) -> dict[str, Any]:
    """One Odoo record -> plain values. ``types`` maps field name -> Odoo type.

    many2one fields become their id; fields listed in ``with_names`` also get a
    ``<field>_name`` key with the related record's display name.
    """
    names = set(with_names)
    out: dict[str, Any] = {}
    for key, value in record.items():
        ftype = types.get(key, "integer" if key == "id" else "char")
        if ftype == "many2one":
            out[key], name = _many2one(value)
            if key in names:
                out[f"{key}_name"] = name
        else:
            out[key] = _scalar(ftype, value)
    return out


# ----------------------------------------------------------------------------- columnar
def _none_if_false(values: list[Any]) -> list[Any]:
    return [None if v is False else v for v in values]


def _typed(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    """``values`` with ``False`` as null; Arrow refuses a bool for an int or a string, so
    the common case (no ``False``) needs no Python pass. Not for floats (False -> 0.0)."""
    try:
        return pa.array(values, arrow_type)
    except pa.ArrowTypeError:
        return pa.array(_none_if_false(values), arrow_type)


def _many2one_ids(values: list[Any]) -> list[Any]:
    try:  # the shapes Odoo sends: [id, "name"] or False
        return [v[0] if v else None for v in values]
    except (TypeError, IndexError, KeyError):  # a bare id (int), or something odd
        return [None if v is False or v is None else (v[0] if isinstance(v, (list, tuple)) else v) for v in values]


def _many2one_names(values: list[Any]) -> list[Any]:
    return [v[1] if isinstance(v, (list, tuple)) and len(v) > 1 else None for v in values]


def _datetimes(values: list[Any]) -> pa.Array:
    try:
        text = _typed(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # datetime objects (a server sending real datetimes)
        return pa.array([parse_datetime(v) for v in values], UTC_TIMESTAMP)
    parsed = pc.strptime(pc.utf8_slice_codeunits(text, 0, 19), format=ODOO_DATETIME, unit="us")
    return parsed.cast(UTC_TIMESTAMP)


def _dates(values: list[Any]) -> pa.Array:
    try:
        text = _typed(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([parse_date(v) for v in values], pa.date32())
    return pc.utf8_slice_codeunits(text, 0, 10).cast(pa.date32())


def _plain(arrow_type: pa.DataType) -> Callable[[list[Any]], pa.Array]:
    return lambda values: pa.array(_none_if_false(values), arrow_type)


COLUMN: dict[str, Callable[[list[Any]], pa.Array]] = {
    "integer": lambda values: _typed(values, pa.int64()),
    "float": _plain(pa.float64()),
    "monetary": _plain(pa.float64()),
    "boolean": lambda values: pa.array([bool(v) for v in values], pa.bool_()),
    "many2one": lambda values: pa.array(_many2one_ids(values), pa.int64()),
    "datetime": _datetimes,
    "date": _dates,
    "one2many": lambda values: pa.array([list(v or []) for v in values], pa.list_(pa.int64())),
    "many2many": lambda values: pa.array([list(v or []) for v in values], pa.list_(pa.int64())),
}


def _other(values: list[Any]) -> pa.Array:
    """char, text, selection, html...: strings; anything else as Arrow infers it."""
    try:
        return _typed(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array(_none_if_false(values))


def normalize_table(
    records: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    types: Mapping[str, str],
    with_names: Iterable[str] = (),
) -> pa.Table:
    """Odoo records -> one pyarrow table, one column per field of ``fields`` (in order).

    The values are those :func:`normalize` gives (many2one -> id, ``False`` -> null except
    for booleans, datetimes aware UTC), typed by the field's Odoo type, so the table's
    schema does not depend on the values (an empty page has it too). Fields listed in
    ``with_names`` also get a ``<field>_name`` column.
    """
    names = set(with_names)
    columns: dict[str, pa.Array] = {}
    for key in fields:
        ftype = types.get(key, "integer" if key == "id" else "char")
        values = [r[key] for r in records]
        columns[key] = COLUMN.get(ftype, _other)(values)
        if ftype == "many2one" and key in names:
            columns[f"{key}_name"] = pa.array(_many2one_names(values), pa.string())
    return pa.table(columns)
