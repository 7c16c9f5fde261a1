"""What is wrong right now, as incidents: each kind evaluated from the metadata store, a
shallow lake scan or the queue's last tick (never Odoo)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from nkdash import dates as cal
from nkdash.errors import NKDashError
from nkdash.etl.datasets import DATED, get
from nkdash.etl.reconcile import RECONCILE
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.meta.alerts import Severity
from nkdash.settings import Settings

Kind = Literal["freshness", "failed", "validation", "reconcile", "repair", "damage", "worker"]


KINDS: tuple[Kind, ...] = ("freshness", "failed", "validation", "reconcile", "repair", "damage", "worker")


CHECKED: tuple[Kind, ...] = ("freshness", "failed", "validation", "reconcile", "damage", "worker")  # "repair": its hook


CHECK_MINUTES = 5  # how often the worker and the web server evaluate the incidents


TICK_LATE = dt.timedelta(minutes=10)  # a worker that has not checked the schedule for this long stopped


VALIDATION_WINDOW = dt.timedelta(days=7)  # validations looked at


RUN_WINDOW = dt.timedelta(days=7)  # runs looked at for failures


WHAT_TO_DO: dict[str, str] = {
    "freshness": "Reload the missing dates: the Recovery page's Repair, or `nkdash repair`; check that a worker "
    "runs and that Odoo answers (`nkdash odoo-check`).",
    "failed": "See the failed runs on the Monitoring page; the Recovery page's Repair (or `nkdash repair`) "
    "reloads them.",
    "validation": "`nkdash validate --date D` shows what differs from Odoo; reload the date (`nkdash refresh`).",
    "reconcile": "The nightly reconciliation reloaded these dates and they still differ from Odoo (or could not be "
    "reloaded): `nkdash validate --date D` shows what differs; `nkdash reconcile` tries again.",
    "repair": "Run the repair again (Recovery page); if it keeps failing, check Odoo (`nkdash odoo-check`).",
    "damage": "The Recovery page's Repair (or `nkdash repair`) quarantines and rebuilds the damaged partitions.",
    "worker": "Start a worker: `nkdash worker`, or the runbook's Services › Start the worker.",
}


@dataclass(frozen=True)
class Incident:
    """One thing wrong: ``key`` names it (``freshness:pos``), ``summary`` is one line."""

    key: str
    kind: Kind
    severity: Severity
    summary: str
    detail: str = ""


def current(settings: Settings, now: dt.datetime, kinds: Sequence[Kind] = CHECKED) -> tuple[list[Incident], list[Kind]]:
    """The incidents of ``kinds`` open now, and the kinds that could be evaluated (a kind
    whose source cannot be read is left out: its open incidents are neither confirmed nor
    resolved)."""
    lake = Lake(settings.lake, read_only=True)
    meta = MetaStore.for_lake(lake, read_only=True)
    today = cal.business_date(now, cal.timezone(settings.tz))
    checks: dict[Kind, Callable[[], list[Incident]]] = {
        "freshness": lambda: freshness(meta, today),
        "failed": lambda: failed(meta, now),
        "validation": lambda: validation(meta, now),
        "reconcile": lambda: unreconciled(meta),
        "damage": lambda: damage(lake),
        "worker": lambda: worker(settings, now),
    }
    found: list[Incident] = []
    evaluated: list[Kind] = []
    for kind in kinds:
        if kind not in checks:
            continue
        try:
            found += checks[kind]()
        except (OSError, sqlite3.Error, NKDashError):  # unreadable: say nothing rather than resolve
            continue
        evaluated.append(kind)
    return found, evaluated


def freshness(meta: MetaStore, today: dt.date) -> list[Incident]:
    """A dated dataset late (2-3 days behind: warning) or critical (more, or never loaded)."""
    out = []
    for f in meta.freshness(DATED, today):
        if f.status == "ok":
            continue
        title = get(f.dataset).title
        behind = f"{f.lag_days} days behind" if f.lag_days is not None else "never loaded"
        summary = f"{title} is {f.status.upper()}: {behind}" + (
            f" (last loaded {f.last_loaded})" if f.last_loaded else ""
        )
        detail = f"missing dates: {cal.format_spans(f.missing)}; failed: {cal.format_spans(f.failed)}"
        out.append(
            Incident(
                f"freshness:{f.dataset}",
                "freshness",
                "critical" if f.status == "critical" else "warning",
                summary,
                detail,
            )
        )
    return out


def failed(meta: MetaStore, now: dt.datetime) -> list[Incident]:
    """Loads whose latest run (of the last :data:`RUN_WINDOW`) failed, per dataset: a date
    whose run failed and was not loaded since, or a run that failed before it knew its dates
    (Odoo down at login) with no success of that dataset since."""
    latest: dict[tuple[str, dt.date | None], dict] = {}
    for run in meta.runs(since=now - RUN_WINDOW):  # newest first
        if run["status"] in ("success", "failed") and run["dataset"] != RECONCILE:  # its own kind
            latest.setdefault((run["dataset"], run["date"]), run)
    succeeded: dict[str, dt.datetime] = {}
    for (name, _), run in latest.items():
        if run["status"] == "success":
            succeeded[name] = max(succeeded.get(name, run["started_at"]), run["started_at"])
    failing: dict[str, list[dict]] = {}
    for (name, day), run in latest.items():
        later = succeeded.get(name)
        if run["status"] == "failed" and (day is not None or later is None or later < run["started_at"]):
            failing.setdefault(name, []).append(run)
    out = []
    for name, runs in sorted(failing.items()):
        dates = [r["date"] for r in runs if r["date"]]
        last = max(runs, key=lambda r: r["started_at"])
        what = f"{len(dates)} failed load(s), {cal.format_spans(dates)}" if dates else "a load failed"
        out.append(Incident(f"failed:{name}", "failed", "warning", f"{_title(name)}: {what}", _last_error(last)))
    return out


def _title(name: str) -> str:
    try:
        return get(name).title
    except NKDashError:
        return name


def _last_error(run: dict | None) -> str:
    return f"last error: {run['error']}" if run and run.get("error") else ""


def validation(meta: MetaStore, now: dt.datetime) -> list[Incident]:
    """Dates whose latest validation (of the last 7 days) failed, per dataset."""
    latest: dict[tuple[str, dt.date | None], dict] = {}
    for v in meta.validations(since=now - VALIDATION_WINDOW):  # newest first: the first seen is the latest
        latest.setdefault((v["dataset"], v["date"]), v)
    failing: dict[str, list[dict]] = {}
    for (name, _), v in sorted(latest.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        if not v["ok"]:
            failing.setdefault(name, []).append(v)
    out = []
    for name, rows in failing.items():
        dates = [r["date"] for r in rows if r["date"]]
        checks = sorted({f"{c['table']} {c['check']}" for r in rows for c in r["checks"] or () if not c["ok"]})
        summary = f"{_title(name)}: validation against Odoo failed for {cal.format_spans(dates)}"
        out.append(
            Incident(f"validation:{name}", "validation", "warning", summary, "failed checks: " + ", ".join(checks))
        )
    return out


def unreconciled(meta: MetaStore) -> list[Incident]:
    """Dates the nightly reconciliation could not make agree with Odoo, per dataset."""
    rows: dict[str, list[dict]] = {}
    for row in meta.reconciliations(status="not_reconciled"):
        rows.setdefault(row["dataset"], []).append(row)
    out = []
    for name, found in sorted(rows.items()):
        dates = cal.format_spans(r["date"] for r in found)
        summary = f"{_title(name)}: not reconciled with Odoo on {dates}"
        detail = f"{found[-1]['date']}: {found[-1]['detail'] or 'still differs'}"
        out.append(Incident(f"reconcile:{name}", "reconcile", "warning", summary, detail))
    return out


def damage(lake: Lake) -> list[Incident]:
    """Partitions the shallow scan finds damaged (leftovers of writes are not damage)."""
    if not lake.star.is_dir():
        return []
    problems = [p for p in lake.scan(deep=False) if p.kind != "temp"]
    if not problems:
        return []
    shown = ", ".join(f"{p.table} {p.date or ''} ({p.kind})".replace("  ", " ") for p in problems[:10])
    more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
    summary = f"The lake scan found {len(problems)} damaged partition(s)"
    return [Incident("damage:lake", "damage", "critical", summary, shown + more)]


def worker(settings: Settings, now: dt.datetime) -> list[Incident]:
    """No worker has checked the schedule for :data:`TICK_LATE` (one had before)."""
    from nkdash.jobs import backend, schedule

    if settings.queue == "sqlite" and not backend.sqlite_path(settings).exists():
        return []
    last = schedule.last_tick(settings)
    if last is None or now - last < TICK_LATE:
        return []
    minutes = int((now - last).total_seconds() // 60)
    summary = f"No worker is running: the schedule was last checked {minutes} min ago"
    return [Incident("worker:tick", "worker", "critical", summary, f"last checked {last:%Y-%m-%d %H:%M} UTC")]
