"""Compaction: the daily files of old months merged into one file per month and table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.errors import InputError, LakeError
from nkdash.lake import PARTITIONED, Compaction, Lake, MonthLayout
from nkdash.meta import Trigger
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from nkdash.storage.common import as_lake, dated_tables, megabytes, meta_of, today_or

DEFAULT_COMPACT_AFTER_DAYS = Settings.compact_after_days  # a month is compacted once it ended this many days ago


COMPACT_JOB = "compact"  # the nightly compaction's name: in the schedule, its task, and its runs


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
                    lines.append(
                        f"  {table:<21} {len(mine):>3} month(s), {sum(m.daily for m in mine)} daily files, "
                        f"{megabytes(sum(m.bytes for m in mine))}"
                    )
                continue
            done = [c for c in self.done if c.table == table]
            if done:
                lines.append(
                    f"  {table:<21} {len(done):>3} month(s): {sum(c.files_before for c in done)} files -> "
                    f"{len(done)}, {megabytes(sum(c.bytes_before for c in done))} -> "
                    f"{megabytes(sum(c.bytes_after for c in done))}"
                )
        lines += [f"  skipped {m.table} {m.name}: {reason}" for m, reason in self.skipped]
        return "\n".join(lines)


def compact(
    lake: Lake | Path | str | None = None,
    *,
    older_than_days: int = DEFAULT_COMPACT_AFTER_DAYS,
    tables: Iterable[str] | None = None,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> CompactionReport:
    """Compact every month of ``tables`` (default: all dated) that ended more than
    ``older_than_days`` days before ``today`` and still has daily partitions.

    Idempotent: a month already compacted is left alone. A month that cannot be compacted
    (damaged layout, mixed schemas) is skipped with the reason; the others go on.
    """
    if older_than_days < 0:
        raise InputError(f"older_than_days must be 0 or more, got {older_than_days}", older_than_days)
    names = dated_tables(tables)
    lake = as_lake(lake, read_only=dry_run)
    report = CompactionReport(today_or(today) - dt.timedelta(days=older_than_days), dry_run)
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


def compact_old_months(
    settings: Settings | None = None,
    *,
    today: dt.date | None = None,
    trigger: Trigger = "schedule",
    task_id: str | None = None,
) -> CompactionReport:
    """The nightly compaction: :func:`compact` with ``NKDASH_COMPACT_AFTER_DAYS``, recorded as a
    run of :data:`COMPACT_JOB` (rows: the rows merged; a skipped month fails the run).

    Safe beside a running ETL: each month is merged under its table's write lock, and a date
    written into a compacted month later gets a daily partition (``nkdash.lake``).
    """
    settings = settings or get_settings()
    lake = Lake(settings.lake)
    meta = meta_of(lake)
    run_id = meta.start_run(COMPACT_JOB, None, trigger, task_id=task_id)
    try:
        report = compact(
            lake, older_than_days=settings.compact_after_days, today=today or cal.today(cal.timezone(settings.tz))
        )
    except Exception as exc:
        meta.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    errors = "; ".join(f"{m.table} {m.name}: {reason}" for m, reason in report.skipped)
    meta.finish_run(
        run_id,
        status="failed" if errors else "success",
        rows=sum(c.rows for c in report.done),
        bytes=sum(c.bytes_after for c in report.done),
        error=errors or None,
    )
    return report
