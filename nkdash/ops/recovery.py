"""Recovery: missing, failed and stale dates repaired; the lake scanned, damage quarantined and rebuilt."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from nkdash import alerts
from nkdash import dates as cal
from nkdash.errors import InputError, NKDashError
from nkdash.etl import derived
from nkdash.etl.datasets import DATED, dependents, get
from nkdash.jobs import work
from nkdash.lake import PARTITIONED, WHOLE, Lake, Problem
from nkdash.ops.common import (
    DATASETS,
    TABLE_DATASET,
    Result,
    describe,
    guarded,
    no_progress,
    read_meta,
    stamp_text,
    title_of,
    today,
)
from nkdash.ops.refresh import reload_dimensions
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.ops.common import Progress


REPAIR_LIMIT = cal.MAX_ASYNC_DAYS  # dates repaired per dataset in one call (the most recent ones)


VALIDATE_LIMIT = cal.MAX_ASYNC_DAYS


def due_dates(settings: Settings | None = None) -> dict[str, list[dt.date]]:
    """Per dated dataset: every date to (re)load — missing, failed, stale, or recorded as
    loaded but gone from the lake (deleted by hand, quarantined)."""
    settings = settings or get_settings()
    plan = plan_rows(settings)
    return {row["name"]: row["due"] for row in plan}


def plan_rows(settings: Settings) -> list[dict]:
    """Per dated dataset: freshness, dates gone from the lake, dates whose derived tables the
    lake can rebuild (``derived``: not reloaded from Odoo), and the dates due for a reload."""
    meta, lake = read_meta(settings), Lake(settings.lake, read_only=True)
    rebuildable = derived.missing_dates(lake)
    rows = []
    for f in meta.freshness(DATED, today(settings)):
        present = [set(lake.partitions(t)) for t in get(f.dataset).table_names]
        recorded = [p["date"] for p in meta.partitions(f.dataset) if p["status"] in ("loaded", "stale") and p["date"]]
        rebuilt = set(rebuildable.get(f.dataset, ()))
        gone = sorted(d for d in recorded if d not in rebuilt and any(d not in on_disk for on_disk in present))
        due = sorted({*f.missing, *f.failed, *f.stale, *gone})
        rows.append({"name": f.dataset, "freshness": f, "gone": gone, "derived": sorted(rebuilt), "due": due})
    return rows


def recovery_plan(settings: Settings | None = None) -> pd.DataFrame:
    """The recovery table: per dated dataset, what is missing, failed, stale or gone."""
    settings = settings or get_settings()
    return pd.DataFrame(
        [
            {
                "dataset": title_of(r["name"]),
                "last loaded": r["freshness"].last_loaded,
                "SLA": r["freshness"].status,
                "missing": cal.format_spans(r["freshness"].missing),
                "failed": cal.format_spans(r["freshness"].failed),
                "stale": cal.format_spans(r["freshness"].stale),
                "gone from the lake": cal.format_spans(r["gone"]),
                "aggregates to rebuild": cal.format_spans(r["derived"]),
                "to repair": len(r["due"]),
            }
            for r in plan_rows(settings)
        ]
    )


@dataclass
class RepairPlan:
    """What :func:`repair` will do (a dry run stops here): quarantine and reload the damaged
    partitions, rebuild the derived tables the lake can give (no Odoo), and reload from Odoo
    every date due per dataset (the most recent ``limit`` ones)."""

    problems: list[Problem]  # damaged partitions, dimension tables or stray entries to move aside
    derived: dict[str, list[dt.date]]  # per dataset: dates whose aggregates are rebuilt from the lake
    reload: dict[str, list[dt.date]]  # per dataset: dates reloaded from Odoo
    left: dict[str, int]  # per dataset: due dates beyond the limit, for the next repair

    @property
    def empty(self) -> bool:
        return not (self.problems or any(self.derived.values()) or any(self.reload.values()))

    def text(self) -> str:
        if self.empty:
            return "nothing to repair: the lake scans clean and every dataset is loaded up to yesterday"
        lines = [
            f"quarantine {p.kind} {p.table} {p.date or cal.format_spans(p.dates) or ''}: {p.detail}".rstrip()
            for p in self.problems
        ]
        lines += [
            f"rebuild the aggregates of {title_of(name)} from the lake: {cal.format_spans(dates)}"
            for name, dates in self.derived.items()
            if dates
        ]
        lines += [
            f"reload {title_of(name)} from Odoo: {len(dates)} date(s), {cal.format_spans(dates)}"
            for name, dates in self.reload.items()
            if dates
        ]
        lines += [f"{title_of(name)}: {n} older date(s) left for the next repair" for name, n in self.left.items()]
        return "\n".join(lines)


@dataclass
class RepairReport:
    """What :func:`repair` did: the plan, what was quarantined, loaded and rebuilt, and the
    scan afterwards."""

    plan: RepairPlan
    dry_run: bool
    quarantined: list[Quarantined] = field(default_factory=list)
    backfill: derived.BackfillReport | None = None
    outcomes: list[tuple[str, dt.date, work.Outcome]] = field(default_factory=list)
    dimensions: Result | None = None
    remaining: list[Problem] = field(default_factory=list)

    @property
    def loaded(self) -> list[tuple[str, dt.date]]:
        return [(n, d) for n, d, o in self.outcomes if d in o.loaded]

    @property
    def failed(self) -> list[tuple[str, dt.date, work.Outcome]]:
        return [(n, d, o) for n, d, o in self.outcomes if d not in o.loaded]

    @property
    def ok(self) -> bool:
        return (
            not self.failed
            and (self.backfill is None or self.backfill.ok)
            and (self.dimensions is None or self.dimensions.ok)
            and not [p for p in self.remaining if p.kind != "temp"]
        )

    @property
    def title(self) -> str:
        if self.dry_run:
            return "Repair plan (nothing changed yet)"
        if self.plan.empty:
            return "Nothing to repair"
        done = f"{len(self.loaded)} partition(s) reloaded"
        if self.quarantined:
            done = f"{len(self.quarantined)} quarantined, {done}"
        return f"Repaired: {done}" if self.ok else f"Repair incomplete: {done}, {len(self.failed)} failed"

    def text(self) -> str:
        if self.dry_run or self.plan.empty:
            return self.plan.text()
        lines = [
            f"quarantined {q.problem.kind} {q.problem.table} {q.problem.date or ''} -> {q.moved_to}"
            for q in self.quarantined
        ]
        if self.backfill is not None and self.backfill.gaps:
            lines.append(self.backfill.text())
        lines += [
            f"{title_of(name)}: loaded {cal.format_spans(d for n, d in self.loaded if n == name)}"
            for name in dict.fromkeys(n for n, _ in self.loaded)
        ]
        lines += [f"{title_of(n)} {d}: NOT loaded ({o.text()})" for n, d, o in self.failed]
        if self.dimensions is not None:
            lines.append(self.dimensions.summary)
        lines += [
            f"{title_of(name)}: {n} older date(s) left; run the repair again" for name, n in self.plan.left.items()
        ]
        lines.append(f"scan after the repair: {len(self.remaining)} problem(s)")
        return "\n".join(lines)

    def result(self) -> Result:
        """As a page shows it."""
        table = problems_table(self.remaining) if self.remaining else None
        return Result(self.ok, self.title, self.text(), table, value=sorted({d for _, d in self.loaded}))


def repair_plan(settings: Settings | None = None, *, deep: bool = False, limit: int = REPAIR_LIMIT) -> RepairPlan:
    """What :func:`repair` would do now (reads only)."""
    settings = settings or get_settings()
    lake = Lake(settings.lake, read_only=True)
    problems = [p for p in lake.scan(deep=deep) if p.kind != "temp" and _exists(p.path)]
    due = due_dates(settings)
    rebuildable = derived.missing_dates(lake)
    return RepairPlan(
        problems=problems,
        derived={name: dates for name, dates in rebuildable.items() if dates},
        reload={name: dates[-limit:] for name, dates in due.items() if dates},
        left={name: len(dates) - limit for name, dates in due.items() if len(dates) > limit},
    )


def repair(
    settings: Settings | None = None,
    *,
    deep: bool = False,
    dry_run: bool = False,
    limit: int = REPAIR_LIMIT,
    progress: Progress = no_progress,
) -> RepairReport:
    """Repair everything the lake and Odoo can give back: move every damaged partition to
    ``_quarantine`` and reload it, rebuild the derived tables from the lake, reload every
    missing, failed, stale or vanished date (at most ``limit`` per dataset, the most recent;
    POS and invoices before profit) under the partition locks, then scan again.

    ``dry_run``: only the plan (:class:`RepairPlan`); nothing is written. ``deep``: the scan
    reads every page and checks every file's sha256."""
    settings = settings or get_settings()
    plan = repair_plan(settings, deep=deep, limit=limit)
    report = RepairReport(plan, dry_run)
    if dry_run or plan.empty:
        return report
    try:
        _repair(report, settings, deep, limit, progress)
    except NKDashError as exc:  # Odoo down at login...: the repair did not converge either
        alerts.repair_finished(False, describe(exc), settings)
        raise
    alerts.repair_finished(report.ok, report.text(), settings)
    return report


