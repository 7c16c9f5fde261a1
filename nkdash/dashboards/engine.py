"""The query engine of the dashboards: cached, timed, read-only queries over the lake.

Each page module (sales, profit, inventory, purchases) declares its queries with
:func:`query`; each returns a pandas DataFrame.

Every query

- reads the smallest aggregate that answers it: ``agg_sales_daily`` (sales, margin,
  units per date, channel, store, category) and ``agg_orders_daily`` (orders, refunds,
  baskets per date, channel, store); ``agg_profit_daily`` per product; the fact tables
  only for what no aggregate holds (orders of a category selection from ``fact_sales``,
  stock from ``fact_stock_quants``, moves, purchases);
- reads the aggregates and dimensions from memory: :class:`~nkdash.dashboards.memtables.Memory`
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
  mtime (:class:`~nkdash.lake.listing.Listing`); a miss that another thread is computing is
  waited for, not computed twice;
- is timed: each execution (a cache miss) goes to ``MetaStore.record_query`` for
  ``nkdash monitor``.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, cast

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from nkdash.dashboards.filters import CONDITIONS, Filters
from nkdash.dashboards.memtables import ROLLUP_OF, ROLLUPS, Memory, held_name
from nkdash.dashboards.rounding import tidy
from nkdash.errors import LakeError, MetadataError
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.lake import WHOLE, DataFile, Lake, Problem
from nkdash.lake.layout import PARTITION_COLUMNS, READ_ATTEMPTS
from nkdash.lake.listing import Listing
from nkdash.lake.months import partition_expression
from nkdash.lake.reader import LOCAL_FS, swapped_out
from nkdash.meta import FILE_NAME, MetaStore
from nkdash.settings import get_settings

if TYPE_CHECKING:
    from nkdash.dashboards.filters import Condition


log = logging.getLogger(__name__)


CACHE_SIZE = 256


META_RETRY = 60.0  # seconds before a damaged metadata store is tried again


SCHEMAS: dict[str, pa.Schema] = {t.name: t.schema for spec in REGISTRY.values() for t in spec.tables}


# The dashboards' DuckDB reads registered Arrow datasets only: no file access at all (no
# COPY, ATTACH, read_csv, INSTALL), settings locked; one thread: on small per-request scans
# it is the fastest, and float sums come out the same on every run.
READ_ONLY = {"threads": 1, "enable_external_access": False, "lock_configuration": True}


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


P = ParamSpec("P")
T = TypeVar("T")


class Query(Protocol[P]):
    """A function declared with :func:`query`: called with a :class:`Dashboard` first, and
    what it reads."""

    reads: Reads
    __name__: str

    def __call__(self, db: Dashboard, /, *args: P.args, **kwargs: P.kwargs) -> pd.DataFrame: ...


class Replaced(LakeError):
    """Rows a query held were replaced by another thread's newer listing while it ran."""


