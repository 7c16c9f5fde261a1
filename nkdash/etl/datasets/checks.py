"""Data-quality checks, declared as data next to each lake table.

A check says *what* must hold; :mod:`nkdash.validate` is the one generic validator that
knows *how* to evaluate each kind. Declared per table, the checks double as its data
dictionary (which columns are keys, which values a column may take, where a key points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class NotNull:
    """No null in ``column``."""

    column: str

    def __str__(self) -> str:
        return f"not_null({self.column})"


@dataclass(frozen=True)
class Unique:
    """No two rows share the same ``columns`` (e.g. a source line loaded twice)."""

    columns: tuple[str, ...]

    def __str__(self) -> str:
        return f"unique({', '.join(self.columns)})"


@dataclass(frozen=True)
class AcceptedValues:
    """Every non-null value of ``column`` is one of ``values``."""

    column: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"accepted_values({self.column})"


@dataclass(frozen=True)
class Relationship:
    """Every non-null ``column`` value exists as ``field`` of dimension table ``table``."""

    column: str
    table: str
    field: str = "id"

    def __str__(self) -> str:
        return f"relationship({self.column} -> {self.table}.{self.field})"


@dataclass(frozen=True)
class Difference:
    """``column == left - right`` on every row, exactly (e.g. margin = revenue - cost)."""

    column: str
    left: str
    right: str

    def __str__(self) -> str:
        return f"{self.column} = {self.left} - {self.right}"


@dataclass(frozen=True)
class PartitionDate:
    """Every row's ``date`` is the business date of the partition it is stored in."""

    column: str = "date"

    def __str__(self) -> str:
        return f"partition_date({self.column})"


@dataclass(frozen=True)
class SumsOf:
    """This table is the sums of ``table`` grouped by ``by`` (nothing else), per partition.

    ``sums`` are summed columns (same name in both tables); ``count`` names the column
    holding the number of source rows of each group.
    """

    table: str
    by: tuple[str, ...]
    sums: tuple[str, ...]
    count: str

    def __str__(self) -> str:
        return f"sums_of({self.table})"


@dataclass(frozen=True)
class Recomputed:
    """This table is ``compute(table)`` per partition: the same ``by`` keys and, per key, the
    same ``values`` (for aggregates that are not plain sums, e.g. orders counted per store)."""

    table: str
    compute: Callable[[pa.Table], pa.Table]
    by: tuple[str, ...]
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"recomputed({self.table})"


Check = NotNull | Unique | AcceptedValues | Relationship | Difference | PartitionDate | SumsOf | Recomputed
