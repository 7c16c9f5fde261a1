"""A night of the schedule, played in this process: the minute tick of ``tasks.py`` at every
slot's local time, and each task it queued executed by huey as a consumer would
(``huey.dequeue`` + ``huey.execute``: same task functions, history and retries). Nothing but
what the schedule runs runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import tasks
from nkdash import settings as settings_module
from nkdash.jobs import backend, schedule
from nkdash.odoo import business_tz
from nkdash.settings import Settings


@contextlib.contextmanager
def _clock_and_settings(settings: Settings, clock: Path) -> Iterator[None]:
    """The queue's clock read from ``clock``; ``settings`` as the process-wide ones (the tasks read them)."""
    saved_env, saved = os.environ.get(backend.CLOCK_ENV), settings_module._cached
    os.environ[backend.CLOCK_ENV], settings_module._cached = str(clock), settings
    try:
        yield
    finally:
        settings_module._cached = saved
        if saved_env is None:
            os.environ.pop(backend.CLOCK_ENV, None)
        else:
            os.environ[backend.CLOCK_ENV] = saved_env


def every_slot() -> dict[str, str]:
    """Every job the schedule knows, by local time (whatever this version of nkdash schedules)."""
    return {**schedule.SCHEDULE, **getattr(schedule, "MAINTENANCE", {})}


def play_night(settings: Settings, night: dt.date, clock: Path) -> list[dict]:
    """Run what the schedule runs on local date ``night`` (the slots of earlier nights claimed
    first: they do not fire); returns the task history of the night."""
    huey, tz = backend.huey_for(settings), business_tz(settings)
    times = sorted(set(every_slot().values()))
    before = schedule.slot_instant(night, times[0], tz) - dt.timedelta(minutes=1)
    for slot in schedule.due_slots(before, tz, every_slot()):
        backend.claim(huey, slot.key)
    with _clock_and_settings(settings, clock):
        for hhmm in times:
            clock.write_text(schedule.slot_instant(night, hhmm, tz).isoformat())
            tasks.tick.call_local()
            while (task := huey.dequeue()) is not None:
                huey.execute(task)
    return huey.history.meta.tasks()
