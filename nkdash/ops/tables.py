"""Freshness, task history and schedule as tables for the operations pages."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nkdash import dates as cal
from nkdash.jobs import backend, control, requests, schedule
from nkdash.ops import display
from nkdash.ops.common import read_meta, stamp_text, title_of, today
from nkdash.settings import Settings, get_settings


def freshness_table(settings: Settings | None = None) -> pd.DataFrame:
    """Per dated dataset: last processed date, lag, SLA status, missing/failed/stale dates, the
    dates the nightly reconciliation could not make agree with Odoo, and its latest run."""
    from nkdash.etl.freshness import freshness_report

    settings = settings or get_settings()
    meta = read_meta(settings)
    report = freshness_report(today(settings), settings=settings)
    rows = []
    for f in report.datasets:
        last = next(iter(meta.runs(dataset=f.dataset, limit=1)), None)
        archived = report.archived.get(f.dataset)
        rows.append(
            {
                "dataset": title_of(f.dataset),
                "last processed": f.last_loaded or "never",
                "lag (days)": f.lag_days,
                "SLA": f.status,
                "missing": cal.format_spans(f.missing),
                "failed": cal.format_spans(f.failed),
                "stale": cal.format_spans(f.stale),
                "not reconciled": cal.format_spans(f.unreconciled),
                "archived before": archived.isoformat() if archived else "-",
                "last run": stamp_text((last["finished_at"] or last["started_at"]) if last else None),
                "last run status": last["status"] if last else "-",
            }
        )
    dims, last = report.dimensions_synced, next(iter(meta.runs(dataset="dimensions", limit=1)), None)
    rows.append(
        {
            "dataset": title_of("dimensions"),
            "last processed": dims.date() if dims else "never",
            "lag (days)": None,
            "SLA": "ok" if dims else "critical",
            "missing": "-",
            "failed": "-",
            "stale": "-",
            "not reconciled": "-",
            "archived before": "-",
            "last run": stamp_text((last["finished_at"] or last["started_at"]) if last else None),
            "last run status": last["status"] if last else "-",
        }
    )
    frame = pd.DataFrame(rows)
    frame["lag (days)"] = frame["lag (days)"].astype("Int64")
    return frame


def task_counts(settings: Settings | None = None, hours: int = 24) -> dict[str, int]:
    """Pending (queued or scheduled), running, and done/failed in the last ``hours``."""
    settings = settings or get_settings()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    history = backend.huey_for(settings).history.meta
    return {
        "pending": len(control.pending(settings)) + len(control.scheduled(settings)),
        "running": len(control.running(settings)),
        "done": len(history.tasks(state="done", since=since)),
        "failed": len(history.tasks(state="failed", since=since)),
    }


TASK_COLUMNS = ["state", "task", "name", "dataset", "date", "enqueued", "started", "finished", "duration", "detail"]


def task_table(settings: Settings | None = None, *, state: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The task history, most recent first (queued, running, done, failed, revoked)."""
    rows = control.tasks(settings or get_settings(), state=state, limit=limit)
    return pd.DataFrame([_task_row(r) for r in rows], columns=TASK_COLUMNS)


def _task_row(row: dict) -> dict:
    started, finished = row.get("started_at"), row.get("finished_at")
    params = row.get("params") or {}
    return {
        "state": row["state"],
        "task": row["id"],
        "name": row.get("name"),
        "dataset": row.get("dataset"),
        "date": row.get("date"),
        "enqueued": stamp_text(row.get("enqueued_at")),
        "started": stamp_text(started),
        "finished": stamp_text(finished),
        "duration": display.duration((finished - started).total_seconds()) if started and finished else "-",
        "detail": row.get("error") or params.get("summary") or "",
    }


def request_table(request_id: str, settings: Settings | None = None) -> pd.DataFrame:
    """Per date of an async request: its task's state and what it did."""
    return pd.DataFrame(
        [
            {"date": s.date, "state": s.state, "task": s.task_id, "detail": s.detail}
            for s in requests.request_status(request_id, settings or get_settings())
        ],
        columns=["date", "state", "task", "detail"],
    )


def schedule_table(settings: Settings | None = None) -> pd.DataFrame:
    """The daily schedule: local time, next run, last scheduled run per dataset, then the
    lake's maintenance jobs (the compaction of old months)."""
    settings = settings or get_settings()
    tz, now, meta = cal.timezone(settings.tz), backend.now(), read_meta(settings)
    local = cal.business_date(now, tz)
    rows = []
    for name, hhmm in {**schedule.SCHEDULE, **schedule.MAINTENANCE}.items():
        at = schedule.slot_instant(local, hhmm, tz)
        at = at if at > now else schedule.slot_instant(local + dt.timedelta(days=1), hhmm, tz)
        last = next((r for r in meta.runs(dataset=name, limit=200) if r["trigger"] == "schedule"), None)
        rows.append(
            {
                "dataset": title_of(name),
                "local time": hhmm,
                "next run (UTC)": stamp_text(at),
                "last scheduled run (UTC)": stamp_text(last["started_at"] if last else None),
                "status": last and last["status"],
            }
        )
    return pd.DataFrame(rows)
