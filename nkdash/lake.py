"""The lake: the only code that writes under ``$NKDASH_LAKE``.

Layout (plain hive, readable by DuckDB, pyarrow, polars, Spark or Trino without nkdash)::

    <root>/star-schema/<fact>/_common_metadata                    schema of the table (no rows)
    <root>/star-schema/<fact>/year=YYYY/month=MM/day=DD/part-<h>.parquet
    <root>/star-schema/<dim>/part-<h>.parquet                     whole-table dimensions
    <root>/_staging/<table>/                                      private: writes in flight, lock
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

Platform: Linux/Unix (``fcntl``, ``renameat2``); the lake root must be one filesystem.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import fcntl
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import LakeError

PartitionedTable = Literal[
    "fact_pos_sales", "fact_invoice_sales", "fact_purchases", "fact_inventory_moves",
    "fact_stock_quants", "fact_sales", "agg_profit_daily",
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

ProblemKind = Literal["unreadable", "checksum", "schema", "empty", "stray", "temp"]

_YEAR, _MONTH, _DAY = re.compile(r"year=(\d{4})"), re.compile(r"month=(\d{2})"), re.compile(r"day=(\d{2})")
_DATA_FILE = re.compile(r"part-([0-9a-f]{16})\.parquet")
_STAGED = re.compile(r"(?P<key>\d{4}-\d{2}-\d{2}|whole|schema)\.(?P<kind>new|old|del|tmp)-\d{20}-\d+-[0-9a-f]{8}")


@dataclass(frozen=True)
class PartitionInfo:
    """One written partition. ``path`` is its data file; ``checksum`` the file's sha256."""

    table: str
    date: dt.date | None
    path: Path
    rows: int
    bytes: int
    checksum: str


class _Entry(NamedTuple):
    date: dt.date | None
    path: Path
    partition: bool  # a valid partition directory (or a dim's table dir), else an odd entry


@dataclass(frozen=True)
class Problem:
    """Something wrong in the lake. ``path`` is the offending file or directory.

    kinds: ``unreadable`` (truncated, zeroed, not parquet), ``checksum`` (bytes differ from
    what was written), ``schema`` (differs from the table's), ``empty`` (partition directory
    without a data file), ``stray`` (an unexpected entry that readers would pick up or trip
    over), ``temp`` (leftover of a killed write).
    """

    table: str
    date: dt.date | None
    path: Path
    kind: ProblemKind
    detail: str


