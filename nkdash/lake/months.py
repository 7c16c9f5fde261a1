"""Compacted months: one file per month and table, its footer index of dates, reading one date.

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
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nkdash.errors import LakeError
from nkdash.lake.files import fsync_dir, sha256_of
from nkdash.lake.layout import (
    COMPACT_GROUP_ROWS,
    COMPRESSION,
    DATE_COLUMN,
    INDEX_KEY,
    ROW_GROUP_ROWS,
    DataFile,
    DateEntry,
    month_span,
    schema_diff,
    widened,
    widens,
)


class Source(NamedTuple):
    """A date's rows to put in a month file, and how to read them."""

    entry: DateEntry
    schema: pa.Schema
    read: Callable[[], pa.Table]


def read_file(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    try:
        return pq.ParquetFile(path).read(columns=list(columns) if columns is not None else None)
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e


def month_file(table: str, path: Path, size: int, year: int, month: int) -> DataFile:
    """The :class:`DataFile` of the month file ``path`` of ``year``-``month``: its dates from
    its index (an unreadable index: no dates, spanning the whole month)."""
    try:
        dates = tuple(month_index(path))
    except LakeError:
        dates = ()
    first, last = (dates[0], dates[-1]) if dates else month_span(year, month)
    return DataFile(table, path, size, dates, first, last, compacted=True)


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
        terms += [
            pc.field(DATE_COLUMN) >= pa.scalar(f.first, pa.date32()),
            pc.field(DATE_COLUMN) <= pa.scalar(f.last, pa.date32()),
            pc.field("day").is_null(),
        ]
    else:
        terms += [
            pc.field(DATE_COLUMN) == pa.scalar(f.first, pa.date32()),
            pc.field("day") == pa.scalar(f.first.day, pa.int32()),
        ]
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
        entries = [
            DateEntry(dt.date.fromisoformat(day), int(rows), str(sha), int(size))
            for day, (rows, sha, size) in raw.items()
        ]
    except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as e:
        raise LakeError(f"{path} is not a readable month file ({type(e).__name__}: {e}); run scan", Path(path)) from e
    return MappingProxyType({e.date: e for e in sorted(entries, key=lambda e: e.date)})


def read_month_date(path: Path, date: dt.date) -> pa.Table:
    """The rows of ``date`` in a month file, as written (only row groups that may hold it)."""
    expected = month_index(path).get(date)
    try:
        pf = pq.ParquetFile(path)
        column = next(i for i in range(pf.metadata.num_columns) if pf.metadata.schema.column(i).path == DATE_COLUMN)
        groups = [
            i for i in range(pf.metadata.num_row_groups) if _may_hold(pf.metadata.row_group(i).column(column), date)
        ]
        table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    except (OSError, pa.ArrowException, StopIteration) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    table = table.filter(pc.equal(table[DATE_COLUMN], pa.scalar(date, pa.date32()))).replace_schema_metadata(None)
    if expected is None or table.num_rows != expected.rows:
        raise LakeError(
            f"{path}: {table.num_rows} rows for {date}, its index says "
            f"{expected.rows if expected else 'none'} (run scan)",
            path,
        )
    return table


def _may_hold(column: pq.ColumnChunkMetaData, date: dt.date) -> bool:
    stats = column.statistics
    return stats is None or not stats.has_min_max or stats.min <= date <= stats.max


def write_month_file(
    directory: Path, sources: Sequence[Source], compression_level: int | None = None
) -> tuple[Path, str, int]:
    """Write ``sources`` as ``directory/part-<sha>.parquet``: sorted by date, row groups of whole
    dates, the index in the footer; durably. Returns (path, sha256, size)."""
    sources = sorted(sources, key=lambda s: s.entry.date)
    dates = [s.entry.date for s in sources]
    if not sources or len(set(dates)) != len(dates) or len({(d.year, d.month) for d in dates}) != 1:
        raise LakeError(f"a month file needs distinct dates of one month, got {dates}", directory)
    schema = max((s.schema.remove_metadata() for s in sources), key=len)  # dates of older schemas are widened
    for s in sources:
        if not (s.schema.equals(schema, check_metadata=False) or widens(s.schema, schema)):
            raise LakeError(
                f"{s.entry.date} differs in schema from {dates[0]} (migrate the month before "
                f"compacting it):\n{schema_diff(schema, s.schema)}",
                s.entry.date,
            )
    index = {s.entry.date.isoformat(): [s.entry.rows, s.entry.checksum, s.entry.bytes] for s in sources}
    schema = schema.with_metadata({INDEX_KEY: json.dumps(index, sort_keys=True, separators=(",", ":")).encode()})
    tmp = directory / "part.tmp"
    with pq.ParquetWriter(
        tmp,
        schema,
        compression=COMPRESSION,
        compression_level=compression_level,
        write_statistics=True,
        write_page_checksum=True,
    ) as writer:
        group: list[pa.Table] = []
        for s in sources:
            table = widened(s.read(), schema)
            if table.num_rows != s.entry.rows:
                raise LakeError(f"{s.entry.date}: read {table.num_rows} rows, expected {s.entry.rows}", s.entry.date)
            if group and sum(t.num_rows for t in group) + table.num_rows > ROW_GROUP_ROWS:
                _write_group(writer, group)
            group.append(table)
            if sum(t.num_rows for t in group) >= COMPACT_GROUP_ROWS:
                _write_group(writer, group)
        _write_group(writer, group)
    digest, size = sha256_of(tmp)
    path = directory / f"part-{digest[:16]}.parquet"
    os.rename(tmp, path)
    fsync_dir(directory)
    return path, digest, size


def _write_group(writer: pq.ParquetWriter, group: list[pa.Table]) -> None:
    """Write the buffered dates as one row group (split at ROW_GROUP_ROWS), then empty it."""
    rows = [t for t in group if t.num_rows]
    if rows:
        writer.write_table(pa.concat_tables(rows).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
    group.clear()


def day_source(path: Path, date: dt.date) -> Source:
    try:
        schema, rows = pq.read_schema(path), pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    digest, size = sha256_of(path, sync=False)
    return Source(DateEntry(date, rows, digest, size), schema, lambda: read_file(path))


def month_source(path: Path, date: dt.date) -> Source:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise LakeError(f"cannot read {path}: {e} (run scan, then quarantine it)", path) from e
    return Source(month_index(path)[date], schema, lambda: read_month_date(path, date))
