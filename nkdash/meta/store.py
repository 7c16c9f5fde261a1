"""The metadata store (:class:`MetaStore`): runs, partition states, watermarks, validations,
query timings, tasks.

One SQLite file, ``<lake>/_meta/nkdash.sqlite``; how it is opened, shared and migrated is
:mod:`nkdash.meta.connection`.

Stored as: timestamps UTC ISO-8601 text with microseconds (so they sort as text; naive
datetimes are taken as UTC, like Odoo's), dates ISO text, dicts and lists JSON. Methods return
plain dicts with those decoded back to aware UTC ``datetime``, ``date``, ``dict``/``list``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from nkdash.errors import InputError

if TYPE_CHECKING:
    from nkdash.lake import Lake
from nkdash.meta.connection import StoreFile
from nkdash.meta.files import holds_data, is_empty
from nkdash.meta.records import (
    Where,
    as_json,
    day_text,
    days_between,
    decode_row,
    encode_task_field,
    interrupted,
    now_text,
    timestamp_text,
)
from nkdash.processes import HOST, start_time

log = logging.getLogger(__name__)


Trigger = Literal["schedule", "manual", "async", "sync", "recovery"]
RunStatus = Literal["success", "failed", "skipped"]
PartitionStatus = Literal["loaded", "failed", "stale", "quarantined"]
TaskState = Literal["queued", "running", "done", "failed", "revoked"]
FreshnessStatus = Literal["ok", "late", "critical"]
ReconcileStatus = Literal["reconciled", "healed", "not_reconciled"]  # of a date checked by the reconciliation

FILE_NAME = "nkdash.sqlite"
ARCHIVED = "archived:"  # watermark prefix: archived:<dataset> = the first date kept in the lake
LATE_AFTER_DAYS = 2  # yesterday loaded (lag 1) is on target
CRITICAL_AFTER_DAYS = 3  # a lag of more than 3 days is critical

_TASK_FIELDS = (
    "name",
    "dataset",
    "date",
    "state",
    "enqueued_at",
    "started_at",
    "finished_at",
    "retries",
    "error",
    "params",
)
_TASK_CLOCK = {
    "queued": "enqueued_at",
    "running": "started_at",
    "done": "finished_at",
    "failed": "finished_at",
    "revoked": "finished_at",
}


@dataclass(frozen=True)
class Freshness:
    """How up to date one dataset is on ``today`` (see :meth:`MetaStore.freshness`)."""

    dataset: str
    last_loaded: dt.date | None
    missing: list[dt.date]
    failed: list[dt.date]
    stale: list[dt.date]
    lag_days: int | None
    status: FreshnessStatus
    unreconciled: list[dt.date] = field(default_factory=list)  # the nightly reconciliation could not heal them


@dataclass(frozen=True)
class Watermark:
    """Where change detection resumes: the newest ``write_date`` seen, as Odoo reads it (whole
    seconds), and the ids already seen at that second. Odoo compares the stored microseconds,
    so a record written within that second matches ``write_date >= stamp`` again: it is new
    only if its id is not in ``seen``."""

    stamp: dt.datetime
    seen: frozenset[int] = frozenset()


class MetaStore(StoreFile):
    """The SQLite metadata store at ``path``; ``read_only=True`` refuses writes with LakeError.

    A writable store creates (or upgrades) its schema. A read-only store never touches the
    file and answers empty while it does not exist yet.
    """

    @classmethod
    def for_lake(cls, lake: Lake, read_only: bool = False) -> MetaStore:
        """The lake's store. An empty (0-byte) store file is refused (:class:`MetadataError`)
        while the lake holds data, rather than silently started over; with no data there is
        nothing to lose and a writable store starts afresh. A store created beside existing
        data is logged: ``nkdash rebuild-metadata`` restores the partition states."""
        path = lake.meta_dir / FILE_NAME
        if not read_only and is_empty(path) and not holds_data(lake):
            path.unlink()
        created = not read_only and not path.exists()
        store = cls(path, read_only=read_only)
        if created and holds_data(lake):
            log.warning(
                "the metadata store %s was missing and is new, but the lake holds data: "
                "`nkdash rebuild-metadata` restores the partition states from the lake's files",
                path,
            )
        return store

    def start_run(self, dataset: str, date: dt.date | None, trigger: Trigger, task_id: str | None = None) -> int:
        """Record that an attempt at ``dataset`` x ``date`` starts now, by this process;
        returns the run id. Runs left ``running`` by killed processes are closed first."""
        _check_choice("trigger", trigger, Trigger)
        with self._write() as con:
            self._close_interrupted(con)
            cur = con.execute(
                "INSERT INTO runs (dataset, date, trigger, task_id, started_at, pid, host, process_start)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dataset, day_text(date), trigger, task_id, now_text(), os.getpid(), HOST, _own_start()),
            )
            return cast(int, cur.lastrowid)  # set by the INSERT

    def mark_interrupted(self) -> list[dict]:
        """Close as failed every run left ``running`` by a process that is gone (killed mid-run:
        ``kill -9``, a crash, a lost worker); returns them (closed). The ETL does this when a
        run starts, the worker when it starts."""
        with self._write() as con:
            return self._close_interrupted(con)

    def _close_interrupted(self, con: sqlite3.Connection) -> list[dict]:
        rows = [decode_row(r, ()) for r in con.execute("SELECT * FROM runs WHERE status = 'running'")]
        closed = []
        for run in rows:
            reason = interrupted(run)
            if reason is None:
                continue
            now = dt.datetime.now(dt.UTC)
            con.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, duration_s = ?, error = ? WHERE id = ?",
                (timestamp_text(now), (now - run["started_at"]).total_seconds(), reason, run["id"]),
            )
            closed.append({**run, "status": "failed", "finished_at": now, "error": reason})
        return closed

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        rows: int = 0,
        source_count: int | None = None,
        source_totals: dict | None = None,
        checksum: str | None = None,
        bytes: int | None = None,
        error: str | None = None,
    ) -> None:
        """Close a run; its duration is measured from :meth:`start_run`."""
        _check_choice("status", status, RunStatus)
        finished = dt.datetime.now(dt.UTC)
        with self._write() as con:
            row = con.execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise InputError(f"no run with id {run_id}", run_id)
            duration = (finished - dt.datetime.fromisoformat(row["started_at"])).total_seconds()
            con.execute(
                """UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, rows = ?, source_count = ?,
                           source_totals = ?, checksum = ?, bytes = ?, error = ? WHERE id = ?""",
                (
                    status,
                    timestamp_text(finished),
                    duration,
                    rows,
                    source_count,
                    as_json(source_totals),
                    checksum,
                    bytes,
                    error,
                    run_id,
                ),
            )

    def runs(
        self,
        *,
        dataset: str | None = None,
        since: dt.datetime | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Runs, newest first. ``status`` may also be ``running`` (still in progress).

        A run left ``running`` by a process that is gone is reported as it is: ``failed``,
        with ``error`` saying it was interrupted (also by a read-only store, before any
        writer has closed it, see :meth:`mark_interrupted`)."""
        where = Where().eq("dataset", dataset).ge("started_at", since and timestamp_text(since))
        if status in ("running", "failed"):  # which of the running ones are interrupted is decided below
            where._add("status IN (?, 'running')", status)
            found = self._select(f"SELECT * FROM runs {where} ORDER BY id DESC", where.args, json=("source_totals",))
            found = [r for r in map(_honest, found) if r["status"] == status]
            return found if limit is None else found[: int(limit)]
        where.eq("status", status)
        return [
            _honest(r)
            for r in self._select(
                f"SELECT * FROM runs {where} ORDER BY id DESC", where.args, limit, json=("source_totals",)
            )
        ]

    def set_partition(
        self,
        dataset: str,
        date: dt.date | None,
        *,
        status: PartitionStatus,
        rows: int = 0,
        checksum: str | None = None,
        run_id: int | None = None,
        source_max_write_date: dt.datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Record the current state of a partition (``date`` None for whole-table datasets).

        ``loaded`` records rows, checksum and source watermark. ``failed`` and ``stale`` keep
        those of the last load: the lake still holds that data. ``quarantined`` clears them.
        """
        _check_choice("status", status, PartitionStatus)
        now = now_text()
        with self._write() as con:
            con.execute(
                """INSERT INTO partitions (dataset, date, status, rows, checksum, run_id, source_max_write_date,
                                           error, loaded_at, updated_at)
                   VALUES (:dataset, :date, :status, :rows, :checksum, :run_id, :swd, :error, :loaded_at, :now)
                   ON CONFLICT (dataset, date) DO UPDATE SET
                     status = excluded.status, error = excluded.error, stale_reason = NULL,
                     run_id = coalesce(excluded.run_id, run_id), updated_at = excluded.updated_at,
                     rows = CASE excluded.status WHEN 'loaded' THEN excluded.rows
                                                 WHEN 'quarantined' THEN 0 ELSE rows END,
                     checksum = CASE excluded.status WHEN 'loaded' THEN excluded.checksum
                                                     WHEN 'quarantined' THEN NULL ELSE checksum END,
                     source_max_write_date = CASE excluded.status WHEN 'loaded' THEN excluded.source_max_write_date
                                                                  ELSE source_max_write_date END,
                     loaded_at = CASE excluded.status WHEN 'loaded' THEN excluded.loaded_at ELSE loaded_at END""",
                {
                    "dataset": dataset,
                    "date": day_text(date) or "",
                    "status": status,
                    "rows": rows if status == "loaded" else 0,
                    "checksum": checksum if status == "loaded" else None,
                    "run_id": run_id,
                    "swd": source_max_write_date and timestamp_text(source_max_write_date),
                    "error": error,
                    "loaded_at": now if status == "loaded" else None,
                    "now": now,
                },
            )

    def partition(self, dataset: str, date: dt.date | None) -> dict | None:
        found = self._select("SELECT * FROM partitions WHERE dataset = ? AND date = ?", [dataset, day_text(date) or ""])
        return found[0] if found else None

    def partitions(self, dataset: str | None = None) -> list[dict]:
        """Partition states ordered by dataset and date."""
        where = Where().eq("dataset", dataset)
        return self._select(f"SELECT * FROM partitions {where} ORDER BY dataset, date", where.args)

    def date_range(self, dataset: str) -> tuple[dt.date, dt.date] | None:
        """First and last date the lake holds ``dataset`` for, by the partition states
        (loaded, stale, or failed after an earlier load); None if there is none."""
        found = self._select(
            "SELECT min(date) AS first, max(date) AS last FROM partitions WHERE dataset = ? AND date <> '' "
            "AND (status IN ('loaded', 'stale') OR (status = 'failed' AND checksum IS NOT NULL))",
            [dataset],
        )
        if not found or found[0]["first"] is None:
            return None
        return dt.date.fromisoformat(found[0]["first"]), dt.date.fromisoformat(found[0]["last"])

    def mark_stale(self, dataset: str, dates: Iterable[dt.date], reason: str) -> int:
        """Flag loaded partitions whose source changed; returns how many were loaded before."""
        now = now_text()
        with self._write() as con:
            return sum(
                con.execute(
                    """UPDATE partitions SET status = 'stale', stale_reason = ?, updated_at = ?
                                      WHERE dataset = ? AND date = ? AND status = 'loaded'""",
                    (reason, now, dataset, day_text(d)),
                ).rowcount
                for d in dates
            )

    def get_watermark(self, key: str) -> dt.datetime | None:
        mark = self.get_mark(key)
        return mark.stamp if mark else None

    def set_watermark(self, key: str, value: dt.datetime) -> None:
        self.set_mark(key, Watermark(value))

    def get_mark(self, key: str) -> Watermark | None:
        """The watermark ``key`` with the ids seen at its second (see :class:`Watermark`)."""
        found = self._select("SELECT value, seen FROM watermarks WHERE key = ?", [key], json=("seen",))
        if not found:
            return None
        return Watermark(dt.datetime.fromisoformat(found[0]["value"]), frozenset(found[0]["seen"] or ()))

    def set_mark(self, key: str, mark: Watermark) -> None:
        with self._write() as con:
            con.execute(
                """INSERT INTO watermarks (key, value, seen, updated_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value, seen = excluded.seen,
                                                   updated_at = excluded.updated_at""",
                (key, timestamp_text(mark.stamp), as_json(sorted(mark.seen)) if mark.seen else None, now_text()),
            )

    def source(self) -> dict | None:
        """The Odoo the lake is loaded from (url, db, company, uuid, recorded_at), if recorded."""
        found = self._select("SELECT url, db, company, uuid, recorded_at FROM source WHERE id = 1", [])
        return found[0] if found else None

    def record_source(self, url: str, db: str, company: str | None, uuid: str | None) -> dict:
        """Record the lake's Odoo source unless one is recorded already; returns the recorded one."""
        with self._write() as con:
            con.execute(
                "INSERT OR IGNORE INTO source (id, url, db, company, uuid, recorded_at) VALUES (1, ?, ?, ?, ?, ?)",
                (url, db, company, uuid, now_text()),
            )
        return cast(dict, self.source())  # there is one now

    def record_reconciliation(
        self, dataset: str, date: dt.date, status: ReconcileStatus, detail: str = "", run_id: int | None = None
    ) -> None:
        """The outcome of the nightly reconciliation for one dataset and date (the latest one counts)."""
        _check_choice("status", status, ReconcileStatus)
        with self._write() as con:
            con.execute(
                """INSERT INTO reconciliations (dataset, date, status, detail, run_id, checked_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (dataset, date) DO UPDATE SET status = excluded.status, detail = excluded.detail,
                     run_id = excluded.run_id, checked_at = excluded.checked_at""",
                (dataset, day_text(date), status, detail or None, run_id, now_text()),
            )

    def reconciliations(self, *, dataset: str | None = None, status: str | None = None) -> list[dict]:
        """The latest reconciliation outcome per dataset and date, by dataset and date."""
        where = Where().eq("dataset", dataset).eq("status", status)
        return self._select(f"SELECT * FROM reconciliations {where} ORDER BY dataset, date", where.args)

    def archived_before(self, dataset: str) -> dt.date | None:
        """The archive boundary of ``dataset``: its dates before it were moved to an archive
        (``nkdash.storage.archive`` records it as the watermark ``archived:<dataset>``)."""
        stamp = self.get_watermark(f"{ARCHIVED}{dataset}")
        return stamp.date() if stamp else None

    def record_validation(self, dataset: str, date: dt.date | None, ok: bool, checks: list[dict]) -> int:
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO validations (dataset, date, ok, checks, created_at) VALUES (?, ?, ?, ?, ?)",
                (dataset, day_text(date), bool(ok), as_json(checks), now_text()),
            )
            return cast(int, cur.lastrowid)  # set by the INSERT

    def validations(
        self,
        *,
        dataset: str | None = None,
        date: dt.date | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Validation results, newest first; ``checks`` decoded, ``ok`` a bool."""
        where = (
            Where().eq("dataset", dataset).eq("date", day_text(date)).ge("created_at", since and timestamp_text(since))
        )
        return self._select(f"SELECT * FROM validations {where} ORDER BY id DESC", where.args, limit, json=("checks",))

    def record_query(self, name: str, seconds: float, rows: int, params: str | None = None) -> None:
        with self._write() as con:
            con.execute(
                "INSERT INTO query_timings (name, seconds, rows, params, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, seconds, rows, params, now_text()),
            )

    def query_timings(self, since: dt.datetime | None = None) -> list[dict]:
        """Recorded query timings, oldest first."""
        where = Where().ge("created_at", since and timestamp_text(since))
        return self._select(f"SELECT * FROM query_timings {where} ORDER BY id", where.args)

    def freshness(self, datasets: Sequence[str], today: dt.date, start: dt.date | None = None) -> list[Freshness]:
        """Freshness of each dataset on ``today`` (a business date in ``NKDASH_TZ``).

        ``last_loaded``: latest date whose data was loaded (``loaded`` or ``stale``).
        ``missing``: dates from ``start`` (default: the dataset's first known date, or
        yesterday if none) to yesterday with no data (never loaded, or quarantined).
        ``failed``/``stale``: dates from ``start`` on in that state; ``unreconciled``: those the
        nightly reconciliation left disagreeing with Odoo. ``status`` by SLA on the
        lag ``today - last_loaded``: up to 1 day ``ok``, 2-3 ``late``, more (or no data)
        ``critical``. Whole-table datasets have no dates and are ignored here.
        """
        return [self._freshness(name, today, start) for name in datasets]

    def _freshness(self, dataset: str, today: dt.date, start: dt.date | None) -> Freshness:
        rows = self._select("SELECT date, status FROM partitions WHERE dataset = ? AND date <> ''", [dataset])
        states = {p["date"]: p["status"] for p in rows}  # two columns: a page view asks on every load
        yesterday = today - dt.timedelta(days=1)
        first = start or min(states, default=yesterday)
        loaded = [d for d, s in states.items() if s in ("loaded", "stale")]
        last_loaded = max(loaded, default=None)
        lag = (today - last_loaded).days if last_loaded else None
        return Freshness(
            dataset=dataset,
            last_loaded=last_loaded,
            missing=[d for d in days_between(first, yesterday) if states.get(d) in (None, "quarantined")],
            failed=sorted(d for d, s in states.items() if s == "failed" and d >= first),
            stale=sorted(d for d, s in states.items() if s == "stale" and d >= first),
            lag_days=lag,
            status=_sla(lag),
            unreconciled=self._unreconciled(dataset, first),
        )

    def _unreconciled(self, dataset: str, first: dt.date) -> list[dt.date]:
        try:
            rows = self._select(
                "SELECT date FROM reconciliations WHERE dataset = ? AND status = 'not_reconciled' AND date >= ?",
                [dataset, first.isoformat()],
            )
        except sqlite3.OperationalError:  # a store of an older nkdash, opened read-only: not upgraded yet
            return []
        return [r["date"] for r in rows]

    def task_event(self, task_id: str, **fields: Any) -> None:
        """Create or update the history row of a queued task with the given fields.

        Fields: name, dataset, date, state, enqueued_at, started_at, finished_at, retries,
        error, params (a dict). A ``state`` without its timestamp stamps it now (queued ->
        enqueued_at, running -> started_at, done/failed/revoked -> finished_at).
        """
        unknown = set(fields) - set(_TASK_FIELDS)
        if unknown:
            raise InputError(f"unknown task fields {sorted(unknown)}; expected {', '.join(_TASK_FIELDS)}", unknown)
        if "state" in fields:
            _check_choice("state", fields["state"], TaskState)
            fields.setdefault(_TASK_CLOCK[fields["state"]], dt.datetime.now(dt.UTC))
        values = {name: encode_task_field(name, value) for name, value in fields.items()}
        columns = ["id", *values, "updated_at"]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        with self._write() as con:
            con.execute(
                f"""INSERT INTO tasks ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})
                            ON CONFLICT (id) DO UPDATE SET {updates}""",
                (task_id, *values.values(), now_text()),
            )

    def tasks(
        self, *, state: str | None = None, since: dt.datetime | None = None, limit: int | None = None
    ) -> list[dict]:
        """Task history, most recently updated first."""
        where = Where().eq("state", state).ge("updated_at", since and timestamp_text(since))
        return self._select(
            f"SELECT * FROM tasks {where} ORDER BY updated_at DESC", where.args, limit, json=("params",)
        )


def _check_choice(name: str, value: object, choices: object) -> None:
    if value not in get_args(choices):
        raise InputError(f"{name} must be one of {', '.join(get_args(choices))}, got {value!r}", value)


def _honest(run: dict) -> dict:
    reason = interrupted(run)
    return run if reason is None else {**run, "status": "failed", "error": reason}


def _sla(lag_days: int | None) -> FreshnessStatus:
    if lag_days is None or lag_days > CRITICAL_AFTER_DAYS:
        return "critical"
    return "late" if lag_days >= LATE_AFTER_DAYS else "ok"


def _own_start() -> str | None:
    """This process's start time as the runs table keeps it (text)."""
    started = start_time(os.getpid())
    return None if started is None else str(started)
