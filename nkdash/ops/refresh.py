"""Refreshing a dataset from a page: now (one day, under the partition lock) or queued."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.etl.datasets import get
from nkdash.etl.runner import input_ready
from nkdash.jobs import backend, requests, schedule
from nkdash.lake import Lake
from nkdash.ops.common import Result, guarded, latest_date, no_progress, today
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.ops.common import Progress


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
        return Result(
            False,
            "Async Refresh refused: nothing was queued",
            f"{start}..{end} is {count} days; one request covers at most {cal.MAX_ASYNC_DAYS} days. "
            "Split the range, or use Recovery for older gaps.",
        )
    request_id = requests.enqueue_refresh(dataset, start, end, settings)
    return Result(
        True,
        f"Queued {spec.title} for {cal.format_spans(cal.days(start, end))}",
        f"request {request_id}: {count} task(s), one per date; follow them below "
        f"(or `nkdash tasks --request {request_id}`)",
        value=request_id,
    )


def _queue_dimensions(settings: Settings) -> Result:
    from nkdash.jobs import tasks

    huey = backend.huey_for(settings)
    request_id = uuid.uuid4().hex[:12]
    task_id = backend.submit(
        huey,
        tasks.daily.s(
            dataset="dimensions", day=today(settings).isoformat(), request_id=request_id, id=f"{request_id}.dimensions"
        ),
    )
    return Result(
        True,
        "Queued a sync of the dimensions",
        f"request {request_id}: task {task_id} (dimensions are whole tables: no dates)",
        value=request_id,
    )


def sync_steps(dataset: str, day: dt.date, settings: Settings) -> list[str]:
    """The datasets a sync refresh of ``dataset`` for ``day`` loads, in order: its inputs
    that are not loaded yet, then itself."""
    spec = get(dataset)
    meta = backend.huey_for(settings).history.meta
    return [*(name for name in spec.inputs if not input_ready(meta, Lake(settings.lake), name, day)), dataset]


@guarded("Sync Refresh")
def sync_refresh(
    dataset: str, period: Sequence[dt.date], *, settings: Settings | None = None, progress: Progress = no_progress
) -> Result:
    """Refresh one day now, under the same partition locks as queued work (a range is
    refused: that is what Async Refresh is for). Dimensions are reloaded completely."""
    settings = settings or get_settings()
    start, end = period
    spec = get(dataset)
    if spec.partitioned and start != end:
        return Result(
            False,
            "Sync Refresh is for one day: nothing was loaded",
            f"{start}..{end} is {(end - start).days + 1} days. Pick a single date, or use Async Refresh "
            f"(up to {cal.MAX_ASYNC_DAYS} days, queued).",
        )
    if not spec.partitioned:
        return reload_dimensions(settings, progress)
    lines, ok = [], True
    for name in progress(
        sync_steps(dataset, end, settings),
        title=f"Sync Refresh: {spec.title} {end}",
        completion_title="Sync Refresh done",
    ):
        outcome = requests.refresh_sync(name, end, settings)
        ok &= outcome.ok and not outcome.waiting
        lines.append(outcome.text())
    verb = "Loaded" if ok else "Could not load"
    return Result(ok, f"{verb} {spec.title} for {end}", "\n".join(lines))


def reload_dimensions(settings: Settings, progress: Progress) -> Result:
    from nkdash.etl import refresh

    (report,) = [
        refresh("dimensions", [latest_date(settings)], trigger="sync", settings=settings, progress=False, full=True)
        for _ in progress(["dimensions"], title="Reloading the dimensions", completion_title="Dimensions reloaded")
    ]
    return Result(report.ok, "Dimensions reloaded" if report.ok else "Dimensions: reload failed", report.summary())


@guarded("Daily jobs")
def enqueue_daily_jobs(settings: Settings | None = None) -> Result:
    """Queue today's daily job of every scheduled dataset now (what the schedule would do)."""
    settings = settings or get_settings()
    from nkdash.jobs import tasks

    huey, day = backend.huey_for(settings), today(settings).isoformat()
    ids = [backend.submit(huey, tasks.daily.s(dataset=name, day=day)) for name in schedule.SCHEDULE]
    return Result(
        True,
        f"Queued {len(ids)} daily job(s) for {day}",
        "\n".join(f"{name:<13} task {i}" for name, i in zip(schedule.SCHEDULE, ids)),
    )
