"""Lake tables held as native DuckDB tables for the dashboards, loaded per file on demand.

A :class:`Memory` is one in-memory DuckDB shared by the threads of a dashboard process
(each thread uses its own ``cursor()``). The small tables the dashboards read most
(``agg_sales_daily``, ``agg_orders_daily``, the dimensions) and a bounded window of the
bigger ones (``agg_profit_daily``, a slim ``fact_sales``) are copied into native tables
``mem_<table>``, each row tagged with the id of the lake file it came from (``_file``).

:meth:`Memory.hold` makes a table's rows equal to the listed files for the dates a
query reads: files not loaded yet are read with pyarrow and inserted; loaded files that
are no longer listed for those dates (replaced: lake files are content-addressed, so a
changed partition has a new file name; deleted; quarantined) lose their rows, in the same
transaction, so a concurrent reader sees the old rows or the new ones, never both. The
SQL must filter the held fact tables on their ``date`` itself (rows of other dates may be
loaded). Files a running query holds are pinned: no other query evicts them meanwhile.

The unit loaded is a file, except for a compacted month file (one file, a month of dates)
of a table held for a bounded window: it is loaded per date (a *slice*, read with a date
filter that skips the other dates' row groups), so a 30-day window over two month files
holds 30 dates, not 60, and evicts per date. A slice is keyed ``(path, date)``, a whole
file ``(path, None)``; either is stale once its path is no longer listed.

Files are read as listed; one a writer swapped out since its listing fails the read as
``swapped_out`` and the query lists again (readers safe during rewrites).

DuckDB never opens a file here (``enable_external_access = false``, configuration
locked): pyarrow reads the files and DuckDB receives Arrow tables.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from nkdash.errors import LakeError
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.lake import DATE_COLUMN, WHOLE, DataFile
from nkdash.lake.reader import LOCAL_FS

SCHEMAS: dict[str, pa.Schema] = {t.name: t.schema for spec in REGISTRY.values() for t in spec.tables}


READ_ONLY: dict[str, str | bool | int | float | list[str]] = {
    "threads": 1,
    "enable_external_access": False,
    "lock_configuration": True,
}


FILE_COLUMN = "_file"


ORDER_KEY = "order_ref"  # held as a BIGINT: one number per (file, order_ref), grouping on it is cheaper


ORDER_BITS = 32  # order number = load-unique id of its file (or slice) << 32 | rank of its ref


@dataclass(frozen=True)
class Held:
    """How a lake table is held: its ``columns`` (None: all) and at most ``max_dates``
    dates in memory (None: no limit); a query reading more dates reads the files."""

    columns: tuple[str, ...] | None = None
    max_dates: int | None = None
    numbered: bool = False  # ``order_ref`` held as a number (see _shape): only what is grouped on


HELD: dict[str, Held] = {
    "agg_sales_daily": Held(),
    "agg_orders_daily": Held(),
    # per product: profit_by product, slow movers, stock-outs (none reads channel or lines)
    "agg_profit_daily": Held(
        ("date", "store_id", "category_id", "product_id", "qty", "revenue", "cost", "margin"), max_dates=200
    ),
    "fact_sales": Held(
        ("date", "channel", "order_ref", "store_id", "category_id", "revenue", "local_hour", "discount"),
        max_dates=100,
        numbered=True,
    ),
    "fact_stock_quants": Held(("date", "product_id", "location_id", "warehouse_id", "quantity"), max_dates=8),
    "fact_inventory_moves": Held(
        ("date", "kind", "qty", "product_id", "location_id", "location_dest_id", "picking_type_id"),
        max_dates=150,
    ),
    "fact_purchases": Held(max_dates=200),
    **{dim: Held() for dim in WHOLE},
}


Key = tuple[Path, dt.date | None]  # (file, date of a month file's slice | None: the whole file)


def held_name(table: str) -> str:
    return f"mem_{table}"


@dataclass(frozen=True)
class Rollup:
    """A held table also held summed over some of its keys, as ``mem_<name>`` (same
    ``_file`` ids, loaded and evicted in the same transaction as its table): a query that
    needs fewer keys reads fewer rows (sales with no category: ~20 rows a day instead of
    ~500; profit per product in every store: ~1/3 of the rows)."""

    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    flags: tuple[tuple[str, str], ...] = ()  # (column, condition on a row): whether any summed row met it

    def source(self, table: str) -> str:
        """What stands for this rollup when its table is not held: the table's rows, with
        each flag computed per row (a query sums the rows itself and ORs the flags)."""
        if not self.flags:
            return table
        return f"(SELECT *, {', '.join(f'({cond}) AS {col}' for col, cond in self.flags)} FROM {table})"


ROLLUPS: dict[str, Rollup] = {
    "agg_sales_daily": Rollup(
        "agg_sales_daily_by_store", ("date", "channel", "store_id"), ("qty", "revenue", "cost", "margin", "lines")
    ),
    # ``sold``: a store sold the product that day (a row with qty > 0; sums over stores may net to 0)
    "agg_profit_daily": Rollup(
        "agg_profit_daily_by_product",
        ("date", "category_id", "product_id"),
        ("qty", "revenue", "cost", "margin"),
        (("sold", "qty > 0"),),
    ),
}


ROLLUP_OF = {r.name: table for table, r in ROLLUPS.items()}


def _rollup_sql(rollup: Rollup, source: str) -> str:
    sums = ", ".join(f"sum({c})::{'BIGINT' if c == 'lines' else 'DOUBLE'} AS {c}" for c in rollup.sums)
    flags = "".join(f", bool_or({cond}) AS {col}" for col, cond in rollup.flags)
    return f"SELECT {', '.join(rollup.keys)}, {sums}{flags}, {FILE_COLUMN} FROM {source} GROUP BY ALL"


@dataclass
class _File:
    id: int
    dates: int
    first: dt.date | None
    last: dt.date | None
    used: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _Unit:
    """What is loaded as one: a whole file, or one date of a month file (``date``)."""

    file: DataFile
    date: dt.date | None = None

    @property
    def key(self) -> Key:
        return (self.file.path, self.date)

    @property
    def dates(self) -> int:
        return 1 if self.date is not None else _dates(self.file)

    @property
    def span(self) -> tuple[dt.date | None, dt.date | None]:
        return (self.date, self.date) if self.date is not None else (self.file.first, self.file.last)


class Memory:
    """The held tables of one dashboard process (thread-safe)."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:", config=READ_ONLY)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loaded: dict[str, dict[Key, _File]] = {t: {} for t in HELD}
        self._pins: Counter[tuple[str, Key]] = Counter()
        self._synced: dict[str, tuple] = {}  # the last listing held, while nothing else changed
        self._local = threading.local()  # per thread: what its running queries pinned
        self._created: set[str] = set()
        self._epochs: Counter[str] = Counter()  # per table: rows a running query held were replaced
        self._active: dict[str, dict[int, tuple[dt.date | None, dt.date | None, frozenset[Key]]]] = {
            t: {} for t in HELD
        }  # running holds: (start, end, keys)
        self._tokens = itertools.count(1)

    def _create(self, table: str) -> None:
        """Create ``mem_<table>`` (empty) on first use: a process pays only for what it reads."""
        if table in self._created:
            return
        cur = self.con.cursor()
        try:
            cur.register("_empty", _shape(table, HELD[table], SCHEMAS[table].empty_table()))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {held_name(table)} AS SELECT * FROM _empty")
            if table in ROLLUPS:
                rollup = ROLLUPS[table]
                cur.execute(f"CREATE TABLE IF NOT EXISTS {held_name(rollup.name)} AS {_rollup_sql(rollup, '_empty')}")
            cur.unregister("_empty")
        finally:
            cur.close()
        self._created.add(table)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def loaded(self, table: str) -> dict[Path, int]:
        """The files whose rows (all, or some dates) ``table`` holds: ``{path: id}``."""
        with self._lock:
            return {path: f.id for (path, _date), f in self._loaded[table].items()}

    def slices(self, table: str) -> dict[Path, set]:
        """The dates held per month file loaded by date (whole files not included)."""
        with self._lock:
            out: dict[Path, set] = {}
            for path, date in self._loaded[table]:
                if date is not None:
                    out.setdefault(path, set()).add(date)
            return out

    def rows(self, table: str) -> int:
        with self._lock:
            self._create(table)
        with self.con.cursor() as cursor:
            row = cursor.execute(f"SELECT count(*) FROM {held_name(table)}").fetchone()
            assert row is not None  # count(*) always returns one row
            return int(row[0])

    def hold(
        self, table: str, files: Sequence[DataFile], start: dt.date | None = None, end: dt.date | None = None
    ) -> bool:
        """Make ``mem_<table>`` hold exactly ``files`` for the dates ``start..end`` (None:
        every date) and pin them until :meth:`release`; False (nothing done) if the table is
        not held or ``files`` hold more dates than it may keep."""
        held = HELD.get(table)
        if held is None:
            return False
        units = _units(table, held, files, start, end)
        dates = sum(u.dates for u in units)
        if held.max_dates is not None and dates > held.max_dates:
            return False
        with self._lock:
            self._create(table)
            if self._synced.get(table) == (files, start, end):  # nothing changed since
                self._pin(table, held, units, start, end)
                return True
            loaded = self._loaded[table]
            listed = {f.path for f in files}
            wanted = {u.key for u in units}
            stale = [k for k, f in loaded.items() if k[0] not in listed and _overlaps(table, f, start, end)]
            new = [u for u in units if u.key not in loaded]
            if held.max_dates is not None:
                stale += self._evictable(table, wanted, stale, sum(u.dates for u in new), held.max_dates)
            if any(self._pins[table, k] for k in stale) or self._intrudes(table, new):
                self._epochs[table] += 1  # a running query's rows go or join: it must run again
            ids = [next(self._ids) for _ in new]
            data = self._read(table, held, new, ids) if new else None
            self._apply(table, [loaded[k].id for k in stale], data)
            for k in stale:
                del loaded[k]
            now = time.monotonic()
            for u, i in zip(new, ids):
                loaded[u.key] = _File(i, u.dates, *u.span, now)
            self._synced[table] = (files, start, end)
            self._pin(table, held, units, start, end)
        return True

    def epoch(self, table: str) -> int:
        """Changes when rows that a running query holds (pinned) are replaced, or rows of its
        dates that its listing did not have are added: a newer listing than that query's was
        held meanwhile. The query's answer may mix both: run it again."""
        return self._epochs[table]

    def replaced(self, table: str) -> bool:
        """Whether :meth:`epoch` moved since this thread's last :meth:`hold` of ``table``
        (read when it pinned, under the lock: no change between the two is missed)."""
        stack = self._held_by_thread().get(table, [])
        return bool(stack) and self._epochs[table] != stack[-1][2]

    def _intrudes(self, table: str, new: Sequence[_Unit]) -> bool:
        """Whether rows of ``new`` fall in the dates of a running hold that did not list them."""
        for start, end, keys in self._active[table].values():
            for u in new:
                first, last = u.span
                if u.key not in keys and (
                    start is None or end is None or first is None or last is None or (first <= end and last >= start)
                ):
                    return True
        return False

    def _pin(
        self,
        table: str,
        held: Held,
        units: Sequence[_Unit],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> None:
        """Mark ``units`` used now and in use until :meth:`release`: not evicted, and their
        replacement (or rows added to their dates) is noted (:meth:`epoch`)."""
        now, loaded = time.monotonic(), self._loaded[table]
        for u in units:
            loaded[u.key].used = now
            self._pins[table, u.key] += 1
        token = next(self._tokens)
        self._active[table][token] = (start, end, frozenset(u.key for u in units))
        self._held_by_thread().setdefault(table, []).append((units, token, self._epochs[table]))

    def release(self, table: str) -> None:
        """Unpin what this thread's last :meth:`hold` of ``table`` pinned."""
        stack = self._held_by_thread().get(table)
        if not stack:
            return
        units, token, _epoch = stack.pop()
        with self._lock:
            self._active[table].pop(token, None)
            for u in units:
                self._pins[table, u.key] -= 1
                if self._pins[table, u.key] <= 0:
                    del self._pins[table, u.key]

    def _held_by_thread(self) -> dict[str, list[tuple[Sequence[_Unit], int, int]]]:
        held: dict[str, list[tuple[Sequence[_Unit], int, int]]] = self._local.__dict__.setdefault("held", {})
        return held

    def _evictable(self, table: str, wanted: set[Key], stale: list[Key], adding: int, limit: int) -> list[Key]:
        """Least recently used, unpinned units to drop so that ``adding`` more dates fit."""
        loaded, gone = self._loaded[table], set(stale)
        kept = sum(f.dates for k, f in loaded.items() if k not in gone)
        out = []
        for key, f in sorted(loaded.items(), key=lambda item: item[1].used):
            if kept + adding <= limit:
                break
            if key in wanted or key in gone or self._pins[table, key]:
                continue
            out.append(key)
            kept -= f.dates
        return out

    def _read(self, table: str, held: Held, units: Sequence[_Unit], ids: Sequence[int]) -> pa.Table:
        """The rows of ``units`` (pyarrow, threaded, arrow's own local filesystem), shaped as
        ``mem_<table>``: whole files in one dataset, each month file's slices with a date
        filter (only the row groups of those dates are read)."""
        schema = SCHEMAS[table]
        columns = list(held.columns or schema.names)
        shape = pa.schema([*(_read_field(schema.field(c)) for c in columns), pa.field(FILE_COLUMN, pa.int64())])
        whole = [(u, i) for u, i in zip(units, ids) if u.date is None]
        sliced: dict[Path, list[tuple[dt.date, int]]] = {}
        for u, i in zip(units, ids):
            if u.date is not None:
                sliced.setdefault(u.file.path, []).append((u.date, i))
        parts = []
        try:
            if whole:
                dataset = ds.FileSystemDataset.from_paths(
                    [str(u.file.path) for u, _ in whole],
                    schema=shape,
                    format=_format(shape),
                    filesystem=LOCAL_FS,
                    partitions=[pc.field(FILE_COLUMN) == pa.scalar(i, pa.int64()) for _, i in whole],
                )
                parts.append(dataset.to_table())
            for path, wanted in sliced.items():
                parts.append(_slices(path, shape, wanted))
        except (OSError, pa.ArrowException) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LakeError(
                f"cannot read {table}: {detail} (a damaged partition? the Recovery page finds and repairs them)",
                units[0].file.path,
            ) from exc
        data = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return _shape(table, held, data)

    def _apply(self, table: str, stale: list[int], data: pa.Table | None) -> None:
        if not stale and data is None:
            return
        self._synced.pop(table, None)
        cur = self.con.cursor()
        name = held_name(table)
        cur.execute("BEGIN TRANSACTION")
        try:
            rollup = ROLLUPS.get(table)
            targets = [name] + ([held_name(rollup.name)] if rollup else [])
            if stale:
                for target in targets:
                    cur.execute(
                        f"DELETE FROM {target} WHERE {FILE_COLUMN} IN (SELECT unnest($ids::BIGINT[]))", {"ids": stale}
                    )
            if data is not None:
                cur.register("_new", data)
                cur.execute(f"INSERT INTO {name} SELECT * FROM _new")
                if rollup:
                    cur.execute(f"INSERT INTO {held_name(rollup.name)} {_rollup_sql(rollup, '_new')}")
                cur.unregister("_new")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()


def _read_field(f: pa.Field) -> pa.Field:
    """How a held column is read: strings as dictionaries (parquet's own dictionary pages,
    no string materialised per row; DuckDB takes them as they are)."""
    return f.with_type(pa.dictionary(pa.int32(), f.type)) if pa.types.is_string(f.type) else f


def _format(shape: pa.Schema) -> ds.ParquetFileFormat:
    strings = [f.name for f in shape if pa.types.is_dictionary(f.type)]
    return ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=strings))


