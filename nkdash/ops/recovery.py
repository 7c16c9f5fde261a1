"""Recovery: missing, failed and stale dates repaired; the lake scanned, damage quarantined and rebuilt."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

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
    _meta,
    _stamp,
    describe,
    guarded,
    no_progress,
    title_of,
    today,
)
from nkdash.ops.refresh import _reload_dimensions
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.ops.common import Progress


REPAIR_LIMIT = cal.MAX_ASYNC_DAYS   # dates repaired per dataset in one call (the most recent ones)


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
    meta, lake = _meta(settings), Lake(settings.lake, read_only=True)
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
    return pd.DataFrame([{
        "dataset": title_of(r["name"]), "last loaded": r["freshness"].last_loaded, "SLA": r["freshness"].status,
        "missing": cal.format_spans(r["freshness"].missing), "failed": cal.format_spans(r["freshness"].failed),
        "stale": cal.format_spans(r["freshness"].stale), "gone from the lake": cal.format_spans(r["gone"]),
        "aggregates to rebuild": cal.format_spans(r["derived"]), "to repair": len(r["due"]),
    } for r in plan_rows(settings)])


@guarded("Repair")
def repair_all(settings: Settings | None = None, *, progress: Progress = no_progress,
               limit: int = REPAIR_LIMIT) -> Result:
    """Rebuild the derived tables the lake can give (no Odoo), then reload every due date of
    every dataset (inputs before profit), at most ``limit`` dates per dataset (the most
    recent), under the partition locks; trigger ``recovery``."""
    settings = settings or get_settings()
    healed = derived.backfill(settings.lake, trigger="recovery")
    due = due_dates(settings)
    units = [(name, day) for name, dates in due.items() for day in dates[-limit:]]
    left = {name: len(dates) - limit for name, dates in due.items() if len(dates) > limit}
    if not units:
        if healed.dates or healed.failed:
            return Result(healed.ok, f"Rebuilt the derived tables of {len(healed.dates)} date(s)", healed.text(),
                          value=healed.dates)
        return Result(True, "Nothing to repair", "every dataset is loaded up to yesterday", value=[])
    outcomes = _load_units(units, settings, progress, "Repairing missing and failed dates")
    result = _units_result("Repair", outcomes)
    if healed.gaps:
        result.ok &= healed.ok
        result.text = f"{healed.text()}\n{result.text}"
    if left:
        result.text += "".join(f"\n{name}: {n} older date(s) left; run the repair again" for name, n in left.items())
    return result


def _load_units(units: Sequence[tuple[str, dt.date]], settings: Settings, progress: Progress,
                title: str) -> list[tuple[str, dt.date, work.Outcome]]:
    outcomes = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for name, day in progress(units, title=title, completion_title="Done"):
        outcome = work.load(name, [day], task_id=f"recovery-{stamp}-{name}-{day}", trigger="recovery",
                             settings=settings)
        outcomes.append((name, day, outcome))
    return outcomes


def _units_result(what: str, outcomes: list[tuple[str, dt.date, work.Outcome]]) -> Result:
    loaded = [(n, d) for n, d, o in outcomes if d in o.loaded]
    failed = [(n, d, o) for n, d, o in outcomes if d not in o.loaded]
    lines = [f"{title_of(name)}: loaded {cal.format_spans(d for n, d in loaded if n == name)}"
             for name in dict.fromkeys(n for n, _ in loaded)]
    lines += [f"{title_of(n)} {d}: NOT loaded ({o.text()})" for n, d, o in failed]
    ok = not failed
    title = f"{what}: {len(loaded)} partition(s) loaded" + ("" if ok else f", {len(failed)} not")
    return Result(ok, title, "\n".join(lines), value=sorted({d for _, d in loaded}))


PROBLEM_COLUMNS = ["table", "dataset", "date", "kind", "detail", "path"]


def scan(settings: Settings | None = None, *, deep: bool = False) -> list[Problem]:
    """Unreadable, damaged, inconsistent or stray partitions (a writable scan also finishes
    killed writes). ``deep`` reads every page and checks every file's sha256."""
    return Lake((settings or get_settings()).lake).scan(deep=deep)