class Dashboard:
    """Read-only access to one lake for the dashboards: cached, timed queries.

    One instance can serve many threads (marimo sessions): they share one in-memory DuckDB
    (:class:`~nkdash.memtables.Memory`: the small aggregates and dimensions held as native
    tables), each thread with its own cursor; the result cache is shared, and a cache miss
    being computed is computed once: other threads asking for it wait for its result.
    """

    def __init__(
        self,
        lake: Lake | Path | str | None = None,
        *,
        meta: MetaStore | Literal["auto"] | None = "auto",
        cache_size: int = CACHE_SIZE,
    ):
        """``meta``: where timings go and freshness comes from; "auto" = the lake's metadata
        store once the ETL has created it (dashboards never create it); None = nowhere."""
        self.lake = Lake(_root(lake), read_only=True)
        self._meta = meta
        self._meta_failed_until = 0.0
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.damage: dict[Filters, list[Problem]] = {}  # what has_* found damaged, for no_data
        self._footers: dict[tuple[Path, int, int], str] = {}
        self._running: dict[tuple, Future[pd.DataFrame]] = {}  # cache misses being computed, by key
        self._memory: Memory | None = None
        self._lookups: dict[tuple, tuple[tuple[DataFile, ...], Any]] = {}  # see lookup()
        self.listing = Listing(self.lake)

    def __repr__(self) -> str:
        return f"Dashboard({str(self.lake.root)!r})"

    @property
    def meta(self) -> MetaStore | None:
        """The lake's metadata store; None without one, or while it is damaged (the pages then
        read freshness from the lake's files; asked again after :data:`META_RETRY` seconds)."""
        if self._meta == "auto" and (self.lake.meta_dir / FILE_NAME).is_file():
            if time.monotonic() < self._meta_failed_until:
                return None
            try:
                self._meta = MetaStore.for_lake(self.lake)
            except MetadataError as exc:
                log.warning("dashboards without the metadata store: %s", exc)
                self._meta_failed_until = time.monotonic() + META_RETRY
        return None if self._meta == "auto" else self._meta

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
            time.sleep(0.001 * 2**attempt)
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
        if running is not None:  # another thread computes it: wait for its answer
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

    def _compute(
        self,
        reads: Reads,
        filters: Filters | None,
        files: dict[str, tuple[DataFile, ...]],
        compute: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        """``compute()`` with its SQL over ``files``: the held tables loaded (and their rows
        pinned in memory), the others read from the listed files (one a writer swapped out
        meanwhile fails the query as ``swapped_out``: :meth:`run` lists again)."""
        held = []
        try:
            for table, listed in files.items():
                if self.memory.hold(table, listed, *_table_span(reads, filters, table, listed)):
                    held.append(table)
            stack = self._local.__dict__.setdefault("files", [])
            stack.append((files, frozenset(held), filters))
            try:
                frame = compute()
            finally:
                stack.pop()
            if any(self.memory.replaced(table) for table in held):
                raise Replaced(
                    "a newer listing replaced rows of this query's files while it ran: run again", self.lake.root
                )
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
            return ""  # replaced since it was listed: the next listing has its successor
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
        day = last_date(listed, start, end)
        return tuple(f for f in listed if day in f.dates) if day is not None else ()

    def sql(
        self, name: str, sql: str, params: dict[str, Any], log_params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run ``sql`` with ``params`` bound (only those it names), timed and recorded."""
        return self._execute(name, sql, params, log_params, duckdb.DuckDBPyConnection.df, len)

    def arrays(
        self, name: str, sql: str, params: dict[str, Any], log_params: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`sql`'s columns as numpy arrays (NULLs masked), no frame built: for a query
        that computes on its result and builds its frame once (each frame costs ~1 ms)."""
        found = self._execute(
            name,
            sql,
            params,
            log_params,
            duckdb.DuckDBPyConnection.fetchnumpy,
            lambda columns: len(next(iter(columns.values()), ())),
        )
        return cast(dict[str, np.ndarray], found)  # Categorical only for ENUM columns: the dashboards have none

    def _execute(
        self,
        name: str,
        sql: str,
        params: dict[str, Any],
        log_params: dict[str, Any] | None,
        fetch: Callable[[duckdb.DuckDBPyConnection], T],
        rows: Callable[[T], int],
    ) -> T:
        started = time.perf_counter()
        con, held = self._connection()
        sql, names = _rewrite(sql, held)
        bound = {k: v for k, v in params.items() if k in names}
        try:
            out = fetch(con.execute(sql, bound))
        except duckdb.Error as exc:
            raise LakeError(
                f"dashboard query {name} failed: {str(exc).splitlines()[0]} (a damaged partition? "
                "the Recovery page finds and repairs them)",
                self.lake.root,
            ) from exc
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
        except Exception:  # monitoring must never break a dashboard
            log.warning("could not record the timing of %s", name, exc_info=True)

    def bind(self, f: Filters, **extra: Any) -> dict[str, Any]:
        """The parameters every query may use: dates, store ids, categories with descendants."""
        return {
            "start": f.start,
            "end": f.end,
            "stores": list(f.stores),
            "categories": self.descendants(f.categories),
            **extra,
        }

    def lookup(self, table: str, build: Callable[[Dashboard], T]) -> T:
        """``build(self)``, computed once per version of the dimension ``table``'s file (a
        lookup the queries share: category children, labels by id). Not a copy: do not
        change it."""
        listed = self.listing.data_files(table)
        key = (table, build)
        known = self._lookups.get(key)
        if known is not None and known[0] == listed:
            return cast(T, known[1])  # stored by build, keyed by build
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
    sql = re.sub(
        rf"\b({'|'.join(names)})\b",
        lambda m: (
            held_name(m[1])
            if m[1] in held or ROLLUP_OF.get(m[1]) in held
            else ROLLUPS[ROLLUP_OF[m[1]]].source(ROLLUP_OF[m[1]])
        ),
        sql,
    )
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


def query(
    *tables: str,
    before: int = 0,
    after: int = 0,
    only_if: dict[str, Condition] | None = None,
    snapshot: tuple[str, ...] = (),
    name: str | None = None,
    rounds: bool = False,
) -> Callable[[Callable[Concatenate[Dashboard, P], pd.DataFrame]], Query[P]]:
    """Declare a dashboard query reading ``tables`` (those in ``only_if`` only when the
    filters meet the condition; those in ``snapshot`` at one date, see :class:`Reads`):
    cached per lake state, its SQL timed, its float columns rounded by :func:`~nkdash.dashboards.rounding.tidy`
    (``rounds``: the query rounds them itself, with :func:`~nkdash.dashboards.rounding.rounded`). ``name``: the
    query's name in the cache (default: the function's)."""
    reads = Reads(tables, before, after, tuple((only_if or {}).items()), snapshot)

    def wrap(fn: Callable[Concatenate[Dashboard, P], pd.DataFrame]) -> Query[P]:
        @functools.wraps(fn)
        def run(db: Dashboard, *args: P.args, **kwargs: P.kwargs) -> pd.DataFrame:
            key = (*args, *sorted(kwargs.items()))
            finish = _as_is if rounds else tidy
            return db.run(name or fn.__name__, reads, key, lambda: finish(fn(db, *args, **kwargs)))

        declared = cast(Query[P], run)  # run plus the attribute set next
        declared.reads = reads
        return declared

    return wrap


def reading(reads: Reads) -> Callable[[Callable[Concatenate[Dashboard, P], pd.DataFrame]], Query[P]]:
    """Give a plain function that dispatches to queries what those read (``fn.reads``, as
    :func:`query` does), without caching it itself."""

    def give(fn: Callable[Concatenate[Dashboard, P], pd.DataFrame]) -> Query[P]:
        declared = cast(Query[P], fn)  # fn plus the attribute set next
        declared.reads = reads
        return declared

    return give


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


class Snapshot:
    """A listing as a cache key: equal when the files are (exact), its hash computed once."""

    __slots__ = ("_hash", "files")

    def __init__(self, files: dict[str, tuple[DataFile, ...]]):
        self.files = tuple(files.items())
        self._hash = hash(self.files)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self._hash == other._hash and self.files == other.files


def _filters_in(args: tuple) -> Filters | None:
    return next((a for a in args if isinstance(a, Filters)), None)


def last_date(files: Iterable[DataFile], start: dt.date, end: dt.date) -> dt.date | None:
    return max((d for f in files for d in f.dates if start <= d <= end), default=None)


def _table_span(
    reads: Reads, filters: Filters | None, table: str, files: Sequence[DataFile]
) -> tuple[dt.date | None, dt.date | None]:
    """The dates of ``table`` a query reads: all (a dimension, no filters), its snapshot
    date, or the filter range widened by ``reads``."""
    if table in WHOLE or filters is None:
        return None, None
    if table in reads.snapshot:
        day = last_date(files, filters.start, filters.end)
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
    return ds.FileSystemDataset.from_paths(
        [str(f.path) for f in files],
        schema=schema,
        format=ds.ParquetFileFormat(),
        filesystem=LOCAL_FS,
        partitions=partitions,
    )


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
