"""Helpers the storage modules share: paths, durable writes, hashing, sizes."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from nkdash import dates as cal
from nkdash.errors import InputError
from nkdash.lake import PARTITIONED, Lake
from nkdash.lake.files import fsync_dir
from nkdash.meta import MetaStore
from nkdash.settings import get_settings

if TYPE_CHECKING:
    pass


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(InputError):
    """A backup cannot be made, read or restored as asked. ``path`` is the offending path."""

    def __init__(self, message: str, path: Path | None = None):
        self.path = path
        super().__init__(message, path)


def as_lake(lake: Lake | Path | str | None, read_only: bool = False) -> Lake:
    if isinstance(lake, Lake):
        return lake
    return Lake(get_settings().lake if lake is None else lake, read_only=read_only)


def meta_of(lake: Lake, read_only: bool = False) -> MetaStore:
    return MetaStore.for_lake(lake, read_only=read_only)


def dated_tables(tables: Iterable[str] | None) -> list[str]:
    names = list(PARTITIONED if tables is None else tables)
    unknown = [t for t in names if t not in PARTITIONED]
    if unknown:
        raise InputError(f"unknown dated table {unknown[0]!r}; expected one of {', '.join(PARTITIONED)}", unknown[0])
    return names


def today_or(today: dt.date | None) -> dt.date:
    if today is not None:
        return today
    tz = get_settings().tz
    return cal.today(cal.timezone(tz)) if tz else utc_now().date()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def inside(path: Path, directory: Path) -> bool:
    path, directory = path.absolute().resolve(), directory.absolute().resolve()
    return path == directory or directory in path.parents


def files_under(root: Path) -> list[Path]:
    return sorted(Path(d) / name for d, _, names in os.walk(root) for name in names)


def files_bytes(lake: Lake, table: str) -> int:
    return sum(f.bytes for f in lake.data_files(table))


def rows_of(path: Path) -> int:
    try:
        rows: int = pq.read_metadata(path).num_rows
        return rows
    except (OSError, pa.ArrowException):
        return 0


def disk_bytes(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(f.lstat().st_size for f in files_under(path)) if path.is_dir() else 0


def same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except FileNotFoundError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def hash_all(paths: Sequence[Path]) -> list[str]:
    """The sha256 of each file, hashed on a few threads (hashlib releases the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(_sha256_file, paths))


def copy_durably(src: Path | str, dst: Path | str) -> None:
    shutil.copy2(src, dst)
    with open(dst, "rb") as f:
        os.fsync(f.fileno())


def write_json(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fsync_dir(path.parent)


class sqlite:
    """A short-lived SQLite connection (context manager that closes it)."""

    def __init__(self, path: Path, read_only: bool = False):
        uri = f"{path.absolute().as_uri()}?mode={'ro' if read_only else 'rwc'}"
        self.con = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def megabytes(size: float) -> str:
    size = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