class Lake:
    """A lake rooted at ``root``; ``read_only=True`` refuses every write with LakeError."""

    def __init__(self, root: Path | str, read_only: bool = False):
        self.root = Path(root).absolute()
        self.read_only = read_only
        self.star = self.root / "star-schema"
        self.meta_dir = self.root / "_meta"
        self.staging_dir = self.root / "_staging"
        self.quarantine_dir = self.root / "_quarantine"
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
        return self.table_dir(table) / f"year={d.year:04d}" / f"month={d.month:02d}" / f"day={d.day:02d}"

    def _final_dir(self, table: str, date: dt.date | None) -> Path:
        """The directory a write replaces: the day dir of a fact, the table dir of a dim."""
        if date is None:
            _check_whole(table)
            return self.table_dir(table)
        return self.partition_dir(table, date)

    # ---- reading -----------------------------------------------------------------------

    def partitions(self, table: str) -> list[dt.date]:
        """Dates that have a data file on disk, ascending (directory listing only)."""
        _check_partitioned(table)
        return [e.date for e in self._walk(table) if e.partition and _data_files(e.path)]

    def has_partition(self, table: str, date: dt.date) -> bool:
        return bool(_data_files(self.partition_dir(table, date)))

    def partition_files(self, table: str | None = None) -> Iterator[tuple[str, dt.date | None, Path, int]]:
        """``(table, date, data file, size in bytes)`` for every data file; date None for dims."""
        for name in (TABLES if table is None else (_check_table(table),)):
            for entry in self._walk(name):
                if entry.partition:
                    for f in _data_files(entry.path):
                        yield name, entry.date, f, f.stat().st_size

    def schema(self, table: str) -> pa.Schema | None:
        """The table's schema as stored in parquet, or None if the table was never written.

        Facts: ``_common_metadata`` (kept after every partition is gone), else the newest
        readable partition. Dims: their data file.
        """
        for f in self._schema_sources(table):
            try:
                return pq.read_schema(f)
            except (OSError, pa.ArrowException):  # missing or unreadable: try the next
                continue
        return None

    def _schema_sources(self, table: str) -> Iterator[Path]:
        if table in WHOLE:
            yield from _data_files(self.table_dir(table))
            return
        yield self.table_dir(table) / SCHEMA_FILE  # facts: recorded schema first, then newest files
        for date in reversed(self.partitions(table)):
            yield from _data_files(self.partition_dir(table, date))

    def read_partition(self, table: str, date: dt.date) -> pa.Table:
        return _read(self._data_file(self.partition_dir(table, date)))

    def read_whole(self, table: str) -> pa.Table:
        _check_whole(table)
        return _read(self._data_file(self.table_dir(table)))

    def info(self, table: str, date: dt.date | None = None) -> PartitionInfo:
        """Rows, size and sha256 of what is on disk now (hashes the file: use to verify)."""
        path = self._data_file(self._final_dir(table, date))
        digest, size = _sha256(path)
        return PartitionInfo(table, date, path, pq.read_metadata(path).num_rows, size, digest)

    def _data_file(self, directory: Path) -> Path:
        files = _data_files(directory)
        if len(files) != 1:
            problem = "does not exist" if not files else f"has {len(files)} data files (run scan)"
            raise LakeError(f"partition {directory.relative_to(self.star)} {problem}", directory)
        return files[0]

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
        """Remove a partition atomically (no-op if absent); the next refresh rebuilds it."""
        final = self.partition_dir(table, date)
        with self._locked(table):
            self._recover(table)
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
                _makedirs(final.parent)
                self._swap_in(table, key, new, final)
            except BaseException:
                self._recover(table)  # back to the last committed state, staging emptied
                raise
        return PartitionInfo(table, date, final / path.name, data.num_rows, size, digest)

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
                final = self._final_dir(table, None if m["key"] == "whole" else dt.date.fromisoformat(m["key"]))
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
        the fact partitions examined (dims and stray entries are always examined).
        """
        wanted = None if dates is None else set(dates)
        problems: list[Problem] = []
        for table in (TABLES if tables is None else [_check_table(t) for t in tables]):
            problems += self._scan_staging(table)
            problems += [p for p in self._layout_problems(table) if _selected(p.date, wanted)]
            reference = self.schema(table) if table in PARTITIONED else None
            for _, date, f, _ in self.partition_files(table):
                problem = _check_file(f, reference, deep) if _selected(date, wanted) else None
                if problem:
                    problems.append(Problem(table, date, f, *problem))
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
        for entry in self._walk(table):
            if not entry.partition:
                yield _odd_entry(table, None, entry.path)
                continue
            files = _data_files(entry.path)
            if not files:
                yield Problem(table, entry.date, entry.path, "empty", "no data file")
            elif len(files) > 1:
                yield Problem(table, entry.date, entry.path, "stray",
                              f"{len(files)} data files: readers would union them")
            for other in _listdir(entry.path):
                if other not in files and not other.name.startswith("_"):
                    yield _odd_entry(table, entry.date, other)

    def quarantine(self, problem_or_path: Problem | Path) -> Path:
        """Move the partition (or dim table, or stray entry) at fault to ``_quarantine``.

        A partition is moved whole, so it is then missing and the next refresh rebuilds
        it. Returns the new location.
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
        if len(parts) >= 4 and _partition_date(*parts[1:4]):
            return table, table_dir.joinpath(*parts[1:4])
        return table, path

    def clean_temp(self, older_than_s: float = 3600) -> list[Path]:
        """Remove leftovers of killed writes; returns what was removed or restored.

        ``_staging`` entries are handled by recovery at once (the table lock proves their
        writer dead; tables being written right now are skipped). Temp-looking entries
        under ``star-schema`` (dot files, ``*.tmp``, DuckDB's ``tmp_*``) come from other
        tools, so only those older than ``older_than_s`` are removed.
        """
        self._check_writable()
        removed: list[Path] = []
        cutoff = time.time() - older_than_s
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

    def _walk(self, table: str) -> Iterator[_Entry]:
        """Every partition directory and every odd entry of a table's tree, in date order.

        A dim yields its table directory as its one partition. Odd entries are anything in a
        fact's tree that is not a valid ``year=/month=/day=`` directory or ``_common_metadata``.
        """
        table_dir = self.table_dir(table)
        if table in WHOLE:
            if table_dir.is_dir():
                yield _Entry(None, table_dir, True)
            return
        for year in _listdir(table_dir):
            if year.name == SCHEMA_FILE:
                continue
            if not (year.is_dir() and _YEAR.fullmatch(year.name)):
                yield _Entry(None, year, False)
                continue
            for month in _listdir(year):
                if not (month.is_dir() and _MONTH.fullmatch(month.name)):
                    yield _Entry(None, month, False)
                    continue
                for day in _listdir(month):
                    date = _partition_date(year.name, month.name, day.name) if day.is_dir() else None
                    yield _Entry(date, day, date is not None)

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


def _is_data_file(path: Path) -> bool:
    name = path.name
    return name.endswith(".parquet") and not name.startswith("_") and not _looks_temp(name) and path.is_file()


def _looks_temp(name: str) -> bool:
    """Hidden files, ``*.tmp`` and DuckDB's ``tmp_*``: what killed writers leave behind."""
    return name.startswith((".", "tmp_")) or name.endswith(".tmp")


def _data_files(directory: Path) -> list[Path]:
    return sorted(p for p in _listdir(directory) if _is_data_file(p))


def _odd_entry(table: str, date: dt.date | None, path: Path) -> Problem:
    if _looks_temp(path.name):
        return Problem(table, date, path, "temp", "temporary file left by a killed writer")
    return Problem(table, date, path, "stray", "unexpected entry in the partition tree")


# ---- filesystem ----------------------------------------------------------------------------


def _listdir(directory: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


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
