"""nkdash.ops: the runbook table against the library and the notebooks, refresh, recovery,
the lake scan, the Odoo check, services, queue depth, backup and restore."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nkdash.jobs import backend, control
from nkdash.jobs import schedule as jobs_schedule
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.notebooks import NOTEBOOKS, NOTEBOOKS_DIR
from nkdash.ops import backups, common, monitoring, recovery, refresh, runbook, services, tables
from nkdash.settings import Secret
from tests.support.demo import DATES, END, TZ

DAY = dt.date(2024, 3, 30)
TODAY = END + dt.timedelta(days=2)  # the clock: yesterday is the day after the demo's last date
YESTERDAY = TODAY - dt.timedelta(days=1)

# Every procedure of the old runbook (the Dash + Celery stack nkdash replaces), one key each.
OLD_RUNBOOK = {
    "schedule.daily",
    "refresh.pos",
    "refresh.invoices-purchases",
    "refresh.stock-quants",
    "refresh.dimensions",
    "profit.date",
    "profit.range",
    "profit.validate",
    "monitor.performance",
    "operations.page",
    "services.start-worker",
    "services.stop-worker",
    "services.restart-worker",
    "services.web",
    "services.logs",
    "stuck.queue",
    "stuck.worker",
    "stuck.clear",
    "gaps.find",
    "gaps.refresh",
    "gaps.credentials",
    "query.slowness",
    "memory",
    "odoo.timeouts",
    "corrupt.find",
    "corrupt.rebuild",
    "backlog.active",
    "backlog.purge",
    "backlog.restart",
    "health.check",
    "tasks.monitor",
    "freshness.sla",
    "recovery.identify",
    "recovery.refresh",
    "recovery.validate",
    "query.date-filters",
    "query.aggregates",
    "query.caching",
    "query.timing-logs",
    "storage.sizes",
    "storage.compact",
    "storage.archive",
    "storage.clean-temp",
    "security.env",
    "security.etl-restricted",
    "security.read-only",
    "security.access-log",
    "backup.create",
    "backup.restore",
    "backup.validate",
}


def resolve(name: str) -> object:
    """``a.b.c.d`` -> the object: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr)
        return found
    raise ModuleNotFoundError(name)


@pytest.fixture
def ops_clock(tmp_path, monkeypatch) -> Path:
    """The clock file, set two days after the demo's last date and in effect here (``NKDASH_CLOCK_FILE``)."""
    path = tmp_path / "clock"
    path.write_text(f"{TODAY}T10:00:00+00:00")
    monkeypatch.setenv(backend.CLOCK_ENV, str(path))
    return path


@pytest.fixture
def opset(loaded_lake, tmp_path, ops_clock):
    """Settings on a private copy of the loaded demo lake, its own queue and logs, the clock set."""
    source = loaded_lake(17)
    shutil.copytree(source.lake, tmp_path / "lake")
    return source.with_(lake=tmp_path / "lake", state_dir=tmp_path / "state", log_dir=tmp_path / "logs", tz=TZ)


def lake_state(settings) -> tuple[list[str], list[dict]]:
    """Every file under the star schema, and every partition record."""
    lake = Lake(settings.lake, read_only=True)
    files = sorted(str(p.relative_to(lake.star)) for p in lake.star.rglob("*") if p.is_file())
    return files, MetaStore.for_lake(lake, read_only=True).partitions()


# ----------------------------------------------------------------------------- the runbook table
@pytest.mark.parametrize("procedure", runbook.RUNBOOK, ids=lambda p: p.key)
def test_every_named_function_exists(procedure):
    for name in procedure.calls:
        assert name.startswith("nkdash.")
        resolve(name)


def test_every_procedure_of_the_old_runbook_has_a_place():
    done = set(runbook.PROCEDURES) | set(runbook.ALIASES)
    assert done >= OLD_RUNBOOK, sorted(OLD_RUNBOOK - done)
    assert len(runbook.PROCEDURES) == len(runbook.RUNBOOK)  # keys are unique
    assert set(runbook.ALIASES.values()) <= set(runbook.PROCEDURES) and not set(runbook.ALIASES) & set(
        runbook.PROCEDURES
    )


def test_one_name_per_procedure():
    """No two procedures run the same action or carry the same title or button label."""
    for attribute in ("title", "label"):
        names = [getattr(p, attribute) for p in runbook.RUNBOOK]
        assert len(set(names)) == len(names), attribute
    actions = [p.action for p in runbook.RUNBOOK]
    assert len(set(actions)) == len(actions), [p.key for p in runbook.RUNBOOK if actions.count(p.action) > 1]


