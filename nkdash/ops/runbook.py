"""The runbook: every procedure of the old runbook, where it is done and what it calls."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nkdash import storage
from nkdash.errors import InputError, NKDashError
from nkdash.etl import derived
from nkdash.jobs import control, history
from nkdash.lake import Lake
from nkdash.ops.backups import backup, backups_result, restore, verify_backup
from nkdash.ops.common import (
    Progress,
    Result,
    attempt,
    dates_of,
    describe,
    guarded,
    latest_date,
    no_progress,
    today,
)
from nkdash.ops.monitoring import cache_check, query_stats, queue_depth, slowest_queries, table_sizes
from nkdash.ops.recovery import (
    REPAIR_LIMIT,
    odoo_result,
    odoo_timeouts,
    recovery_plan,
    repair,
    scan,
    validate_dates,
)
from nkdash.ops.refresh import async_refresh, enqueue_daily_jobs, sync_refresh
from nkdash.ops.security import security_table
from nkdash.ops.services import logs_result, memory_table, restart_workers, start_worker, stop_workers, worker_table
from nkdash.ops.tables import freshness_table, request_table, schedule_table, task_table
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.ops.common import Risk


COMPACT_AFTER_DAYS = storage.DEFAULT_COMPACT_AFTER_DAYS


@dataclass(frozen=True)
class Params:
    """The runbook page's inputs."""

    day: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    days: int = 7
    backup: str | None = None  # a backup path; None: the newest
    task: str = ""  # a task or request id
    older_than_days: int = COMPACT_AFTER_DAYS
    archive_before: dt.date | None = None
    deep: bool = False
    force: bool = False  # archive inside the retention window (after a second confirmation)

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
    return Result(
        all(r.ok for r in results), " · ".join(r.title for r in results), "\n".join(r.text for r in results if r.text)
    )


def _queue_status(p: Params, s: Settings, progress: Progress) -> Result:
    status = control.status(s)
    title = f"{len(status.pending)} pending, {len(status.scheduled)} scheduled, {len(status.running)} running"
    return Result(True, title, status.text(), task_table(s, state="running"))


def _workers(p: Params, s: Settings, progress: Progress) -> Result:
    frame = worker_table(s)
    return Result(
        True,
        f"{len(frame)} worker(s) started here; schedule last checked {frame.attrs['last_tick'] or 'never'}",
        "",
        frame,
    )


def _recover(p: Params, s: Settings, progress: Progress) -> Result:
    lost, freed = history.recover(s), control.flush_locks(s)
    return Result(
        True,
        f"{len(lost)} lost task(s) recovered, {len(freed)} stale lock(s) freed",
        "\n".join([*lost, *(f"freed lock {name}" for name in freed)]) or "nothing was stuck",
    )


def _purge(p: Params, s: Settings, progress: Progress) -> Result:
    dropped = control.purge(s)
    left = len(control.pending(s)) + len(control.scheduled(s))
    state = "empty" if left == 0 else f"not empty ({left})"
    return Result(
        left == 0,
        f"Purged {dropped} task(s): the queue is {state}",
        "queued and scheduled tasks were dropped and recorded as revoked; running tasks finish",
    )


def _retry(p: Params, s: Settings, progress: Progress) -> Result:
    ids = control.retry_failed(s)
    return Result(True, f"Re-queued {len(ids)} failed task(s)", "\n".join(ids) or "no failed task to retry")


