"""The lake: the only code that writes under ``$NKDASH_LAKE``.

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

Atomic replacement, also under ``kill -9`` or power loss at any instant
------------------------------------------------------------------------
Writes of one table are serialised by an ``flock`` on ``_staging/<table>/.lock`` (released
by the kernel when the holder dies). Under the lock, a write goes through these states
(``F`` = final dir ``.../day=DD`` or ``star-schema/<dim>``, ``S`` = ``_staging/<table>``)::

    0. recover(S)                        finish whatever a killed writer left (see below)
    1. S/<key>.new-<tok>/  written       parquet file + fsync(file) + fsync(dir)
       facts only, if the table's schema is new (or allowed to change): write
       S/schema.tmp-<tok>, fsync, rename over <table>/_common_metadata, fsync
    2. swap, one of:
       a. F absent:   rename new -> F                                    (commit)
       b. F present:  renameat2(new, F, RENAME_EXCHANGE)                 (commit; F is never
                      absent, readers see old or new) -> S/<key>.new-<tok> now holds the old
       c. exchange unsupported by the filesystem:
                      rename F -> S/<key>.old-<tok>; rename new -> F      (commit)
    3. fsync(parent of F), fsync(S)
    4. remove the old copy left in S

The commit point is the rename that puts the new directory at ``F``. Recovery, run at the
start of every write/delete/quarantine of the table, by ``scan()`` and by ``clean_temp()``,
holds the table lock, so everything in ``S`` belongs to a dead writer, and applies:

    F exists                  -> every S/<key>.* is garbage: delete it.
    F missing, S/<key>.old-*  -> killed between the two renames of 2c: rename the newest
                                 .old back to F (roll back to the last committed state).
    F missing, no .old        -> the write never committed (or F was deleted by hand):
                                 delete S/<key>.new-*; the partition stays missing.
    (``.del-*`` entries of ``delete_partition`` and ``schema.tmp-*`` are always garbage.)

So after any crash a partition holds exactly the old or the new rows, never both, never
half; the only window where it can be absent is between the two renames of 2c on
filesystems without RENAME_EXCHANGE (ext4, xfs, btrfs and tmpfs have it), and the next
access restores it. Deleting a partition directory by hand stays a valid move: it is then
missing, and the next refresh rebuilds it.

Readers during swaps
--------------------
A committed directory (a partition, a month, a dim's table dir) never changes in place: a
write swaps a whole new one in and then empties the old one. So

- a listing (:func:`_entries`) reads a directory through a descriptor and keeps what it
  read only if the path still names that same directory afterwards (same inode); else the
  swap happened meanwhile (the descriptor may show the old directory half emptied) and it
  lists again. A month is also re-listed if it was swapped while its days were listed. A
  listing is therefore always the old or the new complete file set, never a mix, never
  empty because of a swap;
- a file can still be swapped out between its listing and its opening. Readers that hold a
  listing for a while (the dashboards' DuckDB queries) hold the listed files open meanwhile
  (:func:`pinned`) and read through :data:`LAKE_FS`, which opens a pinned path through its
  descriptor: they read exactly what they listed, however often it is rewritten meanwhile.
  Names are content-addressed, so a pinned path is the same bytes as the listed one.
  :meth:`Lake.read_partition` opens the file right after listing it, and lists again in the
  rare case it lost that race.

Compacted months
----------------
Three years of daily partitions are ~1,100 small files per table, and opening files is what
old-data queries then pay for. :meth:`Lake.compact_month` merges a month's daily partitions
into one file, sorted by date, whose row groups hold whole dates (a date never shares a row
group with rows of another date unless both are small: groups close at
``COMPACT_GROUP_ROWS``), so parquet statistics on ``date`` still prune row groups. Where the
month file sits was decided by experiment (DuckDB 2.0, pyarrow 26)::

    year=YYYY/month=MM/part.parquet          DuckDB: "Hive partition mismatch" for
                                             read_parquet('**/*.parquet', hive_partitioning=true)
    year=YYYY/month=MM/day=ALL/...           DuckDB and pyarrow turn ``day`` into a string
                                             (and ``WHERE day = 1`` fails in DuckDB)
    year=YYYY/month=MM/day=__HIVE_DEFAULT_PARTITION__/...
                                             hive's NULL partition value: DuckDB and pyarrow
                                             read ``day`` as NULL, every other column and type
                                             unchanged; ``WHERE day = 1`` skips the month file

So a compacted month lives in ``day=__HIVE_DEFAULT_PARTITION__`` (``COMPACT_DIR``): generic
hive readers see the same columns as before, with ``day`` NULL for its rows (``date`` is the
business date; year and month stay exact). The file's footer carries an index
(``nkdash.dates``: per date its rows, and the sha256 and size of the canonical daily file
that ``write_partition`` wrote for it), so :meth:`Lake.info` keeps returning the checksum of
a date's content, equal before and after compaction.

A date lives in exactly one place: its ``day=DD`` directory or the month file, never both.
Everything that changes a compacted month builds the month's new directory in staging
(untouched daily partitions hard-linked into it) and swaps the whole ``month=MM`` directory
in one step, like a partition (staging key ``YYYY-MM``): readers see the month before or
after, never a date twice or missing. Writing a date that sits in the month file rewrites
the month file without it and puts the new rows in a fresh ``day=DD`` (a later compaction
merges it back); deleting one rewrites the month file without it. Dates written into a
compacted month that the month file does not hold simply get their daily partition.

Hand repairs: deleting a ``day=DD`` directory stays valid; for a compacted month, delete its
``day=__HIVE_DEFAULT_PARTITION__`` directory (or quarantine it): every date of the month is
then missing and the next refresh rebuilds them as daily partitions (or call
``delete_partition`` for one date).

Platform: Linux/Unix (``fcntl``, ``renameat2``); the lake root must be one filesystem.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import fcntl
import functools
import hashlib
import json
import operator
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
import contextlib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NamedTuple, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import LakeError

PartitionedTable = Literal[
    "fact_pos_sales", "fact_invoice_sales", "fact_purchases", "fact_inventory_moves",
    "fact_stock_quants", "fact_sales", "agg_profit_daily", "agg_sales_daily", "agg_orders_daily",
]
WholeTable = Literal["dim_product", "dim_category", "dim_partner", "dim_location", "dim_store"]
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

ProblemKind = Literal["unreadable", "checksum", "schema", "empty", "stray", "temp"]

_YEAR, _MONTH, _DAY = re.compile(r"year=(\d{4})"), re.compile(r"month=(\d{2})"), re.compile(r"day=(\d{2})")
_DATA_FILE = re.compile(r"part-([0-9a-f]{16})\.parquet")
_STAGED = re.compile(r"(?P<key>\d{4}-\d{2}-\d{2}|\d{4}-\d{2}|whole|schema)"
                     r"\.(?P<kind>new|old|del|tmp)-\d{20}-\d+-[0-9a-f]{8}")
_WORK = re.compile(rf"{WORK_PREFIX}(?P<pid>\d+)-[0-9a-f]{{8}}")


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


class _Entry(NamedTuple):
    date: dt.date | None
    path: Path
    partition: bool  # a valid partition directory (or a dim's table dir), else an odd entry
    month: tuple[int, int] | None = None  # (year, month) of a compacted month's directory
    files: tuple[_Listed, ...] = ()  # a partition's data files, listed with its month (see _walk)


class _Listed(NamedTuple):
    """One directory entry as listed (types and size read through the directory's descriptor)."""

    path: Path
    is_dir: bool
    is_file: bool
    size: int = 0


class _Source(NamedTuple):
    """A date's rows to put in a month file, and how to read them."""

    entry: DateEntry
    schema: pa.Schema
    read: Callable[[], pa.Table]


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


class Lake:
    """A lake rooted at ``root``; ``read_only=True`` refuses every write with LakeError.

    ``compression_level``: zstd level of the files it writes (None: the codec's default).
    """

    def __init__(self, root: Path | str, read_only: bool = False, *, compression_level: int | None = None):
        self.root = Path(root).absolute()
        self.read_only = read_only
        self.compression_level = compression_level
        self.star = self.root / "star-schema"
        self.meta_dir = self.root / "_meta"
        self.staging_dir = self.root / "_staging"
        self.quarantine_dir = self.root / "_quarantine"
        self._frozen = 0
        if not read_only:
            for d in (self.star, self.meta_dir, self.staging_dir, self.quarantine_dir):
                _makedirs(d)
            if self.star.stat().st_dev != self.staging_dir.stat().st_dev:
                raise LakeError("star-schema and _staging must be on one filesystem (atomic renames)", self.star)

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r}, read_only={self.read_only})"

    # ---- paths -------------------------------------------------------------------------

    def table_dir(self, table: str) -> Path:
        return self.star / _check_table(table)

    def partition_dir(self, table: str, date: dt.date) -> Path:
        _check_partitioned(table)
        d = _check_date(date)
        return self.month_dir(table, d.year, d.month) / f"day={d.day:02d}"

    def month_dir(self, table: str, year: int, month: int) -> Path:
        """``<table>/year=YYYY/month=MM``: the unit a compacted month is swapped as."""
        _check_partitioned(table)
        return self.table_dir(table) / f"year={year:04d}" / f"month={month:02d}"

    def _final_dir(self, table: str, date: dt.date | None) -> Path:
        """The directory a write replaces: the day dir of a fact, the table dir of a dim."""
        if date is None:
            _check_whole(table)
            return self.table_dir(table)
        return self.partition_dir(table, date)

    def _key_dir(self, table: str, key: str) -> Path:
        """The directory a staging key stands for: ``whole``, ``YYYY-MM-DD`` or ``YYYY-MM``."""
        if key == "whole":
            return self._final_dir(table, None)
        if len(key) == 7:
            return self.month_dir(table, int(key[:4]), int(key[5:]))
        return self.partition_dir(table, dt.date.fromisoformat(key))

    # ---- reading -----------------------------------------------------------------------

    def partitions(self, table: str) -> list[dt.date]:
        """Dates that have data on disk, ascending: daily partitions (directory listing) and
        the dates in compacted month files (their footer index, cached per file)."""
        _check_partitioned(table)
        return sorted({d for f in self.data_files(table) for d in f.dates})

    def has_partition(self, table: str, date: dt.date) -> bool:
        return bool(_data_files(self.partition_dir(table, date))) or self._compacted_file(table, date) is not None

    def partition_files(self, table: str | None = None) -> Iterator[tuple[str, dt.date | None, Path, int]]:
        """``(table, date, data file, size in bytes)`` for every data file; date None for dims
        and compacted month files (see :meth:`data_files` for the dates those hold)."""
        for f in self.data_files(table):
            yield f.table, None if f.compacted or not f.dates else f.dates[0], f.path, f.bytes

    def data_files(self, table: str | None = None, start: dt.date | None = None,
                   end: dt.date | None = None) -> list[DataFile]:
        """Every data file (of ``table``, or all tables) that may hold dates in ``start..end``
        (dims always), in table and date order. Only month files' footers are read (cached)."""
        lo, hi = start or dt.date.min, end or dt.date.max
        files = []
        for name in (TABLES if table is None else (_check_table(table),)):
            for entry in self._walk(name, lo, hi):
                if not entry.partition or (entry.date is not None and not lo <= entry.date <= hi):
                    continue
                for listed in entry.files:
                    files.append(self._data_file_of(name, entry, listed.path, listed.size))
        return [f for f in files if f.first is None or (f.first <= hi and f.last >= lo)]

    def _data_file_of(self, table: str, entry: _Entry, path: Path, size: int) -> DataFile:
        if entry.month is None:
            return DataFile(table, path, size, () if entry.date is None else (entry.date,), entry.date, entry.date)
        return month_file(table, path, size, *entry.month)

    def _compact_file(self, table: str, year: int, month: int) -> Path | None:
        """The month file of a compacted month, if there is exactly one (else None)."""
        files = _data_files(self.month_dir(table, year, month) / COMPACT_DIR)
        return files[0] if len(files) == 1 else None

    def _compacted_file(self, table: str, date: dt.date) -> Path | None:
        """The month file that holds ``date``, if any (an unreadable one holds nothing)."""
        path = self._compact_file(table, date.year, date.month)
        try:
            return path if path is not None and date in month_index(path) else None
        except LakeError:
            return None

    def schema(self, table: str) -> pa.Schema | None:
        """The table's schema as stored in parquet, or None if the table was never written.

        Facts: ``_common_metadata`` (kept after every partition is gone), else the newest
        readable data file. Dims: their data file.
        """
        for f in self._schema_sources(table):
            try:
                return pq.read_schema(f).remove_metadata()
            except (OSError, pa.ArrowException):  # missing or unreadable: try the next
                continue
        return None

    def _schema_sources(self, table: str) -> Iterator[Path]:
        if table in WHOLE:
            yield from _data_files(self.table_dir(table))
            return
        yield self.table_dir(table) / SCHEMA_FILE  # facts: recorded schema first, then newest files
        for f in reversed(self.data_files(table)):
            yield f.path

    def read_partition(self, table: str, date: dt.date) -> pa.Table:
        """The partition's rows. A read that loses a race with a writer (the file it listed
        is swapped out before it is opened) is done again: it returns the new version."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return self._read_partition(table, date)
            except LakeError as exc:
                swapped = swapped_out(exc) or (exc.__cause__ is None and self.has_partition(table, date))
                if not swapped or attempt + 1 == READ_ATTEMPTS:
                    raise
                time.sleep(0.001 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _read_partition(self, table: str, date: dt.date) -> pa.Table:
        day_dir = self.partition_dir(table, date)
        if not _data_files(day_dir):
            month_file = self._compacted_file(table, date)
            if month_file is not None:
                return read_month_date(month_file, date)
        return _read(self._data_file(day_dir))

    def read_whole(self, table: str) -> pa.Table:
        _check_whole(table)
        return _read(self._data_file(self.table_dir(table)))

    def info(self, table: str, date: dt.date | None = None) -> PartitionInfo:
        """Rows, size and sha256 of what is on disk now (hashes the file: use to verify).

        A date in a compacted month reports the month file as ``path`` and, from its index,
        the rows, size and sha256 of the date's canonical daily file (as when it was written).
        """
        final = self._final_dir(table, date)
        if date is not None and not _data_files(final):
            month_file = self._compacted_file(table, date)
            if month_file is not None:
                e = month_index(month_file)[date]
                return PartitionInfo(table, date, month_file, e.rows, e.bytes, e.checksum)
        path = self._data_file(final)
        digest, size = _sha256(path)
        return PartitionInfo(table, date, path, pq.read_metadata(path).num_rows, size, digest)

    def _data_file(self, directory: Path) -> Path:
        files = _data_files(directory)
        if len(files) != 1:
            problem = "does not exist" if not files else f"has {len(files)} data files (run scan)"
            raise LakeError(f"partition {directory.relative_to(self.star)} {problem}", directory)
        return files[0]

    def months(self, table: str) -> list[MonthLayout]:
        """How each month of ``table`` is stored: daily partitions and/or a month file."""
        _check_partitioned(table)
        months: dict[tuple[int, int], dict] = {}
        for f in self.data_files(table):
            key = (f.first.year, f.first.month)
            m = months.setdefault(key, {"daily": 0, "compacted": False, "bytes": 0, "dates": set()})
            m["compacted"] |= f.compacted
            m["daily"] += not f.compacted
            m["bytes"] += f.bytes
            m["dates"].update(f.dates)
        return [MonthLayout(table, y, mo, m["daily"], m["compacted"], len(m["dates"]), m["bytes"])
                for (y, mo), m in sorted(months.items())]

    # ---- writing -----------------------------------------------------------------------

    def write_partition(self, table: str, date: dt.date, data: pa.Table, *,
                        allow_schema_change: bool = False) -> PartitionInfo:
        """Atomically replace ``table``'s partition for ``date`` with ``data``.

        ``data`` must carry a ``date`` column (date32, every value == ``date``) and no
        year/month/day columns. Its parquet schema must equal the table's unless
        ``allow_schema_change`` (then it becomes the table's schema).
        """
        _check_partitioned(table)
        _check_date(date)
        _check_fact_columns(data, date)
        return self._write(table, date, data, allow_schema_change)

    def write_whole(self, table: str, data: pa.Table, *, allow_schema_change: bool = False) -> PartitionInfo:
        """Atomically replace a whole-table dimension (``star-schema/<dim>/``)."""
        _check_whole(table)
        return self._write(table, None, _check_table_data(data), allow_schema_change)

    def delete_partition(self, table: str, date: dt.date) -> None:
        """Remove a partition atomically (no-op if absent); the next refresh rebuilds it.

        A date in a compacted month is removed by rewriting the month file without it.
        """
        self.delete_partitions(table, [date])

    def delete_partitions(self, table: str, dates: Iterable[dt.date]) -> None:
        """Remove the partitions of ``dates`` (absent ones are skipped), one atomic step per
        daily partition, or per month where a month file or several dates are involved."""
        _check_partitioned(table)
        by_month: dict[tuple[int, int], set[dt.date]] = {}
        for date in dates:
            by_month.setdefault((_check_date(date).year, date.month), set()).add(date)
        with self._locked(table):
            self._recover(table)
            for (year, month), days in sorted(by_month.items()):
                self._delete_in_month(table, year, month, days)

    def _delete_in_month(self, table: str, year: int, month: int, days: set[dt.date]) -> None:
        if len(days) > 1 or self._compact_file(table, year, month) is not None:
            self._rewrite_month(table, year, month, drop=days)
        else:
            self._delete_day(table, next(iter(days)))

    def _delete_day(self, table: str, date: dt.date) -> None:
        final = self.partition_dir(table, date)
        if final.exists():
            gone = self._staged(table, date.isoformat(), "del")
            os.rename(final, gone)
            _fsync_dir(final.parent)
            _fsync_dir(gone.parent)
            shutil.rmtree(gone)

    def _write(self, table: str, date: dt.date | None, data: pa.Table, allow_schema_change: bool) -> PartitionInfo:
        self._check_writable()
        key = "whole" if date is None else date.isoformat()
        final = self._final_dir(table, date)
        with self._locked(table):
            self._recover(table)
            try:
                new = self._staged(table, key, "new")
                new.mkdir()
                path, digest, size = _write_parquet(_normalize(data), new)
                self._check_schema(table, pq.read_schema(path), allow_schema_change)
                if date is not None and self._compacted_file(table, date) is not None:
                    self._rewrite_month(table, date.year, date.month, add={date: new})
                else:
                    _makedirs(final.parent)
                    self._swap_in(table, key, new, final)
            except BaseException:
                self._recover(table)  # back to the last committed state, staging emptied
                raise
        return PartitionInfo(table, date, final / path.name, data.num_rows, size, digest)

    # ---- compacted months --------------------------------------------------------------

    def compact_month(self, table: str, year: int, month: int) -> Compaction | None:
        """Merge the month's daily partitions (and its month file, if any) into one month file.

        Returns None if there is nothing to merge (no daily partition: already compacted, or
        empty). Raises LakeError, changing nothing, if a daily partition is damaged in layout
        (several data files) or the month's files differ in schema (migrate them first).
        """
        self._check_writable()
        _check_partitioned(table)
        with self._locked(table):
            self._recover(table)
            before = [f for f in self.data_files(table, *month_span(year, month))]
            if not any(not f.compacted for f in before):
                return None
            path = self._rewrite_month(table, year, month, merge_days=True)
            index = month_index(path)
            return Compaction(table, f"{year:04d}-{month:02d}", len(index), sum(e.rows for e in index.values()),
                              len(before), sum(f.bytes for f in before), path, path.stat().st_size)

    def import_dates(self, source: Lake, table: str, dates: Iterable[dt.date]) -> list[Path]:
        """Copy ``dates`` of ``table`` from the lake ``source`` into this one as compacted months
        (replacing those dates here, keeping the others); returns the month files written.

        Checksums travel with the rows (:meth:`info` reports the same here as in ``source``).
        This is how an archive (a lake of compacted months) receives old data.
        """
        self._check_writable()
        _check_partitioned(table)
        by_month: dict[tuple[int, int], list[dt.date]] = {}
        for date in sorted(set(dates)):
            by_month.setdefault((date.year, date.month), []).append(date)
        written = []
        with self._locked(table):
            self._recover(table)
            for (year, month), days in sorted(by_month.items()):
                sources = [source._source(table, d) for d in days]
                written.append(self._rewrite_month(table, year, month, merge_days=True, extra=sources))
        return [p for p in written if p is not None]

    def move_dates(self, dest: Lake, table: str, dates: Iterable[dt.date]) -> list[Path]:
        """Move ``dates`` of ``table`` into the lake ``dest`` as compacted months (see
        :meth:`import_dates`), then remove them here, all under this table's lock: a write
        of one of those dates waits, so nothing written meanwhile is lost. Each date is
        checked in ``dest`` (rows and checksum) before it is removed here."""
        self._check_writable()
        days = sorted(set(dates))
        with self._locked(table):
            self._recover(table)
            written = dest.import_dates(self, table, days)
            for day in days:
                here, there = self.info(table, day), dest.info(table, day)
                if (here.rows, here.checksum) != (there.rows, there.checksum):
                    raise LakeError(f"{table} {day}: the copy in {dest.root} differs; nothing removed", day)
            by_month: dict[tuple[int, int], set[dt.date]] = {}
            for day in days:
                by_month.setdefault((day.year, day.month), set()).add(day)
            for (year, month), month_days in sorted(by_month.items()):
                self._delete_in_month(table, year, month, month_days)
        return written

    def _source(self, table: str, date: dt.date) -> _Source:
        """Where ``date``'s rows are, as a month-file source (raises LakeError if absent)."""
        day_file = _data_files(self.partition_dir(table, date))
        if day_file:
            return _day_source(self._data_file(self.partition_dir(table, date)), date)
        month_file = self._compacted_file(table, date)
        if month_file is None:
            raise LakeError(f"{table} has no partition for {date}", date)
        return _month_source(month_file, date)

    def _rewrite_month(self, table: str, year: int, month: int, *, drop: Iterable[dt.date] = (),
                       add: Mapping[dt.date, Path] | None = None, merge_days: bool = False,
                       extra: Sequence[_Source] = ()) -> Path | None:
        """Replace the month's directory, in one swap, by one where: the dates of ``drop``,
        ``add`` and ``extra`` are gone from the month file and their daily partitions;
        ``add`` (staged partition dirs) become daily partitions; ``extra`` rows join the month
        file; with ``merge_days`` every other daily partition joins it too, else it is kept
        (hard-linked). Returns the new month file (None if the month holds no month file).
        Caller holds the table lock.
        """
        add = dict(add or {})
        final = self.month_dir(table, year, month)
        if not final.exists() and not add and not extra:
            return None
        replaced = set(drop) | set(add) | {s.entry.date for s in extra}
        new = self._staged(table, f"{year:04d}-{month:02d}", "new")
        new.mkdir()
        sources = list(extra)
        for entry in _listdir(final):
            if entry.name == COMPACT_DIR:
                sources += self._month_sources(entry, replaced, new / COMPACT_DIR)
                continue
            date = _partition_date(final.parent.name, final.name, entry.name) if entry.is_dir() else None
            if date is not None and date in replaced:
                continue
            if date is not None and merge_days:
                files = _data_files(entry)
                if len(files) > 1 or len(files) < len(_listdir(entry)):
                    raise LakeError(f"{entry.relative_to(self.star)} holds more than its data file (run scan)", entry)
                sources += [_day_source(f, date) for f in files]
            else:
                link_tree(entry, new / entry.name)
        path = None
        if sources:
            _makedirs(new / COMPACT_DIR)
            path, _, _ = write_month_file(new / COMPACT_DIR, sources, self.compression_level)
        for date, staged in sorted(add.items()):
            os.rename(staged, new / f"day={date.day:02d}")
        _fsync_tree(new)
        _makedirs(final.parent)
        self._swap_in(table, f"{year:04d}-{month:02d}", new, final)
        if not _listdir(final):
            final.rmdir()
            _fsync_dir(final.parent)
        return None if path is None else final / COMPACT_DIR / path.name

    def _month_sources(self, compact_dir: Path, replaced: set[dt.date], new_dir: Path) -> list[_Source]:
        """The dates of a month file not in ``replaced``; odd entries beside it are kept."""
        files = _data_files(compact_dir)
        if len(files) > 1:
            raise LakeError(f"{compact_dir.relative_to(self.star)} has {len(files)} data files (run scan)", compact_dir)
        for other in _listdir(compact_dir):
            if other not in files:
                _makedirs(new_dir)
                link_tree(other, new_dir / other.name)
        if not files:
            return []
        return [_month_source(files[0], d) for d in month_index(files[0]) if d not in replaced]

    # ---- whole-lake operations (backup, restore) ---------------------------------------

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Hold every table's write lock (killed writes recovered): nothing under
        ``star-schema`` changes meanwhile. Writers wait; hold it briefly."""
        self._check_writable()
        with ExitStack() as stack:
            for table in sorted(TABLES):
                stack.enter_context(self._locked(table))
                self._recover(table)
            self._frozen += 1
            try:
                yield
            finally:
                self._frozen -= 1

    def work_dir(self, purpose: str) -> Path:
        """A new private directory in ``_staging`` (same filesystem as ``star-schema``), for
        snapshots and restores; removed by the caller, or by :meth:`clean_temp` once its
        process is gone."""
        self._check_writable()
        path = self.staging_dir / f"{WORK_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}" / purpose
        _makedirs(path)
        return path

    def replace_star(self, new_star: Path, keep_old_in: Path) -> None:
        """Make ``new_star`` (a directory in :meth:`work_dir`) the lake's ``star-schema`` in one
        swap, moving the previous one to ``keep_old_in``. Only inside :meth:`frozen`."""
        if not self._frozen:
            raise LakeError("replace_star needs the lake frozen (with lake.frozen(): ...)", self.root)
        if new_star.stat().st_dev != self.star.stat().st_dev:
            raise LakeError(f"{new_star} is not on the lake's filesystem", new_star)
        _makedirs(keep_old_in.parent)
        if _exchange(new_star, self.star):
            os.rename(new_star, keep_old_in)
        else:
            os.rename(self.star, keep_old_in)
            os.rename(new_star, self.star)
        _fsync_dir(self.root)
        _fsync_dir(keep_old_in.parent)
        _fsync_dir(new_star.parent)

    def _check_schema(self, table: str, schema: pa.Schema, allow_change: bool) -> None:
        """Refuse a schema change unless allowed; keep ``_common_metadata`` of facts current.

        Compares schemas as stored in parquet (e.g. timestamp[s] is stored as [ms]).
        """
        current = self.schema(table)
        same = current is not None and current.equals(schema, check_metadata=False)
        if current is not None and not same and not allow_change:
            raise LakeError(f"{table}: schema differs from the table's (pass allow_schema_change=True "
                            f"to migrate):\n{_schema_diff(current, schema)}", self.table_dir(table))
        if table in PARTITIONED and not (same and (self.table_dir(table) / SCHEMA_FILE).is_file()):
            self._record_schema(table, schema)

    def _record_schema(self, table: str, schema: pa.Schema) -> None:
        tmp = self._staged(table, "schema", "tmp")
        pq.write_metadata(schema, tmp)
        _sha256(tmp)  # fsync
        _makedirs(self.table_dir(table))
        os.rename(tmp, self.table_dir(table) / SCHEMA_FILE)
        _fsync_dir(self.table_dir(table))

    def _swap_in(self, table: str, key: str, new: Path, final: Path) -> None:
        """Steps 2-4 of the module docstring: make ``new`` the content of ``final``."""
        if not final.exists():
            os.rename(new, final)
            leftover = None
        elif _exchange(new, final):
            leftover = new
        else:
            leftover = self._staged(table, key, "old")
            os.rename(final, leftover)
            os.rename(new, final)
        _fsync_dir(final.parent)
        _fsync_dir(new.parent)
        if leftover is not None:
            shutil.rmtree(leftover)

    # ---- recovery and health -----------------------------------------------------------

    def _recover(self, table: str) -> list[Path]:
        """Finish what killed writers left in ``_staging/<table>`` (caller holds the lock)."""
        staging = self.staging_dir / table
        entries = sorted(p for p in staging.iterdir() if p.name != LOCK_FILE) if staging.is_dir() else []
        touched = []
        for old in reversed(entries):  # newest first: restore at most one .old per key
            m = _STAGED.fullmatch(old.name)
            if m and m["kind"] == "old" and m["key"] != "schema":
                final = self._key_dir(table, m["key"])
                if not final.exists():
                    _makedirs(final.parent)
                    os.rename(old, final)
                    _fsync_dir(final.parent)
                    touched.append(final)
        for leftover in entries:
            if leftover.exists() and leftover not in touched:
                _remove(leftover)
                touched.append(leftover)
        if touched:
            _fsync_dir(staging)
        return touched

    def scan(self, tables: Iterable[str] | None = None, deep: bool = True,
             dates: Iterable[dt.date] | None = None) -> list[Problem]:
        """Find what would make readers fail or lie. A writable lake first recovers killed writes.

        Shallow: directory structure and parquet footers (schema, readability). ``deep``
        also reads every page (page checksums verified) and compares each file's sha256 with
        its name. The reference schema is the table's (see :meth:`schema`). ``dates`` limits
        the fact partitions examined (dims and stray entries are always examined). Month
        files are also checked against their index (shallow: readable; deep: rows per date);
        their problems have ``date`` None (they concern every date of the month).
        """
        wanted = None if dates is None else set(dates)
        problems: list[Problem] = []
        for table in (TABLES if tables is None else [_check_table(t) for t in tables]):
            problems += self._scan_staging(table)
            problems += [p for p in self._layout_problems(table) if _selected(p.date, wanted)]
            reference = self.schema(table) if table in PARTITIONED else None
            for f in self.data_files(table):
                if wanted is not None and f.dates and not wanted.intersection(f.dates):
                    continue
                problem = _check_file(f.path, reference, deep) or (_check_month(f.path, deep) if f.compacted else None)
                if problem and f.compacted:
                    dates = f.dates or tuple(_days_between(f.first, f.last))
                    problems.append(Problem(table, None, f.path, *problem, dates=dates))
                elif problem:
                    problems.append(Problem(table, f.dates[0] if f.dates else None, f.path, *problem))
        return problems

    def _scan_staging(self, table: str) -> list[Problem]:
        """Writable: recover killed writes. Read-only: report them (a live write is no problem)."""
        if not self.read_only:
            with self._locked(table, wait=False) as free:
                if free:
                    self._recover(table)
            return []
        if self._writer_active(table):
            return []
        leftovers = [p for p in _listdir(self.staging_dir / table) if p.name != LOCK_FILE]
        return [Problem(table, None, p, "temp", "left by a killed write; a writable scan, write or "
                        "clean_temp recovers it") for p in leftovers]

    def _writer_active(self, table: str) -> bool:
        """Whether a process holds the table's write lock (probed with a momentary shared lock)."""
        try:
            fd = os.open(self.staging_dir / table / LOCK_FILE, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _layout_problems(self, table: str) -> Iterator[Problem]:
        """Structure only (no file is opened): odd entries, empty or doubled partitions."""
        schema_file = self.table_dir(table) / SCHEMA_FILE
        if table in PARTITIONED and schema_file.exists() and _check_file(schema_file, None, deep=False):
            yield Problem(table, None, schema_file, "unreadable", "table schema file is damaged")
        daily: set[dt.date] = set()
        for entry in self._walk(table):
            if not entry.partition:
                yield _odd_entry(table, None, entry.path)
                continue
            files = [f.path for f in entry.files]
            if entry.date is not None and files:
                daily.add(entry.date)
            if entry.month is not None and len(files) == 1:
                yield from self._doubled_dates(table, files[0], daily)
            if not files:
                yield Problem(table, entry.date, entry.path, "empty", "no data file")
            elif len(files) > 1:
                yield Problem(table, entry.date, entry.path, "stray",
                              f"{len(files)} data files: readers would union them")
            for other in _listdir(entry.path):
                if other not in files and not other.name.startswith("_"):
                    yield _odd_entry(table, entry.date, other)

    def _doubled_dates(self, table: str, month_file: Path, daily: set[dt.date]) -> Iterator[Problem]:
        """Dates both in a month file and in their own daily partition (readers see them twice)."""
        try:
            doubled = sorted(daily.intersection(month_index(month_file)))
        except LakeError:
            return  # reported by the file check
        for date in doubled:
            yield Problem(table, date, self.partition_dir(table, date), "stray",
                          f"{date} is also in the month file {month_file.name}: readers see it twice "
                          "(quarantine one of them)")

    def quarantine(self, problem_or_path: Problem | Path) -> Path:
        """Move the partition (or dim table, or stray entry) at fault to ``_quarantine``.

        A partition is moved whole, so it is then missing and the next refresh rebuilds
        it; a month file's whole ``day=__HIVE_DEFAULT_PARTITION__`` directory goes, so every
        date it held is then missing. Returns the new location.
        """
        self._check_writable()
        path = problem_or_path.path if isinstance(problem_or_path, Problem) else Path(problem_or_path)
        table, target = self._quarantine_target(path.absolute())
        with self._locked(table):
            self._recover(table)
            if not target.exists():
                raise LakeError(f"nothing to quarantine at {target}", target)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            dest = self.quarantine_dir / table / stamp / target.relative_to(self.table_dir(table))
            _makedirs(dest.parent)
            os.rename(target, dest)
            _fsync_dir(target.parent)
            _fsync_dir(dest.parent)
        return dest

    def _quarantine_target(self, path: Path) -> tuple[str, Path]:
        try:
            parts = path.relative_to(self.star).parts
        except ValueError:
            raise LakeError(f"{path} is not inside {self.star}", path) from None
        if not parts or parts[0] not in TABLES:
            raise LakeError(f"{path} is not inside a lake table", path)
        table, table_dir = parts[0], self.star / parts[0]
        if table in WHOLE:
            return table, table_dir
        if len(parts) >= 4 and (_partition_date(*parts[1:4]) or (
                _YEAR.fullmatch(parts[1]) and _MONTH.fullmatch(parts[2]) and parts[3] == COMPACT_DIR)):
            return table, table_dir.joinpath(*parts[1:4])
        return table, path

    def temp_entries(self) -> list[Path]:
        """What :meth:`clean_temp` may remove or restore: ``_staging`` leftovers (also of
        writes in flight), work directories, temp-looking entries under ``star-schema``."""
        found = [p for table in TABLES for p in _listdir(self.staging_dir / table) if p.name != LOCK_FILE]
        found += [p for p in _listdir(self.staging_dir) if _WORK.fullmatch(p.name)]
        found += [p.path for table in TABLES for p in self._layout_problems(table) if p.kind == "temp"]
        return found

    def clean_temp(self, older_than_s: float = 3600) -> list[Path]:
        """Remove leftovers of killed writes; returns what was removed or restored.

        ``_staging`` entries are handled by recovery at once (the table lock proves their
        writer dead; tables being written right now are skipped). Temp-looking entries
        under ``star-schema`` (dot files, ``*.tmp``, DuckDB's ``tmp_*``) come from other
        tools, so only those older than ``older_than_s`` are removed. Work directories
        (``_staging/_work-<pid>-*``) go once their process is gone.
        """
        self._check_writable()
        removed: list[Path] = []
        cutoff = time.time() - older_than_s
        for work in _listdir(self.staging_dir):
            m = _WORK.fullmatch(work.name)
            if m and not process_alive(int(m["pid"])):
                _remove(work)
                removed.append(work)
        for table in TABLES:
            with self._locked(table, wait=False) as free:
                if free:
                    removed += self._recover(table)
            for problem in self._layout_problems(table):
                if problem.kind == "temp" and problem.path.lstat().st_mtime < cutoff:
                    _remove(problem.path)
                    removed.append(problem.path)
        return removed

    # ---- internals ---------------------------------------------------------------------

    def _walk(self, table: str, start: dt.date = dt.date.min, end: dt.date = dt.date.max) -> Iterator[_Entry]:
        """Every partition directory and every odd entry of a table's tree, in date order.

        A dim yields its table directory as its one partition. Odd entries are anything in a
        fact's tree that is not a valid ``year=/month=/day=`` directory or ``_common_metadata``.
        ``start``/``end`` skip the years and months outside them (and their odd entries).
        """
        table_dir = self.table_dir(table)
        if table in WHOLE:
            files = _scan(table_dir)
            if files is not None:
                yield _Entry(None, table_dir, True, files=tuple(f for f in files if _is_data(f)))
            return
        for year in _entries(table_dir):
            if year.path.name == SCHEMA_FILE:
                continue
            if not (year.is_dir and _YEAR.fullmatch(year.path.name)):
                yield _Entry(None, year.path, False)
                continue
            if not start.year <= int(year.path.name[5:]) <= end.year:
                continue
            for month in _entries(year.path):
                if not (month.is_dir and _MONTH.fullmatch(month.path.name)):
                    yield _Entry(None, month.path, False)
                    continue
                y, m = int(year.path.name[5:]), int(month.path.name[6:])
                if 1 <= m <= 12 and not (start <= month_span(y, m)[1] and month_span(y, m)[0] <= end):
                    continue
                yield from _month_entries(month.path, y, m)

    @contextmanager
    def _locked(self, table: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the table's write lock; yields False (not held) if ``wait=False`` and busy."""
        self._check_writable()
        staging = self.staging_dir / table
        _makedirs(staging)
        fd = os.open(staging / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _staged(self, table: str, key: str, kind: str) -> Path:
        token = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return self.staging_dir / table / f"{key}.{kind}-{token}"

    def _check_writable(self) -> None:
        if self.read_only:
            raise LakeError("the lake is open read-only", self.root)


# ---- validation ----------------------------------------------------------------------------


def _check_table(table: str) -> str:
    if table not in TABLES:
        raise LakeError(f"unknown lake table {table!r}; expected one of {', '.join(TABLES)}", table)
    return table


def _check_partitioned(table: str) -> None:
    if _check_table(table) not in PARTITIONED:
        raise LakeError(f"{table} is a whole table, not partitioned by date", table)


def _check_whole(table: str) -> None:
    if _check_table(table) not in WHOLE:
        raise LakeError(f"{table} is partitioned by date; use write_partition/read_partition", table)


def _check_date(date: object) -> dt.date:
    if type(date) is not dt.date:
        raise LakeError(f"expected a datetime.date, got {date!r}", date)
    return date


def _check_table_data(data: object) -> pa.Table:
    if not isinstance(data, pa.Table):
        raise LakeError(f"expected a pyarrow.Table, got {type(data).__name__}")
    return data


def _check_fact_columns(data: object, date: dt.date) -> None:
    names = _check_table_data(data).column_names
    clash = [c for c in PARTITION_COLUMNS if c in names]
    if clash:
        raise LakeError(f"columns {clash} are supplied by the hive path; drop them from the data")
    if DATE_COLUMN not in names or data.schema.field(DATE_COLUMN).type != pa.date32():
        raise LakeError(f"facts need a '{DATE_COLUMN}' column of type date32 (the business date)")
    column = data.column(DATE_COLUMN)
    if column.null_count or (len(column) and column.unique().to_pylist() != [date]):
        raise LakeError(f"every '{DATE_COLUMN}' value must be {date} (the partition's date)", date)


def _selected(date: dt.date | None, wanted: set[dt.date] | None) -> bool:
    return wanted is None or date is None or date in wanted


def _partition_date(year: str, month: str, day: str) -> dt.date | None:
    """The date named by ``year=YYYY``, ``month=MM``, ``day=DD``, or None if not valid."""
    y, m, d = _YEAR.fullmatch(year), _MONTH.fullmatch(month), _DAY.fullmatch(day)
    if not (y and m and d):
        return None
    try:
        return dt.date(int(y[1]), int(m[1]), int(d[1]))
    except ValueError:
        return None


def _schema_diff(old: pa.Schema, new: pa.Schema) -> str:
    """``- field`` lines for what ``new`` lost or changed, ``+ field`` for what it brings."""
    def only_in(a: pa.Schema, b: pa.Schema) -> list[pa.Field]:
        return [f for f in a if f.name not in b.names or not b.field(f.name).equals(f)]

    def text(f: pa.Field) -> str:
        return f"{f.name}: {f.type}{'' if f.nullable else ' not null'}"

    lines = [f"  - {text(f)}" for f in only_in(old, new)] + [f"  + {text(f)}" for f in only_in(new, old)]
    return "\n".join(lines) or "  (same fields, different order)"


# ---- parquet -------------------------------------------------------------------------------


def _normalize(data: pa.Table) -> pa.Table:
    """Drop table-level metadata (e.g. pandas' index info) and chunking: checksums then
    depend on the rows alone."""
    return data.replace_schema_metadata(None).combine_chunks()


def _write_parquet(data: pa.Table, directory: Path) -> tuple[Path, str, int]:
    """Write ``data`` as ``directory/part-<sha>.parquet``, durably; returns (path, sha256, size)."""
    tmp = directory / "part.tmp"
    pq.write_table(data, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                   write_statistics=True, write_page_checksum=True)
    digest, size = _sha256(tmp)
    path = directory / f"part-{digest[:16]}.parquet"
    os.rename(tmp, path)
    _fsync_dir(directory)
    return path, digest, size


def swapped_out(exc: BaseException) -> bool:
    """Whether a read failed because a file it had listed is gone: a writer swapped the
    partition meanwhile (the reader should list and read again)."""
    return (isinstance(exc, FileNotFoundError) or isinstance(exc.__cause__, FileNotFoundError)
            or os.strerror(errno.ENOENT) in f"{exc} {exc.__cause__ or ''}")


# ---- pinned reads ---------------------------------------------------------------------------


class _Pins:
    """Data files held open by the readers that listed them: path -> [descriptor, holders]."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[int]] = {}

    @contextmanager
    def __call__(self, paths: Iterable[Path | str]) -> Iterator[None]:
        _raise_open_file_limit()       # once: only readers that pin files need the higher limit
        taken: list[str] = []
        try:
            for path in dict.fromkeys(map(str, paths)):
                self._take(path)
                taken.append(path)
            yield
        finally:
            for path in taken:
                self._drop(path)

    def _take(self, path: str) -> None:
        with self._lock:
            if path in self._held:
                self._held[path][1] += 1
                return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as e:
            raise LakeError(f"{path} vanished before it was read (a write replaced it): list again", Path(path)) from e
        with self._lock:
            held = self._held.setdefault(path, [fd, 0])
            held[1] += 1
        if held[0] != fd:  # another reader pinned it meanwhile (same name: same bytes)
            os.close(fd)

    def _drop(self, path: str) -> None:
        with self._lock:
            held = self._held[path]
            held[1] -= 1
            if not held[1]:
                del self._held[path]
                os.close(held[0])

    def resolve(self, path: str) -> str:
        """Where to open ``path``: its pinned descriptor (Linux), else the path itself.
        Call with the lock held, and open before releasing it."""
        held = self._held.get(path)
        return f"/proc/self/fd/{held[0]}" if held is not None and _PROC_FD else path

    def __len__(self) -> int:
        return len(self._held)


_PROC_FD = os.path.isdir("/proc/self/fd")


@functools.cache
def _raise_open_file_limit(wanted: int = 65536) -> None:
    """A query over a long range pins one descriptor per file it reads (1,096 daily files
    for 3 years of one table): lift the soft limit (often 1,024) towards the hard one."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):   # not POSIX, or not allowed: keep the limit
        pass


_PINS = _Pins()
_LOCAL_FS = pafs.LocalFileSystem()


def pinned(paths: Iterable[Path | str]) -> contextlib.AbstractContextManager[None]:
    """Hold the data files ``paths`` (just listed) open for the duration of the ``with``:
    reads through :data:`LAKE_FS` then get exactly those files, even if a writer swaps them
    out meanwhile. Raises LakeError (``swapped_out``) if one is already gone: list again."""
    return _PINS(paths)


class _PinnedFiles(pafs.FileSystemHandler):
    """The local filesystem, read-only, where a pinned path opens its pinned file."""

    def get_type_name(self) -> str:
        return "nkdash-lake"

    def equals(self, other: object) -> bool:
        return isinstance(other, _PinnedFiles)

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        infos = []
        for path in paths:
            with _PINS._lock:
                info = _LOCAL_FS.get_file_info(_PINS.resolve(path))
            infos.append(pafs.FileInfo(path, info.type, mtime_ns=info.mtime_ns, size=info.size))
        return infos

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return _LOCAL_FS.get_file_info(selector)

    def open_input_file(self, path: str) -> pa.NativeFile:
        with _PINS._lock:
            return _LOCAL_FS.open_input_file(_PINS.resolve(path))

    def open_input_stream(self, path: str) -> pa.NativeFile:
        with _PINS._lock:
            return _LOCAL_FS.open_input_stream(_PINS.resolve(path))

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "the lake is read through a read-only filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


LAKE_FS = pafs.PyFileSystem(_PinnedFiles())
"""A read-only pyarrow filesystem over the local one that opens :func:`pinned` files through
their descriptors (unpinned paths open normally)."""


def _read(path: Path) -> pa.Table:
    try:
        return pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e


def _check_file(path: Path, reference: pa.Schema | None, deep: bool) -> tuple[ProblemKind, str] | None:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        return "unreadable", str(e)
    if deep:
        named = _DATA_FILE.fullmatch(path.name)
        digest, _ = _sha256(path, sync=False)
        if named and not digest.startswith(named[1]):
            return "checksum", f"sha256 {digest[:16]} does not match the name it was written with"
        try:
            pq.ParquetFile(path, page_checksum_verification=True).read()
        except (OSError, pa.ArrowException) as e:
            return "unreadable", str(e)
    if reference is not None and not schema.equals(reference, check_metadata=False):
        return "schema", _schema_diff(reference, schema)
    return None


def _check_month(path: Path, deep: bool) -> tuple[ProblemKind, str] | None:
    """A month file's index: readable, within the month of its directory; ``deep``: the
    rows of each date are what the index says."""
    try:
        index = month_index(path)
    except LakeError as e:
        return "unreadable", str(e)
    year, month = int(path.parent.parent.parent.name[5:]), int(path.parent.parent.name[6:])
    outside = [d for d in index if (d.year, d.month) != (year, month)]
    if outside:
        return "stray", f"its index holds dates outside {year:04d}-{month:02d}: {outside[:3]}"
    if deep:
        try:
            counts = pq.ParquetFile(path).read(columns=[DATE_COLUMN])[DATE_COLUMN].value_counts().to_pylist()
        except (OSError, pa.ArrowException) as e:
            return "unreadable", str(e)
        found = {c["values"]: c["counts"] for c in counts}
        expected = {d: e.rows for d, e in index.items() if e.rows}
        if found != expected:
            return "checksum", f"rows per date differ from the file's index ({len(found)} vs {len(expected)} dates)"
    return None


def _looks_temp(name: str) -> bool:
    """Hidden files, ``*.tmp`` and DuckDB's ``tmp_*``: what killed writers leave behind."""
    return name.startswith((".", "tmp_")) or name.endswith(".tmp")


def _data_files(directory: Path) -> list[Path]:
    return [f.path for f in _entries(directory) if _is_data(f)]


def _is_data(entry: _Listed) -> bool:
    return entry.is_file and is_data_name(entry.path.name)


def is_data_name(name: str) -> bool:
    """Whether a file named ``name`` is a data file: ``*.parquet``, not ``_``-prefixed, not
    a temporary file (:mod:`nkdash.listing` applies the same rule)."""
    return name.endswith(".parquet") and not name.startswith("_") and not _looks_temp(name)


def month_file(table: str, path: Path, size: int, year: int, month: int) -> DataFile:
    """The :class:`DataFile` of the month file ``path`` of ``year``-``month``: its dates from
    its index (an unreadable index: no dates, spanning the whole month)."""
    try:
        dates = tuple(month_index(path))
    except LakeError:
        dates = ()
    first, last = (dates[0], dates[-1]) if dates else month_span(year, month)
    return DataFile(table, path, size, dates, first, last, compacted=True)


def _month_entries(month: Path, year: int, number: int) -> list[_Entry]:
    """The entries of one ``month=MM`` directory, each partition with its data files, as the
    month held them at one instant: listed again if the month was swapped meanwhile (a
    compacted month changes by swapping the whole month directory)."""
    valid = 1 <= number <= 12
    for _ in range(LIST_ATTEMPTS):
        try:
            before = os.stat(month)
        except OSError:
            return []
        entries = []
        for day in _entries(month):
            compacted = day.path.name == COMPACT_DIR and day.is_dir and valid
            date = None if compacted or not day.is_dir else _partition_date(month.parent.name, month.name,
                                                                             day.path.name)
            if not compacted and date is None:
                entries.append(_Entry(None, day.path, False))
                continue
            files = _scan(day.path)
            if files is not None:  # else deleted since the month was listed: gone, as after the delete
                entries.append(_Entry(date, day.path, True, (year, number) if compacted else None,
                                      tuple(f for f in files if _is_data(f))))
        if _same_dir(month, before):
            return entries
    raise _kept_changing(month)


def _odd_entry(table: str, date: dt.date | None, path: Path) -> Problem:
    if _looks_temp(path.name):
        return Problem(table, date, path, "temp", "temporary file left by a killed writer")
    return Problem(table, date, path, "stray", "unexpected entry in the partition tree")


# ---- compacted months ----------------------------------------------------------------------


def partition_expression(f: DataFile) -> pc.Expression | None:
    """What every row of a fact file satisfies, for a pyarrow dataset over the lake's files
    (with ``year, month, day`` int32 fields): a filter on ``date`` (or year/month/day) then
    skips the file unopened. A month file guarantees its date span, year, month and a NULL
    ``day`` (what hive readers see). None for dims."""
    if f.first is None:
        return None
    year, month = pa.scalar(f.first.year, pa.int32()), pa.scalar(f.first.month, pa.int32())
    terms = [pc.field("year") == year, pc.field("month") == month]
    if f.compacted:
        terms += [pc.field(DATE_COLUMN) >= pa.scalar(f.first, pa.date32()),
                  pc.field(DATE_COLUMN) <= pa.scalar(f.last, pa.date32()), pc.field("day").is_null()]
    else:
        terms += [pc.field(DATE_COLUMN) == pa.scalar(f.first, pa.date32()),
                  pc.field("day") == pa.scalar(f.first.day, pa.int32())]
    return functools.reduce(operator.and_, terms)


def month_index(path: Path) -> Mapping[dt.date, DateEntry]:
    """The footer index of a month file, in date order (cached per file version).

    Raises LakeError if the file is missing, unreadable or has no valid index."""
    try:
        st = path.stat()
    except OSError as e:
        raise LakeError(f"cannot read {path}: {e}", path) from e
    return _cached_index(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _cached_index(path: str, size: int, mtime_ns: int) -> Mapping[dt.date, DateEntry]:
    try:
        raw = json.loads((pq.read_metadata(path).metadata or {})[INDEX_KEY])
        entries = [DateEntry(dt.date.fromisoformat(day), int(rows), str(sha), int(size))
                   for day, (rows, sha, size) in raw.items()]
    except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as e:
        raise LakeError(f"{path} is not a readable month file ({type(e).__name__}: {e}); run scan",
                        Path(path)) from e
    return MappingProxyType({e.date: e for e in sorted(entries, key=lambda e: e.date)})


def read_month_date(path: Path, date: dt.date) -> pa.Table:
    """The rows of ``date`` in a month file, as written (only row groups that may hold it)."""
    expected = month_index(path).get(date)
    try:
        pf = pq.ParquetFile(path)
        column = next(i for i in range(pf.metadata.num_columns)
                      if pf.metadata.schema.column(i).path == DATE_COLUMN)
        groups = [i for i in range(pf.metadata.num_row_groups) if _may_hold(pf.metadata.row_group(i).column(column),
                                                                              date)]
        table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    except (OSError, pa.ArrowException, StopIteration) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    table = table.filter(pc.equal(table[DATE_COLUMN], pa.scalar(date, pa.date32()))).replace_schema_metadata(None)
    if expected is None or table.num_rows != expected.rows:
        raise LakeError(f"{path}: {table.num_rows} rows for {date}, its index says "
                        f"{expected.rows if expected else 'none'} (run scan)", path)
    return table


def _may_hold(column: pq.ColumnChunkMetaData, date: dt.date) -> bool:
    stats = column.statistics
    return stats is None or not stats.has_min_max or stats.min <= date <= stats.max


def write_month_file(directory: Path, sources: Sequence[_Source],
                     compression_level: int | None = None) -> tuple[Path, str, int]:
    """Write ``sources`` as ``directory/part-<sha>.parquet``: sorted by date, row groups of whole
    dates, the index in the footer; durably. Returns (path, sha256, size)."""
    sources = sorted(sources, key=lambda s: s.entry.date)
    dates = [s.entry.date for s in sources]
    if not sources or len(set(dates)) != len(dates) or len({(d.year, d.month) for d in dates}) != 1:
        raise LakeError(f"a month file needs distinct dates of one month, got {dates}", directory)
    schema = sources[0].schema.remove_metadata()
    for s in sources[1:]:
        if not s.schema.equals(schema, check_metadata=False):
            raise LakeError(f"{s.entry.date} differs in schema from {dates[0]} (migrate the month before "
                            f"compacting it):\n{_schema_diff(schema, s.schema)}", s.entry.date)
    index = {s.entry.date.isoformat(): [s.entry.rows, s.entry.checksum, s.entry.bytes] for s in sources}
    schema = schema.with_metadata({INDEX_KEY: json.dumps(index, sort_keys=True, separators=(",", ":")).encode()})
    tmp = directory / "part.tmp"
    with pq.ParquetWriter(tmp, schema, compression=COMPRESSION, compression_level=compression_level,
                          write_statistics=True, write_page_checksum=True) as writer:
        group: list[pa.Table] = []
        for s in sources:
            table = s.read()
            if table.num_rows != s.entry.rows:
                raise LakeError(f"{s.entry.date}: read {table.num_rows} rows, expected {s.entry.rows}", s.entry.date)
            if group and sum(t.num_rows for t in group) + table.num_rows > ROW_GROUP_ROWS:
                _write_group(writer, group)
            group.append(table)
            if sum(t.num_rows for t in group) >= COMPACT_GROUP_ROWS:
                _write_group(writer, group)
        _write_group(writer, group)
    digest, size = _sha256(tmp)
    path = directory / f"part-{digest[:16]}.parquet"
    os.rename(tmp, path)
    _fsync_dir(directory)
    return path, digest, size


def _write_group(writer: pq.ParquetWriter, group: list[pa.Table]) -> None:
    """Write the buffered dates as one row group (split at ROW_GROUP_ROWS), then empty it."""
    rows = [t for t in group if t.num_rows]
    if rows:
        writer.write_table(pa.concat_tables(rows).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
    group.clear()


def _day_source(path: Path, date: dt.date) -> _Source:
    try:
        schema, rows = pq.read_schema(path), pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    digest, size = _sha256(path, sync=False)
    return _Source(DateEntry(date, rows, digest, size), schema, lambda: _read(path))


def _month_source(path: Path, date: dt.date) -> _Source:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    return _Source(month_index(path)[date], schema, lambda: read_month_date(path, date))


def _days_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for n in range((last - first).days + 1):
        yield first + dt.timedelta(days=n)


def month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The first and last date of ``year``-``month``."""
    first = dt.date(year, month, 1)
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


# ---- filesystem ----------------------------------------------------------------------------


def link_tree(src: Path, dst: Path) -> int:
    """Hard-link the file or tree ``src`` at ``dst`` (lake files are never modified in place,
    so a link is a copy); copies where linking is impossible (another filesystem). Returns
    the number of files."""
    if src.is_dir() and not src.is_symlink():
        dst.mkdir()
        return sum(link_tree(entry, dst / entry.name) for entry in _listdir(src))
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
        _sha256(dst)  # fsync
    return 1


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_tree(root: Path) -> None:
    for directory, _, _ in os.walk(root):
        _fsync_dir(Path(directory))



def _listdir(directory: Path) -> list[Path]:
    return [e.path for e in _entries(directory)]


def _entries(directory: Path) -> list[_Listed]:
    """The entries of ``directory`` (none if it is missing) as of one instant: see :func:`_scan`."""
    return _scan(directory) or []


def _scan(directory: Path) -> list[_Listed] | None:
    """The entries of ``directory`` as it held them at one instant, sorted; None if missing.

    Lists through a descriptor, then keeps the listing only if ``directory`` still names the
    directory listed: otherwise a swap replaced it meanwhile, and the descriptor may have
    shown the old directory while the writer emptied it, so it lists again. (Committed
    directories never change in place, so an unchanged inode means an unchanged content.)
    """
    for _ in range(LIST_ATTEMPTS):
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            with os.scandir(fd) as it:
                found = [_listed(directory, e) for e in it]
            listed = os.fstat(fd)
        finally:
            os.close(fd)
        if _same_dir(directory, listed) and None not in found:
            return sorted(found)
    raise _kept_changing(directory)


def _listed(directory: Path, entry: os.DirEntry) -> _Listed | None:
    """``entry`` of a descriptor listing; None if it vanished meanwhile (list again)."""
    try:
        is_file = entry.is_file()
        return _Listed(directory / entry.name, entry.is_dir(), is_file, entry.stat().st_size if is_file else 0)
    except FileNotFoundError:
        return None


def _same_dir(directory: Path, listed: os.stat_result) -> bool:
    try:
        now = os.stat(directory)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (listed.st_dev, listed.st_ino)


def _kept_changing(directory: Path) -> LakeError:
    gone = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(directory))
    error = LakeError(f"{directory} was replaced {LIST_ATTEMPTS} times while it was listed: list again", directory)
    error.__cause__ = gone
    return error


def _sha256(path: Path, *, sync: bool = True) -> tuple[str, int]:
    """sha256 and size of a file; ``sync`` also flushes it to disk."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(f.fileno())
    return h.hexdigest(), size


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(directory: Path) -> None:
    """``mkdir -p`` whose new entries survive a power loss (each new dir's parent fsynced)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        _fsync_dir(d.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, touching nothing, where the kernel, filesystem or libc lacks it.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))