def test_every_procedure_that_changes_data_has_a_preview_and_a_confirmation():
    from nkdash.ops.previews import PREVIEWS

    mutating = {p.key for p in runbook.RUNBOOK if p.mutating}
    assert set(PREVIEWS) == mutating
    words = {p.key: runbook.word_of(p) for p in runbook.RUNBOOK if p.risk == "destructive"}
    assert words == {
        "services.stop-worker": "stop",
        "services.restart-worker": "restart",
        "backlog.purge": "purge",
        "backlog.revoke": "revoke",
        "corrupt.rebuild": "quarantine",
        "storage.archive": "archive",
        "backup.restore": "restore",
    }


def test_previews_change_nothing_and_say_what_will_happen(opset):
    refresh.async_refresh("invoices", (DAY, END), settings=opset)
    before = lake_state(opset), control.purge(opset, dry_run=True)
    params = runbook.Params(day=END, start=DAY, end=END, days=3, archive_before=DAY)
    for procedure in runbook.RUNBOOK:
        if procedure.mutating:
            step = runbook.begin(procedure.key, params, settings=opset)
            assert step.preview is not None and step.result is None, procedure.key
    assert (lake_state(opset), control.purge(opset, dry_run=True)) == before
    purge = runbook.begin("backlog.purge", params, settings=opset)
    assert purge.word == "purge" and "drop 4 task(s)" in purge.preview.text
    assert f"4 x refresh_partition invoices, {DAY} … {END}" in purge.preview.text
    revoke = runbook.begin("backlog.revoke", params, settings=opset)
    assert revoke.blocked and "enter the id" in revoke.preview.text


def test_archiving_inside_the_retention_is_refused_unless_forced(opset):
    params = runbook.Params(archive_before=END)
    step = runbook.begin("storage.archive", params, settings=opset)
    assert not step.preview.ok and step.word == runbook.FORCE_WORD and step.force
    assert "NKDASH_RETENTION_YEARS=2 keeps every date from 2022-01-01" in step.preview.text
    assert (
        "Forced, it would archive 36 partitions of 9 tables, 2024-03-29 … 2024-04-01 (1,439 rows)" in step.preview.text
    )
    assert Lake(opset.lake).partitions("fact_pos_sales")[0] == DATES[0]
    done = runbook.finish(step, params, settings=opset)
    assert done.ok and done.title == f"Archived 36 partition(s) before {END}"
    assert Lake(opset.lake).partitions("fact_pos_sales") == [END]


@pytest.mark.parametrize("procedure", runbook.RUNBOOK, ids=lambda p: p.key)
def test_the_place_exists_in_its_notebook(procedure):
    path, section = procedure.place
    notebook = next(nb for nb in NOTEBOOKS if nb.path == path)
    assert notebook.role == "operator"
    source = (NOTEBOOKS_DIR / notebook.file).read_text()
    if path == "/runbook":
        assert section in runbook.SECTIONS and "views.runbook_section(" in source
    else:
        assert f"## {section}" in source
    assert procedure.section in runbook.SECTIONS and procedure.label and procedure.how


def test_read_only_procedures_change_nothing(opset):
    before = lake_state(opset)
    params = runbook.Params(day=END, start=END, end=END, days=3)
    for procedure in runbook.RUNBOOK:
        if not procedure.mutating:
            result = runbook.run(procedure.key, params, settings=opset)
            assert result.title, procedure.key
    assert lake_state(opset) == before


# ----------------------------------------------------------------------------- refresh
def test_sync_refresh_of_one_date_updates_freshness(opset):
    assert common.latest_date(opset) == YESTERDAY
    result = refresh.sync_refresh("profit", (YESTERDAY, YESTERDAY), settings=opset)
    assert result.ok, result.text
    assert result.text.splitlines() == [
        f"pos: loaded {YESTERDAY}",
        f"invoices: loaded {YESTERDAY}",
        f"profit: loaded {YESTERDAY}",
    ]
    fresh = tables.freshness_table(opset).set_index("dataset")
    assert fresh.loc["Profit (Cost + Aggreg)", "last processed"] == YESTERDAY
    assert fresh.loc["Profit (Cost + Aggreg)", "SLA"] == "ok"
    assert fresh.loc["Purchases", "missing"] == str(YESTERDAY)
    assert set(tables.task_table(opset)["state"]) == {"done"}


