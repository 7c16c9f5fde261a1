"""The task history (the metadata store's tasks table) and the recovery of lost tasks."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from huey import signals as S

from nkdash.errors import NKDashError
from nkdash.settings import Settings

if TYPE_CHECKING:
    from huey.api import Task

    from nkdash.meta import MetaStore
from typing import TYPE_CHECKING

from nkdash.jobs.backend import UTC, huey_for, now
from nkdash.jobs.locks import alive, held_locks, owner, unlock
from nkdash.jobs.schedule import MAINTENANCE

if TYPE_CHECKING:
    from nkdash.jobs.app import Queue


LOST_AFTER = dt.timedelta(hours=12)  # a task running longer on another host is taken as lost


TAKEN_AFTER = dt.timedelta(minutes=10)  # a queued task gone from the queue this long was lost in a crash


UNRECORDED = frozenset({"tick", "alerts"})  # tasks kept out of the history (every minute, every 5)


class TaskLog:
    """Task history in the metadata store, written from huey's signals.

    Uses :meth:`MetaStore.task_event` (states queued/running/done/failed/revoked). What
    that table has no column for goes in ``params``: ``request_id``, ``kwargs``, ``owner``
    (host, pid), ``outcome`` (what the run did: loaded dates, duplicates, waiting),
    ``attempt``, ``eta``. Lookups by id and by request read the same table.
    """

    def __init__(self, settings: Settings):
        from nkdash.lake import Lake
        from nkdash.meta import MetaStore

        self.meta: MetaStore = MetaStore.for_lake(Lake(settings.lake))

    def get(self, task_id: str) -> dict | None:
        rows = self._select("WHERE id = ?", (task_id,))
        return rows[0] if rows else None

    def by_request(self, request_id: str) -> list[dict]:
        return self._select("WHERE json_extract(params, '$.request_id') = ? ORDER BY date, id", (request_id,))

    def update(self, task_id: str, **fields: Any) -> None:
        """``task_event`` with ``params`` merged into the stored ones."""
        if "params" in fields:
            current = (self.get(task_id) or {}).get("params") or {}
            fields["params"] = {**current, **fields["params"]}
        self.meta.task_event(task_id, **fields)

    def on_signal(self, signal_name: str, task: Task, *args: Any) -> None:
        fields = _SIGNALS.get(signal_name)
        if fields is None:
            return
        fields = dict(fields)
        if signal_name == S.SIGNAL_ENQUEUED:
            fields.update(_describe_task(task))
        elif signal_name == S.SIGNAL_SCHEDULED:
            fields["params"] = {"eta": task.eta and task.eta.replace(tzinfo=UTC).isoformat()}
        elif signal_name == S.SIGNAL_EXECUTING:
            fields["params"] = {"owner": owner(task.id)}
        elif signal_name == S.SIGNAL_ERROR and args:
            fields["error"] = error_text(args[0])
        elif signal_name == S.SIGNAL_RETRYING:
            fields["retries"] = ((self.get(task.id) or {}).get("retries") or 0) + 1
        self.update(task.id, **fields)

    def _select(self, where: str, args: Sequence[Any]) -> list[dict]:
        if not self.meta.path.exists():
            return []
        con = sqlite3.connect(f"{self.meta.path.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            con.row_factory = sqlite3.Row
            return [_decode(row) for row in con.execute(f"SELECT * FROM tasks {where}", args)]
        finally:
            con.close()


_SIGNALS: dict[str, dict] = {
    S.SIGNAL_ENQUEUED: {"state": "queued"},
    S.SIGNAL_SCHEDULED: {"state": "queued"},
    S.SIGNAL_EXECUTING: {"state": "running", "error": None},
    S.SIGNAL_COMPLETE: {"state": "done"},
    S.SIGNAL_ERROR: {"state": "failed"},
    S.SIGNAL_RETRYING: {"state": "queued"},
    S.SIGNAL_REVOKED: {"state": "revoked", "error": "revoked"},
    S.SIGNAL_CANCELED: {"state": "revoked", "error": "canceled"},
    S.SIGNAL_EXPIRED: {"state": "revoked", "error": "expired"},
    S.SIGNAL_TIMEOUT: {"state": "failed", "error": "timed out"},
    S.SIGNAL_INTERRUPTED: {"state": "failed", "error": "interrupted: the consumer stopped before the task finished"},
}


def _describe_task(task: Task) -> dict:
    kwargs = {k: v for k, v in task.kwargs.items() if k != "task"}
    day = kwargs.get("day")
    return {
        "name": task.name,
        "dataset": kwargs.get("dataset"),
        "date": dt.date.fromisoformat(day) if day else None,
        "params": {"kwargs": kwargs, "request_id": kwargs.get("request_id"), "trigger": _trigger(task.name)},
    }


def _trigger(name: str) -> str:
    return {"daily": "schedule", "refresh_partition": "async", **dict.fromkeys(MAINTENANCE, "schedule")}.get(
        name, "manual"
    )


def error_text(exc: BaseException) -> str:
    """One line, with the setting to check (an Odoo error's hint), as the CLI prints it."""
    hint = getattr(exc, "hint", "")
    text = str(exc) if isinstance(exc, NKDashError) else f"{type(exc).__name__}: {exc}"
    return text + (f" ({hint})" if hint else "")


def _decode(row: sqlite3.Row) -> dict:
    out = dict(row)
    for key, value in out.items():
        if value in (None, ""):
            out[key] = None
        elif key == "params":
            out[key] = json.loads(value)
        elif key.endswith("_at"):
            out[key] = dt.datetime.fromisoformat(value)
        elif key == "date":
            out[key] = dt.date.fromisoformat(value)
    return out


def recover(settings: Settings | None = None) -> list[str]:
    """Mark lost the running tasks of dead processes (and of other hosts after LOST_AFTER).

    Their locks are freed; returns one line per task. Queued tasks that are no longer in
    the queue (taken by a consumer that died before it started them) are lost too.
    """
    return recover_lost(huey_for(settings))


def recover_lost(huey: Queue) -> list[str]:
    return [_mark_lost(huey, row, reason) for row, reason in list(_lost(huey))]


def _lost(huey: Queue) -> Iterable[tuple[dict, str]]:
    stamp = now()
    for row in huey.history.meta.tasks(state="running"):
        holder = (row.get("params") or {}).get("owner") or {}
        state = alive(holder)
        if state is False:
            yield row, f"lost: its consumer (pid {holder.get('pid')} on {holder.get('host')}) died"
        elif state is None and row.get("started_at") and stamp - row["started_at"] > LOST_AFTER:
            yield row, f"lost: running on {holder.get('host')} for more than {LOST_AFTER}"
    waiting = {t.id for t in [*huey.pending(), *huey.scheduled()]}
    for row in huey.history.meta.tasks(state="queued"):
        if row["id"] not in waiting and row.get("enqueued_at") and stamp - row["enqueued_at"] > TAKEN_AFTER:
            yield row, "lost: no longer in the queue, never started"


def _mark_lost(huey: Queue, row: dict, reason: str) -> str:
    """The task failed; so did the ETL runs it left open; its locks are freed."""
    meta = huey.history.meta
    huey.history.update(row["id"], state="failed", error=reason)
    for run in meta.runs(status="running"):
        if run.get("task_id") == row["id"]:
            meta.finish_run(run["id"], status="failed", error=reason)
    held = [name for name, holder in held_locks(huey).items() if holder.get("task_id") == row["id"]]
    unlock(huey, held, row["id"])
    return f"task {row['id']} ({row.get('name')} {row.get('dataset') or ''} {row.get('date') or ''}) {reason}"
