"""Pinned reads: data files held open by the readers that listed them."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from nkdash.errors import LakeError


class _Pins:
    """Data files held open by the readers that listed them: path -> [descriptor, holders]."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[int]] = {}

    @contextmanager
    def __call__(self, paths: Iterable[Path | str]) -> Iterator[None]:
        _raise_open_file_limit()  # once: only readers that pin files need the higher limit
        taken: list[str] = []
        try:
            for path in dict.fromkeys(map(str, paths)):
                self._take(path)
                taken.append(path)
            yield
        finally:
            for path in taken:
                self._drop(path)

    def _take(self, path: str) -> None:
        with self._lock:
            if path in self._held:
                self._held[path][1] += 1
                return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as e:
            raise LakeError(f"{path} vanished before it was read (a write replaced it): list again", Path(path)) from e
        with self._lock:
            held = self._held.setdefault(path, [fd, 0])
            held[1] += 1
        if held[0] != fd:  # another reader pinned it meanwhile (same name: same bytes)
            os.close(fd)

    def _drop(self, path: str) -> None:
        with self._lock:
            held = self._held[path]
            held[1] -= 1
            if not held[1]:
                del self._held[path]
                os.close(held[0])

    def resolve(self, path: str) -> str:
        """Where to open ``path``: its pinned descriptor (Linux), else the path itself.
        Call with the lock held, and open before releasing it."""
        held = self._held.get(path)
        return f"/proc/self/fd/{held[0]}" if held is not None and _PROC_FD else path

    def __len__(self) -> int:
        return len(self._held)


_PROC_FD = os.path.isdir("/proc/self/fd")


@functools.cache
def _raise_open_file_limit(wanted: int = 65536) -> None:
    """A query over a long range pins one descriptor per file it reads (1,096 daily files
    for 3 years of one table): lift the soft limit (often 1,024) towards the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: keep the limit
        pass


_PINS = _Pins()


_LOCAL_FS = pafs.LocalFileSystem()


def pinned(paths: Iterable[Path | str]) -> contextlib.AbstractContextManager[None]:
    """Hold the data files ``paths`` (just listed) open for the duration of the ``with``:
    reads through :data:`LAKE_FS` then get exactly those files, even if a writer swaps them
    out meanwhile. Raises LakeError (``swapped_out``) if one is already gone: list again."""
    return _PINS(paths)


class _PinnedFiles(pafs.FileSystemHandler):
    """The local filesystem, read-only, where a pinned path opens its pinned file."""

    def get_type_name(self) -> str:
        return "nkdash-lake"

    def equals(self, other: object) -> bool:
        return isinstance(other, _PinnedFiles)

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        infos = []
        for path in paths:
            with _PINS._lock:
                info = _LOCAL_FS.get_file_info(_PINS.resolve(path))
            infos.append(pafs.FileInfo(path, info.type, mtime_ns=info.mtime_ns, size=info.size))
        return infos

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        infos: list[pafs.FileInfo] = _LOCAL_FS.get_file_info(selector)
        return infos

    def open_input_file(self, path: str) -> pa.NativeFile:
        with _PINS._lock:
            return _LOCAL_FS.open_input_file(_PINS.resolve(path))

    def open_input_stream(self, path: str) -> pa.NativeFile:
        with _PINS._lock:
            return _LOCAL_FS.open_input_stream(_PINS.resolve(path))

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "the lake is read through a read-only filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


LAKE_FS = pafs.PyFileSystem(_PinnedFiles())


"""A read-only pyarrow filesystem over the local one that opens :func:`pinned` files through
their descriptors (unpinned paths open normally)."""
