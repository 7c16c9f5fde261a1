"""Archiving: dates before a cutoff moved to an archive, itself a lake of compacted months."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.errors import InputError
from nkdash.lake import PARTITIONED, Lake
from nkdash.lake.months import month_index
from nkdash.meta import MetaStore
from nkdash.settings import get_settings

if TYPE_CHECKING:
    pass
from nkdash.storage.common import (
    as_lake,
    files_bytes,
    inside,
    megabytes,
    meta_of,
    rows_of,
    today_or,
    utc_now,
    write_json,
)

ARCHIVE_DIR = "_archive"


ARCHIVE_ZSTD_LEVEL = 9


ARCHIVE_CATALOG = "archive.json"  # in the archive's meta_of/


class InsideRetention(InputError):
    """Archiving before ``before`` would move dates the retention keeps (from ``keep_from``)."""

    def __init__(self, before: dt.date, keep_from: dt.date, years: int):
        self.before, self.keep_from, self.years = before, keep_from, years
        super().__init__(
            f"archiving before {before} is refused: NKDASH_RETENTION_YEARS={years} keeps every date from "
            f"{keep_from} (year-over-year dashboards compare with them); archive before {keep_from} or "
            "earlier, or force it (--force, and confirm twice)",
            before,
        )


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
    keep_from: dt.date | None = None  # the retention's first date
    forced: bool = False  # archived inside the retention window

    @property
    def partitions(self) -> int:
        return sum(len(d) for d in self.dates.values())

    def summary(self) -> str:
        """One line: what moves (or moved), e.g. "archive 261 partitions of 13 tables, 2026-11-04 …
        2026-12-02; the dashboards will no longer show these dates"."""
        days = sorted({d for dates in self.dates.values() for d in dates})
        if not days:
            return f"nothing to archive: the lake holds no date before {self.before}"
        tables = sum(1 for dates in self.dates.values() if dates)
        verb = "archive" if self.dry_run else "archived"
        rows = sum(self.rows.values())
        inside = (
            f" INSIDE the retention window (NKDASH_RETENTION_YEARS keeps {self.keep_from} onwards)"
            if self.forced
            else ""
        )
        return (
            f"{verb} {self.partitions} partitions of {tables} tables, {days[0]} … {days[-1]} ({rows:,} rows) to "
            f"{self.dest}{inside}; the dashboards {'will no longer show' if self.dry_run else 'no longer show'} "
            "these dates"
        )

    def text(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        total = self.partitions
        lines = [self.summary(), f"archive of dates before {self.before} to {self.dest}: {verb} {total} partition(s)"]
        for table, dates in self.dates.items():
            if dates:
                lines.append(
                    f"  {table:<21} {len(dates):>5} date(s) {dates[0]} .. {dates[-1]}, {self.rows.get(table, 0)} rows"
                )
        if not self.dry_run:
            lines.append(
                f"  {len(self.files)} month file(s) written, {megabytes(self.bytes_freed)} freed in the lake; "
                f"metadata: {sum(self.forgotten.values())} partition record(s) moved to the archive catalog"
            )
        return "\n".join(lines)


def archive(
    before: dt.date,
    *,
    dest: Path | str | None = None,
    lake: Lake | Path | str | None = None,
    today: dt.date | None = None,
    allow_incomplete: bool = False,
    dry_run: bool = False,
    retention_years: int | None = None,
    force: bool = False,
) -> ArchiveReport:
    """Move every dated partition before ``before`` to the archive ``dest`` (default
    ``<lake>/_archive``), then forget those dates in the metadata store (see module doc).

    Refused (InputError, nothing moved): ``before`` in the future; ``dest`` inside the lake's
    own directories; dates before the cutoff that are missing, failed or stale in the
    metadata (their archive would be incomplete or out of date) unless ``allow_incomplete``.
    Each date is checked in the archive before it leaves the lake; an interrupted archive
    is completed by running it again with the same ``before``.

    Retention: ``before`` later than January 1st ``retention_years`` (default
    ``NKDASH_RETENTION_YEARS``, 2) full years before today's year is refused
    (:class:`InsideRetention`, also for a dry run) unless ``force``.
    """
    if type(before) is not dt.date:
        raise InputError(f"before must be a date, got {before!r}", before)
    if before > today_or(today):
        raise InputError(f"--before {before} is in the future: nothing after today can be archived", before)
    lake = as_lake(lake, read_only=dry_run)
    target = _archive_dest(lake, dest)
    years = get_settings().retention_years if retention_years is None else retention_years
    keep_from = cal.retention_start(today_or(today), years)
    if before > keep_from and not force:
        raise InsideRetention(before, keep_from, years)
    meta = meta_of(lake, read_only=dry_run)
    gaps = _gaps_before(meta, before)
    if gaps and not allow_incomplete:
        shown = ", ".join(f"{name} {day} ({why})" for name, day, why in gaps[:3])
        raise InputError(
            f"{len(gaps)} date(s) before {before} are missing, failed or stale ({shown}"
            f"{', ...' if len(gaps) > 3 else ''}): refresh them first, or allow incomplete (--allow-incomplete)",
            before,
        )
    report = ArchiveReport(before, target, dry_run, keep_from=keep_from, forced=before > keep_from)
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
            size_before = files_bytes(lake, table)
            report.files += lake.move_dates(store, table, dates)
            report.bytes_freed += size_before - files_bytes(lake, table)
    return report


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
            rows += rows_of(f.path)
    return rows


def _archive_dest(lake: Lake, dest: Path | str | None) -> Path:
    target = Path(dest).absolute() if dest is not None else lake.root / ARCHIVE_DIR
    for inner in (lake.star, lake.staging_dir, lake.meta_dir, lake.quarantine_dir):
        if inside(target, inner):
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
    with meta._write() as con:
        con.execute("DELETE FROM partitions WHERE date <> '' AND date < ?", (before.isoformat(),))
    stamp = dt.datetime.combine(before, dt.time(), dt.UTC)
    for dataset in by_dataset:
        current = meta.get_watermark(f"archived:{dataset}")
        if current is None or current < stamp:
            meta.set_watermark(f"archived:{dataset}", stamp)
    return by_dataset


def _append_catalog(store: Lake, lake: Lake, report: ArchiveReport, forgotten: dict[str, list[dict]]) -> None:
    path = store.meta_dir / ARCHIVE_CATALOG
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(
        {
            "archived_at": utc_now().isoformat(timespec="seconds"),
            "before": report.before.isoformat(),
            "lake": str(lake.root),
            "tables": {
                t: {"dates": len(d), "first": d[0].isoformat(), "last": d[-1].isoformat(), "rows": report.rows[t]}
                for t, d in report.dates.items()
                if d
            },
            "partitions": forgotten,
        }
    )
    write_json(path, runs)
