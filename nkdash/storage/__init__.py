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
- :func:`rebuild_metadata`: a lost, empty or damaged metadata store rebuilt from the lake's files.
"""

from nkdash.storage.archiving import ArchiveReport, InsideRetention, archive
from nkdash.storage.backups import BackupInfo, VerifyReport, backup, list_backups, verify_backup
from nkdash.storage.common import BackupError
from nkdash.storage.compaction import (
    COMPACT_JOB,
    DEFAULT_COMPACT_AFTER_DAYS,
    CompactionReport,
    compact,
    compact_old_months,
)
from nkdash.storage.housekeeping import CleanReport, clean_temp, sizes
from nkdash.storage.metadata import RebuildReport, rebuild_metadata
from nkdash.storage.restoring import RestoreReport, restore, restore_plan

__all__ = [
    "COMPACT_JOB",
    "DEFAULT_COMPACT_AFTER_DAYS",
    "ArchiveReport",
    "BackupError",
    "BackupInfo",
    "CleanReport",
    "CompactionReport",
    "InsideRetention",
    "RebuildReport",
    "RestoreReport",
    "VerifyReport",
    "archive",
    "backup",
    "clean_temp",
    "compact",
    "compact_old_months",
    "list_backups",
    "rebuild_metadata",
    "restore",
    "restore_plan",
    "sizes",
    "verify_backup",
]
