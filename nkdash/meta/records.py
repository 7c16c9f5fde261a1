"""How the metadata store keeps values (timestamps, dates, JSON), small SQL builders, and
whether a recorded run's process is still alive."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from nkdash.errors import InputError
from nkdash.processes import HOST, alive, start_time

if TYPE_CHECKING:
    pass

UNCHECKABLE_AFTER = dt.timedelta(hours=12)  # a running run on another host (or of an older nkdash): then interrupted


class Where:
    """A WHERE clause built from optional filters; a None value adds no condition."""

    def __init__(self) -> None:
        self.terms: list[str] = []
        self.args: list[Any] = []

    def eq(self, column: str, value: Any) -> Where:
        return self._add(f"{column} = ?", value)

    def ge(self, column: str, value: Any) -> Where:
        return self._add(f"{column} >= ?", value)

    def _add(self, term: str, value: Any) -> Where:
        if value is not None:
            self.terms.append(term)
            self.args.append(value)
        return self

    def __str__(self) -> str:
        return f"WHERE {' AND '.join(self.terms)}" if self.terms else ""


def interrupted(run: dict, now: dt.datetime | None = None) -> str | None:
    """Why a ``running`` run can no longer finish (its process is gone), or None if it may
    still be running. Same host: its pid is dead, or is another process now. Another host
    (or a run recorded without a pid): started more than :data:`UNCHECKABLE_AFTER` ago."""
    if run["status"] != "running":
        return None
    pid, host = run.get("pid"), run.get("host")
    if pid is not None and host == HOST:
        start = start_time(pid)
        if start is not None and str(start) == run.get("process_start"):
            return None
        if start is None and run.get("process_start") is None and alive(pid):
            return None
        return f"interrupted: its process (pid {pid} on {host}) ended before the run finished (killed?)"
    age = (now or dt.datetime.now(dt.UTC)) - run["started_at"]
    if age > UNCHECKABLE_AFTER:
        where = f"pid {pid} on {host}" if pid is not None else "an unrecorded process"
        return f"interrupted: no end recorded {age.total_seconds() / 3600:.0f} h after it started ({where})"
    return None


def now_text() -> str:
    return timestamp_text(dt.datetime.now(dt.UTC))


def timestamp_text(value: dt.datetime) -> str:
    """UTC ISO text that sorts chronologically; naive datetimes are taken as UTC."""
    if not isinstance(value, dt.datetime):
        raise InputError(f"expected a datetime, got {value!r}", value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def day_text(value: dt.date | None) -> str | None:
    if value is None:
        return None
    if type(value) is not dt.date:
        raise InputError(f"expected a date, got {value!r}", value)
    return value.isoformat()


def as_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def encode_task_field(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name.endswith("_at"):
        return timestamp_text(value)
    if name == "date":
        return day_text(value)
    if name == "params":
        return as_json(value)
    return value


def decode_row(row: sqlite3.Row, json_columns: Sequence[str]) -> dict:
    out = {}
    for key in row.keys():  # noqa: SIM118 — a sqlite3.Row iterates over its values
        value = row[key]
        if value is None or value == "":
            value = None
        elif key in json_columns:
            value = json.loads(value)
        elif key.endswith("_at") or key == "source_max_write_date":
            value = dt.datetime.fromisoformat(value)
        elif key == "date":
            value = dt.date.fromisoformat(value)
        elif key == "ok":
            value = bool(value)
        out[key] = value
    return out


def days_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for n in range((last - first).days + 1):
        yield first + dt.timedelta(days=n)
