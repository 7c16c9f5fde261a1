"""nkdash's huey tasks: the instance, the schedule tick, the daily jobs, async refreshes.

Start a consumer with ``nkdash worker`` (logs in ``<log_dir>/huey/``), or with huey's own
``huey_consumer nkdash.jobs.tasks.huey -w 2 -g TERM`` (``tasks.huey`` from the repository
root). Every consumer may run the scheduler (no ``-n``); no ``-f`` (stale locks are freed
safely when a consumer starts). Each task is a call into :mod:`nkdash.jobs.work`; the
schedule is :data:`nkdash.jobs.schedule.SCHEDULE` (daily loads) and ``MAINTENANCE`` (the
reconciliation with Odoo, the compaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huey import crontab

from nkdash import storage
from nkdash.alerts.incidents import CHECK_MINUTES
from nkdash.etl.reconcile import RECONCILE
from nkdash.jobs import app, schedule, work

if TYPE_CHECKING:
    from huey.api import Task

huey = app.build_huey()  # storage from the settings, opened on first use


ALERTS_JOB = "alerts"


@huey.periodic_task(crontab(), name="tick", priority=10, expires=300)
def tick() -> None:
    """Every minute (UTC), ahead of queued work: enqueue the jobs whose local time has come."""
    schedule.tick(daily, jobs={RECONCILE: reconcile, storage.COMPACT_JOB: compact})
    if schedule.every(ALERTS_JOB, CHECK_MINUTES):
        check_alerts()


@huey.task(context=True, retries=2, retry_delay=600)
def daily(dataset: str, day: str, task: Task | None = None, **state: Any) -> None:
    """Load every missing, failed or stale date of ``dataset`` up to the day before ``day``."""
    work.run_daily(dataset, day, task)


@huey.task(context=True, name=RECONCILE)
def reconcile(day: str, task: Task | None = None, **state: Any) -> None:
    """Nightly, after the loads: check the last NKDASH_RECONCILE_DAYS days against Odoo, reload what differs."""
    work.run_reconcile(day, task)


@huey.task(context=True, name=storage.COMPACT_JOB)
def compact(day: str, task: Task | None = None, **state: Any) -> None:
    """Nightly: merge the daily partitions of months that ended NKDASH_COMPACT_AFTER_DAYS before ``day``."""
    work.run_compaction(day, task)


@huey.task(context=True)
def refresh_partition(dataset: str, day: str, task: Task | None = None, **request: Any) -> None:
    """One date of an async refresh (``nkdash refresh-async``)."""
    work.run_partition(dataset, day, task)


@huey.task(name=ALERTS_JOB)
def check_alerts() -> None:
    """Every few minutes (one consumer per interval): send the alerts of new, critical, due
    or cleared incidents (:mod:`nkdash.alerts`)."""
    work.run_alert_check()
