"""The lake scan: what would make readers fail or lie; quarantine and clean-up of leftovers."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from nkdash.errors import LakeError
from nkdash.lake.files import fsync_dir, list_paths, makedirs, remove_path, sha256_of
from nkdash.lake.layout import (
    COMPACT_DIR,
    DATA_FILE,
    DATE_COLUMN,
    LOCK_FILE,
    MONTH,
    PARTITIONED,
    SCHEMA_FILE,
    TABLES,
    WHOLE,
    WORK,
    YEAR,
    Problem,
    check_table,
    each_day,
    odd_entry,
    partition_date,
    schema_diff,
    selected,
    widens,
)
from nkdash.lake.months import month_index
from nkdash.lake.writer import LakeWriter
from nkdash.processes import alive as process_alive

if TYPE_CHECKING:
    from nkdash.lake.layout import ProblemKind


class LakeScanner(LakeWriter):
    """The scan, quarantine and clean-up of a lake (see :class:`nkdash.lake.Lake`)."""

    def scan(
        self, tables: Iterable[str] | None = None, deep: bool = True, dates: Iterable[dt.date] | None = None
    ) -> list[Problem]:
        """Find what would make readers fail or lie. A writable lake first recovers killed writes.

        Shallow: directory structure and parquet footers (schema, readability). ``deep``
        also reads every page (page checksums verified) and compares each file's sha256 with
        its name. The reference schema is the table's (see :meth:`schema`). ``dates`` limits
        the fact partitions examined (dims and stray entries are always examined). Month
        files are also checked against their index (shallow: readable; deep: rows per date);
        their problems have ``date`` None (they concern every date of the month).
        """
        wanted = None if dates is None else set(dates)
        problems: list[Problem] = []
        for table in TABLES if tables is None else [check_table(t) for t in tables]:
            problems += self._scan_staging(table)
            problems += [p for p in self._layout_problems(table) if selected(p.date, wanted)]
            reference = self.schema(table) if table in PARTITIONED else None
            for f in self.data_files(table):
                if wanted is not None and f.dates and not wanted.intersection(f.dates):
                    continue
                problem = _check_file(f.path, reference, deep) or (_check_month(f.path, deep) if f.compacted else None)
                if problem and f.compacted:
                    assert f.first is not None and f.last is not None  # a month file spans its month
                    dates = f.dates or tuple(each_day(f.first, f.last))
                    problems.append(Problem(table, None, f.path, *problem, dates=dates))
                elif problem:
                    problems.append(Problem(table, f.dates[0] if f.dates else None, f.path, *problem))
        return problems

    def _scan_staging(self, table: str) -> list[Problem]:
        """Writable: recover killed writes. Read-only: report them (a live write is no problem)."""
        if not self.read_only:
            with self._locked(table, wait=False) as free:
                if free:
                    self._recover(table)
            return []
        if self._writer_active(table):
            return []
        leftovers = [p for p in list_paths(self.staging_dir / table) if p.name != LOCK_FILE]
        return [
            Problem(table, None, p, "temp", "left by a killed write; a writable scan, write or clean_temp recovers it")
            for p in leftovers
        ]

    def _writer_active(self, table: str) -> bool:
        """Whether a process holds the table's write lock (probed with a momentary shared lock)."""
        try:
            fd = os.open(self.staging_dir / table / LOCK_FILE, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _layout_problems(self, table: str) -> Iterator[Problem]:
        """Structure only (no file is opened): odd entries, empty or doubled partitions."""
        schema_file = self.table_dir(table) / SCHEMA_FILE
        if table in PARTITIONED and schema_file.exists() and _check_file(schema_file, None, deep=False):
            yield Problem(table, None, schema_file, "unreadable", "table schema file is damaged")
        daily: set[dt.date] = set()
        for entry in self._walk(table):
            if not entry.partition:
                yield odd_entry(table, None, entry.path)
                continue
            files = [f.path for f in entry.files]
            if entry.date is not None and files:
                daily.add(entry.date)
            if entry.month is not None and len(files) == 1:
                yield from self._doubled_dates(table, files[0], daily)
            if not files:
                yield Problem(table, entry.date, entry.path, "empty", "no data file")
            elif len(files) > 1:
                yield Problem(
                    table, entry.date, entry.path, "stray", f"{len(files)} data files: readers would union them"
                )
            for other in list_paths(entry.path):
                if other not in files and not other.name.startswith("_"):
                    yield odd_entry(table, entry.date, other)

    def _doubled_dates(self, table: str, month_file: Path, daily: set[dt.date]) -> Iterator[Problem]:
        """Dates both in a month file and in their own daily partition (readers see them twice)."""
        try:
            doubled = sorted(daily.intersection(month_index(month_file)))
        except LakeError:
            return  # reported by the file check
        for date in doubled:
            yield Problem(
                table,
                date,
                self.partition_dir(table, date),
                "stray",
                f"{date} is also in the month file {month_file.name}: readers see it twice (quarantine one of them)",
            )

    def quarantine(self, problem_or_path: Problem | Path) -> Path:
        """Move the partition (or dim table, or stray entry) at fault to ``_quarantine``.

        A partition is moved whole, so it is then missing and the next refresh rebuilds
        it; a month file's whole ``day=__HIVE_DEFAULT_PARTITION__`` directory goes, so every
        date it held is then missing. Returns the new location.
        """
        self._check_writable()
        path = problem_or_path.path if isinstance(problem_or_path, Problem) else Path(problem_or_path)
        table, target = self._quarantine_target(path.absolute())
        with self._locked(table):
            self._recover(table)
            if not target.exists():
                raise LakeError(f"nothing to quarantine at {target}", target)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            dest = self.quarantine_dir / table / stamp / target.relative_to(self.table_dir(table))
            makedirs(dest.parent)
            os.rename(target, dest)
            fsync_dir(target.parent)
            fsync_dir(dest.parent)
        return dest

    def _quarantine_target(self, path: Path) -> tuple[str, Path]:
        try:
            parts = path.relative_to(self.star).parts
        except ValueError:
            raise LakeError(f"{path} is not inside {self.star}", path) from None
        if not parts or parts[0] not in TABLES:
            raise LakeError(f"{path} is not inside a lake table", path)
        table, table_dir = parts[0], self.star / parts[0]
        if table in WHOLE:
            return table, table_dir
        if len(parts) >= 4 and (
            partition_date(*parts[1:4])
            or (YEAR.fullmatch(parts[1]) and MONTH.fullmatch(parts[2]) and parts[3] == COMPACT_DIR)
        ):
            return table, table_dir.joinpath(*parts[1:4])
        return table, path

    def temp_entries(self) -> list[Path]:
        """What :meth:`clean_temp` may remove or restore: ``_staging`` leftovers (also of
        writes in flight), work directories, temp-looking entries under ``star-schema``."""
        found = [p for table in TABLES for p in list_paths(self.staging_dir / table) if p.name != LOCK_FILE]
        found += [p for p in list_paths(self.staging_dir) if WORK.fullmatch(p.name)]
        found += [p.path for table in TABLES for p in self._layout_problems(table) if p.kind == "temp"]
        return found

    def clean_temp(self, older_than_s: float = 3600) -> list[Path]:
        """Remove leftovers of killed writes; returns what was removed or restored.

        ``_staging`` entries are handled by recovery at once (the table lock proves their
        writer dead; tables being written right now are skipped). Temp-looking entries
        under ``star-schema`` (dot files, ``*.tmp``, DuckDB's ``tmp_*``) come from other
        tools, so only those older than ``older_than_s`` are removed. Work directories
        (``_staging/_work-<pid>-*``) go once their process is gone.
        """
        self._check_writable()
        removed: list[Path] = []
        cutoff = time.time() - older_than_s
        for work in list_paths(self.staging_dir):
            m = WORK.fullmatch(work.name)
            if m and not process_alive(int(m["pid"])):
                remove_path(work)
                removed.append(work)
        for table in TABLES:
            with self._locked(table, wait=False) as free:
                if free:
                    removed += self._recover(table)
            for problem in self._layout_problems(table):
                if problem.kind == "temp" and problem.path.lstat().st_mtime < cutoff:
                    remove_path(problem.path)
                    removed.append(problem.path)
        return removed


def _check_file(path: Path, reference: pa.Schema | None, deep: bool) -> tuple[ProblemKind, str] | None:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        return "unreadable", str(e)
    if deep:
        named = DATA_FILE.fullmatch(path.name)
        digest, _ = sha256_of(path, sync=False)
        if named and not digest.startswith(named[1]):
            return "checksum", f"sha256 {digest[:16]} does not match the name it was written with"
        try:
            pq.ParquetFile(path, page_checksum_verification=True).read()
        except (OSError, pa.ArrowException) as e:
            return "unreadable", str(e)
    if reference is not None and not schema.equals(reference, check_metadata=False) and not widens(schema, reference):
        return "schema", schema_diff(reference, schema)  # (a file written before a column was added is sound)
    return None


def _check_month(path: Path, deep: bool) -> tuple[ProblemKind, str] | None:
    """A month file's index: readable, within the month of its directory; ``deep``: the
    rows of each date are what the index says."""
    try:
        index = month_index(path)
    except LakeError as e:
        return "unreadable", str(e)
    year, month = int(path.parent.parent.parent.name[5:]), int(path.parent.parent.name[6:])
    outside = [d for d in index if (d.year, d.month) != (year, month)]
    if outside:
        return "stray", f"its index holds dates outside {year:04d}-{month:02d}: {outside[:3]}"
    if deep:
        try:
            counts = pq.ParquetFile(path).read(columns=[DATE_COLUMN])[DATE_COLUMN].value_counts().to_pylist()
        except (OSError, pa.ArrowException) as e:
            return "unreadable", str(e)
        found = {c["values"]: c["counts"] for c in counts}
        expected = {d: e.rows for d, e in index.items() if e.rows}
        if found != expected:
            return "checksum", f"rows per date differ from the file's index ({len(found)} vs {len(expected)} dates)"
    return None
