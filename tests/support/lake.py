"""Lakes for tests: small fact and dimension tables, the kill -9 writer harness, checksums
and digests of a lake's files."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa

import nkdash
from nkdash.lake import Lake

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
KILL_TRIALS = int(os.environ.get("NKDASH_KILL_TRIALS", "20"))


def fact(date: dt.date, n: int = 100, seed: int = 1) -> pa.Table:
    return pa.table(
        {
            "date": pa.array([date] * n, pa.date32()),
            "line_id": pa.array(range(n), pa.int64()),
            "revenue": pa.array([(i * seed) % 97 / 4 for i in range(n)], pa.float64()),
            "ref": pa.array([f"POS/{seed}/{i}" for i in range(n)]),
        }
    )


def dim(n: int = 10) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "name": [f"p{i}" for i in range(n)]})


def staged(lake: Lake, table: str = "fact_pos_sales") -> list[str]:
    return sorted(p.name for p in (lake.staging_dir / table).iterdir() if p.name != ".lock")


def lake_checksums(root: Path) -> dict[tuple[str, str], str]:
    """``{(table, date or ''): sha256}`` of every data file, as :meth:`Lake.info` reports it."""
    lake = Lake(root, read_only=True)
    return {
        (f.table, str(d) if (d := (f.dates[0] if f.dates else None)) else ""): lake.info(f.table, d).checksum
        for f in lake.data_files()
    }


def tree_digest(*roots: Path) -> dict[str, str]:
    """Every file and directory under ``roots`` -> sha256 of its bytes (``dir`` for a directory).

    SQLite's shared-memory index (``-shm``) is left out: readers map it, it holds no data.
    """
    out = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = "absent"
            continue
        for path in sorted(root.rglob("*")):
            if path.name.endswith("-shm"):
                continue
            out[str(path)] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def copy_lake(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*-shm"))  # the WAL holds data
    return target


# ---- atomicity under kill -9 ----------------------------------------------------------------

WRITER = textwrap.dedent("""
    # Forks one lake writer per request line "root mode rows crash_at": pyarrow is imported
    # once here, unused before the fork, so each writer starts in milliseconds.
    import datetime as dt, os, signal, sys
    import pyarrow as pa
    import pyarrow.parquet
    import nkdash.lake.writer as lake_mod

    DATE = dt.date(2024, 3, 1)

    def version(rows, seed):  # == tests.support.lake.fact(DATE, rows, seed)
        return pa.table({"date": pa.array([DATE] * rows, pa.date32()),
                         "line_id": pa.array(range(rows), pa.int64()),
                         "revenue": pa.array([(i * seed) % 97 / 4 for i in range(rows)], pa.float64()),
                         "ref": pa.array([f"POS/{seed}/{i}" for i in range(rows)])})

    def say(*words):
        # one write per line: with PYTHONUNBUFFERED (xdist sets it) print() writes its pieces
        # separately, and a forked writer's line could land between them
        os.write(1, (" ".join(map(str, words)) + "\\n").encode())

    def crash_before_call(number):
        # SIGKILL ourselves just before the number-th filesystem call; returns the call counter.
        calls = [0]
        def hooked(fn):
            def call(*args, **kwargs):
                calls[0] += 1
                if calls[0] == number:
                    os.kill(os.getpid(), signal.SIGKILL)
                return fn(*args, **kwargs)
            return call
        for name in ("rename", "fsync", "mkdir", "unlink", "rmdir"):
            setattr(os, name, hooked(getattr(os, name)))
        lake_mod.exchange = hooked(lake_mod.exchange)
        return calls

    def writer(root, mode, rows, crash_at):
        lake = lake_mod.LakeWriter(root)
        versions = [version(rows, seed) for seed in (2, 1)]
        if mode == "fallback":
            lake_mod.exchange = lambda a, b: False
        if crash_at:
            calls = crash_before_call(crash_at)
            lake.write_partition("fact_pos_sales", DATE, versions[0])
            say("calls", calls[0])
            return
        say("ready")
        for i in range(10**9):
            lake.write_partition("fact_pos_sales", DATE, versions[i % 2])

    # warm pyarrow's lazy initialisation up once, before forking (saves ~0.5 s per writer)
    pa.parquet.write_table(version(10, 1), pa.BufferOutputStream(), compression="zstd")
    for line in sys.stdin:
        root, mode, rows, crash_at = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                writer(root, mode, int(rows), int(crash_at))
            except BaseException as exc:  # say so: the test must not wait for a line that never comes
                say("error", type(exc).__name__, str(exc).replace("\\n", " "))
                os._exit(70)
            os._exit(0)
        say("pid", pid)
        say("status", os.waitpid(pid, 0)[1])
""")


class Writers:
    """Drives the WRITER helper: start a writer, wait for a line, kill it, collect its fate."""

    def __init__(self, tmp_path: Path):
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        env = {**os.environ, "PYTHONPATH": str(Path(nkdash.__file__).parents[1])}
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.backlog: list[str] = []  # lines read while waiting for another tag

    def start(self, root: Path, mode: str, rows: int, crash_at: int = 0) -> int:
        self.proc.stdin.write(f"{root} {mode} {rows} {crash_at}\n")
        self.proc.stdin.flush()
        return int(self.expect("pid"))

    def expect(self, tag: str) -> str:
        # a writer's "ready" may come before the helper's "pid" line: keep what is not asked yet
        for line in self.backlog:
            if line.split()[0] == tag:
                self.backlog.remove(line)
                return line.partition(" ")[2].strip()
        while line := self.proc.stdout.readline():
            if line.split()[0] == "error":
                raise AssertionError(f"the writer failed: {line}")
            if line.split()[0] == tag:
                return line.partition(" ")[2].strip()
            self.backlog.append(line)
        raise AssertionError(f"writer helper ended before {tag!r}")

    def killed(self) -> bool:
        status = int(self.expect("status"))
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def checksums(tmp_path: Path, rows: int) -> set[str]:
    scratch = Lake(tmp_path / "scratch")
    return {scratch.write_partition("fact_pos_sales", D1, fact(D1, rows, seed)).checksum for seed in (1, 2)}


def assert_old_or_new(root: Path, known: set[str], *, may_be_missing: bool, rows: int) -> None:
    """Check the partition before and after recovery, then that writing still works.

    Before recovery the partition may only be absent if it never existed, or in the fallback
    swap's window between its two renames (then the old copy waits in staging as ``.old``).
    """
    reader = Lake(root, read_only=True)
    if reader.has_partition("fact_pos_sales", D1):
        assert reader.info("fact_pos_sales", D1).checksum in known
    else:
        assert may_be_missing or any(".old-" in p.path.name for p in reader.scan(["fact_pos_sales"]))
    lake = Lake(root)
    lake.clean_temp()
    assert staged(lake) == [] and lake.scan(["fact_pos_sales"]) == []
    if lake.has_partition("fact_pos_sales", D1):
        assert lake.info("fact_pos_sales", D1).checksum in known
        glob = f"{lake.table_dir('fact_pos_sales')}/**/*.parquet"
        assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall() == [(rows,)]
    else:
        assert may_be_missing
    assert lake.write_partition("fact_pos_sales", D1, fact(D1, rows, 1)).checksum in known