@pytest.mark.parametrize(
    ("params", "period"),
    [
        ({}, (YESTERDAY, YESTERDAY)),
        ({"date": "2024-03-30"}, (DAY, DAY)),
        ({"start": "2024-03-30", "end": "2024-04-02"}, (DAY, END)),
        ({"start": "2024-04-02", "end": "2024-03-30"}, (DAY, END)),
        ({"start": "2024-03-30", "end": "2099-01-01"}, (DAY, YESTERDAY)),  # never past yesterday
        ({"date": "yesterday"}, (YESTERDAY, YESTERDAY)),
    ],
)
def test_the_period_from_url_parameters(opset, params, period):
    assert common.period_from(params, opset) == period


def test_dataset_choices():
    assert list(common.DATASET_CHOICES) == [
        "POS Sales",
        "Invoice Sales",
        "Purchases",
        "Inventory Moves",
        "Profit (Cost + Aggreg)",
        "Stock Quants",
        "Dimensions",
    ]
    assert common.choice("Stock Quants") == common.choice("stock-quants") == "stock-quants"
    assert common.choice(None) == common.choice("nonsense") == "pos"


def test_sync_refresh_is_for_one_day(opset):
    before = lake_state(opset)
    result = refresh.sync_refresh("pos", (DAY, END), settings=opset)
    assert not result.ok and "one day" in result.title
    assert lake_state(opset) == before


def test_async_refresh_of_more_than_31_days_is_refused_and_queues_nothing(opset):
    result = refresh.async_refresh("pos", (dt.date(2024, 1, 1), END), settings=opset)
    assert not result.ok and "nothing was queued" in result.title and "at most 31" in result.text
    assert control.pending(opset) == []


def test_async_refresh_queues_a_request_that_purge_drops(opset):
    result = refresh.async_refresh("invoices", (DAY, END), settings=opset)
    assert result.ok, result.text
    status = tables.request_table(result.value, opset)
    assert list(status["date"]) == [DAY, *common.dates_of((DAY + dt.timedelta(days=1), END))]
    assert set(status["state"]) == {"queued"} and tables.task_counts(opset)["pending"] == 4
    purged = runbook.run("backlog.purge", runbook.Params(), settings=opset)
    assert purged.ok and purged.title == "Purged 4 task(s): the queue is empty"
    assert set(tables.request_table(result.value, opset)["state"]) == {"revoked"}


def test_a_request_needs_an_id(opset):
    result = runbook.run("tasks.request", runbook.Params(), settings=opset)
    assert not result.ok and "request id" in result.text


# ----------------------------------------------------------------------------- recovery
def test_recovery_plan_lists_gone_failed_and_missing_dates_and_repair_loads_them(opset):
    lake, meta = Lake(opset.lake), MetaStore.for_lake(Lake(opset.lake))
    shutil.rmtree(lake.partition_dir("fact_purchases", DAY))  # deleted by hand
    meta.set_partition("inventory", END, status="failed", error="boom")  # a failed run
    due = recovery.due_dates(opset)
    assert due["purchases"] == [DAY, YESTERDAY]
    assert due["inventory"] == [END, YESTERDAY]
    assert due["pos"] == [YESTERDAY]
    plan = recovery.recovery_plan(opset).set_index("dataset")
    assert plan.loc["Purchases", "gone from the lake"] == str(DAY) and plan.loc["Inventory Moves", "failed"] == str(END)

    preview = recovery.repair(opset, dry_run=True)
    assert preview.plan.reload["purchases"] == [DAY, YESTERDAY] and not lake.has_partition("fact_purchases", DAY)
    assert "reload Purchases from Odoo: 2 date(s)" in preview.text()
    repaired = recovery.repair(opset)
    assert repaired.ok, repaired.text()
    assert all(dates == [] for dates in recovery.due_dates(opset).values())
    assert lake.has_partition("fact_purchases", DAY)
    assert {r["trigger"] for r in meta.runs(dataset="purchases", limit=2)} == {"recovery"}
    validated = recovery.validate_dates([DAY, END], opset)
    assert validated.ok, validated.text


def test_repair_loads_the_most_recent_dates_first_and_says_what_is_left(opset):
    lake = Lake(opset.lake)
    for day in (DAY, END):
        shutil.rmtree(lake.partition_dir("fact_purchases", day))
    repaired = recovery.repair(opset, limit=2)
    assert repaired.ok and "Purchases: 1 older date(s) left" in repaired.text(), repaired.text()
    assert recovery.due_dates(opset)["purchases"] == [DAY]


