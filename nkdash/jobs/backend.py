"""The queue's backend: its storage (SQLite or Redis), claims, the clock, enqueueing."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import logging.handlers
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from huey import Huey
from huey.storage import BaseStorage, PriorityRedisStorage, SqliteStorage

from nkdash.errors import NKDashError
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import Task

    from nkdash.jobs.app import Queue


log = logging.getLogger(__name__)


NAME = "nkdash"


CLOCK_ENV = "NKDASH_CLOCK_FILE"


UTC = dt.UTC


State = Literal["queued", "running", "done", "failed", "revoked"]


class QueueError(NKDashError):
    """The queue backend (the SQLite file or Redis) could not be used."""

    def __init__(self, message: str, backend: str):
        self.backend = backend
        super().__init__(message)


class TaskFailed(NKDashError):
    """A task's ETL run left failed dates (the message is the run summary)."""


def now() -> dt.datetime:
    """The current UTC instant, or the one in ``$NKDASH_CLOCK_FILE`` (tests)."""
    path = os.environ.get(CLOCK_ENV)
    if path:
        return dt.datetime.fromisoformat(Path(path).read_text().strip()).astimezone(UTC)
    return dt.datetime.now(UTC)


def sqlite_path(settings: Settings) -> Path:
    """The SQLite queue file (``NKDASH_QUEUE=sqlite``)."""
    return settings.state_dir / "huey.sqlite"


def make_storage(name: str, settings: Settings) -> BaseStorage:
    """The huey storage the settings ask for."""
    if settings.queue == "redis":
        return PriorityRedisStorage(name, url=settings.redis_url.get())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStorage(name, filename=str(sqlite_path(settings)), timeout=30)


def backend(settings: Settings) -> str:
    """``sqlite <file>`` or ``redis host:port/db`` (no credentials): safe to print."""
    if settings.queue != "redis":
        return f"sqlite {sqlite_path(settings)}"
    from urllib.parse import urlsplit

    url = urlsplit(settings.redis_url.get())
    return f"redis {url.hostname}:{url.port or 6379}{url.path or '/0'}"


def huey_for(settings: Settings | None = None) -> Queue:
    """The huey instance of :mod:`nkdash.jobs.tasks`, bound to ``settings`` when given."""
    from nkdash.jobs.tasks import huey

    return huey.bind(settings) if settings is not None else huey


@contextlib.contextmanager
def backend_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn an unreachable Redis or an unusable SQLite file into :class:`QueueError`."""
    try:
        yield
    except NKDashError:
        raise
    except (sqlite3.Error, OSError) + _redis_errors() as exc:  # noqa: RUF005 (mypy rejects a starred except tuple)
        settings = settings or get_settings()
        raise QueueError(f"queue {backend(settings)}: {exc}", settings.queue) from exc


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return ()
    return (RedisError,)


def submit(huey: Queue, task: Task, attempts: int = 3) -> str:
    """Enqueue ``task``; a busy SQLite file is retried, then :class:`QueueError`."""
    for attempt in range(1, attempts + 1):
        try:
            huey.enqueue(task)
            task_id: str = task.id
            return task_id
        except Exception as exc:  # sqlite3.OperationalError, redis.ConnectionError...
            busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            if busy and attempt < attempts:
                time.sleep(0.5 * attempt)
                continue
            huey.history.update(task.id, state="failed", error=f"not enqueued: {exc}")
            raise QueueError(f"cannot enqueue on {backend(huey.settings)}: {exc}", huey.settings.queue) from exc
    raise AssertionError("unreachable")


def storage_key(huey: Huey, what: str) -> str:
    return f"{huey.name}.{what}"


def claim_key(huey: Huey, what: str) -> str:
    return storage_key(huey, f"claim.{what}")


def claim(huey: Huey, what: str) -> bool:
    """True for the first caller only, across processes and machines."""
    return bool(huey.put_if_empty(claim_key(huey, what), now().isoformat()))
