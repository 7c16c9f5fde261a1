"""Odoo value shapes -> plain Python values.

Odoo answers ``False`` for every empty value, ``[id, "name"]`` for a many2one, and naive
UTC strings for datetimes. :func:`normalize` turns a record into ``None``, ``int``,
``datetime`` (aware, UTC) and ``date`` values, using the field types from ``fields_get``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

UTC = dt.timezone.utc


def parse_datetime(value: Any) -> dt.datetime | None:
    if value is False or value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return dt.datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


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


def normalize(record: Mapping[str, Any], types: Mapping[str, str],
              with_names: Iterable[str] = ()) -> dict[str, Any]:
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
