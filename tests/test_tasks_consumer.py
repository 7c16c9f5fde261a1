"""tasks.py run by real consumer processes (``nkdash worker``) on the SQLite queue.

Time is injected (``NKDASH_CLOCK_FILE``, the scheduler looking every second), never
waited for; every wait polls for a condition with a deadline.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import signal

import pyarrow.compute as pc
import pytest

import tasks
from nkdash.demo import Faults
from nkdash.demo.generate import apply_late_edits
from nkdash.errors import InputError
from nkdash.etl import refresh
from nkdash.etl.runner import input_ready
from nkdash.jobs import backend, control, locks, requests, schedule, worker
from nkdash.lake import Lake
from nkdash.odoo import business_tz
from tests.support.consumers import (
    AUTUMN_NIGHT,
    SPRING_NIGHT,
    fired_at,
    history,
    make_settings,
    runs,
    settled,
    utc,
    wait_for,
)
from tests.support.demo import DATES, END

pytestmark = pytest.mark.slow


def test_schedule_fires_at_local_times_across_dst(qs, clock, consumers):
    tasks.huey.revoke_all(tasks.daily)  # watch what is enqueued; do not load anything
    clock.set(SPRING_NIGHT[0][0])
    consumers(qs, periodic=True)
    for at, expected in SPRING_NIGHT + AUTUMN_NIGHT:
        clock.step(qs, at)
        assert fired_at(qs, at) == expected, at
    daily = history(qs, "daily")
    assert len(daily) == len({(r["dataset"], r["date"]) for r in daily}) == 4 * len(schedule.SCHEDULE)
    wait_for(lambda: all(r["state"] == "revoked" for r in history(qs, "daily")), 30, "the jobs to be skipped")
    ticks = worker.log_file(qs).read_text().count("Enqueueing periodic task nkdash.jobs.tasks.tick")
    assert ticks == len(SPRING_NIGHT + AUTUMN_NIGHT)  # one per minute, however often it looked


def test_after_three_days_down_one_run_loads_every_missing_date(qs, clock, consumers):
    assert refresh("pos", [DATES[0]], settings=qs, progress=False).ok  # 29 March, then down
    at = utc(2024, 4, 2, 0, 1)  # 02:01 CEST on 2 April
    huey = backend.huey_for(qs)
    for slot in schedule.due_slots(at, business_tz(qs)):
        if (slot.dataset, slot.day) != ("pos", dt.date(2024, 4, 2)):
            backend.claim(huey, slot.key)  # only watch POS
    clock.set(at)
    consumers(qs, periodic=True)
    [job] = wait_for(lambda: [r for r in history(qs, "daily") if r["state"] in ("done", "failed")], 60, "the job")
    assert (job["dataset"], job["state"], job["error"]) == ("pos", "done", None)
    missing = DATES[1:4]  # 30 March .. 1 April
    assert job["params"]["outcome"]["loaded"] == [d.isoformat() for d in missing]
    meta = huey.history.meta
    assert {(r["date"], r["trigger"], r["status"]) for r in meta.runs(dataset="pos") if r["task_id"] == job["id"]} == {
        (d, "schedule", "success") for d in missing
    }
    assert all(meta.partition("pos", d)["status"] == "loaded" for d in DATES[:4])


def test_after_a_late_edit_profit_agrees_with_pos_within_one_profit_job(
    slow_demo, loaded_lake, tmp_path, clock, consumers
):
    """Edits made mid-second (as Odoo stamps them) after the night's loads: the next night's POS
    job reloads the edited dates, and the profit job 20 minutes later rebuilds them at once,
    never waiting on a POS reload its own plan would have asked for."""
    shutil.copytree(loaded_lake(17).lake, tmp_path / "lake")
    settings = make_settings(slow_demo, tmp_path)
    edited = apply_late_edits(slow_demo.db, slow_demo.db.now + dt.timedelta(hours=1, microseconds=500000), n=3)
    assert edited["pos.order.line"]
    night, tz = END + dt.timedelta(days=2), business_tz(settings)
    loads = [n for n in schedule.SCHEDULE if n != "stock-quants"]  # the daily loads up to profit's
    times = [schedule.slot_instant(night, schedule.SCHEDULE[n], tz) for n in loads]
    huey, every = backend.huey_for(settings), {**schedule.SCHEDULE, **schedule.MAINTENANCE}
    for slot in schedule.due_slots(times[0], tz, every) + schedule.due_slots(times[-1], tz, every):
        if slot.day != night or slot.dataset not in loads:
            backend.claim(huey, slot.key)  # only tonight's loads fire
    clock.set(times[0])
    consumers(settings, periodic=True)
    for name, at in zip(loads, times):
        clock.step(settings, at)
        [job] = wait_for(lambda n=name: [r for r in history(settings, "daily") if r["dataset"] == n], 60, name)
        if name != "profit":
            wait_for(lambda n=name: job_of(settings, n)["state"] == "done", 60, f"the {name} job")
    reloaded = [dt.date.fromisoformat(d) for d in job_of(settings, "pos")["params"]["outcome"]["loaded"]]
    assert END in reloaded  # the edited date (its sessions closed late: costs computed)
    wait_for(lambda: job_of(settings, "profit")["state"] in ("done", "failed"), 60, "one profit job")
    job = job_of(settings, "profit")
    assert (job["state"], job["params"]["attempt"], job["params"]["outcome"]["waiting"]) == ("done", 0, [])
    assert set(job["params"]["outcome"]["loaded"]) >= {d.isoformat() for d in reloaded}
    lake = Lake(settings.lake)
    for day in DATES:  # every POS line in fact_sales with the quantity and revenue fact_pos_sales has
        pos = {r["line_id"]: r for r in lake.read_partition("fact_pos_sales", day).to_pylist()}
        sales = lake.read_partition("fact_sales", day).filter(pc.equal(pc.field("channel"), "pos")).to_pylist()
        assert sorted(r["source_line_id"] for r in sales) == sorted(pos), day
        for row in sales:
            line = pos[row["source_line_id"]]
            assert row["qty"] == line["qty"] and row["revenue"] == math.copysign(line["price_subtotal"], line["qty"])


def job_of(settings, dataset: str) -> dict:
    return next(r for r in history(settings, "daily") if r["dataset"] == dataset)


def test_two_requests_for_one_partition_write_once(slow_demo, tmp_path, consumers):
    settings = make_settings(slow_demo, tmp_path)
    slow_demo.faults = Faults(latency=0.02)
    day = DATES[1]
    first = requests.enqueue_refresh("pos", day, day, settings=settings)
    second = requests.enqueue_refresh("pos", day, day, settings=settings)
    consumers(settings, workers=2)
    wait_for(lambda: settled(settings), 60, "both requests")
    assert runs(settings, "pos", day) == ["skipped", "success"]
    details = {s.task_id: (s.state, s.detail) for r in (first, second) for s in requests.request_status(r, settings)}
    loader = next(t for t, (_, detail) in details.items() if detail == f"pos: loaded {day}")
    [other] = set(details) - {loader}
    assert details[other] == ("done", f"duplicate of {loader}") and details[loader][0] == "done"
    assert locks.locks(settings) == {}


def test_killed_consumer_leaves_a_state_the_next_run_repairs(slow_demo, tmp_path, consumers):
    settings = make_settings(slow_demo, tmp_path)
    assert refresh("pos", [DATES[0]], settings=settings, progress=False).ok
    slow_demo.faults = Faults(latency=0.1)
    day = DATES[1]
    request = requests.enqueue_refresh("pos", day, day, settings=settings)
    proc = consumers(settings)
    wait_for(lambda: runs(settings, "pos", day) == ["running"], 60, "the load to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [status] = requests.request_status(request, settings)
    assert status.state == "running"  # what the history knew
    assert set(locks.locks(settings)) == {f"pos:{day}"}
    meta = backend.huey_for(settings).history.meta
    assert meta.partition("pos", day) is None and not input_ready(meta, Lake(settings.lake), "pos", day)

    slow_demo.faults = Faults()
    consumers(settings)  # recovers on start
    [status] = requests.request_status(request, settings)
    assert status.state == "failed" and status.detail.startswith("lost: its consumer")
    assert locks.locks(settings) == {} and runs(settings, "pos", day) == ["failed"]
    backend.submit(backend.huey_for(settings), tasks.daily.s(dataset="pos", day=str(DATES[3])))  # the next daily run
    wait_for(lambda: settled(settings) and history(settings, "daily")[0]["state"] == "done", 60, "the daily job")
    assert meta.partition("pos", day)["status"] == "loaded"
    assert runs(settings, "pos", day) == ["failed", "success"]


def test_sigterm_lets_the_task_in_hand_finish(slow_demo, tmp_path, consumers):
    settings = make_settings(slow_demo, tmp_path)
    slow_demo.faults = Faults(latency=0.05)
    day = DATES[2]
    request = requests.enqueue_refresh("pos", day, day, settings=settings)
    proc = consumers(settings)
    wait_for(lambda: runs(settings, "pos", day) == ["running"], 60, "the load to start")
    assert worker.stop_worker(proc, timeout=60) == 0
    [status] = requests.request_status(request, settings)
    assert status.state == "done" and runs(settings, "pos", day) == ["success"]
    assert "Shutting down gracefully" in worker.log_file(settings).read_text()


def test_sighup_restarts_the_consumer(qs, consumers):
    proc = consumers(qs)
    proc.send_signal(signal.SIGHUP)
    log = worker.log_file(qs)
    wait_for(lambda: log.read_text().count(f"consumer {proc.pid} ready") == 2, 60, "a restart")
    request = requests.enqueue_refresh("purchases", DATES[0], DATES[0], settings=qs)
    wait_for(lambda: requests.request_status(request, qs)[0].state == "done", 60, "the restarted consumer")
    assert worker.stop_worker(proc, timeout=30) == 0


def test_async_refresh_of_31_days_reports_each_date(qs, consumers):
    with pytest.raises(InputError, match="32 days"):
        requests.enqueue_refresh("purchases", "2024-03-02", "2024-04-02", settings=qs)
    assert history(qs) == []
    request = requests.enqueue_refresh("purchases", "2024-03-03", "2024-04-02", settings=qs)
    consumers(qs, workers=2)
    wait_for(lambda: {s.state for s in requests.request_status(request, qs)} == {"done"}, 90, "31 dates")
    statuses = requests.request_status(request, qs)
    assert [s.date for s in statuses] == [dt.date(2024, 3, 3) + dt.timedelta(days=n) for n in range(31)]
    assert all(runs(qs, "purchases", s.date) == ["success"] for s in statuses)
    assert statuses[-1].detail == "purchases: loaded 2024-04-02"


def test_purge_empties_the_queue_while_a_consumer_works(slow_demo, tmp_path, consumers):
    settings = make_settings(slow_demo, tmp_path)
    slow_demo.faults = Faults(latency=0.05)
    request = requests.enqueue_refresh("pos", DATES[0], DATES[4], settings=settings)
    consumers(settings)
    wait_for(lambda: control.running(settings), 60, "a task to start")
    purged = control.purge(settings)
    assert control.pending(settings) == [] and control.scheduled(settings) == []
    wait_for(lambda: settled(settings), 60, "the task in hand")
    states = [s.state for s in requests.request_status(request, settings)]
    assert purged >= 3 and states.count("revoked") == purged and states.count("done") == 5 - purged
    loaded = [p["date"] for p in backend.huey_for(settings).history.meta.partitions("pos")]
    assert len(loaded) == 5 - purged
