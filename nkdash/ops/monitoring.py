"""Monitoring data for the monitoring page: runs, query timings, files, queue depth, logins."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any, overload

import pandas as pd

from nkdash import alerts, storage
from nkdash.dashboards import engine
from nkdash.jobs import backend
from nkdash.lake import Lake
from nkdash.meta.alerts import AlertStore
from nkdash.ops.common import Result, guarded, read_meta, stamp_text
from nkdash.settings import Settings, get_settings


def _since(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


@overload
def _naive(value: dt.datetime) -> dt.datetime: ...
@overload
def _naive(value: None) -> None: ...
def _naive(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value else None


RUN_COLUMNS = ["started", "day", "dataset", "date", "trigger", "status", "seconds", "rows", "bytes", "error"]


def runs_frame(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Every finished ETL run of the last ``days`` days (UTC times, naive for charts)."""
    runs = read_meta(settings or get_settings()).runs(since=_since(days))
    rows = [
        {
            "started": _naive(r["started_at"]),
            "day": _naive(r["started_at"]).date().isoformat(),
            "dataset": r["dataset"],
            "date": r["date"],
            "trigger": r["trigger"],
            "status": r["status"],
            "seconds": r["duration_s"] or 0.0,
            "rows": r["rows"] or 0,
            "bytes": r["bytes"] or 0,
            "error": r["error"],
        }
        for r in runs
        if r["status"] != "running"
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "failed"]


def run_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs, failed runs and rows loaded in a :func:`runs_frame`."""
    return {
        "runs": len(runs),
        "failed": len(failed_runs(runs)),
        "rows loaded": int(runs.loc[runs["status"] == "success", "rows"].sum()),
    }


def dataset_stats(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Per dataset over ``days``: runs, failures, rows, ETL seconds, slowest run, rows/s."""
    from nkdash.ops.report import monitor

    report = monitor(days, settings=settings or get_settings())
    return pd.DataFrame(
        [{**asdict(s), "throughput": round(s.throughput, 1)} for s in report.datasets],
        columns=["dataset", "runs", "failures", "rows", "seconds", "slowest", "throughput"],
    )


