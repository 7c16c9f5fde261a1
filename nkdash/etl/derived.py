"""Derived tables: tables computed from another table of the lake, found and rebuilt from it.

The profit ETL writes ``fact_sales`` and, from it alone, the aggregates ``agg_profit_daily``,
``agg_sales_daily`` and ``agg_orders_daily`` (:func:`nkdash.etl.datasets.profit.aggregates`).
A lake written by an older nkdash has no partitions of an aggregate added since, and a
write killed between two tables of a date leaves an aggregate older than its source. Such
dates need no Odoo: :func:`backfill` rebuilds them from the lake.

- :func:`gaps` finds them: a date of the source whose derived partition is missing, or
  present but not the one the profit run recorded with the source (the metadata store's
  checksum of the date covers every table of the dataset). ``deep`` recomputes every date.
- :func:`backfill` recomputes a gap's tables from the source partition, compares them with
  what is on disk and writes those that differ through :meth:`Lake.write_partition` (atomic
  per table and date). A date in a compacted month gets a daily partition, as any write
  does; the month is compacted again afterwards when its source month is compacted, so a
  derived table keeps its source's layout. Lock-free against a concurrent profit run: the
  source's checksum is read before and after, and a date whose source changed meanwhile is
  done again. The date's partition record is updated like the ETL's (rows, combined
  checksum) when it says ``loaded``; a ``stale`` or ``failed`` date keeps its status (it
  still needs Odoo). Each date written is recorded as a ``profit`` run.

Callers: ``nkdash backfill``, the runbook, ``nkdash up`` and the nightly profit job (before
they plan what to reload from Odoo), and the recovery page's repair.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from nkdash import dates as cal
from nkdash.errors import InputError, LakeError
from nkdash.etl.datasets import get, profit
from nkdash.etl.runner import combined_checksum
from nkdash.lake import Compaction, Lake, PartitionInfo
from nkdash.meta import MetaStore, Trigger
from nkdash.settings import get_settings

ATTEMPTS = 3  # a date whose source is rewritten while it is rebuilt is done again, at most this often


@dataclass(frozen=True)
class Derivation:
    """``tables`` of ``dataset`` are ``compute(source partition)`` of the same date."""

    dataset: str
    source: str
    tables: tuple[str, ...]
    compute: Callable[[pa.Table], Mapping[str, pa.Table]]


PROFIT = Derivation(
    "profit", profit.SALES.name, (profit.AGG.name, profit.SALES_AGG.name, profit.ORDERS_AGG.name), profit.aggregates
)


DERIVATIONS: tuple[Derivation, ...] = (PROFIT,)


@dataclass(frozen=True)
class Gap:
    """A date whose derived tables must be rebuilt: ``missing`` ones, and ``unverified`` ones
    (present, but not recorded with the source: rebuilt if they differ)."""

    derivation: Derivation
    date: dt.date
    missing: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()


@dataclass
class BackfillReport:
    dry_run: bool
    gaps: list[Gap] = field(default_factory=list)
    written: dict[str, list[dt.date]] = field(default_factory=dict)  # per table: dates written
    recorded: list[dt.date] = field(default_factory=list)  # partition records updated
    compacted: list[Compaction] = field(default_factory=list)
    failed: list[tuple[dt.date, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def dates(self) -> list[dt.date]:
        return sorted({d for dates in self.written.values() for d in dates})

    def text(self) -> str:
        if not self.gaps:
            return "derived tables: every date of their source has them, as recorded"
        missing = sorted({g.date for g in self.gaps if g.missing})
        head = (
            f"derived tables: {len(self.gaps)} date(s) to verify or rebuild from the lake"
            f" ({len(missing)} with missing partitions)"
        )
        if self.dry_run:
            lines = [head + " (dry run: nothing written)"]
            for table in dict.fromkeys(t for g in self.gaps for t in (*g.missing, *g.unverified)):
                gone = [g.date for g in self.gaps if table in g.missing]
                check = [g.date for g in self.gaps if table in g.unverified]
                lines.append(
                    f"  {table:<18} missing {cal.format_spans(gone) or '-'}; to verify {cal.format_spans(check) or '-'}"
                )
            return "\n".join(lines)
        lines = [head]
        lines += [
            f"  {table:<18} rebuilt {len(dates)} date(s): {cal.format_spans(dates)}"
            for table, dates in self.written.items()
            if dates
        ]
        lines.append(
            f"  unchanged (verified) {len(self.gaps) - len(self.dates) - len(self.failed)} date(s); "
            f"partition records updated: {len(self.recorded)}"
        )
        lines += [f"  compacted {c.table} {c.month} again ({c.files_before} files -> 1)" for c in self.compacted]
        lines += [f"  FAILED {day}: {error}" for day, error in self.failed]
        return "\n".join(lines)


def derivations(datasets: Iterable[str] | None = None) -> tuple[Derivation, ...]:
    """The derivations of ``datasets`` (default: all)."""
    wanted = None if datasets is None else set(datasets)
    return tuple(d for d in DERIVATIONS if wanted is None or d.dataset in wanted)


def missing_dates(lake: Lake, datasets: Iterable[str] | None = None) -> dict[str, list[dt.date]]:
    """Per dataset: the dates of its source lacking a derived partition (listings only)."""
    found = {}
    for derivation in derivations(datasets):
        present = [set(lake.partitions(t)) for t in derivation.tables]
        found[derivation.dataset] = [
            d for d in lake.partitions(derivation.source) if any(d not in dates for dates in present)
        ]
    return found


def gaps(
    lake: Lake,
    meta: MetaStore,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    deep: bool = False,
    datasets: Iterable[str] | None = None,
) -> list[Gap]:
    """Dates in ``start..end`` whose derived tables are missing or unverified (see the module
    docstring), by date. Reads listings, footers and the metadata; hashes daily files."""
    found = []
    for derivation in derivations(datasets):
        present = {t: set(lake.partitions(t)) for t in derivation.tables}
        records = {p["date"]: p for p in meta.partitions(derivation.dataset)}
        for day in lake.partitions(derivation.source):
            if (start and day < start) or (end and day > end):
                continue
            missing = tuple(t for t in derivation.tables if day not in present[t])
            if missing or deep or not _as_recorded(lake, records.get(day), derivation.dataset, day):
                found.append(Gap(derivation, day, missing, tuple(t for t in derivation.tables if t not in missing)))
    return sorted(found, key=lambda g: (g.date, g.derivation.dataset))


def _as_recorded(lake: Lake, record: dict | None, dataset: str, day: dt.date) -> bool:
    """Whether the date's tables are exactly those its partition record's checksum covers."""
    if not record or not record["checksum"]:
        return False
    try:
        return bool(combined_checksum(_infos(lake, dataset, day)) == record["checksum"])
    except LakeError:
        return False


def _infos(lake: Lake, dataset: str, day: dt.date) -> list[PartitionInfo]:
    return [lake.info(table, day) for table in get(dataset).table_names]


def backfill(
    lake: Lake | Path | str | None = None,
    *,
    meta: MetaStore | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    deep: bool = False,
    dry_run: bool = False,
    datasets: Iterable[str] | None = None,
    trigger: Trigger = "manual",
    task_id: str | None = None,
) -> BackfillReport:
    """Rebuild the derived tables of every :func:`gaps` date in ``start..end`` from the lake
    (default: the configured one); see the module docstring."""
    if start and end and end < start:
        raise InputError(f"end date {end} is before start date {start}", end)
    if not isinstance(lake, Lake):
        lake = Lake(get_settings().lake if lake is None else lake, read_only=dry_run)
    meta = meta or MetaStore.for_lake(lake, read_only=dry_run)
    report = BackfillReport(dry_run, gaps(lake, meta, start=start, end=end, deep=deep, datasets=datasets))
    if dry_run:
        return report
    months: set[tuple[Derivation, int, int]] = set()
    for gap in report.gaps:
        try:
            written = _rebuild(lake, meta, gap, trigger, task_id, report)
        except (LakeError, OSError, pa.ArrowException) as exc:
            report.failed.append((gap.date, f"{type(exc).__name__}: {exc}"))
            continue
        for table in written:
            report.written.setdefault(table, []).append(gap.date)
        if written:
            months.add((gap.derivation, gap.date.year, gap.date.month))
    for derivation, year, month in sorted(months, key=lambda m: (m[0].dataset, m[1], m[2])):
        report.compacted += _compact_like_source(lake, derivation, year, month)
    return report


def _rebuild(
    lake: Lake, meta: MetaStore, gap: Gap, trigger: Trigger, task_id: str | None, report: BackfillReport
) -> list[str]:
    """Write the gap's tables that differ from what the source gives; record the date."""
    derivation, day = gap.derivation, gap.date
    run_id, written = None, []
    for _ in range(ATTEMPTS):
        source = lake.info(derivation.source, day)
        tables = derivation.compute(lake.read_partition(derivation.source, day))
        for name in derivation.tables:
            if name in gap.missing or not _same(lake, name, day, tables[name]):
                if run_id is None:
                    run_id = meta.start_run(derivation.dataset, day, trigger, task_id=task_id)
                lake.write_partition(name, day, tables[name])
                written.append(name)
        if lake.info(derivation.source, day).checksum == source.checksum:
            break
        gap = Gap(derivation, day, (), derivation.tables)  # the source changed meanwhile: again
    else:
        raise LakeError(f"{derivation.source} {day} kept changing while its derived tables were rebuilt", day)
    infos = _infos(lake, derivation.dataset, day)
    rows, checksum = sum(i.rows for i in infos), combined_checksum(infos)
    if run_id is not None:
        meta.finish_run(run_id, status="success", rows=rows, checksum=checksum, bytes=sum(i.bytes for i in infos))
    record = meta.partition(derivation.dataset, day)
    if record and record["status"] == "loaded" and record["checksum"] != checksum:
        meta.set_partition(
            derivation.dataset,
            day,
            status="loaded",
            rows=rows,
            checksum=checksum,
            run_id=run_id,
            source_max_write_date=record["source_max_write_date"],
        )
        report.recorded.append(day)
    return [t for t in derivation.tables if t in written]


def _same(lake: Lake, table: str, day: dt.date, expected: pa.Table) -> bool:
    try:
        return bool(lake.read_partition(table, day).equals(expected))
    except LakeError:
        return False


def _compact_like_source(lake: Lake, derivation: Derivation, year: int, month: int) -> list[Compaction]:
    """Compact the month of every derived table whose source month is compacted."""
    layout = next((m for m in lake.months(derivation.source) if (m.year, m.month) == (year, month)), None)
    if layout is None or not layout.compacted:
        return []
    done = [lake.compact_month(table, year, month) for table in derivation.tables]
    return [c for c in done if c is not None]