def test_cli_scan_and_repair(opset, monkeypatch, capsys):
    """``nkdash scan`` reports a damaged partition (exit 1); ``nkdash repair`` shows its plan
    and, without a terminal and without --yes, refuses (exit 2, nothing changed); with --yes it
    quarantines and reloads, and the scan is clean again."""
    from nkdash.cli.main import main

    monkeypatch.setattr("nkdash.settings._cached", opset)
    lake = Lake(opset.lake)
    path = lake.data_files("fact_purchases", DAY, DAY)[0].path
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert main(["scan"]) == 1
    assert "unreadable" in capsys.readouterr().out
    before = lake_state(opset)
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)  # not a terminal
        assert main(["repair"]) == 2
        out, err = capsys.readouterr()
        assert "quarantine unreadable fact_purchases 2024-03-30" in out and "not on a terminal" in err
        assert lake_state(opset) == before
        assert main(["repair", "--yes"]) == 0
        assert "Purchases: loaded" in capsys.readouterr().out
        assert main(["scan"]) == 0 and lake.scan() == []


def test_repair_rebuilds_missing_aggregates_from_the_lake_not_from_odoo(opset):
    lake = Lake(opset.lake)
    for day in (DAY, END):
        shutil.rmtree(lake.partition_dir("agg_sales_daily", day))
    plan = recovery.recovery_plan(opset).set_index("dataset")
    assert plan.loc["Profit (Cost + Aggreg)", "aggregates to rebuild"] == f"{DAY}, {END}"
    assert plan.loc["Profit (Cost + Aggreg)", "gone from the lake"] == "-"
    assert recovery.due_dates(opset)["profit"] == [YESTERDAY]  # not reloaded from Odoo
    repaired = recovery.repair(opset)
    assert repaired.ok and "agg_sales_daily    rebuilt 2 date(s)" in repaired.text(), repaired.text()
    assert lake.has_partition("agg_sales_daily", DAY) and lake.has_partition("agg_sales_daily", END)
    meta = MetaStore.for_lake(lake)
    assert {(r["date"], r["trigger"]) for r in meta.runs(dataset="profit", limit=3) if r["date"] != YESTERDAY} == {
        (DAY, "recovery"),
        (END, "recovery"),
    }
    deep = runbook.run("storage.backfill", runbook.Params(deep=True), settings=opset)
    assert deep.ok and deep.title == "Derived tables complete"  # every date verified, none differs
    assert "unchanged (verified) 6 date(s)" in deep.text  # yesterday was loaded too


def test_repair_with_nothing_due(opset):
    recovery.repair(opset)
    again = recovery.repair(opset)
    assert again.ok and again.title == "Nothing to repair" and again.plan.empty


