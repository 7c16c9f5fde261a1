"""Housekeeping: leftovers of killed writes removed, and the lake's sizes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import pandas as pd

from nkdash.lake import TABLES, WHOLE, Lake

if TYPE_CHECKING:
    pass
from nkdash.storage.archiving import ARCHIVE_DIR
from nkdash.storage.common import as_lake, disk_bytes, megabytes, rows_of


@dataclass
class CleanReport:
    removed: list[tuple[Path, int]] = field(default_factory=list)  # (path, bytes freed)
    restored: list[Path] = field(default_factory=list)  # partitions put back by recovery
    dry_run: bool = False  # then ``removed`` lists the candidates (at most what a run removes)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.removed)

    def text(self) -> str:
        if self.dry_run:
            lines = [
                f"temporary files: up to {len(self.removed)} entr{'y' if len(self.removed) == 1 else 'ies'} "
                f"to remove ({megabytes(self.bytes)}); leftovers of writes in flight and recent files of other "
                "tools are kept"
            ]
            return "\n".join(lines + [f"  remove   {path} ({megabytes(size)})" for path, size in self.removed])
        lines = [
            f"temporary files: removed {len(self.removed)} entr{'y' if len(self.removed) == 1 else 'ies'}, "
            f"{megabytes(self.bytes)} freed"
            + (f"; restored {len(self.restored)} partition(s)" if self.restored else "")
        ]
        lines += [f"  removed  {path} ({megabytes(size)})" for path, size in self.removed]
        lines += [f"  restored {path}" for path in self.restored]
        return "\n".join(lines)


def clean_temp(
    lake: Lake | Path | str | None = None, older_than_s: float = 3600, *, dry_run: bool = False
) -> CleanReport:
    """Remove leftovers of killed writes (see :meth:`Lake.clean_temp`), reporting bytes freed.
    ``dry_run``: only list the candidates, nothing is removed."""
    lake = as_lake(lake, read_only=dry_run)
    sizes = {path: disk_bytes(path) for path in lake.temp_entries()}
    if dry_run:
        return CleanReport(removed=sorted(sizes.items()), dry_run=True)
    report = CleanReport()
    for path in lake.clean_temp(older_than_s):
        if path.exists():
            report.restored.append(path)
        else:
            report.removed.append((path, sizes.get(path, 0)))
    return report


SIZE_COLUMNS = [
    "table",
    "files",
    "partitions",
    "compacted_months",
    "rows",
    "bytes",
    "smallest_file",
    "largest_file",
    "oldest",
    "newest",
]


def sizes(lake: Lake | Path | str | None = None) -> pd.DataFrame:
    """One row per table on disk: data files, partitions (dates), compacted months, rows,
    bytes, smallest and largest file (bytes), oldest and newest date (None for dims)."""
    lake = as_lake(lake, read_only=True)
    records = []
    for table in TABLES:
        files = lake.data_files(table)
        if not files:
            continue
        dates = sorted({d for f in files for d in f.dates})
        records.append(
            {
                "table": table,
                "files": len(files),
                "partitions": len(dates) if table not in WHOLE else None,
                "compacted_months": sum(f.compacted for f in files),
                "rows": sum(rows_of(f.path) for f in files),
                "bytes": sum(f.bytes for f in files),
                "smallest_file": min(f.bytes for f in files),
                "largest_file": max(f.bytes for f in files),
                "oldest": dates[0] if dates else None,
                "newest": dates[-1] if dates else None,
            }
        )
    return pd.DataFrame.from_records(records, columns=SIZE_COLUMNS)


def disk_usage(lake: Lake | Path | str | None = None) -> dict[str, int]:
    """Bytes under each area of the lake: star-schema, _meta, _staging, _quarantine, _archive."""
    lake = as_lake(lake, read_only=True)
    areas = (lake.star, lake.meta_dir, lake.staging_dir, lake.quarantine_dir, lake.root / ARCHIVE_DIR)
    return {area.name: disk_bytes(area) for area in areas}


class _SizesRow(Protocol):
    """A row of :func:`sizes` as ``itertuples`` yields it."""

    table: str
    files: int
    partitions: float  # NaN for dims
    compacted_months: int
    rows: int
    bytes: int
    smallest_file: int
    largest_file: int
    oldest: dt.date | None
    newest: dt.date | None


def sizes_text(frame: pd.DataFrame, usage: dict[str, int] | None = None) -> str:
    """The sizes table for a terminal."""
    lines = [
        f"{'table':<21} {'files':>6} {'dates':>6} {'months':>6} {'rows':>11} {'size':>10} "
        f"{'smallest':>9} {'largest':>9}  {'oldest':<10}  {'newest':<10}"
    ]
    # cast: pandas types itertuples()'s fields as any scalar; these columns are known
    for r in cast(Iterable[_SizesRow], frame.itertuples(index=False)):
        dates = "-" if pd.isna(r.partitions) else f"{int(r.partitions)}"
        lines.append(
            f"{r.table:<21} {r.files:>6} {dates:>6} {r.compacted_months:>6} {r.rows:>11,} "
            f"{megabytes(r.bytes):>10} {megabytes(r.smallest_file):>9} {megabytes(r.largest_file):>9}  "
            f"{r.oldest or '-'!s:<10}  {r.newest or '-'!s:<10}"
        )
    if frame.empty:
        lines.append("(the lake holds no data files)")
    else:
        lines.append(
            f"{'total':<21} {frame['files'].sum():>6} {'':>6} {frame['compacted_months'].sum():>6} "
            f"{frame['rows'].sum():>11,} {megabytes(frame['bytes'].sum()):>10}"
        )
    if usage:
        lines.append("disk: " + ", ".join(f"{name} {megabytes(size)}" for name, size in usage.items()))
    return "\n".join(line.rstrip() for line in lines)
