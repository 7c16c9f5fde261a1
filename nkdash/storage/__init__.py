"""Storage management: compaction, archive, temp clean-up, sizes, backup and restore."""

from nkdash.storage.archiving import ArchiveReport, archive
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
from nkdash.storage.restoring import RestoreReport, restore

__all__ = [
    "COMPACT_JOB",
    "DEFAULT_COMPACT_AFTER_DAYS",
    "ArchiveReport",
    "BackupError",
    "BackupInfo",
    "CleanReport",
    "CompactionReport",
    "RestoreReport",
    "VerifyReport",
    "archive",
    "backup",
    "clean_temp",
    "compact",
    "compact_old_months",
    "list_backups",
    "restore",
    "sizes",
    "verify_backup",
]
