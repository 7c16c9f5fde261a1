"""The daily schedule in the business timezone: slots, claims, the minute tick."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import TaskWrapper

from nkdash.jobs.backend import UTC, claim, claim_key, huey_for, now, storage_key, submit
from nkdash.odoo import business_tz

SCHEDULE: dict[str, str] = {  # dataset -> local time of its daily job
    "dimensions": "01:50",
    "pos": "02:00",
    "invoices": "02:05",
    "purchases": "02:10",
    "inventory": "02:15",
    "profit": "02:20",
    "stock-quants": "02:25",
}


MAINTENANCE: dict[str, str] = {  # lake job -> local time: after the daily loads
    "reconcile": "02:45",  # etl.reconcile.reconcile: the window checked against Odoo, healed
    "compact": "03:00",  # storage.compact_old_months
}


SLOT_WINDOW = dt.timedelta(hours=24)  # a slot missed while down still fires within this


@dataclass(frozen=True)
class Slot:
    """One daily job: ``dataset`` for local date ``day``, due from UTC ``at``."""

    dataset: str
    day: dt.date
    at: dt.datetime

    @property
    def key(self) -> str:
        return f"slot:{self.dataset}:{self.day.isoformat()}"


@functools.lru_cache(maxsize=1024)
def slot_instant(day: dt.date, hhmm: str, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant of local ``hhmm`` on ``day`` (``fold=0``: see the module docstring)."""
    wall = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=tz)
    return wall.astimezone(UTC)


def due_slots(at: dt.datetime, tz: dt.tzinfo, schedule: dict[str, str] = SCHEDULE) -> list[Slot]:
    """Slots whose instant is in ``(at - SLOT_WINDOW, at]``, in order (claims say which fired)."""
    today = cal.business_date(at, tz)
    slots = [
        Slot(name, day, slot_instant(day, hhmm, tz))
        for day in (today - dt.timedelta(days=1), today)
        for name, hhmm in schedule.items()
    ]
    return sorted((s for s in slots if at - SLOT_WINDOW < s.at <= at), key=lambda s: s.at)


def tick(
    daily: TaskWrapper,
    at: dt.datetime | None = None,
    settings: Settings | None = None,
    jobs: dict[str, TaskWrapper] | None = None,
) -> list[Slot]:
    """Enqueue ``daily(dataset, day)`` for every due slot not fired yet, and ``jobs[name](day)``
    for the due :data:`MAINTENANCE` slots of the ``jobs`` given; returns the slots fired."""
    settings = settings or get_settings()
    huey, at, jobs = huey_for(settings), at or now(), jobs or {}
    schedule = {**SCHEDULE, **{name: MAINTENANCE[name] for name in jobs}}
    fired = [s for s in due_slots(at, business_tz(settings), schedule) if claim(huey, s.key)]
    for slot in fired:
        about = {"time": schedule[slot.dataset], "at": slot.at.isoformat(), "fired_at": at.isoformat()}
        job = jobs.get(slot.dataset)
        submit(
            huey,
            job.s(day=slot.day.isoformat(), slot=about)
            if job
            else daily.s(dataset=slot.dataset, day=slot.day.isoformat(), slot=about),
        )
    for old in due_slots(at - 3 * SLOT_WINDOW, business_tz(settings), schedule):
        huey.delete(claim_key(huey, old.key))
    huey.put(storage_key(huey, "last_tick"), at.isoformat())
    return fired


def every(name: str, minutes: int, settings: Settings | None = None, at: dt.datetime | None = None) -> bool:
    """True once per ``minutes``-long interval of the clock, for the first caller across
    consumers (a claim in the queue storage); older claims are dropped."""
    huey, at = huey_for(settings), at or now()
    bucket = int(at.timestamp() // (minutes * 60))
    huey.delete(claim_key(huey, f"every:{name}:{bucket - 3}"))
    return claim(huey, f"every:{name}:{bucket}")


def last_tick(settings: Settings | None = None) -> dt.datetime | None:
    """When the schedule was last checked (by any consumer)."""
    huey = huey_for(settings)
    value = huey.get(storage_key(huey, "last_tick"), peek=True)
    return dt.datetime.fromisoformat(value) if value else None
