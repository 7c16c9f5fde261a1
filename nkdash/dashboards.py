"""The dashboards' queries: one function per query, each returning a pandas DataFrame.

Every query

- reads the smallest aggregate that answers it: ``agg_sales_daily`` (sales, margin,
  units per date, channel, store, category) and ``agg_orders_daily`` (orders, refunds,
  baskets per date, channel, store); ``agg_profit_daily`` per product; the fact tables
  only for what no aggregate holds (orders of a category selection from ``fact_sales``,
  stock from ``fact_stock_quants``, moves, purchases);
- reads the aggregates and dimensions from memory: :class:`~nkdash.memtables.Memory`
  holds them as native DuckDB tables, loaded per lake file for the dates queries ask for
  and kept equal to the listed files (a replaced, deleted or quarantined partition's rows
  go); the other tables are registered as pyarrow datasets over the listed files;
- filters every fact on ``date BETWEEN $start AND $end`` with bound dates, and sees only
  the files of the dates it may read (each registered with its date, so a narrower filter
  skips files unopened): partitions outside the range are never opened;
- binds every value (dates, store and category id lists, granularity); identifiers in
  the SQL come from this module only, never from a caller;
- is cached: a small LRU per :class:`Dashboard` keyed by (query, arguments, lake state),
  where the lake state is the listing of the files the query can read (the tables' files
  for the dates in range, and the dimensions) — the very files its SQL is given. Lake
  files are content-addressed, so any reload, deletion or quarantine of a partition in
  range changes the key, and nothing else does. The listing is cached per directory
  mtime (:class:`~nkdash.listing.Listing`); a miss that another thread is computing is
  waited for, not computed twice;
- is timed: each execution (a cache miss) goes to ``MetaStore.record_query`` for
  ``nkdash monitor``.

Filters: a :class:`Filters` holds the date range, store ids and category ids. Store ids
are ``dim_store.id`` (POS configs); invoice sales have no store, so a store filter leaves
them out. A category id selects the category and all its subcategories.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from nkdash import calendar as cal
from nkdash.datasets.inventory import MOVE_KINDS
from nkdash.datasets.registry import REGISTRY
from nkdash.errors import InputError, LakeError
from nkdash.lake import WHOLE, DataFile, Lake, Problem
from nkdash.lake.layout import PARTITION_COLUMNS, READ_ATTEMPTS
from nkdash.lake.listing import Listing
from nkdash.lake.months import partition_expression
from nkdash.lake.pinned import LAKE_FS, pinned
from nkdash.lake.reader import swapped_out
from nkdash.memtables import ROLLUP_OF, ROLLUPS, Memory, held_name
from nkdash.meta import FILE_NAME, MetaStore
from nkdash.settings import get_settings

log = logging.getLogger(__name__)

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = get_args(Grain)
ProfitBy = Literal["store", "category", "department", "product"]
StockBy = Literal["location", "category", "department", "product"]
PurchasesBy = Literal["vendor", "category", "department", "product"]

DEFAULT_DAYS = 30
SLOW_MOVER_LOOKBACK_DAYS = 90    # how far back slow movers look for their last sale
RECEIPT_WINDOW_DAYS = 14         # purchases: receipts searched this far around the range (store filter)
CACHE_SIZE = 256
CHANNEL_LABELS = {"pos": "Point of sale", "invoice": "Invoice"}
NO_STORE = "Invoices (no store)"

SCHEMAS: dict[str, pa.Schema] = {t.name: t.schema for spec in REGISTRY.values() for t in spec.tables}
# The dashboards' DuckDB reads registered Arrow datasets only: no file access at all (no
# COPY, ATTACH, read_csv, INSTALL), settings locked; one thread: on small per-request scans
# it is the fastest, and float sums come out the same on every run.
READ_ONLY = {"threads": 1, "enable_external_access": False, "lock_configuration": True}


# ----------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """What a dashboard shows: ``start``..``end`` (inclusive), stores, categories."""

    start: dt.date
    end: dt.date
    stores: tuple[int, ...] = ()
    categories: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise InputError(f"{name} must be a date, got {value!r}", value)
        if self.end < self.start:
            raise InputError(f"the period ends ({self.end}) before it starts ({self.start})", (self.start, self.end))
        object.__setattr__(self, "stores", _ids("store", self.stores))
        object.__setattr__(self, "categories", _ids("category", self.categories))

    @classmethod
    def of(cls, period: Sequence[dt.date], stores: Iterable[int] = (), categories: Iterable[int] = ()) -> Filters:
        """From widget values: a (start, end) pair and lists of ids."""
        start, end = period
        return cls(start, end, tuple(stores), tuple(categories))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one, same stores and categories."""
        end = self.start - dt.timedelta(days=1)
        return dataclasses.replace(self, start=end - dt.timedelta(days=self.days - 1), end=end)

    def with_stores(self, stores: Iterable[int]) -> Filters:
        return dataclasses.replace(self, stores=tuple(stores))

    def with_categories(self, categories: Iterable[int]) -> Filters:
        return dataclasses.replace(self, categories=tuple(categories))

    def describe(self) -> str:
        """One line for humans, e.g. ``2024-03-01 → 2024-03-30 (30 days), 2 stores``."""
        parts = [f"{self.start} → {self.end} ({self.days} day{'s' if self.days > 1 else ''})"]
        parts.append(f"{len(self.stores)} store(s)" if self.stores else "all stores")
        parts.append(f"{len(self.categories)} categor{'ies' if len(self.categories) > 1 else 'y'}"
                     if self.categories else "all categories")
        return ", ".join(parts)

    def log_params(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "stores": list(self.stores), "categories": list(self.categories)}


def _ids(what: str, values: Iterable[Any]) -> tuple[int, ...]:
    """Sorted, distinct, whole-number ids; anything else is refused (never reaches SQL)."""
    if isinstance(values, (str, bytes)):
        raise InputError(f"{what} ids must be a list of numbers, got {values!r}", values)
    out = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{what} id must be a whole number, got {value!r}", value)
        out.add(int(value))
    return tuple(sorted(out))


def _grain(grain: str) -> Grain:
    if grain not in GRAINS:
        raise InputError(f"granularity must be one of {', '.join(GRAINS)}, got {grain!r}", grain)
    return grain  # type: ignore[return-value]


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}", value)
    return value


# ----------------------------------------------------------------------------- the dashboard
Condition = Literal["stores", "categories", "no_categories"]
CONDITIONS: dict[str, Callable[[Filters], bool]] = {
    "stores": lambda f: bool(f.stores), "categories": lambda f: bool(f.categories),
    "no_categories": lambda f: not f.categories,
}


@dataclass(frozen=True)
class Reads:
    """What a query reads: tables, and how far before/after the filter range (days);
    ``only_if``: tables read only when the filters ask for them (e.g. orders per category
    from ``fact_sales`` only with a category filter); ``snapshot``: tables read at one date
    only, the latest of the filter range that has data (stock levels: :func:`stock_date`)."""

    tables: tuple[str, ...]
    before: int = 0
    after: int = 0
    only_if: tuple[tuple[str, Condition], ...] = ()
    snapshot: tuple[str, ...] = ()

    def wanted(self, f: Filters | None) -> tuple[str, ...]:
        """The tables read with the filters ``f`` (all of them without filters)."""
        skip = {t for t, cond in self.only_if if f is not None and not CONDITIONS[cond](f)}
        return tuple(t for t in self.tables if t not in skip)


class Replaced(LakeError):
    """Rows a query held were replaced by another thread's newer listing while it ran."""


