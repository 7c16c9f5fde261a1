"""File-system helpers of the lake: durable mkdir/fsync, atomic exchange, hashing, and
directory listings taken at one instant (a directory swapped while listed is listed again)."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import NamedTuple, cast

from nkdash.errors import LakeError
from nkdash.lake.layout import LIST_ATTEMPTS, is_data_name


class Listed(NamedTuple):
    """One directory entry as listed (types and size read through the directory's descriptor)."""

    path: Path
    is_dir: bool
    is_file: bool
    size: int = 0


def list_data_files(directory: Path) -> list[Path]:
    return [f.path for f in list_entries(directory) if is_data(f)]


def is_data(entry: Listed) -> bool:
    return entry.is_file and is_data_name(entry.path.name)


def link_tree(src: Path, dst: Path) -> int:
    """Hard-link the file or tree ``src`` at ``dst`` (lake files are never modified in place,
    so a link is a copy); copies where linking is impossible (another filesystem). Returns
    the number of files."""
    if src.is_dir() and not src.is_symlink():
        dst.mkdir()
        return sum(link_tree(entry, dst / entry.name) for entry in list_paths(src))
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
        sha256_of(dst)  # fsync
    return 1


def fsync_tree(root: Path) -> None:
    for directory, _, _ in os.walk(root):
        fsync_dir(Path(directory))


def list_paths(directory: Path) -> list[Path]:
    return [e.path for e in list_entries(directory)]


def list_entries(directory: Path) -> list[Listed]:
    """The entries of ``directory`` (none if it is missing) as of one instant: see :func:`list_once`."""
    return list_once(directory) or []


def list_once(directory: Path) -> list[Listed] | None:
    """The entries of ``directory`` as it held them at one instant, sorted; None if missing.

    Lists through a descriptor, then keeps the listing only if ``directory`` still names the
    directory listed: otherwise a swap replaced it meanwhile, and the descriptor may have
    shown the old directory while the writer emptied it, so it lists again. (Committed
    directories never change in place, so an unchanged inode means an unchanged content.)
    """
    for _ in range(LIST_ATTEMPTS):
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            with os.scandir(fd) as it:
                found = [_listed(directory, e) for e in it]
            listed = os.fstat(fd)
        finally:
            os.close(fd)
        if same_dir(directory, listed) and None not in found:
            return sorted(cast(list[Listed], found))  # no None in it
    raise kept_changing(directory)


def _listed(directory: Path, entry: os.DirEntry) -> Listed | None:
    """``entry`` of a descriptor listing; None if it vanished meanwhile (list again)."""
    try:
        is_file = entry.is_file()
        return Listed(directory / entry.name, entry.is_dir(), is_file, entry.stat().st_size if is_file else 0)
    except FileNotFoundError:
        return None


def same_dir(directory: Path, listed: os.stat_result) -> bool:
    try:
        now = os.stat(directory)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (listed.st_dev, listed.st_ino)


def kept_changing(directory: Path) -> LakeError:
    gone = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(directory))
    error = LakeError(f"{directory} was replaced {LIST_ATTEMPTS} times while it was listed: list again", directory)
    error.__cause__ = gone
    return error


def sha256_of(path: Path, *, sync: bool = True) -> tuple[str, int]:
    """sha256 and size of a file; ``sync`` also flushes it to disk."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(f.fileno())
    return h.hexdigest(), size


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs(directory: Path) -> None:
    """``mkdir -p`` whose new entries survive a power loss (each new dir's parent fsynced)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_dir(d.parent)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


_libc = ctypes.CDLL(None, use_errno=True)


_renameat2 = getattr(_libc, "renameat2", None)


if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, touching nothing, where the kernel, filesystem or libc lacks it.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))
