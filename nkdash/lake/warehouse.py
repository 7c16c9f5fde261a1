"""DuckDB over the lake: one view per lake table, and a parameter-bound, timed ``sql``.

Each table is registered in an in-memory DuckDB as a pyarrow dataset built from the
lake's own file listing, not as a ``read_parquet()`` view. Two reasons, both checked on
DuckDB 2.0:

1. A read-only connection must not be able to write the lake. With
   ``enable_external_access = false`` DuckDB reaches only ``allowed_directories`` /
   ``allowed_paths``, and those are writable too: ``COPY ... TO '<lake>/x.parquet'``
   succeeds inside an allowed directory and ``COPY ... (USE_TMP_FILE false)`` overwrites an
   allowed file. Registered Arrow datasets need no DuckDB file access at all, so a read-only
   connection runs with external access off and its configuration locked: it reads the
   lake and can write no file anywhere.
2. Pruning on ``date``. Each fact file is registered with its partition expression
   ``year, month, day`` *and* ``date`` (the lake guarantees every row's ``date`` equals its
   partition's), so ``WHERE date = ?`` or ``BETWEEN`` skips other files without opening
   them. Filters on ``year``/``month`` prune the same way. A compacted month file is
   registered with its date span (``day`` is NULL for its rows, as for hive readers); its
   row groups hold whole dates, so parquet statistics prune inside it.

What callers should know:

- Views: fact columns as written, then ``year, month, day`` (INTEGER); dims as written. A
  table with no files has an empty view if its schema is known (``_common_metadata``); a
  table never written has no view.
- A view is a snapshot of the file list: :func:`refresh_views` picks up partitions written
  since (``sql`` refreshes on every call; unchanged tables keep their cached footers).
  File names are content-addressed, so a stale view never reads wrong bytes: at worst a
  query fails with "file not found" for a partition replaced since, until the next refresh.
- A damaged file (see ``Lake.scan``) fails only the queries that touch it.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from nkdash.errors import NKDashError
from nkdash.lake import TABLES, WHOLE, DataFile, Lake
from nkdash.lake.layout import PARTITION_COLUMNS, READ_ATTEMPTS
from nkdash.lake.months import partition_expression
from nkdash.lake.reader import swapped_out
from nkdash.meta import MetaStore
from nkdash.settings import get_settings

Params = Sequence[Any] | dict[str, Any] | None


_HARDENING = ("SET enable_external_access = false", "SET lock_configuration = true")


@dataclass
class _Views:
    """What the views of one connection were built from."""

    lake: Lake
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)


_VIEWS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, _Views] = weakref.WeakKeyDictionary()


_PER_THREAD = threading.local()


def open_warehouse(lake: Lake | Path | str | None = None, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per lake table (default lake: ``NKDASH_LAKE``).

    ``read_only=True`` (default): no statement can touch any file (COPY, ATTACH, read_csv,
    INSTALL all fail with ``duckdb.PermissionException``) and settings cannot be changed.
    """
    con = duckdb.connect(":memory:")
    _VIEWS[con] = _Views(_as_lake(lake))
    refresh_views(con)
    if read_only:
        for statement in _HARDENING:
            con.execute(statement)
    return con


def refresh_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Re-register the tables whose files changed; returns the names of the views."""
    views = _VIEWS.get(con)
    if views is None:
        raise NKDashError("refresh_views needs a connection made by nkdash.open_warehouse")
    for table in TABLES:
        files = views.lake.data_files(table)
        paths = tuple(f.path for f in files)
        if table in views.files and views.files[table] == paths:
            continue
        schema = views.lake.schema(table)
        if schema is None:
            if views.files.pop(table, None) is not None:
                con.unregister(table)
            continue
        con.register(table, _dataset(table, files, schema))
        views.files[table] = paths
    return sorted(views.files)


def sql(
    statement: str,
    params: Params = None,
    *,
    lake: Lake | Path | str | None = None,
    name: str | None = None,
    meta: MetaStore | None = None,
) -> pd.DataFrame:
    """Run ``statement`` on a read-only connection with ``params`` bound (``?`` or ``$name``).

    Values are always bound, never formatted into the SQL. With ``name`` and ``meta`` the
    wall time (execution and fetch) is recorded via ``meta.record_query``. Each thread
    keeps one connection per lake; views are refreshed before every query.
    """
    con = _thread_connection(_as_lake(lake))
    for attempt in range(READ_ATTEMPTS):  # a file swapped out by a writer meanwhile: list again
        started = time.perf_counter()
        try:
            refresh_views(con)
            frame = con.execute(statement, params).df()
            break
        except (duckdb.Error, NKDashError) as exc:
            if not swapped_out(exc) or attempt + 1 == READ_ATTEMPTS:
                raise
        time.sleep(0.001 * 2**attempt)
    seconds = time.perf_counter() - started
    if name and meta is not None:
        meta.record_query(name, seconds, len(frame), None if params is None else json.dumps(params, default=str))
    return frame


def _thread_connection(lake: Lake) -> duckdb.DuckDBPyConnection:
    if not hasattr(_PER_THREAD, "connections"):
        _PER_THREAD.connections = {}
    connections = _PER_THREAD.connections
    if lake.root not in connections:
        connections[lake.root] = open_warehouse(lake, read_only=True)
    con: duckdb.DuckDBPyConnection = connections[lake.root]
    return con


def _as_lake(lake: Lake | Path | str | None) -> Lake:
    if isinstance(lake, Lake):
        return lake
    return Lake(get_settings().lake if lake is None else lake, read_only=True)


def _dataset(table: str, files: list[DataFile], schema: pa.Schema) -> ds.Dataset:
    """A dataset over exactly ``files``; facts carry their partition values as expressions."""
    paths = [str(f.path) for f in files]
    if table in WHOLE:
        partitions = None
    else:
        schema = pa.schema([*schema, *(pa.field(c, pa.int32()) for c in PARTITION_COLUMNS)])
        partitions = [partition_expression(f) for f in files]
    return ds.FileSystemDataset.from_paths(
        paths, schema=schema, format=ds.ParquetFileFormat(), filesystem=pafs.LocalFileSystem(), partitions=partitions
    )