def problems_table(problems: Sequence[Problem], settings: Settings | None = None) -> pd.DataFrame:
    root = Path((settings or get_settings()).lake).absolute()
    return pd.DataFrame([{"table": p.table, "dataset": TABLE_DATASET.get(p.table), "date": p.date, "kind": p.kind,
                          "detail": p.detail, "path": _relative(p.path, root)} for p in problems],
                        columns=PROBLEM_COLUMNS)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


@guarded("Lake scan")
def scan_result(settings: Settings | None = None, *, deep: bool = False) -> Result:
    settings = settings or get_settings()
    problems = scan(settings, deep=deep)
    how = "deep (every page, every checksum)" if deep else "shallow (structure and footers)"
    lacking = derived_text(settings)
    if not problems and not lacking:
        return Result(True, "The lake is sound", f"{how} scan: no problem found", value=[])
    if not problems:
        return Result(False, "Derived tables missing", f"{how} scan: no damaged file\n{lacking}", value=[])
    return Result(False, f"{len(problems)} problem(s) in the lake",
                  "\n".join(filter(None, [f"{how} scan; quarantine and rebuild them below", lacking])),
                  problems_table(problems, settings), problems)


def derived_text(settings: Settings) -> str:
    """One line per dataset whose derived tables (aggregates) lack dates their source has."""
    missing = derived.missing_dates(Lake(settings.lake, read_only=True))
    return "\n".join(f"{title_of(name)}: aggregates missing for {len(dates)} date(s) ({cal.format_spans(dates)}); "
                     "rebuild them from the lake (no Odoo): Storage, `Rebuild derived tables`, or `nkdash backfill`"
                     for name, dates in missing.items() if dates)


@dataclass(frozen=True)
class Quarantined:
    problem: Problem
    moved_to: Path
    units: tuple[tuple[str, dt.date | None], ...]   # (dataset, date) to rebuild; date None: dimensions


def scan_and_quarantine(settings: Settings | None = None, *, deep: bool = False) -> list[Quarantined]:
    """Scan, move every damaged partition (or dimension table, or stray entry) to
    ``_quarantine``, and record the affected dates as ``quarantined`` so that freshness
    shows them missing. Leftovers of writes (``temp``) are left to :func:`storage.clean_temp`."""
    settings = settings or get_settings()
    lake, meta = Lake(settings.lake), _meta(settings, read_only=False)
    done = []
    for problem in scan(settings, deep=deep):
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


def rebuild(quarantined: Sequence[Quarantined], settings: Settings | None = None, *,
            progress: Progress = no_progress) -> Result:
    """Reload what :func:`scan_and_quarantine` moved aside (dimensions completely)."""
    settings = settings or get_settings()
    units = sorted({u for q in quarantined for u in q.units}, key=lambda u: (DATASETS.index(u[0]), u[1] or dt.date.min))
    dims = [u for u in units if u[1] is None]
    dated = [(n, d) for n, d in units if d is not None]
    outcomes = _load_units(dated, settings, progress, "Rebuilding quarantined partitions")
    outcomes += _load_units(_stale_dependents(outcomes, settings), settings, progress,
                            "Rebuilding what depends on them")
    result = _units_result("Rebuild", outcomes)
    if dims:
        reloaded = _reload_dimensions(settings, progress)
        result.ok &= reloaded.ok
        result.text = "\n".join(filter(None, [result.text, reloaded.summary]))
    return result


def _stale_dependents(outcomes: Sequence[tuple[str, dt.date, work.Outcome]],
                      settings: Settings) -> list[tuple[str, dt.date]]:
    """Dates of datasets built from reloaded ones (profit from POS and invoices) that the
    reload made stale."""
    meta = _meta(settings)
    units = {(spec.name, day) for name, day, outcome in outcomes if day in outcome.loaded for spec in dependents(name)}
    return sorted(u for u in units if (meta.partition(*u) or {}).get("status") == "stale")


