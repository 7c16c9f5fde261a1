"""Operations: what the operations, recovery, runbook and monitoring notebooks call.

The notebooks are callers: a control's value goes in, a :class:`Result` (or a DataFrame)
comes out. Everything here is a thin layer over the library (``etl``, ``queue``, ``lake``,
``meta``, ``validate``, ``monitor``, ``health``, ``storage``, ``odoo``):

- refresh a dataset now (one day, under the partition lock) or queued (up to 31 days);
- freshness, task history and queue depth as tables;
- recovery: missing, failed, stale and vanished dates per dataset, repaired in one call;
  a lake scan whose damaged partitions are quarantined and rebuilt; an Odoo check;
- the huey consumer started, stopped and restarted from a page, and the logs tailed;
- :data:`RUNBOOK`: every procedure of the old runbook, where it is done and which
  library functions it calls (``tests/test_ops.py`` resolves every name).

"Today" is the business date of :func:`nkdash.queue.now` in ``NKDASH_TZ`` (UTC when unset:
pages never ask Odoo for a timezone just to draw a table); tests move it with
``NKDASH_CLOCK_FILE`` like the queue's.

Long work takes ``progress``: a callable that wraps an iterable, e.g.
``mo.status.progress_bar`` (called as ``progress(items, title=..., completion_title=...)``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from nkdash import calendar as cal
from nkdash import derived, queue, storage
from nkdash.dashboards import engine
from nkdash.datasets import DATED, REGISTRY, dependents, get
from nkdash.errors import InputError, NKDashError
from nkdash.lake import PARTITIONED, WHOLE, Lake, Problem
from nkdash.meta import MetaStore
from nkdash.settings import Settings, get_settings

Progress = Callable[..., Iterable]
Risk = Literal["read", "write", "destructive"]

DATASETS: tuple[str, ...] = ("pos", "invoices", "purchases", "inventory", "profit", "stock-quants", "dimensions")
DATASET_CHOICES: dict[str, str] = {get(name).title: name for name in DATASETS}   # dropdown label -> name
TABLE_DATASET: dict[str, str] = {t: spec.name for spec in REGISTRY.values() for t in spec.table_names}
REPAIR_LIMIT = cal.MAX_ASYNC_DAYS   # dates repaired per dataset in one call (the most recent ones)
VALIDATE_LIMIT = cal.MAX_ASYNC_DAYS
TAIL_LINES = 80
WORKERS_DIR = "workers"             # <state_dir>/workers/<pid>.json: consumers started from a page
READY_TIMEOUT = 30.0                # seconds a starting consumer gets to say it is ready
STOP_TIMEOUT = 60.0                 # seconds a stopping consumer gets to finish its tasks in hand
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
COMPACT_AFTER_DAYS = storage.DEFAULT_COMPACT_AFTER_DAYS
JOB_TITLES: dict[str, str] = {storage.COMPACT_JOB: "Compact old months"}   # queue.MAINTENANCE jobs

_children: dict[int, subprocess.Popen] = {}   # consumers this process started


def no_progress(items: Iterable, **_: Any) -> Iterable:
    return items


# ----------------------------------------------------------------------------- results
@dataclass
class Result:
    """What an action did: a headline, details (plain text) and maybe a table."""

    ok: bool
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    value: Any = None

    @property
    def kind(self) -> str:
        return "success" if self.ok else "danger"

    @property
    def summary(self) -> str:
        return self.text.strip().splitlines()[0] if self.text.strip() else ""


def describe(exc: BaseException) -> str:
    """One line for an operator: the message and, for Odoo errors, the setting to check."""
    hint = getattr(exc, "hint", "")
    text = str(exc) if isinstance(exc, NKDashError) else f"{type(exc).__name__}: {exc}"
    return text + (f" — {hint}" if hint and hint not in text else "")


def guarded(title: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Turn the errors an operator can act on into a failed :class:`Result`."""
    def wrap(fn: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Result:
            try:
                return fn(*args, **kwargs)
            except (NKDashError, OSError, sqlite3.Error) as exc:
                return Result(False, f"{title}: failed", describe(exc))
        return run
    return wrap


# ----------------------------------------------------------------------------- clock and setup
def today(settings: Settings | None = None) -> dt.date:
    """Today's business date (see the module docstring)."""
    settings = settings or get_settings()
    return cal.business_date(queue.now(), cal.timezone(settings.tz))


def latest_date(settings: Settings | None = None) -> dt.date:
    """Yesterday: the latest date that may be loaded."""
    return today(settings) - dt.timedelta(days=1)


def describe_setup(settings: Settings | None = None) -> str:
    """One markdown line: lake, Odoo, queue, timezone, today."""
    s = settings or get_settings()
    odoo = s.odoo_url or f"the embedded demo Odoo {s.demo_version}"
    return (f"Lake `{Path(s.lake).absolute()}` · Odoo {odoo} · queue {queue.backend(s)} · "
            f"timezone {s.tz or 'UTC (NKDASH_TZ unset)'} · today {today(s)}")


def choice(label: str | None, default: str = "pos") -> str:
    """A dataset name from a dropdown label, a name (URL parameter) or nothing."""
    if label in DATASET_CHOICES:
        return DATASET_CHOICES[label]
    return label if label in DATASETS else default


def title_of(name: str) -> str:
    return JOB_TITLES.get(name) or get(name).title


def period_from(params: Any, settings: Settings | None = None) -> tuple[dt.date, dt.date]:
    """``(start, end)`` from URL parameters ``date`` or ``start``/``end``; default yesterday."""
    latest = latest_date(settings)
    try:
        start = cal.parse_date(params.get("start") or params.get("date") or latest.isoformat())
        end = cal.parse_date(params.get("end") or params.get("date") or start.isoformat())
    except InputError:
        return latest, latest
    start, end = sorted((min(start, latest), min(end, latest)))
    return start, end


def dates_of(period: Sequence[dt.date]) -> list[dt.date]:
    """Every date of a ``(start, end)`` pair from a date-range control."""
    return cal.days(*period)


def _meta(settings: Settings, read_only: bool = True) -> MetaStore:
    return MetaStore.for_lake(Lake(settings.lake, read_only=read_only), read_only=read_only)


def _stamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime(TIME_FORMAT) if value else None


# ----------------------------------------------------------------------------- refresh
@guarded("Async Refresh")
def async_refresh(dataset: str, period: Sequence[dt.date], *, settings: Settings | None = None) -> Result:
    """Queue one task per date of ``period`` (at most 31 days; refused before anything is
    queued). Dimensions have no dates: one incremental sync is queued instead."""
    settings = settings or get_settings()
    start, end = period
    spec = get(dataset)
    if not spec.partitioned:
        return _queue_dimensions(settings)
    count = (end - start).days + 1
    if count > cal.MAX_ASYNC_DAYS:
        return Result(False, "Async Refresh refused: nothing was queued",
                      f"{start}..{end} is {count} days; one request covers at most {cal.MAX_ASYNC_DAYS} days. "
                      "Split the range, or use Recovery for older gaps.")
    request_id = queue.enqueue_refresh(dataset, start, end, settings)
    return Result(True, f"Queued {spec.title} for {cal.format_spans(cal.days(start, end))}",
                  f"request {request_id}: {count} task(s), one per date; follow them below "
                  f"(or `nkdash tasks --request {request_id}`)", value=request_id)


def _queue_dimensions(settings: Settings) -> Result:
    tasks, huey = queue.app(), queue.connect(settings)
    request_id = uuid.uuid4().hex[:12]
    task_id = queue.submit(huey, tasks.daily.s(dataset="dimensions", day=today(settings).isoformat(),
                                              request_id=request_id, id=f"{request_id}.dimensions"))
    return Result(True, "Queued a sync of the dimensions",
                  f"request {request_id}: task {task_id} (dimensions are whole tables: no dates)",
                  value=request_id)


def sync_steps(dataset: str, day: dt.date, settings: Settings) -> list[str]:
    """The datasets a sync refresh of ``dataset`` for ``day`` loads, in order: its inputs
    that are not loaded yet, then itself."""
    spec = get(dataset)
    meta = queue.connect(settings).history.meta
    return [*(name for name in spec.inputs if not queue.input_ready(meta, settings, name, day)), dataset]


@guarded("Sync Refresh")
def sync_refresh(dataset: str, period: Sequence[dt.date], *, settings: Settings | None = None,
                 progress: Progress = no_progress) -> Result:
    """Refresh one day now, under the same partition locks as queued work (a range is
    refused: that is what Async Refresh is for). Dimensions are reloaded completely."""
    settings = settings or get_settings()
    start, end = period
    spec = get(dataset)
    if spec.partitioned and start != end:
        return Result(False, "Sync Refresh is for one day: nothing was loaded",
                      f"{start}..{end} is {(end - start).days + 1} days. Pick a single date, or use Async Refresh "
                      f"(up to {cal.MAX_ASYNC_DAYS} days, queued).")
    if not spec.partitioned:
        return _reload_dimensions(settings, progress)
    lines, ok = [], True
    for name in progress(sync_steps(dataset, end, settings), title=f"Sync Refresh: {spec.title} {end}",
                         completion_title="Sync Refresh done"):
        outcome = queue.refresh_sync(name, end, settings)
        ok &= outcome.ok and not outcome.waiting
        lines.append(outcome.text())
    verb = "Loaded" if ok else "Could not load"
    return Result(ok, f"{verb} {spec.title} for {end}", "\n".join(lines))


def _reload_dimensions(settings: Settings, progress: Progress) -> Result:
    from nkdash.etl import refresh

    (report,) = [refresh("dimensions", [latest_date(settings)], trigger="sync", settings=settings, progress=False,
                         full=True)
                 for _ in progress(["dimensions"], title="Reloading the dimensions",
                                   completion_title="Dimensions reloaded")]
    return Result(report.ok, "Dimensions reloaded" if report.ok else "Dimensions: reload failed", report.summary())


@guarded("Daily jobs")
def enqueue_daily_jobs(settings: Settings | None = None) -> Result:
    """Queue today's daily job of every scheduled dataset now (what the schedule would do)."""
    settings = settings or get_settings()
    tasks, huey, day = queue.app(), queue.connect(settings), today(settings).isoformat()
    ids = [queue.submit(huey, tasks.daily.s(dataset=name, day=day)) for name in queue.SCHEDULE]
    return Result(True, f"Queued {len(ids)} daily job(s) for {day}",
                  "\n".join(f"{name:<13} task {i}" for name, i in zip(queue.SCHEDULE, ids)))


# ----------------------------------------------------------------------------- tables
def freshness_table(settings: Settings | None = None) -> pd.DataFrame:
    """Per dated dataset: last processed date, lag, SLA status, missing/failed/stale dates,
    and its latest run."""
    from nkdash.monitor import freshness_report

    settings = settings or get_settings()
    meta = _meta(settings)
    report = freshness_report(today(settings), settings=settings)
    rows = []
    for f in report.datasets:
        last = next(iter(meta.runs(dataset=f.dataset, limit=1)), None)
        rows.append({"dataset": title_of(f.dataset), "last processed": f.last_loaded, "lag (days)": f.lag_days,
                     "SLA": f.status, "missing": cal.format_spans(f.missing), "failed": cal.format_spans(f.failed),
                     "stale": cal.format_spans(f.stale),
                     "last run": _stamp(last and (last["finished_at"] or last["started_at"])),
                     "last run status": last and last["status"]})
    dims, last = report.dimensions_synced, next(iter(meta.runs(dataset="dimensions", limit=1)), None)
    rows.append({"dataset": title_of("dimensions"), "last processed": dims and dims.date(), "lag (days)": None,
                 "SLA": "ok" if dims else "critical", "missing": "-", "failed": "-", "stale": "-",
                 "last run": _stamp(last and (last["finished_at"] or last["started_at"])),
                 "last run status": last and last["status"]})
    frame = pd.DataFrame(rows)
    frame["lag (days)"] = frame["lag (days)"].astype("Int64")
    return frame


def task_counts(settings: Settings | None = None, hours: int = 24) -> dict[str, int]:
    """Pending (queued or scheduled), running, and done/failed in the last ``hours``."""
    settings = settings or get_settings()
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours)
    history = queue.connect(settings).history.meta
    return {"pending": len(queue.pending(settings)) + len(queue.scheduled(settings)),
            "running": len(queue.running(settings)),
            "done": len(history.tasks(state="done", since=since)),
            "failed": len(history.tasks(state="failed", since=since))}


