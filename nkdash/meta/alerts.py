"""Incidents and the alerts sent about them, in the metadata store (issue 17).

An incident is one thing wrong (``freshness:pos``, ``damage:lake``...), one row keyed by its
name, open until resolved. Whether an alert goes out is decided inside one write
transaction (:meth:`AlertStore.claim`, :meth:`AlertStore.resolve`), so that two processes
checking at once (the worker and the web server) never both send it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from nkdash.meta.records import Where, as_json, decode_row, now_text, timestamp_text
from nkdash.meta.store import MetaStore

Severity = Literal["warning", "critical"]


Event = Literal["open", "escalated", "repeat", "resolved", "test"]


RANK: dict[str, int] = {"warning": 1, "critical": 2}


class AlertStore:
    """The incidents and alerts tables of ``meta``."""

    def __init__(self, meta: MetaStore):
        self.meta = meta

    def claim(
        self,
        key: str,
        *,
        kind: str,
        severity: Severity,
        summary: str,
        detail: str,
        repeat_after: dt.timedelta,
        now: dt.datetime,
    ) -> Event | None:
        """Record incident ``key`` as open now; returns the alert to send, if any: ``open``
        (it was not open), ``escalated`` (it got more severe), ``repeat`` (still open and the
        last alert is older than ``repeat_after``), else None (already told)."""
        with self.meta._write() as con:
            row = con.execute("SELECT * FROM incidents WHERE key = ?", (key,)).fetchone()
            stamp = timestamp_text(now)
            if row is None or row["resolved_at"] is not None:
                con.execute(
                    """INSERT INTO incidents (key, kind, severity, summary, detail, opened_at, last_sent_at,
                                              resolved_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)
                       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
                         summary = excluded.summary, detail = excluded.detail, opened_at = excluded.opened_at,
                         last_sent_at = excluded.last_sent_at, resolved_at = NULL, updated_at = excluded.updated_at""",
                    (key, kind, severity, summary, detail, stamp, stamp, now_text()),
                )
                return "open"
            event: Event | None = None
            if RANK[severity] > RANK[row["severity"]]:
                event = "escalated"
            elif now - dt.datetime.fromisoformat(row["last_sent_at"]) >= repeat_after:
                event = "repeat"
            con.execute(
                """UPDATE incidents SET severity = ?, summary = ?, detail = ?, updated_at = ?,
                          last_sent_at = coalesce(?, last_sent_at) WHERE key = ?""",
                (severity, summary, detail, now_text(), stamp if event else None, key),
            )
            return event

    def resolve(self, key: str, now: dt.datetime) -> dict | None:
        """Close incident ``key`` if it is open; returns it (the 'resolved' alert to send)."""
        with self.meta._write() as con:
            row = con.execute("SELECT * FROM incidents WHERE key = ? AND resolved_at IS NULL", (key,)).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE incidents SET resolved_at = ?, updated_at = ? WHERE key = ?",
                (timestamp_text(now), now_text(), key),
            )
            return decode_row(row, ())

    def open_incidents(self, kind: str | None = None) -> list[dict]:
        """Open incidents, oldest first."""
        where = Where().eq("kind", kind)
        where.terms.append("resolved_at IS NULL")
        return self.meta._select(f"SELECT * FROM incidents {where} ORDER BY opened_at", where.args)

    def incidents(self, limit: int | None = 50) -> list[dict]:
        """Every incident, open or resolved, most recently changed first."""
        return self.meta._select("SELECT * FROM incidents ORDER BY updated_at DESC", [], limit)

    def record(
        self, incident: str, event: Event, severity: str, subject: str, body: str, deliveries: dict[str, str]
    ) -> int:
        """Record an alert and what became of it per channel (``sent`` or why not)."""
        with self.meta._write() as con:
            cur = con.execute(
                """INSERT INTO alerts (incident, event, severity, subject, body, deliveries, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (incident, event, severity, subject, body, as_json(deliveries), now_text()),
            )
            return int(cur.lastrowid or 0)

    def alerts(self, *, since: dt.datetime | None = None, limit: int | None = 50) -> list[dict]:
        """Alerts sent, newest first; ``deliveries`` decoded."""
        where = Where().ge("created_at", since and timestamp_text(since))
        return self.meta._select(
            f"SELECT * FROM alerts {where} ORDER BY id DESC", where.args, limit, json=("deliveries",)
        )