@guarded("Quarantine and rebuild")
def repair_lake(settings: Settings | None = None, *, deep: bool = False, progress: Progress = no_progress) -> Result:
    """Scan, quarantine what is damaged, rebuild it, and scan again."""
    settings = settings or get_settings()
    quarantined = scan_and_quarantine(settings, deep=deep)
    if not quarantined:
        return Result(True, "Nothing to quarantine", "the scan found no damaged partition", value=[])
    rebuilt = rebuild(quarantined, settings, progress=progress)
    left = scan(settings, deep=deep)
    moved = [f"quarantined {q.problem.kind} {q.problem.table} {q.problem.date or ''} -> "
             f"{_relative(q.moved_to, Path(settings.lake).absolute())}" for q in quarantined]
    ok = rebuilt.ok and not [p for p in left if p.kind != "temp"]
    title = (f"Quarantined and rebuilt {len(quarantined)} partition(s)" if ok
             else f"Quarantined {len(quarantined)} partition(s); the rebuild left problems")
    scan_line = f"scan after the rebuild: {len(left)} problem(s)"
    return Result(ok, title, "\n".join([*moved, rebuilt.text, scan_line]), problems_table(left, settings),
                  value=rebuilt.value)


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
    return True, (f"Odoo {version} at {client.url} answered in {seconds:.2f}s: logged in as {settings.odoo_user} "
                  f"on database {settings.odoo_db} (protocol {client.protocol}); user timezone {user_tz or 'unset'}")


def odoo_result(settings: Settings | None = None) -> Result:
    ok, message = odoo_check(settings)
    return Result(ok, "Odoo is reachable and the credentials work" if ok else "Odoo check failed", message)


@guarded("Odoo timeouts")
def odoo_timeouts(settings: Settings | None = None, days: int = 7) -> Result:
    """The Odoo check, the client's timeout settings, and recent runs that timed out."""
    from nkdash.ops.report import monitor

    settings = settings or get_settings()
    ok, message = odoo_check(settings)
    failures = [r for r in monitor(days, settings=settings).failures
                if "timeout" in (r["error"] or "").lower() or "timed out" in (r["error"] or "").lower()]
    lines = [message, f"settings: NKDASH_ODOO_TIMEOUT={settings.odoo_timeout}s, NKDASH_ODOO_RETRIES="
             f"{settings.odoo_retries}, NKDASH_ODOO_BATCH_SIZE={settings.odoo_batch_size}",
             f"runs that timed out in the last {days} days: {len(failures)}"]
    lines += [f"  {_stamp(r['started_at'])} {r['dataset']} {r['date'] or ''}: {r['error']}" for r in failures[:20]]
    return Result(ok and not failures, "Odoo answers in time" if ok and not failures else "Odoo timeouts",
                  "\n".join(lines))


@guarded("Validation")
def validate_dates(dates: Iterable[dt.date], settings: Settings | None = None, *, datasets: Sequence[str] | None = None,
                   progress: Progress = no_progress) -> Result:
    """Validate each date against Odoo (counts, totals and the declared checks)."""
    from nkdash.etl.validate import validate

    settings = settings or get_settings()
    days = sorted(set(dates))
    if not days:
        return Result(True, "Nothing to validate", "no date given")
    if len(days) > VALIDATE_LIMIT:
        raise InputError(f"{len(days)} dates: validate at most {VALIDATE_LIMIT} at once", len(days))
    reports = [validate(day, datasets or None, settings=settings)
               for day in progress(days, title="Validating", completion_title="Validated")]
    ok = all(r.ok for r in reports)
    failed = [r.date for r in reports if not r.ok]
    title = (f"Validation of {cal.format_spans(days)}: OK" if ok
             else f"Validation FAILED for {cal.format_spans(failed)}")
    return Result(ok, title, "\n".join(r.text() for r in reports))
