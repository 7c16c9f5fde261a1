"""``read_group`` / ``formatted_read_group`` building blocks: aggregates, groupby specs
with date granularities and their labels, and the value shapes rows share with ``read``.

Weeks are en_US weeks (Sunday first, week 1 holds 1 January); group labels are English.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from nkdash.demo.expression import display_name, is_null
from nkdash.demo.store import Database, Model, read_datetime


# --------------------------------------------------------------------------- values
def _as_ids(ids: Any) -> list[int]:
    return [ids] if isinstance(ids, int) else list(ids or ())


def null_last(value: Any, comparable: Callable[[Any], Any]) -> tuple:
    return (True, 0) if is_null(value) else (False, comparable(value))


def related_name(comodel: Model, rid: int) -> str:
    record = comodel.records.get(rid)
    return display_name(comodel, record) if record is not None else f"{comodel.name},{rid}"


def many2one_value(comodel: Model, rid: Any, memo: dict | None = None) -> list | bool:
    if is_null(rid):
        return False
    if memo is None:
        return [rid, related_name(comodel, rid)]
    if rid not in memo:
        memo[rid] = related_name(comodel, rid)
    return [rid, memo[rid]]


# --------------------------------------------------------------------------- grouping
AGGREGATORS = frozenset({"sum", "avg", "min", "max", "count", "count_distinct", "bool_and", "bool_or", "array_agg"})
GRANULARITIES = ("hour", "day", "week", "month", "quarter", "year")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
FIXED_STEPS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1), "week": dt.timedelta(weeks=1)}
MONTH_STEPS = {"month": 1, "quarter": 3, "year": 12}
UTC = dt.UTC


@dataclass(frozen=True)
class Aggregate:
    fname: str  # "__count" counts records
    func: str

    @staticmethod
    def check(func: str) -> str:
        if func not in AGGREGATORS:
            raise ValueError(f"Invalid aggregation function {func!r}.")
        return func

    @classmethod
    def parse(cls, model: Model, spec: str) -> Aggregate:
        """``formatted_read_group`` spec: ``"__count"`` or ``"<field>:<func>"``."""
        if spec == "__count":
            return cls("__count", "count")
        match = re.fullmatch(r"(\w+):(\w+)", spec)
        if not match:
            raise ValueError(f"Invalid aggregate specification {spec!r}.")
        fname, func = match.groups()
        spec_field = model.fields.get(fname)
        if spec_field is None or not spec_field.store:
            raise ValueError(f"Invalid field {fname!r} on model {model.name!r} for {spec!r}.")
        return cls(fname, cls.check(func))

    def compute(self, model: Model, records: list[dict]) -> Any:
        if self.fname == "__count":
            return len(records)
        spec = model.fields[self.fname]
        values = [r.get(self.fname, False) for r in records]
        if spec.type == "datetime":  # aggregated datetimes are read to the second
            values = [read_datetime(v) for v in values]
        if self.func in ("bool_and", "bool_or", "array_agg"):
            reducers: dict[str, Callable[[list[Any]], Any]] = {"bool_and": all, "bool_or": any, "array_agg": list}
            return reducers[self.func](values)
        present = values if spec.type == "boolean" else [v for v in values if not is_null(v)]
        if self.func == "count":
            return len(present)
        if self.func == "count_distinct":
            return len(set(present))
        if self.func == "sum":
            return math.fsum(present) if any(isinstance(v, float) for v in present) else sum(present)
        if not present:
            return False
        if self.func == "avg":
            return math.fsum(present) / len(present)
        return min(present) if self.func == "min" else max(present)


COUNT = Aggregate("__count", "count")


@dataclass(frozen=True)
class GroupBy:
    spec: str  # as requested, also the row key: "date_order:day"
    fname: str
    ftype: str
    relation: str | None
    granularity: str | None

    @classmethod
    def parse(cls, model: Model, spec: str, *, default: str | None) -> GroupBy:
        match = re.fullmatch(r"(\w+)(?::(\w+))?", spec.strip()) if isinstance(spec, str) else None
        if not match:
            raise ValueError(f"Invalid groupby specification {spec!r}.")
        fname, granularity = match.groups()
        field_spec = model.fields.get(fname)
        if field_spec is None:
            raise ValueError(f"Invalid field {fname!r} on model {model.name!r}")
        if not field_spec.store or field_spec.type in ("one2many", "many2many"):
            raise ValueError(f"Field {fname!r} on model {model.name!r} cannot be grouped.")
        if field_spec.type in ("date", "datetime"):
            granularity = granularity or default
            if granularity not in GRANULARITIES or (granularity == "hour" and field_spec.type == "date"):
                raise ValueError(f"Invalid groupby specification {spec!r}: granularity is one of {GRANULARITIES}.")
        elif granularity:
            raise ValueError(f"Invalid groupby specification {spec!r}: {fname!r} is not a date.")
        return cls(spec, fname, field_spec.type, field_spec.relation, granularity)

    def key(self, record: dict, tz: ZoneInfo | None) -> Any:
        value = record.get(self.fname, False)
        if self.ftype == "boolean":
            return bool(value)
        if is_null(value):
            return False
        if self.ftype == "date":
            return truncate(dt.date.fromisoformat(value), self.granularity)
        if self.ftype == "datetime":
            return truncate(to_local(value, tz), self.granularity)
        return value

    def sort_key(self, db: Database) -> Callable[[Any], tuple]:
        if self.ftype == "boolean":
            return lambda value: (False, value)
        if self.ftype == "many2one":
            assert self.relation is not None  # a many2one names its model
            comodel = db.models[self.relation]
            return lambda value: null_last(value, lambda v: (related_name(comodel, v), v))
        return lambda value: null_last(value, lambda v: v)

    def describe(self, value: Any, db: Database, tz: ZoneInfo | None, *, formatted: bool) -> tuple[Any, list, Any]:
        """(value shown in the row, domain piece selecting the group, ``__range`` entry)."""
        if self.ftype != "boolean" and is_null(value):
            return False, [(self.fname, "=", False)], False
        if self.ftype == "many2one":
            assert self.relation is not None  # a many2one names its model
            return many2one_value(db.models[self.relation], value), [(self.fname, "=", value)], None
        if not self.granularity:
            return value, [(self.fname, "=", value)], None
        end = step(value, self.granularity)
        if self.ftype == "datetime":
            start_s, end_s = to_utc_string(value, tz), to_utc_string(end, tz)
        else:
            start_s, end_s = value.isoformat(), end.isoformat()
        text = label(value, self.granularity)
        piece = ["&", (self.fname, ">=", start_s), (self.fname, "<", end_s)]
        return ([start_s, text] if formatted else text), piece, {"from": start_s, "to": end_s}


def to_local(value: str, tz: ZoneInfo | None) -> dt.datetime:
    """Stored naive-UTC string -> naive datetime in ``tz`` (UTC when None)."""
    moment = dt.datetime.fromisoformat(value)
    return moment if tz is None else moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def to_utc_string(local: dt.datetime, tz: ZoneInfo | None) -> str:
    moment = local if tz is None else local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def truncate(value: dt.date, granularity: str | None) -> dt.date:
    """Start of the period holding ``value`` (a date, or a naive datetime at midnight/the hour)."""
    if granularity == "hour":
        assert isinstance(value, dt.datetime)  # only datetimes are grouped by hour
        return value.replace(minute=0, second=0, microsecond=0)
    day = value.date() if isinstance(value, dt.datetime) else value
    if granularity == "week":
        day -= dt.timedelta(days=(day.weekday() + 1) % 7)
    elif granularity == "month":
        day = day.replace(day=1)
    elif granularity == "quarter":
        day = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    elif granularity == "year":
        day = day.replace(month=1, day=1)
    return dt.datetime.combine(day, dt.time()) if isinstance(value, dt.datetime) else day


D = TypeVar("D", bound=dt.date)


def step(start: D, granularity: str) -> D:
    """Start of the next period."""
    if granularity in FIXED_STEPS:
        return start + FIXED_STEPS[granularity]
    year, month = divmod(start.month - 1 + MONTH_STEPS[granularity], 12)
    return start.replace(year=start.year + year, month=month + 1)


def label(start: dt.date, granularity: str) -> str:
    month = MONTHS[start.month - 1]
    if granularity == "hour":
        assert isinstance(start, dt.datetime)  # only datetimes are grouped by hour
        return f"{start.hour:02d}:00 {start.day:02d} {month[:3]}"
    if granularity == "day":
        return f"{start.day:02d} {month[:3]} {start.year}"
    if granularity == "week":
        year, week = week_number(start.date() if isinstance(start, dt.datetime) else start)
        return f"W{week} {year}"
    if granularity == "month":
        return f"{month} {start.year}"
    if granularity == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return str(start.year)


def week_number(sunday: dt.date) -> tuple[int, int]:
    """en_US week of the week starting ``sunday``: week 1 is the one holding 1 January."""
    year = (sunday + dt.timedelta(days=6)).year
    first = dt.date(year, 1, 1)
    first_sunday = first - dt.timedelta(days=(first.weekday() + 1) % 7)
    return year, (sunday - first_sunday).days // 7 + 1
