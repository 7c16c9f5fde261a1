"""A full disk or a read-only lake: the write fails cleanly (an error, one line on the
command line, no traceback), the old partition stays as it was, nothing half-written is
left; once the disk has room again, the same write succeeds.

The disk is a small tmpfs mounted for the test (we are root here and in CI). Where mounting
is not allowed, a full disk is simulated at the lowest level the lake writes through, and
a read-only lake by ``chattr +i`` (the kernel refuses root too; chmod would not).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import nkdash.lake.writer as lake_module
from nkdash.lake import Lake
from tests.support.demo import DATES, TZ
from tests.support.lake import copy_lake, dim, fact, lake_checksums, tree_digest

pytestmark = pytest.mark.faults
D = dt.date(2024, 3, 1)


def _run(*cmd: str) -> bool:
    if cmd[0] == "mount" and os.environ.get("NKDASH_FAULTS_NO_MOUNT"):  # try the fallbacks
        return False
    return subprocess.run(cmd, capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(where: Path, size: str, monkeypatch) -> Iterator[str]:
    """A tmpfs of ``size`` at ``where``; yields "tmpfs", or "simulated" if it cannot be
    mounted (then :func:`fill` makes the lake's parquet writes fail with ENOSPC)."""
    where.mkdir(parents=True, exist_ok=True)
    if _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)):
        try:
            yield "tmpfs"
        finally:
            _run("umount", "-l", str(where))
    else:
        monkeypatch.setattr(lake_module, "_disk_full", False, raising=False)
        write = lake_module._write_parquet

        def full(data, directory):
            if lake_module._disk_full:  # half a file, then ENOSPC: what a full disk does
                (directory / "part.tmp").write_bytes(b"PAR1" + bytes(100))
                raise OSError(errno.ENOSPC, "No space left on device")
            return write(data, directory)

        monkeypatch.setattr(lake_module, "_write_parquet", full)
        yield "simulated"


def fill(where: Path, how: str) -> Path:
    """Use up every free byte of the disk at ``where``; returns the filler (delete it to free)."""
    filler = where / "filler"
    if how == "simulated":
        lake_module._disk_full = True
        filler.write_bytes(b"")
        return filler
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    return filler


def free(filler: Path) -> None:
    filler.unlink()
    lake_module.__dict__["_disk_full"] = False


@contextlib.contextmanager
def read_only(root: Path) -> Iterator[tuple[Path, str]]:
    """``root`` seen read-only: a read-only bind mount (yields its path), else ``root``
    itself made immutable with ``chattr +i``."""
    view = root.with_name(root.name + "-ro")
    view.mkdir()
    if _run("mount", "--bind", str(root), str(view)) and _run("mount", "-o", "remount,bind,ro", str(view)):
        try:
            yield view, "ro-bind-mount"
        finally:
            _run("umount", "-l", str(view))
        return
    _run("umount", "-l", str(view))
    paths = [str(p) for p in [root, *root.rglob("*")]]
    assert _run("chattr", "+i", *paths), "neither a read-only bind mount nor chattr +i is possible here"
    try:
        yield root, "chattr+i"
    finally:
        _run("chattr", "-i", *paths)


def staged(lake: Lake) -> list[str]:
    return sorted(p.name for d in lake.staging_dir.iterdir() for p in d.iterdir() if p.name != ".lock")


@pytest.mark.parametrize("table", ["fact_pos_sales", "dim_product"])
def test_a_write_on_a_full_disk_fails_cleanly_and_the_old_partition_stays(tmp_path, monkeypatch, tally, table):
    with small_disk(tmp_path / "disk", "2m", monkeypatch) as how:
        lake = Lake(tmp_path / "disk" / "lake")
        write = (
            (lambda data: lake.write_whole(table, data))
            if table.startswith("dim_")
            else (lambda data: lake.write_partition(table, D, data))
        )
        old_data, new_data = (
            (dim(100), dim(60_000)) if table.startswith("dim_") else (fact(D, 1000, 1), fact(D, 60_000, 2))
        )
        old = write(old_data)
        filler = fill(tmp_path / "disk", how)
        with pytest.raises(OSError) as failed:
            write(new_data)
        assert failed.value.errno == errno.ENOSPC or "No space left" in str(failed.value)
        date = None if table.startswith("dim_") else D
        assert lake.info(table, date).checksum == old.checksum
        assert (lake.read_whole(table) if date is None else lake.read_partition(table, date)).equals(old_data)
        assert staged(lake) == [] and lake.scan(deep=True) == []
        free(filler)
        new = write(new_data)
        assert lake.info(table, date).checksum == new.checksum != old.checksum
    tally(cases=1, **{f"disk_{how}": 1})


def test_etl_on_a_full_disk_fails_in_one_line_and_loses_nothing(loaded_lake, tmp_path, monkeypatch, cli, tally):
    """``nkdash refresh`` with the lake (and its metadata store) on a full disk: exit 1, one
    line, no traceback; every partition as it was. With room again the same command works."""
    source = loaded_lake(17)
    with small_disk(tmp_path / "disk", "8m", monkeypatch) as how:
        settings = source.with_(lake=copy_lake(source.lake, tmp_path / "disk" / "lake"), tz=TZ)
        before = lake_checksums(settings.lake)
        star = tree_digest(Path(settings.lake) / "star-schema")
        filler = fill(tmp_path / "disk", how)
        code, out, err = cli(settings, "refresh", "pos", "--start-date", str(DATES[0]), "--end-date", str(DATES[1]))
        assert code == 1 and "Traceback" not in out + err
        assert "No space left on device" in out + err or "disk" in err
        if how == "tmpfs":
            assert out == "" and err.count("\n") == 1 and err.startswith("nkdash: error: ")
        assert tree_digest(Path(settings.lake) / "star-schema") == star
        free(filler)
        assert Lake(settings.lake).scan(deep=True) == []
        code, out, err = cli(settings, "refresh", "pos", "--start-date", str(DATES[0]), "--end-date", str(DATES[1]))
        assert code == 0, err
        assert lake_checksums(settings.lake) == before
    tally(cases=1, **{f"disk_{how}": 1})


def test_a_read_only_lake_refuses_writes_cleanly(loaded_lake, tmp_path, cli, tally):
    """Lake writes, quarantine, and ``nkdash refresh`` on a read-only lake: an error (one
    line on the command line), every byte of the lake as it was."""
    source = loaded_lake(17)
    root = copy_lake(source.lake, tmp_path / "lake")
    before = tree_digest(root)
    checksums = lake_checksums(root)
    with read_only(root) as (view, how):
        lake = Lake(view)
        for attempt in (
            lambda: lake.write_partition("fact_pos_sales", DATES[0], fact(DATES[0])),
            lambda: lake.write_whole("dim_store", dim()),
            lambda: lake.delete_partition("fact_sales", DATES[1]),
            lambda: lake.quarantine(lake.partition_dir("fact_sales", DATES[1])),
        ):
            with pytest.raises(OSError) as failed:
                attempt()
            assert failed.value.errno in (errno.EROFS, errno.EPERM, errno.EACCES)
        code, out, err = cli(source.with_(lake=view, tz=TZ), "refresh", "pos", "--date", str(DATES[0]))
        assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
        assert lake_checksums(view) == checksums
    assert tree_digest(root) == before
    tally(cases=5, **{f"read_only_{how}": 1})
