"""The metadata store rebuilt from the lake's own files (``nkdash rebuild-metadata``).

When the store is lost, emptied or damaged, the lake still says which partitions exist:
every dataset's date whose tables are all on disk is recorded ``loaded`` with its rows and
checksum, exactly as the ETL records them (so validation, change detection between
loads and the aggregates' backfill agree with it); a date with only some of its tables is
recorded ``failed``, so the next run reloads it; the whole-table dimensions likewise. The
archive boundaries of the default archive (``<lake>/_archive``) come back from its
catalog. Freshness is then what it was.

What the files cannot say is lost: the run history, validations, query timings, the task
history and the watermarks of change detection (the next load of a dataset starts them
from Odoo's newest ``write_date``, as a first load does: an edit Odoo made to an already
loaded date before that is not noticed; refresh a window to be sure).

The new store is built beside the old one and swapped in; the old file (and its WAL) is
kept beside it as ``nkdash.sqlite.<state>-<UTC stamp>``, never deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from nkdash import dates as cal
from nkdash.errors import LakeError, MetadataError
from nkdash.etl.datasets import DATASET_NAMES, get
from nkdash.etl.derived import derivations
from nkdash.etl.runner import combined_checksum
from nkdash.lake import Lake
from nkdash.lake.files import fsync_dir
from nkdash.meta import FILE_NAME, MetaStore, PartitionStatus
from nkdash.meta.files import SIDE_FILES, remove
from nkdash.storage.archiving import ARCHIVE_CATALOG, ARCHIVE_DIR
from nkdash.storage.common import as_lake, utc_now


@dataclass(frozen=True)
class Recorded:
    """One partition state the lake's files give."""

    dataset: str
    date: dt.date | None
    status: PartitionStatus
    rows: int = 0
    checksum: str | None = None
    error: str | None = None


@dataclass
class RebuildReport:
    path: Path
    state: str  # what the store was: missing, empty, damaged, readable (N partition states)
    partitions: list[Recorded]
    archived: dict[str, dt.date] = field(default_factory=dict)
    dry_run: bool = False
    aside: Path | None = None  # where the old store was kept

    def text(self) -> str:
        lines = [f"metadata store {self.path}: {self.state}"]
        for name in DATASET_NAMES:
            mine = [p for p in self.partitions if p.dataset == name]
            if not get(name).partitioned:
                lines.append(f"  {name:<13} {'loaded' if mine and mine[0].status == 'loaded' else 'not in the lake'}")
                continue
            loaded = [p.date for p in mine if p.status == "loaded" and p.date is not None]
            partial = [p.date for p in mine if p.status == "failed" and p.date is not None]
            text = f"{len(loaded)} date(s) loaded: {cal.format_spans(loaded)}" if loaded else "no date in the lake"
            lines.append(
                f"  {name:<13} {text}" + (f"; incomplete, to reload: {cal.format_spans(partial)}" if partial else "")
            )
        lines += [f"  archived before {day}: {name}" for name, day in sorted(self.archived.items())]
        return "\n".join([*lines, self.summary()])

    def summary(self) -> str:
        verb = "would record" if self.dry_run else "recorded"
        lines = [f"{verb} {len(self.partitions)} partition state(s) from the lake's files"]
        if self.aside:
            lines.append(f"the old store was kept as {self.aside}")
        lines.append(
            "not rebuilt (the files do not hold them): run history, validations, query timings, task history; "
            "change detection restarts at the next load (refresh a window to catch earlier Odoo edits)"
        )
        return "\n".join(lines)


def rebuild_metadata(lake: Lake | Path | str | None = None, *, dry_run: bool = False) -> RebuildReport:
    """Record every partition the lake holds in a new metadata store and swap it in (see the
    module docstring); ``dry_run`` only says what it would record."""
    lake = as_lake(lake, read_only=dry_run)
    path = lake.meta_dir / FILE_NAME
    report = RebuildReport(path, store_state(path), partitions_in(lake), archive_boundaries(lake), dry_run)
    if dry_run:
        return report
    lake.meta_dir.mkdir(parents=True, exist_ok=True)
    new = path.with_name(f".{FILE_NAME}.rebuild-{os.getpid()}")
    remove(new)
    try:
        meta = MetaStore(new)
        for p in report.partitions:
            meta.set_partition(p.dataset, p.date, status=p.status, rows=p.rows, checksum=p.checksum, error=p.error)
        for name, day in report.archived.items():
            meta.set_watermark(f"archived:{name}", dt.datetime.combine(day, dt.time(), dt.UTC))
        meta.close()  # checkpointed: the file alone holds it
        report.aside = _swap(path, new, report.state.split()[0])
    finally:
        remove(new)
    return report


def store_state(path: Path) -> str:
    """``missing``, ``empty``, ``damaged (...)`` or ``readable (N partition states)``."""
    if not path.exists():
        return "missing"
    try:
        return f"readable ({len(MetaStore(path, read_only=True).partitions())} partition states)"
    except MetadataError as e:
        return e.problem
    except sqlite3.Error as e:
        return f"damaged ({e})"


def partitions_in(lake: Lake) -> list[Recorded]:
    """The partition states the lake's files give, per dataset and date (hashes every file)."""
    derived = {t for d in derivations() for t in d.tables}
    found = []
    for name in DATASET_NAMES:
        spec = get(name)
        tables = spec.table_names
        if not spec.partitioned:
            if all(_has_whole(lake, t) for t in tables):
                found.append(_loaded(lake, name, None, tables))
            continue
        dates = {t: set(lake.partitions(t)) for t in tables}
        for day in sorted(set().union(*dates.values())):
            present = [t for t in tables if day in dates[t]]
            lacking = [t for t in tables if t not in present and t not in derived]
            if lacking:
                found.append(
                    Recorded(name, day, "failed", error=f"rebuilt from the lake: {', '.join(lacking)} missing")
                )
            else:  # derived tables that are missing are rebuilt by the backfill, without Odoo
                found.append(_loaded(lake, name, day, present))
    return found


def archive_boundaries(lake: Lake) -> dict[str, dt.date]:
    """Per dataset, the date before which the default archive holds its partitions."""
    catalog = lake.root / ARCHIVE_DIR / "_meta" / ARCHIVE_CATALOG
    if not catalog.is_file():
        return {}
    boundaries: dict[str, dt.date] = {}
    for run in json.loads(catalog.read_text()):
        before = dt.date.fromisoformat(run["before"])
        for name in run.get("partitions", {}):
            boundaries[name] = max(before, boundaries.get(name, before))
    return boundaries


def _loaded(lake: Lake, dataset: str, day: dt.date | None, tables: list[str] | tuple[str, ...]) -> Recorded:
    infos = [lake.info(t, day) for t in tables]
    return Recorded(dataset, day, "loaded", sum(i.rows for i in infos), combined_checksum(infos))


def _has_whole(lake: Lake, table: str) -> bool:
    try:
        lake.info(table)
    except LakeError:
        return False
    return True


def _swap(path: Path, new: Path, state: str) -> Path | None:
    """Put ``new`` at ``path``; the old store (with its WAL: never replayed into the new one)
    moves beside it. Returns where the old one went."""
    aside = None
    if path.exists():
        aside = path.with_name(f"{FILE_NAME}.{state}-{utc_now():%Y%m%dT%H%M%SZ}")
        os.link(path, aside)
    for side in SIDE_FILES:
        old = path.with_name(path.name + side)
        if old.exists():
            if aside is not None:
                os.replace(old, aside.with_name(aside.name + side))
            else:
                old.unlink()
    os.replace(new, path)
    fsync_dir(path.parent)
    return aside
