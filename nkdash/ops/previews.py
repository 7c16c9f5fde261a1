"""What a runbook procedure that changes data will do, before it does it (issue 17): counts
and dates, from the library's dry runs. Each preview reads only; a refusal (bad input, a
damaged backup, dates inside the retention window) raises as the action itself would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash import storage
from nkdash.errors import InputError
from nkdash.etl import derived
from nkdash.jobs import control, locks
from nkdash.lake import PARTITIONED, Lake
from nkdash.ops.common import read_meta, title_of, today
from nkdash.ops.recovery import repair
from nkdash.ops.services import workers
from nkdash.settings import Settings

if TYPE_CHECKING:
    from nkdash.ops.runbook import Params


Preview = Callable[["Params", Settings], str]


def _reload(*names: str) -> Preview:
    def preview(p: Params, s: Settings) -> str:
        day = p.date[0]
        meta = read_meta(s)
        lines = []
        for name in names:
            now = meta.partition(name, day)
            held = f"now {now['status']}, {now['rows']:,} rows" if now else "not loaded yet"
            lines.append(f"reload {title_of(name)} for {day} from Odoo ({held}): its partition is replaced atomically")
        return "\n".join(lines)

    return preview


def _dimensions(p: Params, s: Settings) -> str:
    return "reload products, categories, partners, locations and stores from Odoo (whole tables, replaced at once)"


def _profit_range(p: Params, s: Settings) -> str:
    days = cal.days(*p.period)
    return f"queue the profit ETL for {len(days)} date(s), {days[0]} … {days[-1]}: one task per date (at most 31)"


def _daily_jobs(p: Params, s: Settings) -> str:
    from nkdash.jobs.schedule import SCHEDULE

    return f"queue today's job of {len(SCHEDULE)} datasets now ({', '.join(SCHEDULE)}); a worker must run to take them"


def _start(p: Params, s: Settings) -> str:
    running = workers(s)
    return f"start a worker (2 threads); {len(running)} worker(s) started from these pages run now"


def _stop(p: Params, s: Settings) -> str:
    running = workers(s)
    if not running:
        return "no worker started from these pages is running: nothing to stop"
    pids = ", ".join(str(w["pid"]) for w in running)
    busy = len(control.running(s))
    return (
        f"stop {len(running)} worker(s) (pid {pids}) with SIGTERM; {busy} task(s) running now finish first (up to a "
        "minute); queued tasks wait for the next worker"
    )


def _restart(p: Params, s: Settings) -> str:
    return _stop(p, s).replace("stop ", "stop then start again: ", 1) if workers(s) else _start(p, s)


def _recover(p: Params, s: Settings) -> str:
    held = locks.locks(s)
    running = {r["id"] for r in control.running(s)}
    stale = [name for name, holder in held.items() if holder.get("task_id") not in running]
    return (
        f"mark lost the tasks of consumers that are gone, and free {len(stale)} of {len(held)} partition lock(s) "
        "held by tasks that are not running (safe while workers run)"
    )


def _retry(p: Params, s: Settings) -> str:
    failed = [r for r in control.tasks(s, state="failed", limit=None) if not (r.get("params") or {}).get("retried_as")]
    return f"queue again {len(failed)} failed task(s) not retried yet"


def _purge(p: Params, s: Settings) -> str:
    return control.purge_preview(s)


def _revoke(p: Params, s: Settings) -> str:
    if not p.task.strip():
        raise InputError("enter the id of the task to revoke (see the task list)")
    return "revoke " + control.revoke(p.task.strip(), s, dry_run=True) + ": it will not run"


def _repair(p: Params, s: Settings) -> str:
    plan = repair(s, deep=p.deep, dry_run=True).plan
    return plan.text()


def _compact(p: Params, s: Settings) -> str:
    return storage.compact(
        Lake(s.lake, read_only=True), older_than_days=p.older_than_days, today=today(s), dry_run=True
    ).text()


def _archive(p: Params, s: Settings) -> str:
    if p.archive_before is None:
        raise InputError("pick the first date to keep (archive before)")
    report = storage.archive(
        p.archive_before,
        lake=Lake(s.lake),
        today=today(s),
        dry_run=True,
        retention_years=s.retention_years,
        force=p.force,
    )
    return report.text()


def _backfill(p: Params, s: Settings) -> str:
    return derived.backfill(s.lake, deep=p.deep, dry_run=True).text()


def _clean_temp(p: Params, s: Settings) -> str:
    return storage.clean_temp(Lake(s.lake), dry_run=True).text()


def _backup(p: Params, s: Settings) -> str:
    lake = Lake(s.lake, read_only=True)
    total = sum(len(lake.partitions(t)) for t in PARTITIONED)
    return f"copy the lake's {total} partitions and its metadata to {Path(s.state_dir) / 'backups'} (a consistent snapshot)"


def _restore(p: Params, s: Settings) -> str:
    path = p.backup
    if path is None:
        found = [b for b in storage.list_backups(Path(s.state_dir) / "backups") if not b.problem]
        if not found:
            raise InputError("there is no backup to restore: take one first")
        path = str(found[0].path)
    return storage.restore_plan(path, Lake(s.lake, read_only=True))


PREVIEWS: dict[str, Preview] = {  # procedure key -> its preview (every procedure that changes data)
    "schedule.run-now": _daily_jobs,
    "refresh.pos": _reload("pos"),
    "refresh.invoices-purchases": _reload("invoices", "purchases"),
    "refresh.stock-quants": _reload("stock-quants"),
    "refresh.dimensions": _dimensions,
    "profit.date": _reload("profit"),
    "profit.range": _profit_range,
    "services.start-worker": _start,
    "services.stop-worker": _stop,
    "services.restart-worker": _restart,
    "stuck.worker": _recover,
    "backlog.purge": _purge,
    "backlog.revoke": _revoke,
    "backlog.retry": _retry,
    "corrupt.rebuild": _repair,
    "recovery.refresh": _repair,
    "storage.compact": _compact,
    "storage.archive": _archive,
    "storage.backfill": _backfill,
    "storage.clean-temp": _clean_temp,
    "backup.create": _backup,
    "backup.restore": _restore,
}
