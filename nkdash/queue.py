"""Background work on huey: the queue, the daily schedule, partition locks, task history.

What huey 3.5 does, and how nkdash copes:

- ``crontab`` matches UTC, and local-time crontabs skip or double runs on DST days. Here one
  periodic task, ``tick``, runs every minute; the schedule is data (:data:`SCHEDULE`, local
  ``HH:MM`` per dataset) and :func:`due_slots` decides what is due at a UTC instant. A slot's
  instant is its wall time on that local date with ``fold=0``: a time skipped by the spring
  change fires as if the clock had not jumped yet (02:30 -> 03:30 summer time, same elapsed
  time after midnight, the order and spacing of the slots kept); a repeated autumn time
  fires at its first occurrence.
- Missed periodic runs are never caught up, and a restart within a minute can run one twice.
  A slot is due from its instant for 24 hours and fires once per local date: the
  ``(dataset, local date)`` claim is taken in the queue storage (``put_if_empty``), so
  downtime, restarts and several consumers fire it exactly once. The job itself loads every
  date the ETL plans (missing, failed or stale up to yesterday), so one run repairs an outage.
  Lake maintenance (:data:`MAINTENANCE`: the compaction of old months) has slots too, after
  the loads, fired the same way as its own task (``tick(..., jobs=...)``).
- Several consumers without ``-n`` each enqueue the periodic tasks. Every consumer here runs
  the scheduler (a lost machine loses nothing), and :meth:`Queue.read_periodic` claims each
  UTC minute in the shared storage first: one consumer enqueues the tick.
- Delivery is at most once and a killed consumer's locks stay. Every task records its owner
  (host, pid) in the task history (the metadata store's ``tasks`` table); :func:`recover`
  (run when a consumer starts) marks the tasks of dead processes ``failed`` (lost) and frees
  their locks; the partition they were writing is missing or failed, so the next daily run
  reloads it. ``huey_consumer -f`` is not used: it would free the locks of live consumers.
- One lock per dataset x date (:func:`lock_name`) in the queue storage, holding its owner.
  A request for a partition that is being loaded is a no-op: the task finishes ``done``,
  its outcome says ``duplicate of <task>``, and a ``skipped`` run is recorded for the date.
- Profit waits for its inputs: dates whose POS or invoice partitions are not loaded yet are
  re-scheduled (:data:`INPUT_WAIT`, at most :data:`INPUT_ATTEMPTS` times), then loaded anyway
  (the ETL loads the missing inputs first, under their locks).
- SIGTERM stops a consumer at once unless ``graceful_signal="TERM"`` (``-g TERM``): then the
  tasks in hand finish first. :func:`run_worker` and :func:`stop_worker` use that.
- ``SqliteHuey.enqueue`` can raise ``database is locked``: :func:`submit` waits and retries,
  then raises :class:`QueueError`.

Tests move time with ``NKDASH_CLOCK_FILE`` (a file holding the current UTC instant) and make
the scheduler look every ``NKDASH_PERIODIC_SECONDS`` instead of 60.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib
import json
import logging
import logging.handlers
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence

from huey import Huey
from huey import signals as S
from huey.consumer import Consumer, Scheduler
from huey.exceptions import RetryTask
from huey.storage import PriorityRedisStorage, SqliteStorage

from nkdash import calendar as cal
from nkdash.datasets import get
from nkdash.errors import InputError, NKDashError
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import Task, TaskWrapper

    from nkdash.etl import RunReport
    from nkdash.meta import MetaStore
    from nkdash.storage import CompactionReport

log = logging.getLogger(__name__)

NAME = "nkdash"
ROOT = Path(__file__).resolve().parent.parent        # where tasks.py lives
SCHEDULE: dict[str, str] = {                         # dataset -> local time of its daily job
    "dimensions": "01:50",
    "pos": "02:00",
    "invoices": "02:05",
    "purchases": "02:10",
    "inventory": "02:15",
    "profit": "02:20",
    "stock-quants": "02:25",
}
MAINTENANCE: dict[str, str] = {                      # lake job -> local time: after the daily loads
    "compact": "03:00",                              # storage.compact_old_months
}
SLOT_WINDOW = dt.timedelta(hours=24)   # a slot missed while down still fires within this
INPUT_WAIT = 300                       # seconds before profit looks at its inputs again
INPUT_ATTEMPTS = 12                    # then it loads the missing inputs itself
LOST_AFTER = dt.timedelta(hours=12)    # a task running longer on another host is taken as lost
TAKEN_AFTER = dt.timedelta(minutes=10) # a queued task gone from the queue this long was lost in a crash
CLOCK_ENV = "NKDASH_CLOCK_FILE"
PERIODIC_ENV = "NKDASH_PERIODIC_SECONDS"
UNRECORDED = frozenset({"tick"})       # tasks kept out of the history (one per minute)
HOST = socket.gethostname()
UTC = dt.timezone.utc

State = Literal["queued", "running", "done", "failed", "revoked"]


class QueueError(NKDashError):
    """The queue backend (the SQLite file or Redis) could not be used."""

    def __init__(self, message: str, backend: str):
        self.backend = backend
        super().__init__(message)


class TaskFailed(NKDashError):
    """A task's ETL run left failed dates (the message is the run summary)."""


