"""The ETL runner: one dataset x one business date is one unit of work.

- :func:`refresh` loads a list of dates (a loop of units, with a progress bar on a
  terminal). Before the dated units it syncs the dimensions incrementally and, for a
  dataset built from others (profit), loads the inputs it lacks. Every unit is recorded
  in the metadata store (run and partition: rows, Odoo's count and totals, checksum,
  duration, status, error); a failed unit is recorded and the loop goes on.
- Re-running a date atomically replaces its partition; same data -> same checksum.
- :func:`plan` lists the dates a dataset needs: missing, failed and stale ones (stale:
  changed in Odoo since they were loaded, see :mod:`nkdash.etl.changes`). Reloading a
  pos/invoices date whose content changed marks the dependent profit date stale.
- :func:`catch_up` = plan + refresh: what the daily schedule runs.
- Every run first checks that the configured Odoo is the one the lake holds
  (:func:`check_source`): one lake, one Odoo database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from nkdash import dates as cal
from nkdash.errors import NKDashError, OdooError, SourceMismatch
from nkdash.etl.changes import due_dates, start_watermarks
from nkdash.etl.datasets import Context, Dataset, dependents, get
from nkdash.lake import Lake, PartitionInfo
from nkdash.meta import MetaStore, Trigger
from nkdash.odoo import OdooClient, OdooSource, business_tz, connect, identify
from nkdash.settings import Settings, get_settings

log = logging.getLogger(__name__)


Status = Literal["success", "failed"]


@dataclass(frozen=True)
class UnitResult:
    """The outcome of one dataset x date."""

    dataset: str
    date: dt.date | None  # None for whole tables (dimensions)
    status: Status
    rows: int = 0
    seconds: float = 0.0
    checksum: str | None = None
    error: str | None = None


@dataclass
class RunReport:
    """What a refresh did, unit by unit (inputs and dimensions included)."""

    dataset: str
    units: list[UnitResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[UnitResult]:
        return [u for u in self.units if u.status == "failed"]

    @property
    def failed_dates(self) -> list[dt.date]:
        return sorted({u.date for u in self.failed if u.dataset == self.dataset and u.date})

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)

    @property
    def seconds(self) -> float:
        return sum(u.seconds for u in self.units)

    def summary(self) -> str:
        """A few lines for a terminal or a notebook."""
        spec = get(self.dataset)
        dated = [u.date for u in self.units if u.dataset == self.dataset and u.date]
        scope = f"{len(dated)} date(s) {cal.format_spans(dated)}" if spec.partitioned else "whole tables"
        lines = [
            f"{spec.title}: {scope}, "
            f"{len(self.units) - len(self.failed)}/{len(self.units)} unit(s) ok, "
            f"{self.rows} rows in {self.seconds:.1f}s"
        ]
        lines += [f"  FAILED {u.dataset} {u.date or ''}: {u.error}" for u in self.failed]
        return "\n".join(lines)


@contextlib.contextmanager
def session(
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
    dates: Sequence[dt.date] = (),
    full: bool = False,
) -> Iterator[Context]:
    """A run's context: Odoo connection, lake, metadata store, timezone, caches; the lake's
    source checked first (:func:`check_source`)."""
    settings = settings or get_settings()
    client = client or connect(settings)
    lake = lake or Lake(settings.lake)
    meta = MetaStore.for_lake(lake)
    check_source(meta, identify(client, settings), lake)
    yield Context(
        client=client, lake=lake, meta=meta, tz=business_tz(settings, client), dates=tuple(sorted(dates)), full=full
    )


def check_source(meta: MetaStore, source: OdooSource, lake: Lake) -> None:
    """Record the lake's Odoo on its first run; later, refuse another one (:class:`SourceMismatch`)
    before anything is read or written: one lake holds one Odoo database."""
    recorded = meta.source() or meta.record_source(source.url, source.db, source.company, source.uuid)
    _refuse_if_other(recorded, source, lake)


def _refuse_if_other(recorded: dict, source: OdooSource, lake: Lake) -> None:
    known = OdooSource(recorded["url"], recorded["db"], recorded["company"], recorded["uuid"])
    if not known.same_as(source):
        raise SourceMismatch(lake.root, known.describe(), source.describe())


def refuse_other_source(settings: Settings, client: OdooClient) -> None:
    """:func:`check_source` without writing: a lake that already names another Odoo refuses
    ``client`` (:class:`SourceMismatch`) before a command records anything (a new lake, or
    one without a recorded source, passes: its first run records it)."""
    lake = Lake(settings.lake)
    try:
        recorded = MetaStore.for_lake(lake, read_only=True).source()
    except sqlite3.OperationalError:  # a store of an older schema: the run's migration adds the table
        return
    if recorded is not None:
        _refuse_if_other(recorded, identify(client, settings), lake)


def refresh(
    dataset: str,
    dates: Iterable[dt.date],
    *,
    trigger: Trigger = "manual",
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
    progress: bool = True,
    full: bool = False,
    task_id: str | None = None,
) -> RunReport:
    """Load ``dataset`` for each of ``dates`` (see the module docstring).

    ``full`` reloads the dimensions completely instead of incrementally.
    """
    spec = get(dataset)
    dates = sorted(set(dates))
    report = RunReport(spec.name)
    if not dates:
        return report
    with (
        recorded_if_unstarted(spec.name, dates, trigger, task_id, settings, lake),
        session(settings, client, lake, dates, full) as ctx,
    ):
        _Run(ctx, trigger, task_id, report).all(spec, dates, progress)
    return report


def profit(dates: Iterable[dt.date], **kwargs: Any) -> RunReport:
    """The profit ETL: load missing POS and invoice inputs, then cost and aggregates."""
    return refresh("profit", dates, **kwargs)


def plan(
    dataset: str,
    today: dt.date | None = None,
    *,
    start: dt.date | None = None,
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
) -> list[dt.date]:
    """Dates of ``dataset`` to (re)load up to yesterday: missing, failed or stale.

    Checks Odoo for records changed since the last look and marks their dates stale.
    Missing dates count from ``start``, default the first date loaded (of the dataset
    or its inputs). Dimensions are not dated: their plan is yesterday (an incremental sync).
    """
    with session(settings, client, lake) as ctx:
        return due_dates(ctx, get(dataset), _latest(ctx, today), start)


def catch_up(
    dataset: str,
    today: dt.date | None = None,
    *,
    trigger: Trigger = "schedule",
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
    progress: bool = False,
    task_id: str | None = None,
) -> RunReport:
    """Load every date :func:`plan` lists (the daily job: it also repairs missed days)."""
    with (
        recorded_if_unstarted(get(dataset).name, [], trigger, task_id, settings, lake),
        session(settings, client, lake) as ctx,
    ):
        dates = due_dates(ctx, get(dataset), _latest(ctx, today), None)
        return refresh(
            dataset,
            dates,
            trigger=trigger,
            settings=settings,
            client=ctx.client,
            lake=ctx.lake,
            progress=progress,
            task_id=task_id,
        )


@contextlib.contextmanager
def recorded_if_unstarted(
    dataset: str,
    dates: Sequence[dt.date],
    trigger: Trigger,
    task_id: str | None,
    settings: Settings | None,
    lake: Lake | None,
) -> Iterator[None]:
    """An OdooError escaping a refresh came before any unit ran (Odoo down at login, or while
    planning; units record their own failures): record a failed run per date (one undated
    run if the dates were not known yet) with the reason, and re-raise. The lake is untouched."""
    try:
        yield
    except OdooError as exc:
        if not getattr(exc, "run_recorded", False):
            exc.run_recorded = True
            meta = MetaStore.for_lake(lake or Lake((settings or get_settings()).lake))
            days: Sequence[dt.date | None] = dates or [None]
            for day in days:
                run_id = meta.start_run(dataset, day, trigger, task_id=task_id)
                meta.finish_run(run_id, status="failed", error=describe_error(exc))
        raise


def _latest(ctx: Context, today: dt.date | None) -> dt.date:
    return (today or cal.today(ctx.tz)) - dt.timedelta(days=1)


@dataclass
class _Run:
    """One refresh: runs units and records them."""

    ctx: Context
    trigger: Trigger
    task_id: str | None
    report: RunReport

    def all(self, spec: Dataset, dates: list[dt.date], progress: bool) -> None:
        if spec.partitioned:
            self.unit(get("dimensions"), None)
        for name in spec.inputs:
            for day in dates:
                if not input_ready(self.ctx.meta, self.ctx.lake, name, day):
                    self.unit(get(name), day)
        targets: list[dt.date | None] = list(dates) if spec.partitioned else [None]
        for target in tqdm(targets, desc=spec.title, unit="day", disable=None if progress else True, leave=False):
            self.unit(spec, target)

    def unit(self, spec: Dataset, day: dt.date | None) -> UnitResult:
        ctx, started = self.ctx, time.perf_counter()
        run_id = ctx.meta.start_run(spec.name, day, self.trigger, task_id=self.task_id)
        try:
            result = self._load(spec, day, run_id, started)
        except Exception as exc:  # one failed date must not stop the range
            log.debug("unit %s %s failed", spec.name, day, exc_info=True)
            error = describe_error(exc)
            ctx.meta.finish_run(run_id, status="failed", error=error)
            ctx.meta.set_partition(spec.name, day, status="failed", run_id=run_id, error=error)
            result = UnitResult(spec.name, day, "failed", seconds=time.perf_counter() - started, error=error)
        self.report.units.append(result)
        return result

    def _load(self, spec: Dataset, day: dt.date | None, run_id: int, started: float) -> UnitResult:
        ctx = self.ctx
        ctx.watermarks.clear()
        start_watermarks(ctx, spec)
        for name in spec.inputs:
            assert day is not None  # only dated datasets have inputs
            if not input_ready(ctx.meta, ctx.lake, name, day):
                raise NKDashError(f"input {name} for {day} is not loaded")
        tables, totals = spec.load(ctx, day)
        followers = dependents(spec.name) if day is not None else []
        previous = ctx.meta.partition(spec.name, day) if followers else None
        infos = write_tables(ctx, spec, day, tables)
        rows, checksum, size = sum(i.rows for i in infos), combined_checksum(infos), sum(i.bytes for i in infos)
        ctx.meta.set_partition(
            spec.name,
            day,
            status="loaded",
            rows=rows,
            checksum=checksum,
            run_id=run_id,
            source_max_write_date=max_write_date(tables.values()),
        )
        ctx.meta.finish_run(
            run_id,
            status="success",
            rows=rows,
            source_count=int(totals.get("count", rows)),
            source_totals=totals,
            checksum=checksum,
            bytes=size,
        )
        for key, mark in ctx.watermarks.items():
            ctx.meta.set_mark(key, mark)
        if followers and day is not None and (previous is None or previous["checksum"] != checksum):
            mark_stale_if_loaded(ctx, followers, day, reason=f"{spec.name} {day} reloaded")
        return UnitResult(spec.name, day, "success", rows, time.perf_counter() - started, checksum)


def describe_error(exc: Exception) -> str:
    hint = getattr(exc, "hint", "")
    text = f"{exc}" if isinstance(exc, NKDashError) else f"{type(exc).__name__}: {exc}"
    return text + (f" ({hint})" if hint else "")


def write_tables(ctx: Context, spec: Dataset, day: dt.date | None, tables: dict[str, pa.Table]) -> list[PartitionInfo]:
    """Write a unit's tables: a dated partition each, or the whole dimension tables that
    changed (the others are described as they are). A table whose contract gained columns
    (nullable, at the end) takes the new schema; the partitions written before keep theirs
    and read as null in the new columns until they are reloaded."""
    if day is not None:
        return [ctx.lake.write_partition(t.name, day, tables[t.name], allow_schema_change="widen") for t in spec.tables]
    if tables:
        ctx.clear()  # later units of this run must see the new dimensions
    return [
        ctx.lake.write_whole(t.name, tables[t.name], allow_schema_change="widen")
        if t.name in tables
        else ctx.lake.info(t.name)
        for t in spec.tables
    ]


def combined_checksum(infos: Sequence[PartitionInfo]) -> str:
    """The file's sha256 for one table; a sha256 over ``table:sha256`` pairs for several."""
    if len(infos) == 1:
        return infos[0].checksum
    return hashlib.sha256("\n".join(f"{i.table}:{i.checksum}" for i in infos).encode()).hexdigest()


def max_write_date(tables: Iterable[pa.Table]) -> dt.datetime | None:
    stamps = [pc.max(t.column("write_date")).as_py() for t in tables if "write_date" in t.column_names and t.num_rows]
    return max((s for s in stamps if s is not None), default=None)


def input_ready(meta: MetaStore, lake: Lake, dataset: str, day: dt.date) -> bool:
    """``dataset``'s partition of ``day`` (an input of profit) is loaded, current (not failed
    or stale) and on disk."""
    state = meta.partition(dataset, day)
    return (
        state is not None
        and state["status"] == "loaded"
        and all(lake.has_partition(t, day) for t in get(dataset).table_names)
    )


def mark_stale_if_loaded(ctx: Context, specs: list[Dataset], day: dt.date, reason: str) -> None:
    """A reloaded input changed: the datasets built from it for ``day`` are stale."""
    for spec in specs:
        if ctx.meta.partition(spec.name, day) is not None:
            ctx.meta.mark_stale(spec.name, [day], reason=reason)
