"""What a dataset is, and the few helpers every dataset spec shares.

A :class:`Dataset` is declarative: its lake tables (fixed pyarrow schema + checks), the
Odoo models it reads (:class:`Source`: model, explicit fields, fixed filter, the field
that dates a record), a shaping function that turns one business date into pyarrow
tables, and how to count and sum that date both in Odoo (Odoo aggregates, for
validation) and in the lake. The ETL runner, the validator and the stale-date detector
are generic over these specs.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc

from nkdash.dates import day_bounds
from nkdash.etl.datasets.checks import Check
from nkdash.meta import Watermark
from nkdash.odoo import OdooClient, VersionProfile, format_datetime

if TYPE_CHECKING:
    from nkdash.lake import Lake
    from nkdash.meta import MetaStore

DatasetName = Literal["pos", "invoices", "purchases", "inventory", "stock-quants", "dimensions", "profit"]
Channel = Literal["pos", "invoice"]
CostSource = Literal["pos_total_cost", "valuation_layer", "standard_price", "none"]
Domain = list[Any]
Totals = dict[str, float]
T = TypeVar("T")

ALL_RECORDS = {"active_test": False}  # read archived records too (they may still be referenced)
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


def no_filter(profile: VersionProfile) -> Domain:
    return []


@dataclass(frozen=True)
class Source:
    """One Odoo model a dataset reads, with an explicit field list.

    A *header* source has ``date_field``: the field whose value, in the business
    timezone, is the record's business date. A *line* source has ``parent``: the
    many2one to the header that dates it. ``where`` is the fixed filter (states, types),
    which may depend on the Odoo version.
    """

    model: str
    fields: tuple[str, ...]
    where: Callable[[VersionProfile], Domain] = no_filter
    date_field: str | None = None
    parent: str | None = None
    context: Mapping[str, Any] | None = None
    profile_fields: tuple[str, ...] = ()  # VersionProfile attributes naming version-dependent fields
    lake_key: tuple[str, str] | None = None  # (lake table, column) holding this model's ids: where a record sits

    def field_list(self, profile: VersionProfile) -> list[str]:
        return [*self.fields, *(getattr(profile, attr) for attr in self.profile_fields)]


@dataclass(frozen=True)
class Table:
    """A lake table: fixed schema (same for every partition) and its checks."""

    name: str
    schema: pa.Schema
    checks: tuple[Check, ...] = ()


@dataclass
class Context:
    """What one ETL run shares across its units: connections, timezone, per-run caches."""

    client: OdooClient
    lake: Lake
    meta: MetaStore
    tz: dt.tzinfo
    dates: tuple[dt.date, ...] = ()  # every business date this run loads (for per-run caches)
    full: bool = False  # dimensions: reload everything, ignore watermarks
    watermarks: dict[str, Watermark] = field(default_factory=dict)  # to commit after a unit succeeds
    _cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def profile(self) -> VersionProfile:
        return self.client.profile

    def cached(self, key: Any, load: Callable[[], T]) -> T:
        """``load()`` once per run."""
        if key not in self._cache:
            self._cache[key] = load()
        return cast(T, self._cache[key])  # stored by load() under key

    def clear(self) -> None:
        """Drop the per-run caches (after the dimensions were rewritten)."""
        self._cache.clear()

    def dim(self, table: str) -> pa.Table:
        """A dimension table from the lake, read once per run."""
        return self.cached(("dim", table), lambda: self.lake.read_whole(table))

    def lookup(self, table: str, column: str) -> dict[int, Any]:
        """``{id: column}`` of a dimension table, built once per run."""

        def build() -> dict[int, Any]:
            dim = self.dim(table)
            return dict(zip(dim.column("id").to_pylist(), dim.column(column).to_pylist()))

        return self.cached(("lookup", table, column), build)

    def read(self, source: Source, domain: Domain) -> Iterator[dict[str, Any]]:
        """Every record of ``source`` matching ``where + domain``, keyset-paged."""
        full = [*source.where(self.profile), *domain]
        context = dict(source.context) if source.context else None
        fields = source.field_list(self.profile)
        for page in self.client.pages(source.model, full, fields, context=context):
            yield from page.records

    def read_table(self, source: Source, domain: Domain) -> pa.Table:
        """:meth:`read` as one pyarrow table (``id`` + the source's fields, typed by Odoo type)."""
        full = [*source.where(self.profile), *domain]
        context = dict(source.context) if source.context else None
        return self.client.read_table(source.model, full, source.field_list(self.profile), context=context)

    def read_pages(self, source: Source, domain: Domain) -> Iterator[pa.Table]:
        """:meth:`read_table` page by page (work on a page while Odoo reads the next)."""
        full = [*source.where(self.profile), *domain]
        context = dict(source.context) if source.context else None
        for page in self.client.table_pages(source.model, full, source.field_list(self.profile), context=context):
            yield page.table

    def day_domain(self, source: Source, day: dt.date) -> Domain:
        """Records of ``source`` dated on business date ``day`` (by its ``date_field``)."""
        return date_domain(self.client, source.model, source.date_field or "", day, self.tz)

    def read_day_tables(self, header: Source, lines: Source, day: dt.date) -> tuple[pa.Table, pa.Table]:
        """The header records of ``day`` and all their lines (each read once), as tables."""
        headers = self.read_table(header, self.day_domain(header, day))
        if not headers.num_rows:
            return headers, self.client.empty_table(lines.model, lines.field_list(self.profile))
        return headers, self.read_table(lines, [(lines.parent, "in", sorted(headers.column("id").to_pylist()))])


def written_since(mark: Watermark) -> Domain:
    """Records written in ``mark``'s second or later: Odoo reads ``write_date`` to the second but
    compares the stored microseconds, so ``>`` the value read would match the latest record
    again and again. :func:`unseen` leaves out those already seen in that second."""
    return [("write_date", ">=", format_datetime(mark.stamp))]


def unseen(records: list[dict[str, Any]], mark: Watermark) -> list[dict[str, Any]]:
    """``records`` (read with :func:`written_since`) less those ``mark`` saw already."""
    return [r for r in records if r["write_date"] != mark.stamp or r["id"] not in mark.seen]


def advance(mark: Watermark | None, records: list[dict[str, Any]]) -> Watermark | None:
    """The watermark after ``records`` (each with ``id`` and ``write_date``) were seen."""
    newest = max((r["write_date"] for r in records if r["write_date"]), default=None)
    if mark is not None and (newest is None or newest <= mark.stamp):
        return Watermark(mark.stamp, mark.seen | {r["id"] for r in records if r["write_date"] == mark.stamp})
    if newest is None:
        return mark
    return Watermark(newest, frozenset(r["id"] for r in records if r["write_date"] == newest))


def date_domain(
    client: OdooClient,
    model: str,
    date_field: str,
    day: dt.date,
    tz: dt.tzinfo,
    prefix: str = "",
    last: dt.date | None = None,
) -> Domain:
    """Domain selecting business date ``day`` (or the dates ``day..last``): a date field equals
    it; a datetime field falls in the day's UTC bounds (DST-correct). ``prefix`` reaches it
    through a many2one."""
    name, last = prefix + date_field, last or day
    if client.field_types(model)[date_field] == "date":
        if last == day:
            return [(name, "=", day.isoformat())]
        return [(name, ">=", day.isoformat()), (name, "<=", last.isoformat())]
    start, end = day_bounds(day, tz)[0], day_bounds(last, tz)[1]
    return [(name, ">=", format_datetime(start)), (name, "<", format_datetime(end))]


@dataclass(frozen=True)
class Keys:
    """The records a dataset's rows come from, for the reconciliation's ids check: the dated
    (header) source, whose ids the lake holds in ``column``, and its line source if the rows
    are lines (a header without a line has no row)."""

    header: Source
    column: str
    lines: Source | None = None

    def domain(self, ctx: Context, first: dt.date, last: dt.date) -> Domain:
        """The headers counted on the dates ``first..last`` (their own date field: cheap to search)."""
        dated = date_domain(ctx.client, self.header.model, self.header.date_field or "", first, ctx.tz, last=last)
        return [*self.header.where(ctx.profile), *dated]


@dataclass(frozen=True)
class Dataset:
    """One dataset: tables, sources, shaping, and how to reconcile a date with Odoo."""

    name: DatasetName
    title: str
    tables: tuple[Table, ...]
    sources: tuple[Source, ...]
    extract: Callable[[Context, dt.date], dict[str, pa.Table]]
    source_totals: Callable[[Context, dt.date], Totals] | None = None
    lake_totals: Callable[[Mapping[str, pa.Table]], Totals] | None = None
    inputs: tuple[DatasetName, ...] = ()  # datasets whose partitions this one is built from
    partitioned: bool = True  # False: whole tables (dimensions)
    stale_onward: bool = False  # a change on date D also changes every later date
    keys: Keys | None = None  # the source ids of its rows (None: no ids to compare, e.g. levels)
    window_totals: Callable[[Context, list[dt.date]], dict[dt.date, Totals]] | None = None  # cheaper than per date

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def load(self, ctx: Context, day: dt.date | None) -> tuple[dict[str, pa.Table], Totals]:
        """``extract`` and ``source_totals`` of ``day``. They do not depend on each other, so
        Odoo computes the totals while the records are read and shaped; an error of the
        extraction wins over one of the totals (as when they ran one after the other)."""
        # day is None only for a whole-table dataset, whose functions take an optional day
        on = cast(dt.date, day)
        if self.source_totals is None:
            return self.extract(ctx, on), {}
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nkdash-totals") as pool:
            totals = pool.submit(self.source_totals, ctx, on)
            tables = self.extract(ctx, on)
            return tables, totals.result()


# ----------------------------------------------------------------------------- shaping
def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts with every schema column) -> one pyarrow table of exactly ``schema``."""
    rows = rows if isinstance(rows, list) else list(rows)
    if rows:
        missing = [name for name in schema.names if name not in rows[0]]
        if missing:
            raise KeyError(missing[0])
    return pa.Table.from_pylist(rows, schema=schema)


def shape(schema: pa.Schema, day: dt.date | None, columns: Mapping[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    """Columns (every schema column but ``date``) -> one table of exactly ``schema``, its
    ``date`` column (if the schema has one) all ``day``."""
    rows = len(next(iter(columns.values()))) if columns else 0
    arrays = []
    for f in schema:
        column = pa.repeat(pa.scalar(day, f.type), rows) if f.name == "date" else columns[f.name]
        arrays.append(column if column.type == f.type else column.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema).combine_chunks()


def parent_rows(lines: pa.Table, parent: str, headers: pa.Table) -> pa.Table:
    """For each line, its header's row (the header whose ``id`` is the line's ``parent``)."""
    index = pc.index_in(lines.column(parent), value_set=headers.column("id"))
    if index.null_count:
        missing = lines.column(parent).filter(pc.is_null(index))[0].as_py()
        raise KeyError(missing)
    return headers.take(index)


def latest_column(*columns: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """:func:`latest` per row: the newest non-null stamp (compared as integers: Arrow has
    no element-wise max for zoned timestamps)."""
    stamp = columns[0].type
    return pc.max_element_wise(*(c.cast(pa.int64()) for c in columns), skip_nulls=True).cast(stamp)


def signed(value: float, like: float) -> float:
    """``value`` with the sign of ``like`` (a zero ``like`` leaves ``value`` as is)."""
    if like < 0:
        return -abs(value)
    if like > 0:
        return abs(value)
    return value


def latest(*stamps: dt.datetime | None) -> dt.datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


# ----------------------------------------------------------------------------- totals
def odoo_totals(ctx: Context, model: str, domain: Domain, sums: Mapping[str, str]) -> Totals:
    """Count and sums computed by Odoo itself (read_group / formatted_read_group).

    ``sums`` maps a total's name to the Odoo field summed for it.
    """
    rows = ctx.client.aggregate(model, domain, sorted(set(sums.values())))
    row = rows[0] if rows else {}
    totals: Totals = {"count": float(row.get("count") or 0)}
    totals.update({name: float(row.get(fname) or 0.0) for name, fname in sums.items()})
    return totals


def arrow_totals(table: pa.Table, sums: Mapping[str, str]) -> Totals:
    """The same count and sums over a lake table; ``sums`` maps total name -> column."""
    totals: Totals = {"count": float(table.num_rows)}
    totals.update({name: float(pc.sum(table.column(col)).as_py() or 0.0) for name, col in sums.items()})
    return totals
