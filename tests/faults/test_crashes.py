"""Crashes: kill -9 at random moments of partition writes and of real ETL runs.

After every kill each partition holds its old or its new content (by checksum), never half,
never both; the lake scans clean once recovered; the next run completes the work, and the
lake then equals a clean run's, partition by partition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nkdash.demo import start_demo
from nkdash.etl import plan, refresh
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from tests.support.demo import DATED, DATES, END, demo_config, settings_for
from tests.support.lake import D1, KILL_TRIALS, Writers, assert_old_or_new, checksums, copy_lake, fact, lake_checksums
from tests.support.processes import REPO, run_of_a_killed_process

pytestmark = pytest.mark.faults

WRITE_TRIALS = max(50, KILL_TRIALS)  # NKDASH_KILL_TRIALS raises it
ETL_ROUNDS, ETL_KILLS = 2, int(os.environ.get("NKDASH_ETL_KILLS", "4"))  # kills per round
SEED = os.environ.get("NKDASH_KILL_SEED", "7")


def test_kill_9_at_random_moments_of_partition_writes(tmp_path, tally):
    """The writer of tests/support/lake.py (WRITER), SIGKILLed at random moments of alternating rewrites
    (both swap strategies): the partition is the old or the new version, never half,
    never two files; recovery leaves staging empty and the scan clean; writing works."""
    rows = 5_000
    known = checksums(tmp_path, rows)
    root = tmp_path / "lake"
    Lake(root).write_partition("fact_pos_sales", D1, fact(D1, rows, 2))
    started = time.perf_counter()
    Lake(root).write_partition("fact_pos_sales", D1, fact(D1, rows, 1))
    one_write = time.perf_counter() - started
    rng = random.Random(f"{SEED}-writes")
    writers = Writers(tmp_path)
    try:
        for trial in range(WRITE_TRIALS):
            pid = writers.start(root, "exchange" if trial % 2 else "fallback", rows)
            writers.expect("ready")
            time.sleep(rng.uniform(0, 4 * one_write))
            os.kill(pid, signal.SIGKILL)
            assert writers.killed(), f"trial {trial}: the writer was not killed"
            assert_old_or_new(root, known, may_be_missing=False, rows=rows)
            tally(trials=1)
    finally:
        writers.close()


def test_the_kill_harness_keeps_lines_that_arrive_early():
    """A writer may print "ready" before the helper prints its pid: waiting for "pid" must
    not swallow it (it did, and the random-kill test then hung, with small writes)."""
    writers = Writers.__new__(Writers)
    writers.proc, writers.backlog = SimpleNamespace(stdout=io.StringIO("ready\npid 42\nstatus 9\n")), []
    assert writers.expect("pid") == "42" and writers.expect("ready") == "" and writers.expect("status") == "9"


# ----------------------------------------------------------------------------- real ETL runs
ETL_HELPER = textwrap.dedent("""
    # Forks one ETL run per request line (JSON: env, dates, datasets); nkdash is imported
    # once here, so a run starts in milliseconds and a kill lands in the ETL, not in imports.
    import datetime as dt, json, os, sys
    import pyarrow as pa, pyarrow.parquet as pq
    from nkdash.etl import refresh
    from nkdash.settings import load_settings

    pq.write_table(pa.table({"a": [1]}), pa.BufferOutputStream(), compression="zstd")
    print("ready", flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            settings = load_settings(job["env"], env_file=None)
            dates = [dt.date.fromisoformat(d) for d in job["dates"]]
            ok = refresh("dimensions", dates[-1:], settings=settings, progress=False, full=True).ok
            for name in job["datasets"]:
                ok &= refresh(name, dates, settings=settings, progress=False).ok
            os._exit(0 if ok else 3)
        print("pid", pid, flush=True)
        print("status", os.waitpid(pid, 0)[1], flush=True)
""")


class EtlRuns:
    """Drives ETL_HELPER: start a run, kill it, learn how it ended."""

    def __init__(self, tmp_path: Path):
        script = tmp_path / "etl_helper.py"
        script.write_text(ETL_HELPER)
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self._expect("ready")

    def start(self, settings) -> int:
        job = {"env": settings.to_env(), "dates": [str(d) for d in DATES], "datasets": list(DATED)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self._expect("pid"))

    def status(self) -> int:
        return int(self._expect("status"))

    def _expect(self, tag: str) -> str:
        while line := self.proc.stdout.readline():
            if line.split()[0] == tag:
                return line.partition(" ")[2].strip()
        raise AssertionError(f"the ETL helper ended before {tag!r}")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def partition_files(root: Path) -> dict[tuple[str, str], list[Path]]:
    """Every partition directory (and dim table) -> its parquet files."""
    lake = Lake(root, read_only=True)
    out: dict[tuple[str, str], list[Path]] = {}
    for f in lake.data_files():
        out.setdefault((f.table, str(f.dates[0]) if f.dates else ""), []).append(f.path)
    return out


def assert_each_old_or_new(root: Path, old: dict, new: dict) -> int:
    """Before and after recovery: every partition one file, holding the old or the new
    content; nothing is lost that existed before. Returns how many are new."""
    for _ in ("as the kill left it", "after recovery"):
        files = partition_files(root)
        assert all(len(paths) == 1 for paths in files.values()), {k: v for k, v in files.items() if len(v) > 1}
        now = lake_checksums(root)
        assert set(old) <= set(now), f"partitions lost: {sorted(set(old) - set(now))}"
        wrong = {k: v for k, v in now.items() if v not in (old.get(k), new.get(k))}
        assert not wrong, f"neither old nor new content: {wrong}"
        Lake(root).clean_temp()  # what the next write does first
    assert Lake(root).scan(deep=True) == []
    return sum(now[k] == new[k] != old.get(k) for k in now)


@pytest.fixture(scope="module")
def old_lake(tmp_path_factory) -> Path:
    """A lake loaded from another company (seed 41): every partition differs from seed 42's.
    Its recorded source is dropped, so it stands for an earlier state of the Odoo the test
    loads (a lake refuses another Odoo's data)."""
    other = start_demo(dataclasses.replace(demo_config(17), seed=41))
    try:
        settings = settings_for(other, tmp_path_factory.mktemp("old") / "lake")
        for name in DATED:
            assert refresh(name, DATES, settings=settings, progress=False).ok
    finally:
        other.stop()
    con = sqlite3.connect(Lake(settings.lake).meta_dir / "nkdash.sqlite")
    try:
        with con:
            assert con.execute("DELETE FROM source").rowcount == 1
    finally:
        con.close()
    return settings.lake


@pytest.mark.slow
def test_kill_9_during_real_etl_runs_then_the_next_run_completes(demo_server, loaded_lake, old_lake, tmp_path, tally):
    """Round 1 starts from a lake of other data, round 2 from an empty lake. Each round a
    forked ``refresh`` of every dataset and date is SIGKILLed at random moments, several
    times over (each kill on what the previous left). After each kill: every partition old
    or new. Then the next run (round 1: the same refresh; round 2: what ``plan`` lists, i.e.
    what the metadata says is not done) completes the work: the lake equals the clean lake
    of ``loaded_lake`` by checksums, every partition recorded ``loaded``."""
    demo, clean = demo_server(17), lake_checksums(loaded_lake(17).lake)
    rng = random.Random(f"{SEED}-etl")
    runs = EtlRuns(tmp_path)
    try:
        probe = settings_for(demo, tmp_path / "probe")
        started = time.perf_counter()
        runs.start(probe)
        assert runs.status() == 0, "an unkilled run must succeed"
        duration = time.perf_counter() - started
        assert lake_checksums(probe.lake) == clean  # runs are deterministic
        for round_ in range(ETL_ROUNDS):
            root = copy_lake(old_lake, tmp_path / f"round{round_}") if round_ == 0 else tmp_path / f"round{round_}"
            settings = settings_for(demo, root)
            old = lake_checksums(root) if root.exists() else {}
            for _ in range(ETL_KILLS):
                pid = runs.start(settings)
                time.sleep(rng.uniform(0.05, 0.75 * duration))  # most land mid-run
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # it had finished (the helper reaps it)
                    pass
                status = runs.status()
                killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                assert killed or status == 0, f"the run failed on its own (status {status})"
                new = assert_each_old_or_new(root, old, clean)
                meta = MetaStore.for_lake(Lake(root, read_only=True), read_only=True)
                assert not meta.runs(status="running"), "a killed run must not show as running"
                cut = [r for r in meta.runs(status="failed") if r["error"].startswith("interrupted")]
                tally(trials=1, etl_kills=killed, partitions_new_at_kill=new, runs_shown_interrupted=len(cut))
            if round_ == 0:  # the same refresh again
                assert refresh("dimensions", DATES[-1:], settings=settings, progress=False, full=True).ok
                for name in DATED:
                    assert refresh(name, DATES, settings=settings, progress=False).ok
            else:
                due = {
                    name: plan(name, END + dt.timedelta(days=1), start=DATES[0], settings=settings) for name in DATED
                }
                now = lake_checksums(root)
                undone = {(t, k) for (t, k), v in clean.items() if k and now.get((t, k)) != v}
                assert all(dt.date.fromisoformat(k) in due[_dataset(t)] for t, k in undone), (undone, due)
                for name, dates in due.items():
                    assert refresh(name, dates, settings=settings, progress=False).ok
            assert lake_checksums(root) == clean
            assert Lake(root).scan(deep=True) == []
            states = MetaStore.for_lake(Lake(root)).partitions()
            assert {(p["dataset"], p["date"]) for p in states if p["status"] != "loaded"} == set()
    finally:
        runs.close()


def _dataset(table: str) -> str:
    from nkdash.ops.common import TABLE_DATASET

    return TABLE_DATASET[table]


# ----------------------------------------------------------------------------- runs of killed processes


def test_a_run_whose_process_is_killed_shows_as_interrupted_never_running_forever(tmp_path, tally):
    """kill -9 of the process holding a run (the ETL or the huey worker): status and monitoring
    report the run failed, "interrupted", at once (read-only too); the next run closes it in
    the store; a run of a live process stays running."""
    from nkdash.ops.report import monitor

    root = tmp_path / "lake"
    meta = MetaStore.for_lake(Lake(root))
    mine = meta.start_run("invoices", dt.date(2024, 3, 30), "manual")  # this process: alive
    with run_of_a_killed_process(root) as (killed, proc):
        assert [r["id"] for r in meta.runs(status="running")] == [killed, mine]  # both running while alive
    for store in (meta, MetaStore.for_lake(Lake(root, read_only=True), read_only=True)):
        assert [r["id"] for r in store.runs(status="running")] == [mine]
        [run] = store.runs(status="failed")
        assert run["id"] == killed and run["error"].startswith("interrupted") and str(proc.pid) in run["error"]
    report = monitor(days=1, lake=Lake(root, read_only=True))
    assert [r["id"] for r in report.failures] == [killed]
    new = meta.start_run("pos", dt.date(2024, 3, 31), "manual")  # the next run closes it
    with sqlite3.connect(meta.path) as con:
        stored = dict(con.execute("SELECT id, status FROM runs").fetchall())
    assert stored == {mine: "running", killed: "failed", new: "running"}
    assert meta.mark_interrupted() == []  # the worker's start: nothing left
    tally(cases=1, runs_shown_interrupted=1)
