"""The lake: the only code that writes under ``$NKDASH_LAKE`` (see ARCHITECTURE.md)."""

from nkdash.lake.layout import (
    DATE_COLUMN,
    PARTITIONED,
    TABLES,
    WHOLE,
    Compaction,
    DataFile,
    DateEntry,
    MonthLayout,
    PartitionedTable,
    PartitionInfo,
    Problem,
    ProblemKind,
    WholeTable,
)
from nkdash.lake.scan import Lake

__all__ = [
    "DATE_COLUMN",
    "PARTITIONED",
    "TABLES",
    "WHOLE",
    "Compaction",
    "DataFile",
    "DateEntry",
    "Lake",
    "MonthLayout",
    "PartitionInfo",
    "PartitionedTable",
    "Problem",
    "ProblemKind",
    "WholeTable",
]
