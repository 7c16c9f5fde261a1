"""The lake's layout, tables, value types, and the checks of names and dates.

Layout (plain hive, readable by DuckDB, pyarrow, polars, Spark or Trino without nkdash)::

    <root>/star-schema/<fact>/_common_metadata                    schema of the table (no rows)
    <root>/star-schema/<fact>/year=YYYY/month=MM/day=DD/part-<h>.parquet       a daily partition
    <root>/star-schema/<fact>/year=YYYY/month=MM/day=__HIVE_DEFAULT_PARTITION__/part-<h>.parquet
                                                                  a compacted month (see below)
    <root>/star-schema/<dim>/part-<h>.parquet                     whole-table dimensions
    <root>/_staging/<table>/                                      private: writes in flight, lock
    <root>/_staging/_work-<pid>-<tok>/                            private: backup snapshots, restores
    <root>/_quarantine/<table>/<utc-stamp>/...                    partitions moved aside by quarantine
    <root>/_meta/                                                 metadata store (see nkdash.meta)

A partition holds exactly one data file, ``part-<h>.parquet``, where ``<h>`` is the first 16
hex digits of the file's sha256. Files are written deterministically (same rows in the same
order -> same bytes -> same name), so the name is content-addressed: a reader that cached a
file's footer by path (pyarrow fragments, DuckDB's metadata cache) can never apply it to
different bytes, and ``scan(deep=True)`` can verify every file against its own name.

Why staging lives outside ``star-schema``: DuckDB's globs (``**/*.parquet``,
``*/*/*/*.parquet``) DO match dot-prefixed directories, so a hidden sibling temp dir would
make third-party readers see duplicate rows or fail with a hive-key mismatch. pyarrow
ignores names starting with ``.``/``_``; DuckDB does not. Nothing but finished partitions
ever appears under ``star-schema``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

import pyarrow as pa

from nkdash.errors import LakeError

if TYPE_CHECKING:
    from nkdash.lake.files import Listed


PartitionedTable = Literal[
    "fact_pos_sales",
    "fact_invoice_sales",
    "fact_purchases",
    "fact_inventory_moves",
    "fact_stock_quants",
    "fact_sales",
    "agg_profit_daily",
    "agg_sales_daily",
    "agg_orders_daily",
]


WholeTable = Literal[
    "dim_product",
    "dim_category",
    "dim_partner",
    "dim_location",
    "dim_store",
    "dim_company",
    "dim_currency",
    "dim_supplierinfo",
    "dim_picking_type",
]


PARTITIONED: tuple[str, ...] = get_args(PartitionedTable)


WHOLE: tuple[str, ...] = get_args(WholeTable)


TABLES: tuple[str, ...] = PARTITIONED + WHOLE


PARTITION_COLUMNS = ("year", "month", "day")  # supplied by the hive path, never stored in files


DATE_COLUMN = "date"  # stored in every fact file; equals the partition's date


ROW_GROUP_ROWS = 128 * 1024


COMPRESSION = "zstd"


SCHEMA_FILE = "_common_metadata"  # parquet convention: schema only, ignored by readers


LOCK_FILE = ".lock"


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # hive's NULL partition value (DuckDB and pyarrow agree)


COMPACT_DIR = f"day={HIVE_NULL}"  # a compacted month's directory, beside its month's day=DD


COMPACT_GROUP_ROWS = 16 * 1024  # a month file's row group closes once it holds this many rows


INDEX_KEY = b"nkdash.dates"  # footer key of a month file: {date: [rows, sha256, bytes]}


WORK_PREFIX = "_work-"  # _staging/_work-<pid>-<tok>: private work dirs (backups, restores)


READ_ATTEMPTS = 12  # a reader whose listed file a writer swapped out reads again (backoff 1 ms, doubling: ~4 s in all)


LIST_ATTEMPTS = 1000  # a directory swapped while it is listed is listed again (only a writer storm loops)


SchemaChange = bool | Literal["widen"]  # what a write may do to its table's schema (LakeWriter.write_partition)


ProblemKind = Literal["unreadable", "checksum", "schema", "empty", "stray", "temp"]


YEAR, MONTH, _DAY = re.compile(r"year=(\d{4})"), re.compile(r"month=(\d{2})"), re.compile(r"day=(\d{2})")


DATA_FILE = re.compile(r"part-([0-9a-f]{16})\.parquet")


STAGED = re.compile(
    r"(?P<key>\d{4}-\d{2}-\d{2}|\d{4}-\d{2}|whole|schema)"
    r"\.(?P<kind>new|old|del|tmp)-\d{20}-\d+-[0-9a-f]{8}"
)


WORK = re.compile(rf"{WORK_PREFIX}(?P<pid>\d+)-[0-9a-f]{{8}}")


@dataclass(frozen=True)
class PartitionInfo:
    """One written partition. ``path`` is its data file; ``checksum`` the file's sha256.

    A date inside a compacted month: ``path`` is the month file; ``rows``, ``bytes`` and
    ``checksum`` are those of the daily file written for the date (kept in the month file's
    index), so a date's checksum does not change when its month is compacted."""

    table: str
    date: dt.date | None
    path: Path
    rows: int
    bytes: int
    checksum: str