# ----------------------------------------------------------------------------- clock
def now() -> dt.datetime:
    """The current UTC instant, or the one in ``$NKDASH_CLOCK_FILE`` (tests)."""
    path = os.environ.get(CLOCK_ENV)
    if path:
        return dt.datetime.fromisoformat(Path(path).read_text().strip()).astimezone(UTC)
    return dt.datetime.now(UTC)


@functools.lru_cache(maxsize=8)
def business_tz(settings: Settings) -> dt.tzinfo:
    """NKDASH_TZ, else the Odoo user's timezone (asked once per process)."""
    if settings.tz:
        return cal.timezone(settings.tz)
    from nkdash.odoo import connect

    return cal.timezone(connect(settings).user_tz())


# ----------------------------------------------------------------------------- schedule
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
    slots = [Slot(name, day, slot_instant(day, hhmm, tz))
             for day in (today - dt.timedelta(days=1), today) for name, hhmm in schedule.items()]
    return sorted((s for s in slots if at - SLOT_WINDOW < s.at <= at), key=lambda s: s.at)


def tick(daily: TaskWrapper, at: dt.datetime | None = None, settings: Settings | None = None,
         jobs: dict[str, TaskWrapper] | None = None) -> list[Slot]:
    """Enqueue ``daily(dataset, day)`` for every due slot not fired yet, and ``jobs[name](day)``
    for the due :data:`MAINTENANCE` slots of the ``jobs`` given; returns the slots fired."""
    settings = settings or get_settings()
    huey, at, jobs = connect(settings), at or now(), jobs or {}
    schedule = {**SCHEDULE, **{name: MAINTENANCE[name] for name in jobs}}
    fired = [s for s in due_slots(at, business_tz(settings), schedule) if claim(huey, s.key)]
    for slot in fired:
        about = {"time": schedule[slot.dataset], "at": slot.at.isoformat(), "fired_at": at.isoformat()}
        job = jobs.get(slot.dataset)
        submit(huey, job.s(day=slot.day.isoformat(), slot=about) if job else
               daily.s(dataset=slot.dataset, day=slot.day.isoformat(), slot=about))
    for old in due_slots(at - 3 * SLOT_WINDOW, business_tz(settings), schedule):
        huey.delete(_claim_key(huey, old.key))
    huey.put(_key(huey, "last_tick"), at.isoformat())
    return fired


def last_tick(settings: Settings | None = None) -> dt.datetime | None:
    """When the schedule was last checked (by any consumer)."""
    huey = connect(settings)
    value = huey.get(_key(huey, "last_tick"), peek=True)
    return dt.datetime.fromisoformat(value) if value else None