class Dashboard:
    """Read-only access to one lake for the dashboards: cached, timed queries.

    One instance can serve many threads (marimo sessions): they share one in-memory DuckDB
    (:class:`~nkdash.memtables.Memory`: the small aggregates and dimensions held as native
    tables), each thread with its own cursor; the result cache is shared, and a cache miss
    being computed is computed once: other threads asking for it wait for its result.
    """

    def __init__(self, lake: Lake | Path | str | None = None, *, meta: MetaStore | None | Literal["auto"] = "auto",
                 cache_size: int = CACHE_SIZE):
        """``meta``: where timings go and freshness comes from; "auto" = the lake's metadata
        store once the ETL has created it (dashboards never create it); None = nowhere."""
        self.lake = Lake(_root(lake), read_only=True)
        self._meta = meta
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.damage: dict[Filters, list[Problem]] = {}   # what has_* found damaged, for no_data
        self._footers: dict[tuple[Path, int, int], str] = {}
        self._running: dict[tuple, Future] = {}          # cache misses being computed, by key
        self._memory: Memory | None = None
        self._lookups: dict[tuple, tuple[tuple[DataFile, ...], Any]] = {}   # see lookup()
        self.listing = Listing(self.lake)

    def __repr__(self) -> str:
        return f"Dashboard({str(self.lake.root)!r})"

    # ---- metadata store (timings, freshness) -------------------------------------------
    @property
    def meta(self) -> MetaStore | None:
        if self._meta == "auto" and (self.lake.meta_dir / FILE_NAME).is_file():
            self._meta = MetaStore.for_lake(self.lake)
        return None if self._meta == "auto" else self._meta

    # ---- cache ---------------------------------------------------------------------------
    def run(self, name: str, reads: Reads, args: tuple, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``compute()`` once per (query, args, lake state), cached as it returns it (the
        :func:`query` wrapper has rounded it); a copy of the cached frame.

        While ``compute`` runs, its SQL sees exactly the files listed for the key. If a
        writer swaps one of them out meanwhile (the query then fails: file not found), the
        files are listed again and the query runs again.
        """
        for attempt in range(READ_ATTEMPTS):
            try:
                return self._run(name, reads, args, compute)
            except LakeError as exc:
                if not (swapped_out(exc) or isinstance(exc, Replaced)) or attempt + 1 == READ_ATTEMPTS:
                    raise
            time.sleep(0.001 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _run(self, name: str, reads: Reads, args: tuple, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        filters = _filters_in(args)
        files = self.files(reads, filters)
        key = (name, args, Snapshot(files))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                self.hits += 1
                return self._cache[key].copy()
            running = self._running.get(key)
            if running is None:
                self.misses += 1
                mine = self._running[key] = Future()
        if running is not None:           # another thread computes it: wait for its answer
            return running.result().copy()
        try:
            frame = self._compute(reads, filters, files, compute)
        except BaseException as exc:
            with self._lock:
                del self._running[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._running[key]
            if self.cache_size > 0:
                self._cache[key] = frame
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        mine.set_result(frame)
        return frame.copy()

    def _compute(self, reads: Reads, filters: Filters | None, files: dict[str, tuple[DataFile, ...]],
                 compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``compute()`` with its SQL over ``files``: the held tables loaded (and their rows
        pinned in memory), the others' files pinned open (read as listed, whatever a writer
        swaps meanwhile)."""
        held = []
        try:
            for table, listed in files.items():
                if self.memory.hold(table, listed, *_table_span(reads, filters, table, listed)):
                    held.append(table)
            stack = self._local.__dict__.setdefault("files", [])
            stack.append((files, frozenset(held), filters))
            try:
                with pinned(f.path for table, listed in files.items() if table not in held for f in listed):
                    frame = compute()
            finally:
                stack.pop()
            if any(self.memory.replaced(table) for table in held):
                raise Replaced("a newer listing replaced rows of this query's files while it ran: run again",
                               self.lake.root)
            return frame
        finally:
            for table in held:
                self.memory.release(table)

    @property
    def memory(self) -> Memory:
        with self._lock:
            if self._memory is None:
                self._memory = Memory()
            return self._memory

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def unreadable(self, path: Path) -> str:
        """Why the parquet footer of ``path`` cannot be read ('' if it can). Checked once per
        file version (lake files are never rewritten in place: damage changes size or mtime)."""
        try:
            st = path.stat()
        except OSError:
            return ""          # replaced since it was listed: the next listing has its successor
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._footers:
            try:
                pq.read_metadata(path)
                self._footers[key] = ""
            except (OSError, pa.ArrowException) as exc:
                self._footers[key] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return self._footers[key]

    def files(self, reads: Reads, filters: Filters | None) -> dict[str, tuple[DataFile, ...]]:
        """Every data file ``reads`` can touch, per table: those that may hold its dates in
        range (daily partitions or compacted months), or the whole dim.

        This listing is the cache key's lake state (file names are content-addressed) and
        what the query's SQL sees, so the two always agree. A month file may hold dates
        outside the range: every query filters on ``date`` itself.
        """
        out = {}
        span = _span(reads, filters)
        for table in reads.wanted(filters):
            if table in WHOLE:
                out[table] = self.listing.data_files(table)
            elif table in reads.snapshot and filters is not None:
                out[table] = self.snapshot_files(table, filters.start, filters.end)
            else:
                out[table] = self.listing.data_files(table, *span)
        return out

    def snapshot_files(self, table: str, start: dt.date, end: dt.date) -> tuple[DataFile, ...]:
        """The files holding the latest date of ``start..end`` that ``table`` has data for
        (inside a query of that snapshot: the very files it listed, and holds)."""
        running = (self._local.__dict__.get("files") or [({}, frozenset(), None)])[-1]
        inside = table in running[0] and running[2] is not None and (running[2].start, running[2].end) == (start, end)
        listed = running[0][table] if inside else self.listing.data_files(table, start, end)
        day = _last_date(listed, start, end)
        return tuple(f for f in listed if day in f.dates) if day is not None else ()

    # ---- running SQL ---------------------------------------------------------------------
    def sql(self, name: str, sql: str, params: dict[str, Any], log_params: dict[str, Any] | None = None
            ) -> pd.DataFrame:
        """Run ``sql`` with ``params`` bound (only those it names), timed and recorded."""
        return self._execute(name, sql, params, log_params, duckdb.DuckDBPyConnection.df, len)

    def arrays(self, name: str, sql: str, params: dict[str, Any], log_params: dict[str, Any] | None = None
               ) -> dict[str, np.ndarray]:
        """:meth:`sql`'s columns as numpy arrays (NULLs masked), no frame built: for a query
        that computes on its result and builds its frame once (each frame costs ~1 ms)."""
        return self._execute(name, sql, params, log_params, duckdb.DuckDBPyConnection.fetchnumpy,
                             lambda columns: len(next(iter(columns.values()), ())))

    def _execute(self, name: str, sql: str, params: dict[str, Any], log_params: dict[str, Any] | None,
                 fetch: Callable[[duckdb.DuckDBPyConnection], Any], rows: Callable[[Any], int]) -> Any:
        started = time.perf_counter()
        con, held = self._connection()
        sql, names = _rewrite(sql, held)
        bound = {k: v for k, v in params.items() if k in names}
        try:
            out = fetch(con.execute(sql, bound))
        except duckdb.Error as exc:
            raise LakeError(f"dashboard query {name} failed: {str(exc).splitlines()[0]} (a damaged partition? "
                            "the Recovery page finds and repairs them)", self.lake.root) from exc
        seconds = time.perf_counter() - started
        self._record(name, seconds, rows(out), log_params if log_params is not None else bound)
        return out

    def _connection(self) -> tuple[duckdb.DuckDBPyConnection, frozenset[str]]:
        """This thread's cursor of the shared read-only DuckDB, and the tables the running
        query reads from memory; each other table it declared is registered over exactly
        its listed files (re-registered only when they differ: it costs ms)."""
        local = self._local
        if getattr(local, "con", None) is None:
            local.con, local.registered = self.memory.cursor(), {}
            for table in SCHEMAS:
                local.con.register(table, _dataset(table, ()))
                local.registered[table] = ()
        listing, held, _filters = (local.__dict__.get("files") or [({}, frozenset(), None)])[-1]
        for table, files in listing.items():
            if table not in held and local.registered.get(table) != files:
                local.con.register(table, _dataset(table, files))
                local.registered[table] = files
        return local.con, held

    def _record(self, name: str, seconds: float, rows: int, params: dict[str, Any]) -> None:
        meta = self.meta
        if meta is None:
            return
        try:
            meta.record_query(f"dashboards.{name}", seconds, rows, json.dumps(params, default=str, sort_keys=True))
        except Exception:   # monitoring must never break a dashboard
            log.warning("could not record the timing of %s", name, exc_info=True)

    # ---- binding ---------------------------------------------------------------------------
    def bind(self, f: Filters, **extra: Any) -> dict[str, Any]:
        """The parameters every query may use: dates, store ids, categories with descendants."""
        return {"start": f.start, "end": f.end, "stores": list(f.stores),
                "categories": self.descendants(f.categories), **extra}

    def lookup(self, table: str, build: Callable[[Dashboard], Any]) -> Any:
        """``build(self)``, computed once per version of the dimension ``table``'s file (a
        lookup the queries share: category children, labels by id). Not a copy: do not
        change it."""
        listed = self.listing.data_files(table)
        key = (table, build)
        known = self._lookups.get(key)
        if known is not None and known[0] == listed:
            return known[1]
        value = build(self)
        self._lookups[key] = (listed, value)
        return value

    def _children(self) -> dict[int, list[int]]:
        """Each category's children."""
        return self.lookup("dim_category", _category_children)

    def descendants(self, categories: Sequence[int]) -> list[int]:
        """``categories`` and every category below them."""
        if not categories:
            return []
        children = self._children()
        found, todo = set(), list(categories)
        while todo:
            cid = todo.pop()
            if cid not in found:
                found.add(cid)
                todo.extend(children.get(cid, ()))
        return sorted(found)


@functools.lru_cache(maxsize=512)
def _rewrite(sql: str, held: frozenset[str]) -> tuple[str, frozenset[str]]:
    """``sql`` reading the memory tables: a held table's name -> its memory table; a rollup's
    -> its memory table if its table is held, else its table (same columns, summed by the SQL;
    flags computed per row); and the names of the parameters it uses. Cached: the dashboards
    run a few dozen distinct statements."""
    names = [*held, *ROLLUP_OF]
    sql = re.sub(rf"\b({'|'.join(names)})\b", lambda m: held_name(m[1]) if m[1] in held or ROLLUP_OF.get(
        m[1]) in held else ROLLUPS[ROLLUP_OF[m[1]]].source(ROLLUP_OF[m[1]]), sql)
    return sql, frozenset(re.findall(r"\$(\w+)", sql))


_SHARED: dict[Path, Dashboard] = {}
_SHARED_LOCK = threading.Lock()


def open_dashboard(lake: Lake | Path | str | None = None) -> Dashboard:
    """The process-wide :class:`Dashboard` of ``lake`` (default ``NKDASH_LAKE``), read-only."""
    root = _root(lake)
    with _SHARED_LOCK:
        if root not in _SHARED:
            _SHARED[root] = Dashboard(root)
        return _SHARED[root]


def _root(lake: Lake | Path | str | None) -> Path:
    if isinstance(lake, Lake):
        return lake.root
    return Path(lake if lake is not None else get_settings().lake).absolute()


def query(*tables: str, before: int = 0, after: int = 0, only_if: dict[str, Condition] | None = None,
          snapshot: tuple[str, ...] = (), name: str | None = None, rounds: bool = False):
    """Declare a dashboard query reading ``tables`` (those in ``only_if`` only when the
    filters meet the condition; those in ``snapshot`` at one date, see :class:`Reads`):
    cached per lake state, its SQL timed, its float columns rounded by :func:`tidy`
    (``rounds``: the query rounds them itself, with :func:`rounded`). ``name``: the
    query's name in the cache (default: the function's)."""
    reads = Reads(tables, before, after, tuple((only_if or {}).items()), snapshot)

    def wrap(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        @functools.wraps(fn)
        def run(db: Dashboard, *args: Any, **kwargs: Any) -> pd.DataFrame:
            key = (*args, *sorted(kwargs.items()))
            finish = _as_is if rounds else tidy
            return db.run(name or fn.__name__, reads, key, lambda: finish(fn(db, *args, **kwargs)))

        run.reads = reads  # type: ignore[attr-defined]
        return run

    return wrap


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


RATIOS = {"margin_pct", "share", "margin_share", "received_pct", "invoiced_pct", "daily_units"}
QUANTITIES = {"units", "qty", "ordered_qty", "received_qty", "invoiced_qty", "on_hand", "units_sold", "to_receive",
              "to_invoice", "lines", "orders", "refunds", "products", "moves", "moves_in", "moves_out"}


def digits(column: str) -> int:
    """Decimals a float column is shown with: ratios 6, quantities 3, money 2 (cents)."""
    return 6 if column in RATIOS else 3 if column in QUANTITIES else 2


def rounded(column: str, values: np.ndarray) -> np.ndarray:
    """Float ``values`` of ``column`` rounded to its :func:`digits` (-0.0 made 0.0)."""
    return np.round(values, digits(column)) + 0.0


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Round float columns: ratios to 6 decimals, quantities to 3, money to cents.

    Float sums depend on the order DuckDB's threads add them up; rounding makes every
    run show the same numbers (and turns -0.0 into 0.0).
    """
    floats = {i for i, dtype in enumerate(frame.dtypes) if dtype.kind == "f"}
    if not frame.columns.is_unique:
        for i in floats:
            frame.isetitem(i, rounded(str(frame.columns[i]), frame.iloc[:, i].to_numpy()))
        return frame
    # a new frame: cheaper than setting columns in place
    return pd.DataFrame({column: rounded(str(column), frame[column].to_numpy()) if i in floats else frame[column]
                         for i, column in enumerate(frame.columns)}, index=frame.index)


class Snapshot:
    """A listing as a cache key: equal when the files are (exact), its hash computed once."""

    __slots__ = ("files", "_hash")

    def __init__(self, files: dict[str, tuple[DataFile, ...]]):
        self.files = tuple(files.items())
        self._hash = hash(self.files)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self._hash == other._hash and self.files == other.files


def _filters_in(args: tuple) -> Filters | None:
    return next((a for a in args if isinstance(a, Filters)), None)


def _last_date(files: Iterable[DataFile], start: dt.date, end: dt.date) -> dt.date | None:
    return max((d for f in files for d in f.dates if start <= d <= end), default=None)


def _table_span(reads: Reads, filters: Filters | None, table: str, files: Sequence[DataFile]
                ) -> tuple[dt.date | None, dt.date | None]:
    """The dates of ``table`` a query reads: all (a dimension, no filters), its snapshot
    date, or the filter range widened by ``reads``."""
    if table in WHOLE or filters is None:
        return None, None
    if table in reads.snapshot:
        day = _last_date(files, filters.start, filters.end)
        return (day, day) if day is not None else (filters.start, filters.start)
    return _span(reads, filters)


def _span(reads: Reads, filters: Filters | None) -> tuple[dt.date | None, dt.date | None]:
    """The dates ``reads`` reads for ``filters`` (None, None: all)."""
    if filters is None:
        return None, None
    return filters.start - dt.timedelta(days=reads.before), filters.end + dt.timedelta(days=reads.after)


def _dataset(table: str, files: Sequence[DataFile]) -> ds.Dataset:
    """A pyarrow dataset over exactly ``files``; each fact file carries its date span (and
    year/month/day) as a partition expression, so a date filter skips it unopened."""
    schema = SCHEMAS[table]
    partitions = None
    if table not in WHOLE:
        schema = pa.schema([*schema, *(pa.field(c, pa.int32()) for c in PARTITION_COLUMNS)])
        partitions = [partition_expression(f) for f in files]
    return ds.FileSystemDataset.from_paths([str(f.path) for f in files], schema=schema,
                                           format=ds.ParquetFileFormat(), filesystem=LAKE_FS,
                                           partitions=partitions)


# ----------------------------------------------------------------------------- SQL pieces
# Column expressions and filters, written here only. ``{a}`` is a table alias with its dot.
def _range(a: str = "") -> str:
    return f"{a}date BETWEEN $start AND $end"


# A filter the Filters do not ask for is left out of the SQL (``TRUE``): a scan then does not
# test every row against an empty list.
def _stores(col: str, f: Filters) -> str:
    return f"list_contains($stores::BIGINT[], {col})" if f.stores else "TRUE"


def _categories(col: str, f: Filters) -> str:
    return f"list_contains($categories::BIGINT[], {col})" if f.categories else "TRUE"


def _warehouses(col: str, f: Filters) -> str:
    """``col`` (a warehouse id) belongs to one of the selected stores."""
    return (f"{col} IN (SELECT warehouse_id FROM dim_store WHERE list_contains($stores::BIGINT[], id))"
            if f.stores else "TRUE")


CATEGORY_LABEL = ("CASE WHEN {c}.parent_id IS NULL THEN {c}.name "
                  "ELSE regexp_replace({c}.complete_name, '^.*? / ', '') END")
DEPARTMENT = "coalesce(nullif(split_part({c}.complete_name, ' / ', 2), ''), {c}.name)"
PERIOD = "CAST(date_trunc($grain, {a}date) AS DATE)"

SALES_KEYS = {"period": PERIOD, "store_id": "{a}store_id", "channel": "{a}channel"}


SALES_BY_STORE = "agg_sales_daily_by_store"    # agg_sales_daily summed over categories (memtables.ROLLUPS)
PROFIT_BY_PRODUCT = "agg_profit_daily_by_product"   # agg_profit_daily summed over stores and channels
SALES_READS = {"only_if": {"agg_orders_daily": "no_categories", "fact_sales": "categories"}}


def _sales_sql(keys: Sequence[str], f: Filters) -> str:
    """Sales and margin from agg_sales_daily, orders and baskets per ``keys``.

    An order is a distinct (channel, order_ref): a POS order or an invoice. It counts as an
    order when its lines in the selection sum to a positive revenue, as a refund when
    negative. The basket is the average revenue of the orders (refunds not deducted).
    Without a category filter the orders come from agg_orders_daily (counted per date,
    channel and store: an order has one of each); with one, from the lines of those
    categories in fact_sales.
    """
    sel = "".join(f"{SALES_KEYS[k].format(a='')} AS {k}, " for k in keys)
    names = "".join(f"{k}, " for k in keys)
    on = " AND ".join(f"s.{k} IS NOT DISTINCT FROM o.{k}" for k in keys) or "TRUE"
    where = f"{_range()} AND {_stores('store_id', f)}"
    if f.categories:
        orders = f"""per_order AS (
            SELECT {sel}channel AS order_channel, order_ref, sum(revenue) AS revenue
            FROM fact_sales WHERE {where} AND {_categories('category_id', f)} GROUP BY ALL
        ), o AS (
            SELECT {names}count_if(revenue > 0) AS orders, count_if(revenue < 0) AS refunds,
                   sum(revenue) FILTER (WHERE revenue > 0) AS order_revenue
            FROM per_order GROUP BY ALL
        )"""
    else:
        orders = f"""o AS (
            SELECT {sel}sum(orders)::BIGINT AS orders, sum(refunds)::BIGINT AS refunds,
                   sum(order_revenue) FILTER (WHERE orders > 0) AS order_revenue
            FROM agg_orders_daily WHERE {where} GROUP BY ALL
        )"""
    return f"""
        WITH s AS (
            SELECT {sel}sum(qty) AS units, sum(revenue) AS revenue, sum(cost) AS cost, sum(margin) AS margin,
                   sum(lines) AS lines
            FROM {SALES_BY_STORE if not f.categories else "agg_sales_daily"}
            WHERE {where} AND {_categories('category_id', f)} GROUP BY ALL
        ), {orders}
        SELECT s.*, coalesce(o.orders, 0) AS orders, coalesce(o.refunds, 0) AS refunds,
               o.order_revenue / nullif(o.orders, 0) AS basket,
               s.margin / nullif(s.revenue, 0) AS margin_pct
        FROM s LEFT JOIN o ON {on}
        WHERE s.lines > 0"""


# ----------------------------------------------------------------------------- options
@query("dim_category")
def category_tree(db: Dashboard) -> pd.DataFrame:
    """Every category: id, parent_id, label (path without the root), department."""
    return db.sql("category_tree", f"""
        SELECT c.id, c.parent_id, {CATEGORY_LABEL.format(c='c')} AS label, {DEPARTMENT.format(c='c')} AS department
        FROM dim_category c ORDER BY label, c.id""", {})


@query("dim_category")
def _category_parents(db: Dashboard) -> pd.DataFrame:
    """Every category's id and parent_id: what :meth:`Dashboard.descendants` walks (no labels:
    a third of the cost of :func:`category_tree`)."""
    return db.sql("category_parents", "SELECT id, parent_id FROM dim_category", {})


def _category_children(db: Dashboard) -> dict[int, list[int]]:
    tree = _category_parents(db)
    children: dict[int, list[int]] = {}
    for cid, parent in zip(tree["id"].tolist(), tree["parent_id"].tolist()):
        if pd.notna(parent):
            children.setdefault(int(parent), []).append(int(cid))
    return children


@query("dim_product")
def _product_labels(db: Dashboard) -> pd.DataFrame:
    return db.sql("product_labels", "SELECT id, default_code AS code, name AS product FROM dim_product", {})


class Labels:
    """Label columns of a dimension by id, looked up for many ids at once (numpy, no join):
    each id's row from an array indexed by id when the ids are dense enough (Odoo's are:
    one gather instead of a binary search per id), else by binary search."""

    def __init__(self, frame: pd.DataFrame):
        frame = frame.sort_values("id", kind="stable")
        self.ids = frame["id"].to_numpy(dtype=np.int64)
        self.columns = {c: frame[c].array for c in frame.columns if c != "id"}
        self.rows: np.ndarray | None = None
        if len(self.ids) and self.ids[0] >= 0 and self.ids[-1] < 16 * len(self.ids) + 65536:
            self.rows = np.full(self.ids[-1] + 1, -1, dtype=np.int64)
            self.rows[self.ids[::-1]] = np.arange(len(self.ids))[::-1]     # an id's first row wins

    def of(self, ids: np.ndarray, *columns: str) -> list[Any]:
        """Each of ``columns`` for ``ids`` (ExtensionArrays; null where the id is unknown)."""
        if self.rows is not None:
            inside = (ids >= 0) & (ids < len(self.rows))
            at = np.where(inside, self.rows[np.where(inside, ids, 0)], -1)
        else:
            at = np.searchsorted(self.ids, ids)
            known = at < len(self.ids)
            known[known] = self.ids[at[known]] == ids[known]
            at = np.where(known, at, -1)
        return [self.columns[column].take(at, allow_fill=True) for column in columns]


LABELS: dict[str, tuple[str, Callable[[Dashboard], Labels]]] = {   # id column -> (dimension, its labels)
    "store_id": ("dim_store", lambda db: Labels(stores(db)[["id", "name"]])),
    "category_id": ("dim_category", lambda db: Labels(category_tree(db)[["id", "label", "department"]])),
    "product_id": ("dim_product", lambda db: Labels(_product_labels(db))),
    "warehouse_id": ("dim_store", lambda db: Labels(_warehouse_stores(db))),
}


# A warehouse's store: the first (by id) of the stores (POS configs) it serves; a shop's
# tills share one warehouse, and a join on all of them would count its stock once per till.
WAREHOUSE_STORE = ("(SELECT DISTINCT ON (warehouse_id) warehouse_id, name FROM dim_store "
                   "WHERE warehouse_id IS NOT NULL ORDER BY warehouse_id, id)")


@query("dim_store")
def _warehouse_names(db: Dashboard) -> pd.DataFrame:
    return db.sql("warehouse_names", f"SELECT warehouse_id AS id, name FROM {WAREHOUSE_STORE} ORDER BY id", {})


def _warehouse_stores(db: Dashboard) -> pd.DataFrame:
    """Per warehouse (``id``): its store's name (:data:`WAREHOUSE_STORE`), and ``rank``: the
    order of that name among them (DuckDB's: by bytes, nulls last)."""
    frame = _warehouse_names(db)
    return frame.assign(rank=frame["name"].rank(method="dense", na_option="bottom").astype("int64"))


def _labels(db: Dashboard, ids: Any, column: str, *labels: str) -> list[Any]:
    """The ``labels`` of ``ids`` (of the dimension of the id column ``column``; null where
    unknown or null), from the dimension's labels kept per version of its file."""
    table, build = LABELS[column]
    if isinstance(ids, np.ma.MaskedArray):
        ids = np.ma.filled(ids.astype(np.int64), -1)
    elif isinstance(ids, pd.api.extensions.ExtensionArray):
        ids = ids.to_numpy(np.int64, na_value=-1)
    found = db.lookup(table, build)
    return found.of(np.asarray(ids, dtype=np.int64), *labels)


@query("dim_store")
def stores(db: Dashboard) -> pd.DataFrame:
    """Every store: id, name, warehouse_id, active."""
    return db.sql("stores", "SELECT id, name, warehouse_id, active FROM dim_store ORDER BY name, id", {})


def store_options(db: Dashboard) -> dict[str, int]:
    """``{store name: id}`` for a multiselect, by name. A damaged ``dim_store`` raises
    :class:`~nkdash.errors.LakeError` (the page's sidebar then offers no choice and says why:
    :mod:`nkdash.controls`)."""
    frame = stores(db)
    return {str(name): int(sid) for name, sid in zip(frame["name"], frame["id"])}


def category_options(db: Dashboard) -> dict[str, int]:
    """``{category path: id}`` for a multiselect; a category includes its subcategories.
    A damaged ``dim_category`` raises :class:`~nkdash.errors.LakeError` (as for
    :func:`store_options`)."""
    frame = category_tree(db)
    frame = frame[frame["parent_id"].notna()]  # the root is "everything": no filter does that
    return {str(label): int(cid) for label, cid in zip(frame["label"], frame["id"])}


DATASET_OF = {table: spec.name for spec in REGISTRY.values() for table in spec.table_names}


def date_bounds(db: Dashboard, table: str = "agg_profit_daily") -> tuple[dt.date, dt.date] | None:
    """First and last date that ``table`` holds, or None: from the metadata store's
    partition states of its dataset, else (no metadata) from the lake's listing."""
    meta = db.meta
    if meta is not None:
        try:
            bounds = meta.date_range(DATASET_OF[table])
        except Exception:   # the listing below answers as well, only slower
            log.warning("could not read the date range of %s from the metadata store", table, exc_info=True)
            bounds = None
        if bounds is not None:
            return bounds
    dates = sorted({d for f in db.listing.data_files(table) for d in f.dates})
    return (dates[0], dates[-1]) if dates else None


def default_period(db: Dashboard, table: str = "agg_profit_daily", days: int = DEFAULT_DAYS,
                   today: dt.date | None = None, bounds: tuple[dt.date, dt.date] | None | Literal["?"] = "?"
                   ) -> tuple[dt.date, dt.date]:
    """The last ``days`` days ending at the latest loaded date (yesterday if nothing is)."""
    bounds = date_bounds(db, table) if bounds == "?" else bounds
    end = bounds[1] if bounds else (today or _today()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    return (max(start, bounds[0]) if bounds else start), end


def selectable_range(db: Dashboard, table: str = "agg_profit_daily", today: dt.date | None = None,
                     bounds: tuple[dt.date, dt.date] | None | Literal["?"] = "?") -> tuple[dt.date, dt.date]:
    """The dates a period picker offers: what the lake holds, at least the default period.
    ``bounds``: :func:`date_bounds` if the caller has read it already."""
    bounds = date_bounds(db, table) if bounds == "?" else bounds
    start, end = default_period(db, table, today=today, bounds=bounds)
    return (min(start, bounds[0]) if bounds else start), end


def selected_ids(selection: Any, column: str) -> tuple[int, ...]:
    """The distinct ids in ``column`` of a chart selection (``mo.ui.altair_chart(...).value``)."""
    if not isinstance(selection, pd.DataFrame) or column not in selection or selection.empty:
        return ()
    return tuple(sorted({int(v) for v in selection[column].dropna()}))


def _today() -> dt.date:
    return cal.today(cal.timezone(get_settings().tz))


# ----------------------------------------------------------------------------- sales
SUMMARY_COLUMNS = ["units", "revenue", "cost", "margin", "lines", "orders", "refunds", "basket", "margin_pct"]


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", **SALES_READS, rounds=True)
def sales_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: units, revenue, cost, margin, lines, orders, refunds, basket, margin_pct
    (floats; zeros, and no basket or margin_pct, when nothing sold)."""
    found = db.arrays("sales_summary", _sales_sql((), f), db.bind(f), f.log_params())
    if not len(found["revenue"]):
        row = {c: np.array([np.nan if c in ("basket", "margin_pct") else 0.0]) for c in SUMMARY_COLUMNS}
    else:
        row = {c: np.ma.filled(found[c].astype(float), np.nan) for c in SUMMARY_COLUMNS}
    return pd.DataFrame({c: rounded(c, v) for c, v in row.items()})


KPIS: tuple[tuple[str, str, str], ...] = (   # column, label, better when it goes ...
    ("revenue", "Revenue", "increase"),
    ("orders", "Orders", "increase"),
    ("basket", "Average basket", "increase"),
    ("units", "Units sold", "increase"),
    ("margin", "Margin", "increase"),
    ("margin_pct", "Margin %", "increase"),
    ("refunds", "Refunds", "decrease"),
)


def sales_comparison(db: Dashboard, f: Filters, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Each KPI (or those in ``metrics``) now and in the previous period of the same
    length: metric, label, current, previous, change, change_pct, better
    ('increase'|'decrease')."""
    now, before = sales_summary(db, f).iloc[0], sales_summary(db, f.previous()).iloc[0]
    rows = []
    for col, label, better in KPIS:
        if metrics is not None and col not in metrics:
            continue
        cur, prev = now[col], before[col]
        change = cur - prev if pd.notna(cur) and pd.notna(prev) else float("nan")
        pct = change / abs(prev) if pd.notna(change) and prev else float("nan")
        rows.append({"metric": col, "label": label, "current": cur, "previous": prev,
                     "change": round(change, 6) + 0.0, "change_pct": round(pct, 6) + 0.0, "better": better})
    return pd.DataFrame(rows)


def has_sales(db: Dashboard, f: Filters) -> bool:
    """Sales exist for ``f``; False if a file the sales and profit dashboards read is damaged
    (then :func:`no_data` names it)."""
    return _readable(db, f, "sales") and bool(sales_summary(db, f)["lines"].iloc[0] > 0)


def damaged(db: Dashboard, f: Filters, queries: Sequence[Callable[..., Any]]) -> list[Problem]:
    """The files ``queries`` read for ``f`` or the period before it whose parquet footer
    cannot be read (truncated, zeroed, not parquet). Cheap: a listing, and each file version
    opened once per :class:`Dashboard`."""
    windows: dict[str, tuple[dt.date | None, dt.date | None]] = {}
    for reads in (q.reads for q in queries):
        first, last = f.previous().start - dt.timedelta(days=reads.before), f.end + dt.timedelta(days=reads.after)
        for table in reads.tables:
            lo, hi = windows.get(table, (first, last))
            windows[table] = (None, None) if table in WHOLE else (min(lo, first), max(hi, last))
    files = [file for table, (lo, hi) in windows.items() for file in db.listing.data_files(table, lo, hi)]
    return [Problem(file.table, file.dates[0] if len(file.dates) == 1 and not file.compacted else None, file.path,
                    "unreadable", detail, () if len(file.dates) == 1 else file.dates)
            for file in files if (detail := db.unreadable(file.path))]


def _readable(db: Dashboard, f: Filters, dashboard: str) -> bool:
    """No file the ``dashboard``'s queries read for ``f`` is damaged; else False, with the
    damage noted for :func:`no_data`: the page shows a warning instead of failing."""
    problems = damaged(db, f, DASHBOARD_QUERIES[dashboard])
    if problems:
        db.damage[f] = problems
    else:
        db.damage.pop(f, None)
    return not problems


def no_data(db: Dashboard, what: str, f: Filters, table: str = "agg_profit_daily") -> str:
    """The empty-state message: what is missing, and what the lake does hold; or which
    partitions are damaged (found by the ``has_*`` check just before)."""
    problems = db.damage.get(f)
    if problems:
        shown = ", ".join(" ".join(map(str, filter(None, (p.table, p.date)))) + f" ({p.kind})" for p in problems[:5])
        return (f"**Damaged data: {what} for {f.describe()} cannot be shown.** {len(problems)} partition(s) "
                f"cannot be read: {shown}{' ...' if len(problems) > 5 else ''}.\n\nAn operator repairs them on "
                "the Recovery page (quarantine and rebuild); meanwhile pick a period without them.")
    bounds = date_bounds(db, table)
    held = (f"The lake holds {what} from **{bounds[0]}** to **{bounds[1]}**: pick a period in it"
            + (" or clear the store and category filters." if f.stores or f.categories else ".")
            if bounds else "Nothing is loaded yet: an operator loads data from the Operations page.")
    return f"**No {what}** for {f.describe()}.\n\n{held}"


TREND_COLUMNS = ["units", "revenue", "cost", "margin", "lines", "orders", "refunds", "basket", "margin_pct"]


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", "dim_store", **SALES_READS)
def sales_trend(db: Dashboard, f: Filters, grain: Grain = "day", by: Literal["channel", "store"] | None = None
                ) -> pd.DataFrame:
    """Per period (and channel or store): units, revenue, cost, margin, orders, basket...

    Every period of the range is present (zeros where nothing sold). ``period`` is the
    first day of the day/week (Monday)/month.
    """
    keys = ("period",) + ({"channel": ("channel",), "store": ("store_id",), None: ()}[by])
    frame = db.sql("sales_trend", _sales_sql(keys, f), db.bind(f, grain=_grain(grain)),
                   {**f.log_params(), "grain": grain, "by": by})
    frame = _fill_periods(frame, f, grain, keys[1:])
    if by == "store":
        frame = _store_names(db, frame)
    if by == "channel":
        frame["channel"] = frame["channel"].map(CHANNEL_LABELS).fillna(frame["channel"])
    return frame


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", "dim_store", **SALES_READS)
def sales_by_store(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per store (invoices as one line): revenue, orders, basket, units, margin, share of revenue."""
    frame = db.sql("sales_by_store", _sales_sql(("store_id",), f), db.bind(f), f.log_params())
    frame = _store_names(db, frame)
    frame["share"] = frame["revenue"] / frame["revenue"].sum() if len(frame) else []
    return frame.sort_values(["revenue", "store"], ascending=[False, True], ignore_index=True)


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", **SALES_READS)
def sales_by_channel(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per channel (point of sale, invoice): revenue, orders, basket, units, margin, share."""
    frame = db.sql("sales_by_channel", _sales_sql(("channel",), f), db.bind(f), f.log_params())
    frame["channel"] = frame["channel"].map(CHANNEL_LABELS).fillna(frame["channel"])
    frame["share"] = frame["revenue"] / frame["revenue"].sum() if len(frame) else []
    return frame.sort_values(["revenue", "channel"], ascending=[False, True], ignore_index=True)


def _store_names(db: Dashboard, frame: pd.DataFrame) -> pd.DataFrame:
    known = stores(db)
    names = dict(zip(known["id"], known["name"]))
    frame.insert(frame.columns.get_loc("store_id") + 1, "store",
                 [names.get(s, f"store {s}") if pd.notna(s) else NO_STORE for s in frame["store_id"]])
    return frame


def periods(f: Filters, grain: Grain) -> list[dt.date]:
    """The first day of every day/week/month that overlaps ``f``'s range."""
    return [stamp.date() for stamp in _period_index(f, grain)]


def _period_index(f: Filters, grain: Grain) -> pd.DatetimeIndex:
    first = {"day": f.start, "week": f.start - dt.timedelta(days=f.start.weekday()),
             "month": f.start.replace(day=1)}[grain]
    return pd.date_range(first, f.end, freq={"day": "D", "week": "7D", "month": "MS"}[grain])


PERIOD_DTYPE = pd.to_datetime(pd.Series([dt.date(2000, 1, 1)])).dtype   # what pandas makes of dates


def _fill_periods(frame: pd.DataFrame, f: Filters, grain: Grain, keys: Sequence[str]) -> pd.DataFrame:
    """Every period x key combination, zeros where nothing happened (ratios stay empty);
    by period, then keys (missing keys last). Built with numpy: a handful of rows, where
    pandas merges cost milliseconds."""
    index = _period_index(f, grain)
    stamps = pd.to_datetime(frame["period"]).to_numpy(dtype="datetime64[ns]")
    columns = [[None if pd.isna(v) else v for v in frame[k].tolist()] for k in keys]
    combos = sorted(set(zip(*columns)), key=lambda c: [(v is None, v if v is not None else 0) for v in c]) \
        if keys else [()]
    rows = {(int(t), *c): i for i, (t, *c) in enumerate(zip(stamps.view("int64").tolist(), *columns))}
    wanted = index.to_numpy(dtype="datetime64[ns]")
    take = np.array([rows.get((int(t), *c), -1) for t in wanted.view("int64").tolist() for c in combos], dtype=np.int64)
    out = frame.reset_index(drop=True).reindex(take).reset_index(drop=True)
    unit = np.promote_types(PERIOD_DTYPE, pd.to_datetime(frame["period"]).dtype)   # as a merge would
    out["period"] = np.repeat(wanted, len(combos)).astype(unit)
    for i, k in enumerate(keys):
        out[k] = pd.Series([c[i] for c in combos] * len(wanted), dtype=frame[k].dtype)
    sums = [c for c in out.columns if c not in ("period", *keys, "basket", "margin_pct")]
    out[sums] = out[sums].fillna(0)
    return out


# ----------------------------------------------------------------------------- profit
PROFIT_IDS = {"store": "store_id", "category": "category_id", "department": "category_id",   # summed by
              "product": "product_id, category_id"}


def profit_by(db: Dashboard, f: Filters, by: ProfitBy = "store") -> pd.DataFrame:
    """Per store, category, department or product: units, revenue, cost, margin, margin_pct,
    share of margin; by margin, largest first.

    Sums by ids first (agg_sales_daily; agg_profit_daily per product), then the labels."""
    by = _choice("by", by, get_args(ProfitBy))  # type: ignore[assignment]
    return (_profit_by_product if by == "product" else _profit_by_key)(db, f, by)


@query("agg_sales_daily", "dim_store", "dim_category", name="profit_by", rounds=True)
def _profit_by_key(db: Dashboard, f: Filters, by: ProfitBy) -> pd.DataFrame:
    return _profit_by(db, f, by, SALES_BY_STORE if by == "store" and not f.categories else "agg_sales_daily")


@query("agg_profit_daily", "dim_category", "dim_product", name="profit_by", rounds=True)
def _profit_by_product(db: Dashboard, f: Filters, by: ProfitBy) -> pd.DataFrame:
    return _profit_by(db, f, by, "agg_profit_daily" if f.stores else PROFIT_BY_PRODUCT)


profit_by.reads = Reads(("agg_sales_daily", "agg_profit_daily", "dim_store", "dim_category", "dim_product"))  # type: ignore[attr-defined]


PROFIT_SUMS = ["units", "revenue", "cost", "margin"]


def _profit_by(db: Dashboard, f: Filters, by: ProfitBy, source: str) -> pd.DataFrame:
    """Sums by ids in SQL; labels, margin_pct, order and share with numpy, the frame built
    once, rounded (on at most a few thousand rows: cheaper than joins and a second
    grouping in DuckDB, or pandas frames and merges)."""
    sums = db.arrays(f"profit_by_{by}", f"""
        SELECT {PROFIT_IDS[by]}, sum(qty)::DOUBLE AS units, sum(revenue)::DOUBLE AS revenue,
               sum(cost)::DOUBLE AS cost, sum(margin)::DOUBLE AS margin
        FROM {source}
        WHERE {_range()} AND {_stores('store_id', f)} AND {_categories('category_id', f)}
        GROUP BY ALL""",
        db.bind(f), {**f.log_params(), "by": by})
    values = {c: np.ma.filled(sums[c], np.nan) for c in PROFIT_SUMS}
    if by == "department":
        [department] = _labels(db, sums["category_id"], "category_id", "department")
        codes, names = pd.factorize(department, use_na_sentinel=False)   # groups in order of appearance
        values = {c: np.bincount(codes, np.nan_to_num(v), len(names)) for c, v in values.items()}
        order = np.lexsort((pd.Series(names).rank(method="first", na_option="bottom").to_numpy(), -values["margin"]))
        keys: dict[str, Any] = {"department": names.take(order)}
    else:       # ordered first: each label column is then taken once, in order
        raw = sums[PROFIT_IDS[by].split(",")[0]]
        order = np.lexsort((np.ma.filled(raw.astype(np.int64), np.iinfo(np.int64).max), -values["margin"]))  # nulls last
        ids = _ids_column(raw[order])
        if by == "store":
            [store] = _labels(db, ids, "store_id", "name")
            keys = {"store_id": ids, "store": store.fillna(NO_STORE)}
        elif by == "category":
            keys = {"category_id": ids,
                    **dict(zip(("category", "department"), _labels(db, ids, "category_id", "label", "department")))}
        else:
            keys = {"product_id": ids, **dict(zip(("code", "product"), _labels(db, ids, "product_id", "code", "product"))),
                    "category": _labels(db, sums["category_id"][order], "category_id", "label")[0]}
    values = {c: v[order] for c, v in values.items()}     # stable order: equal margins keep their ids' order
    margin, revenue = values["margin"], values["revenue"]
    values["margin_pct"] = margin / np.where(revenue != 0, revenue, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):   # a period whose margins add up to 0
        values["margin_share"] = margin / margin.sum() if len(margin) else margin
    return pd.DataFrame({**keys, **{c: rounded(c, v) for c, v in values.items()}})


def _ids_column(ids: np.ndarray) -> Any:
    """An id column as DuckDB's ``df()`` gives it: int64, or Int64 if it has NULLs."""
    mask = np.ma.getmaskarray(ids)
    if mask.any():
        return pd.arrays.IntegerArray(np.ma.getdata(ids).astype(np.int64), mask.copy())
    return np.ma.getdata(ids).astype(np.int64, copy=False)


def profit_by_store(db: Dashboard, f: Filters) -> pd.DataFrame:
    return profit_by(db, f, "store")


def profit_by_category(db: Dashboard, f: Filters) -> pd.DataFrame:
    return profit_by(db, f, "category")


def profit_by_product(db: Dashboard, f: Filters) -> pd.DataFrame:
    return profit_by(db, f, "product")


def top_products(db: Dashboard, f: Filters, n: int = 10) -> pd.DataFrame:
    """The ``n`` products with the highest margin and the ``n`` with the lowest (``rank``:
    'top' or 'bottom'); a product appears once even when there are fewer than 2n."""
    frame = profit_by(db, f, "product")
    top = np.arange(min(n, len(frame)))
    bottom = np.arange(len(frame) - 1, max(n, len(frame) - n) - 1, -1)
    out = frame.take(np.concatenate([top, bottom])).reset_index(drop=True)
    out["rank"] = ["top"] * len(top) + ["bottom"] * len(bottom)
    return out


def profit_trend(db: Dashboard, f: Filters, grain: Grain = "day",
                 by: Literal["channel", "store"] | None = None) -> pd.DataFrame:
    """Per period: revenue, cost, margin, margin_pct (and units, orders...), zeros filled."""
    return sales_trend(db, f, grain, by)


# ----------------------------------------------------------------------------- inventory
STOCK = "fact_stock_quants"


def stock_date(db: Dashboard, f: Filters) -> dt.date | None:
    """The stock snapshot a dashboard shows: the latest date in range with stock levels
    (from the cached listing: the very files the stock queries then read)."""
    return _last_date(db.snapshot_files(STOCK, f.start, f.end), f.start, f.end)


STOCK_KEYS: dict[str, tuple[str, str, str]] = {   # by -> (ids summed by, select list, joins for the labels)
    "location": ("q.location_id, q.warehouse_id", "a.location_id, l.complete_name AS location, s.name AS store",
                 "LEFT JOIN dim_location l ON l.id = a.location_id "
                 f"LEFT JOIN {WAREHOUSE_STORE} s ON s.warehouse_id = a.warehouse_id"),
    "category": ("p.category_id", f"a.category_id, {CATEGORY_LABEL.format(c='c')} AS category, "
                 f"{DEPARTMENT.format(c='c')} AS department", "LEFT JOIN dim_category c ON c.id = a.category_id"),
    "department": ("p.category_id", f"{DEPARTMENT.format(c='c')} AS department",
                   "LEFT JOIN dim_category c ON c.id = a.category_id"),
    "product": ("q.product_id, p.category_id", "a.product_id, p.default_code AS code, p.name AS product, "
                f"{CATEGORY_LABEL.format(c='c')} AS category",
                "LEFT JOIN dim_product p ON p.id = a.product_id LEFT JOIN dim_category c ON c.id = a.category_id"),
}


@query("fact_stock_quants", "dim_product", "dim_category", "dim_location", "dim_store", snapshot=(STOCK,))
def stock_levels(db: Dashboard, f: Filters, by: StockBy = "location") -> pd.DataFrame:
    """Stock on hand at :func:`stock_date` per location, category, department or product:
    products, qty, value (qty x the product's current cost), by value, largest first.

    Sums by ids first, then the labels (a product has one category: the products of a
    department are the sum of its categories')."""
    ids, select, joins = STOCK_KEYS[_choice("by", by, get_args(StockBy))]
    day = stock_date(db, f)
    frame = db.sql(f"stock_levels_{by}", f"""
        WITH a AS (
            SELECT {ids}, count(DISTINCT q.product_id) AS products, sum(q.quantity) AS qty,
                   sum(q.quantity * coalesce(p.standard_price, 0)) AS value
            FROM fact_stock_quants q JOIN dim_product p ON p.id = q.product_id
            WHERE {_range('q.')} AND {_warehouses('q.warehouse_id', f)} AND {_categories('p.category_id', f)}
            GROUP BY ALL)
        SELECT {select}, sum(a.products)::BIGINT AS products, sum(a.qty) AS qty, sum(a.value) AS value
        FROM a {joins}
        GROUP BY ALL ORDER BY value DESC, 1""",
        db.bind(_on(f, day)), {**f.log_params(), "by": by, "stock_date": str(day)})
    return frame


def _on(f: Filters, day: dt.date | None) -> Filters:
    """``f`` narrowed to the one day ``day`` (no day: an empty range in the past)."""
    day = day or dt.date(1, 1, 1)
    return dataclasses.replace(f, start=day, end=day)


# a move's product (p), origin (o) and destination (d)
MOVES = ("fact_inventory_moves m JOIN dim_product p ON p.id = m.product_id "
         "JOIN dim_location o ON o.id = m.location_id JOIN dim_location d ON d.id = m.location_dest_id")


def _in_stock(location: str, f: Filters) -> str:
    """The location aliased ``location`` is stock: internal, of a selected store."""
    return f"{location}.usage = 'internal' AND {_warehouses(f'{location}.warehouse_id', f)}"


@query("fact_inventory_moves", "dim_product", "dim_location", "dim_store", "dim_category")
def stock_moves(db: Dashboard, f: Filters, grain: Grain = "day", kinds: tuple[str, ...] = ()) -> pd.DataFrame:
    """Quantities moved into and out of stock per period and kind (receipt, delivery...;
    only ``kinds`` if given): period, kind, direction ('in'|'out'), qty, value (qty x
    current cost), moves.

    In = into an internal location (of the selected stores), out = out of one. A transfer
    between two selected shops is both.
    """
    kinds = tuple(_choice("kind", k, MOVE_KINDS) for k in kinds)
    frame = db.sql("stock_moves", f"""
        WITH m AS (
            SELECT {PERIOD.format(a='m.')} AS period, m.kind, m.qty, m.qty * coalesce(p.standard_price, 0) AS value,
                   {_in_stock('d', f)} AS is_in, {_in_stock('o', f)} AS is_out
            FROM {MOVES}
            WHERE {_range('m.')} AND {_categories('p.category_id', f)}
              AND (len($kinds::VARCHAR[]) = 0 OR list_contains($kinds::VARCHAR[], m.kind::VARCHAR))
        )   -- kind: held as an ENUM (memtables); shown and sorted as text
        SELECT period, kind::VARCHAR AS kind, 'in' AS direction, sum(qty) AS qty, sum(value) AS value,
               count(*) AS moves
        FROM m WHERE is_in GROUP BY period, m.kind
        UNION ALL
        SELECT period, kind::VARCHAR, 'out', sum(qty), sum(value), count(*) FROM m WHERE is_out GROUP BY period, m.kind
        ORDER BY period, direction, kind""", db.bind(f, grain=_grain(grain), kinds=list(kinds)),
        {**f.log_params(), "grain": grain, "kinds": list(kinds)})
    frame["period"] = pd.to_datetime(frame["period"])
    return frame


def _last_sales(f: Filters, since: str = "$since") -> str:
    """Per product, the last date from ``since`` to ``$end`` it sold (qty > 0) in one of the
    selected stores: with no store filter from the per-product rollup (its ``sold`` flag
    keeps a day where one store's sale and another's return net to 0)."""
    if f.stores:
        return f"""SELECT a.product_id, max(a.date) AS last_sold FROM agg_profit_daily a
            WHERE a.date BETWEEN {since} AND $end AND {_stores('a.store_id', f)} AND a.qty > 0 GROUP BY ALL"""
    return f"""SELECT a.product_id, max(a.date) AS last_sold FROM {PROFIT_BY_PRODUCT} a
            WHERE a.date BETWEEN {since} AND $end AND a.sold GROUP BY ALL"""


@query("fact_stock_quants", "agg_profit_daily", "dim_product", "dim_category", "dim_store",
       before=SLOW_MOVER_LOOKBACK_DAYS, snapshot=(STOCK,))
def slow_movers(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Products in stock at :func:`stock_date` that sold nothing in the period (in the
    selected stores): qty, value, last sale in the :data:`SLOW_MOVER_LOOKBACK_DAYS` before
    the period (empty if none), days since; by value, largest first."""
    day = stock_date(db, f)
    since = f.start - dt.timedelta(days=SLOW_MOVER_LOOKBACK_DAYS)
    frame = db.sql("slow_movers", f"""
        WITH stock AS (
            SELECT q.product_id, sum(q.quantity) AS qty
            FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {_warehouses('q.warehouse_id', f)}
            GROUP BY ALL HAVING sum(q.quantity) > 0
        ), sold AS ({_last_sales(f)})
        SELECT stock.product_id, p.default_code AS code, p.name AS product,
               {CATEGORY_LABEL.format(c='c')} AS category, stock.qty,
               stock.qty * coalesce(p.standard_price, 0) AS value, sold.last_sold,
               date_diff('day', sold.last_sold, $end) AS days_since_sale
        FROM stock JOIN dim_product p ON p.id = stock.product_id
        LEFT JOIN dim_category c ON c.id = p.category_id
        LEFT JOIN sold ON sold.product_id = stock.product_id
        WHERE (sold.last_sold IS NULL OR sold.last_sold < $start) AND {_categories('p.category_id', f)}
        ORDER BY value DESC, stock.product_id""",
        db.bind(f, day=day or dt.date(1, 1, 1), since=since), {**f.log_params(), "stock_date": str(day)})
    return frame


def _stock_out_ctes(f: Filters) -> str:
    """CTEs ``stock`` (on hand at ``$day`` per warehouse of the selected stores and product),
    ``demand`` (units and revenue sold in the period per warehouse and product) and ``k``:
    the candidate stock-outs (sold in the period, or negative stock) with no stock on hand."""
    return f"""stock AS (
            SELECT q.warehouse_id, q.product_id, sum(q.quantity) AS on_hand
            FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {_warehouses('q.warehouse_id', f)}
            GROUP BY ALL
        ), demand AS (
            SELECT s.warehouse_id, a.product_id, sum(a.qty) AS units, sum(a.revenue) AS revenue
            FROM agg_profit_daily a JOIN dim_store s ON s.id = a.store_id
            WHERE {_range('a.')} AND {_stores('a.store_id', f)}
            GROUP BY ALL HAVING sum(a.qty) > 0
        ), k AS (
            SELECT coalesce(d.warehouse_id, q.warehouse_id) AS warehouse_id,
                   coalesce(d.product_id, q.product_id) AS product_id, coalesce(q.on_hand, 0) AS on_hand,
                   coalesce(d.units, 0) AS units, coalesce(d.revenue, 0) AS revenue
            FROM demand d FULL JOIN stock q ON q.warehouse_id = d.warehouse_id AND q.product_id = d.product_id
            WHERE (d.product_id IS NOT NULL OR q.on_hand < 0) AND coalesce(q.on_hand, 0) <= 0
        )"""


@query("fact_stock_quants", "agg_profit_daily", "dim_product", "dim_category", "dim_store", snapshot=(STOCK,),
       rounds=True)
def stock_outs(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Storable products out of stock (qty <= 0 at :func:`stock_date`) in a store where
    they sold in the period, or with negative stock: store, product, on_hand, units sold,
    revenue, daily units; by revenue, largest first (then store, product id).

    Ids and sums in SQL; labels and order with numpy (thousands of rows: sorting them on a
    store name and building string columns cost DuckDB more than the stock-outs)."""
    day = stock_date(db, f)
    found = db.arrays("stock_outs", f"""
        WITH {_stock_out_ctes(f)}
        SELECT k.warehouse_id, k.product_id, p.category_id, k.on_hand, k.units AS units_sold, k.revenue
        FROM k JOIN dim_product p ON p.id = k.product_id AND p.storable
        WHERE {_categories('p.category_id', f)} AND $has_stock""",
        db.bind(f, day=day or dt.date(1, 1, 1), has_stock=day is not None),
        {**f.log_params(), "stock_date": str(day)})
    values = {c: np.ma.filled(found[c], np.nan) for c in ("on_hand", "units_sold", "revenue")}
    values["daily_units"] = values["units_sold"] / float(f.days)
    products = np.ma.getdata(found["product_id"]).astype(np.int64)
    store, rank = _labels(db, found["warehouse_id"], "warehouse_id", "name", "rank")
    order = np.lexsort((products, rank.to_numpy(float, na_value=np.inf), -values["revenue"]))   # no store: last
    code, product = _labels(db, products, "product_id", "code", "product")
    [category] = _labels(db, found["category_id"], "category_id", "label")
    return pd.DataFrame({"store": store.take(order), "product_id": products[order], "code": code.take(order),
                         "product": product.take(order), "category": category.take(order),
                         **{c: rounded(c, v[order]) for c, v in values.items()}})


@query(STOCK, "agg_profit_daily", "fact_inventory_moves", "dim_product", "dim_category", "dim_location",
       "dim_store", snapshot=(STOCK,))
def inventory_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: stock_date, qty, value, products in stock, stock_outs, slow_movers,
    slow_value (stock value of the slow movers), moves_in, moves_out (quantities).

    The totals of :func:`stock_levels` (per product), :func:`stock_outs`,
    :func:`slow_movers` and :func:`stock_moves` in one SQL statement: the stock at the
    stock date is summed once, and no row is labelled or sorted (the page's cards need
    only the totals; tests hold it equal to the four queries). A slow mover is a product in
    stock that did not sell in the period: the lookback of :func:`slow_movers` only dates its
    last sale, so the summary reads the period alone."""
    day = stock_date(db, f)
    frame = db.sql("inventory_summary", f"""
        WITH {_stock_out_ctes(f)}, levels AS (    -- stock_levels(by='product')
            SELECT s.product_id, sum(s.on_hand) AS qty, sum(s.on_hand) * coalesce(any_value(p.standard_price), 0) AS value
            FROM stock s JOIN dim_product p ON p.id = s.product_id
            WHERE {_categories('p.category_id', f)}
            GROUP BY ALL
        ), sold AS ({_last_sales(f, "$start")}
        ), slow AS (
            SELECT count(*) AS slow_movers, coalesce(sum(l.value), 0) AS slow_value
            FROM levels l ANTI JOIN sold ON sold.product_id = l.product_id
            WHERE l.qty > 0
        ), outs AS (      -- stock_outs
            SELECT count(*) AS stock_outs
            FROM k JOIN dim_product p ON p.id = k.product_id AND p.storable
            WHERE {_categories('p.category_id', f)} AND $has_stock
        ), moves AS (     -- stock_moves: quantities into and out of internal locations
            SELECT coalesce(sum(m.qty) FILTER (WHERE {_in_stock('d', f)}), 0) AS moves_in,
                   coalesce(sum(m.qty) FILTER (WHERE {_in_stock('o', f)}), 0) AS moves_out
            FROM {MOVES}
            WHERE {_range('m.')} AND {_categories('p.category_id', f)}
        )
        SELECT coalesce(sum(l.qty), 0) AS qty, coalesce(sum(l.value), 0) AS value,
               count(*) FILTER (WHERE l.qty > 0) AS products,
               any_value(outs.stock_outs) AS stock_outs, any_value(slow.slow_movers) AS slow_movers,
               any_value(slow.slow_value) AS slow_value,
               any_value(moves.moves_in) AS moves_in, any_value(moves.moves_out) AS moves_out
        FROM outs CROSS JOIN slow CROSS JOIN moves LEFT JOIN levels l ON TRUE""",
        db.bind(f, day=day or dt.date(1, 1, 1), has_stock=day is not None),
        {**f.log_params(), "stock_date": str(day)})
    frame.insert(0, "stock_date", day)
    return frame.astype({c: "int64" for c in ("products", "stock_outs", "slow_movers")})


def has_inventory(db: Dashboard, f: Filters) -> bool:
    """Stock levels or stock moves exist for ``f``."""
    return _readable(db, f, "inventory") and (stock_date(db, f) is not None or not stock_moves(db, f, "month").empty)


# ----------------------------------------------------------------------------- purchases
def _purchase_where(f: Filters) -> str:
    """Purchase lines in range, of the selected categories and stores.

    fact_purchases has no warehouse: a purchase belongs to the warehouse its receipts
    (stock moves with the same operation type, kind 'receipt') go to, found among the
    receipts within :data:`RECEIPT_WINDOW_DAYS` of the range (only with a store filter).
    """
    where = f"{_range('f.')} AND {_categories('p.category_id', f)}"
    if not f.stores:
        return where
    return f"""{where}
        AND (f.picking_type_id IN (
            SELECT m.picking_type_id FROM fact_inventory_moves m JOIN dim_location l ON l.id = m.location_dest_id
            WHERE m.date BETWEEN $window_start AND $window_end AND m.kind = 'receipt'
              AND {_warehouses('l.warehouse_id', f)}))"""


def _purchase_params(db: Dashboard, f: Filters, **extra: Any) -> dict[str, Any]:
    window = dt.timedelta(days=RECEIPT_WINDOW_DAYS)
    return db.bind(f, window_start=f.start - window, window_end=f.end + window, **extra)


PURCHASE_ONLY_IF: dict[str, Condition] = {"fact_inventory_moves": "stores"}
PURCHASE_KEYS: dict[str, tuple[str, str, str]] = {   # by -> (ids summed by, select list, joins for the labels)
    "vendor": ("f.partner_id", "a.partner_id AS vendor_id, coalesce(v.name, 'vendor ' || a.partner_id) AS vendor",
               "LEFT JOIN dim_partner v ON v.id = a.partner_id"),
    "category": ("p.category_id", f"a.category_id, {CATEGORY_LABEL.format(c='c')} AS category, "
                 f"{DEPARTMENT.format(c='c')} AS department", "LEFT JOIN dim_category c ON c.id = a.category_id"),
    "department": ("d.department", "a.department", ""),   # an order spans categories: counted per department
    "product": ("f.product_id, p.category_id", "a.product_id, p.default_code AS code, p.name AS product, "
                f"{CATEGORY_LABEL.format(c='c')} AS category",
                "LEFT JOIN dim_product p ON p.id = a.product_id LEFT JOIN dim_category c ON c.id = a.category_id"),
}
DEPARTMENTS = f"(SELECT id, {DEPARTMENT.format(c='dim_category')} AS department FROM dim_category)"


def _names(columns: str) -> str:
    """The names of ``columns`` ("f.partner_id, p.category_id" -> "partner_id, category_id")."""
    return ", ".join(column.strip().rsplit(".", 1)[-1] for column in columns.split(","))


PURCHASE_SUMS = """count(DISTINCT f.order_id) AS orders, count(*) AS lines, sum(f.price_subtotal) AS spend,
    sum(f.product_qty) AS ordered_qty, sum(f.qty_received) AS received_qty, sum(f.qty_invoiced) AS invoiced_qty,
    sum(f.product_qty * f.price_unit) AS ordered_value, sum(f.qty_received * f.price_unit) AS received_value,
    sum(f.qty_invoiced * f.price_unit) AS invoiced_value"""


@query("fact_purchases", "fact_inventory_moves", "dim_product", "dim_category", "dim_partner", "dim_location",
       "dim_store", before=RECEIPT_WINDOW_DAYS, after=RECEIPT_WINDOW_DAYS, only_if=PURCHASE_ONLY_IF)
def purchases_by(db: Dashboard, f: Filters, by: PurchasesBy = "vendor") -> pd.DataFrame:
    """Confirmed purchases per vendor, category, department or product: orders, lines,
    spend (untaxed), ordered / received / invoiced quantities and values (qty x unit
    price), received_pct and invoiced_pct of the ordered value; by spend, largest first.
    Sums by ids first, then the labels."""
    ids, select, joins = PURCHASE_KEYS[_choice("by", by, get_args(PurchasesBy))]
    departments = f"LEFT JOIN {DEPARTMENTS} d ON d.id = p.category_id" if by == "department" else ""
    frame = db.sql(f"purchases_by_{by}", f"""
        WITH a AS (
            SELECT {ids}, {PURCHASE_SUMS}
            FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id {departments}
            WHERE {_purchase_where(f)}
            GROUP BY ALL)
        SELECT {select}, a.* EXCLUDE ({_names(ids)})
        FROM a {joins}
        ORDER BY spend DESC, 1""",
        _purchase_params(db, f), {**f.log_params(), "by": by})
    frame["received_pct"] = frame["received_value"] / frame["ordered_value"].where(frame["ordered_value"] != 0)
    frame["invoiced_pct"] = frame["invoiced_value"] / frame["ordered_value"].where(frame["ordered_value"] != 0)
    return frame


@query("fact_purchases", "fact_inventory_moves", "dim_product", "dim_category", "dim_location", "dim_store",
       before=RECEIPT_WINDOW_DAYS, after=RECEIPT_WINDOW_DAYS, only_if=PURCHASE_ONLY_IF)
def purchase_fulfilment(db: Dashboard, f: Filters, grain: Grain = "week") -> pd.DataFrame:
    """Ordered vs received vs invoiced value per period of the order date:
    period, stage ('ordered'|'received'|'invoiced'), value, qty; every period present."""
    frame = db.sql("purchase_fulfilment", f"""
        SELECT {PERIOD.format(a='f.')} AS period, {PURCHASE_SUMS}
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        WHERE {_purchase_where(f)}
        GROUP BY ALL ORDER BY period""", _purchase_params(db, f, grain=_grain(grain)),
        {**f.log_params(), "grain": grain})
    frame = _fill_periods(frame, f, grain, ())
    stages = [frame[["period"]].assign(stage=stage, value=frame[f"{stage}_value"], qty=frame[f"{stage}_qty"])
              for stage in ("ordered", "received", "invoiced")]
    return pd.concat(stages, ignore_index=True)


OPEN_LINE = "(f.qty_received < f.product_qty OR f.qty_invoiced < f.qty_received)"   # not all received or invoiced
OPEN_VALUE = "greatest(f.product_qty - f.qty_received, 0) * f.price_unit"              # the value still to receive


@query("fact_purchases", "fact_inventory_moves", "dim_product", "dim_category", "dim_partner", "dim_location",
       "dim_store", before=RECEIPT_WINDOW_DAYS, after=RECEIPT_WINDOW_DAYS, only_if=PURCHASE_ONLY_IF)
def open_purchases(db: Dashboard, f: Filters, vendors: tuple[int, ...] = ()) -> pd.DataFrame:
    """Purchase lines not fully received or not fully invoiced (of ``vendors`` if given):
    order, date, vendor, product, ordered / received / invoiced qty, to_receive,
    to_invoice, open_value (value still to receive); by date then order."""
    vendors = _ids("vendor", vendors)
    return db.sql("open_purchases", f"""
        SELECT f.order_ref, f.date, f.partner_id AS vendor_id, coalesce(v.name, 'vendor ' || f.partner_id) AS vendor,
               p.default_code AS code,
               p.name AS product, f.product_qty AS ordered_qty, f.qty_received AS received_qty,
               f.qty_invoiced AS invoiced_qty, f.product_qty - f.qty_received AS to_receive,
               f.qty_received - f.qty_invoiced AS to_invoice,
               {OPEN_VALUE} AS open_value
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        LEFT JOIN dim_partner v ON v.id = f.partner_id
        WHERE {_purchase_where(f)} AND {OPEN_LINE}
          AND (len($vendors::BIGINT[]) = 0 OR list_contains($vendors::BIGINT[], f.partner_id))
        ORDER BY f.date, f.order_ref, f.line_id""", _purchase_params(db, f, vendors=list(vendors)),
        {**f.log_params(), "vendors": list(vendors)})


@query("fact_purchases", "fact_inventory_moves", "dim_product", "dim_location", "dim_store",
       before=RECEIPT_WINDOW_DAYS, after=RECEIPT_WINDOW_DAYS, only_if=PURCHASE_ONLY_IF)
def purchases_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: orders, lines, spend, vendors, received_pct and invoiced_pct of the ordered
    value, open_value (still to receive): the totals of :func:`purchases_by` (per vendor)
    and :func:`open_purchases` in one statement (tests hold them equal)."""
    frame = db.sql("purchases_summary", f"""
        SELECT count(DISTINCT f.order_id) AS orders, count(*) AS lines, coalesce(sum(f.price_subtotal), 0) AS spend,
               count(DISTINCT f.partner_id) + (count(*) FILTER (WHERE f.partner_id IS NULL) > 0)::INTEGER AS vendors,
               sum(f.qty_received * f.price_unit) / nullif(sum(f.product_qty * f.price_unit), 0) AS received_pct,
               sum(f.qty_invoiced * f.price_unit) / nullif(sum(f.product_qty * f.price_unit), 0) AS invoiced_pct,
               coalesce(sum({OPEN_VALUE}) FILTER (WHERE {OPEN_LINE}), 0) AS open_value
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        WHERE {_purchase_where(f)}""", _purchase_params(db, f), f.log_params())
    return frame.astype({"orders": "int64", "lines": "int64", "vendors": "int64"})


def has_purchases(db: Dashboard, f: Filters) -> bool:
    return _readable(db, f, "purchases") and not purchases_by(db, f, "vendor").empty


# The queries each dashboard runs (its has_* check looks at every file they read).
DASHBOARD_QUERIES: dict[str, tuple[Callable[..., Any], ...]] = {
    "sales": (sales_summary, sales_trend, sales_by_store, sales_by_channel, profit_by, category_tree, stores,
              _product_labels),
    "inventory": (inventory_summary, stock_levels, stock_moves, slow_movers, stock_outs, category_tree, stores,
                  _product_labels, _warehouse_names),
    "purchases": (purchases_summary, purchases_by, purchase_fulfilment, open_purchases, category_tree, stores),
}


# ----------------------------------------------------------------------------- freshness
FRESHNESS_KINDS = {"ok": "success", "late": "warn", "critical": "danger"}


@dataclass(frozen=True)
class Badge:
    """What a dashboard shows about the freshness of its data.

    ``kind`` is a ``mo.callout`` kind (success, warn, danger); ``text`` one markdown line.
    """

    status: str
    kind: str
    text: str
    last_loaded: dt.date | None
    missing_in_period: tuple[dt.date, ...]


def freshness_badge(db: Dashboard, datasets: Sequence[str], f: Filters | None = None,
                    today: dt.date | None = None) -> Badge:
    """The freshness of the ``datasets`` a dashboard reads (the least fresh one speaks).

    Uses the metadata store (last loaded date, failed dates, SLA status: yesterday loaded
    is on target, more than 3 days behind is critical); without one, the lake's listing.
    ``missing_in_period``: dates of ``f``'s range with no data for some dataset.
    """
    today = today or _today()
    rows = _freshness(db, datasets, today)
    worst = max(rows, key=lambda r: (_RANK[r["status"]], 10**6 if r["lag"] is None else r["lag"]))
    last = worst["last"]
    if last is None:
        return Badge(worst["status"], FRESHNESS_KINDS[worst["status"]],
                     f"**No data loaded yet** for {worst['title']}.", None, ())
    missing = tuple(sorted({d for r in rows for d in r["missing"] if f and f.start <= d <= f.end}))
    failed = sorted({d for r in rows for d in r["failed"]})
    text = f"Data up to **{last:%a %d %b %Y}** ({_ago((today - last).days)}) — {SLA_TEXT[worst['status']]}."
    if missing:
        text += f" {len(missing)} date(s) of this period not loaded: {cal.format_spans(missing)}."
    if failed:
        text += f" {len(failed)} failed load(s): {cal.format_spans(failed)}."
    return Badge(worst["status"], FRESHNESS_KINDS[worst["status"]], text, last, missing)


SLA_TEXT = {"ok": "on target", "late": "late", "critical": "critical: more than 3 days behind"}
_RANK = {"ok": 0, "late": 1, "critical": 2}


def _freshness(db: Dashboard, datasets: Sequence[str], today: dt.date) -> list[dict[str, Any]]:
    meta = db.meta
    if meta is not None:
        return [{"title": REGISTRY[r.dataset].title, "status": r.status, "last": r.last_loaded, "lag": r.lag_days,
                 "missing": r.missing, "failed": r.failed} for r in meta.freshness(list(datasets), today)]
    rows = []
    for name in datasets:
        on_disk = set.intersection(*(set(db.lake.partitions(t)) for t in REGISTRY[name].table_names))
        last = max(on_disk, default=None)
        first = min(on_disk, default=today - dt.timedelta(days=1))
        lag = (today - last).days if last else None
        status = "critical" if lag is None or lag > 3 else "late" if lag >= 2 else "ok"
        missing = [d for d in cal.days(first, today - dt.timedelta(days=1)) if d not in on_disk]
        rows.append({"title": REGISTRY[name].title, "status": status, "last": last, "lag": lag,
                     "missing": missing, "failed": []})
    return rows


def _ago(days: int) -> str:
    return {0: "today", 1: "yesterday"}.get(days, f"{days} days ago")