@dataclass(frozen=True)
class DateEntry:
    """One date of a compacted month: its rows, and the sha256 and size of the canonical daily
    file ``write_partition`` wrote for it (what :attr:`PartitionInfo.checksum` reports)."""

    date: dt.date
    rows: int
    checksum: str
    bytes: int


@dataclass(frozen=True)
class DataFile:
    """One data file of the lake: a daily partition, a compacted month or a dimension.

    ``dates``: the dates it holds (one for a daily partition, the index of a month file,
    none for a dimension or an unreadable month file); ``first``/``last``: the span it may
    hold (a month file whose index cannot be read spans its whole month).
    """

    table: str
    path: Path
    bytes: int
    dates: tuple[dt.date, ...]
    first: dt.date | None
    last: dt.date | None
    compacted: bool = False


@dataclass(frozen=True)
class MonthLayout:
    """How one month of a table is stored (see :meth:`Lake.months`)."""

    table: str
    year: int
    month: int
    daily: int  # daily partitions (data files in day=DD directories)
    compacted: bool  # whether a month file exists
    dates: int
    bytes: int

    @property
    def last_day(self) -> dt.date:
        return month_span(self.year, self.month)[1]

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Compaction:
    """What :meth:`Lake.compact_month` did to one month of one table."""

    table: str
    month: str  # YYYY-MM
    dates: int
    rows: int
    files_before: int
    bytes_before: int
    path: Path
    bytes_after: int


class Entry(NamedTuple):
    date: dt.date | None
    path: Path
    partition: bool  # a valid partition directory (or a dim's table dir), else an odd entry
    month: tuple[int, int] | None = None  # (year, month) of a compacted month's directory
    files: tuple[Listed, ...] = ()  # a partition's data files, listed with its month (see _walk)


@dataclass(frozen=True)
class Problem:
    """Something wrong in the lake. ``path`` is the offending file or directory.

    kinds: ``unreadable`` (truncated, zeroed, not parquet), ``checksum`` (bytes differ from
    what was written), ``schema`` (differs from the table's), ``empty`` (partition directory
    without a data file), ``stray`` (an unexpected entry that readers would pick up or trip
    over), ``temp`` (leftover of a killed write).

    A problem with a compacted month file has ``date`` None and ``dates`` = the dates the
    file holds (every day of its month if its index cannot be read): quarantining it makes
    all of them missing.
    """

    table: str
    date: dt.date | None
    path: Path
    kind: ProblemKind
    detail: str
    dates: tuple[dt.date, ...] = ()


def check_table(table: str) -> str:
    if table not in TABLES:
        raise LakeError(f"unknown lake table {table!r}; expected one of {', '.join(TABLES)}", table)
    return table


def check_partitioned(table: str) -> None:
    if check_table(table) not in PARTITIONED:
        raise LakeError(f"{table} is a whole table, not partitioned by date", table)


def check_whole(table: str) -> None:
    if check_table(table) not in WHOLE:
        raise LakeError(f"{table} is partitioned by date; use write_partition/read_partition", table)


