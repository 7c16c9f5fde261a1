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
from nkdash.lake.scan import LakeScanner


class Lake(LakeScanner):
    """A lake rooted at ``root``; ``read_only=True`` refuses every write with LakeError.

    Reading (:mod:`nkdash.lake.reader`), the crash-safe writer (:mod:`nkdash.lake.writer`)
    and the scan (:mod:`nkdash.lake.scan`) in one object. ``compression_level``: zstd level
    of the files it writes (None: the codec's default).
    """


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
