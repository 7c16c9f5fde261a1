"""Partition locks in the queue storage: one dataset x date is loaded by one task at a time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from huey import Huey

from nkdash.etl.datasets import get
from nkdash.settings import Settings

if TYPE_CHECKING:
    pass
from typing import TYPE_CHECKING

from nkdash.jobs.backend import huey_for, now, storage_key
from nkdash.processes import HOST, start_time
from nkdash.processes import alive as process_alive

if TYPE_CHECKING:
    from nkdash.jobs.app import Queue


def lock_name(dataset: str, day: dt.date | None) -> str:
    """``pos:2024-03-31``; a whole-table dataset has one lock (``dimensions``)."""
    return dataset if day is None or not get(dataset).partitioned else f"{dataset}:{day.isoformat()}"


def lock_key(huey: Huey, name: str) -> str:
    return storage_key(huey, f"lock.{name}")  # huey's own naming: huey.is_locked(name) works


def owner(task_id: str) -> dict:
    """Who runs a task: enough to tell later whether that process is still alive."""
    return {
        "task_id": task_id,
        "host": HOST,
        "pid": os.getpid(),
        "started": start_time(os.getpid()),
        "since": now().isoformat(),
    }


def try_lock(huey: Huey, names: Sequence[str], holder: dict) -> tuple[str, dict] | None:
    """Take every lock in ``names`` or none; None on success, else (taken name, its holder)."""
    taken: list[str] = []
    for name in names:
        if not huey.put_if_empty(lock_key(huey, name), holder):
            unlock(huey, taken, holder["task_id"])
            return name, huey.get(lock_key(huey, name), peek=True) or {}
        taken.append(name)
    return None


def unlock(huey: Huey, names: Iterable[str], task_id: str) -> None:
    """Release the locks of ``names`` that ``task_id`` holds."""
    for name in names:
        held = huey.get(lock_key(huey, name), peek=True)
        if held is None or held.get("task_id") == task_id:
            huey.delete(lock_key(huey, name))


def locks(settings: Settings | None = None) -> dict[str, dict]:
    """Partition locks now held: name -> holder."""
    return held_locks(huey_for(settings))


def held_locks(huey: Queue) -> dict[str, dict]:
    prefix = lock_key(huey, "")
    return {
        key[len(prefix) :]: huey.serializer.deserialize(value)
        for key, value in huey.storage.result_items().items()
        if key.startswith(prefix)
    }


def alive(holder: dict) -> bool | None:
    """Is the owner process alive? None when it ran on another host (cannot tell)."""
    if holder.get("host") != HOST or not holder.get("pid"):
        return None
    if not process_alive(holder["pid"]):
        return False
    started = holder.get("started")
    return started is None or start_time(holder["pid"]) in (None, started)
