"""Restore: a backup checked, swapped in, scanned and validated.

Restore checks every file of the backup against its manifest first (a damaged backup is
refused before anything is written), builds the new star schema beside the lake, swaps
it in with one rename (the previous one is kept in ``_quarantine/pre-restore-<stamp>/``),
replaces the metadata with SQLite's backup API, then scans the lake and validates the
latest restored dates against Odoo (offline checks only if Odoo cannot be reached).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nkdash.errors import NKDashError
from nkdash.lake import PARTITIONED, Lake, Problem
from nkdash.lake.files import link_tree
from nkdash.meta import MetaStore
from nkdash.meta.migrations import MIGRATIONS
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.etl.validate import ValidationReport
from typing import TYPE_CHECKING

from nkdash.storage.backups import backup_path, read_manifest, star_files, verify_tree
from nkdash.storage.common import BackupError, as_lake, copy_durably, fsync_dir, inside, megabytes, sqlite, utc_now

if TYPE_CHECKING:
    from nkdash.storage.backups import VerifyReport


RESTORE_VALIDATE_DAYS = 7  # restore validates this many of the latest restored dates against Odoo


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
        lines = [
            f"restore of {self.backup.name} into {self.lake}: {'OK' if self.ok else 'PROBLEMS'}",
            f"  {self.files} files, {megabytes(self.bytes)}; manifest verified: {'ok' if self.verify.ok else 'FAILED'}",
            f"  previous star schema kept in {self.previous}" if self.previous else "  (the lake was empty)",
            f"  scan of the restored lake: {len(self.problems)} problem(s)",
        ]
        lines += [f"    x {p.kind} {p.table} {p.date or ''} {p.path}: {p.detail}" for p in self.problems[:10]]
        lines += [f"  x {p}" for p in self.verify.problems[:10]]
        for v in self.validations:
            lines += ["  " + line for line in v.text().splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def restore(
    backup: Path | str,
    lake: Lake | Path | str | None = None,
    *,
    settings: Settings | None = None,
    validate_days: int | None = RESTORE_VALIDATE_DAYS,
    odoo: bool = True,
) -> RestoreReport:
    """Replace the lake's star schema and metadata by the backup's, then check the result.

    Refused with BackupError, nothing written: a missing backup, an unreadable manifest, any
    file that does not match it, a backup inside the lake, metadata newer than this nkdash.
    After the swap: the restored files are checked against the manifest, the lake is
    scanned, and the latest ``validate_days`` restored dates (all if None, none if 0) are
    validated against Odoo when ``odoo`` and Odoo answers (else offline checks only).
    """
    settings = settings or get_settings()
    path = backup_path(backup)
    lake = as_lake(lake if lake is not None else settings.lake)
    if inside(path, lake.root):
        raise BackupError(f"backup {path} is inside the lake {lake.root}: move it out first", path)
    manifest = read_manifest(path)
    checked = verify_tree(path, manifest["files"])
    if not checked.ok:
        raise BackupError(
            f"backup {path.name} is damaged, nothing restored: {checked.problems[0]}"
            + (f" (and {len(checked.problems) - 1} more)" if len(checked.problems) > 1 else ""),
            path,
        )
    _check_meta_version(path)
    work = lake.work_dir("restore")
    try:
        star = work / "star-schema"
        if (path / "star-schema").is_dir():
            link_tree(path / "star-schema", star)
        else:
            star.mkdir()
        restored = verify_tree(work, star_files(manifest), same_as=path, areas=["star-schema"])
        if not restored.ok:
            raise BackupError(
                f"copying {path.name} into the lake failed, nothing restored: {restored.problems[0]}", path
            )
        previous = lake.quarantine_dir / f"pre-restore-{utc_now():%Y%m%dT%H%M%S%fZ}" / "star-schema"
        with lake.frozen():
            lake.replace_star(star, previous)
            _restore_meta(path / "_meta", lake.meta_dir)
            live = verify_tree(lake.root, star_files(manifest), same_as=path, areas=["star-schema"])
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


def restore_plan(backup: Path | str, lake: Lake | Path | str | None = None) -> str:
    """What :func:`restore` would do (its dry run): the same refusals (BackupError: missing,
    damaged or inside the lake), then what the backup holds and what it replaces."""
    from nkdash.storage.backups import _info

    path = backup_path(backup)
    lake = as_lake(lake, read_only=True)
    if inside(path, lake.root):
        raise BackupError(f"backup {path} is inside the lake {lake.root}: move it out first", path)
    manifest = read_manifest(path)
    checked = verify_tree(path, manifest["files"])
    if not checked.ok:
        raise BackupError(f"backup {path.name} is damaged, nothing restored: {checked.problems[0]}", path)
    _check_meta_version(path)
    info = _info(path, manifest)
    now = {table: lake.partitions(table) for table in PARTITIONED}
    days = sorted({d for dates in now.values() for d in dates})
    span = f", {days[0]} … {days[-1]}" if days else ""
    current = sum(len(d) for d in now.values())
    return "\n".join(
        [
            f"replace the lake's data and metadata with backup {info.text()}",
            f"the lake now: {current} partitions of {sum(1 for d in now.values() if d)} tables{span}; what is not "
            "in the backup (dates loaded since) goes; the current star schema is kept in _quarantine",
            "then the restored lake is scanned and its latest dates validated against Odoo",
        ]
    )


def _validate_restored(report: RestoreReport, lake: Lake, settings: Settings, days: int | None) -> None:
    dated = sorted({d for table in PARTITIONED for d in lake.partitions(table)})
    chosen = dated if days is None else dated[-days:]
    if not chosen:
        report.notes.append("no dated partitions restored: nothing to validate against Odoo")
        return
    try:
        from nkdash.etl.validate import validate
        from nkdash.odoo import connect
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
            with sqlite(file, read_only=True) as src, sqlite(target) as dst:
                src.backup(dst)
        elif file.is_file():
            tmp = meta_dir / f".{file.name}.restore-tmp"
            copy_durably(file, tmp)
            os.rename(tmp, target)
    fsync_dir(meta_dir)


def _check_meta_version(backup: Path) -> None:
    db = backup / "_meta" / "nkdash.sqlite"
    if not db.is_file():
        return
    try:
        with sqlite(db, read_only=True) as con:
            version = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"backup {backup.name}: its metadata store cannot be read ({exc})", db) from exc
    if version > len(MIGRATIONS):
        raise BackupError(
            f"backup {backup.name} has metadata schema version {version}; this nkdash knows "
            f"{len(MIGRATIONS)} (upgrade nkdash first)",
            db,
        )
