"""The lake's data files for a date range, listed from directories cached by their mtime.

:meth:`Lake.data_files` walks every ``year=/month=/day=`` directory and stats every file:
about 80 ms for the 1,096 days of a 3-year table. :class:`Listing` answers the same
(``DataFile`` for ``DataFile``) but keeps each directory's entries until the directory's
mtime (or inode) changes: adding, replacing (a new, content-addressed file name), deleting
or quarantining a partition changes the mtime of the directory it happens in, and a
directory the lake swaps in whole (a partition, a month) is a new inode, so a listing costs
one ``stat`` per month and per day directory in range. With the old months compacted (one
month file each, what the nightly compaction keeps), that is ~2 per month plus the recent
days.

An mtime only moves at the file system's timestamp granularity: an entry listed within
:data:`RACY_S` of its directory's mtime is not trusted (listed again next time), so a
change in the same clock tick as the listing is never missed.

Writers swap directories in whole and then empty the old one (see :mod:`nkdash.lake`,
"Readers during swaps"). A directory is therefore read through a descriptor, and its
listing kept only if the path still names that same, unchanged directory afterwards; a
month's days are listed again if the month directory was swapped meanwhile (compaction).
A listing is the old or the new file set, never a half-emptied one.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path
from typing import cast

from nkdash.errors import LakeError
from nkdash.lake.layout import COMPACT_DIR, LIST_ATTEMPTS, WHOLE, DataFile, is_data_name, month_span
from nkdash.lake.months import month_file
from nkdash.lake.reader import LakeReader

RACY_S = 0.1


class Listing:
    """Cached :meth:`Lake.data_files` of one lake (thread-safe)."""

    def __init__(self, lake: LakeReader):
        self.lake = lake
        self._dirs: dict[tuple[str, bool], tuple[tuple[int, int], tuple]] = {}  # (dir, files?) -> (version, entries)
        self._lock = threading.Lock()

    def data_files(self, table: str, start: dt.date | None = None, end: dt.date | None = None) -> tuple[DataFile, ...]:
        """What ``Lake.data_files(table, start, end)`` returns, as a tuple."""
        base = str(self.lake.table_dir(table))
        if table in WHOLE:
            return self._files(base, table, None)
        lo, hi = start or dt.date.min, end or dt.date.max
        out = []
        for year_name in self._names(base):
            if not (year_name.startswith("year=") and year_name[5:].isdigit() and len(year_name) == 9):
                continue
            year = int(year_name[5:])
            if not lo.year <= year <= hi.year:
                continue
            for month_name in self._names(f"{base}/{year_name}"):
                if not (month_name.startswith("month=") and month_name[6:].isdigit() and len(month_name) == 8):
                    continue
                month = int(month_name[6:])
                if not 1 <= month <= 12:
                    continue
                first, last = month_span(year, month)
                if last < lo or first > hi:
                    continue
                out += self._month(table, f"{base}/{year_name}/{month_name}", first, last, lo, hi)
        out.sort(key=lambda f: cast(dt.date, f.first))  # stable: a day's files stay in name order; facts: dated
        return tuple(out)

    def _month(
        self, table: str, month_dir: str, first: dt.date, last: dt.date, lo: dt.date, hi: dt.date
    ) -> list[DataFile]:
        """The files of one month directory in ``lo..hi``: listed again if the month was
        swapped (compacted, a compacted date rewritten) while its days were listed."""
        for _ in range(LIST_ATTEMPTS):
            version, names = self._entries(month_dir, None, None, files=False)
            out = []
            for day_name in names:
                if day_name == COMPACT_DIR:
                    out += self._month_files(table, f"{month_dir}/{day_name}", first, last, lo, hi)
                    continue
                if not (day_name.startswith("day=") and day_name[4:].isdigit() and len(day_name) == 6):
                    continue
                try:
                    date = first.replace(day=int(day_name[4:]))
                except ValueError:
                    continue
                if lo <= date <= hi:
                    out += self._files(f"{month_dir}/{day_name}", table, date)
            if _version(month_dir) == version:
                return out
        raise LakeError(f"{month_dir} kept changing while it was listed", Path(month_dir))

    def _month_files(
        self, table: str, directory: str, first: dt.date, last: dt.date, lo: dt.date, hi: dt.date
    ) -> list[DataFile]:
        month_files = (
            month_file(table, f.path, f.bytes, first.year, first.month) for f in self._files(directory, table, None)
        )
        return [f for f in month_files if f.first is not None and f.last is not None and f.first <= hi and f.last >= lo]

    def _names(self, directory: str) -> tuple[str, ...]:
        """Names of the sub-directories (and the odd entries) of ``directory``."""
        return self._entries(directory, None, None, files=False)[1]

    def _files(self, directory: str, table: str, date: dt.date | None) -> tuple[DataFile, ...]:
        """The data files in ``directory`` (as the lake counts them) of ``table`` at ``date``."""
        return self._entries(directory, table, date, files=True)[1]

    def _entries(
        self, directory: str, table: str | None, date: dt.date | None, files: bool
    ) -> tuple[tuple[int, int] | None, tuple]:
        """(version, entries) of ``directory``: from the cache while its (mtime, inode) is
        unchanged, else read through a descriptor and kept only if the path still names the
        same unchanged directory afterwards (else a writer swapped it: read again)."""
        key = (directory, files)
        for _ in range(LIST_ATTEMPTS):
            version = _version(directory)
            if version is None:
                return None, ()
            cached = self._dirs.get(key)
            if cached is not None and cached[0] == version:
                return cached
            listed_at = time.time_ns()
            try:
                value = _read_dir(directory, version, table, date, files)
            except (FileNotFoundError, NotADirectoryError, _Swapped):
                continue
            if _version(directory) != version:
                continue
            if listed_at - version[0] > RACY_S * 1e9:
                with self._lock:
                    self._dirs[key] = (version, value)
            return version, value
        raise LakeError(f"{directory} kept changing while it was listed", Path(directory))


class _Swapped(Exception):
    """The directory opened is not the one stat'ed: a writer swapped it in between."""


def _version(directory: str) -> tuple[int, int] | None:
    """(mtime, inode) of ``directory``; None if it does not exist."""
    try:
        st = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_mtime_ns, st.st_ino


def _read_dir(directory: str, version: tuple[int, int], table: str | None, date: dt.date | None, files: bool) -> tuple:
    """The entries of ``directory`` read through one descriptor (of the inode ``version``
    names); raises FileNotFoundError if an entry vanishes meanwhile (a writer emptying it)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_ino != version[1]:
            raise _Swapped(directory)
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        if not files:
            return tuple(e.name for e in entries)
        assert table is not None  # files are listed for a table
        found = []
        for e in entries:
            name = e.name
            if is_data_name(name) and e.is_file():
                size = os.stat(name, dir_fd=fd).st_size
                found.append(
                    DataFile(
                        table,
                        Path(directory) / name,
                        size,
                        () if date is None else (date,),
                        date,
                        date,
                    )
                )
        return tuple(found)
    finally:
        os.close(fd)