def query_stats(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Per dashboard query over ``days``: executions, median, p95 and slowest seconds."""
    from nkdash.ops.report import monitor

    report = monitor(days, settings=settings or get_settings())
    return pd.DataFrame([asdict(q) for q in report.queries], columns=["name", "count", "median", "p95", "slowest"])


def slowest_queries(settings: Settings | None = None, days: int = 7, limit: int = 20) -> pd.DataFrame:
    """The slowest individual query executions of the last ``days`` days."""
    timings = read_meta(settings or get_settings()).query_timings(since=_since(days))
    rows = sorted(timings, key=lambda t: t["seconds"], reverse=True)[:limit]
    return pd.DataFrame(
        [
            {
                "at": stamp_text(t["created_at"]),
                "query": t["name"],
                "seconds": round(t["seconds"], 4),
                "rows": t["rows"],
                "params": t["params"],
            }
            for t in rows
        ],
        columns=["at", "query", "seconds", "rows", "params"],
    )


def partition_files(settings: Settings | None = None) -> pd.DataFrame:
    """Every data file of the lake: table, date (None for dims and month files), bytes."""
    lake = Lake((settings or get_settings()).lake, read_only=True)
    return pd.DataFrame(
        [
            {
                "table": f.table,
                "date": f.first if not f.compacted else None,
                "month file": f.compacted,
                "dates": len(f.dates),
                "bytes": f.bytes,
            }
            for f in lake.data_files()
        ],
        columns=["table", "date", "month file", "dates", "bytes"],
    )


def table_sizes(settings: Settings | None = None) -> pd.DataFrame:
    """Per table: files, partitions, rows, bytes (storage.sizes)."""
    return storage.sizes(Lake((settings or get_settings()).lake, read_only=True))


def queue_depth(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """Tasks waiting and running over time, derived from the task history's enqueued,
    started and finished times (no sampling needed): one row per change."""
    settings = settings or get_settings()
    history = backend.huey_for(settings).history.meta
    since = _since(days)
    rows = {
        r["id"]: r
        for r in [*history.tasks(since=since), *history.tasks(state="queued"), *history.tasks(state="running")]
    }
    return depth_series(rows.values(), since, dt.datetime.now(dt.UTC))


def login_counts(report: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The login throttle's counts (``nkdash.web.throttle.report()``) as stat cards; None when
    this process serves no web app. Counts only: no user name, no address."""
    if report is None:
        return None
    locked, delayed = report["locked_out"], report["delayed"]
    return {
        "failed logins": report["failed"],
        "refused (throttled)": report["refused"],
        "lockouts": report["lockouts"],
        "locked out now: users": locked["user"],
        "locked out now: addresses": locked["address"],
        "delayed now": delayed["user"] + delayed["address"],
        "accepted": report["accepted"],
    }


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
    return Result(
        True,
        f"Cached: {timings[0] * 1000:.1f} ms, then {timings[1] * 1000:.1f} ms",
        f"query sales_by_store over {filters.describe()}: {db.misses} cache miss(es), then {db.hits} "
        f"hit(s). The cache (per server process, {engine.CACHE_SIZE} entries) is keyed by the files a "
        "query reads, so a reload or quarantine invalidates it by itself.",
    )


def _alert_store(settings: Settings) -> AlertStore:
    return AlertStore(read_meta(settings))


def incidents_table(settings: Settings | None = None) -> pd.DataFrame:
    """The incidents, open first, then the last resolved ones (what alerts were about)."""
    rows = sorted(
        _alert_store(settings or get_settings()).incidents(limit=50),
        key=lambda r: (r["resolved_at"] is not None, -(r["opened_at"].timestamp())),
    )
    return pd.DataFrame(
        [
            {
                "state": "open" if r["resolved_at"] is None else "resolved",
                "severity": r["severity"],
                "incident": r["summary"],
                "detail": r["detail"] or "",
                "opened (UTC)": stamp_text(r["opened_at"]),
                "last alert (UTC)": stamp_text(r["last_sent_at"]),
                "resolved (UTC)": stamp_text(r["resolved_at"]),
            }
            for r in rows
        ],
        columns=["state", "severity", "incident", "detail", "opened (UTC)", "last alert (UTC)", "resolved (UTC)"],
    )


def alerts_table(settings: Settings | None = None, days: int = 7) -> pd.DataFrame:
    """The alerts sent over the last ``days`` days, newest first, and what each channel did."""
    sent = _alert_store(settings or get_settings()).alerts(since=_since(days), limit=200)
    return pd.DataFrame(
        [
            {
                "sent (UTC)": stamp_text(a["created_at"]),
                "event": a["event"],
                "subject": a["subject"],
                "delivery": ", ".join(f"{c}: {r}" for c, r in (a["deliveries"] or {}).items())
                or "not sent: no channel configured",
            }
            for a in sent
        ],
        columns=["sent (UTC)", "event", "subject", "delivery"],
    )


def alert_channels(settings: Settings | None = None) -> str:
    """One line: where alerts go, and how often an open incident is repeated."""
    settings = settings or get_settings()
    found = alerts.channels(settings)
    where = "; ".join(f"{name}: {to}" for name, to in found.items()) or (
        "nowhere yet: set NKDASH_ALERT_EMAIL_TO and NKDASH_SMTP_HOST, or NKDASH_ALERT_WEBHOOK_URL, in .env"
    )
    return (
        f"Alerts go to {where}. An open incident is sent again after {settings.alert_repeat_hours:g} h; "
        f"incidents are checked every {alerts.CHECK_MINUTES} min by the worker and the web server."
    )


@guarded("Test alert")
def test_alert(settings: Settings | None = None) -> Result:
    """Send a test alert to every channel; the result says what each did."""
    deliveries = alerts.send_test(settings or get_settings())
    ok = all(r == "sent" for r in deliveries.values())
    return Result(
        ok,
        "Test alert sent" if ok else "Test alert NOT delivered everywhere",
        "\n".join(f"{channel}: {result}" for channel, result in deliveries.items()),
    )
