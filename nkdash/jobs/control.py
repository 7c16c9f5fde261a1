"""Queue operations: pending, scheduled and running tasks; status, revoke, purge, retry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from huey import Huey

from nkdash.errors import InputError
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import Task

from nkdash.jobs.backend import UTC, backend, backend_errors, huey_for, submit
from nkdash.jobs.history import UNRECORDED, recover_lost
from nkdash.jobs.locks import held_locks, lock_key, locks
from nkdash.jobs.schedule import last_tick


def depth(settings: Settings | None = None) -> int:
    """Tasks waiting in the queue (not counting scheduled ones)."""
    with backend_errors(settings):
        return int(huey_for(settings).storage.queue_size())


def flush_locks(settings: Settings | None = None, *, everything: bool = False) -> list[str]:
    """Free the locks whose task is not running (after :func:`recover`); all with ``everything``.

    ``everything`` is huey's ``-f``: only safe when no consumer is running.
    """
    huey = huey_for(settings)
    recover_lost(huey)
    running = {row["id"] for row in huey.history.meta.tasks(state="running")}
    freed = [name for name, holder in held_locks(huey).items() if everything or holder.get("task_id") not in running]
    for name in freed:
        huey.delete(lock_key(huey, name))
    return sorted(freed)


@dataclass(frozen=True)
class QueuedTask:
    id: str
    name: str
    dataset: str | None
    date: str | None
    eta: dt.datetime | None = None
    revoked: bool = False

    @classmethod
    def of(cls, huey: Huey, task: Task) -> QueuedTask:
        eta = task.eta.replace(tzinfo=UTC) if task.eta else None
        return cls(task.id, task.name, task.kwargs.get("dataset"), task.kwargs.get("day"), eta, huey.is_revoked(task))


def pending(settings: Settings | None = None) -> list[QueuedTask]:
    huey = huey_for(settings)
    return [QueuedTask.of(huey, t) for t in huey.pending()]


def scheduled(settings: Settings | None = None) -> list[QueuedTask]:
    huey = huey_for(settings)
    return [QueuedTask.of(huey, t) for t in huey.scheduled()]


def running(settings: Settings | None = None) -> list[dict]:
    return huey_for(settings).history.meta.tasks(state="running")


def tasks(settings: Settings | None = None, *, state: str | None = None, limit: int | None = 50) -> list[dict]:
    """Task history, most recent first (the operations notebook's task monitor)."""
    return huey_for(settings).history.meta.tasks(state=state, limit=limit)


@dataclass
class QueueStatus:
    backend: str
    pending: list[QueuedTask]
    scheduled: list[QueuedTask]
    running: list[dict]
    locks: dict[str, dict]
    last_tick: dt.datetime | None

    def text(self) -> str:
        lines = [
            f"queue: {self.backend}",
            f"schedule last checked: {self.last_tick or 'never (no consumer has run)'}",
            f"pending: {len(self.pending)}   scheduled: {len(self.scheduled)}   running: {len(self.running)}",
        ]
        lines += [
            f"  running   {r['id']}  {r.get('name')} {r.get('dataset') or ''} {r.get('date') or ''} "
            f"since {r.get('started_at')}"
            for r in self.running
        ]
        lines += [
            f"  pending   {t.id}  {t.name} {t.dataset or ''} {t.date or ''}{' (revoked)' if t.revoked else ''}"
            for t in self.pending
        ]
        lines += [f"  scheduled {t.id}  {t.name} {t.dataset or ''} {t.date or ''} at {t.eta}" for t in self.scheduled]
        lines += [
            f"  lock      {name}  held by task {h.get('task_id')} (pid {h.get('pid')} on {h.get('host')})"
            for name, h in sorted(self.locks.items())
        ]
        return "\n".join(lines)


def status(settings: Settings | None = None) -> QueueStatus:
    settings = settings or get_settings()
    return QueueStatus(
        backend(settings),
        pending(settings),
        scheduled(settings),
        running(settings),
        locks(settings),
        last_tick(settings),
    )


def revoke(task_id: str, settings: Settings | None = None, *, dry_run: bool = False) -> str:
    """Revoke a queued or scheduled task (a running task cannot be revoked); returns what it
    was (one line). ``dry_run``: the same checks and line, nothing revoked."""
    huey = huey_for(settings)
    row = huey.history.get(task_id)
    if row is None:
        raise InputError(f"no task {task_id!r}", task_id)
    if row["state"] != "queued":
        raise InputError(f"task {task_id} is {row['state']}; only queued tasks can be revoked", task_id)
    what = " ".join(str(v) for v in (row.get("name"), row.get("dataset"), row.get("date")) if v)
    queued = row.get("enqueued_at")
    line = f"task {task_id}: {what}" + (f", queued {queued:%Y-%m-%d %H:%M} UTC" if queued else "")
    if not dry_run:
        huey.revoke_by_id(task_id)
        huey.history.update(task_id, state="revoked", error="revoked by an operator")
    return line


def purge_preview(settings: Settings | None = None) -> str:
    """What :func:`purge` would drop: counts per task and dataset, and their dates."""
    waiting = [*pending(settings), *scheduled(settings)]
    if not waiting:
        return "the queue is empty: nothing to purge"
    groups: dict[str, list[str]] = {}
    for t in waiting:
        groups.setdefault(" ".join(filter(None, (t.name, t.dataset))), []).append(t.date or "")
    lines = [f"drop {len(waiting)} task(s) waiting in the queue (running tasks finish):"]
    for name, days in groups.items():
        dated = sorted(d for d in days if d)
        span = f", {dated[0]} … {dated[-1]}" if dated else ""
        lines.append(f"  {len(days)} x {name}{span}")
    return "\n".join(lines)


def purge(settings: Settings | None = None, *, dry_run: bool = False) -> int:
    """Drop every queued and scheduled task (the old ``celery purge``); returns how many
    (``dry_run``: how many it would drop; :func:`purge_preview` says which)."""
    huey = huey_for(settings)
    dropped = [*huey.pending(), *huey.scheduled()]
    if dry_run:
        return len(dropped)
    huey.storage.flush_queue()
    huey.storage.flush_schedule()
    for task in dropped:
        if task.name not in UNRECORDED:
            huey.history.update(task.id, state="revoked", error="purged")
    return len(dropped)


def retry_failed(settings: Settings | None = None) -> list[str]:
    """Enqueue again every failed (or lost) task not retried yet; returns the new task ids."""
    from nkdash.jobs import tasks as tasks_module

    huey = huey_for(settings)
    new_ids = []
    for row in huey.history.meta.tasks(state="failed"):
        params = row.get("params") or {}
        wrapper = getattr(tasks_module, row.get("name") or "", None)
        if params.get("retried_as") or wrapper is None or "kwargs" not in params:
            continue
        kwargs = {k: v for k, v in params["kwargs"].items() if k not in ("dates", "attempt")}
        new_id = submit(huey, wrapper.s(**kwargs))
        huey.history.update(row["id"], params={"retried_as": new_id})
        new_ids.append(new_id)
    return new_ids
