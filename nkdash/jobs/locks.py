"""Partition locks in the queue storage: one dataset x date is loaded by one task at a time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from huey import Huey

from nkdash.etl.datasets import get
from nkdash.settings import Settings

if TYPE_CHECKING:
    pass
from typing import TYPE_CHECKING

from nkdash.jobs.backend import HOST, _key, huey_for, now

if TYPE_CHECKING:
    from nkdash.jobs.app import Queue


def lock_name(dataset: str, day: dt.date | None) -> str:
    """``pos:2024-03-31``; a whole-table dataset has one lock (``dimensions``)."""
    return dataset if day is None or not get(dataset).partitioned else f"{dataset}:{day.isoformat()}"


def _lock_key(huey: Huey, name: str) -> str:
    return _key(huey, f"lock.{name}")  # huey's own naming: huey.is_locked(name) works


def owner(task_id: str) -> dict:
    """Who runs a task: enough to tell later whether that process is still alive."""
    return {
        "task_id": task_id,
        "host": HOST,
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
        "since": now().isoformat(),
    }


def try_lock(huey: Huey, names: Sequence[str], holder: dict) -> tuple[str, dict] | None:
    """Take every lock in ``names`` or none; None on success, else (taken name, its holder)."""
    taken: list[str] = []
    for name in names:
        if not huey.put_if_empty(_lock_key(huey, name), holder):
            unlock(huey, taken, holder["task_id"])
            return name, huey.get(_lock_key(huey, name), peek=True) or {}
        taken.append(name)
    return None


def unlock(huey: Huey, names: Iterable[str], task_id: str) -> None:
    """Release the locks of ``names`` that ``task_id`` holds."""
    for name in names:
        held = huey.get(_lock_key(huey, name), peek=True)
        if held is None or held.get("task_id") == task_id:
            huey.delete(_lock_key(huey, name))


def locks(settings: Settings | None = None) -> dict[str, dict]:
    """Partition locks now held: name -> holder."""
    return _locks(huey_for(settings))


def _locks(huey: Queue) -> dict[str, dict]:
    prefix = _lock_key(huey, "")
    return {
        key[len(prefix) :]: huey.serializer.deserialize(value)
        for key, value in huey.storage.result_items().items()
        if key.startswith(prefix)
    }


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to detect reused pids."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(holder: dict) -> bool | None:
    """Is the owner process alive? None when it ran on another host (cannot tell)."""
    if holder.get("host") != HOST or not holder.get("pid"):
        return None
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = holder.get("started")
    return started is None or _process_start(holder["pid"]) in (None, started)
