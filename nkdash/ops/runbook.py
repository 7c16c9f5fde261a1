"""The runbook: every procedure of the old runbook, where it is done and what it calls."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from nkdash import storage
from nkdash.errors import InputError
from nkdash.etl import derived
from nkdash.jobs import control, history
from nkdash.lake import Lake
from nkdash.ops.backups import backup, backups_result, restore, security_table, verify_backup
from nkdash.ops.common import Progress, Result, dates_of, guarded, latest_date, no_progress, today
from nkdash.ops.monitoring import cache_check, query_stats, queue_depth, slowest_queries, table_sizes
from nkdash.ops.recovery import (
    REPAIR_LIMIT,
    odoo_result,
    odoo_timeouts,
    recovery_plan,
    repair_all,
    repair_lake,
    scan_result,
    validate_dates,
)
from nkdash.ops.refresh import async_refresh, enqueue_daily_jobs, sync_refresh
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
    status = control.status(s)
    title = f"{len(status.pending)} pending, {len(status.scheduled)} scheduled, {len(status.running)} running"
    return Result(True, title, status.text(), task_table(s, state="running"))


def _workers(p: Params, s: Settings, progress: Progress) -> Result:
    frame = worker_table(s)
    return Result(True, f"{len(frame)} worker(s) started here; schedule last checked "
                        f"{frame.attrs['last_tick'] or 'never'}", "", frame)


def _recover(p: Params, s: Settings, progress: Progress) -> Result:
    lost, freed = history.recover(s), control.flush_locks(s)
    return Result(True, f"{len(lost)} lost task(s) recovered, {len(freed)} stale lock(s) freed",
                  "\n".join([*lost, *(f"freed lock {name}" for name in freed)]) or "nothing was stuck")


def _purge(p: Params, s: Settings, progress: Progress) -> Result:
    dropped = control.purge(s)
    left = len(control.pending(s)) + len(control.scheduled(s))
    state = "empty" if left == 0 else f"not empty ({left})"
    return Result(left == 0, f"Purged {dropped} task(s): the queue is {state}",
                  "queued and scheduled tasks were dropped and recorded as revoked; running tasks finish")


def _retry(p: Params, s: Settings, progress: Progress) -> Result:
    ids = control.retry_failed(s)
    return Result(True, f"Re-queued {len(ids)} failed task(s)", "\n".join(ids) or "no failed task to retry")


def _revoke(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter the id of the task to revoke (see the task list)")
    control.revoke(p.task.strip(), s)
    return Result(True, f"Revoked {p.task.strip()}", "it will not run")


def _request(p: Params, s: Settings, progress: Progress) -> Result:
    if not p.task:
        raise InputError("enter a request id (Async Refresh shows it)")
    frame = request_table(p.task.strip(), s)
    states = frame["state"].value_counts().to_dict()
    return Result(True, f"Request {p.task.strip()}: " + ", ".join(f"{n} {k}" for k, n in states.items()), "", frame)


def _monitor(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.ops.report import monitor

    report = monitor(p.days, verbose=True, settings=s)
    return Result(not report.failures, f"ETL over the last {p.days} day(s): {len(report.failures)} failure(s)",
                  report.text())


def _freshness(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.etl.freshness import freshness_report

    report = freshness_report(today(s), settings=s)
    return Result(report.ok, "Freshness: " + ("within the SLA" if report.ok else "a dataset is CRITICAL"),
                  report.text(), freshness_table(s))


def _health(p: Params, s: Settings, progress: Progress) -> Result:
    from nkdash.web.health import check_health

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
    from nkdash.web.notebooks import NOTEBOOKS

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
    Procedure("schedule.daily", S_REFRESH, "Daily schedule",
              "A huey consumer (`nkdash worker`) looks at the schedule every minute: dimensions 01:50, POS 02:00, "
              "invoices 02:05, purchases 02:10, inventory moves 02:15, profit 02:20 (after its inputs), stock quants "
              "02:25, then the compaction of old months 03:00, in `NKDASH_TZ`. Each job loads every missing, failed "
              "or stale date up to yesterday, so a night missed while the consumer was down is repaired by the next "
              "run; profit first rebuilds the aggregates the lake alone can give.",
              ("nkdash.jobs.schedule.SCHEDULE", "nkdash.jobs.schedule.MAINTENANCE", "nkdash.jobs.schedule.tick", "nkdash.jobs.work.run_daily",
               "nkdash.jobs.work.run_compaction", "nkdash.etl.catch_up", "nkdash.ops.tables.schedule_table"),
              _view("The daily schedule", schedule_table), "Show the schedule"),
    Procedure("schedule.run-now", S_REFRESH, "Run the daily jobs now",
              "Queue today's job of every dataset at once (what the schedule does at night), e.g. after an outage. "
              "A worker must be running to take them.",
              ("nkdash.ops.refresh.enqueue_daily_jobs", "nkdash.jobs.backend.submit", "nkdash.etl.catch_up"),
              lambda p, s, progress: enqueue_daily_jobs(s), "Queue the daily jobs", "write"),
    Procedure("operations.page", S_REFRESH, "Operations page",
              "Pick a dataset and a date range: **Async Refresh** queues one task per date (at most 31 days), **Sync "
              "Refresh** loads one day now with a progress bar. The page shows the last processed date per dataset and "
              "a live task list.",
              ("nkdash.ops.refresh.async_refresh", "nkdash.ops.refresh.sync_refresh", "nkdash.jobs.requests.enqueue_refresh",
               "nkdash.jobs.requests.refresh_sync", "nkdash.ops.tables.freshness_table", "nkdash.ops.tables.task_table"),
              _view("Last processed dates", freshness_table), "Show the last processed dates", where=OPERATIONAL),
    Procedure("refresh.pos", S_REFRESH, "Force refresh: POS sales",
              "Reload the POS sales of a date now (the partition is replaced atomically; re-running never duplicates).",
              ("nkdash.ops.refresh.sync_refresh", "nkdash.jobs.requests.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("pos", p.date, settings=s, progress=progress),
              "Refresh POS sales for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.invoices-purchases", S_REFRESH, "Force refresh: invoices and purchases",
              "Reload the invoice sales and the purchases of a date now.",
              ("nkdash.ops.refresh.sync_refresh", "nkdash.jobs.requests.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: _both(sync_refresh("invoices", p.date, settings=s, progress=progress),
                                           sync_refresh("purchases", p.date, settings=s, progress=progress)),
              "Refresh invoices and purchases for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.stock-quants", S_REFRESH, "Force refresh: stock quants",
              "Reload the stock levels of a date now (a past date is rebuilt from today's quants and the moves since).",
              ("nkdash.ops.refresh.sync_refresh", "nkdash.jobs.requests.refresh_sync", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("stock-quants", p.date, settings=s, progress=progress),
              "Refresh stock quants for the date", "write", OPERATIONAL, ("date",)),
    Procedure("refresh.dimensions", S_REFRESH, "Force refresh: dimensions",
              "Reload products, categories, partners, locations and stores completely (whole tables, no date).",
              ("nkdash.ops.refresh.sync_refresh", "nkdash.etl.refresh"),
              lambda p, s, progress: sync_refresh("dimensions", (latest_date(s),) * 2, settings=s, progress=progress),
              "Reload the dimensions", "write", OPERATIONAL),
    Procedure("profit.date", S_PROFIT, "Profit ETL for a date",
              "Cost every sales line and rebuild the daily aggregates of a date; missing POS or invoice inputs are "
              "loaded first.",
              ("nkdash.ops.refresh.sync_refresh", "nkdash.jobs.requests.refresh_sync", "nkdash.etl.profit"),
              lambda p, s, progress: sync_refresh("profit", p.date, settings=s, progress=progress),
              "Run the profit ETL for the date", "write", OPERATIONAL, ("date",)),
    Procedure("profit.range", S_PROFIT, "Profit ETL for a date range",
              "Queue the profit ETL for every date of a range (at most 31 days per request); follow the request in the "
              "task list.",
              ("nkdash.ops.refresh.async_refresh", "nkdash.jobs.requests.enqueue_refresh", "nkdash.etl.profit"),
              lambda p, s, progress: async_refresh("profit", p.period, settings=s),
              "Queue the profit ETL for the range", "write", OPERATIONAL, ("range",)),
    Procedure("profit.validate", S_PROFIT, "Profit validation for a date",
              "Check `fact_sales` and `agg_profit_daily` of a date: Odoo's own counts and totals, margins, aggregates "
              "equal to the sums of the lines, keys present in the dimensions.",
              ("nkdash.ops.recovery.validate_dates", "nkdash.etl.validate.validate"),
              _profit_validation, "Validate the profit of the date", where=VALIDATE, uses=("date",)),
    Procedure("monitor.performance", S_MONITOR, "Performance monitoring (--verbose)",
              "ETL runs, failures, rows, durations and throughput per dataset over the last N days, and every run "
              "(the old `monitor --days N --verbose`). The Monitoring page draws them.",
              ("nkdash.ops.report.monitor", "nkdash.ops.monitoring.runs_frame", "nkdash.ops.monitoring.dataset_stats"),
              _monitor, "Show the ETL report", where=ETL_RUNS, uses=("days",)),
    Procedure("health.check", S_MONITOR, "Health check",
              "`GET /health` (public, no figures): lake readable and sound, metadata store, freshness, queue; 503 when "
              "something fails. Point the uptime monitor at it.",
              ("nkdash.web.health.check_health", "nkdash.web.app.build_app"),
              _health, "Run the health check"),
    Procedure("tasks.monitor", S_MONITOR, "Task monitoring (Flower's role)",
              "What is queued, running, done or failed, with durations and errors; the Operations page shows it live.",
              ("nkdash.jobs.control.tasks", "nkdash.jobs.control.status", "nkdash.ops.tables.task_table", "nkdash.ops.tables.task_counts"),
              _view("Task history", task_table), "Show the task history", where=TASKS),
    Procedure("tasks.request", S_MONITOR, "Follow an async request",
              "The state of every date of one Async Refresh request.",
              ("nkdash.jobs.requests.request_status", "nkdash.ops.tables.request_table"),
              _request, "Show the request", uses=("task",)),
    Procedure("freshness.sla", S_MONITOR, "Freshness SLA",
              "Target: yesterday loaded (lag 1 day); 2-3 days behind is *late*; more than 3 days (or nothing "
              "loaded) is **critical**. Missing, failed and stale dates are listed per dataset.",
              ("nkdash.etl.freshness.freshness_report", "nkdash.meta.MetaStore.freshness", "nkdash.ops.tables.freshness_table"),
              _freshness, "Show freshness", where=FRESHNESS),
    Procedure("monitor.queue-depth", S_MONITOR, "Queue depth over time",
              "Tasks waiting and running over the last N days, derived from the task history.",
              ("nkdash.ops.monitoring.queue_depth", "nkdash.meta.MetaStore.tasks"),
              lambda p, s, progress: Result(True, "Queue depth", "", queue_depth(s, p.days)), "Show the queue depth",
              where=DEPTH, uses=("days",)),
    Procedure("services.status", S_SERVICES, "Service status",
              "Consumers started from these pages (pid, memory) and when the schedule was last checked by any "
              "consumer.",
              ("nkdash.ops.services.worker_table", "nkdash.jobs.schedule.last_tick"),
              _workers, "Show the workers"),
    Procedure("services.start-worker", S_SERVICES, "Start the worker",
              "Start a huey consumer (`nkdash worker`, 2 threads) in the background; it first recovers tasks lost by a "
              "dead consumer, then runs the schedule and queued refreshes. Logs in `<log_dir>/huey/`.",
              ("nkdash.ops.services.start_worker", "nkdash.jobs.worker.start_worker_process"),
              lambda p, s, progress: start_worker(s), "Start a worker", "write"),
    Procedure("services.stop-worker", S_SERVICES, "Stop the worker",
              "SIGTERM the consumers started here: the tasks in hand finish first (up to a minute), then they exit. "
              "Nothing is lost: queued tasks wait for the next consumer.",
              ("nkdash.ops.services.stop_workers", "nkdash.jobs.worker.stop_worker"),
              lambda p, s, progress: stop_workers(s), "Stop the workers", "destructive"),
    Procedure("services.restart-worker", S_SERVICES, "Restart the worker",
              "Stop the consumers started here (gracefully), then start one.",
              ("nkdash.ops.services.restart_workers", "nkdash.jobs.worker.stop_worker", "nkdash.jobs.worker.start_worker_process"),
              lambda p, s, progress: restart_workers(s), "Restart the worker", "destructive"),
    Procedure("services.web", S_SERVICES, "The web server",
              "`nkdash serve` serves these pages; it runs under the machine's service manager (systemd, supervisor, "
              "a container), which starts, stops and restarts it — a page cannot restart the server it runs in. Its "
              "logs are `<log_dir>/web/web.log` and `access.log`.",
              ("nkdash.web.app.serve", "nkdash.web.app.setup_logging", "nkdash.ops.services.logs_result"),
              lambda p, s, progress: logs_result(["web"], s), "Show the web server log"),
    Procedure("services.logs", S_SERVICES, "Logs of the services",
              "The last lines of the worker's log and output (`<log_dir>/huey/`) and of the web server's logs "
              "(`<log_dir>/web/`).",
              ("nkdash.ops.services.log_files", "nkdash.ops.services.tail", "nkdash.jobs.worker.log_file"),
              lambda p, s, progress: logs_result(["worker", "worker output", "web"], s), "Show the logs"),
    Procedure("stuck.queue", S_STUCK, "Pipeline stuck: look at the queue",
              "Pending, scheduled and running tasks, and the partition locks held. Tasks pending and nothing running: "
              "no worker is up (start one). A lock held by a task that is not running: recover below.",
              ("nkdash.jobs.control.status", "nkdash.jobs.locks.locks"),
              _queue_status, "Show the queue", where=TASKS),
    Procedure("stuck.worker", S_STUCK, "Pipeline stuck: the worker died",
              "Mark lost the tasks of dead consumers (their dates show as missing and the next run reloads them) and "
              "free the locks they held. Safe while consumers run.",
              ("nkdash.jobs.history.recover", "nkdash.jobs.control.flush_locks"),
              _recover, "Recover lost tasks and free stale locks", "write"),
    Procedure("stuck.clear", S_STUCK, "Pipeline stuck: clear the queue",
              "Drop every queued and scheduled task (the old `celery purge`); running tasks finish. The daily jobs and "
              "the recovery page reload whatever the dropped tasks would have loaded.",
              ("nkdash.jobs.control.purge",),
              _purge, "Clear the queue", "destructive"),
    Procedure("backlog.active", S_STUCK, "Task backlog: see the active tasks",
              "Running tasks with their owner and start time, and how many wait.",
              ("nkdash.jobs.control.running", "nkdash.jobs.control.pending", "nkdash.jobs.control.scheduled", "nkdash.ops.tables.task_counts"),
              _queue_status, "Show the active tasks", where=TASKS),
    Procedure("backlog.purge", S_STUCK, "Task backlog: purge",
              "Drop the backlog of queued and scheduled tasks at once.",
              ("nkdash.jobs.control.purge",),
              _purge, "Purge the queue", "destructive"),
    Procedure("backlog.revoke", S_STUCK, "Task backlog: revoke one task",
              "Revoke one queued task by id (a running task cannot be revoked).",
              ("nkdash.jobs.control.revoke",),
              _revoke, "Revoke the task", "destructive", uses=("task",)),
    Procedure("backlog.retry", S_STUCK, "Task backlog: retry the failed tasks",
              "Queue again every failed (or lost) task that was not retried yet.",
              ("nkdash.jobs.control.retry_failed",),
              _retry, "Retry failed tasks", "write"),
    Procedure("backlog.restart", S_STUCK, "Task backlog: restart the workers",
              "Stop the consumers started here gracefully and start a fresh one.",
              ("nkdash.ops.services.restart_workers", "nkdash.jobs.worker.start_worker_process", "nkdash.jobs.worker.stop_worker"),
              lambda p, s, progress: restart_workers(s), "Restart the workers", "destructive"),
    Procedure("gaps.find", S_DATA, "Data gaps: find the missing dates",
              "Per dataset: missing, failed and stale dates, and dates recorded as loaded whose files are gone.",
              ("nkdash.ops.recovery.recovery_plan", "nkdash.ops.recovery.due_dates", "nkdash.meta.MetaStore.freshness",
               "nkdash.lake.Lake.partitions"),
              _view("Missing and failed dates", recovery_plan), "Find missing dates", where=MISSING),
    Procedure("gaps.refresh", S_DATA, "Data gaps: refresh them",
              f"Reload every due date (the {REPAIR_LIMIT} most recent per dataset per run), POS and invoices before "
              "profit, under the partition locks.",
              ("nkdash.ops.recovery.repair_all", "nkdash.jobs.work.load", "nkdash.etl.refresh"),
              lambda p, s, progress: repair_all(s, progress=progress), "Refresh the missing dates", "write", MISSING),
    Procedure("gaps.credentials", S_DATA, "Data gaps: check the Odoo credentials",
              "Connect and log in to Odoo; a failure names the setting to fix (`ODOO_URL`, `ODOO_DB`, `ODOO_USER`, "
              "`ODOO_PASSWORD`).",
              ("nkdash.ops.recovery.odoo_check", "nkdash.odoo.connect"),
              lambda p, s, progress: odoo_result(s), "Check Odoo", where=ODOO),
    Procedure("odoo.timeouts", S_DATA, "Odoo timeouts",
              "Odoo kills requests after `limit_time_real`; nkdash pages by id in batches and retries with backoff. "
              "Runs that timed out are listed; lower `NKDASH_ODOO_BATCH_SIZE` or raise `NKDASH_ODOO_TIMEOUT` in "
              "`.env`.",
              ("nkdash.ops.recovery.odoo_timeouts", "nkdash.ops.recovery.odoo_check", "nkdash.ops.report.monitor"),
              lambda p, s, progress: odoo_timeouts(s, p.days), "Check for timeouts", where=ODOO, uses=("days",)),
    Procedure("query.slowness", S_DATA, "Query slowness",
              "The slowest dashboard queries. Narrow the dashboard period, compact old months (Storage) and check the "
              "lake scan: every query filters on date and reads only the files of its dates.",
              ("nkdash.ops.monitoring.slowest_queries", "nkdash.ops.monitoring.query_stats", "nkdash.meta.MetaStore.query_timings"),
              _view("Slowest queries", slowest_queries), "Show the slowest queries", where=QUERIES),
    Procedure("memory", S_DATA, "Memory",
              "Memory of the machine, the web server and the workers. Under pressure, use smaller ranges: an async "
              "request is at most 31 days, loads one date per task, and dashboards read only the files of their "
              "period.",
              ("nkdash.ops.services.memory_table", "nkdash.dates.MAX_ASYNC_DAYS"),
              _view("Memory", memory_table), "Show memory use"),
    Procedure("corrupt.find", S_DATA, "Corrupt parquet: find",
              "Scan the lake: unreadable or truncated files, checksums (deep), schemas, empty or doubled partitions, "
              "stray files.",
              ("nkdash.ops.recovery.scan_result", "nkdash.lake.Lake.scan"),
              lambda p, s, progress: scan_result(s, deep=p.deep), "Scan the lake", where=LAKE_SCAN, uses=("deep",)),
    Procedure("corrupt.rebuild", S_DATA, "Corrupt parquet: delete and re-run",
              "Move every damaged partition to `_quarantine` (the old runbook deleted it), record it as missing, "
              "reload it from Odoo, and scan again.",
              ("nkdash.ops.recovery.repair_lake", "nkdash.ops.recovery.scan_and_quarantine", "nkdash.ops.recovery.rebuild",
               "nkdash.lake.Lake.quarantine", "nkdash.meta.MetaStore.set_partition"),
              lambda p, s, progress: repair_lake(s, deep=p.deep, progress=progress), "Quarantine and rebuild",
              "destructive", LAKE_SCAN, ("deep",)),
    Procedure("recovery.identify", S_RECOVERY, "1. Identify the missing dates",
              "Freshness against the SLA, and every date to reload per dataset.",
              ("nkdash.ops.recovery.recovery_plan", "nkdash.etl.freshness.freshness_report"),
              _view("Missing and failed dates", recovery_plan), "Identify missing dates", where=MISSING),
    Procedure("recovery.refresh", S_RECOVERY, "2. Force refresh them",
              "Reload the due dates of every dataset in one action.",
              ("nkdash.ops.recovery.repair_all", "nkdash.jobs.work.load"),
              lambda p, s, progress: repair_all(s, progress=progress), "Refresh every missing date", "write", MISSING),
    Procedure("recovery.validate", S_RECOVERY, "3. Validate",
              "Validate the dates of the range against Odoo: counts, totals and every declared check.",
              ("nkdash.ops.recovery.validate_dates", "nkdash.etl.validate.validate"),
              lambda p, s, progress: validate_dates(dates_of(p.period), s, progress=progress), "Validate the range",
              where=VALIDATE, uses=("range",)),
    Procedure("query.date-filters", S_QUERY, "Date filters",
              "Every dashboard query filters on `date` with bound parameters and opens only the partitions of its "
              "period: a narrower period reads fewer files. Partitions per table:",
              ("nkdash.dashboards.Filters", "nkdash.dashboards.Dashboard.files", "nkdash.ops.monitoring.table_sizes"),
              _view("Partitions per table", table_sizes), "Show partitions per table"),
    Procedure("query.aggregates", S_QUERY, "Aggregate tables",
              "Sales, margin and units come from `agg_profit_daily` (sums of `fact_sales` by date, channel, store, "
              "category, product), far fewer rows than the lines.",
              ("nkdash.etl.datasets.profit.extract", "nkdash.ops.monitoring.table_sizes"),
              _view("Lines vs aggregates", _aggregates), "Compare lines and aggregates"),
    Procedure("query.caching", S_QUERY, "Caching",
              "Each server process keeps an LRU cache of query results keyed by the files a query reads; a reload, "
              "quarantine or compaction changes the files and so invalidates the entries by itself.",
              ("nkdash.dashboards.Dashboard.run", "nkdash.ops.monitoring.cache_check"),
              lambda p, s, progress: cache_check(s), "Time a cached query"),
    Procedure("query.timing-logs", S_QUERY, "Timing logs",
              "Every executed dashboard query is timed into the metadata store: count, median, p95 and slowest per "
              "query over the last N days.",
              ("nkdash.meta.MetaStore.record_query", "nkdash.ops.monitoring.query_stats", "nkdash.ops.report.monitor"),
              lambda p, s, progress: Result(True, f"Query timings, last {p.days} day(s)", "", query_stats(s, p.days)),
              "Show query timings", where=QUERIES, uses=("days",)),
    Procedure("storage.sizes", S_STORAGE, "File sizes",
              "Per table: files, dates, compacted months, rows, bytes, smallest and largest file.",
              ("nkdash.storage.sizes", "nkdash.storage.housekeeping.disk_usage", "nkdash.ops.monitoring.partition_files"),
              _view("Sizes per table", table_sizes), "Show sizes", where=FILES),
    Procedure("storage.compact", S_STORAGE, "Compact old partitions",
              "Merge the daily partitions of months that ended more than N days ago into one file per month and table "
              "(readers see the month before or after, never half). The schedule does it every night at 03:00 for "
              "months that ended `NKDASH_COMPACT_AFTER_DAYS` days ago (default 30).",
              ("nkdash.storage.compact", "nkdash.storage.compact_old_months", "nkdash.jobs.schedule.MAINTENANCE",
               "nkdash.lake.Lake.compact_month"),
              _compact, "Compact old months", "write", uses=("older than",)),
    Procedure("storage.archive", S_STORAGE, "Archive old data",
              "Move every partition before a date to `<lake>/_archive` (a compacted lake, still readable); the "
              "metadata forgets those dates so they are neither missing nor reloaded.",
              ("nkdash.storage.archiving.archive",),
              _archive, "Archive the old partitions", "destructive", uses=("archive before",)),
    Procedure("storage.backfill", S_STORAGE, "Rebuild derived tables",
              "The aggregates (`agg_profit_daily`, `agg_sales_daily`, `agg_orders_daily`) of every date whose "
              "`fact_sales` is in the lake but whose aggregate is missing (a lake from before that table existed) or "
              "not the one recorded with it (a write killed half-way), rebuilt from `fact_sales` alone, no Odoo; "
              "months that are compacted stay compacted. Deep: recompute every date. The nightly profit job, "
              "`nkdash up` and the recovery repair do this first by themselves.",
              ("nkdash.etl.derived.backfill", "nkdash.etl.derived.gaps", "nkdash.lake.Lake.write_partition"),
              _backfill, "Rebuild derived tables", "write", uses=("deep",)),
    Procedure("storage.clean-temp", S_STORAGE, "Clean temporary files",
              "Remove leftovers of killed writes and work directories (reports the bytes freed).",
              ("nkdash.storage.clean_temp", "nkdash.lake.Lake.clean_temp"),
              _clean_temp, "Clean temporary files", "write"),
    Procedure("security.env", S_SECURITY, "Credentials only in .env",
              "Odoo and web credentials come from `.env` (or the environment) and are never printed, logged or shown.",
              ("nkdash.settings.load_settings", "nkdash.settings.Secret", "nkdash.ops.backups.security_table"),
              _security, "Run the security checks"),
    Procedure("security.etl-restricted", S_SECURITY, "ETL operations restricted",
              "Operations, recovery, runbook and monitoring pages need the operator login; viewers see dashboards "
              "only.",
              ("nkdash.web.notebooks.NOTEBOOKS", "nkdash.web.notebooks.may_open", "nkdash.web.gate.Gate"),
              _view("Pages and roles", _notebooks), "Show pages and roles"),
    Procedure("security.read-only", S_SECURITY, "Dashboards read-only",
              "Dashboards open the lake read-only and query it through DuckDB with file access disabled.",
              ("nkdash.dashboards.open_dashboard", "nkdash.dashboards.engine.READ_ONLY"),
              _read_only, "Check dashboard access"),
    Procedure("security.access-log", S_SECURITY, "Access logged",
              "One line per request in `<log_dir>/web/access.log`: time, client, user, role, method, path, status "
              "(never a query string, cookie or credential).",
              ("nkdash.web.gate.Gate", "nkdash.ops.services.logs_result"),
              lambda p, s, progress: logs_result(["web access"], s), "Show the access log"),
    Procedure("backup.list", S_BACKUP, "List the backups",
              "Backups in `<state_dir>/backups`, newest first.",
              ("nkdash.storage.list_backups",),
              lambda p, s, progress: backups_result(s), "List backups"),
    Procedure("backup.create", S_BACKUP, "Back up the lake",
              "A consistent snapshot of the data and the metadata (writers wait a few milliseconds), with a manifest "
              "of every file's sha256.",
              ("nkdash.ops.backups.backup", "nkdash.storage.backups.backup"),
              lambda p, s, progress: backup(s), "Back up now", "write"),
    Procedure("backup.verify", S_BACKUP, "Verify a backup",
              "Check every file of a backup against its manifest.",
              ("nkdash.storage.verify_backup",),
              lambda p, s, progress: verify_backup(p.backup, s), "Verify the backup", uses=("backup",)),
    Procedure("backup.restore", S_BACKUP, "Restore the lake",
              "Replace the lake's data and metadata with a backup (the current star schema is kept in `_quarantine`), "
              "then scan the lake and validate the latest restored dates against Odoo.",
              ("nkdash.ops.backups.restore", "nkdash.storage.restoring.restore", "nkdash.etl.validate.validate"),
              lambda p, s, progress: restore(p.backup, s), "Restore the backup", "destructive", uses=("backup",)),
    Procedure("backup.validate", S_BACKUP, "Validate after a restore",
              "Validate the dates of the range against Odoo.",
              ("nkdash.ops.recovery.validate_dates", "nkdash.etl.validate.validate"),
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