TASK_COLUMNS = ["state", "task", "name", "dataset", "date", "enqueued", "started", "finished", "seconds", "detail"]


def task_table(settings: Settings | None = None, *, state: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The task history, most recent first (queued, running, done, failed, revoked)."""
    rows = queue.tasks(settings or get_settings(), state=state, limit=limit)
    return pd.DataFrame([_task_row(r) for r in rows], columns=TASK_COLUMNS)


def _task_row(row: dict) -> dict:
    started, finished = row.get("started_at"), row.get("finished_at")
    params = row.get("params") or {}
    return {"state": row["state"], "task": row["id"], "name": row.get("name"), "dataset": row.get("dataset"),
            "date": row.get("date"), "enqueued": _stamp(row.get("enqueued_at")), "started": _stamp(started),
            "finished": _stamp(finished),
            "seconds": round((finished - started).total_seconds(), 2) if started and finished else None,
            "detail": row.get("error") or params.get("summary") or ""}


def request_table(request_id: str, settings: Settings | None = None) -> pd.DataFrame:
    """Per date of an async request: its task's state and what it did."""
    return pd.DataFrame([{"date": s.date, "state": s.state, "task": s.task_id, "detail": s.detail}
                         for s in queue.request_status(request_id, settings or get_settings())],
                        columns=["date", "state", "task", "detail"])


def schedule_table(settings: Settings | None = None) -> pd.DataFrame:
    """The daily schedule: local time, next run, last scheduled run per dataset, then the
    lake's maintenance jobs (the compaction of old months)."""
    settings = settings or get_settings()
    tz, now, meta = cal.timezone(settings.tz), queue.now(), _meta(settings)
    local = cal.business_date(now, tz)
    rows = []
    for name, hhmm in {**queue.SCHEDULE, **queue.MAINTENANCE}.items():
        at = queue.slot_instant(local, hhmm, tz)
        at = at if at > now else queue.slot_instant(local + dt.timedelta(days=1), hhmm, tz)
        last = next((r for r in meta.runs(dataset=name, limit=200) if r["trigger"] == "schedule"), None)
        rows.append({"dataset": title_of(name), "local time": hhmm, "next run (UTC)": _stamp(at),
                     "last scheduled run (UTC)": _stamp(last and last["started_at"]),
                     "status": last and last["status"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- recovery
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
                title: str) -> list[tuple[str, dt.date, queue.Outcome]]:
    outcomes = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for name, day in progress(units, title=title, completion_title="Done"):
        outcome = queue.load(name, [day], task_id=f"recovery-{stamp}-{name}-{day}", trigger="recovery",
                             settings=settings)
        outcomes.append((name, day, outcome))
    return outcomes


def _units_result(what: str, outcomes: list[tuple[str, dt.date, queue.Outcome]]) -> Result:
    loaded = [(n, d) for n, d, o in outcomes if d in o.loaded]
    failed = [(n, d, o) for n, d, o in outcomes if d not in o.loaded]
    lines = [f"{title_of(name)}: loaded {cal.format_spans(d for n, d in loaded if n == name)}"
             for name in dict.fromkeys(n for n, _ in loaded)]
    lines += [f"{title_of(n)} {d}: NOT loaded ({o.text()})" for n, d, o in failed]
    ok = not failed
    title = f"{what}: {len(loaded)} partition(s) loaded" + ("" if ok else f", {len(failed)} not")
    return Result(ok, title, "\n".join(lines), value=sorted({d for _, d in loaded}))


# ---- the lake scan
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


def _stale_dependents(outcomes: Sequence[tuple[str, dt.date, queue.Outcome]],
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


# ---- Odoo and validation
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
    from nkdash.monitor import monitor

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
    from nkdash.validate import validate

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


# ----------------------------------------------------------------------------- services and logs
def _workers_dir(settings: Settings) -> Path:
    path = Path(settings.state_dir) / WORKERS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def workers(settings: Settings | None = None) -> list[dict]:
    """Consumers started from a page (pid files), alive ones only; dead pid files are removed."""
    settings = settings or get_settings()
    alive = []
    for file in sorted(_workers_dir(settings).glob("*.json")):
        try:
            holder = json.loads(file.read_text())
        except (OSError, ValueError):
            file.unlink(missing_ok=True)
            continue
        if _alive(holder):
            alive.append(holder)
        else:
            file.unlink(missing_ok=True)
    return alive


def _alive(holder: dict) -> bool:
    proc = _children.get(holder.get("pid"))
    if proc is not None:
        return proc.poll() is None
    if holder.get("host") != queue.HOST:
        return True                                 # another machine: cannot tell
    return queue.alive(holder) is not False and _running(holder["pid"])


def worker_table(settings: Settings | None = None) -> pd.DataFrame:
    settings = settings or get_settings()
    tick = queue.last_tick(settings)
    rows = [{"pid": w["pid"], "host": w["host"], "since": w["since"], "workers": w.get("workers"),
             "rss (MB)": _rss_mb(w["pid"])} for w in workers(settings)]
    frame = pd.DataFrame(rows, columns=["pid", "host", "since", "workers", "rss (MB)"])
    frame.attrs["last_tick"] = _stamp(tick)
    return frame


@guarded("Start the worker")
def start_worker(settings: Settings | None = None, *, workers_per_process: int = 2, periodic: bool = True) -> Result:
    """Start a huey consumer (``nkdash worker``) as a child process, recorded in a pid file."""
    settings = settings or get_settings()
    proc = queue.start_worker_process(settings, workers=workers_per_process, periodic=periodic)
    _children[proc.pid] = proc
    record_worker(proc.pid, settings, workers_per_process)
    log = queue.log_file(settings)
    deadline = time.monotonic() + READY_TIMEOUT
    while proc.poll() is None and f"consumer {proc.pid} ready" not in tail(log) and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is not None:
        return Result(False, "The worker exited at once", tail(log.with_name("worker.out")))
    return Result(True, f"Worker started (pid {proc.pid})",
                  f"logs in {log.parent}; it recovered lost tasks first and now takes queued work", value=proc.pid)


def record_worker(pid: int, settings: Settings | None = None, threads: int | None = None) -> dict:
    """Record a consumer process of this machine in ``<state_dir>/workers/<pid>.json``, so
    that the pages list, stop and restart it."""
    holder = {"host": queue.HOST, "pid": pid, "started": _process_start(pid), "workers": threads,
              "since": queue.now().isoformat()}
    (_workers_dir(settings or get_settings()) / f"{pid}.json").write_text(json.dumps(holder))
    return holder


def _process_start(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


@guarded("Stop the workers")
def stop_workers(settings: Settings | None = None, *, timeout: float = STOP_TIMEOUT) -> Result:
    """SIGTERM every consumer started from a page: tasks in hand finish (up to ``timeout``
    seconds), then they stop. Returns their exit codes."""
    settings = settings or get_settings()
    found = workers(settings)
    if not found:
        return Result(True, "No worker started from this page is running",
                      "consumers started elsewhere (systemd, a terminal) are stopped there")
    lines = [f"pid {w['pid']}: {_stop(w['pid'], timeout)}" for w in found]
    for w in found:
        (_workers_dir(settings) / f"{w['pid']}.json").unlink(missing_ok=True)
    return Result(True, f"Stopped {len(found)} worker(s)", "\n".join(lines))


def _stop(pid: int, timeout: float) -> str:
    proc = _children.pop(pid, None)
    if proc is not None:
        return f"exited with code {queue.stop_worker(proc, timeout)}"
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGTERM, 15.0), (signal.SIGKILL, 15.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return "already gone"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _running(pid):
                return "stopped"
            time.sleep(0.2)
    return "still running"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (exited, waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@guarded("Restart the workers")
def restart_workers(settings: Settings | None = None, *, timeout: float = STOP_TIMEOUT) -> Result:
    """Stop the consumers started from a page (gracefully), then start one."""
    settings = settings or get_settings()
    stopped = stop_workers(settings, timeout=timeout)
    started = start_worker(settings)
    return Result(stopped.ok and started.ok, "Worker restarted" if started.ok else "Restart failed",
                  "\n".join([stopped.text, started.title, started.text]), value=started.value)


def log_files(settings: Settings | None = None) -> dict[str, Path]:
    """The services' logs: web access and application logs, the consumer's log and output."""
    settings = settings or get_settings()
    web, huey = Path(settings.log_dir) / "web", Path(settings.log_dir) / "huey"
    return {"web access": web / "access.log", "web": web / "web.log",
            "worker": huey / "consumer.log", "worker output": huey / "worker.out"}


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * lines))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def logs_result(names: Sequence[str], settings: Settings | None = None, lines: int = TAIL_LINES) -> Result:
    files = log_files(settings)
    parts = [f"==> {files[n]} <==\n{tail(files[n], lines) or '(empty or not created yet)'}" for n in names]
    return Result(True, f"Last {lines} lines of the {' and '.join(names)} log(s)", "\n\n".join(parts))


def memory_table(settings: Settings | None = None) -> pd.DataFrame:
    """Memory of the machine, of this process (the web server's notebooks) and of the workers."""
    settings = settings or get_settings()
    info = _meminfo()
    rows = [{"what": "machine total", "MB": info.get("MemTotal")},
            {"what": "machine available", "MB": info.get("MemAvailable")},
            {"what": f"this process (pid {os.getpid()})", "MB": _rss_mb(os.getpid())}]
    rows += [{"what": f"worker pid {w['pid']}", "MB": _rss_mb(w["pid"])} for w in workers(settings)]
    return pd.DataFrame(rows)


def _meminfo() -> dict[str, float]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


# ----------------------------------------------------------------------------- monitoring data
def _since(days: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value else None


RUN_COLUMNS = ["started", "day", "dataset", "date", "trigger", "status", "seconds", "rows", "bytes", "error"]


def runs_frame(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Every finished ETL run of the last ``days`` days (UTC times, naive for charts)."""
    runs = _meta(settings or get_settings()).runs(since=_since(days))
    rows = [{"started": _naive(r["started_at"]), "day": _naive(r["started_at"]).date().isoformat(),
             "dataset": r["dataset"], "date": r["date"], "trigger": r["trigger"], "status": r["status"],
             "seconds": r["duration_s"] or 0.0, "rows": r["rows"] or 0, "bytes": r["bytes"] or 0,
             "error": r["error"]} for r in runs if r["status"] != "running"]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "failed"]


def run_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs, failed runs and rows loaded in a :func:`runs_frame`."""
    return {"runs": len(runs), "failed": len(failed_runs(runs)),
            "rows loaded": int(runs.loc[runs["status"] == "success", "rows"].sum())}


def dataset_stats(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Per dataset over ``days``: runs, failures, rows, ETL seconds, slowest run, rows/s."""
    from nkdash.monitor import monitor

    report = monitor(days, settings=settings or get_settings())
    return pd.DataFrame([{**asdict(s), "throughput": round(s.throughput, 1)} for s in report.datasets],
                        columns=["dataset", "runs", "failures", "rows", "seconds", "slowest", "throughput"])


def query_stats(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Per dashboard query over ``days``: executions, median, p95 and slowest seconds."""
    from nkdash.monitor import monitor

    report = monitor(days, settings=settings or get_settings())
    return pd.DataFrame([asdict(q) for q in report.queries], columns=["name", "count", "median", "p95", "slowest"])


def slowest_queries(settings: Settings | None = None, days: int = 7, limit: int = 20) -> pd.DataFrame:
    """The slowest individual query executions of the last ``days`` days."""
    timings = _meta(settings or get_settings()).query_timings(since=_since(days))
    rows = sorted(timings, key=lambda t: t["seconds"], reverse=True)[:limit]
    return pd.DataFrame([{"at": _stamp(t["created_at"]), "query": t["name"], "seconds": round(t["seconds"], 4),
                          "rows": t["rows"], "params": t["params"]} for t in rows],
                        columns=["at", "query", "seconds", "rows", "params"])


def partition_files(settings: Settings | None = None) -> pd.DataFrame:
    """Every data file of the lake: table, date (None for dims and month files), bytes."""
    lake = Lake((settings or get_settings()).lake, read_only=True)
    return pd.DataFrame([{"table": f.table, "date": f.first if not f.compacted else None,
                          "month file": f.compacted, "dates": len(f.dates), "bytes": f.bytes}
                         for f in lake.data_files()], columns=["table", "date", "month file", "dates", "bytes"])


def table_sizes(settings: Settings | None = None) -> pd.DataFrame:
    """Per table: files, partitions, rows, bytes (storage.sizes)."""
    return storage.sizes(Lake((settings or get_settings()).lake, read_only=True))


def queue_depth(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Tasks waiting and running over time, derived from the task history's enqueued,
    started and finished times (no sampling needed): one row per change."""
    settings = settings or get_settings()
    history = queue.connect(settings).history.meta
    since = _since(days)
    rows = {r["id"]: r for r in [*history.tasks(since=since), *history.tasks(state="queued"),
                                 *history.tasks(state="running")]}
    return depth_series(rows.values(), since, dt.datetime.now(dt.timezone.utc))


def depth_series(rows: Iterable[dict], since: dt.datetime, now: dt.datetime) -> pd.DataFrame:
    """Waiting/running counts at each event from ``since`` to ``now`` (see :func:`queue_depth`)."""
    events: list[tuple[dt.datetime, int, int]] = []
    for r in rows:
        queued, started, finished = r.get("enqueued_at"), r.get("started_at"), r.get("finished_at")
        if queued:
            events.append((queued, 1, 0))
        if started:
            events.append((started, -1 if queued else 0, 1))
        if finished:
            events.append((finished, 0 if started else -1 if queued else 0, -1 if started else 0))
    waiting = running = 0
    points = [{"time": _naive(since), "waiting": 0, "running": 0}]
    for at, dw, dr in sorted(events, key=lambda e: e[0]):
        waiting, running = waiting + dw, running + dr
        point = {"time": _naive(max(at, since)), "waiting": waiting, "running": running}
        if at <= since:
            points[0] = point
        else:
            points.append(point)
    points.append({"time": _naive(now), "waiting": waiting, "running": running})
    return pd.DataFrame(points, columns=["time", "waiting", "running"])


# ----------------------------------------------------------------------------- storage, backups, security
@guarded("Backup")
def backup(settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    info = storage.backup(Lake(settings.lake), dest=Path(settings.state_dir) / "backups")
    return Result(True, f"Backup {info.name} taken", info.text(), value=str(info.path))


def backup_choices(settings: Settings | None = None) -> dict[str, str | None]:
    """Dropdown options: the newest backup first, then every backup by name."""
    settings = settings or get_settings()
    found = storage.list_backups(Path(settings.state_dir) / "backups")
    return {"(the newest backup)": None, **{b.name: str(b.path) for b in found if not b.problem}}


@guarded("Backups")
def backups_result(settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    found = storage.list_backups(Path(settings.state_dir) / "backups")
    return Result(True, f"{len(found)} backup(s) in {Path(settings.state_dir) / 'backups'}",
                  "\n".join(b.text() for b in found) or "no backups yet")


@guarded("Restore")
def restore(path: str | None, settings: Settings | None = None, *, validate_days: int = 3) -> Result:
    """Replace the lake's data and metadata with a backup (default the newest), then verify,
    scan and validate the latest restored dates against Odoo."""
    settings = settings or get_settings()
    if path is None:
        found = [b for b in storage.list_backups(Path(settings.state_dir) / "backups") if not b.problem]
        if not found:
            raise InputError("there is no backup to restore: take one first")
        path = str(found[0].path)
    report = storage.restore(path, Lake(settings.lake), settings=settings, validate_days=validate_days)
    return Result(report.ok, f"Restored {Path(path).name}" + ("" if report.ok else " (with problems)"),
                  report.text(), value=path)


@guarded("Verify backup")
def verify_backup(path: str | None, settings: Settings | None = None) -> Result:
    settings = settings or get_settings()
    if path is None:
        found = [b for b in storage.list_backups(Path(settings.state_dir) / "backups") if not b.problem]
        if not found:
            raise InputError("there is no backup to verify: take one first")
        path = str(found[0].path)
    report = storage.verify_backup(path)
    return Result(report.ok, f"Backup {Path(path).name}: {'intact' if report.ok else 'DAMAGED'}", report.text())


def security_table(settings: Settings | None = None, env_file: Path = Path(".env")) -> pd.DataFrame:
    """The security items: credentials only in ``.env`` (and not readable by others), web
    passwords set, operator-only notebooks, read-only dashboards, access log."""
    from nkdash.dashboards.engine import READ_ONLY
    from nkdash.notebooks import NOTEBOOKS

    settings = settings or get_settings()
    mode = env_file.stat().st_mode & 0o777 if env_file.exists() else None
    operator_pages = ", ".join(nb.path for nb in NOTEBOOKS if nb.role == "operator")
    access = log_files(settings)["web access"]
    rows = [
        (".env holds the credentials", env_file.exists(),
         f"{env_file.absolute()} mode {oct(mode)}" if mode is not None else f"no {env_file.absolute()}: "
         "settings come from the environment"),
        (".env not readable by other users", mode is None or not mode & 0o077,
         "chmod 600 .env" if mode is not None and mode & 0o077 else "ok"),
        ("operator password set", bool(settings.operator_password), "NKDASH_OPERATOR_PASSWORD"),
        ("viewer password set", bool(settings.viewer_password), "NKDASH_VIEWER_PASSWORD"),
        ("Odoo credentials are secrets", True, f"ODOO_USER={settings.odoo_user}, ODOO_PASSWORD="
         f"{settings.odoo_password!r} (never printed)"),
        ("ETL operations need the operator role", True, operator_pages),
        ("dashboards read the lake read-only", True, f"Lake(read_only=True); DuckDB {READ_ONLY}"),
        ("access is logged", access.exists(), str(access)),
    ]
    return pd.DataFrame(rows, columns=["check", "ok", "detail"])


@guarded("Dashboard cache")
def cache_check(settings: Settings | None = None) -> Result:
    """Run one dashboard query twice on a fresh cache: the second answer comes from the cache."""
    from nkdash import dashboards

    settings = settings or get_settings()
    db = dashboards.Dashboard(Lake(settings.lake, read_only=True), meta=None)
    filters = dashboards.Filters(*dashboards.default_period(db))
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        dashboards.sales_by_store(db, filters)
        timings.append(time.perf_counter() - started)
    return Result(True, f"Cached: {timings[0] * 1000:.1f} ms, then {timings[1] * 1000:.1f} ms",
                  f"query sales_by_store over {filters.describe()}: {db.misses} cache miss(es), then {db.hits} "
                  f"hit(s). The cache (per server process, {engine.CACHE_SIZE} entries) is keyed by the files a "
                  "query reads, so a reload or quarantine invalidates it by itself.")


# ----------------------------------------------------------------------------- the runbook
@dataclass(frozen=True)
class Params:
    """The runbook page's inputs."""

    day: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    days: int = 7
    backup: str | None = None           # a backup path; None: the newest
    task: str = ""                      # a task or request id
    older_than_days: int = COMPACT_AFTER_DAYS
    archive_before: dt.date | None = None
    deep: bool = False

    @property
    def period(self) -> tuple[dt.date, dt.date]:
        if self.start is None or self.end is None:
            raise InputError("pick a date range")
        return self.start, self.end

    @property
    def date(self) -> tuple[dt.date, dt.date]:
        if self.day is None:
            raise InputError("pick a date")
        return self.day, self.day


Action = Callable[[Params, Settings, Progress], Result]


@dataclass(frozen=True)
class Procedure:
    """One procedure of the old runbook and its place here.

    ``where``: (notebook path, section heading) where it is done; ``calls``: the library
    functions it calls, as dotted names; ``action``: what the runbook page's button runs
    (``risk`` says whether it only reads, writes, or destroys/replaces); ``uses``: the
    page's inputs it reads.
    """

    key: str
    section: str
    title: str
    how: str
    calls: tuple[str, ...]
    action: Action
    label: str
    risk: Risk = "read"
    where: tuple[str, str] | None = None
    uses: tuple[str, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.risk != "read"

    @property
    def place(self) -> tuple[str, str]:
        return self.where or ("/runbook", self.section)


def _view(title: str, frame_fn: Callable[[Settings], pd.DataFrame]) -> Action:
    """An action that shows a table."""
    def act(p: Params, s: Settings, progress: Progress) -> Result:
        frame = frame_fn(s)
        return Result(True, title, f"{len(frame)} row(s)", frame)
    return guarded(title)(act)


def _both(*results: Result) -> Result:
    return Result(all(r.ok for r in results), " · ".join(r.title for r in results),
                  "\n".join(r.text for r in results if r.text))


def _queue_status(p: Params, s: Settings, progress: Progress) -> Result:
    status = queue.status(s)
    title = f"{len(status.pending)} pending, {len(status.scheduled)} scheduled, {len(status.running)} running"
    return Result(True, title, status.text(), task_table(s, state="running"))


def _workers(p: Params, s: Settings, progress: Progress) -> Result:
    frame = worker_table(s)
    return Result(True, f"{len(frame)} worker(s) started here; schedule last checked "
                        f"{frame.attrs['last_tick'] or 'never'}", "", frame)


def _recover(p: Params, s: Settings, progress: Progress) -> Result:
    lost, freed = queue.recover(s), queue.flush_locks(s)
    return Result(True, f"{len(lost)} lost task(s) recovered, {len(freed)} stale lock(s) freed",
                  "\n".join([*lost, *(f"freed lock {name}" for name in freed)]) or "nothing was stuck")


def _purge(p: Params, s: Settings, progress: Progress) -> Result:
    dropped = queue.purge(s)
    left = len(queue.pending(s)) + len(queue.scheduled(s))
    state = "empty" if left == 0 else f"not empty ({left})"
    return Result(left == 0, f"Purged {dropped} task(s): the queue is {state}",
                  "queued and scheduled tasks were dropped and recorded as revoked; running tasks finish")


def _retry(p: Params, s: Settings, progress: Progress) -> Result:
    ids = queue.retry_failed(s)
    return Result(True, f"Re-queued {len(ids)} failed task(s)", "\n".join(ids) or "no failed task to retry")


def _revoke(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter the id of the task to revoke (see the task list)")
    queue.revoke(p.task.strip(), s)
    return Result(True, f"Revoked {p.task.strip()}", "it will not run")


def _request(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter a request id (Async Refresh shows it)")
    frame = request_table(p.task.strip(), s)
    states = frame["state"].value_counts().to_dict()
    return Result(True, f"Request {p.task.strip()}: " + ", ".join(f"{n} {k}" for k, n in states.items()), "", frame)


def _monitor(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.monitor import monitor

    report = monitor(p.days, verbose=True, settings=s)
    return Result(not report.failures, f"ETL over the last {p.days} day(s): {len(report.failures)} failure(s)",
                  report.text())


def _freshness(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.monitor import freshness_report

    report = freshness_report(today(s), settings=s)
    return Result(report.ok, "Freshness: " + ("within the SLA" if report.ok else "a dataset is CRITICAL"),
                  report.text(), freshness_table(s))


def _health(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.health import check_health

    health = check_health(s, today=today(s))
    return Result(health.ok, f"Health: {health.status}", json.dumps(health.to_dict(), indent=1, default=str))


def _profit_validation(p: Params, s: Settings, progress: Progress) -> Result:
    return validate_dates([p.date[0]], s, datasets=["profit"], progress=progress)


def _compact(p: Params, s: Settings, progress: Progress) -> Result:
    report = storage.compact(Lake(s.lake), older_than_days=p.older_than_days, today=today(s))
    return Result(not report.skipped, f"Compacted {len(report.done)} month(s)", report.text())


def _archive(p: Params, s: Settings, progress: Progress) -> Result:
    if p.archive_before is None:
        raise InputError("pick the first date to keep (archive before)")
    report = storage.archive(p.archive_before, lake=Lake(s.lake), today=today(s))
    return Result(True, f"Archived the partitions before {p.archive_before}", report.text())


def _clean_temp(p: Params, s: Settings, progress: Progress) -> Result:
    report = storage.clean_temp(Lake(s.lake))
    return Result(True, report.text().splitlines()[0], report.text())


def _backfill(p: Params, s: Settings, progress: Progress) -> Result:
    report = derived.backfill(s.lake, deep=p.deep)
    title = f"Rebuilt the derived tables of {len(report.dates)} date(s)" if report.dates else "Derived tables complete"
    return Result(report.ok, title, report.text(), value=report.dates)


def _aggregates(s: Settings) -> pd.DataFrame:
    sizes = table_sizes(s)
    return sizes[sizes["table"].isin([derived.PROFIT.source, *derived.PROFIT.tables])]


def _notebooks(s: Settings) -> pd.DataFrame:
    from nkdash.notebooks import NOTEBOOKS

    return pd.DataFrame([{"path": nb.path, "title": nb.title, "role": nb.role} for nb in NOTEBOOKS])


def _security(p: Params, s: Settings, progress: Progress) -> Result:
    frame = security_table(s)
    ok = bool(frame["ok"].all())
    return Result(ok, "Security checks: " + ("all pass" if ok else "some need attention"), "", frame)


def _read_only(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.dashboards import open_dashboard
    from nkdash.dashboards.engine import READ_ONLY

    db = open_dashboard(s.lake)
    return Result(db.lake.read_only, f"Dashboards open {db.lake.root} read-only: {db.lake.read_only}",
                  f"DuckDB settings of the dashboards: {READ_ONLY}; a write through a read-only Lake raises LakeError")


S_REFRESH = "Refresh"
S_PROFIT = "Profit"
S_MONITOR = "Monitoring"
S_SERVICES = "Services"
S_STUCK = "Queue and workers"
S_DATA = "Data and Odoo"
S_RECOVERY = "Recovery"
S_QUERY = "Queries"
S_STORAGE = "Storage"
S_SECURITY = "Security"
S_BACKUP = "Backup"
SECTIONS = (S_REFRESH, S_PROFIT, S_MONITOR, S_SERVICES, S_STUCK, S_DATA, S_RECOVERY, S_QUERY, S_STORAGE,
            S_SECURITY, S_BACKUP)

OPERATIONAL = ("/operational", "Refresh a dataset")
FRESHNESS = ("/operational", "Last processed dates")
TASKS = ("/operational", "Tasks")
MISSING = ("/recovery", "Missing and failed dates")
LAKE_SCAN = ("/recovery", "Lake scan")
ODOO = ("/recovery", "Odoo connection")
VALIDATE = ("/recovery", "Validation")
ETL_RUNS = ("/monitoring", "ETL runs")
QUERIES = ("/monitoring", "Slowest queries")
FILES = ("/monitoring", "Partition files")
DEPTH = ("/monitoring", "Queue depth")

RUNBOOK: tuple[Procedure, ...] = (
    # ---- schedule and refresh
    Procedure("schedule.daily", S_REFRESH, "Daily schedule",
              "A huey consumer (`nkdash worker`) looks at the schedule every minute: dimensions 01:50, POS 02:00, "
              "invoices 02:05, purchases 02:10, inventory moves 02:15, profit 02:20 (after its inputs), stock quants "
              "02:25, then the compaction of old months 03:00, in `NKDASH_TZ`. Each job loads every missing, failed "
              "or stale date up to yesterday, so a night missed while the consumer was down is repaired by the next "
              "run; profit first rebuilds the aggregates the lake alone can give.",
              ("nkdash.queue.SCHEDULE", "nkdash.queue.MAINTENANCE", "nkdash.queue.tick", "nkdash.queue.run_daily",
               "nkdash.queue.run_compaction", "nkdash.etl.catch_up", "nkdash.ops.schedule_table"),
              _view("The daily schedule", schedule_table), "Show the schedule"),
    Procedure("schedule.run-now", S_REFRESH, "Run the daily jobs now",
              "Queue today's job of every dataset at once (what the schedule does at night), e.g. after an outage. "
              "A worker must be running to take them.",
              ("nkdash.ops.enqueue_daily_jobs", "nkdash.queue.submit", "nkdash.etl.catch_up"),
              lambda p, s, progress: enqueue_daily_jobs(s), "Queue the daily jobs", "write"),
    Procedure("operations.page", S_REFRESH, "Operations page",
              "Pick a dataset and a date range: **Async Refresh** queues one task per date (at most 31 days), **Sync "
              "Refresh** loads one day now with a progress bar. The page shows the last processed date per dataset and "
              "a live task list.",
              ("nkdash.ops.async_refresh", "nkdash.ops.sync_refresh", "nkdash.queue.enqueue_refresh",
               "nkdash.queue.refresh_sync", "nkdash.ops.freshness_table", "nkdash.ops.task_table"),
              _view("Last processed dates", freshness_table), "Show the last processed dates", where=OPERATIONAL),
    Procedure("refresh.pos", S_REFRESH, "Force refresh: POS sales",
              "Reload the POS sales of a date now (the partition is replaced atomically; re-running never duplicates).",
              ("nkdash.ops.sync_refresh", "nkdash.queue.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("pos", p.date, settings=s, progress=progress),
              "Refresh POS sales for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.invoices-purchases", S_REFRESH, "Force refresh: invoices and purchases",
              "Reload the invoice sales and the purchases of a date now.",
              ("nkdash.ops.sync_refresh", "nkdash.queue.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: _both(sync_refresh("invoices", p.date, settings=s, progress=progress),
                                           sync_refresh("purchases", p.date, settings=s, progress=progress)),
              "Refresh invoices and purchases for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.stock-quants", S_REFRESH, "Force refresh: stock quants",
              "Reload the stock levels of a date now (a past date is rebuilt from today's quants and the moves since).",
              ("nkdash.ops.sync_refresh", "nkdash.queue.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("stock-quants", p.date, settings=s, progress=progress),
              "Refresh stock quants for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.dimensions", S_REFRESH, "Force refresh: dimensions",
              "Reload products, categories, partners, locations and stores completely (whole tables, no date).",
              ("nkdash.ops.sync_refresh", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("dimensions", (latest_date(s),) * 2, settings=s, progress=progress),
              "Reload the dimensions", "write", OPERATIONAL),
    # ---- profit
    Procedure("profit.date", S_PROFIT, "Profit ETL for a date",
              "Cost every sales line and rebuild the daily aggregates of a date; missing POS or invoice inputs are "
              "loaded first.",
              ("nkdash.ops.sync_refresh", "nkdash.queue.refresh_sync", "nkdash.etl.profit"),
              lambda p, s, progress: sync_refresh("profit", p.date, settings=s, progress=progress),
              "Run the profit ETL for the date", "write", OPERATIONAL, ("date",)),
    Procedure("profit.range", S_PROFIT, "Profit ETL for a date range",
              "Queue the profit ETL for every date of a range (at most 31 days per request); follow the request in the "
              "task list.",
              ("nkdash.ops.async_refresh", "nkdash.queue.enqueue_refresh", "nkdash.etl.profit"),
              lambda p, s, progress: async_refresh("profit", p.period, settings=s),
              "Queue the profit ETL for the range", "write", OPERATIONAL, ("range",)),
    Procedure("profit.validate", S_PROFIT, "Profit validation for a date",
              "Check `fact_sales` and `agg_profit_daily` of a date: Odoo's own counts and totals, margins, aggregates "
              "equal to the sums of the lines, keys present in the dimensions.",
              ("nkdash.ops.validate_dates", "nkdash.validate.validate"),
              _profit_validation, "Validate the profit of the date", where=VALIDATE, uses=("date",)),
    # ---- monitoring
    Procedure("monitor.performance", S_MONITOR, "Performance monitoring (--verbose)",
              "ETL runs, failures, rows, durations and throughput per dataset over the last N days, and every run "
              "(the old `monitor --days N --verbose`). The Monitoring page draws them.",
              ("nkdash.monitor.monitor", "nkdash.ops.runs_frame", "nkdash.ops.dataset_stats"),
              _monitor, "Show the ETL report", where=ETL_RUNS, uses=("days",)),
    Procedure("health.check", S_MONITOR, "Health check",
              "`GET /health` (public, no figures): lake readable and sound, metadata store, freshness, queue; 503 when "
              "something fails. Point the uptime monitor at it.",
              ("nkdash.health.check_health", "nkdash.web.build_app"),
              _health, "Run the health check"),
    Procedure("tasks.monitor", S_MONITOR, "Task monitoring (Flower's role)",
              "What is queued, running, done or failed, with durations and errors; the Operations page shows it live.",
              ("nkdash.queue.tasks", "nkdash.queue.status", "nkdash.ops.task_table", "nkdash.ops.task_counts"),
              _view("Task history", task_table), "Show the task history", where=TASKS),
    Procedure("tasks.request", S_MONITOR, "Follow an async request",
              "The state of every date of one Async Refresh request.",
              ("nkdash.queue.request_status", "nkdash.ops.request_table"),
              _request, "Show the request", uses=("task",)),
    Procedure("freshness.sla", S_MONITOR, "Freshness SLA",
              "Target: yesterday loaded (lag 1 day); 2-3 days behind is *late*; more than 3 days (or nothing "
              "loaded) is **critical**. Missing, failed and stale dates are listed per dataset.",
              ("nkdash.monitor.freshness_report", "nkdash.meta.MetaStore.freshness", "nkdash.ops.freshness_table"),
              _freshness, "Show freshness", where=FRESHNESS),
    Procedure("monitor.queue-depth", S_MONITOR, "Queue depth over time",
              "Tasks waiting and running over the last N days, derived from the task history.",
              ("nkdash.ops.queue_depth", "nkdash.meta.MetaStore.tasks"),
              lambda p, s, progress: Result(True, "Queue depth", "", queue_depth(s, p.days)), "Show the queue depth",
              where=DEPTH, uses=("days",)),
    # ---- services
    Procedure("services.status", S_SERVICES, "Service status",
              "Consumers started from these pages (pid, memory) and when the schedule was last checked by any "
              "consumer.",
              ("nkdash.ops.worker_table", "nkdash.queue.last_tick"),
              _workers, "Show the workers"),
    Procedure("services.start-worker", S_SERVICES, "Start the worker",
              "Start a huey consumer (`nkdash worker`, 2 threads) in the background; it first recovers tasks lost by a "
              "dead consumer, then runs the schedule and queued refreshes. Logs in `<log_dir>/huey/`.",
              ("nkdash.ops.start_worker", "nkdash.queue.start_worker_process"),
              lambda p, s, progress: start_worker(s), "Start a worker", "write"),
    Procedure("services.stop-worker", S_SERVICES, "Stop the worker",
              "SIGTERM the consumers started here: the tasks in hand finish first (up to a minute), then they exit. "
              "Nothing is lost: queued tasks wait for the next consumer.",
              ("nkdash.ops.stop_workers", "nkdash.queue.stop_worker"),
              lambda p, s, progress: stop_workers(s), "Stop the workers", "destructive"),
    Procedure("services.restart-worker", S_SERVICES, "Restart the worker",
              "Stop the consumers started here (gracefully), then start one.",
              ("nkdash.ops.restart_workers", "nkdash.queue.stop_worker", "nkdash.queue.start_worker_process"),
              lambda p, s, progress: restart_workers(s), "Restart the worker", "destructive"),
    Procedure("services.web", S_SERVICES, "The web server",
              "`nkdash serve` serves these pages; it runs under the machine's service manager (systemd, supervisor, "
              "a container), which starts, stops and restarts it — a page cannot restart the server it runs in. Its "
              "logs are `<log_dir>/web/web.log` and `access.log`.",
              ("nkdash.web.serve", "nkdash.web.setup_logging", "nkdash.ops.logs_result"),
              lambda p, s, progress: logs_result(["web"], s), "Show the web server log"),
    Procedure("services.logs", S_SERVICES, "Logs of the services",
              "The last lines of the worker's log and output (`<log_dir>/huey/`) and of the web server's logs "
              "(`<log_dir>/web/`).",
              ("nkdash.ops.log_files", "nkdash.ops.tail", "nkdash.queue.log_file"),
              lambda p, s, progress: logs_result(["worker", "worker output", "web"], s), "Show the logs"),
    # ---- troubleshooting: queue and workers
    Procedure("stuck.queue", S_STUCK, "Pipeline stuck: look at the queue",
              "Pending, scheduled and running tasks, and the partition locks held. Tasks pending and nothing running: "
              "no worker is up (start one). A lock held by a task that is not running: recover below.",
              ("nkdash.queue.status", "nkdash.queue.locks"),
              _queue_status, "Show the queue", where=TASKS),
    Procedure("stuck.worker", S_STUCK, "Pipeline stuck: the worker died",
              "Mark lost the tasks of dead consumers (their dates show as missing and the next run reloads them) and "
              "free the locks they held. Safe while consumers run.",
              ("nkdash.queue.recover", "nkdash.queue.flush_locks"),
              _recover, "Recover lost tasks and free stale locks", "write"),
    Procedure("stuck.clear", S_STUCK, "Pipeline stuck: clear the queue",
              "Drop every queued and scheduled task (the old `celery purge`); running tasks finish. The daily jobs and "
              "the recovery page reload whatever the dropped tasks would have loaded.",
              ("nkdash.queue.purge",),
              _purge, "Clear the queue", "destructive"),
    Procedure("backlog.active", S_STUCK, "Task backlog: see the active tasks",
              "Running tasks with their owner and start time, and how many wait.",
              ("nkdash.queue.running", "nkdash.queue.pending", "nkdash.queue.scheduled", "nkdash.ops.task_counts"),
              _queue_status, "Show the active tasks", where=TASKS),
    Procedure("backlog.purge", S_STUCK, "Task backlog: purge",
              "Drop the backlog of queued and scheduled tasks at once.",
              ("nkdash.queue.purge",),
              _purge, "Purge the queue", "destructive"),
    Procedure("backlog.revoke", S_STUCK, "Task backlog: revoke one task",
              "Revoke one queued task by id (a running task cannot be revoked).",
              ("nkdash.queue.revoke",),
              _revoke, "Revoke the task", "destructive", uses=("task",)),
    Procedure("backlog.retry", S_STUCK, "Task backlog: retry the failed tasks",
              "Queue again every failed (or lost) task that was not retried yet.",
              ("nkdash.queue.retry_failed",),
              _retry, "Retry failed tasks", "write"),
    Procedure("backlog.restart", S_STUCK, "Task backlog: restart the workers",
              "Stop the consumers started here gracefully and start a fresh one.",
              ("nkdash.ops.restart_workers", "nkdash.queue.start_worker_process", "nkdash.queue.stop_worker"),
              lambda p, s, progress: restart_workers(s), "Restart the workers", "destructive"),
    # ---- troubleshooting: data and Odoo
    Procedure("gaps.find", S_DATA, "Data gaps: find the missing dates",
              "Per dataset: missing, failed and stale dates, and dates recorded as loaded whose files are gone.",
              ("nkdash.ops.recovery_plan", "nkdash.ops.due_dates", "nkdash.meta.MetaStore.freshness",
               "nkdash.lake.Lake.partitions"),
              _view("Missing and failed dates", recovery_plan), "Find missing dates", where=MISSING),
    Procedure("gaps.refresh", S_DATA, "Data gaps: refresh them",
              f"Reload every due date (the {REPAIR_LIMIT} most recent per dataset per run), POS and invoices before "
              "profit, under the partition locks.",
              ("nkdash.ops.repair_all", "nkdash.queue.load", "nkdash.etl.refresh"),
              lambda p, s, progress: repair_all(s, progress=progress), "Refresh the missing dates", "write", MISSING),
    Procedure("gaps.credentials", S_DATA, "Data gaps: check the Odoo credentials",
              "Connect and log in to Odoo; a failure names the setting to fix (`ODOO_URL`, `ODOO_DB`, `ODOO_USER`, "
              "`ODOO_PASSWORD`).",
              ("nkdash.ops.odoo_check", "nkdash.odoo.connect"),
              lambda p, s, progress: odoo_result(s), "Check Odoo", where=ODOO),
    Procedure("odoo.timeouts", S_DATA, "Odoo timeouts",
              "Odoo kills requests after `limit_time_real`; nkdash pages by id in batches and retries with backoff. "
              "Runs that timed out are listed; lower `NKDASH_ODOO_BATCH_SIZE` or raise `NKDASH_ODOO_TIMEOUT` in "
              "`.env`.",
              ("nkdash.ops.odoo_timeouts", "nkdash.ops.odoo_check", "nkdash.monitor.monitor"),
              lambda p, s, progress: odoo_timeouts(s, p.days), "Check for timeouts", where=ODOO, uses=("days",)),
    Procedure("query.slowness", S_DATA, "Query slowness",
              "The slowest dashboard queries. Narrow the dashboard period, compact old months (Storage) and check the "
              "lake scan: every query filters on date and reads only the files of its dates.",
              ("nkdash.ops.slowest_queries", "nkdash.ops.query_stats", "nkdash.meta.MetaStore.query_timings"),
              _view("Slowest queries", slowest_queries), "Show the slowest queries", where=QUERIES),
    Procedure("memory", S_DATA, "Memory",
              "Memory of the machine, the web server and the workers. Under pressure, use smaller ranges: an async "
              "request is at most 31 days, loads one date per task, and dashboards read only the files of their "
              "period.",
              ("nkdash.ops.memory_table", "nkdash.calendar.MAX_ASYNC_DAYS"),
              _view("Memory", memory_table), "Show memory use"),
    Procedure("corrupt.find", S_DATA, "Corrupt parquet: find",
              "Scan the lake: unreadable or truncated files, checksums (deep), schemas, empty or doubled partitions, "
              "stray files.",
              ("nkdash.ops.scan_result", "nkdash.lake.Lake.scan"),
              lambda p, s, progress: scan_result(s, deep=p.deep), "Scan the lake", where=LAKE_SCAN, uses=("deep",)),
    Procedure("corrupt.rebuild", S_DATA, "Corrupt parquet: delete and re-run",
              "Move every damaged partition to `_quarantine` (the old runbook deleted it), record it as missing, "
              "reload it from Odoo, and scan again.",
              ("nkdash.ops.repair_lake", "nkdash.ops.scan_and_quarantine", "nkdash.ops.rebuild",
               "nkdash.lake.Lake.quarantine", "nkdash.meta.MetaStore.set_partition"),
              lambda p, s, progress: repair_lake(s, deep=p.deep, progress=progress), "Quarantine and rebuild",
              "destructive", LAKE_SCAN, ("deep",)),
    # ---- recovery procedure
    Procedure("recovery.identify", S_RECOVERY, "1. Identify the missing dates",
              "Freshness against the SLA, and every date to reload per dataset.",
              ("nkdash.ops.recovery_plan", "nkdash.monitor.freshness_report"),
              _view("Missing and failed dates", recovery_plan), "Identify missing dates", where=MISSING),
    Procedure("recovery.refresh", S_RECOVERY, "2. Force refresh them",
              "Reload the due dates of every dataset in one action.",
              ("nkdash.ops.repair_all", "nkdash.queue.load"),
              lambda p, s, progress: repair_all(s, progress=progress), "Refresh every missing date", "write", MISSING),
    Procedure("recovery.validate", S_RECOVERY, "3. Validate",
              "Validate the dates of the range against Odoo: counts, totals and every declared check.",
              ("nkdash.ops.validate_dates", "nkdash.validate.validate"),
              lambda p, s, progress: validate_dates(dates_of(p.period), s, progress=progress), "Validate the range",
              where=VALIDATE, uses=("range",)),
    # ---- query performance
    Procedure("query.date-filters", S_QUERY, "Date filters",
              "Every dashboard query filters on `date` with bound parameters and opens only the partitions of its "
              "period: a narrower period reads fewer files. Partitions per table:",
              ("nkdash.dashboards.Filters", "nkdash.dashboards.Dashboard.files", "nkdash.ops.table_sizes"),
              _view("Partitions per table", table_sizes), "Show partitions per table"),
    Procedure("query.aggregates", S_QUERY, "Aggregate tables",
              "Sales, margin and units come from `agg_profit_daily` (sums of `fact_sales` by date, channel, store, "
              "category, product), far fewer rows than the lines.",
              ("nkdash.datasets.profit.extract", "nkdash.ops.table_sizes"),
              _view("Lines vs aggregates", _aggregates), "Compare lines and aggregates"),
    Procedure("query.caching", S_QUERY, "Caching",
              "Each server process keeps an LRU cache of query results keyed by the files a query reads; a reload, "
              "quarantine or compaction changes the files and so invalidates the entries by itself.",
              ("nkdash.dashboards.Dashboard.run", "nkdash.ops.cache_check"),
              lambda p, s, progress: cache_check(s), "Time a cached query"),
    Procedure("query.timing-logs", S_QUERY, "Timing logs",
              "Every executed dashboard query is timed into the metadata store: count, median, p95 and slowest per "
              "query over the last N days.",
              ("nkdash.meta.MetaStore.record_query", "nkdash.ops.query_stats", "nkdash.monitor.monitor"),
              lambda p, s, progress: Result(True, f"Query timings, last {p.days} day(s)", "", query_stats(s, p.days)),
              "Show query timings", where=QUERIES, uses=("days",)),
    # ---- storage
    Procedure("storage.sizes", S_STORAGE, "File sizes",
              "Per table: files, dates, compacted months, rows, bytes, smallest and largest file.",
              ("nkdash.storage.sizes", "nkdash.storage.disk_usage", "nkdash.ops.partition_files"),
              _view("Sizes per table", table_sizes), "Show sizes", where=FILES),
    Procedure("storage.compact", S_STORAGE, "Compact old partitions",
              "Merge the daily partitions of months that ended more than N days ago into one file per month and table "
              "(readers see the month before or after, never half). The schedule does it every night at 03:00 for "
              "months that ended `NKDASH_COMPACT_AFTER_DAYS` days ago (default 30).",
              ("nkdash.storage.compact", "nkdash.storage.compact_old_months", "nkdash.queue.MAINTENANCE",
               "nkdash.lake.Lake.compact_month"),
              _compact, "Compact old months", "write", uses=("older than",)),
    Procedure("storage.archive", S_STORAGE, "Archive old data",
              "Move every partition before a date to `<lake>/_archive` (a compacted lake, still readable); the "
              "metadata forgets those dates so they are neither missing nor reloaded.",
              ("nkdash.storage.archive",),
              _archive, "Archive the old partitions", "destructive", uses=("archive before",)),
    Procedure("storage.backfill", S_STORAGE, "Rebuild derived tables",
              "The aggregates (`agg_profit_daily`, `agg_sales_daily`, `agg_orders_daily`) of every date whose "
              "`fact_sales` is in the lake but whose aggregate is missing (a lake from before that table existed) or "
              "not the one recorded with it (a write killed half-way), rebuilt from `fact_sales` alone, no Odoo; "
              "months that are compacted stay compacted. Deep: recompute every date. The nightly profit job, "
              "`nkdash up` and the recovery repair do this first by themselves.",
              ("nkdash.derived.backfill", "nkdash.derived.gaps", "nkdash.lake.Lake.write_partition"),
              _backfill, "Rebuild derived tables", "write", uses=("deep",)),
    Procedure("storage.clean-temp", S_STORAGE, "Clean temporary files",
              "Remove leftovers of killed writes and work directories (reports the bytes freed).",
              ("nkdash.storage.clean_temp", "nkdash.lake.Lake.clean_temp"),
              _clean_temp, "Clean temporary files", "write"),
    # ---- security
    Procedure("security.env", S_SECURITY, "Credentials only in .env",
              "Odoo and web credentials come from `.env` (or the environment) and are never printed, logged or shown.",
              ("nkdash.settings.load_settings", "nkdash.settings.Secret", "nkdash.ops.security_table"),
              _security, "Run the security checks"),
    Procedure("security.etl-restricted", S_SECURITY, "ETL operations restricted",
              "Operations, recovery, runbook and monitoring pages need the operator login; viewers see dashboards "
              "only.",
              ("nkdash.notebooks.NOTEBOOKS", "nkdash.notebooks.may_open", "nkdash.web.Gate"),
              _view("Pages and roles", _notebooks), "Show pages and roles"),
    Procedure("security.read-only", S_SECURITY, "Dashboards read-only",
              "Dashboards open the lake read-only and query it through DuckDB with file access disabled.",
              ("nkdash.dashboards.open_dashboard", "nkdash.dashboards.engine.READ_ONLY"),
              _read_only, "Check dashboard access"),
    Procedure("security.access-log", S_SECURITY, "Access logged",
              "One line per request in `<log_dir>/web/access.log`: time, client, user, role, method, path, status "
              "(never a query string, cookie or credential).",
              ("nkdash.web.Gate", "nkdash.ops.logs_result"),
              lambda p, s, progress: logs_result(["web access"], s), "Show the access log"),
    # ---- backup and restore
    Procedure("backup.list", S_BACKUP, "List the backups",
              "Backups in `<state_dir>/backups`, newest first.",
              ("nkdash.storage.list_backups",),
              lambda p, s, progress: backups_result(s), "List backups"),
    Procedure("backup.create", S_BACKUP, "Back up the lake",
              "A consistent snapshot of the data and the metadata (writers wait a few milliseconds), with a manifest "
              "of every file's sha256.",
              ("nkdash.ops.backup", "nkdash.storage.backup"),
              lambda p, s, progress: backup(s), "Back up now", "write"),
    Procedure("backup.verify", S_BACKUP, "Verify a backup",
              "Check every file of a backup against its manifest.",
              ("nkdash.storage.verify_backup",),
              lambda p, s, progress: verify_backup(p.backup, s), "Verify the backup", uses=("backup",)),
    Procedure("backup.restore", S_BACKUP, "Restore the lake",
              "Replace the lake's data and metadata with a backup (the current star schema is kept in `_quarantine`), "
              "then scan the lake and validate the latest restored dates against Odoo.",
              ("nkdash.ops.restore", "nkdash.storage.restore", "nkdash.validate.validate"),
              lambda p, s, progress: restore(p.backup, s), "Restore the backup", "destructive", uses=("backup",)),
    Procedure("backup.validate", S_BACKUP, "Validate after a restore",
              "Validate the dates of the range against Odoo.",
              ("nkdash.ops.validate_dates", "nkdash.validate.validate"),
              lambda p, s, progress: validate_dates(dates_of(p.period), s, progress=progress), "Validate the range",
              where=VALIDATE, uses=("range",)),
)
PROCEDURES: dict[str, Procedure] = {p.key: p for p in RUNBOOK}


def procedures(section: str) -> list[Procedure]:
    return [p for p in RUNBOOK if p.section == section]


def clicked(values: dict[str, bool]) -> str | None:
    """The key of the runbook button just pressed, if any."""
    return next((key for key, pressed in values.items() if pressed), None)


def run(key: str, params: Params, *, settings: Settings | None = None, progress: Progress = no_progress) -> Result:
    """Run a runbook procedure's action; errors an operator can act on become a failed Result."""
    procedure = PROCEDURES[key]
    return guarded(procedure.title)(procedure.action)(params, settings or get_settings(), progress)
