"""The metadata store's schema: one list of statements per version."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


# One list of statements per schema version; a store upgrades itself by running the missing ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset TEXT NOT NULL,
            date TEXT,
            trigger TEXT NOT NULL,
            task_id TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'success', 'failed', 'skipped')),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            rows INTEGER,
            source_count INTEGER,
            source_totals TEXT,
            checksum TEXT,
            bytes INTEGER,
            error TEXT)""",
        "CREATE INDEX runs_dataset_date ON runs (dataset, date)",
        "CREATE INDEX runs_started_at ON runs (started_at)",
        """CREATE TABLE partitions (
            dataset TEXT NOT NULL,
            date TEXT NOT NULL,  -- '' for whole-table datasets (dimensions)
            status TEXT NOT NULL CHECK (status IN ('loaded', 'failed', 'stale', 'quarantined')),
            rows INTEGER NOT NULL DEFAULT 0,
            checksum TEXT,
            run_id INTEGER,
            source_max_write_date TEXT,
            error TEXT,
            stale_reason TEXT,
            loaded_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (dataset, date)) WITHOUT ROWID""",
        "CREATE TABLE watermarks (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)",
        """CREATE TABLE validations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset TEXT NOT NULL,
            date TEXT,
            ok INTEGER NOT NULL,
            checks TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        "CREATE INDEX validations_dataset_date ON validations (dataset, date)",
        """CREATE TABLE query_timings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            seconds REAL NOT NULL,
            rows INTEGER NOT NULL,
            params TEXT,
            created_at TEXT NOT NULL)""",
        "CREATE INDEX query_timings_created_at ON query_timings (created_at)",
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            name TEXT,
            dataset TEXT,
            date TEXT,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'revoked')),
            enqueued_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            retries INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            params TEXT,
            updated_at TEXT NOT NULL)""",
        "CREATE INDEX tasks_state ON tasks (state, updated_at)",
    ),
    (  # 2: who runs a run, so a run whose process was killed can be told from one still running
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN process_start TEXT",
        "CREATE INDEX runs_status ON runs (status)",
    ),
    (  # 3 (issue 17): incidents (one row per incident key, open until resolved) and the alerts sent
        """CREATE TABLE incidents (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
            summary TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            opened_at TEXT NOT NULL,
            last_sent_at TEXT,
            resolved_at TEXT,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            incident TEXT NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('open', 'escalated', 'repeat', 'resolved', 'test')),
            severity TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            deliveries TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        "CREATE INDEX alerts_created_at ON alerts (created_at)",
    ),
    (  # 4 (issue 18): watermarks that settle, the lake's one Odoo source, the nightly reconciliation
        "ALTER TABLE watermarks ADD COLUMN seen TEXT",  # JSON: ids already seen at the watermark's second
        """CREATE TABLE source (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            url TEXT NOT NULL,
            db TEXT NOT NULL,
            company TEXT,
            uuid TEXT,
            recorded_at TEXT NOT NULL)""",
        """CREATE TABLE reconciliations (
            dataset TEXT NOT NULL,
            date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('reconciled', 'healed', 'not_reconciled')),
            detail TEXT,
            run_id INTEGER,
            checked_at TEXT NOT NULL,
            PRIMARY KEY (dataset, date)) WITHOUT ROWID""",
    ),
)
