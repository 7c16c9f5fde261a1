"""The crash-safe writer protocol: every change to the lake goes through :class:`LakeWriter`.

Atomic replacement, also under ``kill -9`` or power loss at any instant
------------------------------------------------------------------------
Writes of one table are serialised by an ``flock`` on ``_staging/<table>/.lock`` (released
by the kernel when the holder dies). Under the lock, a write goes through these states
(``F`` = final dir ``.../day=DD`` or ``star-schema/<dim>``, ``S`` = ``_staging/<table>``)::

    0. recover(S)                        finish whatever a killed writer left (see below)
    1. S/<key>.new-<tok>/  written       parquet file + fsync(file) + fsync(dir)
       facts only, if the table's schema is new (or allowed to change): write
       S/schema.tmp-<tok>, fsync, rename over <table>/_common_metadata, fsync
    2. swap, one of:
       a. F absent:   rename new -> F                                    (commit)
       b. F present:  renameat2(new, F, RENAME_EXCHANGE)                 (commit; F is never
                      absent, readers see old or new) -> S/<key>.new-<tok> now holds the old
       c. exchange unsupported by the filesystem:
                      rename F -> S/<key>.old-<tok>; rename new -> F      (commit)
    3. fsync(parent of F), fsync(S)
    4. remove the old copy left in S

The commit point is the rename that puts the new directory at ``F``. Recovery, run at the
start of every write/delete/quarantine of the table, by ``scan()`` and by ``clean_temp()``,
holds the table lock, so everything in ``S`` belongs to a dead writer, and applies:

    F exists                  -> every S/<key>.* is garbage: delete it.
    F missing, S/<key>.old-*  -> killed between the two renames of 2c: rename the newest
                                 .old back to F (roll back to the last committed state).
    F missing, no .old        -> the write never committed (or F was deleted by hand):
                                 delete S/<key>.new-*; the partition stays missing.
    (``.del-*`` entries of ``delete_partition`` and ``schema.tmp-*`` are always garbage.)

So after any crash a partition holds exactly the old or the new rows, never both, never
half; the only window where it can be absent is between the two renames of 2c on
filesystems without RENAME_EXCHANGE (ext4, xfs, btrfs and tmpfs have it), and the next
access restores it. Deleting a partition directory by hand stays a valid move: it is then
missing, and the next refresh rebuilds it.

Platform: Linux/Unix (``fcntl``, ``renameat2``); the lake root must be one filesystem.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from nkdash.errors import LakeError
from nkdash.lake.files import (
    exchange,
    fsync_dir,
    fsync_tree,
    link_tree,
    list_data_files,
    list_paths,
    makedirs,
    remove_path,
    sha256_of,
)
from nkdash.lake.layout import (
    COMPACT_DIR,
    COMPRESSION,
    LOCK_FILE,
    PARTITIONED,
    ROW_GROUP_ROWS,
    SCHEMA_FILE,
    STAGED,
    TABLES,
    WORK_PREFIX,
    Compaction,
    PartitionInfo,
    SchemaChange,
    check_date,
    check_fact_columns,
    check_partitioned,
    check_table_data,
    check_whole,
    month_span,
    partition_date,
    schema_diff,
    widens,
)
from nkdash.lake.months import day_source, month_index, month_source, write_month_file
from nkdash.lake.reader import LakeReader

if TYPE_CHECKING:
    from nkdash.lake import Lake
    from nkdash.lake.months import Source


class LakeWriter(LakeReader):
    """The crash-safe writer protocol (module docstring): writes, deletes, month rewrites, locks, recovery."""

    def write_partition(
        self, table: str, date: dt.date, data: pa.Table, *, allow_schema_change: SchemaChange = False
    ) -> PartitionInfo:
        """Atomically replace ``table``'s partition for ``date`` with ``data``.

        ``data`` must carry a ``date`` column (date32, every value == ``date``) and no
        year/month/day columns. Its parquet schema must equal the table's unless
        ``allow_schema_change`` (then it becomes the table's schema); ``"widen"`` allows only
        nullable columns added at the end (:func:`~nkdash.lake.layout.widens`: the partitions
        written before stay valid), which is what the ETL passes.
        """
        check_partitioned(table)
        check_date(date)
        check_fact_columns(data, date)
        return self._write(table, date, data, allow_schema_change)

    def write_whole(self, table: str, data: pa.Table, *, allow_schema_change: SchemaChange = False) -> PartitionInfo:
        """Atomically replace a whole-table dimension (``star-schema/<dim>/``)."""
        check_whole(table)
        return self._write(table, None, check_table_data(data), allow_schema_change)

    def delete_partition(self, table: str, date: dt.date) -> None:
        """Remove a partition atomically (no-op if absent); the next refresh rebuilds it.

        A date in a compacted month is removed by rewriting the month file without it.
        """
        self.delete_partitions(table, [date])

    def delete_partitions(self, table: str, dates: Iterable[dt.date]) -> None:
        """Remove the partitions of ``dates`` (absent ones are skipped), one atomic step per
        daily partition, or per month where a month file or several dates are involved."""
        check_partitioned(table)
        by_month: dict[tuple[int, int], set[dt.date]] = {}
        for date in dates:
            by_month.setdefault((check_date(date).year, date.month), set()).add(date)
        with self._locked(table):
            self._recover(table)
            for (year, month), days in sorted(by_month.items()):
                self._delete_in_month(table, year, month, days)

    def _delete_in_month(self, table: str, year: int, month: int, days: set[dt.date]) -> None:
        if len(days) > 1 or self._compact_file(table, year, month) is not None:
            self._rewrite_month(table, year, month, drop=days)
        else:
            self._delete_day(table, next(iter(days)))

    def _delete_day(self, table: str, date: dt.date) -> None:
        final = self.partition_dir(table, date)
        if final.exists():
            gone = self._staged(table, date.isoformat(), "del")
            os.rename(final, gone)
            fsync_dir(final.parent)
            fsync_dir(gone.parent)
            shutil.rmtree(gone)

    def _write(
        self, table: str, date: dt.date | None, data: pa.Table, allow_schema_change: SchemaChange
    ) -> PartitionInfo:
        self._check_writable()
        key = "whole" if date is None else date.isoformat()
        final = self._final_dir(table, date)
        with self._locked(table):
            self._recover(table)
            try:
                new = self._staged(table, key, "new")
                new.mkdir()
                path, digest, size = _write_parquet(_normalize(data), new)
                self._check_schema(table, pq.read_schema(path), allow_schema_change)
                if date is not None and self._compacted_file(table, date) is not None:
                    self._rewrite_month(table, date.year, date.month, add={date: new})
                else:
                    makedirs(final.parent)
                    self._swap_in(table, key, new, final)
            except BaseException:
                self._recover(table)  # back to the last committed state, staging emptied
                raise
        return PartitionInfo(table, date, final / path.name, data.num_rows, size, digest)

    def compact_month(self, table: str, year: int, month: int) -> Compaction | None:
        """Merge the month's daily partitions (and its month file, if any) into one month file.

        Returns None if there is nothing to merge (no daily partition: already compacted, or
        empty). Raises LakeError, changing nothing, if a daily partition is damaged in layout
        (several data files) or the month's files differ in schema (migrate them first).
        """
        self._check_writable()
        check_partitioned(table)
        with self._locked(table):
            self._recover(table)
            before = list(self.data_files(table, *month_span(year, month)))
            if not any(not f.compacted for f in before):
                return None
            path = self._rewrite_month(table, year, month, merge_days=True)
            assert path is not None  # a daily partition was merged into it
            index = month_index(path)
            return Compaction(
                table,
                f"{year:04d}-{month:02d}",
                len(index),
                sum(e.rows for e in index.values()),
                len(before),
                sum(f.bytes for f in before),
                path,
                path.stat().st_size,
            )

    def import_dates(self, source: LakeWriter, table: str, dates: Iterable[dt.date]) -> list[Path]:
        """Copy ``dates`` of ``table`` from the lake ``source`` into this one as compacted months
        (replacing those dates here, keeping the others); returns the month files written.

        Checksums travel with the rows (:meth:`info` reports the same here as in ``source``).
        This is how an archive (a lake of compacted months) receives old data.
        """
        self._check_writable()
        check_partitioned(table)
        by_month: dict[tuple[int, int], list[dt.date]] = {}
        for date in sorted(set(dates)):
            by_month.setdefault((date.year, date.month), []).append(date)
        written = []
        with self._locked(table):
            self._recover(table)
            for (year, month), days in sorted(by_month.items()):
                sources = [source._source(table, d) for d in days]
                written.append(self._rewrite_month(table, year, month, merge_days=True, extra=sources))
        return [p for p in written if p is not None]

    def move_dates(self, dest: Lake, table: str, dates: Iterable[dt.date]) -> list[Path]:
        """Move ``dates`` of ``table`` into the lake ``dest`` as compacted months (see
        :meth:`import_dates`), then remove them here, all under this table's lock: a write
        of one of those dates waits, so nothing written meanwhile is lost. Each date is
        checked in ``dest`` (rows and checksum) before it is removed here."""
        self._check_writable()
        days = sorted(set(dates))
        with self._locked(table):
            self._recover(table)
            written = dest.import_dates(self, table, days)
            for day in days:
                here, there = self.info(table, day), dest.info(table, day)
                if (here.rows, here.checksum) != (there.rows, there.checksum):
                    raise LakeError(f"{table} {day}: the copy in {dest.root} differs; nothing removed", day)
            by_month: dict[tuple[int, int], set[dt.date]] = {}
            for day in days:
                by_month.setdefault((day.year, day.month), set()).add(day)
            for (year, month), month_days in sorted(by_month.items()):
                self._delete_in_month(table, year, month, month_days)
        return written

    def _source(self, table: str, date: dt.date) -> Source:
        """Where ``date``'s rows are, as a month-file source (raises LakeError if absent)."""
        day_file = list_data_files(self.partition_dir(table, date))
        if day_file:
            return day_source(self._data_file(self.partition_dir(table, date)), date)
        month_file = self._compacted_file(table, date)
        if month_file is None:
            raise LakeError(f"{table} has no partition for {date}", date)
        return month_source(month_file, date)

    def _rewrite_month(
        self,
        table: str,
        year: int,
        month: int,
        *,
        drop: Iterable[dt.date] = (),
        add: Mapping[dt.date, Path] | None = None,
        merge_days: bool = False,
        extra: Sequence[Source] = (),
    ) -> Path | None:
        """Replace the month's directory, in one swap, by one where: the dates of ``drop``,
        ``add`` and ``extra`` are gone from the month file and their daily partitions;
        ``add`` (staged partition dirs) become daily partitions; ``extra`` rows join the month
        file; with ``merge_days`` every other daily partition joins it too, else it is kept
        (hard-linked). Returns the new month file (None if the month holds no month file).
        Caller holds the table lock.
        """
        add = dict(add or {})
        final = self.month_dir(table, year, month)
        if not final.exists() and not add and not extra:
            return None
        replaced = set(drop) | set(add) | {s.entry.date for s in extra}
        new = self._staged(table, f"{year:04d}-{month:02d}", "new")
        new.mkdir()
        sources = list(extra)
        for entry in list_paths(final):
            if entry.name == COMPACT_DIR:
                sources += self._month_sources(entry, replaced, new / COMPACT_DIR)
                continue
            date = partition_date(final.parent.name, final.name, entry.name) if entry.is_dir() else None
            if date is not None and date in replaced:
                continue
            if date is not None and merge_days:
                files = list_data_files(entry)
                if len(files) > 1 or len(files) < len(list_paths(entry)):
                    raise LakeError(f"{entry.relative_to(self.star)} holds more than its data file (run scan)", entry)
                sources += [day_source(f, date) for f in files]
            else:
                link_tree(entry, new / entry.name)
        path = None
        if sources:
            makedirs(new / COMPACT_DIR)
            path, _, _ = write_month_file(new / COMPACT_DIR, sources, self.compression_level)
        for date, staged in sorted(add.items()):
            os.rename(staged, new / f"day={date.day:02d}")
        fsync_tree(new)
        makedirs(final.parent)
        self._swap_in(table, f"{year:04d}-{month:02d}", new, final)
        if not list_paths(final):
            final.rmdir()
            fsync_dir(final.parent)
        return None if path is None else final / COMPACT_DIR / path.name

    def _month_sources(self, compact_dir: Path, replaced: set[dt.date], new_dir: Path) -> list[Source]:
        """The dates of a month file not in ``replaced``; odd entries beside it are kept."""
        files = list_data_files(compact_dir)
        if len(files) > 1:
            raise LakeError(f"{compact_dir.relative_to(self.star)} has {len(files)} data files (run scan)", compact_dir)
        for other in list_paths(compact_dir):
            if other not in files:
                makedirs(new_dir)
                link_tree(other, new_dir / other.name)
        if not files:
            return []
        return [month_source(files[0], d) for d in month_index(files[0]) if d not in replaced]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Hold every table's write lock (killed writes recovered): nothing under
        ``star-schema`` changes meanwhile. Writers wait; hold it briefly."""
        self._check_writable()
        with ExitStack() as stack:
            for table in sorted(TABLES):
                stack.enter_context(self._locked(table))
                self._recover(table)
            self._frozen += 1
            try:
                yield
            finally:
                self._frozen -= 1

    def work_dir(self, purpose: str) -> Path:
        """A new private directory in ``_staging`` (same filesystem as ``star-schema``), for
        snapshots and restores; removed by the caller, or by :meth:`clean_temp` once its
        process is gone."""
        self._check_writable()
        path = self.staging_dir / f"{WORK_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}" / purpose
        makedirs(path)
        return path

    def replace_star(self, new_star: Path, keep_old_in: Path) -> None:
        """Make ``new_star`` (a directory in :meth:`work_dir`) the lake's ``star-schema`` in one
        swap, moving the previous one to ``keep_old_in``. Only inside :meth:`frozen`."""
        if not self._frozen:
            raise LakeError("replace_star needs the lake frozen (with lake.frozen(): ...)", self.root)
        if new_star.stat().st_dev != self.star.stat().st_dev:
            raise LakeError(f"{new_star} is not on the lake's filesystem", new_star)
        makedirs(keep_old_in.parent)
        if exchange(new_star, self.star):
            os.rename(new_star, keep_old_in)
        else:
            os.rename(self.star, keep_old_in)
            os.rename(new_star, self.star)
        fsync_dir(self.root)
        fsync_dir(keep_old_in.parent)
        fsync_dir(new_star.parent)

    def _check_schema(self, table: str, schema: pa.Schema, allow_change: SchemaChange) -> None:
        """Refuse a schema change unless allowed; keep ``_common_metadata`` of facts current.

        Compares schemas as stored in parquet (e.g. timestamp[s] is stored as [ms]).
        """
        current = self.schema(table)
        same = current is not None and current.equals(schema, check_metadata=False)
        if allow_change == "widen" and current is not None and not same and widens(schema, current):
            return  # written before columns were added (an older process): sound, the table keeps its schema
        if allow_change == "widen":
            allow_change = current is not None and widens(current, schema)
        if current is not None and not same and not allow_change:
            raise LakeError(
                f"{table}: schema differs from the table's (pass allow_schema_change=True "
                f"to migrate):\n{schema_diff(current, schema)}",
                self.table_dir(table),
            )
        if table in PARTITIONED and not (same and (self.table_dir(table) / SCHEMA_FILE).is_file()):
            self._record_schema(table, schema)

    def _record_schema(self, table: str, schema: pa.Schema) -> None:
        tmp = self._staged(table, "schema", "tmp")
        pq.write_metadata(schema, tmp)
        sha256_of(tmp)  # fsync
        makedirs(self.table_dir(table))
        os.rename(tmp, self.table_dir(table) / SCHEMA_FILE)
        fsync_dir(self.table_dir(table))

    def _swap_in(self, table: str, key: str, new: Path, final: Path) -> None:
        """Steps 2-4 of the module docstring: make ``new`` the content of ``final``."""
        if not final.exists():
            os.rename(new, final)
            leftover = None
        elif exchange(new, final):
            leftover = new
        else:
            leftover = self._staged(table, key, "old")
            os.rename(final, leftover)
            os.rename(new, final)
        fsync_dir(final.parent)
        fsync_dir(new.parent)
        if leftover is not None:
            shutil.rmtree(leftover)

    def _recover(self, table: str) -> list[Path]:
        """Finish what killed writers left in ``_staging/<table>`` (caller holds the lock)."""
        staging = self.staging_dir / table
        entries = sorted(p for p in staging.iterdir() if p.name != LOCK_FILE) if staging.is_dir() else []
        touched = []
        for old in reversed(entries):  # newest first: restore at most one .old per key
            m = STAGED.fullmatch(old.name)
            if m and m["kind"] == "old" and m["key"] != "schema":
                final = self._key_dir(table, m["key"])
                if not final.exists():
                    makedirs(final.parent)
                    os.rename(old, final)
                    fsync_dir(final.parent)
                    touched.append(final)
        for leftover in entries:
            if leftover.exists() and leftover not in touched:
                remove_path(leftover)
                touched.append(leftover)
        if touched:
            fsync_dir(staging)
        return touched

    @contextmanager
    def _locked(self, table: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the table's write lock; yields False (not held) if ``wait=False`` and busy."""
        self._check_writable()
        staging = self.staging_dir / table
        makedirs(staging)
        fd = os.open(staging / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _staged(self, table: str, key: str, kind: str) -> Path:
        token = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return self.staging_dir / table / f"{key}.{kind}-{token}"


def _normalize(data: pa.Table) -> pa.Table:
    """Drop table-level metadata (e.g. pandas' index info) and chunking: checksums then
    depend on the rows alone."""
    return data.replace_schema_metadata(None).combine_chunks()


def _write_parquet(data: pa.Table, directory: Path) -> tuple[Path, str, int]:
    """Write ``data`` as ``directory/part-<sha>.parquet``, durably; returns (path, sha256, size)."""
    tmp = directory / "part.tmp"
    pq.write_table(
        data,
        tmp,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=True,
        write_page_checksum=True,
    )
    digest, size = sha256_of(tmp)
    path = directory / f"part-{digest[:16]}.parquet"
    os.rename(tmp, path)
    fsync_dir(directory)
    return path, digest, size
