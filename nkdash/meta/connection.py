"""How the metadata store's file is opened, shared and migrated (:class:`StoreFile`, the base
of :class:`~nkdash.meta.store.MetaStore`).

One SQLite file, ``<lake>/_meta/nkdash.sqlite``, shared by several processes (the huey
consumer, the web server, the CLI). Every operation opens and closes its own connection,
so a store object can be shared by threads and survives ``fork``, and nothing lingers
between operations; WAL mode lets readers run beside the writer; writes are single short
``BEGIN IMMEDIATE`` transactions that queue for up to 30 s (``busy_timeout``) instead of
failing with "database is locked". The price: closing the last connection checkpoints the
WAL, a few milliseconds per write (keeping connections would cost ~0.5 ms but leak them
per thread and risk a forked child checkpointing its parent's WAL).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nkdash.errors import LakeError, MetadataError
from nkdash.meta.files import create, damaged, is_empty, use_wal
from nkdash.meta.migrations import MIGRATIONS
from nkdash.meta.records import decode_row

_THREAD = threading.local()  # per-thread connections of writable stores (see StoreFile._connect)
BUSY_TIMEOUT_MS = 30_000


class StoreFile:
    """The SQLite file at ``path``; ``read_only=True`` refuses writes with LakeError.

    A writable store creates (or upgrades) its schema. A read-only store never touches the
    file and answers empty while it does not exist yet.
    """

    def __init__(self, path: Path | str, read_only: bool = False):
        self.path = Path(path).absolute()
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, read_only={self.read_only})"

    def close(self) -> None:
        """Close this thread's connection (the last one to close checkpoints the WAL into the file)."""
        entry = getattr(_THREAD, "connections", {}).pop((os.getpid(), str(self.path)), None)
        if entry is not None:
            entry[0].close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation (autocommit mode: transactions are explicit).

        A writable store keeps one connection per thread and process: closing the last
        connection makes SQLite checkpoint and delete its WAL (~30 ms here), which every
        operation would otherwise pay. The connection is dropped when the file is replaced
        (a restore) and never used across a fork. A read-only store opens a fresh one each
        time, so it sees a damaged or replaced file as it is now (the health check).
        """
        try:
            if self.read_only:
                self._refuse_empty()
                con = self._open()
                try:
                    yield con
                finally:
                    con.close()
                return
            yield self._cached()
        except sqlite3.DatabaseError as e:
            if damaged(e):
                raise MetadataError(f"the metadata store {self.path} is damaged ({e})", self.path) from None
            raise

    def _open(self) -> sqlite3.Connection:
        uri = f"{self.path.as_uri()}?mode={'ro' if self.read_only else 'rwc'}"
        con = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=True
        )
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return con

    def _cached(self) -> sqlite3.Connection:
        cache = getattr(_THREAD, "connections", None)
        if cache is None:
            cache = _THREAD.connections = {}
        key = (os.getpid(), str(self.path))
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        entry = cache.get(key)
        if entry is None or entry[1] != inode or inode is None:
            if entry is not None:
                entry[0].close()
            con = self._open()
            cache[key] = entry = (con, self.path.stat().st_ino)
        return entry[0]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken up front so writers queue instead of deadlocking."""
        if self.read_only:
            raise LakeError("the metadata store is open read-only", self.path)
        with self._connect() as con:
            con.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _select(self, sql: str, args: Sequence[Any], limit: int | None = None, json: Sequence[str] = ()) -> list[dict]:
        if self.read_only and not self.path.exists():
            return []
        if limit is not None:
            sql, args = f"{sql} LIMIT ?", [*args, int(limit)]
        with self._connect() as con:
            return [decode_row(row, json) for row in con.execute(sql, args)]

    def _refuse_empty(self) -> None:
        if is_empty(self.path):
            raise MetadataError(
                f"the metadata store {self.path} is empty (0 bytes): its runs and partition states are lost",
                self.path,
                "empty",
            )

    def _migrate(self) -> None:
        """Create the store (see :meth:`_create`) or bring an existing one up to date."""
        self._refuse_empty()
        if not self.path.exists():
            create(self.path, self._upgrade)
        with self._connect() as con:
            use_wal(con, BUSY_TIMEOUT_MS / 1000)
        with self._write() as con:
            self._upgrade(con)

    def _upgrade(self, con: sqlite3.Connection) -> None:
        """Run the migrations the store lacks (inside the caller's write transaction)."""
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if current > len(MIGRATIONS):
            raise LakeError(
                f"metadata store has schema version {current}; this nkdash knows {len(MIGRATIONS)} (upgrade nkdash)",
                self.path,
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[version - 1]:
                con.execute(statement)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