def _repair(report: RepairReport, settings: Settings, deep: bool, limit: int, progress: Progress) -> None:
    report.quarantined = scan_and_quarantine(settings, deep=deep)
    report.backfill = derived.backfill(settings.lake, trigger="recovery")
    units = {(n, d) for q in report.quarantined for n, d in q.units if d is not None}
    units |= {(name, day) for name, dates in due_dates(settings).items() for day in dates[-limit:]}
    ordered = sorted(units, key=lambda u: (DATASETS.index(u[0]), u[1]))
    report.outcomes = _load_units(ordered, settings, progress, "Repairing")
    report.outcomes += _load_units(
        _stale_dependents(report.outcomes, settings), settings, progress, "Repairing what depends on them"
    )
    if any(d is None for q in report.quarantined for _, d in q.units):
        report.dimensions = reload_dimensions(settings, progress)
    report.remaining = Lake(settings.lake).scan(deep=deep)


@dataclass
class ScanReport:
    """What :func:`scan` found: damaged partitions, and dates whose derived tables are missing."""

    problems: list[Problem]
    missing_aggregates: dict[str, list[dt.date]]
    deep: bool

    @property
    def ok(self) -> bool:
        return not self.problems and not any(self.missing_aggregates.values())

    @property
    def title(self) -> str:
        if self.ok:
            return "The lake is sound"
        if not self.problems:
            return "Derived tables missing"
        return f"{len(self.problems)} problem(s) in the lake"

    def text(self) -> str:
        how = "deep (every page, every checksum)" if self.deep else "shallow (structure and footers)"
        lines = [f"{how} scan: {len(self.problems)} problem(s)"]
        lines += [f"  {p.kind:<10} {p.table} {p.date or ''} {p.path.name}: {p.detail}" for p in self.problems]
        lines += [
            f"{title_of(name)}: aggregates missing for {len(dates)} date(s) ({cal.format_spans(dates)}); "
            "`nkdash backfill` rebuilds them from the lake (no Odoo)"
            for name, dates in self.missing_aggregates.items()
            if dates
        ]
        if self.problems:
            lines.append("`nkdash repair` (or the Recovery page) quarantines and rebuilds them")
        return "\n".join(lines)

    def result(self, settings: Settings | None = None) -> Result:
        """As a page shows it."""
        table = problems_table(self.problems, settings) if self.problems else None
        return Result(self.ok, self.title, self.text(), table, self.problems)


