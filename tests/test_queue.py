"""nkdash.queue in-process: the DST-safe schedule, claims, locks, validation, history, operations.

Real consumer processes are in test_tasks_consumer.py (SQLite) and test_queue_redis.py.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from huey.exceptions import RetryTask

import tasks
from nkdash.cli.main import main
from nkdash.errors import InputError
from nkdash.etl import refresh
from nkdash.jobs import backend, control, locks, requests, schedule, work, worker
from nkdash.jobs import history as jobs_history
from nkdash.ops import tables
from nkdash.settings import load_settings
from tests.support.consumers import history, utc
from tests.support.demo import DATES, TZ

BRUSSELS = ZoneInfo(TZ)
SPRING, AUTUMN = dt.date(2024, 3, 31), dt.date(2024, 10, 27)  # Brussels' DST days in 2024


# ----------------------------------------------------------------------------- the schedule
@pytest.mark.parametrize(
    "day, hhmm, tz, expected",
    [
        (dt.date(2024, 3, 30), "02:00", TZ, utc(2024, 3, 30, 1, 0)),  # winter time, +01:00
        (SPRING, "01:50", TZ, utc(2024, 3, 31, 0, 50)),  # before the jump
        (SPRING, "02:00", TZ, utc(2024, 3, 31, 1, 0)),  # skipped: fires at 03:00 CEST
        (SPRING, "02:25", TZ, utc(2024, 3, 31, 1, 25)),  # skipped: 03:25 CEST, order kept
        (AUTUMN, "02:00", TZ, utc(2024, 10, 27, 0, 0)),  # repeated: first occurrence (CEST)
        (AUTUMN, "02:25", TZ, utc(2024, 10, 27, 0, 25)),
        (dt.date(2024, 3, 10), "02:05", "America/New_York", utc(2024, 3, 10, 7, 5)),  # skipped there too
        (dt.date(2024, 11, 3), "01:50", "America/New_York", utc(2024, 11, 3, 5, 50)),  # repeated: EDT first
        (SPRING, "02:00", "UTC", utc(2024, 3, 31, 2, 0)),
    ],
)
def test_slot_instant(day, hhmm, tz, expected):
    assert schedule.slot_instant(day, hhmm, ZoneInfo(tz)) == expected


def sweep(tz: ZoneInfo, start: dt.datetime, minutes: int, step: int = 1) -> list[tuple[schedule.Slot, dt.datetime]]:
    """What a tick every ``step`` minutes fires, with an in-memory claim set."""
    claimed, fired = set(), []
    for n in range(0, minutes, step):
        at = start + dt.timedelta(minutes=n)
        for slot in schedule.due_slots(at, tz):
            if slot.key not in claimed:
                claimed.add(slot.key)
                fired.append((slot, at))
    return fired


@pytest.mark.parametrize(
    "tz, around",
    [
        (TZ, SPRING),
        (TZ, AUTUMN),
        ("America/New_York", dt.date(2024, 3, 10)),
        ("America/New_York", dt.date(2024, 11, 3)),
        ("Australia/Lord_Howe", dt.date(2024, 4, 7)),
        ("Australia/Lord_Howe", dt.date(2024, 10, 6)),  # 30-min shifts
        ("UTC", SPRING),
    ],
)
def test_every_slot_fires_once_per_local_day_at_its_time(tz, around):
    zone = ZoneInfo(tz)
    start = schedule.slot_instant(around - dt.timedelta(days=1), "12:00", zone)
    fired = sweep(zone, start, minutes=3 * 24 * 60)
    for day in (around, around + dt.timedelta(days=1)):
        for name, hhmm in schedule.SCHEDULE.items():
            times = [at for slot, at in fired if (slot.dataset, slot.day) == (name, day)]
            assert times == [schedule.slot_instant(day, hhmm, zone)], (name, day)
    assert len(fired) == len({slot.key for slot, _ in fired})


def test_skipped_hour_keeps_order_and_spacing():
    fired = sweep(BRUSSELS, utc(2024, 3, 30, 12, 0), minutes=24 * 60)
    spring = [(slot.dataset, at.astimezone(BRUSSELS).strftime("%H:%M")) for slot, at in fired if slot.day == SPRING]
    assert spring == [
        ("dimensions", "01:50"),
        ("pos", "03:00"),
        ("invoices", "03:05"),
        ("purchases", "03:10"),
        ("inventory", "03:15"),
        ("profit", "03:20"),
        ("stock-quants", "03:25"),
    ]


def test_repeated_hour_fires_at_first_occurrence_only():
    fired = sweep(BRUSSELS, utc(2024, 10, 26, 12, 0), minutes=24 * 60)
    autumn = {slot.dataset: at for slot, at in fired if slot.day == AUTUMN}
    assert all(at.astimezone(BRUSSELS).fold == 0 and at.utcoffset() == dt.timedelta(0) for at in autumn.values())
    assert autumn["pos"] == utc(2024, 10, 27, 0, 0)  # 02:00 CEST; 02:00 CET (01:00 UTC) fires nothing


def test_downtime_fires_each_slot_once_on_restart():
    before = utc(2024, 3, 28, 1, 40)  # 02:40 CET: the 28th's slots fired
    fired = sweep(BRUSSELS, before, minutes=1)
    assert {s.day for s, _ in fired} == {dt.date(2024, 3, 28)}
    restart = before + dt.timedelta(days=3, hours=5)  # consumer down three days
    again = [s for s in schedule.due_slots(restart, BRUSSELS) if s.key not in {f.key for f, _ in fired}]
    assert [(s.dataset, s.day) for s in again] == [(n, dt.date(2024, 3, 31)) for n in schedule.SCHEDULE]


def test_hourly_ticks_still_fire_everything():
    fired = sweep(BRUSSELS, utc(2024, 3, 30, 12, 0), minutes=3 * 24 * 60, step=60)
    days = sorted({slot.day for slot, _ in fired})
    assert days == [dt.date(2024, 3, 30) + dt.timedelta(days=n) for n in range(4)]  # the 30th on start
    assert len(fired) == len(days) * len(schedule.SCHEDULE)


# ----------------------------------------------------------------------------- tick and claims
def test_tick_enqueues_each_due_slot_once(qs):
    at = utc(2024, 4, 2, 0, 7)  # 02:07 CEST
    fired = schedule.tick(tasks.daily, at=at, settings=qs)
    assert [(s.dataset, s.day) for s in fired][-3:] == [
        ("dimensions", dt.date(2024, 4, 2)),
        ("pos", dt.date(2024, 4, 2)),
        ("invoices", dt.date(2024, 4, 2)),
    ]
    assert schedule.tick(tasks.daily, at=at, settings=qs) == []  # same minute, restart
    assert schedule.tick(tasks.daily, at=at + dt.timedelta(minutes=1), settings=qs) == []
    pending = control.pending(qs)
    assert len(pending) == len(fired) and {t.name for t in pending} == {"daily"}
    row = next(r for r in history(qs, "daily") if r["dataset"] == "pos" and r["date"] == dt.date(2024, 4, 2))
    assert row["state"] == "queued"
    assert row["params"]["kwargs"]["slot"] == {
        "time": "02:00",
        "at": "2024-04-02T00:00:00+00:00",
        "fired_at": "2024-04-02T00:07:00+00:00",
    }
    assert schedule.last_tick(qs) == at + dt.timedelta(minutes=1)


def test_tick_fires_the_nightly_compaction_once_after_the_loads(qs):
    jobs = {"compact": tasks.compact}
    night = [
        schedule.tick(tasks.daily, at=utc(2024, 4, 2) + dt.timedelta(minutes=m), settings=qs, jobs=jobs)
        for m in range(0, 70, 5)
    ]
    fired = [s for at in night for s in at if s.day == dt.date(2024, 4, 2)]
    assert [s.dataset for s in fired][-2:] == ["stock-quants", "compact"]  # after profit and stock quants
    assert fired[-1].at == utc(2024, 4, 2, 1, 0)  # 03:00 CEST, not 03:00 UTC
    assert schedule.tick(tasks.daily, at=utc(2024, 4, 2, 9), settings=qs, jobs=jobs) == []  # once per local day
    days = sorted(row["date"] for row in history(qs, "compact"))
    assert days == [dt.date(2024, 4, 1), dt.date(2024, 4, 2)]  # the first tick: yesterday's too
    job = next(row for row in history(qs, "compact") if row["date"] == dt.date(2024, 4, 2))
    assert (job["state"], job["dataset"], job["params"]["trigger"]) == ("queued", None, "schedule")
    assert schedule.tick(tasks.daily, at=utc(2024, 4, 3, 1, 0), settings=qs)[-1].dataset == "stock-quants"  # not asked


def test_tick_fires_the_reconciliation_after_the_loads_and_before_the_compaction(qs):
    jobs = {"reconcile": tasks.reconcile, "compact": tasks.compact}
    night = [
        schedule.tick(tasks.daily, at=utc(2024, 4, 2) + dt.timedelta(minutes=m), settings=qs, jobs=jobs)
        for m in range(0, 70, 5)
    ]
    fired = [s for at in night for s in at if s.day == dt.date(2024, 4, 2)]
    assert [s.dataset for s in fired][-3:] == ["stock-quants", "reconcile", "compact"]
    assert fired[-2].at == utc(2024, 4, 2, 0, 45)  # 02:45 CEST
    job = next(row for row in history(qs, "reconcile") if row["date"] == dt.date(2024, 4, 2))
    assert (job["state"], job["params"]["trigger"]) == ("queued", "schedule")


def test_the_reconciliation_task_records_a_run_per_date_and_its_summary(qs):
    assert refresh("purchases", DATES[:2], settings=qs, progress=False).ok
    task = tasks.reconcile.s(day=str(DATES[2]))
    report = work.run_reconcile(str(DATES[2]), task, settings=qs.with_(reconcile_days=3))
    assert report.ok and report.checked == {"purchases": DATES[:2]} and report.reloaded == {}
    meta = backend.huey_for(qs).history.meta
    runs = meta.runs(dataset="reconcile")
    assert sorted((r["date"], r["status"], r["trigger"], r["task_id"]) for r in runs) == [
        (d, "success", "schedule", task.id) for d in DATES[:2]
    ]
    assert [(r["dataset"], r["date"], r["status"]) for r in meta.reconciliations()] == [
        ("purchases", d, "reconciled") for d in DATES[:2]
    ]
    frame = tables.schedule_table(qs).set_index("dataset")
    assert (frame.loc["Reconcile with Odoo", "local time"], frame.loc["Reconcile with Odoo", "status"]) == (
        "02:45",
        "success",
    )


def test_compaction_task_compacts_old_months_and_records_its_run(qs):
    from nkdash.lake import Lake

    lake = Lake(qs.lake)
    for day in (dt.date(2024, 2, 1), dt.date(2024, 2, 2), dt.date(2024, 3, 20)):
        assert refresh("pos", [day], settings=qs, progress=False).ok
    task = tasks.compact.s(day="2024-03-31")
    outcome = work.run_compaction("2024-03-31", task, settings=qs.with_(compact_after_days=10))
    assert [(c.table, c.month) for c in outcome.done] == [("fact_pos_sales", "2024-02")]
    assert [(m.month, m.compacted, m.daily) for m in lake.months("fact_pos_sales")] == [(2, True, 0), (3, False, 1)]
    [run] = backend.huey_for(qs).history.meta.runs(dataset="compact")
    assert (run["status"], run["trigger"], run["task_id"]) == ("success", "schedule", task.id)
    frame = tables.schedule_table(qs).set_index("dataset")
    assert frame.loc["Compact old months", "local time"] == "03:00"
    assert frame.loc["Compact old months", "status"] == "success"


def test_periodic_tick_is_enqueued_once_per_minute(qs, tmp_path, monkeypatch):
    clock = tmp_path / "clock"
    monkeypatch.setenv(backend.CLOCK_ENV, str(clock))
    clock.write_text("2024-04-02T00:07:10+00:00")
    huey = backend.huey_for(qs)
    assert [t.name for t in huey.read_periodic(None)] == ["tick"]
    assert huey.read_periodic(None) == []  # another consumer, same minute
    clock.write_text("2024-04-02T00:08:00+00:00")
    assert [t.name for t in huey.read_periodic(None)] == ["tick"]


# ----------------------------------------------------------------------------- async refresh: checks
@pytest.mark.parametrize(
    "dataset, start, end, message",
    [
        ("sales", "2024-03-01", "2024-03-02", "unknown dataset 'sales'"),
        ("pos", "2024-3-01", "2024-03-02", "malformed start date '2024-3-01'"),
        ("pos", "2024-03-01", "2024-02-30", "malformed end date '2024-02-30'"),
        ("pos", "2024-03-05", "2024-03-01", "end date 2024-03-01 is before start date 2024-03-05"),
        ("pos", "2024-03-01", "2024-04-01", "2024-03-01..2024-04-01 is 32 days; at most 31 per request"),
        ("pos", "2999-01-01", "2999-01-02", "2999-01-02 is not a complete business day yet"),
        ("dimensions", "2024-03-01", "2024-03-01", "dimensions has no dates"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_enqueued(qs, dataset, start, end, message):
    with pytest.raises(InputError) as err:
        requests.enqueue_refresh(dataset, start, end, settings=qs)
    assert message in str(err.value)
    assert control.pending(qs) == [] and history(qs) == []


def test_future_date_uses_the_business_calendar(qs, tmp_path, monkeypatch):
    clock = tmp_path / "clock"
    monkeypatch.setenv(backend.CLOCK_ENV, str(clock))
    clock.write_text("2024-04-02T22:30:00+00:00")  # already 3 April in Brussels
    requests.enqueue_refresh("pos", "2024-04-02", "2024-04-02", settings=qs)
    clock.write_text("2024-04-02T21:30:00+00:00")  # still 2 April: not complete yet
    with pytest.raises(InputError, match="latest is 2024-04-01"):
        requests.enqueue_refresh("pos", "2024-04-02", "2024-04-02", settings=qs)


def test_31_days_become_31_tasks_followed_per_date(qs):
    request = requests.enqueue_refresh("purchases", "2024-03-01", "2024-03-31", settings=qs)
    pending = control.pending(qs)
    assert [t.id for t in pending] == [f"{request}.{d}" for d in (f"2024-03-{n:02d}" for n in range(1, 32))]
    statuses = requests.request_status(request, qs)
    assert [s.date.day for s in statuses] == list(range(1, 32)) and {s.state for s in statuses} == {"queued"}
    with pytest.raises(InputError, match="no request 'nope'"):
        requests.request_status("nope", qs)


# ----------------------------------------------------------------------------- queue operations
def test_revoke_one(qs):
    request = requests.enqueue_refresh("pos", "2024-03-01", "2024-03-02", settings=qs)
    control.revoke(f"{request}.2024-03-01", qs)
    assert [t.revoked for t in control.pending(qs)] == [True, False]
    assert [s.state for s in requests.request_status(request, qs)] == ["revoked", "queued"]
    with pytest.raises(InputError, match="only queued tasks"):
        control.revoke(f"{request}.2024-03-01", qs)
    with pytest.raises(InputError, match="no task 'nope'"):
        control.revoke("nope", qs)


def test_purge_empties_the_queue(qs):
    request = requests.enqueue_refresh("pos", "2024-03-01", "2024-03-10", settings=qs)
    schedule.tick(tasks.daily, at=utc(2024, 4, 2, 0, 30), settings=qs)
    tasks.daily.schedule(kwargs={"dataset": "pos", "day": "2024-04-03"}, delay=3600)
    assert control.purge(qs) == 10 + 7 + 1  # async dates, 2 April's slots, a retry
    assert control.pending(qs) == [] and control.scheduled(qs) == []
    assert {s.state for s in requests.request_status(request, qs)} == {"revoked"}
    assert control.purge(qs) == 0


def test_status_text_names_everything(qs):
    requests.enqueue_refresh("pos", "2024-03-01", "2024-03-01", settings=qs)
    holder = locks.owner("t-1")
    assert locks.try_lock(backend.huey_for(qs), ["pos:2024-03-02"], holder) is None
    text = control.status(qs).text()
    assert f"queue: sqlite {qs.state_dir / 'huey.sqlite'}" in text
    assert "pending: 1" in text and "refresh_partition pos 2024-03-01" in text
    assert f"lock      pos:2024-03-02  held by task t-1 (pid {os.getpid()}" in text
    assert "never (no consumer has run)" in text


def test_backend_never_shows_redis_credentials(qs):
    settings = qs.with_(
        queue="redis",
        redis_url=load_settings({"NKDASH_REDIS_URL": "redis://u:s3cret@h:6380/2"}, env_file=None).redis_url,
    )
    assert backend.backend(settings) == "redis h:6380/2"


def test_retry_failed_enqueues_a_new_task_that_replaces_the_old_one(qs):
    request = requests.enqueue_refresh("pos", "2024-03-01", "2024-03-02", settings=qs)
    control.purge(qs)
    failed = f"{request}.2024-03-01"
    backend.huey_for(qs).history.update(failed, state="failed", error="OdooUnreachable: down")
    [new] = control.retry_failed(qs)
    assert [t.id for t in control.pending(qs)] == [new]
    assert [(s.date.day, s.state, s.task_id) for s in requests.request_status(request, qs)] == [
        (1, "queued", new),
        (2, "revoked", f"{request}.2024-03-02"),
    ]
    assert control.retry_failed(qs) == []  # retried once only


def test_unreachable_redis_is_one_clear_error(qs, capsys, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    settings = qs.with_(
        queue="redis",
        redis_url=load_settings({"NKDASH_REDIS_URL": f"redis://127.0.0.1:{port}/0"}, env_file=None).redis_url,
    )
    with pytest.raises(backend.QueueError, match=f"cannot enqueue on redis 127.0.0.1:{port}/0"):
        requests.enqueue_refresh("pos", "2024-03-01", "2024-03-01", settings=settings)
    assert [r["state"] for r in history(settings)] == ["failed"]
    monkeypatch.setattr("nkdash.settings._cached", settings)
    assert main(["queue", "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"nkdash: error: queue redis 127.0.0.1:{port}/0: ") and err.count("\n") == 1


# ----------------------------------------------------------------------------- locks and recovery
def test_locks_are_all_or_nothing_and_name_their_holder(qs):
    huey = backend.huey_for(qs)
    a, b = locks.owner("task-a"), locks.owner("task-b")
    assert locks.try_lock(huey, ["profit:2024-03-01", "pos:2024-03-01"], a) is None
    name, holder = locks.try_lock(huey, ["invoices:2024-03-01", "pos:2024-03-01"], b)
    assert name == "pos:2024-03-01" and holder["task_id"] == "task-a"
    assert set(locks.locks(qs)) == {"profit:2024-03-01", "pos:2024-03-01"}  # b took nothing
    locks.unlock(huey, ["pos:2024-03-01"], "task-b")  # not b's: kept
    assert huey.is_locked("pos:2024-03-01")
    locks.unlock(huey, ["pos:2024-03-01", "profit:2024-03-01"], "task-a")
    assert locks.locks(qs) == {}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_marks_tasks_of_dead_consumers_lost_and_frees_their_locks(qs):
    huey = backend.huey_for(qs)
    dead = {**locks.owner("t-dead"), "pid": dead_pid(), "started": None}
    meta = huey.history.meta
    huey.history.update(
        "t-dead",
        name="refresh_partition",
        dataset="pos",
        date=dt.date(2024, 3, 1),
        state="running",
        params={"owner": dead},
    )
    run_id = meta.start_run("pos", dt.date(2024, 3, 1), "async", task_id="t-dead")
    huey.history.update("t-live", name="daily", dataset="pos", state="running", params={"owner": locks.owner("t-live")})
    assert locks.try_lock(huey, ["pos:2024-03-01"], dead) is None
    assert locks.try_lock(huey, ["pos:2024-03-02"], locks.owner("t-live")) is None
    [line] = jobs_history.recover(qs)
    assert "t-dead" in line and "lost: its consumer" in line
    lost = huey.history.get("t-dead")
    assert lost["state"] == "failed" and lost["error"].startswith("lost:")
    assert huey.history.get("t-live")["state"] == "running"
    assert set(locks.locks(qs)) == {"pos:2024-03-02"}
    assert next(r for r in meta.runs() if r["id"] == run_id)["status"] == "failed"
    assert control.flush_locks(qs) == []  # t-live is running
    assert control.flush_locks(qs, everything=True) == ["pos:2024-03-02"]


def test_recover_marks_tasks_taken_from_the_queue_but_never_started_lost(qs):
    request = requests.enqueue_refresh("pos", "2024-03-01", "2024-03-02", settings=qs)
    huey = backend.huey_for(qs)
    taken = huey.dequeue()  # by a consumer that then died
    huey.history.update(taken.id, enqueued_at=backend.now() - jobs_history.TAKEN_AFTER - dt.timedelta(seconds=1))
    [line] = jobs_history.recover(qs)
    assert taken.id in line and "never started" in line
    assert [s.state for s in requests.request_status(request, qs)] == ["failed", "queued"]


def test_reused_pid_is_not_mistaken_for_the_owner(qs):
    holder = {**locks.owner("t"), "started": -1}  # this pid, but another process's start time
    assert locks.alive(holder) is False
    assert locks.alive(locks.owner("t")) is True
    assert locks.alive({**locks.owner("t"), "host": "elsewhere"}) is None


# ----------------------------------------------------------------------------- running work in-process
D = dt.date(2024, 3, 30)


def test_sync_refresh_loads_one_date_and_respects_the_lock(qs):
    huey = backend.huey_for(qs)
    assert locks.try_lock(huey, ["purchases:2024-03-30"], locks.owner("other")) is None
    outcome = requests.refresh_sync("purchases", "2024-03-30", qs)
    assert outcome.duplicates == {D: "other"} and outcome.loaded == []
    locks.unlock(huey, ["purchases:2024-03-30"], "other")
    outcome = requests.refresh_sync("purchases", D, qs)
    assert outcome.loaded == [D] and outcome.ok
    runs = huey.history.meta.runs(dataset="purchases")
    assert sorted((r["status"], r["trigger"]) for r in runs if r["date"] == D) == [
        ("skipped", "sync"),
        ("success", "sync"),
    ]
    rows = history(qs, "refresh_sync")
    assert [r["state"] for r in rows] == ["done", "done"] and locks.locks(qs) == {}
    with pytest.raises(InputError, match="malformed date"):
        requests.refresh_sync("purchases", "30/03/2024", qs)


def test_profit_waits_for_its_inputs_then_loads_them_itself(qs):
    task = tasks.daily.s(dataset="profit", day="2024-03-31")
    backend.huey_for(qs).history.update(task.id, name="daily", dataset="profit", state="running")
    with pytest.raises(RetryTask) as retry:
        work._run("profit", [D], task, "schedule", qs)
    assert retry.value.delay == work.INPUT_WAIT
    assert task.kwargs["dates"] == ["2024-03-30"] and task.kwargs["attempt"] == 1
    row = backend.huey_for(qs).history.get(task.id)
    assert row["params"]["outcome"]["waiting"] == ["2024-03-30"]
    assert refresh("pos", [D], settings=qs, progress=False).ok
    task.kwargs["attempt"] = work.INPUT_ATTEMPTS  # gave up waiting for invoices
    outcome = work._run("profit", [D], task, "schedule", qs)
    assert outcome.loaded == [D]
    meta = backend.huey_for(qs).history.meta
    assert meta.partition("invoices", D)["status"] == "loaded" and meta.partition("profit", D)["status"] == "loaded"


def test_profit_runs_at_once_when_inputs_are_loaded(qs):
    for name in ("pos", "invoices"):
        assert refresh(name, [D], settings=qs, progress=False).ok
    task = tasks.daily.s(dataset="profit", day="2024-03-31")
    assert work._run("profit", [D], task, "schedule", qs).loaded == [D]


# ----------------------------------------------------------------------------- plumbing
def test_settings_env_round_trips(qs):
    assert load_settings(worker.settings_env(qs), env_file=None) == qs


def test_tasks_module_is_import_safe(tmp_path):
    root = Path(__file__).resolve().parents[1]  # the design's entry point: huey_consumer tasks.huey
    env = {**os.environ, "NKDASH_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(root)}
    code = (
        "import tasks, nkdash.jobs.tasks as t; assert tasks.huey is t.huey; print(sorted(t.huey._registry._registry))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == str(
        [
            f"nkdash.jobs.tasks.{name}"
            for name in ("alerts", "compact", "daily", "reconcile", "refresh_partition", "tick")
        ]
    )
    assert not (tmp_path / "state").exists()


@pytest.fixture
def cli_settings(qs, monkeypatch):
    monkeypatch.setattr("nkdash.settings._cached", qs)
    return qs


def test_cli_refresh_async_prints_the_request_and_tasks_follow_it(cli_settings, capsys):
    assert main(["refresh-async", "pos", "--start-date", "2024-03-01", "--end-date", "2024-03-02"]) == 0
    request = capsys.readouterr().out.strip()
    assert main(["tasks", "--request", request]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in out] == [
        ["2024-03-01", "queued", f"{request}.2024-03-01"],
        ["2024-03-02", "queued", f"{request}.2024-03-02"],
    ]
    assert main(["tasks", "--state", "queued"]) == 0 and len(capsys.readouterr().out.splitlines()) == 2
    assert main(["queue", "purge", "--yes"]) == 0 and "purged 2 task(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["refresh-async", "pos", "--start-date", "2024-02-30"], "malformed start date '2024-02-30'"),
        (["refresh-async", "stock", "--start-date", "2024-02-01"], "unknown dataset 'stock'"),
        (["refresh-async", "pos", "--start-date", "2024-01-01", "--end-date", "2024-02-01"], "at most 31"),
        (["queue", "revoke"], "give the id of the task to revoke"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(cli_settings, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert control.pending(cli_settings) == []


def test_cli_purge_and_revoke_show_what_goes_and_refuse_without_a_terminal(cli_settings, capsys, monkeypatch):
    import os

    assert main(["refresh-async", "pos", "--start-date", "2024-03-01", "--end-date", "2024-03-03"]) == 0
    request = capsys.readouterr().out.strip()
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)  # not a terminal
        assert main(["queue", "purge"]) == 2
        out, err = capsys.readouterr()
        assert "drop 3 task(s)" in out and "3 x refresh_partition pos, 2024-03-01 … 2024-03-03" in out
        assert "not on a terminal" in err and len(control.pending(cli_settings)) == 3
        assert main(["queue", "revoke", f"{request}.2024-03-02"]) == 2
        out, err = capsys.readouterr()
        assert out.startswith(f"revoke task {request}.2024-03-02: refresh_partition pos 2024-03-02, queued ")
        assert "not on a terminal" in err and [t.revoked for t in control.pending(cli_settings)] == [False] * 3
        assert main(["queue", "revoke", f"{request}.2024-03-02", "--yes"]) == 0
        assert main(["queue", "purge", "--yes"]) == 0 and "purged 3 task(s)" in capsys.readouterr().out
    assert control.pending(cli_settings) == []


def test_cli_queue_status_and_flush_locks(cli_settings, capsys):
    assert locks.try_lock(backend.huey_for(cli_settings), ["pos:2024-03-01"], locks.owner("gone")) is None
    assert main(["queue", "status"]) == 0 and "lock      pos:2024-03-01" in capsys.readouterr().out
    assert main(["queue", "flush-locks"]) == 0 and "freed 1 lock(s)\n  pos:2024-03-01" in capsys.readouterr().out
    assert main(["queue", "recover"]) == 0 and "no lost tasks" in capsys.readouterr().out