# ----------------------------------------------------------------------------- the huey instance
class Queue(Huey):
    """huey with nkdash's storage (from settings, opened on first use) and task history.

    ``settings.queue`` picks the storage: ``sqlite`` (``<state_dir>/huey.sqlite``) or
    ``redis`` (``redis_url``, a priority queue). Results are not stored: outcomes go to the
    task history in the metadata store.
    """

    def __init__(self, settings: Settings | None = None, name: str = NAME):
        self._settings, self._storage, self._history = settings, None, None
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
        return None                     # opened on first use, from the settings

    @property
    def storage(self):  # type: ignore[override]
        if self._storage is None:
            self._storage = make_storage(self.name, self.settings)
        return self._storage

    @storage.setter
    def storage(self, value) -> None:
        self._storage = value

    @property
    def history(self) -> TaskLog:
        if self._history is None:
            self._history = TaskLog(self.settings)
        return self._history

    def read_periodic(self, timestamp):
        """Periodic tasks due now, if this consumer is the first to claim the minute."""
        minute = now().replace(second=0, microsecond=0)
        if not claim(self, f"minute:{minute:%Y-%m-%dT%H:%M}"):
            return []
        self.delete(_claim_key(self, f"minute:{minute - dt.timedelta(minutes=10):%Y-%m-%dT%H:%M}"))
        return super().read_periodic(timestamp)

    def create_consumer(self, **options: Any) -> Consumer:
        """A consumer that first recovers from dead consumers (also for ``huey_consumer``)."""
        for line in _recover(self):
            log.warning("%s", line)
        return _Consumer(self, **options)

    def _record(self, signal_name: str, task: Task, *args: Any) -> None:
        if task.name not in UNRECORDED:
            self.history.on_signal(signal_name, task, *args)


class _Scheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.periodic_task_seconds = int(os.environ.get(PERIODIC_ENV, 60))


class _Consumer(Consumer):
    scheduler_class = _Scheduler

    def _set_signal_handlers(self) -> None:
        super()._set_signal_handlers()
        graceful = "SIGTERM" if self.graceful_signal == "TERM" else "SIGINT"
        log.info("consumer %d ready (%s: stop after the tasks in hand; SIGHUP: restart)", os.getpid(), graceful)


def sqlite_path(settings: Settings) -> Path:
    """The SQLite queue file (``NKDASH_QUEUE=sqlite``)."""
    return settings.state_dir / "huey.sqlite"


def make_storage(name: str, settings: Settings):
    """The huey storage the settings ask for."""
    if settings.queue == "redis":
        return PriorityRedisStorage(name, url=settings.redis_url.get())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStorage(name, filename=str(sqlite_path(settings)), timeout=30)


def depth(settings: Settings | None = None) -> int:
    """Tasks waiting in the queue (not counting scheduled ones)."""
    with backend_errors(settings):
        return connect(settings).storage.queue_size()


def build_huey(settings: Settings | None = None) -> Queue:
    """The instance ``tasks.py`` exposes. Import-safe: nothing is opened before first use."""
    return Queue(settings)


def backend(settings: Settings) -> str:
    """``sqlite <file>`` or ``redis host:port/db`` (no credentials): safe to print."""
    if settings.queue != "redis":
        return f"sqlite {sqlite_path(settings)}"
    from urllib.parse import urlsplit

    url = urlsplit(settings.redis_url.get())
    return f"redis {url.hostname}:{url.port or 6379}{url.path or '/0'}"


def app():
    """The ``tasks`` module (the huey instance and its tasks), importable from anywhere."""
    if (ROOT / "tasks.py").is_file() and str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module("tasks")
    if not isinstance(getattr(module, "huey", None), Queue):
        raise QueueError(f"{module.__file__} is not nkdash's tasks.py", "tasks")
    return module


def connect(settings: Settings | None = None) -> Queue:
    """``tasks.huey``, bound to ``settings`` when given."""
    huey = app().huey
    return huey.bind(settings) if settings is not None else huey


