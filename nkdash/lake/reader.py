"""Reading the lake: paths, listings, partitions, schemas and file info.

Readers during swaps
--------------------
A committed directory (a partition, a month, a dim's table dir) never changes in place: a
write swaps a whole new one in and then empties the old one. So

- a listing (:func:`list_entries`) reads a directory through a descriptor and keeps what it
  read only if the path still names that same directory afterwards (same inode); else the
  swap happened meanwhile (the descriptor may show the old directory half emptied) and it
  lists again. A month is also re-listed if it was swapped while its days were listed. A
  listing is therefore always the old or the new complete file set, never a mix, never
  empty because of a swap;
- a file can still be swapped out between its listing and its opening. Names are
  content-addressed, so a listed name that still opens is the very bytes listed; one that
  no longer does fails the read with "file not found" (:func:`swapped_out`) and the reader
  lists again: the dashboards' queries run again (``READ_ATTEMPTS``), and
  :meth:`Lake.read_partition` opens the file right after listing it, and lists again in the
  rare case it lost that race. Readers use arrow's own local filesystem (:data:`LOCAL_FS`),
  never a Python filesystem handler: DuckDB's pyarrow scan builds its reader with the GIL
  held while arrow's I/O threads would need the GIL to call such a handler (a deadlock
  seen under load; ``tests/test_dataset_reads.py``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import errno
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from nkdash.errors import LakeError
from nkdash.lake.files import (
    is_data,
    kept_changing,
    list_data_files,
    list_entries,
    list_once,
    makedirs,
    same_dir,
    sha256_of,
)
from nkdash.lake.layout import (
    COMPACT_DIR,
    DATE_COLUMN,
    LIST_ATTEMPTS,
    MONTH,
    READ_ATTEMPTS,
    SCHEMA_FILE,
    TABLES,
    WHOLE,
    YEAR,
    DataFile,
    Entry,
    MonthLayout,
    PartitionInfo,
    check_date,
    check_partitioned,
    check_table,
    check_whole,
    month_span,
    partition_date,
)
from nkdash.lake.months import month_file, month_index, read_file, read_month_date

LOCAL_FS = pafs.LocalFileSystem()  # what readers of listed files open them with (see above)


class LakeReader:
    """The lake's layout and its readers: paths, listings, partitions, schemas, file info."""

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
                makedirs(d)
            if self.star.stat().st_dev != self.staging_dir.stat().st_dev:
                raise LakeError("star-schema and _staging must be on one filesystem (atomic renames)", self.star)

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r}, read_only={self.read_only})"

    def table_dir(self, table: str) -> Path:
        return self.star / check_table(table)

    def partition_dir(self, table: str, date: dt.date) -> Path:
        check_partitioned(table)
        d = check_date(date)
        return self.month_dir(table, d.year, d.month) / f"day={d.day:02d}"

    def month_dir(self, table: str, year: int, month: int) -> Path:
        """``<table>/year=YYYY/month=MM``: the unit a compacted month is swapped as."""
        check_partitioned(table)
        return self.table_dir(table) / f"year={year:04d}" / f"month={month:02d}"

    def _final_dir(self, table: str, date: dt.date | None) -> Path:
        """The directory a write replaces: the day dir of a fact, the table dir of a dim."""
        if date is None:
            check_whole(table)
            return self.table_dir(table)
        return self.partition_dir(table, date)

    def _key_dir(self, table: str, key: str) -> Path:
        """The directory a staging key stands for: ``whole``, ``YYYY-MM-DD`` or ``YYYY-MM``."""
        if key == "whole":
            return self._final_dir(table, None)
        if len(key) == 7:
            return self.month_dir(table, int(key[:4]), int(key[5:]))
        return self.partition_dir(table, dt.date.fromisoformat(key))

    def partitions(self, table: str) -> list[dt.date]:
        """Dates that have data on disk, ascending: daily partitions (directory listing) and
        the dates in compacted month files (their footer index, cached per file)."""
        check_partitioned(table)
        return sorted({d for f in self.data_files(table) for d in f.dates})

    def has_partition(self, table: str, date: dt.date) -> bool:
        return bool(list_data_files(self.partition_dir(table, date))) or self._compacted_file(table, date) is not None

    def partition_files(self, table: str | None = None) -> Iterator[tuple[str, dt.date | None, Path, int]]:
        """``(table, date, data file, size in bytes)`` for every data file; date None for dims
        and compacted month files (see :meth:`data_files` for the dates those hold)."""
        for f in self.data_files(table):
            yield f.table, None if f.compacted or not f.dates else f.dates[0], f.path, f.bytes

    def data_files(
        self, table: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[DataFile]:
        """Every data file (of ``table``, or all tables) that may hold dates in ``start..end``
        (dims always), in table and date order. Only month files' footers are read (cached)."""
        lo, hi = start or dt.date.min, end or dt.date.max
        files = []
        for name in TABLES if table is None else (check_table(table),):
            for entry in self._walk(name, lo, hi):
                if not entry.partition or (entry.date is not None and not lo <= entry.date <= hi):
                    continue
                for listed in entry.files:
                    files.append(self._data_file_of(name, entry, listed.path, listed.size))
        return [f for f in files if f.first is None or f.last is None or (f.first <= hi and f.last >= lo)]

    def _data_file_of(self, table: str, entry: Entry, path: Path, size: int) -> DataFile:
        if entry.month is None:
            return DataFile(table, path, size, () if entry.date is None else (entry.date,), entry.date, entry.date)
        return month_file(table, path, size, *entry.month)

    def _compact_file(self, table: str, year: int, month: int) -> Path | None:
        """The month file of a compacted month, if there is exactly one (else None)."""
        files = list_data_files(self.month_dir(table, year, month) / COMPACT_DIR)
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
            yield from list_data_files(self.table_dir(table))
            return
        yield self.table_dir(table) / SCHEMA_FILE  # facts: recorded schema first, then newest files
        for f in reversed(self.data_files(table)):
            yield f.path

    def read_partition(self, table: str, date: dt.date, columns: Sequence[str] | None = None) -> pa.Table:
        """The partition's rows (``columns``: only those). A read that loses a race with a writer
        (the file it listed is swapped out before it is opened) is done again: it returns the
        new version."""
        for attempt in range(READ_ATTEMPTS):
            try:
                rows = self._read_partition(table, date, columns)
                return rows if columns is None else rows.select(list(columns))
            except LakeError as exc:
                swapped = swapped_out(exc) or (exc.__cause__ is None and self.has_partition(table, date))
                if not swapped or attempt + 1 == READ_ATTEMPTS:
                    raise
                time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def _read_partition(self, table: str, date: dt.date, columns: Sequence[str] | None = None) -> pa.Table:
        day_dir = self.partition_dir(table, date)
        if not list_data_files(day_dir):
            month_file = self._compacted_file(table, date)
            if month_file is not None:
                return read_month_date(month_file, date)
        return read_file(self._data_file(day_dir), columns)

    def locate(self, table: str, column: str, ids: Iterable[int]) -> set[dt.date]:
        """The dates whose data of ``table`` holds one of ``ids`` in ``column`` (where the lake
        has a source record now). Only the row groups whose statistics may hold one are read,
        so new ids (beyond every loaded one) cost a footer read per file."""
        wanted = sorted(set(ids))
        for attempt in range(READ_ATTEMPTS):
            try:
                if not wanted:
                    return set()
                return {d for f in self.data_files(table) for d in _dates_holding(f.path, column, wanted)}
            except (OSError, pa.ArrowException) as exc:
                if not swapped_out(exc) or attempt + 1 == READ_ATTEMPTS:
                    raise LakeError(f"cannot read {table}: {exc} (run scan)", self.table_dir(table)) from exc
                time.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    def read_whole(self, table: str) -> pa.Table:
        check_whole(table)
        return read_file(self._data_file(self.table_dir(table)))

    def info(self, table: str, date: dt.date | None = None) -> PartitionInfo:
        """Rows, size and sha256 of what is on disk now (hashes the file: use to verify).

        A date in a compacted month reports the month file as ``path`` and, from its index,
        the rows, size and sha256 of the date's canonical daily file (as when it was written).
        """
        final = self._final_dir(table, date)
        if date is not None and not list_data_files(final):
            month_file = self._compacted_file(table, date)
            if month_file is not None:
                e = month_index(month_file)[date]
                return PartitionInfo(table, date, month_file, e.rows, e.bytes, e.checksum)
        path = self._data_file(final)
        digest, size = sha256_of(path)
        return PartitionInfo(table, date, path, pq.read_metadata(path).num_rows, size, digest)

    def _data_file(self, directory: Path) -> Path:
        files = list_data_files(directory)
        if len(files) != 1:
            problem = "does not exist" if not files else f"has {len(files)} data files (run scan)"
            raise LakeError(f"partition {directory.relative_to(self.star)} {problem}", directory)
        return files[0]

    def months(self, table: str) -> list[MonthLayout]:
        """How each month of ``table`` is stored: daily partitions and/or a month file."""
        check_partitioned(table)
        months: dict[tuple[int, int], dict] = {}
        for f in self.data_files(table):
            assert f.first is not None  # a partitioned table's files are dated
            key = (f.first.year, f.first.month)
            m = months.setdefault(key, {"daily": 0, "compacted": False, "bytes": 0, "dates": set()})
            m["compacted"] |= f.compacted
            m["daily"] += not f.compacted
            m["bytes"] += f.bytes
            m["dates"].update(f.dates)
        return [
            MonthLayout(table, y, mo, m["daily"], m["compacted"], len(m["dates"]), m["bytes"])
            for (y, mo), m in sorted(months.items())
        ]

    def _walk(self, table: str, start: dt.date = dt.date.min, end: dt.date = dt.date.max) -> Iterator[Entry]:
        """Every partition directory and every odd entry of a table's tree, in date order.

        A dim yields its table directory as its one partition. Odd entries are anything in a
        fact's tree that is not a valid ``year=/month=/day=`` directory or ``_common_metadata``.
        ``start``/``end`` skip the years and months outside them (and their odd entries).
        """
        table_dir = self.table_dir(table)
        if table in WHOLE:
            files = list_once(table_dir)
            if files is not None:
                yield Entry(None, table_dir, True, files=tuple(f for f in files if is_data(f)))
            return
        for year in list_entries(table_dir):
            if year.path.name == SCHEMA_FILE:
                continue
            if not (year.is_dir and YEAR.fullmatch(year.path.name)):
                yield Entry(None, year.path, False)
                continue
            if not start.year <= int(year.path.name[5:]) <= end.year:
                continue
            for month in list_entries(year.path):
                if not (month.is_dir and MONTH.fullmatch(month.path.name)):
                    yield Entry(None, month.path, False)
                    continue
                y, m = int(year.path.name[5:]), int(month.path.name[6:])
                if 1 <= m <= 12 and not (start <= month_span(y, m)[1] and month_span(y, m)[0] <= end):
                    continue
                yield from _month_entries(month.path, y, m)

    def _check_writable(self) -> None:
        if self.read_only:
            raise LakeError("the lake is open read-only", self.root)


def swapped_out(exc: BaseException) -> bool:
    """Whether a read failed because a file it had listed is gone: a writer swapped the
    partition meanwhile (the reader should list and read again)."""
    return (
        isinstance(exc, FileNotFoundError)
        or isinstance(exc.__cause__, FileNotFoundError)
        or os.strerror(errno.ENOENT) in f"{exc} {exc.__cause__ or ''}"
    )


def _dates_holding(path: Path, column: str, wanted: list[int]) -> set[dt.date]:
    """The dates of the rows of ``path`` whose ``column`` is in ``wanted`` (sorted)."""
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    index = next((i for i in range(meta.num_columns) if meta.schema.column(i).path == column), None)
    if index is None:
        return set()
    groups = [g for g in range(meta.num_row_groups) if _may_hold_one(meta.row_group(g).column(index), wanted)]
    if not groups:
        return set()
    rows = pf.read_row_groups(groups, columns=[DATE_COLUMN, column])
    found = rows.filter(pc.is_in(rows[column], value_set=pa.array(wanted, pa.int64())))
    return set(found[DATE_COLUMN].to_pylist())


def _may_hold_one(chunk: pq.ColumnChunkMetaData, wanted: list[int]) -> bool:
    stats = chunk.statistics
    if stats is None or not stats.has_min_max:
        return True
    at = bisect.bisect_left(wanted, stats.min)
    return at < len(wanted) and wanted[at] <= stats.max


def _month_entries(month: Path, year: int, number: int) -> list[Entry]:
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
        for day in list_entries(month):
            compacted = day.path.name == COMPACT_DIR and day.is_dir and valid
            date = None if compacted or not day.is_dir else partition_date(month.parent.name, month.name, day.path.name)
            if not compacted and date is None:
                entries.append(Entry(None, day.path, False))
                continue
            files = list_once(day.path)
            if files is not None:  # else deleted since the month was listed: gone, as after the delete
                entries.append(
                    Entry(
                        date,
                        day.path,
                        True,
                        (year, number) if compacted else None,
                        tuple(f for f in files if is_data(f)),
                    )
                )
        if same_dir(month, before):
            return entries
    raise kept_changing(month)