def test_a_truncated_partition_is_found_quarantined_and_rebuilt(opset):
    lake = Lake(opset.lake)
    path = lake.info("fact_pos_sales", DAY).path
    original = pq.read_table(path)
    os.truncate(path, path.stat().st_size // 2)

    found = recovery.scan(opset).result(opset)
    assert not found.ok and list(found.table["kind"]) == ["unreadable"]
    assert list(found.table["dataset"]) == ["pos"] and list(found.table["date"]) == [DAY]

    repaired = recovery.repair(opset)
    assert repaired.ok, repaired.text()
    assert "quarantined unreadable fact_pos_sales 2024-03-30" in repaired.text()
    assert lake.scan() == []
    assert pq.read_table(lake.info("fact_pos_sales", DAY).path).equals(original)
    assert list((Path(opset.lake) / "_quarantine" / "fact_pos_sales").rglob("*.parquet"))
    assert recovery.due_dates(opset)["profit"] == []
    rebuilt = {r["date"] for r in MetaStore.for_lake(lake).runs(dataset="profit") if r["trigger"] == "recovery"}
    assert DAY in rebuilt  # the profit date built from it was rebuilt too


def test_a_damaged_dimension_is_reloaded_completely(opset):
    lake = Lake(opset.lake)
    path = lake.info("dim_store").path
    path.write_bytes(b"not parquet")
    repaired = recovery.repair(opset)
    assert repaired.ok, repaired.text()
    assert lake.scan() == [] and lake.read_whole("dim_store").num_rows > 0


def test_odoo_check(opset):
    ok, message = recovery.odoo_check(opset)
    assert ok and message.startswith("Odoo 17 at ")
    ok, message = recovery.odoo_check(opset.with_(odoo_password=Secret("wrong")))
    assert not ok and "ODOO_PASSWORD" in message and "wrong" not in message
    ok, message = recovery.odoo_check(opset.with_(odoo_url="http://127.0.0.1:9", odoo_retries=0))
    assert not ok and "ODOO_URL" in message


# ----------------------------------------------------------------------------- monitoring data
def at(minutes: int) -> dt.datetime:
    return dt.datetime(2024, 4, 1, 12, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def test_queue_depth_is_derived_from_the_task_history():
    rows = [
        {"enqueued_at": at(0), "started_at": at(2), "finished_at": at(5)},
        {"enqueued_at": at(1), "started_at": at(5), "finished_at": at(6)},
        {"enqueued_at": at(1), "started_at": None, "finished_at": at(3)},  # purged while waiting
        {"enqueued_at": None, "started_at": at(4), "finished_at": at(7)},  # a sync refresh
        {"enqueued_at": at(8), "started_at": None, "finished_at": None},  # still waiting
    ]
    series = monitoring.depth_series(rows, since=at(-1), now=at(10))
    assert list(zip(series["waiting"], series["running"])) == [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (2, 1),
        (1, 1),
        (1, 2),
        (1, 1),
        (0, 2),
        (0, 1),
        (0, 0),
        (1, 0),
        (1, 0),
    ]
    assert series["time"].iloc[0] == at(-1).replace(tzinfo=None)


def test_queue_depth_starts_from_the_state_before_the_window():
    rows = [{"enqueued_at": at(0), "started_at": at(5), "finished_at": at(6)}]
    series = monitoring.depth_series(rows, since=at(2), now=at(10))
    assert list(series["waiting"]) == [1, 0, 0, 0] and list(series["running"]) == [0, 1, 0, 0]


def test_monitoring_frames(opset):
    runs = monitoring.runs_frame(opset, days=1)
    assert (
        set(runs["dataset"]) == {"dimensions", "pos", "invoices", "purchases", "inventory", "stock-quants", "profit"}
        and monitoring.run_counts(runs)["failed"] == 0
    )
    assert set(monitoring.dataset_stats(opset, 1)["dataset"]) == set(runs["dataset"])
    files = monitoring.partition_files(opset)
    assert len(files[files["table"] == "fact_pos_sales"]) == 5
    assert list(monitoring.queue_depth(opset, 1).columns) == ["time", "waiting", "running"]
    schedule = tables.schedule_table(opset)
    assert list(schedule["local time"]) == [*jobs_schedule.SCHEDULE.values(), *jobs_schedule.MAINTENANCE.values()]
    assert list(schedule["dataset"])[-1] == "Compact old months"


# ----------------------------------------------------------------------------- services and logs
def test_a_worker_is_started_listed_and_stopped(opset):
    started = services.start_worker(opset, periodic=False)
    assert started.ok, started.text
    pid = started.value
    try:
        assert [w["pid"] for w in services.workers(opset)] == [pid]
        assert list(services.worker_table(opset)["pid"]) == [pid]
    finally:
        stopped = services.stop_workers(opset, timeout=30)
    assert stopped.ok and f"pid {pid}: exited with code 0" in stopped.text
    assert services.workers(opset) == []
    assert "consumer" in services.tail(services.log_files(opset)["worker"])


def test_a_worker_started_by_another_process_is_stopped_by_pid(opset):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    services.record_worker(proc.pid, opset)
    assert [w["pid"] for w in services.workers(opset)] == [proc.pid]
    stopped = services.stop_workers(opset, timeout=5)
    assert stopped.ok and f"pid {proc.pid}: stopped" in stopped.text
    assert proc.wait(5) == -15 and services.workers(opset) == []


def test_tail(tmp_path):
    path = tmp_path / "log"
    path.write_text("".join(f"line {i}\n" for i in range(500)))
    assert services.tail(path, 3) == "line 497\nline 498\nline 499"
    assert services.tail(tmp_path / "missing") == ""


# ----------------------------------------------------------------------------- backup and restore
def test_backup_then_restore_brings_back_a_deleted_partition(opset):
    taken = backups.backup(opset)
    assert taken.ok, taken.text
    lake = Lake(opset.lake)
    shutil.rmtree(lake.partition_dir("fact_pos_sales", END))
    restored = runbook.run("backup.restore", runbook.Params(backup=None), settings=opset)
    assert restored.ok, restored.text
    assert lake.has_partition("fact_pos_sales", END)
    assert list(backups.backup_choices(opset).values()) == [None, taken.value]


def test_restore_without_a_backup_says_so(opset):
    result = backups.restore(None, opset)
    assert not result.ok and "take one first" in result.text
