"""The huey app: huey with nkdash's storage and task history, and its consumer."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from huey import Huey
from huey.consumer import Consumer, Scheduler
from huey.storage import BaseStorage

from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import Task

from nkdash.jobs.backend import NAME, claim, claim_key, log, make_storage, now
from nkdash.jobs.history import UNRECORDED, TaskLog, recover_lost

PERIODIC_ENV = "NKDASH_PERIODIC_SECONDS"


class Queue(Huey):
    """huey with nkdash's storage (from settings, opened on first use) and task history.

    ``settings.queue`` picks the storage: ``sqlite`` (``<state_dir>/huey.sqlite``) or
    ``redis`` (``redis_url``, a priority queue). Results are not stored: outcomes go to the
    task history in the metadata store.
    """

    def __init__(self, settings: Settings | None = None, name: str = NAME):
        self._settings: Settings | None = settings
        self._storage: BaseStorage | None = None
        self._history: TaskLog | None = None
        super().__init__(name, results=False, utc=True)
        self.signal()(self._record)

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def bind(self, settings: Settings) -> Queue:
        """Use ``settings`` from now on (tests; a notebook with its own settings)."""
        if settings != self.settings:
            if self._storage is not None:
                self._storage.close()
            self._settings, self._storage, self._history = settings, None, None
        return self

    def get_storage(self, **kwargs: Any) -> None:
        return None  # opened on first use, from the settings

    @property
    def storage(self) -> BaseStorage:
        if self._storage is None:
            self._storage = make_storage(self.name, self.settings)
        return self._storage

    @storage.setter
    def storage(self, value: BaseStorage) -> None:
        self._storage = value

    @property
    def history(self) -> TaskLog:
        if self._history is None:
            self._history = TaskLog(self.settings)
        return self._history

    def read_periodic(self, timestamp: dt.datetime | None) -> list[Task]:
        """Periodic tasks due now, if this consumer is the first to claim the minute."""
        minute = now().replace(second=0, microsecond=0)
        if not claim(self, f"minute:{minute:%Y-%m-%dT%H:%M}"):
            return []
        self.delete(claim_key(self, f"minute:{minute - dt.timedelta(minutes=10):%Y-%m-%dT%H:%M}"))
        due: list[Task] = super().read_periodic(timestamp)
        return due

    def create_consumer(self, **options: Any) -> Consumer:
        """A consumer that first recovers from dead consumers (also for ``huey_consumer``)."""
        for line in recover_lost(self):
            log.warning("%s", line)
        return _Consumer(self, **options)

    def _record(self, signal_name: str, task: Task, *args: Any) -> None:
        if task.name not in UNRECORDED:
            self.history.on_signal(signal_name, task, *args)


class _Scheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.periodic_task_seconds = int(os.environ.get(PERIODIC_ENV, "60"))


class _Consumer(Consumer):
    scheduler_class = _Scheduler

    def _set_signal_handlers(self) -> None:
        super()._set_signal_handlers()
        graceful = "SIGTERM" if self.graceful_signal == "TERM" else "SIGINT"
        log.info("consumer %d ready (%s: stop after the tasks in hand; SIGHUP: restart)", os.getpid(), graceful)


def build_huey(settings: Settings | None = None) -> Queue:
    """The instance ``tasks.py`` exposes. Import-safe: nothing is opened before first use."""
    return Queue(settings)
