"""Storage management: compaction, archive, temp clean-up, sizes, backup and restore.

The runbook's storage procedures as library functions; the CLI (``nkdash storage ...``,
``nkdash backup``, ``nkdash restore``, ``nkdash backups``) and the notebooks call these.
Every change to the lake goes through :class:`~nkdash.lake.Lake` (atomic, locked).

- :func:`compact`: months that ended more than N days ago get their daily partitions
  merged into one month file per table (layout and guarantees: ``nkdash.lake``).
- :func:`archive`: dates before a cutoff move to an archive, itself a lake of compacted
  months (``<lake>/_archive`` by default, zstd level :data:`ARCHIVE_ZSTD_LEVEL`), readable
  with DuckDB or pyarrow like the lake. The metadata store forgets those dates (their
  partition rows are kept in the archive's ``_meta/archive.json``) and records the
  boundary as the watermark ``archived:<dataset>``; freshness and the ETL's planning count
  missing dates from a dataset's first known date, so archived dates are neither reported
  missing nor reloaded.
- :func:`clean_temp`: leftovers of killed writes and work directories, with bytes freed.
- :func:`sizes`: per table files, partitions, rows, bytes, smallest/largest file, dates.
- :func:`backup` / :func:`restore` / :func:`verify_backup` / :func:`list_backups`.

Backups
-------
A backup is a directory ``nkdash-backup-<UTC stamp>/`` holding ``star-schema/`` and
``_meta/`` (itself a readable lake) and ``manifest.json`` (every file with its size and
sha256). It is consistent: with every table's write lock held (writers wait: about 0.25 s
per thousand daily partitions on the test machine), the star schema is hard-linked into a private work
directory of the lake and the metadata store copied with SQLite's online backup API; then
the locks are released and the snapshot moved (same filesystem) or copied (another one)
to the destination, hashed, and published by one rename. Lake files are never modified in
place, so a hard link is a copy. The destination must be outside the lake.

Restore checks every file of the backup against its manifest first (a damaged backup is
refused before anything is written), builds the new star schema beside the lake, swaps
it in with one rename (the previous one is kept in ``_quarantine/pre-restore-<stamp>/``),
replaces the metadata with SQLite's backup API, then scans the lake and validates the
latest restored dates against Odoo (offline checks only if Odoo cannot be reached).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nkdash import calendar as cal
from nkdash.errors import InputError, LakeError, NKDashError
from nkdash.lake import PARTITIONED, TABLES, WHOLE, Compaction, Lake, MonthLayout, Problem
from nkdash.lake.files import link_tree
from nkdash.lake.months import month_index
from nkdash.meta import MIGRATIONS, MetaStore, Trigger
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.validate import ValidationReport

DEFAULT_COMPACT_AFTER_DAYS = Settings.compact_after_days  # a month is compacted once it ended this many days ago
COMPACT_JOB = "compact"  # the nightly compaction's name: in the schedule, its task, and its runs
ARCHIVE_DIR = "_archive"
ARCHIVE_ZSTD_LEVEL = 9
ARCHIVE_CATALOG = "archive.json"  # in the archive's _meta/
BACKUP_PREFIX = "nkdash-backup-"
BACKUP_FORMAT = "nkdash-backup/1"
MANIFEST = "manifest.json"
RESTORE_VALIDATE_DAYS = 7  # restore validates this many of the latest restored dates against Odoo
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(InputError):
    """A backup cannot be made, read or restored as asked. ``path`` is the offending path."""

    def __init__(self, message: str, path: Path | None = None):
        self.path = path
        super().__init__(message, path)


# ---- compaction -----------------------------------------------------------------------------


@dataclass
class CompactionReport:
    cutoff: dt.date  # months whose last day is before this date qualify
    dry_run: bool
    done: list[Compaction] = field(default_factory=list)
    planned: list[MonthLayout] = field(default_factory=list)
    skipped: list[tuple[MonthLayout, str]] = field(default_factory=list)

    @property
    def files_before(self) -> int:
        return sum(c.files_before for c in self.done)

    @property
    def files_after(self) -> int:
        return len(self.done)

    def text(self) -> str:
        verb = "would compact" if self.dry_run else "compacted"
        months = self.planned if self.dry_run else self.done
        lines = [f"compaction of months that ended before {self.cutoff}: {verb} {len(months)} month(s)"]
        for table in PARTITIONED:
            if self.dry_run:
                mine = [m for m in self.planned if m.table == table]
                if mine:
                    lines.append(f"  {table:<21} {len(mine):>3} month(s), {sum(m.daily for m in mine)} daily files, "
                                 f"{_mb(sum(m.bytes for m in mine))}")
                continue
            done = [c for c in self.done if c.table == table]
            if done:
                lines.append(f"  {table:<21} {len(done):>3} month(s): {sum(c.files_before for c in done)} files -> "
                             f"{len(done)}, {_mb(sum(c.bytes_before for c in done))} -> "
                             f"{_mb(sum(c.bytes_after for c in done))}")
        lines += [f"  skipped {m.table} {m.name}: {reason}" for m, reason in self.skipped]
        return "\n".join(lines)


def compact(lake: Lake | Path | str | None = None, *, older_than_days: int = DEFAULT_COMPACT_AFTER_DAYS,
            tables: Iterable[str] | None = None, today: dt.date | None = None,
            dry_run: bool = False) -> CompactionReport:
    """Compact every month of ``tables`` (default: all dated) that ended more than
    ``older_than_days`` days before ``today`` and still has daily partitions.

    Idempotent: a month already compacted is left alone. A month that cannot be compacted
    (damaged layout, mixed schemas) is skipped with the reason; the others go on.
    """
    if older_than_days < 0:
        raise InputError(f"older_than_days must be 0 or more, got {older_than_days}", older_than_days)
    names = _dated_tables(tables)
    lake = _lake(lake, read_only=dry_run)
    report = CompactionReport(_today(today) - dt.timedelta(days=older_than_days), dry_run)
    for table in names:
        for month in lake.months(table):
            if month.daily and month.last_day < report.cutoff:
                report.planned.append(month)
    if dry_run:
        return report
    for month in report.planned:
        try:
            done = lake.compact_month(month.table, month.year, month.month)
        except LakeError as exc:
            report.skipped.append((month, str(exc).splitlines()[0]))
            continue
        if done is not None:
            report.done.append(done)
    return report


def compact_old_months(settings: Settings | None = None, *, today: dt.date | None = None,
                       trigger: Trigger = "schedule", task_id: str | None = None) -> CompactionReport:
    """The nightly compaction: :func:`compact` with ``NKDASH_COMPACT_AFTER_DAYS``, recorded as a
    run of :data:`COMPACT_JOB` (rows: the rows merged; a skipped month fails the run).

    Safe beside a running ETL: each month is merged under its table's write lock, and a date
    written into a compacted month later gets a daily partition (``nkdash.lake``).
    """
    settings = settings or get_settings()
    lake = Lake(settings.lake)
    meta = _meta(lake)
    run_id = meta.start_run(COMPACT_JOB, None, trigger, task_id=task_id)
    try:
        report = compact(lake, older_than_days=settings.compact_after_days,
                         today=today or cal.today(cal.timezone(settings.tz)))
    except Exception as exc:
        meta.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    errors = "; ".join(f"{m.table} {m.name}: {reason}" for m, reason in report.skipped)
    meta.finish_run(run_id, status="failed" if errors else "success", rows=sum(c.rows for c in report.done),
                    bytes=sum(c.bytes_after for c in report.done), error=errors or None)
    return report


# ---- archive --------------------------------------------------------------------------------


@dataclass
class ArchiveReport:
    before: dt.date
    dest: Path
    dry_run: bool
    dates: dict[str, list[dt.date]] = field(default_factory=dict)  # per table: dates archived
    rows: dict[str, int] = field(default_factory=dict)
    bytes_freed: int = 0
    files: list[Path] = field(default_factory=list)  # month files written in the archive
    forgotten: dict[str, int] = field(default_factory=dict)  # per dataset: partition rows moved out of meta

    def text(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        total = sum(len(d) for d in self.dates.values())
        lines = [f"archive of dates before {self.before} to {self.dest}: {verb} {total} partition(s)"]
        for table, dates in self.dates.items():
            if dates:
                lines.append(f"  {table:<21} {len(dates):>5} date(s) {dates[0]} .. {dates[-1]}, "
                             f"{self.rows.get(table, 0)} rows")
        if not self.dry_run:
            lines.append(f"  {len(self.files)} month file(s) written, {_mb(self.bytes_freed)} freed in the lake; "
                         f"metadata: {sum(self.forgotten.values())} partition record(s) moved to the archive catalog")
        return "\n".join(lines)


def archive(before: dt.date, *, dest: Path | str | None = None, lake: Lake | Path | str | None = None,
            today: dt.date | None = None, allow_incomplete: bool = False, dry_run: bool = False) -> ArchiveReport:
    """Move every dated partition before ``before`` to the archive ``dest`` (default
    ``<lake>/_archive``), then forget those dates in the metadata store (see module doc).

    Refused (InputError, nothing moved): ``before`` in the future; ``dest`` inside the lake's
    own directories; dates before the cutoff that are missing, failed or stale in the
    metadata (their archive would be incomplete or out of date) unless ``allow_incomplete``.
    Each date is checked in the archive before it leaves the lake; an interrupted archive
    is completed by running it again with the same ``before``.
    """
    if type(before) is not dt.date:
        raise InputError(f"before must be a date, got {before!r}", before)
    if before > _today(today):
        raise InputError(f"--before {before} is in the future: nothing after today can be archived", before)
    lake = _lake(lake, read_only=dry_run)
    target = _archive_dest(lake, dest)
    meta = _meta(lake, read_only=dry_run)
    gaps = _gaps_before(meta, before)
    if gaps and not allow_incomplete:
        shown = ", ".join(f"{name} {day} ({why})" for name, day, why in gaps[:3])
        raise InputError(f"{len(gaps)} date(s) before {before} are missing, failed or stale ({shown}"
                         f"{', ...' if len(gaps) > 3 else ''}): refresh them first, or allow incomplete (--allow-incomplete)", before)
    report = ArchiveReport(before, target, dry_run)
    for table in PARTITIONED:
        report.dates[table] = [d for d in lake.partitions(table) if d < before]
        report.rows[table] = _date_rows(lake, table, report.dates[table])
    if dry_run:
        return report
    store = Lake(target, compression_level=ARCHIVE_ZSTD_LEVEL)
    forgotten = _forget_before(meta, before)  # first: no ETL run may plan to reload what moves out
    report.forgotten = {name: len(rows) for name, rows in forgotten.items()}
    _append_catalog(store, lake, report, forgotten)
    for table, dates in report.dates.items():
        if dates:
            size_before = _files_bytes(lake, table)
            report.files += lake.move_dates(store, table, dates)
            report.bytes_freed += size_before - _files_bytes(lake, table)
    return report


def archived_before(meta: MetaStore, dataset: str) -> dt.date | None:
    """The archive boundary recorded for ``dataset`` (dates before it are in an archive)."""
    stamp = meta.get_watermark(f"archived:{dataset}")
    return stamp.date() if stamp else None


def _gaps_before(meta: MetaStore, before: dt.date) -> list[tuple[str, dt.date, str]]:
    """(dataset, date, why) for the dates before ``before`` that freshness counts as missing,
    failed or stale: an archive of them would be incomplete or out of date."""
    datasets = sorted({p["dataset"] for p in meta.partitions() if p["date"] is not None})
    gaps = []
    for f in meta.freshness(datasets, today=before):
        gaps += [(f.dataset, d, "missing") for d in f.missing]
        gaps += [(f.dataset, d, "failed") for d in f.failed] + [(f.dataset, d, "stale") for d in f.stale]
    return sorted((g for g in gaps if g[1] < before), key=lambda g: (g[1], g[0]))


def _date_rows(lake: Lake, table: str, dates: Sequence[dt.date]) -> int:
    """Rows of ``dates`` from footers and month indexes (no file is hashed)."""
    wanted, rows = set(dates), 0
    for f in lake.data_files(table, min(dates, default=None), max(dates, default=None)) if dates else []:
        if f.compacted:
            rows += sum(e.rows for d, e in month_index(f.path).items() if d in wanted)
        elif f.dates and f.dates[0] in wanted:
            rows += _rows(f.path)
    return rows


def _archive_dest(lake: Lake, dest: Path | str | None) -> Path:
    target = Path(dest).absolute() if dest is not None else lake.root / ARCHIVE_DIR
    for inner in (lake.star, lake.staging_dir, lake.meta_dir, lake.quarantine_dir):
        if _inside(target, inner):
            raise InputError(f"archive destination {target} is inside the lake's {inner.name}/", target)
    if target.resolve() == lake.root.resolve():
        raise InputError(f"archive destination {target} is the lake itself", target)
    if target.exists() and not target.is_dir():
        raise InputError(f"archive destination {target} is not a directory", target)
    return target


def _forget_before(meta: MetaStore, before: dt.date) -> dict[str, list[dict]]:
    """Remove the dated partition records before ``before`` from the metadata store (returned,
    per dataset) and record the boundary as the watermark ``archived:<dataset>``.

    The smallest hook: MetaStore has no delete, so this runs one statement in its own write
    transaction (see the report: a ``MetaStore.forget_partitions`` would own it).
    """
    rows = [p for p in meta.partitions() if p["date"] and p["date"] < before]
    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], []).append(row)
    with meta._write() as con:  # noqa: SLF001 — see docstring
        con.execute("DELETE FROM partitions WHERE date <> '' AND date < ?", (before.isoformat(),))
    stamp = dt.datetime.combine(before, dt.time(), dt.timezone.utc)
    for dataset in by_dataset:
        current = meta.get_watermark(f"archived:{dataset}")
        if current is None or current < stamp:
            meta.set_watermark(f"archived:{dataset}", stamp)
    return by_dataset


def _append_catalog(store: Lake, lake: Lake, report: ArchiveReport, forgotten: dict[str, list[dict]]) -> None:
    path = store.meta_dir / ARCHIVE_CATALOG
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append({
        "archived_at": _utc_now().isoformat(timespec="seconds"), "before": report.before.isoformat(),
        "lake": str(lake.root),
        "tables": {t: {"dates": len(d), "first": d[0].isoformat(), "last": d[-1].isoformat(),
                       "rows": report.rows[t]} for t, d in report.dates.items() if d},
        "partitions": forgotten,
    })
    _write_json(path, runs)


# ---- temporary files ------------------------------------------------------------------------


@dataclass
class CleanReport:
    removed: list[tuple[Path, int]] = field(default_factory=list)  # (path, bytes freed)
    restored: list[Path] = field(default_factory=list)  # partitions put back by recovery

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.removed)

    def text(self) -> str:
        lines = [f"temporary files: removed {len(self.removed)} entr{'y' if len(self.removed) == 1 else 'ies'}, "
                 f"{_mb(self.bytes)} freed" + (f"; restored {len(self.restored)} partition(s)" if self.restored else "")]
        lines += [f"  removed  {path} ({_mb(size)})" for path, size in self.removed]
        lines += [f"  restored {path}" for path in self.restored]
        return "\n".join(lines)


def clean_temp(lake: Lake | Path | str | None = None, older_than_s: float = 3600) -> CleanReport:
    """Remove leftovers of killed writes (see :meth:`Lake.clean_temp`), reporting bytes freed."""
    lake = _lake(lake)
    sizes = {path: _du(path) for path in lake.temp_entries()}
    report = CleanReport()
    for path in lake.clean_temp(older_than_s):
        if path.exists():
            report.restored.append(path)
        else:
            report.removed.append((path, sizes.get(path, 0)))
    return report


# ---- sizes ----------------------------------------------------------------------------------

SIZE_COLUMNS = ["table", "files", "partitions", "compacted_months", "rows", "bytes", "smallest_file",
                "largest_file", "oldest", "newest"]


def sizes(lake: Lake | Path | str | None = None) -> pd.DataFrame:
    """One row per table on disk: data files, partitions (dates), compacted months, rows,
    bytes, smallest and largest file (bytes), oldest and newest date (None for dims)."""
    lake = _lake(lake, read_only=True)
    records = []
    for table in TABLES:
        files = lake.data_files(table)
        if not files:
            continue
        dates = sorted({d for f in files for d in f.dates})
        records.append({
            "table": table, "files": len(files), "partitions": len(dates) if table not in WHOLE else None,
            "compacted_months": sum(f.compacted for f in files), "rows": sum(_rows(f.path) for f in files),
            "bytes": sum(f.bytes for f in files), "smallest_file": min(f.bytes for f in files),
            "largest_file": max(f.bytes for f in files),
            "oldest": dates[0] if dates else None, "newest": dates[-1] if dates else None,
        })
    return pd.DataFrame.from_records(records, columns=SIZE_COLUMNS)


def disk_usage(lake: Lake | Path | str | None = None) -> dict[str, int]:
    """Bytes under each area of the lake: star-schema, _meta, _staging, _quarantine, _archive."""
    lake = _lake(lake, read_only=True)
    areas = (lake.star, lake.meta_dir, lake.staging_dir, lake.quarantine_dir, lake.root / ARCHIVE_DIR)
    return {area.name: _du(area) for area in areas}


def sizes_text(frame: pd.DataFrame, usage: dict[str, int] | None = None) -> str:
    """The sizes table for a terminal."""
    lines = [f"{'table':<21} {'files':>6} {'dates':>6} {'months':>6} {'rows':>11} {'size':>10} "
             f"{'smallest':>9} {'largest':>9}  {'oldest':<10}  {'newest':<10}"]
    for r in frame.itertuples(index=False):
        dates = "-" if pd.isna(r.partitions) else f"{int(r.partitions)}"
        lines.append(f"{r.table:<21} {r.files:>6} {dates:>6} {r.compacted_months:>6} {r.rows:>11,} "
                     f"{_mb(r.bytes):>10} {_mb(r.smallest_file):>9} {_mb(r.largest_file):>9}  "
                     f"{str(r.oldest or '-'):<10}  {str(r.newest or '-'):<10}")
    if frame.empty:
        lines.append("(the lake holds no data files)")
    else:
        lines.append(f"{'total':<21} {frame['files'].sum():>6} {'':>6} {frame['compacted_months'].sum():>6} "
                     f"{frame['rows'].sum():>11,} {_mb(frame['bytes'].sum()):>10}")
    if usage:
        lines.append("disk: " + ", ".join(f"{name} {_mb(size)}" for name, size in usage.items()))
    return "\n".join(line.rstrip() for line in lines)


# ---- backup ---------------------------------------------------------------------------------


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
        span = (f", dates {min(t['first'] for t in dated)} .. {max(t['last'] for t in dated)}" if dated else "")
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        return (f"{self.name}: {self.files} files, {_mb(self.bytes)}, {len(self.tables)} table(s){span}; "
                f"taken {self.created_at:%Y-%m-%d %H:%M:%S} UTC{took}")


def backup(lake: Lake | Path | str | None = None, dest: Path | str | None = None) -> BackupInfo:
    """A consistent snapshot of the lake's star schema and metadata in ``dest`` (default
    ``<NKDASH_STATE_DIR>/backups``); see the module docstring."""
    started = time.perf_counter()
    lake = _lake(lake)
    target_dir = _backup_dest(lake, dest)
    work = lake.work_dir("backup")
    created = _utc_now()
    name = _free_name(target_dir, BACKUP_PREFIX + created.strftime("%Y%m%dT%H%M%SZ"))
    tmp = target_dir / f".{name}.tmp"
    try:
        with lake.frozen():
            link_tree(lake.star, work / "star-schema")
            _snapshot_meta(lake.meta_dir, work / "_meta")
        if work.stat().st_dev == target_dir.stat().st_dev:
            os.rename(work, tmp)
        else:
            shutil.copytree(work, tmp, copy_function=_copy_durably)
        manifest = _manifest(tmp, lake, created)
        _write_json(tmp / MANIFEST, manifest)
        os.rename(tmp, target_dir / name)
        _fsync(target_dir)
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
                found.append(_info(path, _read_manifest(path)))
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
        head = f"verify {self.path.name}: {'OK' if self.ok else 'FAILED'} ({self.files} files, {_mb(self.bytes)})"
        return "\n".join([head, *(f"  x {p}" for p in self.problems)])


def verify_backup(backup: Path | str) -> VerifyReport:
    """Check every file of a backup against its manifest (size, sha256) and look for files
    the manifest does not list. Raises BackupError if there is no readable manifest."""
    path = _backup_path(backup)
    manifest = _read_manifest(path)
    return _verify_tree(path, manifest["files"])


def _verify_tree(root: Path, files: dict[str, list], same_as: Path | None = None,
                 areas: Sequence[str] | None = None) -> VerifyReport:
    """``files`` (relative path -> [bytes, sha256]) against the tree at ``root`` (only its
    ``areas``, default every top-level directory). A file that is the very inode of the one
    at ``same_as`` (a hard link of a verified backup) is not hashed again."""
    report = VerifyReport(root)
    tops = [root / a for a in areas] if areas is not None else [p for p in root.iterdir() if p.is_dir()]
    present = {str(p.relative_to(root)) for top in tops for p in _files_under(top)}
    for extra in sorted(present - set(files)):
        report.problems.append(f"{extra}: not in the manifest")
    todo = []
    for rel, (size, digest) in sorted(files.items()):
        file = root / rel
        if rel not in present:
            report.problems.append(f"{rel}: missing")
        elif file.stat().st_size != size:
            report.problems.append(f"{rel}: {file.stat().st_size} bytes, the manifest says {size}")
        elif same_as is None or not _same_inode(file, same_as / rel):
            todo.append((rel, file, digest))
        report.files += 1
        report.bytes += size
    for (rel, _, digest), actual in zip(todo, _hash_all([file for _, file, _ in todo])):
        if actual != digest:
            report.problems.append(f"{rel}: sha256 differs from the manifest (damaged)")
    return report


# ---- restore --------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    backup: Path
    lake: Path
    files: int
    bytes: int
    previous: Path | None  # where the replaced star schema was kept
    verify: VerifyReport
    problems: list[Problem] = field(default_factory=list)  # the scan of the restored lake
    validations: list[ValidationReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verify.ok and not self.problems and all(v.ok for v in self.validations)

    def text(self) -> str:
        lines = [f"restore of {self.backup.name} into {self.lake}: {'OK' if self.ok else 'PROBLEMS'}",
                 f"  {self.files} files, {_mb(self.bytes)}; manifest verified: {'ok' if self.verify.ok else 'FAILED'}",
                 f"  previous star schema kept in {self.previous}" if self.previous else "  (the lake was empty)",
                 f"  scan of the restored lake: {len(self.problems)} problem(s)"]
        lines += [f"    x {p.kind} {p.table} {p.date or ''} {p.path}: {p.detail}" for p in self.problems[:10]]
        lines += [f"  x {p}" for p in self.verify.problems[:10]]
        for v in self.validations:
            lines += ["  " + line for line in v.text().splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def restore(backup: Path | str, lake: Lake | Path | str | None = None, *, settings: Settings | None = None,
            validate_days: int | None = RESTORE_VALIDATE_DAYS, odoo: bool = True) -> RestoreReport:
    """Replace the lake's star schema and metadata by the backup's, then check the result.

    Refused with BackupError, nothing written: a missing backup, an unreadable manifest, any
    file that does not match it, a backup inside the lake, metadata newer than this nkdash.
    After the swap: the restored files are checked against the manifest, the lake is
    scanned, and the latest ``validate_days`` restored dates (all if None, none if 0) are
    validated against Odoo when ``odoo`` and Odoo answers (else offline checks only).
    """
    settings = settings or get_settings()
    path = _backup_path(backup)
    lake = _lake(lake if lake is not None else settings.lake)
    if _inside(path, lake.root):
        raise BackupError(f"backup {path} is inside the lake {lake.root}: move it out first", path)
    manifest = _read_manifest(path)
    checked = _verify_tree(path, manifest["files"])
    if not checked.ok:
        raise BackupError(f"backup {path.name} is damaged, nothing restored: {checked.problems[0]}"
                          + (f" (and {len(checked.problems) - 1} more)" if len(checked.problems) > 1 else ""), path)
    _check_meta_version(path)
    work = lake.work_dir("restore")
    try:
        star = work / "star-schema"
        if (path / "star-schema").is_dir():
            link_tree(path / "star-schema", star)
        else:
            star.mkdir()
        restored = _verify_tree(work, _star_files(manifest), same_as=path, areas=["star-schema"])
        if not restored.ok:
            raise BackupError(f"copying {path.name} into the lake failed, nothing restored: {restored.problems[0]}", path)
        previous = lake.quarantine_dir / f"pre-restore-{_utc_now():%Y%m%dT%H%M%S%fZ}" / "star-schema"
        with lake.frozen():
            lake.replace_star(star, previous)
            _restore_meta(path / "_meta", lake.meta_dir)
            live = _verify_tree(lake.root, _star_files(manifest), same_as=path, areas=["star-schema"])
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    MetaStore.for_lake(lake)  # migrates an older backup's metadata, WAL mode
    report = RestoreReport(path, lake.root, checked.files, checked.bytes, previous, live)
    if not (path / "_meta" / "nkdash.sqlite").is_file():
        report.notes.append("the backup holds no metadata store: the lake's own was kept")
    report.problems = lake.scan(deep=False)
    if odoo and validate_days != 0:
        _validate_restored(report, lake, settings, validate_days)
    else:
        report.notes.append("validation against Odoo skipped: offline checks only (manifest and scan)")
    return report


def _validate_restored(report: RestoreReport, lake: Lake, settings: Settings, days: int | None) -> None:
    dated = sorted({d for table in PARTITIONED for d in lake.partitions(table)})
    chosen = dated if days is None else dated[-days:]
    if not chosen:
        report.notes.append("no dated partitions restored: nothing to validate against Odoo")
        return
    try:
        from nkdash.odoo import connect
        from nkdash.validate import validate
    except ImportError as exc:  # the validator is optional here
        report.notes.append(f"validation unavailable ({exc}): offline checks only")
        return
    try:
        client = connect(settings.with_(lake=lake.root))
    except NKDashError as exc:
        report.notes.append(f"Odoo unreachable ({exc}): offline checks only (manifest and scan)")
        return
    for day in chosen:
        report.validations.append(validate(day, settings=settings.with_(lake=lake.root), client=client, lake=lake))


def _restore_meta(source: Path, meta_dir: Path) -> None:
    """The backup's metadata files into the lake's ``_meta``: SQLite databases through the
    backup API (readers see the old or the new database), other files renamed into place."""
    if not source.is_dir():
        return
    for file in sorted(source.iterdir()):
        target = meta_dir / file.name
        if file.suffix == ".sqlite":
            with _sqlite(file, read_only=True) as src, _sqlite(target) as dst:
                src.backup(dst)
        elif file.is_file():
            tmp = meta_dir / f".{file.name}.restore-tmp"
            _copy_durably(file, tmp)
            os.rename(tmp, target)
    _fsync(meta_dir)


def _check_meta_version(backup: Path) -> None:
    db = backup / "_meta" / "nkdash.sqlite"
    if not db.is_file():
        return
    try:
        with _sqlite(db, read_only=True) as con:
            version = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"backup {backup.name}: its metadata store cannot be read ({exc})", db) from exc
    if version > len(MIGRATIONS):
        raise BackupError(f"backup {backup.name} has metadata schema version {version}; this nkdash knows "
                          f"{len(MIGRATIONS)} (upgrade nkdash first)", db)


# ---- backup internals -----------------------------------------------------------------------


def _snapshot_meta(meta_dir: Path, target: Path) -> None:
    """The metadata as of now: SQLite databases with the online backup API (a consistent
    copy while other processes write), other regular files copied."""
    target.mkdir(parents=True)
    for file in sorted(meta_dir.iterdir()) if meta_dir.is_dir() else []:
        if file.name.endswith(_SQLITE_SIDE_FILES) or not file.is_file():
            continue
        if file.suffix == ".sqlite":
            with _sqlite(file, read_only=True) as src, _sqlite(target / file.name) as dst:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        else:
            _copy_durably(file, target / file.name)


def _manifest(root: Path, lake: Lake, created: dt.datetime) -> dict:
    files = _files_under(root)
    hashes = dict(zip((str(p.relative_to(root)) for p in files), _hash_all(files)))
    snapshot = Lake(root, read_only=True)
    tables = {}
    for table in TABLES:
        data = snapshot.data_files(table)
        if data:
            dates = sorted({d for f in data for d in f.dates})
            tables[table] = {"files": len(data), "dates": len(dates),
                             "first": dates[0].isoformat() if dates else None,
                             "last": dates[-1].isoformat() if dates else None}
    return {
        "format": BACKUP_FORMAT, "created_at": created.isoformat(timespec="seconds"), "lake": str(lake.root),
        "python": sys.version.split()[0], "pyarrow": pa.__version__,
        "files": {str(p.relative_to(root)): [p.stat().st_size, hashes[str(p.relative_to(root))]] for p in files},
        "tables": tables,
    }


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    if not file.is_file():
        raise BackupError(f"{path} is not an nkdash backup (no {MANIFEST})", path)
    try:
        manifest = json.loads(file.read_text())
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
    return BackupInfo(path, dt.datetime.fromisoformat(manifest["created_at"]), len(files),
                      sum(size for size, _ in files.values()), manifest.get("tables", {}), manifest.get("lake"),
                      seconds)


def _star_files(manifest: dict) -> dict[str, list]:
    return {rel: entry for rel, entry in manifest["files"].items() if rel.startswith("star-schema/")}


def _backup_path(backup: Path | str) -> Path:
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
    if _inside(target, lake.root):
        raise BackupError(f"backup destination {target} is inside the lake {lake.root}: choose a directory "
                          "outside it", target)
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


# ---- helpers --------------------------------------------------------------------------------


def _lake(lake: Lake | Path | str | None, read_only: bool = False) -> Lake:
    if isinstance(lake, Lake):
        return lake
    return Lake(get_settings().lake if lake is None else lake, read_only=read_only)


def _meta(lake: Lake, read_only: bool = False) -> MetaStore:
    return MetaStore.for_lake(lake, read_only=read_only)


def _dated_tables(tables: Iterable[str] | None) -> list[str]:
    names = list(PARTITIONED if tables is None else tables)
    unknown = [t for t in names if t not in PARTITIONED]
    if unknown:
        raise InputError(f"unknown dated table {unknown[0]!r}; expected one of {', '.join(PARTITIONED)}", unknown[0])
    return names


def _today(today: dt.date | None) -> dt.date:
    if today is not None:
        return today
    tz = get_settings().tz
    return cal.today(cal.timezone(tz)) if tz else _utc_now().date()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _inside(path: Path, directory: Path) -> bool:
    path, directory = path.absolute().resolve(), directory.absolute().resolve()
    return path == directory or directory in path.parents


def _files_under(root: Path) -> list[Path]:
    return sorted(Path(d) / name for d, _, names in os.walk(root) for name in names)


def _files_bytes(lake: Lake, table: str) -> int:
    return sum(f.bytes for f in lake.data_files(table))


def _rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException):
        return 0


def _du(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(f.lstat().st_size for f in _files_under(path)) if path.is_dir() else 0


def _same_inode(a: Path, b: Path) -> bool:
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


def _hash_all(paths: Sequence[Path]) -> list[str]:
    """The sha256 of each file, hashed on a few threads (hashlib releases the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(_sha256_file, paths))


def _copy_durably(src: Path | str, dst: Path | str) -> None:
    shutil.copy2(src, dst)
    with open(dst, "rb") as f:
        os.fsync(f.fileno())


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    _fsync(path.parent)


def _fsync(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _sqlite:
    """A short-lived SQLite connection (context manager that closes it)."""

    def __init__(self, path: Path, read_only: bool = False):
        uri = f"{path.absolute().as_uri()}?mode={'ro' if read_only else 'rwc'}"
        self.con = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def _mb(size: float) -> str:
    size = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