def _shape(table: str, held: Held, data: pa.Table) -> pa.Table:
    """``data`` as ``mem_<table>`` holds it: the held columns and ``_file``; strings as they
    are (dictionaries once read), ``order_ref`` as a number: ``_file << 32 | rank`` of the ref
    among the distinct refs of this read. ``_file`` ids are never reused, so the number is
    unique per (file or slice, ref) across loads; the same ref in two files (never in a sound
    lake) stays two orders."""
    columns = list(held.columns or SCHEMAS[table].names)
    if FILE_COLUMN not in data.column_names:
        data = data.append_column(FILE_COLUMN, pa.nulls(len(data), pa.int64()))
    out = data.select([*columns, FILE_COLUMN])
    if held.numbered:
        refs = out.column(ORDER_KEY)
        if not pa.types.is_dictionary(refs.type):
            refs = pc.dictionary_encode(refs)
        if not _one_chunk_per_file(out.column(FILE_COLUMN)):  # ranks must agree across a file's chunks
            refs = refs.unify_dictionaries()
        ranks = pa.chunked_array([pc.cast(c.indices, pa.int64()) for c in refs.chunks], pa.int64())
        numbers = pc.add(pc.shift_left(out.column(FILE_COLUMN), pa.scalar(ORDER_BITS, pa.int64())), ranks)
        out = out.set_column(out.schema.get_field_index(ORDER_KEY), ORDER_KEY, numbers)
    return out


def _one_chunk_per_file(ids: pa.ChunkedArray) -> bool:
    """Whether each chunk holds the rows of one file (or slice) and no other chunk does."""
    seen = set()
    for chunk in ids.chunks:
        if not len(chunk):
            continue
        bounds = pc.min_max(chunk)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is None or low != high or low in seen or chunk.null_count:
            return False
        seen.add(low)
    return True


def _units(
    table: str, held: Held, files: Sequence[DataFile], start: dt.date | None, end: dt.date | None
) -> list[_Unit]:
    """What to load for ``files`` and the dates ``start..end``: whole files, except month
    files of a table held for a bounded window: their dates in range, one by one."""
    out = []
    for f in files:
        if held.max_dates is not None and f.compacted and f.dates:
            out += [_Unit(f, d) for d in f.dates if (start is None or start <= d) and (end is None or d <= end)]
        else:
            out.append(_Unit(f))
    return out


def _slices(path: Path, shape: pa.Schema, wanted: list[tuple[dt.date, int]]) -> pa.Table:
    """The rows of the dates ``wanted`` (date, id) of the month file ``path``, each row with
    the id of its date's slice (row groups of other dates skipped by their statistics)."""
    dates = pa.array([d for d, _ in wanted], pa.date32())
    dataset = ds.FileSystemDataset.from_paths(
        [str(path)], schema=pa.schema(list(shape)[:-1]), format=_format(shape), filesystem=LOCAL_FS
    )
    data = dataset.to_table(filter=pc.field(DATE_COLUMN).isin(dates))
    ids = pc.take(pa.array([i for _, i in wanted], pa.int64()), pc.index_in(data.column(DATE_COLUMN), dates))
    return data.append_column(FILE_COLUMN, ids)


def _dates(f: DataFile) -> int:
    return len(f.dates) or (0 if f.first is None or f.last is None else (f.last - f.first).days + 1)


def _overlaps(table: str, f: _File, start: dt.date | None, end: dt.date | None) -> bool:
    if table in WHOLE or start is None or end is None or f.first is None or f.last is None:
        return True
    return f.first <= end and f.last >= start
