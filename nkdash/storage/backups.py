"""Backups: consistent snapshots of data and metadata, listed and verified.

A backup is a directory ``nkdash-backup-<UTC stamp>/`` holding ``star-schema/`` and
``_meta/`` (itself a readable lake) and ``manifest.json`` (every file with its size and
sha256). It is consistent: with every table's write lock held (writers wait: about 0.25 s
per thousand daily partitions on the test machine), the star schema is hard-linked into a private work
directory of the lake and the metadata store copied with SQLite's online backup API; then
the locks are released and the snapshot moved (same filesystem) or copied (another one)
to the destination, hashed, and published by one rename. Lake files are never modified in
place, so a hard link is a copy. The destination must be outside the lake.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from nkdash.lake import TABLES, Lake
from nkdash.lake.files import link_tree
from nkdash.settings import get_settings

if TYPE_CHECKING:
    pass
from nkdash.storage.common import (
    SQLITE_SIDE_FILES,
    BackupError,
    as_lake,
    copy_durably,
    files_under,
    fsync_dir,
    hash_all,
    inside,
    megabytes,
    same_inode,
    sqlite,
    utc_now,
    write_json,
)

BACKUP_PREFIX = "nkdash-backup-"


BACKUP_FORMAT = "nkdash-backup/1"


MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: dt.datetime | None
    files: int
    bytes: int
    tables: dict[str, dict]  # table -> {"files", "dates", "first", "last"}
    lake: str | None = None
    seconds: float | None = None
    problem: str | None = None  # set when the manifest cannot be read

    @property
    def name(self) -> str:
        return self.path.name

    def text(self) -> str:
        if self.problem:
            return f"{self.name}: UNREADABLE ({self.problem})"
        dated = [t for t in self.tables.values() if t.get("first")]
        span = f", dates {min(t['first'] for t in dated)} .. {max(t['last'] for t in dated)}" if dated else ""
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        return (
            f"{self.name}: {self.files} files, {megabytes(self.bytes)}, {len(self.tables)} table(s){span}; "
            f"taken {self.created_at:%Y-%m-%d %H:%M:%S} UTC{took}"
        )


def backup(lake: Lake | Path | str | None = None, dest: Path | str | None = None) -> BackupInfo:
    """A consistent snapshot of the lake's star schema and metadata in ``dest`` (default
    ``<NKDASH_STATE_DIR>/backups``); see the module docstring."""
    started = time.perf_counter()
    lake = as_lake(lake)
    target_dir = _backup_dest(lake, dest)
    work = lake.work_dir("backup")
    created = utc_now()
    name = _free_name(target_dir, BACKUP_PREFIX + created.strftime("%Y%m%dT%H%M%SZ"))
    tmp = target_dir / f".{name}.tmp"
    try:
        with lake.frozen():
            link_tree(lake.star, work / "star-schema")
            _snapshot_meta(lake.meta_dir, work / "_meta")
        if work.stat().st_dev == target_dir.stat().st_dev:
            os.rename(work, tmp)
        else:
            shutil.copytree(work, tmp, copy_function=copy_durably)
        manifest = _manifest(tmp, lake, created)
        write_json(tmp / MANIFEST, manifest)
        os.rename(tmp, target_dir / name)
        fsync_dir(target_dir)
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return _info(target_dir / name, manifest, time.perf_counter() - started)


def list_backups(dest: Path | str | None = None) -> list[BackupInfo]:
    """The backups in ``dest`` (default ``<NKDASH_STATE_DIR>/backups``), newest first; a
    backup whose manifest cannot be read is listed with its ``problem``."""
    directory = Path(dest) if dest is not None else _default_backup_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir(), reverse=True):
        if path.is_dir() and path.name.startswith(BACKUP_PREFIX):
            try:
                found.append(_info(path, read_manifest(path)))
            except BackupError as exc:
                found.append(BackupInfo(path, None, 0, 0, {}, problem=str(exc)))
    return found


@dataclass
class VerifyReport:
    path: Path
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        head = f"verify {self.path.name}: {'OK' if self.ok else 'FAILED'} ({self.files} files, {megabytes(self.bytes)})"
        return "\n".join([head, *(f"  x {p}" for p in self.problems)])


def verify_backup(backup: Path | str) -> VerifyReport:
    """Check every file of a backup against its manifest (size, sha256) and look for files
    the manifest does not list. Raises BackupError if there is no readable manifest."""
    path = backup_path(backup)
    manifest = read_manifest(path)
    return verify_tree(path, manifest["files"])


def verify_tree(
    root: Path, files: dict[str, list], same_as: Path | None = None, areas: Sequence[str] | None = None
) -> VerifyReport:
    """``files`` (relative path -> [bytes, sha256]) against the tree at ``root`` (only its
    ``areas``, default every top-level directory). A file that is the very inode of the one
    at ``same_as`` (a hard link of a verified backup) is not hashed again."""
    report = VerifyReport(root)
    tops = [root / a for a in areas] if areas is not None else [p for p in root.iterdir() if p.is_dir()]
    present = {str(p.relative_to(root)) for top in tops for p in files_under(top)}
    for extra in sorted(present - set(files)):
        report.problems.append(f"{extra}: not in the manifest")
    todo = []
    for rel, (size, digest) in sorted(files.items()):
        file = root / rel
        if rel not in present:
            report.problems.append(f"{rel}: missing")
        elif file.stat().st_size != size:
            report.problems.append(f"{rel}: {file.stat().st_size} bytes, the manifest says {size}")
        elif same_as is None or not same_inode(file, same_as / rel):
            todo.append((rel, file, digest))
        report.files += 1
        report.bytes += size
    for (rel, _, digest), actual in zip(todo, hash_all([file for _, file, _ in todo])):
        if actual != digest:
            report.problems.append(f"{rel}: sha256 differs from the manifest (damaged)")
    return report


def _snapshot_meta(meta_dir: Path, target: Path) -> None:
    """The metadata as of now: SQLite databases with the online backup API (a consistent
    copy while other processes write), other regular files copied."""
    target.mkdir(parents=True)
    for file in sorted(meta_dir.iterdir()) if meta_dir.is_dir() else []:
        if file.name.endswith(SQLITE_SIDE_FILES) or not file.is_file():
            continue
        if file.suffix == ".sqlite":
            with sqlite(file, read_only=True) as src, sqlite(target / file.name) as dst:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        else:
            copy_durably(file, target / file.name)


def _manifest(root: Path, lake: Lake, created: dt.datetime) -> dict:
    files = files_under(root)
    hashes = dict(zip((str(p.relative_to(root)) for p in files), hash_all(files)))
    snapshot = Lake(root, read_only=True)
    tables = {}
    for table in TABLES:
        data = snapshot.data_files(table)
        if data:
            dates = sorted({d for f in data for d in f.dates})
            tables[table] = {
                "files": len(data),
                "dates": len(dates),
                "first": dates[0].isoformat() if dates else None,
                "last": dates[-1].isoformat() if dates else None,
            }
    return {
        "format": BACKUP_FORMAT,
        "created_at": created.isoformat(timespec="seconds"),
        "lake": str(lake.root),
        "python": sys.version.split()[0],
        "pyarrow": pa.__version__,
        "files": {str(p.relative_to(root)): [p.stat().st_size, hashes[str(p.relative_to(root))]] for p in files},
        "tables": tables,
    }


def read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    if not file.is_file():
        raise BackupError(f"{path} is not an nkdash backup (no {MANIFEST})", path)
    try:
        manifest: dict = json.loads(file.read_text())
        files = manifest["files"]
        if manifest.get("format") != BACKUP_FORMAT or not isinstance(files, dict):
            raise ValueError(f"format {manifest.get('format')!r}")
        for rel, (size, digest) in files.items():
            if Path(rel).is_absolute() or ".." in Path(rel).parts or not isinstance(size, int) or len(digest) != 64:
                raise ValueError(f"bad entry {rel!r}")
        dt.datetime.fromisoformat(manifest["created_at"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"backup {path.name}: its manifest is damaged ({type(exc).__name__}: {exc})", file) from exc
    return manifest


def _info(path: Path, manifest: dict, seconds: float | None = None) -> BackupInfo:
    files = manifest["files"]
    return BackupInfo(
        path,
        dt.datetime.fromisoformat(manifest["created_at"]),
        len(files),
        sum(size for size, _ in files.values()),
        manifest.get("tables", {}),
        manifest.get("lake"),
        seconds,
    )


def star_files(manifest: dict) -> dict[str, list]:
    return {rel: entry for rel, entry in manifest["files"].items() if rel.startswith("star-schema/")}


def backup_path(backup: Path | str) -> Path:
    path = Path(backup).absolute()
    if path.name == MANIFEST:
        path = path.parent
    if not path.exists():
        raise BackupError(f"no backup at {path}", path)
    if not path.is_dir():
        raise BackupError(f"{path} is not a backup directory", path)
    return path


def _backup_dest(lake: Lake, dest: Path | str | None) -> Path:
    target = Path(dest).absolute() if dest is not None else _default_backup_dir().absolute()
    if inside(target, lake.root):
        raise BackupError(
            f"backup destination {target} is inside the lake {lake.root}: choose a directory outside it", target
        )
    if target.exists() and not target.is_dir():
        raise BackupError(f"backup destination {target} is not a directory", target)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _default_backup_dir() -> Path:
    return get_settings().state_dir / "backups"


def _free_name(directory: Path, name: str) -> str:
    candidate, n = name, 1
    while (directory / candidate).exists() or (directory / f".{candidate}.tmp").exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate
