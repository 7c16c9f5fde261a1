"""Refresh requests: queued (async, up to 31 days) and immediate (sync, one day)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.errors import InputError
from nkdash.etl.datasets import get
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from typing import TYPE_CHECKING

from nkdash.etl import refresh
from nkdash.jobs.backend import QueueError, backend_errors, huey_for, log, now, submit
from nkdash.jobs.history import error_text
from nkdash.jobs.locks import owner
from nkdash.jobs.work import Outcome, load
from nkdash.odoo import business_tz

if TYPE_CHECKING:
    from nkdash.jobs.backend import State
    from nkdash.meta import Trigger
    from nkdash.odoo import OdooClient


def check_dates(
    dataset: str, start: str | dt.date, end: str | dt.date, *, limit: int, settings: Settings | None = None
) -> list[dt.date]:
    """Parse and check a request (see :func:`enqueue_refresh`); InputError names the problem."""
    spec = get(dataset)
    if not spec.partitioned:
        raise InputError(f"{dataset} has no dates; refresh it with `nkdash refresh {dataset} --date ...`", dataset)
    first = cal.parse_date(start, "start date") if isinstance(start, str) else start
    last = cal.parse_date(end, "end date") if isinstance(end, str) else end
    cal.check_range(first, last, latest=dt.date.max, limit=limit)  # before asking Odoo for a timezone
    settings = settings or get_settings()
    return cal.check_range(first, last, latest=cal.latest_complete(business_tz(settings), now()), limit=limit)


def enqueue_refresh(dataset: str, start: str | dt.date, end: str | dt.date, settings: Settings | None = None) -> str:
    """Queue one task per date of ``start..end``; returns the request id.

    Refused with InputError, before anything is enqueued: an unknown or undated dataset, a
    malformed date, an end before the start, a date that is not complete yet (today or
    later) or more than :data:`~nkdash.calendar.MAX_ASYNC_DAYS` days.
    """
    dates = check_dates(dataset, start, end, limit=cal.MAX_ASYNC_DAYS, settings=settings)
    from nkdash.jobs import tasks

    huey = huey_for(settings)
    request_id = uuid.uuid4().hex[:12]
    for day in dates:
        submit(
            huey,
            tasks.refresh_partition.s(
                dataset=dataset, day=day.isoformat(), request_id=request_id, id=f"{request_id}.{day.isoformat()}"
            ),
        )
    return request_id


@dataclass(frozen=True)
class DateStatus:
    date: dt.date
    state: State
    task_id: str
    detail: str = ""


def request_status(request_id: str, settings: Settings | None = None) -> list[DateStatus]:
    """Per date of an async request: queued, running, done, failed (or revoked)."""
    rows = huey_for(settings).history.by_request(request_id)
    if not rows:
        raise InputError(f"no request {request_id!r}", request_id)
    current = [row for row in rows if not (row.get("params") or {}).get("retried_as")]  # retries replace
    return [DateStatus(row["date"], row["state"], row["id"], _detail(row)) for row in current]


def _detail(row: dict) -> str:
    params = row.get("params") or {}
    error: str | None = row.get("error")
    if error:
        return error
    duplicates = (params.get("outcome") or {}).get("duplicates")
    if duplicates:
        return "duplicate of " + ", ".join(sorted(set(duplicates.values())))
    summary: str = params.get("summary", "")
    return summary


def refresh_sync(dataset: str, day: str | dt.date, settings: Settings | None = None) -> Outcome:
    """Refresh one date now, in this process, under the same lock as queued work."""
    day = cal.parse_date(day) if isinstance(day, str) else day
    (date,) = check_dates(dataset, day, day, limit=1, settings=settings)
    return refresh_now(dataset, [date], trigger="sync", name="refresh_sync", settings=settings)


def refresh_now(
    dataset: str,
    dates: Sequence[dt.date],
    *,
    trigger: Trigger = "manual",
    name: str = "refresh_cli",
    settings: Settings | None = None,
    client: OdooClient | None = None,
    full: bool = False,
    progress: bool = False,
) -> Outcome:
    """Refresh checked ``dates`` now, in this process, under the partition locks queued work
    takes, recorded in the task history as ``name`` (with this process as its owner, so a
    killed refresh's locks are freed by the recovery of lost tasks). A date another task or
    command is loading is not loaded twice: it is a duplicate (:attr:`Outcome.duplicates`)."""
    settings = settings or get_settings()
    huey = huey_for(settings)
    try:
        with backend_errors(settings):
            huey.storage.queue_size()  # the locks live in the queue's storage
    except QueueError as exc:
        log.warning("%s: loading without the partition locks (a queued task may load the same dates)", exc)
        report = refresh(
            dataset, dates, trigger=trigger, settings=settings, client=client, full=full, progress=progress
        )
        return Outcome(dataset, [d for d in dates if d not in report.failed_dates], report.failed_dates, report=report)
    history, task_id = huey.history, f"{name.rsplit('_', 1)[-1]}-{uuid.uuid4().hex[:12]}"
    history.update(
        task_id,
        name=name,
        dataset=dataset,
        date=dates[0] if len(dates) == 1 else None,
        state="running",
        params={"trigger": trigger, "owner": owner(task_id), "dates": [d.isoformat() for d in dates]},
    )
    try:
        outcome = load(
            dataset,
            dates,
            task_id=task_id,
            trigger=trigger,
            settings=settings,
            client=client,
            full=full,
            progress=progress,
        )
    except BaseException as exc:
        history.update(task_id, state="failed", error=error_text(exc))
        raise
    done = outcome.ok and not outcome.waiting  # waiting: an input is being loaded right now
    history.update(
        task_id,
        state="done" if done else "failed",
        error=None if done else outcome.text(),
        params={"outcome": outcome.as_params(), "summary": outcome.text()},
    )
    return outcome
