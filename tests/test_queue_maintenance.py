"""The nightly lake jobs run by a real consumer process (``nkdash worker``) on the SQLite queue:
the compaction of old months at 03:00 local time, and the profit job healing the aggregates
an upgrade left missing before it plans anything from Odoo."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

import tasks  # noqa: F401 — the consumer's module, bound by queue.connect
from nkdash.jobs import backend, schedule
from nkdash.lake import Lake
from nkdash.odoo import business_tz
from nkdash.ops import tables
from tests.support.consumers import history, make_settings, utc, wait_for
from tests.support.demo import DATES

pytestmark = pytest.mark.slow


@pytest.fixture
def upgraded(loaded_lake, demo_server, tmp_path):
    """Settings on a copy of the loaded demo lake (29 March .. 2 April 2024) without the new
    aggregates, as a lake of an older nkdash; its own queue and logs."""
    shutil.copytree(loaded_lake(17).lake, tmp_path / "lake")
    settings = make_settings(demo_server(17), tmp_path, compact_after_days=30)
    for table in ("agg_sales_daily", "agg_orders_daily"):
        shutil.rmtree(Lake(settings.lake).table_dir(table))
    return settings


def only(settings, at: dt.datetime, wanted: set[str]) -> None:
    """Claim every slot due at ``at`` except those of ``wanted``: only they fire."""
    huey = backend.huey_for(settings)
    for slot in schedule.due_slots(at, business_tz(settings), {**schedule.SCHEDULE, **schedule.MAINTENANCE}):
        if slot.dataset not in wanted:
            backend.claim(huey, slot.key)


def finished(settings, name: str) -> list[dict]:
    return [r for r in history(settings, name) if r["state"] in ("done", "failed")]


def test_consumer_compacts_old_months_at_three_and_records_the_run(upgraded, clock, consumers):
    at = utc(2024, 5, 15, 1, 1)  # 03:01 CEST on 15 May: March ended > 30 days ago
    only(upgraded, at, {"compact"})
    clock.set(at)
    consumers(upgraded, periodic=True)
    [job] = wait_for(lambda: finished(upgraded, "compact"), 60, "the compaction")
    assert (job["state"], job["error"], job["date"]) == ("done", None, dt.date(2024, 5, 15))
    lake = Lake(upgraded.lake)
    months = {
        (m.table, m.month): (m.compacted, m.daily) for t in ("fact_pos_sales", "fact_sales") for m in lake.months(t)
    }
    assert months == {(t, 3): (True, 0) for t in ("fact_pos_sales", "fact_sales")} | {
        (t, 4): (False, 2) for t in ("fact_pos_sales", "fact_sales")
    }  # April ended 15 days ago: kept daily
    [run] = backend.huey_for(upgraded).history.meta.runs(dataset="compact")
    assert (run["status"], run["trigger"], run["task_id"]) == ("success", "schedule", job["id"])
    assert job["params"]["summary"].startswith("compaction of months that ended before 2024-04-15: compacted")
    row = tables.schedule_table(upgraded).set_index("dataset").loc["Compact old months"]
    assert (row["local time"], row["status"]) == ("03:00", "success")
    assert lake.scan(deep=True) == []


def test_nightly_profit_job_heals_the_new_aggregates_without_odoo(upgraded, clock, consumers):
    at = utc(2024, 4, 3, 0, 21)  # 02:21 CEST on 3 April: profit's slot
    start = at - dt.timedelta(minutes=2)  # 02:19: the worker starts
    only(upgraded, start, set())  # the slots still due then (2 April's, caught up at start) have fired
    only(upgraded, at, {"profit"})
    clock.set(start)  # nothing left to fire yet
    consumers(upgraded, periodic=True)  # its start rebuilds them (test_worker_start) ...
    for table in ("agg_sales_daily", "agg_orders_daily"):  # ... so upgrade the lake again under it
        shutil.rmtree(Lake(upgraded.lake).table_dir(table))
    clock.step(upgraded, at)
    [job] = wait_for(lambda: finished(upgraded, "daily"), 60, "the profit job")
    assert (job["dataset"], job["state"]) == ("profit", "done")
    assert job["params"]["outcome"]["loaded"] == []  # nothing reloaded from Odoo
    lake, meta = Lake(upgraded.lake), backend.huey_for(upgraded).history.meta
    assert lake.partitions("agg_sales_daily") == lake.partitions("agg_orders_daily") == DATES
    healed = [r for r in meta.runs(dataset="profit") if r["task_id"] == job["id"]]
    assert sorted(r["date"] for r in healed) == DATES and {r["trigger"] for r in healed} == {"schedule"}
