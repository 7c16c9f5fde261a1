"""The metadata store's file: created whole, in WAL mode; damaged or empty files told apart.

Two first runs on a new lake used to race on ``PRAGMA journal_mode = WAL``: switching
needs the file to itself and does not wait for SQLite's busy timeout, so one of them
failed with "database is locked". :func:`create` builds each process's store in a private
file (WAL, schema) and publishes it with one hard link: one wins, the others use the
winner's, and no reader ever sees a half-made or empty file. A store file that is empty
(0 bytes) or that SQLite calls damaged did not come from here: it is reported, never
silently started over (see :meth:`nkdash.meta.MetaStore.for_lake`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nkdash.lake import Lake


SIDE_FILES = ("-wal", "-shm", "-journal")


def create(path: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    """Publish a new store at ``path``, built by ``build(con)`` in one write transaction, unless
    another process publishes one first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    remove(tmp)
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")
            build(con)
            con.execute("COMMIT")
        finally:
            con.close()  # checkpoints: everything is in the file itself
        _fsync(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError:  # a file system without hard links: a rename, unless one is there already
            if not path.exists():
                os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        remove(tmp)


def use_wal(con: sqlite3.Connection, timeout: float) -> None:
    """WAL mode for a store made before stores were created in it (retried: the switch
    ignores the busy timeout)."""
    deadline = time.monotonic() + timeout
    while con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            con.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def damaged(error: sqlite3.Error) -> bool:
    """SQLite says the file is not a database, or a damaged one (not: locked, full, read-only)."""
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


def is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return False


def holds_data(lake: Lake) -> bool:
    """Whether the lake has any data file (what a lost metadata store would have described)."""
    return next(iter(lake.partition_files()), None) is not None


def remove(path: Path) -> None:
    """A store file and its side files (WAL, shared memory, journal)."""
    for name in (path.name, *(path.name + side for side in SIDE_FILES)):
        path.with_name(name).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
