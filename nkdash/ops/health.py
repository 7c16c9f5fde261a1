"""Is nkdash healthy? Lake freshness and soundness, the metadata store, the queue.

:func:`check_health` is cheap (a shallow lake scan reads parquet footers only; no Odoo
call) and reads everything read-only. It backs the public ``/health`` endpoint, so it
reports dates, states and counts, never business figures, paths or secrets.

Overall ``status``:

- ``fail`` (HTTP 503): the lake root is unreadable, the metadata store cannot be read, a
  dataset is ``critical`` (nothing loaded for more than 3 days, or never), the scan found a
  damaged partition (unreadable, checksum, schema, empty or stray), or the configured queue
  does not answer;
- ``degraded`` (HTTP 200): a dataset is ``late`` (2-3 days behind), the nightly
  reconciliation left dates that still disagree with Odoo (listed per dataset under
  ``not_reconciled``), the scan saw leftovers of an interrupted (or running) write, or dates
  inside the retention window were archived (a forced archive: the dashboards miss dates they
  should show);
- ``ok`` otherwise. A queue that is not set up yet reports ``unknown``, which is not a failure.

Business dates use ``NKDASH_TZ`` (UTC when unset: set it, or freshness may be off by a day
around midnight).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from nkdash import dates as cal
from nkdash.errors import MetadataError, NKDashError
from nkdash.etl.freshness import freshness_report
from nkdash.jobs import backend, control
from nkdash.lake import Lake
from nkdash.settings import Settings

Status = Literal["ok", "degraded", "fail"]


QueueProbe = Callable[[Settings], dict]


MAX_PROBLEMS = 20  # listed in the report (all are counted)


@dataclass(frozen=True)
class Health:
    status: Status
    lake: dict
    metadata: dict
    queue: dict
    checked_at: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict:
        return asdict(self)


def check_health(settings: Settings, queue_probe: QueueProbe | None = None, today: dt.date | None = None) -> Health:
    """Check the lake, the metadata store and the queue (``queue_probe``, default :func:`queue_status`)."""
    lake = Lake(settings.lake, read_only=True)
    today = today or cal.today(cal.timezone(settings.tz))
    lake_report = scan_lake(lake)
    metadata: dict[str, Any] = {"ok": True}
    datasets: dict[str, dict[str, Any]] = {}
    dims: str | None = None
    archive: dict[str, Any] = {"before": None, "inside_retention": False}
    try:
        report = freshness_report(today, settings=settings, lake=lake)
    except MetadataError as e:  # damaged, or empty while the lake holds data (no path: /health is public)
        metadata = {"ok": False, "error": f"metadata store {e.problem}: nkdash rebuild-metadata, or nkdash restore"}
    except sqlite3.Error as e:
        metadata = {"ok": False, "error": f"metadata store unreadable ({type(e).__name__})"}
    else:
        datasets = {
            f.dataset: {
                "last_loaded": f.last_loaded and f.last_loaded.isoformat(),
                "lag_days": f.lag_days,
                "status": f.status,
                "missing": len(f.missing),
                "failed": len(f.failed),
                "stale": len(f.stale),
                "not_reconciled": [d.isoformat() for d in f.unreconciled],
                "archived_before": _iso(report.archived.get(f.dataset)),
            }
            for f in report.datasets
        }
        archive = {
            "before": _iso(max(report.archived.values(), default=None)),
            "keep_from": _iso(report.keep_from),
            "inside_retention": bool(report.archived_inside_retention),
        }
        synced = report.dimensions_synced
        dims = synced.isoformat(timespec="seconds") if synced else None
    statuses = {d["status"] for d in datasets.values()}
    freshness = next((s for s in ("critical", "late") if s in statuses), "ok" if metadata["ok"] else "unknown")
    queue = (queue_probe or queue_status)(settings)
    if (
        not lake_report["readable"]
        or not metadata["ok"]
        or freshness == "critical"
        or lake_report["damaged"]
        or queue.get("ok") is False
    ):
        status: Status = "fail"
    elif (
        freshness == "late"
        or lake_report["problem_count"]
        or archive["inside_retention"]
        or any(d["not_reconciled"] for d in datasets.values())
    ):
        status = "degraded"
    else:
        status = "ok"
    return Health(
        status,
        {
            **lake_report,
            "status": freshness,
            "today": today.isoformat(),
            "datasets": datasets,
            "dimensions_synced": dims,
            "archive": archive,
        },
        metadata,
        queue,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def scan_lake(lake: Lake) -> dict:
    """A shallow scan: ``readable``; how many problems, how many of them ``damaged`` (all but
    leftovers of writes); the first few (table, date, kind)."""
    try:
        if not lake.star.is_dir():
            raise FileNotFoundError(lake.star)
        problems = lake.scan(deep=False)
    except OSError:
        return {"readable": False, "problem_count": 0, "damaged": 0, "problems": []}
    listed = [{"table": p.table, "date": p.date and p.date.isoformat(), "kind": p.kind} for p in problems]
    return {
        "readable": True,
        "problem_count": len(problems),
        "damaged": sum(p.kind != "temp" for p in problems),
        "problems": listed[:MAX_PROBLEMS],
    }


def queue_status(settings: Settings) -> dict:
    """Reachability and depth of the configured huey queue; ``ok`` None when not set up yet."""

    if settings.queue == "redis":
        reach = _redis_status(settings)  # a PING with short timeouts first: never hang /health
        if not reach["ok"]:
            return reach
        try:
            return {**reach, "pending": control.depth(settings)}
        except NKDashError:
            return {**reach, "ok": False, "status": "unreadable"}
    path = backend.sqlite_path(settings)
    if not path.exists():
        return {"backend": "sqlite", "ok": None, "status": "unknown", "pending": None}
    try:  # a fresh read-only connection: sees a damaged file as it is now
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            has_table = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'task'").fetchone()
            pending = con.execute("SELECT count(*) FROM task").fetchone()[0] if has_table else 0
        finally:
            con.close()
    except sqlite3.Error as e:
        return {"backend": "sqlite", "ok": False, "status": f"unreadable ({type(e).__name__})", "pending": None}
    return {"backend": "sqlite", "ok": True, "status": "ok", "pending": pending}


def _redis_status(settings: Settings) -> dict:
    """PING the Redis of ``NKDASH_REDIS_URL`` (never reported: it may hold a password)."""
    try:
        import redis

        redis.Redis.from_url(settings.redis_url.get(), socket_connect_timeout=1, socket_timeout=1).ping()
    except ImportError:
        return {"backend": "redis", "ok": False, "status": "the redis package is not installed", "pending": None}
    except Exception as e:  # noqa: BLE001 — any failure means "not reachable"; the message may name the URL
        return {"backend": "redis", "ok": False, "status": f"unreachable ({type(e).__name__})", "pending": None}
    return {"backend": "redis", "ok": True, "status": "ok", "pending": None}