def scan(settings: Settings | None = None, *, deep: bool = False) -> ScanReport:
    """Scan the lake: unreadable, damaged, inconsistent or stray partitions (a writable scan
    also finishes killed writes), and dates whose aggregates are missing. ``deep`` reads
    every page and checks every file's sha256."""
    settings = settings or get_settings()
    lake = Lake(settings.lake)
    return ScanReport(lake.scan(deep=deep), derived.missing_dates(lake), deep)


def _load_units(
    units: Sequence[tuple[str, dt.date]], settings: Settings, progress: Progress, title: str
) -> list[tuple[str, dt.date, work.Outcome]]:
    outcomes = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for name, day in progress(units, title=title, completion_title="Done"):
        outcome = work.load(
            name, [day], task_id=f"recovery-{stamp}-{name}-{day}", trigger="recovery", settings=settings
        )
        outcomes.append((name, day, outcome))
    return outcomes


PROBLEM_COLUMNS = ["table", "dataset", "date", "kind", "detail", "path"]


def problems_table(problems: Sequence[Problem], settings: Settings | None = None) -> pd.DataFrame:
    root = Path((settings or get_settings()).lake).absolute()
    return pd.DataFrame(
        [
            {
                "table": p.table,
                "dataset": TABLE_DATASET.get(p.table),
                "date": p.date,
                "kind": p.kind,
                "detail": p.detail,
                "path": _relative(p.path, root),
            }
            for p in problems
        ],
        columns=PROBLEM_COLUMNS,
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Quarantined:
    problem: Problem
    moved_to: Path
    units: tuple[tuple[str, dt.date | None], ...]  # (dataset, date) to rebuild; date None: dimensions


def scan_and_quarantine(settings: Settings | None = None, *, deep: bool = False) -> list[Quarantined]:
    """Scan, move every damaged partition (or dimension table, or stray entry) to
    ``_quarantine``, and record the affected dates as ``quarantined`` so that freshness
    shows them missing. Leftovers of writes (``temp``) are left to :func:`storage.clean_temp`."""
    settings = settings or get_settings()
    lake, meta = Lake(settings.lake), read_meta(settings, read_only=False)
    done = []
    for problem in lake.scan(deep=deep):
        if problem.kind == "temp" or not _exists(problem.path):
            continue
        before = _on_disk(lake, problem.table)
        moved = lake.quarantine(problem)
        units = _affected(problem, before, _on_disk(lake, problem.table))
        for name, day in units:
            meta.set_partition(name, day, status="quarantined", error=f"quarantined: {problem.kind} {problem.detail}")
        done.append(Quarantined(problem, moved, units))
    return done


def _exists(path: Path) -> bool:
    return Path(path).exists() or Path(path).is_symlink()


def _on_disk(lake: Lake, table: str) -> set[dt.date]:
    return set(lake.partitions(table)) if table in PARTITIONED else set()


def _affected(problem: Problem, before: set[dt.date], after: set[dt.date]) -> tuple[tuple[str, dt.date | None], ...]:
    name = TABLE_DATASET.get(problem.table)
    if name is None:
        return ()
    if problem.table in WHOLE:
        return ((name, None),)
    dates = {problem.date} if problem.date else set()
    return tuple((name, d) for d in sorted(dates | (before - after)))


def _stale_dependents(
    outcomes: Sequence[tuple[str, dt.date, work.Outcome]], settings: Settings
) -> list[tuple[str, dt.date]]:
    """Dates of datasets built from reloaded ones (profit from POS and invoices) that the
    reload made stale."""
    meta = read_meta(settings)
    units = {(spec.name, day) for name, day, outcome in outcomes if day in outcome.loaded for spec in dependents(name)}
    return sorted(u for u in units if (meta.partition(*u) or {}).get("status") == "stale")


def odoo_check(settings: Settings | None = None) -> tuple[bool, str]:
    """Connect and log in to Odoo: (ok, one line). A failure names the setting to check."""
    from nkdash.odoo import connect

    settings = settings or get_settings()
    started = time.perf_counter()
    try:
        client = connect(settings)
        version, user_tz = client.version, client.user_tz()
    except NKDashError as exc:
        return False, describe(exc)
    seconds = time.perf_counter() - started
    return True, (
        f"Odoo {version} at {client.url} answered in {seconds:.2f}s: logged in as {settings.odoo_user} "
        f"on database {settings.odoo_db} (protocol {client.protocol}); user timezone {user_tz or 'unset'}"
    )


def odoo_result(settings: Settings | None = None) -> Result:
    ok, message = odoo_check(settings)
    return Result(ok, "Odoo is reachable and the credentials work" if ok else "Odoo check failed", message)


@guarded("Odoo timeouts")
def odoo_timeouts(settings: Settings | None = None, days: int = 7) -> Result:
    """The Odoo check, the client's timeout settings, and recent runs that timed out."""
    from nkdash.ops.report import monitor

    settings = settings or get_settings()
    ok, message = odoo_check(settings)
    failures = [
        r
        for r in monitor(days, settings=settings).failures
        if "timeout" in (r["error"] or "").lower() or "timed out" in (r["error"] or "").lower()
    ]
    lines = [
        message,
        f"settings: NKDASH_ODOO_TIMEOUT={settings.odoo_timeout}s, NKDASH_ODOO_RETRIES="
        f"{settings.odoo_retries}, NKDASH_ODOO_BATCH_SIZE={settings.odoo_batch_size}",
        f"runs that timed out in the last {days} days: {len(failures)}",
    ]
    lines += [f"  {stamp_text(r['started_at'])} {r['dataset']} {r['date'] or ''}: {r['error']}" for r in failures[:20]]
    return Result(
        ok and not failures, "Odoo answers in time" if ok and not failures else "Odoo timeouts", "\n".join(lines)
    )


@guarded("Validation")
def validate_dates(
    dates: Iterable[dt.date],
    settings: Settings | None = None,
    *,
    datasets: Sequence[str] | None = None,
    progress: Progress = no_progress,
) -> Result:
    """Validate each date against Odoo (counts, totals and the declared checks)."""
    from nkdash.etl.validate import validate

    settings = settings or get_settings()
    days = sorted(set(dates))
    if not days:
        return Result(True, "Nothing to validate", "no date given")
    if len(days) > VALIDATE_LIMIT:
        raise InputError(f"{len(days)} dates: validate at most {VALIDATE_LIMIT} at once", len(days))
    reports = [
        validate(day, datasets or None, settings=settings)
        for day in progress(days, title="Validating", completion_title="Validated")
    ]
    ok = all(r.ok for r in reports)
    failed = [r.date for r in reports if not r.ok]
    title = f"Validation of {cal.format_spans(days)}: OK" if ok else f"Validation FAILED for {cal.format_spans(failed)}"
    return Result(ok, title, "\n".join(r.text() for r in reports))
