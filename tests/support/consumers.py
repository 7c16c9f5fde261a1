"""Real huey consumer processes for tests (the ``consumers`` fixture starts ``nkdash worker``
processes, the ``clock`` fixture is a :class:`Clock`): settings with a queue of their own, the
instant the consumers see (``NKDASH_CLOCK_FILE``), the task history, and waits that poll a
condition with a deadline (:func:`wait_for`)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

from nkdash.demo import DemoServer
from nkdash.jobs import backend, control, schedule, worker
from nkdash.settings import Settings
from tests.support.demo import TZ, settings_for

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def wait_for(condition: Callable[[], object], timeout: float = 60, what: str = "the condition") -> object:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return value


class Clock:
    """The instant the consumers see (``NKDASH_CLOCK_FILE``)."""

    def __init__(self, path: Path):
        self.path = path

    def set(self, at: dt.datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(at.isoformat())
        os.replace(tmp, self.path)  # consumers never read half a file

    def step(self, settings: Settings, at: dt.datetime) -> None:
        """Move time to ``at`` and wait until a consumer's tick has seen it."""
        self.set(at)
        wait_for(lambda: schedule.last_tick(settings) == at, 30, f"a tick at {at}")


def started(settings: Settings, pid: int) -> bool:
    log = worker.log_file(settings)
    return log.exists() and f"consumer {pid} ready" in log.read_text()


def make_settings(server: DemoServer, tmp_path: Path, **changes) -> Settings:
    settings = settings_for(
        server, tmp_path / "lake", state_dir=tmp_path / "state", log_dir=tmp_path / "logs", tz=TZ, **changes
    )
    backend.huey_for(settings)
    return settings


def history(settings: Settings, name: str | None = None) -> list[dict]:
    return [row for row in control.tasks(settings, limit=None) if name is None or row["name"] == name]


def fired_at(settings: Settings, at: dt.datetime) -> set[tuple[str, dt.date]]:
    """The daily jobs a tick at ``at`` enqueued."""
    return {
        (row["dataset"], row["date"])
        for row in history(settings, "daily")
        if row["params"]["kwargs"]["slot"]["fired_at"] == at.isoformat()
    }


def settled(settings: Settings) -> bool:
    """Nothing queued, scheduled or running (also no task taken but not started yet)."""
    busy = [row for row in history(settings) if row["state"] in ("queued", "running")]
    return not (busy or control.pending(settings) or control.scheduled(settings))


def runs(settings: Settings, dataset: str, day: dt.date) -> list[str]:
    meta = backend.huey_for(settings).history.meta
    return sorted(r["status"] for r in meta.runs(dataset=dataset) if r["date"] == day)


SPRING_NIGHT = [  # (UTC instant, daily jobs it fires) in Brussels, 31 March 2024 (02:00 CET -> 03:00 CEST)
    (utc(2024, 3, 30, 23, 0), {(n, dt.date(2024, 3, 30)) for n in schedule.SCHEDULE}),  # first start: yesterday's
    (utc(2024, 3, 31, 0, 49), set()),
    (utc(2024, 3, 31, 0, 50), {("dimensions", dt.date(2024, 3, 31))}),  # 01:50 CET
    (utc(2024, 3, 31, 0, 59), set()),  # 01:59 CET
    (utc(2024, 3, 31, 1, 0), {("pos", dt.date(2024, 3, 31))}),  # 03:00 CEST (02:00 skipped)
    (utc(2024, 3, 31, 1, 12), {("invoices", dt.date(2024, 3, 31)), ("purchases", dt.date(2024, 3, 31))}),
    (utc(2024, 3, 31, 1, 30), {(n, dt.date(2024, 3, 31)) for n in ("inventory", "profit", "stock-quants")}),
    (utc(2024, 3, 31, 12, 0), set()),
]
AUTUMN_NIGHT = [  # 27 October 2024: 03:00 CEST -> 02:00 CET, 02:00-02:59 happens twice
    (utc(2024, 10, 26, 23, 49), {(n, dt.date(2024, 10, 26)) for n in schedule.SCHEDULE}),  # back after 7 months
    (utc(2024, 10, 26, 23, 50), {("dimensions", dt.date(2024, 10, 27))}),  # 01:50 CEST
    (utc(2024, 10, 27, 0, 0), {("pos", dt.date(2024, 10, 27))}),  # 02:00 CEST, first
    (
        utc(2024, 10, 27, 0, 30),
        {(n, dt.date(2024, 10, 27)) for n in ("invoices", "purchases", "inventory", "profit", "stock-quants")},
    ),
    (utc(2024, 10, 27, 1, 0), set()),  # 02:00 CET, again
    (utc(2024, 10, 27, 1, 30), set()),  # 02:30 CET, again
]
