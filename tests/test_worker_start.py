"""What ``nkdash worker`` does when it starts, before its first task (a real consumer process):
it closes the runs a killed process left "running", and rebuilds the aggregates a lake of an
older nkdash lacks from the lake's own ``fact_sales``."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from nkdash.jobs import backend
from nkdash.jobs import worker as jobs_worker
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.settings import Settings
from tests.support.demo import DATES
from tests.support.processes import run_of_a_killed_process

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_the_worker_closes_killed_runs_and_rebuilds_missing_aggregates_at_start(lake_copy, tmp_path, consumers):
    settings = for_worker(lake_copy, tmp_path)
    lake = Lake(settings.lake)
    shutil.rmtree(lake.table_dir("agg_orders_daily"))  # a lake of an older nkdash
    with run_of_a_killed_process(settings.lake) as (killed, _):
        pass
    assert stored_status(settings, killed) == "running"  # as the killed process left it

    worker = consumers(settings)  # returns once the consumer is ready
    assert stored_status(settings, killed) == "failed"
    assert lake.partitions("agg_orders_daily") == DATES
    log = jobs_worker.log_file(settings).read_text()
    assert f"run {killed} (pos 2024-03-30)" in log and "interrupted" in log
    assert "at start: derived tables" in log and "agg_orders_daily" in log
    assert jobs_worker.stop_worker(worker, timeout=30) == 0


@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_a_worker_on_a_sound_lake_starts_without_rebuilding(lake_copy, tmp_path, consumers):
    settings = for_worker(lake_copy, tmp_path)
    files = Lake(settings.lake).table_dir("agg_orders_daily")
    before = {p: p.stat().st_mtime_ns for p in files.rglob("*.parquet")}
    worker = consumers(settings)
    assert {p: p.stat().st_mtime_ns for p in files.rglob("*.parquet")} == before and before
    assert "at start" not in jobs_worker.log_file(settings).read_text()
    assert jobs_worker.stop_worker(worker, timeout=30) == 0


def for_worker(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` with a queue and logs of this test's own."""
    worker = settings.with_(state_dir=tmp_path / "state", log_dir=tmp_path / "logs")
    backend.huey_for(worker)
    return worker


def stored_status(settings: Settings, run_id: int) -> str:
    """The run's status as stored (not as reported: a report already says "failed")."""
    with sqlite3.connect(MetaStore.for_lake(Lake(settings.lake)).path) as con:
        return con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