def _revoke(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter the id of the task to revoke (see the task list)")
    what = control.revoke(p.task.strip(), s)
    return Result(True, f"Revoked {p.task.strip()}", f"{what}: it will not run")


def _request(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter a request id (Async Refresh shows it)")
    frame = request_table(p.task.strip(), s)
    states = frame["state"].value_counts().to_dict()
    return Result(True, f"Request {p.task.strip()}: " + ", ".join(f"{n} {k}" for k, n in states.items()), "", frame)


def _monitor(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.ops.report import monitor

    report = monitor(p.days, verbose=True, settings=s)
    return Result(
        not report.failures, f"ETL over the last {p.days} day(s): {len(report.failures)} failure(s)", report.text()
    )


def _freshness(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.etl.freshness import freshness_report

    report = freshness_report(today(s), settings=s)
    return Result(
        report.ok,
        "Freshness: " + ("within the SLA" if report.ok else "a dataset is CRITICAL"),
        report.text(),
        freshness_table(s),
    )


def _health(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.ops.health import check_health

    health = check_health(s, today=today(s))
    return Result(health.ok, f"Health: {health.status}", json.dumps(health.to_dict(), indent=1, default=str))


def _reconcile_check(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.etl.reconcile import reconcile

    report = reconcile(today(s), settings=s, dry_run=True)
    differ = len(report.findings)
    return Result(
        report.ok, f"Against Odoo: {differ} dataset date(s) differ" if differ else "Agrees with Odoo", report.text()
    )


def _profit_validation(p: Params, s: Settings, progress: Progress) -> Result:
    return validate_dates([p.date[0]], s, datasets=["profit"], progress=progress)


def _compact(p: Params, s: Settings, progress: Progress) -> Result:
    report = storage.compact(Lake(s.lake), older_than_days=p.older_than_days, today=today(s))
    return Result(not report.skipped, f"Compacted {len(report.done)} month(s)", report.text())


def _archive(p: Params, s: Settings, progress: Progress) -> Result:
    if p.archive_before is None:
        raise InputError("pick the first date to keep (archive before)")
    report = storage.archive(
        p.archive_before, lake=Lake(s.lake), today=today(s), retention_years=s.retention_years, force=p.force
    )
    return Result(True, f"Archived {report.partitions} partition(s) before {p.archive_before}", report.text())


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
    return Result(
        db.lake.read_only,
        f"Dashboards open {db.lake.root} read-only: {db.lake.read_only}",
        f"DuckDB settings of the dashboards: {READ_ONLY}; a write through a read-only Lake raises LakeError",
    )


def _report(title: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Result:
    """A library report (scan, repair) as a page result; errors become a failed result."""
    report = attempt(title, fn, *args, **kwargs)
    return report if isinstance(report, Result) else report.result()


ACTIONS: dict[str, Action] = {  # procedure key -> what its button runs
    "schedule.daily": _view("The daily schedule", schedule_table),
    "schedule.run-now": lambda p, s, progress: enqueue_daily_jobs(s),
    "operations.page": _view("Last processed dates", freshness_table),
    "refresh.pos": lambda p, s, progress: sync_refresh("pos", p.date, settings=s, progress=progress),
    "refresh.invoices-purchases": lambda p, s, progress: _both(
        sync_refresh("invoices", p.date, settings=s, progress=progress),
        sync_refresh("purchases", p.date, settings=s, progress=progress),
    ),
    "refresh.stock-quants": lambda p, s, progress: sync_refresh("stock-quants", p.date, settings=s, progress=progress),
    "refresh.dimensions": lambda p, s, progress: sync_refresh(
        "dimensions", (latest_date(s),) * 2, settings=s, progress=progress
    ),
    "profit.date": lambda p, s, progress: sync_refresh("profit", p.date, settings=s, progress=progress),
    "profit.range": lambda p, s, progress: async_refresh("profit", p.period, settings=s),
    "profit.validate": _profit_validation,
    "monitor.performance": _monitor,
    "health.check": _health,
    "reconcile.check": _reconcile_check,
    "tasks.monitor": _view("Task history", task_table),
    "tasks.request": _request,
    "freshness.sla": _freshness,
    "monitor.queue-depth": lambda p, s, progress: Result(True, "Queue depth", "", queue_depth(s, p.days)),
    "services.status": _workers,
    "services.start-worker": lambda p, s, progress: start_worker(s),
    "services.stop-worker": lambda p, s, progress: stop_workers(s),
    "services.restart-worker": lambda p, s, progress: restart_workers(s),
    "services.web": lambda p, s, progress: logs_result(["web"], s),
    "services.logs": lambda p, s, progress: logs_result(["worker", "worker output", "web"], s),
    "stuck.queue": _queue_status,
    "stuck.worker": _recover,
    "backlog.purge": _purge,
    "backlog.revoke": _revoke,
    "backlog.retry": _retry,
    "gaps.credentials": lambda p, s, progress: odoo_result(s),
    "odoo.timeouts": lambda p, s, progress: odoo_timeouts(s, p.days),
    "query.slowness": _view("Slowest queries", slowest_queries),
    "memory": _view("Memory", memory_table),
    "corrupt.find": lambda p, s, progress: _report("Lake scan", scan, s, deep=p.deep),
    "corrupt.rebuild": lambda p, s, progress: _report("Repair", repair, s, deep=p.deep, progress=progress),
    "recovery.identify": _view("Missing and failed dates", recovery_plan),
    "recovery.refresh": lambda p, s, progress: _report("Repair", repair, s, progress=progress),
    "recovery.validate": lambda p, s, progress: validate_dates(dates_of(p.period), s, progress=progress),
    "query.date-filters": _view("Partitions per table", table_sizes),
    "query.aggregates": _view("Lines vs aggregates", _aggregates),
    "query.caching": lambda p, s, progress: cache_check(s),
    "query.timing-logs": lambda p, s, progress: Result(
        True, f"Query timings, last {p.days} day(s)", "", query_stats(s, p.days)
    ),
    "storage.sizes": _view("Sizes per table", table_sizes),
    "storage.compact": _compact,
    "storage.archive": _archive,
    "storage.backfill": _backfill,
    "storage.clean-temp": _clean_temp,
    "security.env": _security,
    "security.etl-restricted": _view("Pages and roles", _notebooks),
    "security.read-only": _read_only,
    "security.access-log": lambda p, s, progress: logs_result(["web access"], s),
    "backup.list": lambda p, s, progress: backups_result(s),
    "backup.create": lambda p, s, progress: backup(s),
    "backup.verify": lambda p, s, progress: verify_backup(p.backup, s),
    "backup.restore": lambda p, s, progress: restore(p.backup, s),
}


ALIASES: dict[str, str] = {  # a procedure of the old runbook done by another one here (one name per procedure)
    "stuck.clear": "backlog.purge",  # "clear the queue" when stuck = the backlog's purge
    "backlog.active": "stuck.queue",
    "backlog.restart": "services.restart-worker",
    "gaps.find": "recovery.identify",
    "gaps.refresh": "recovery.refresh",
    "backup.validate": "recovery.validate",
}


PLACEHOLDERS = {"REPAIR_LIMIT": str(REPAIR_LIMIT)}  # values the procedures' prose may name in {braces}


def _load(path: Path) -> tuple[Procedure, ...]:
    """The procedures of ``runbook.toml`` (data: prose, calls, places) with their actions."""
    with path.open("rb") as f:
        entries = tomllib.load(f)["procedure"]
    procedures = []
    for e in entries:
        how = e["how"].strip()
        for name, value in PLACEHOLDERS.items():
            how = how.replace("{" + name + "}", value)
        procedures.append(
            Procedure(
                e["key"],
                e["section"],
                e["title"],
                how,
                tuple(e["calls"]),
                ACTIONS[e["key"]],
                e["label"],
                e.get("risk", "read"),
                tuple(e["where"]) if "where" in e else None,
                tuple(e.get("uses", ())),
            )
        )
    return tuple(procedures)


RUNBOOK: tuple[Procedure, ...] = _load(Path(__file__).with_name("runbook.toml"))
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(p.section for p in RUNBOOK))


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


FORCE_WORD = "force archive"  # typed to archive inside the retention window


@dataclass(frozen=True)
class Step:
    """What a click on a procedure's button gives: the result of one that only reads, or the
    preview of one that changes data and what confirms it: a click (``word`` None) or, for
    those that remove data, typing ``word``. ``blocked``: the preview failed (bad input), no
    confirmation is offered. ``force``: the confirmed run archives inside the retention."""

    key: str
    result: Result | None = None
    preview: Result | None = None
    word: str | None = None
    blocked: bool = False
    force: bool = False

    @property
    def procedure(self) -> Procedure:
        return PROCEDURES[self.key]


def word_of(procedure: Procedure) -> str | None:
    """What to type to confirm ``procedure``: the first word of its button for those that
    remove or replace data ("purge", "archive", "restore"...), None (a click) otherwise."""
    return procedure.label.split()[0].lower() if procedure.risk == "destructive" else None


def begin(key: str, params: Params, *, settings: Settings | None = None, progress: Progress = no_progress) -> Step:
    """A click on ``key``'s button: run a read-only procedure; preview one that changes data."""
    from nkdash.ops.previews import PREVIEWS
    from nkdash.storage import InsideRetention

    settings = settings or get_settings()
    procedure = PROCEDURES[key]
    if not procedure.mutating:
        return Step(key, result=run(key, params, settings=settings, progress=progress))
    title = f"{procedure.title}: what it will do (nothing changed yet)"
    try:
        text = PREVIEWS[key](params, settings)
    except InsideRetention as exc:
        forced = PREVIEWS[key](replace(params, force=True), settings)
        refused = Result(
            False,
            f"{procedure.title}: refused — inside the retention window",
            f"{exc}\n\nForced, it would {forced}\n\nTo archive these dates anyway (a second confirmation), type "
            f"{FORCE_WORD!r}.",
        )
        return Step(key, preview=refused, word=FORCE_WORD, force=True)
    except (NKDashError, OSError, sqlite3.Error) as exc:
        return Step(key, preview=Result(False, f"{procedure.title}: cannot be done", describe(exc)), blocked=True)
    confirm = f"Type {word_of(procedure)!r} to confirm." if word_of(procedure) else "Press Confirm to do it."
    return Step(key, preview=Result(True, title, f"{text}\n\n{confirm}"), word=word_of(procedure))


def finish(step: Step, params: Params, *, settings: Settings | None = None, progress: Progress = no_progress) -> Result:
    """The confirmed run of a previewed procedure (forced when the preview was a refusal)."""
    chosen = replace(params, force=True) if step.force else params
    return run(step.key, chosen, settings=settings, progress=progress)