def check_date(date: object) -> dt.date:
    if type(date) is not dt.date:
        raise LakeError(f"expected a datetime.date, got {date!r}", date)
    return date


def check_table_data(data: object) -> pa.Table:
    if not isinstance(data, pa.Table):
        raise LakeError(f"expected a pyarrow.Table, got {type(data).__name__}")
    return data


def check_fact_columns(data: object, date: dt.date) -> None:
    table = check_table_data(data)
    names = table.column_names
    clash = [c for c in PARTITION_COLUMNS if c in names]
    if clash:
        raise LakeError(f"columns {clash} are supplied by the hive path; drop them from the data")
    if DATE_COLUMN not in names or table.schema.field(DATE_COLUMN).type != pa.date32():
        raise LakeError(f"facts need a '{DATE_COLUMN}' column of type date32 (the business date)")
    column = table.column(DATE_COLUMN)
    if column.null_count or (len(column) and column.unique().to_pylist() != [date]):
        raise LakeError(f"every '{DATE_COLUMN}' value must be {date} (the partition's date)", date)


def selected(date: dt.date | None, wanted: set[dt.date] | None) -> bool:
    return wanted is None or date is None or date in wanted


def partition_date(year: str, month: str, day: str) -> dt.date | None:
    """The date named by ``year=YYYY``, ``month=MM``, ``day=DD``, or None if not valid."""
    y, m, d = YEAR.fullmatch(year), MONTH.fullmatch(month), _DAY.fullmatch(day)
    if not (y and m and d):
        return None
    try:
        return dt.date(int(y[1]), int(m[1]), int(d[1]))
    except ValueError:
        return None


def schema_diff(old: pa.Schema, new: pa.Schema) -> str:
    """``- field`` lines for what ``new`` lost or changed, ``+ field`` for what it brings."""

    def only_in(a: pa.Schema, b: pa.Schema) -> list[pa.Field]:
        return [f for f in a if f.name not in b.names or not b.field(f.name).equals(f)]

    def text(f: pa.Field) -> str:
        return f"{f.name}: {f.type}{'' if f.nullable else ' not null'}"

    lines = [f"  - {text(f)}" for f in only_in(old, new)] + [f"  + {text(f)}" for f in only_in(new, old)]
    return "\n".join(lines) or "  (same fields, different order)"


def widens(old: pa.Schema, new: pa.Schema) -> bool:
    """Whether ``new`` is ``old`` with nullable columns added at the end: the one schema change
    the lake makes by itself (a new column of the data contract). Files written before it
    stay valid: readers see the new columns as null in them, compaction adds them as nulls
    (:func:`widened`), the scan accepts them."""
    head = pa.schema(list(new)[: len(old)])
    return head.equals(old, check_metadata=False) and all(f.nullable for f in list(new)[len(old) :])


def widened(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` (of a schema that ``schema`` widens) with the added columns, all null."""
    missing = list(schema)[data.num_columns :]
    for f in missing:
        data = data.append_column(f, pa.nulls(data.num_rows, f.type))
    return data


def _looks_temp(name: str) -> bool:
    """Hidden files, ``*.tmp`` and DuckDB's ``tmp_*``: what killed writers leave behind."""
    return name.startswith((".", "tmp_")) or name.endswith(".tmp")


def is_data_name(name: str) -> bool:
    """Whether a file named ``name`` is a data file: ``*.parquet``, not ``_``-prefixed, not
    a temporary file (:mod:`nkdash.listing` applies the same rule)."""
    return name.endswith(".parquet") and not name.startswith("_") and not _looks_temp(name)


def odd_entry(table: str, date: dt.date | None, path: Path) -> Problem:
    if _looks_temp(path.name):
        return Problem(table, date, path, "temp", "temporary file left by a killed writer")
    return Problem(table, date, path, "stray", "unexpected entry in the partition tree")


def each_day(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for n in range((last - first).days + 1):
        yield first + dt.timedelta(days=n)


def month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The first and last date of ``year``-``month``."""
    first = dt.date(year, month, 1)
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
