"""Compacted months: one file per month and table, its footer index of dates, reading one date."""

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
from nkdash.lake.files import _fsync_dir, _sha256
from nkdash.lake.layout import (
    COMPACT_GROUP_ROWS,
    COMPRESSION,
    DATE_COLUMN,
    INDEX_KEY,
    ROW_GROUP_ROWS,
    DataFile,
    DateEntry,
    _schema_diff,
    month_span,
)


class _Source(NamedTuple):
    """A date's rows to put in a month file, and how to read them."""

    entry: DateEntry
    schema: pa.Schema
    read: Callable[[], pa.Table]


def _read(path: Path) -> pa.Table:
    try:
        return pq.ParquetFile(path).read()
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
    directory: Path, sources: Sequence[_Source], compression_level: int | None = None
) -> tuple[Path, str, int]:
    """Write ``sources`` as ``directory/part-<sha>.parquet``: sorted by date, row groups of whole
    dates, the index in the footer; durably. Returns (path, sha256, size)."""
    sources = sorted(sources, key=lambda s: s.entry.date)
    dates = [s.entry.date for s in sources]
    if not sources or len(set(dates)) != len(dates) or len({(d.year, d.month) for d in dates}) != 1:
        raise LakeError(f"a month file needs distinct dates of one month, got {dates}", directory)
    schema = sources[0].schema.remove_metadata()
    for s in sources[1:]:
        if not s.schema.equals(schema, check_metadata=False):
            raise LakeError(
                f"{s.entry.date} differs in schema from {dates[0]} (migrate the month before "
                f"compacting it):\n{_schema_diff(schema, s.schema)}",
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
