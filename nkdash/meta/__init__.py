"""The metadata store: runs, partition states, watermarks, validations, query timings, tasks."""

from nkdash.meta.records import interrupted
from nkdash.meta.store import (
    CRITICAL_AFTER_DAYS,
    FILE_NAME,
    LATE_AFTER_DAYS,
    Freshness,
    FreshnessStatus,
    MetaStore,
    PartitionStatus,
    ReconcileStatus,
    RunStatus,
    TaskState,
    Trigger,
    Watermark,
)

__all__ = [
    "CRITICAL_AFTER_DAYS",
    "FILE_NAME",
    "LATE_AFTER_DAYS",
    "Freshness",
    "FreshnessStatus",
    "MetaStore",
    "PartitionStatus",
    "ReconcileStatus",
    "RunStatus",
    "TaskState",
    "Trigger",
    "Watermark",
    "interrupted",
]