@contextlib.contextmanager
def backend_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn an unreachable Redis or an unusable SQLite file into :class:`QueueError`."""
    try:
        yield
    except NKDashError:
        raise
    except (sqlite3.Error, OSError, *_redis_errors()) as exc:
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
            return task.id
        except Exception as exc:   # sqlite3.OperationalError, redis.ConnectionError...
            busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            if busy and attempt < attempts:
                time.sleep(0.5 * attempt)
                continue
            huey.history.update(task.id, state="failed", error=f"not enqueued: {exc}")
            raise QueueError(f"cannot enqueue on {backend(huey.settings)}: {exc}", huey.settings.queue) from exc
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- claims and locks
def _key(huey: Huey, what: str) -> str:
    return f"{huey.name}.{what}"


def _claim_key(huey: Huey, what: str) -> str:
    return _key(huey, f"claim.{what}")


def claim(huey: Huey, what: str) -> bool:
    """True for the first caller only, across processes and machines."""
    return huey.put_if_empty(_claim_key(huey, what), now().isoformat())


def lock_name(dataset: str, day: dt.date | None) -> str:
    """``pos:2024-03-31``; a whole-table dataset has one lock (``dimensions``)."""
    return dataset if day is None or not get(dataset).partitioned else f"{dataset}:{day.isoformat()}"


def _lock_key(huey: Huey, name: str) -> str:
    return _key(huey, f"lock.{name}")     # huey's own naming: huey.is_locked(name) works


def owner(task_id: str) -> dict:
    """Who runs a task: enough to tell later whether that process is still alive."""
    return {"task_id": task_id, "host": HOST, "pid": os.getpid(), "started": _process_start(os.getpid()),
            "since": now().isoformat()}


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
    return _locks(connect(settings))


def _locks(huey: Queue) -> dict[str, dict]:
    prefix = _lock_key(huey, "")
    return {key[len(prefix):]: huey.serializer.deserialize(value)
            for key, value in huey.storage.result_items().items() if key.startswith(prefix)}


def flush_locks(settings: Settings | None = None, *, everything: bool = False) -> list[str]:
    """Free the locks whose task is not running (after :func:`recover`); all with ``everything``.

    ``everything`` is huey's ``-f``: only safe when no consumer is running.
    """
    huey = connect(settings)
    _recover(huey)
    running = {row["id"] for row in huey.history.meta.tasks(state="running")}
    freed = [name for name, holder in _locks(huey).items()
             if everything or holder.get("task_id") not in running]
    for name in freed:
        huey.delete(_lock_key(huey, name))
    return sorted(freed)


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


# ----------------------------------------------------------------------------- task history
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
            fields["error"] = _error_text(args[0])
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
    return {"name": task.name, "dataset": kwargs.get("dataset"),
            "date": dt.date.fromisoformat(day) if day else None,
            "params": {"kwargs": kwargs, "request_id": kwargs.get("request_id"), "trigger": _trigger(task.name)}}


def _trigger(name: str) -> str:
    return {"daily": "schedule", "refresh_partition": "async", **dict.fromkeys(MAINTENANCE, "schedule")}.get(
        name, "manual")


def _error_text(exc: BaseException) -> str:
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
    return _recover(connect(settings))


def _recover(huey: Queue) -> list[str]:
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
    held = [name for name, holder in _locks(huey).items() if holder.get("task_id") == row["id"]]
    unlock(huey, held, row["id"])
    return f"task {row['id']} ({row.get('name')} {row.get('dataset') or ''} {row.get('date') or ''}) {reason}"


# ----------------------------------------------------------------------------- running work
@dataclass
class Outcome:
    """What one task (or sync refresh) did with its dates."""

    dataset: str
    loaded: list[dt.date] = field(default_factory=list)
    failed: list[dt.date] = field(default_factory=list)
    duplicates: dict[dt.date, str] = field(default_factory=dict)   # date -> task that holds it
    waiting: list[dt.date] = field(default_factory=list)
    report: RunReport | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_params(self) -> dict:
        return {"loaded": _iso(self.loaded), "failed": _iso(self.failed), "waiting": _iso(self.waiting),
                "duplicates": {d.isoformat(): t for d, t in self.duplicates.items()}}

    def text(self) -> str:
        parts = [f"{self.dataset}: loaded {cal.format_spans(self.loaded)}"]
        parts += [f"failed {cal.format_spans(self.failed)}"] if self.failed else []
        parts += [f"{d} already being loaded by task {t}" for d, t in self.duplicates.items()]
        parts += [f"waiting for inputs {cal.format_spans(self.waiting)}"] if self.waiting else []
        return "; ".join(parts)


def _iso(dates: Iterable[dt.date]) -> list[str]:
    return [d.isoformat() for d in sorted(dates)]


def load(dataset: str, dates: Sequence[dt.date], *, task_id: str, trigger: str,
         settings: Settings | None = None, wait_for_inputs: bool = False) -> Outcome:
    """Refresh ``dates`` of ``dataset`` under their partition locks.

    A date whose lock is held is a duplicate (a ``skipped`` run is recorded). A date whose
    inputs are not loaded waits when ``wait_for_inputs``, else its inputs are loaded too,
    under their locks; a date whose input is being loaded right now waits.
    """
    from nkdash.etl import refresh

    settings = settings or get_settings()
    huey, spec, outcome = connect(settings), get(dataset), Outcome(dataset)
    holder, held, todo = owner(task_id), [], []
    try:
        for day in sorted(set(dates)):
            missing = [name for name in spec.inputs if not input_ready(huey.history.meta, settings, name, day)]
            if missing and wait_for_inputs:
                outcome.waiting.append(day)
                continue
            names = [lock_name(dataset, day), *(lock_name(name, day) for name in missing)]
            busy = try_lock(huey, names, holder)
            if busy is None:
                held += names
                todo.append(day)
            elif busy[0] == names[0]:
                outcome.duplicates[day] = busy[1].get("task_id", "?")
                _record_duplicate(huey.history.meta, dataset, day, trigger, task_id, outcome.duplicates[day])
            else:
                outcome.waiting.append(day)
        if todo:
            outcome.report = refresh(dataset, todo, trigger=trigger, settings=settings, progress=False,
                                     task_id=task_id)
            outcome.failed = outcome.report.failed_dates
            outcome.loaded = [d for d in todo if d not in outcome.failed]
    finally:
        unlock(huey, held, task_id)
    return outcome


def input_ready(meta: MetaStore, settings: Settings, name: str, day: dt.date) -> bool:
    """The input partition is loaded (not failed or stale) and on disk."""
    from nkdash.lake import Lake

    state = meta.partition(name, day)
    lake = Lake(settings.lake)
    return bool(state and state["status"] == "loaded"
                and all(lake.has_partition(table, day) for table in get(name).table_names))


def _record_duplicate(meta: MetaStore, dataset: str, day: dt.date, trigger: str, task_id: str, other: str) -> None:
    run_id = meta.start_run(dataset, day if get(dataset).partitioned else None, trigger, task_id=task_id)
    meta.finish_run(run_id, status="skipped", error=f"duplicate: already being loaded by task {other}")


def run_daily(dataset: str, day: str, task: Task, settings: Settings | None = None) -> Outcome:
    """The daily job: load every date the ETL plans for ``dataset`` on local date ``day``."""
    from nkdash.etl import plan

    settings = settings or get_settings()
    dates = [dt.date.fromisoformat(d) for d in task.kwargs.get("dates") or ()]
    if not dates:
        heal_derived(dataset, task.id, settings)
        dates = plan(dataset, today=dt.date.fromisoformat(day), settings=settings)
    return _run(dataset, dates, task, "schedule", settings)


def run_compaction(day: str, task: Task, settings: Settings | None = None) -> CompactionReport:
    """The nightly compaction as of local date ``day`` (:func:`nkdash.storage.compact_old_months`);
    what it did goes to the task history. A month it had to skip fails the task."""
    from nkdash.storage import compact_old_months

    settings = settings or get_settings()
    report = compact_old_months(settings, today=dt.date.fromisoformat(day), task_id=task.id)
    connect(settings).history.update(task.id, params={"summary": report.text().splitlines()[0]})
    if report.skipped:
        raise TaskFailed(report.text())
    return report


def heal_derived(dataset: str, task_id: str, settings: Settings) -> None:
    """Before planning: rebuild ``dataset``'s derived tables that the lake alone can give
    (an upgrade's new aggregates, a write killed between tables), so they are not reloaded
    from Odoo (:mod:`nkdash.derived`)."""
    from nkdash.derived import backfill, derivations

    if derivations([dataset]):
        report = backfill(settings.lake, datasets=[dataset], trigger="schedule", task_id=task_id)
        if report.gaps:
            log.info("%s", report.text())


def run_partition(dataset: str, day: str, task: Task, settings: Settings | None = None) -> Outcome:
    """One date of an async refresh."""
    return _run(dataset, [dt.date.fromisoformat(day)], task, "async", settings or get_settings(), wait=False)


def _run(dataset: str, dates: list[dt.date], task: Task, trigger: str, settings: Settings,
         wait: bool = True) -> Outcome:
    attempt = int(task.kwargs.get("attempt", 0))
    wait = wait and bool(get(dataset).inputs) and attempt < INPUT_ATTEMPTS
    outcome = load(dataset, dates, task_id=task.id, trigger=trigger, settings=settings, wait_for_inputs=wait)
    history = connect(settings).history
    history.update(task.id, params={"outcome": outcome.as_params(), "summary": outcome.text(), "attempt": attempt})
    if outcome.waiting and attempt < INPUT_ATTEMPTS:
        task.kwargs.update(dates=_iso(outcome.waiting), attempt=attempt + 1)
        raise RetryTask(f"waiting for inputs of {cal.format_spans(outcome.waiting)}", delay=INPUT_WAIT)
    if not outcome.ok:
        raise TaskFailed(outcome.report.summary() if outcome.report else outcome.text())
    return outcome


# ----------------------------------------------------------------------------- async and sync refresh
def check_dates(dataset: str, start: str | dt.date, end: str | dt.date, *, limit: int,
                settings: Settings | None = None) -> list[dt.date]:
    """Parse and check a request (see :func:`enqueue_refresh`); InputError names the problem."""
    spec = get(dataset)
    if not spec.partitioned:
        raise InputError(f"{dataset} has no dates; refresh it with `nkdash refresh {dataset} --date ...`", dataset)
    first = cal.parse_date(start, "start date") if isinstance(start, str) else start
    last = cal.parse_date(end, "end date") if isinstance(end, str) else end
    cal.check_range(first, last, latest=dt.date.max, limit=limit)         # before asking Odoo for a timezone
    settings = settings or get_settings()
    return cal.check_range(first, last, latest=cal.latest_complete(business_tz(settings), now()), limit=limit)


def enqueue_refresh(dataset: str, start: str | dt.date, end: str | dt.date,
                    settings: Settings | None = None) -> str:
    """Queue one task per date of ``start..end``; returns the request id.

    Refused with InputError, before anything is enqueued: an unknown or undated dataset, a
    malformed date, an end before the start, a date that is not complete yet (today or
    later) or more than :data:`~nkdash.calendar.MAX_ASYNC_DAYS` days.
    """
    dates = check_dates(dataset, start, end, limit=cal.MAX_ASYNC_DAYS, settings=settings)
    tasks, huey = app(), connect(settings)
    request_id = uuid.uuid4().hex[:12]
    for day in dates:
        submit(huey, tasks.refresh_partition.s(dataset=dataset, day=day.isoformat(), request_id=request_id,
                                               id=f"{request_id}.{day.isoformat()}"))
    return request_id


@dataclass(frozen=True)
class DateStatus:
    date: dt.date
    state: State
    task_id: str
    detail: str = ""


def request_status(request_id: str, settings: Settings | None = None) -> list[DateStatus]:
    """Per date of an async request: queued, running, done, failed (or revoked)."""
    rows = connect(settings).history.by_request(request_id)
    if not rows:
        raise InputError(f"no request {request_id!r}", request_id)
    current = [row for row in rows if not (row.get("params") or {}).get("retried_as")]   # retries replace
    return [DateStatus(row["date"], row["state"], row["id"], _detail(row)) for row in current]


def _detail(row: dict) -> str:
    params = row.get("params") or {}
    if row.get("error"):
        return row["error"]
    duplicates = (params.get("outcome") or {}).get("duplicates")
    if duplicates:
        return "duplicate of " + ", ".join(sorted(set(duplicates.values())))
    return params.get("summary", "")


def refresh_sync(dataset: str, day: str | dt.date, settings: Settings | None = None) -> Outcome:
    """Refresh one date now, in this process, under the same lock as queued work."""
    day = cal.parse_date(day) if isinstance(day, str) else day
    (date,) = check_dates(dataset, day, day, limit=1, settings=settings)
    settings = settings or get_settings()
    history, task_id = connect(settings).history, f"sync-{uuid.uuid4().hex[:12]}"
    history.update(task_id, name="refresh_sync", dataset=dataset, date=date, state="running",
                   params={"trigger": "sync", "owner": owner(task_id)})
    try:
        outcome = load(dataset, [date], task_id=task_id, trigger="sync", settings=settings)
    except BaseException as exc:
        history.update(task_id, state="failed", error=_error_text(exc))
        raise
    done = outcome.ok and not outcome.waiting          # waiting: an input is being loaded right now
    history.update(task_id, state="done" if done else "failed", error=None if done else outcome.text(),
                   params={"outcome": outcome.as_params(), "summary": outcome.text()})
    return outcome


# ----------------------------------------------------------------------------- queue operations
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
        return cls(task.id, task.name, task.kwargs.get("dataset"), task.kwargs.get("day"), eta,
                   huey.is_revoked(task))


def pending(settings: Settings | None = None) -> list[QueuedTask]:
    huey = connect(settings)
    return [QueuedTask.of(huey, t) for t in huey.pending()]


def scheduled(settings: Settings | None = None) -> list[QueuedTask]:
    huey = connect(settings)
    return [QueuedTask.of(huey, t) for t in huey.scheduled()]


def running(settings: Settings | None = None) -> list[dict]:
    return connect(settings).history.meta.tasks(state="running")


def tasks(settings: Settings | None = None, *, state: str | None = None, limit: int | None = 50) -> list[dict]:
    """Task history, most recent first (the operations notebook's task monitor)."""
    return connect(settings).history.meta.tasks(state=state, limit=limit)


@dataclass
class QueueStatus:
    backend: str
    pending: list[QueuedTask]
    scheduled: list[QueuedTask]
    running: list[dict]
    locks: dict[str, dict]
    last_tick: dt.datetime | None

    def text(self) -> str:
        lines = [f"queue: {self.backend}",
                 f"schedule last checked: {self.last_tick or 'never (no consumer has run)'}",
                 f"pending: {len(self.pending)}   scheduled: {len(self.scheduled)}   running: {len(self.running)}"]
        lines += [f"  running   {r['id']}  {r.get('name')} {r.get('dataset') or ''} {r.get('date') or ''} "
                  f"since {r.get('started_at')}" for r in self.running]
        lines += [f"  pending   {t.id}  {t.name} {t.dataset or ''} {t.date or ''}{' (revoked)' if t.revoked else ''}"
                  for t in self.pending]
        lines += [f"  scheduled {t.id}  {t.name} {t.dataset or ''} {t.date or ''} at {t.eta}" for t in self.scheduled]
        lines += [f"  lock      {name}  held by task {h.get('task_id')} (pid {h.get('pid')} on {h.get('host')})"
                  for name, h in sorted(self.locks.items())]
        return "\n".join(lines)


def status(settings: Settings | None = None) -> QueueStatus:
    settings = settings or get_settings()
    return QueueStatus(backend(settings), pending(settings), scheduled(settings), running(settings),
                       locks(settings), last_tick(settings))


def revoke(task_id: str, settings: Settings | None = None) -> None:
    """Revoke a queued or scheduled task (a running task cannot be revoked)."""
    huey = connect(settings)
    row = huey.history.get(task_id)
    if row is None:
        raise InputError(f"no task {task_id!r}", task_id)
    if row["state"] != "queued":
        raise InputError(f"task {task_id} is {row['state']}; only queued tasks can be revoked", task_id)
    huey.revoke_by_id(task_id)
    huey.history.update(task_id, state="revoked", error="revoked by an operator")


def purge(settings: Settings | None = None) -> int:
    """Drop every queued and scheduled task (the old ``celery purge``); returns how many."""
    huey = connect(settings)
    dropped = [*huey.pending(), *huey.scheduled()]
    huey.storage.flush_queue()
    huey.storage.flush_schedule()
    for task in dropped:
        if task.name not in UNRECORDED:
            huey.history.update(task.id, state="revoked", error="purged")
    return len(dropped)


def retry_failed(settings: Settings | None = None) -> list[str]:
    """Enqueue again every failed (or lost) task not retried yet; returns the new task ids."""
    huey, tasks_module = connect(settings), app()
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


# ----------------------------------------------------------------------------- the consumer
def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child process read ``settings``."""
    return settings.to_env()


def log_file(settings: Settings) -> Path:
    """``<log_dir>/huey/consumer.log``."""
    path = Path(settings.log_dir) / "huey" / "consumer.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_worker(settings: Settings | None = None, *, workers: int = 2, worker_type: str = "thread",
               periodic: bool = True, verbose: bool = False) -> None:
    """Run a consumer in this process: SIGTERM stops it after the tasks in hand (a second
    SIGTERM or SIGINT/Ctrl+C at once), SIGHUP restarts it. Logs to ``<log_dir>/huey/``."""
    settings = settings or get_settings()
    huey = connect(settings)
    handler = logging.handlers.WatchedFileHandler(log_file(settings))
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s:%(name)s:%(process)d:%(threadName)s:"
                                           "%(message)s"))
    root = logging.getLogger()
    for console in root.handlers:
        console.setLevel(logging.DEBUG if verbose else logging.WARNING)   # the file has the rest
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for run in huey.history.meta.mark_interrupted():   # ETL runs of a killed worker: failed, not running forever
        log.warning("run %s (%s %s) %s", run["id"], run["dataset"], run["date"] or "", run["error"])
    heal_at_start(settings)
    consumer = huey.create_consumer(workers=workers, worker_type=worker_type, periodic=periodic,
                                    graceful_signal="TERM", max_delay=1.0, check_worker_health=True)
    log.info("nkdash consumer on %s, %d %s worker(s)", backend(settings), workers, worker_type)
    if sys.argv[0].endswith("__main__.py"):       # SIGHUP re-executes sys.argv: keep `python -m nkdash`
        sys.argv[:1] = ["-m", "nkdash"]
    consumer.run()


def heal_at_start(settings: Settings) -> None:
    """Before the worker takes its first task: the derived tables the lake lacks (a lake
    written by an older nkdash: new aggregates) rebuilt from its own ``fact_sales``, as
    ``nkdash up`` does, so the dashboards need not wait for the night's profit job. Nothing
    to do costs a listing of the derived tables (0.75 s for a 3-year lake); a failure is
    logged and the worker starts anyway."""
    from nkdash.derived import backfill

    try:
        report = backfill(settings.lake, trigger="schedule")
    except (NKDashError, OSError) as exc:
        log.error("derived tables not checked at start: %s", exc)
        return
    if report.gaps:
        (log.info if report.ok else log.error)("at start: %s", report.text())


def start_worker_process(settings: Settings | None = None, *, workers: int = 2, worker_type: str = "thread",
                         periodic: bool = True, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``nkdash worker`` as a child process (``nkdash up``); stop it with :func:`stop_worker`.

    Its stdout/stderr (anything before logging starts) go to ``<log_dir>/huey/worker.out``.
    """
    settings = settings or get_settings()
    out = log_file(settings).with_name("worker.out").open("ab")
    command = [sys.executable, "-m", "nkdash", "worker", "--workers", str(workers), "--type", worker_type,
               *([] if periodic else ["--no-periodic"])]
    try:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)   # nkdash, tasks.py
        child_env = {**os.environ, **settings_env(settings), "PYTHONPATH": path, **(env or {})}
        return subprocess.Popen(command, env=child_env, stdout=out, stderr=subprocess.STDOUT)  # same cwd
    finally:
        out.close()


def stop_worker(proc: subprocess.Popen, timeout: float = 600) -> int:
    """SIGTERM: the tasks in hand finish. After ``timeout`` s a second SIGTERM stops it now
    (the interrupted tasks are recorded as failed; their partitions are untouched), then SIGKILL.
    Returns the exit code."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()
