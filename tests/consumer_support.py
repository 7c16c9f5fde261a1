"""Real huey consumer processes for tests: ``consumers`` starts ``nkdash worker`` processes
(killed at teardown), ``clock`` is the instant they see (``NKDASH_CLOCK_FILE``); every wait
polls a condition with a deadline (:func:`wait_for`). A test module imports the fixtures
it uses by name (``from tests.consumer_support import clock, consumers``)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nkdash.demo import DemoServer
from nkdash.jobs import app, backend, control, schedule, worker
from nkdash.settings import Settings
from tests.conftest import TZ, settings_for

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


@pytest.fixture
def clock(tmp_path) -> Clock:
    return Clock(tmp_path / "clock")


def started(settings: Settings, pid: int) -> bool:
    log = worker.log_file(settings)
    return log.exists() and f"consumer {pid} ready" in log.read_text()


@pytest.fixture
def consumers(clock) -> Iterator[Callable[..., object]]:
    """``start(settings, workers=1, periodic=False)``: a consumer process, killed at teardown.

    It sees the injected clock once the test has set it, and checks the schedule every second.
    """
    procs = []

    def start(settings: Settings, workers: int = 1, periodic: bool = False, worker_type: str = "thread"):
        env = {app.PERIODIC_ENV: "1", **({backend.CLOCK_ENV: str(clock.path)} if clock.path.exists() else {})}
        proc = worker.start_worker_process(
            settings, workers=workers, worker_type=worker_type, periodic=periodic, env=env
        )
        procs.append(proc)
        wait_for(lambda: started(settings, proc.pid) or proc.poll() is not None, 60, "the consumer to start")
        assert proc.poll() is None, worker.log_file(settings).with_name("worker.out").read_text()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def make_settings(server: DemoServer, tmp_path: Path, **changes) -> Settings:
    settings = settings_for(
        server, tmp_path / "lake", state_dir=tmp_path / "state", log_dir=tmp_path / "logs", tz=TZ, **changes
    )
    backend.huey_for(settings)
    return settings


def history(settings: Settings, name: str | None = None) -> list[dict]:
    return [row for row in control.tasks(settings, limit=None) if name is None or row["name"] == name]
