"""nkdash.meta: runs, partitions, watermarks, validations, timings, tasks, freshness, concurrency."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from nkdash.errors import InputError, LakeError
from nkdash.lake import Lake
from nkdash.meta import Freshness, MetaStore, Watermark
from nkdash.meta.migrations import MIGRATIONS

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
UTC = dt.UTC


@pytest.fixture
def meta(tmp_path: Path) -> MetaStore:
    return MetaStore(tmp_path / "meta.sqlite")


def test_for_lake_lives_in_meta_dir(tmp_path):
    store = MetaStore.for_lake(Lake(tmp_path))
    assert store.path == tmp_path / "_meta" / "nkdash.sqlite" and store.path.exists()
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert con.execute("SELECT max(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
    MetaStore.for_lake(Lake(tmp_path))  # reopening migrates nothing twice


def test_a_store_of_an_older_nkdash_is_migrated_and_keeps_its_runs(tmp_path):
    """A version-1 store (written before runs recorded their process) opens, gains the
    later columns, and its old runs still read; a store newer than nkdash is refused."""
    path = tmp_path / "meta.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in MIGRATIONS[0]:
            con.execute(statement)
        con.execute("INSERT INTO schema_version (version) VALUES (1)")
        run = con.execute(
            "INSERT INTO runs (dataset, date, trigger, status, started_at, finished_at, rows) "
            "VALUES ('pos_sales', ?, 'manual', 'success', '2024-03-01T02:00:00+00:00', "
            "'2024-03-01T02:01:00+00:00', 3)",
            (D1.isoformat(),),
        ).lastrowid
    store = MetaStore(path)
    [done] = store.runs(status="success")
    assert done["id"] == run and done["rows"] == 3 and done["date"] == D1
    new = store.start_run("pos_sales", D1, "manual")  # the new columns are written
    assert store.runs(status="running")[0]["id"] == new
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone() == (len(MIGRATIONS),)
        con.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(LakeError, match="upgrade nkdash"):
        MetaStore(path)


def test_run_roundtrip(meta):
    run = meta.start_run("pos_sales", D1, "manual", task_id="t-1")
    [running] = meta.runs(status="running")
    assert running["id"] == run and running["date"] == D1 and running["finished_at"] is None
    time.sleep(0.01)
    meta.finish_run(
        run, status="success", rows=12, source_count=12, source_totals={"revenue": 10.5}, checksum="abc", bytes=2048
    )
    [done] = meta.runs(dataset="pos_sales")
    assert done["status"] == "success" and done["rows"] == 12 and done["source_totals"] == {"revenue": 10.5}
    assert done["trigger"] == "manual" and done["task_id"] == "t-1" and done["bytes"] == 2048
    assert done["duration_s"] >= 0.01 and done["finished_at"].tzinfo is not None
    assert done["duration_s"] == pytest.approx((done["finished_at"] - done["started_at"]).total_seconds())


def test_runs_filters_newest_first(meta):
    first = meta.start_run("pos_sales", D1, "schedule")
    meta.finish_run(first, status="failed", error="Odoo timed out")
    cutoff = dt.datetime.now(UTC)
    second = meta.start_run("purchases", D2, "async")
    meta.finish_run(second, status="skipped")
    assert [r["id"] for r in meta.runs()] == [second, first]
    assert [r["id"] for r in meta.runs(since=cutoff)] == [second]
    assert [r["error"] for r in meta.runs(status="failed")] == ["Odoo timed out"]
    assert len(meta.runs(limit=1)) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.start_run("pos_sales", D1, "cron"),
        lambda m: m.finish_run(m.start_run("pos_sales", D1, "sync"), status="done"),
        lambda m: m.finish_run(999, status="success"),
        lambda m: m.set_partition("pos_sales", D1, status="ok"),
        lambda m: m.set_partition("pos_sales", dt.datetime(2024, 3, 1), status="loaded"),
        lambda m: m.task_event("t", colour="red"),
        lambda m: m.task_event("t", state="sleeping"),
    ],
    ids=["trigger", "run-status", "unknown-run", "partition-status", "datetime-as-date", "task-field", "task-state"],
)
def test_bad_values_refused(meta, call):
    with pytest.raises(InputError):
        call(meta)


def test_partition_states(meta):
    run = meta.start_run("pos_sales", D1, "schedule")
    swd = dt.datetime(2024, 3, 2, 1, 2, 3)  # naive = UTC, like Odoo's write_date
    meta.set_partition("pos_sales", D1, status="loaded", rows=5, checksum="c1", run_id=run, source_max_write_date=swd)
    loaded = meta.partition("pos_sales", D1)
    assert loaded["status"] == "loaded" and loaded["rows"] == 5 and loaded["checksum"] == "c1"
    assert loaded["source_max_write_date"] == swd.replace(tzinfo=UTC) and loaded["run_id"] == run
    meta.set_partition("pos_sales", D1, status="failed", error="boom")
    failed = meta.partition("pos_sales", D1)
    assert (failed["status"], failed["error"], failed["rows"], failed["checksum"]) == ("failed", "boom", 5, "c1")
    meta.set_partition("pos_sales", D1, status="quarantined", error="unreadable")
    assert meta.partition("pos_sales", D1)["rows"] == 0 and meta.partition("pos_sales", D1)["checksum"] is None
    meta.set_partition("dim_product", None, status="loaded", rows=100)
    assert meta.partition("dim_product", None)["date"] is None
    assert [p["dataset"] for p in meta.partitions()] == ["dim_product", "pos_sales"]
    assert meta.partition("pos_sales", D2) is None


def test_mark_stale_only_touches_loaded(meta):
    meta.set_partition("pos_sales", D1, status="loaded", rows=1)
    meta.set_partition("pos_sales", D2, status="failed", error="x")
    assert meta.mark_stale("pos_sales", [D1, D2, D3], "refund edited in Odoo") == 1
    stale = meta.partition("pos_sales", D1)
    assert stale["status"] == "stale" and stale["stale_reason"] == "refund edited in Odoo" and stale["rows"] == 1
    meta.set_partition("pos_sales", D1, status="loaded", rows=2)
    assert meta.partition("pos_sales", D1)["stale_reason"] is None


def test_watermarks(meta):
    assert meta.get_watermark("pos_sales") is None
    meta.set_watermark("pos_sales", dt.datetime(2024, 3, 1, 12, 0))
    meta.set_watermark("pos_sales", dt.datetime(2024, 3, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert meta.get_watermark("pos_sales") == dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_a_watermark_keeps_the_ids_seen_in_its_second(meta):
    second = dt.datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    meta.set_mark("stale:pos:pos.order", Watermark(second, frozenset({7, 3})))
    assert meta.get_mark("stale:pos:pos.order") == Watermark(second, frozenset({3, 7}))
    assert meta.get_watermark("stale:pos:pos.order") == second
    meta.set_watermark("stale:pos:pos.order", second + dt.timedelta(seconds=1))  # a plain stamp: nothing seen yet
    assert meta.get_mark("stale:pos:pos.order") == Watermark(second + dt.timedelta(seconds=1))
    assert meta.get_mark("unknown") is None


def test_the_lake_source_is_recorded_once(meta):
    assert meta.source() is None
    first = meta.record_source("https://erp.example.com", "prod", "NK", "u-1")
    assert (first["url"], first["db"], first["company"], first["uuid"]) == (
        "https://erp.example.com",
        "prod",
        "NK",
        "u-1",
    )
    assert meta.record_source("https://other.example.com", "test", None, None) == first


def test_reconciliations_keep_the_latest_outcome_per_dataset_and_date(meta):
    meta.record_reconciliation("invoices", D1, "not_reconciled", "lake 4, Odoo 3", run_id=1)
    meta.record_reconciliation("invoices", D2, "reconciled")
    meta.record_reconciliation("pos", D1, "healed")
    assert [(r["dataset"], r["date"], r["status"]) for r in meta.reconciliations()] == [
        ("invoices", D1, "not_reconciled"),
        ("invoices", D2, "reconciled"),
        ("pos", D1, "healed"),
    ]
    meta.set_partition("invoices", D1, status="loaded", rows=1)
    assert meta.freshness(["invoices"], D3)[0].unreconciled == [D1]
    meta.record_reconciliation("invoices", D1, "healed", run_id=2)
    [row] = meta.reconciliations(dataset="invoices", status="healed")
    assert (row["date"], row["run_id"], row["detail"]) == (D1, 2, None)
    assert meta.freshness(["invoices"], D3)[0].unreconciled == []
    with pytest.raises(InputError, match="status must be one of"):
        meta.record_reconciliation("pos", D1, "fine")


def test_an_older_store_read_only_shows_no_reconciliation_before_it_is_upgraded(tmp_path):
    path = tmp_path / "meta.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
            con.execute(statement)
        con.execute("INSERT INTO schema_version (version) VALUES (2)")
        con.execute(
            "INSERT INTO partitions (dataset, date, status, updated_at) VALUES ('pos', ?, 'loaded', ?)",
            (D1.isoformat(), "2024-03-02T00:00:00+00:00"),
        )
        con.execute("INSERT INTO watermarks VALUES ('stale:pos:pos.order', '2024-03-01T12:00:00+00:00', 'x')")
    [fresh] = MetaStore(path, read_only=True).freshness(["pos"], D3)
    assert fresh.last_loaded == D1 and fresh.unreconciled == []
    store = MetaStore(path)  # upgraded: the watermark has seen nothing in its second yet
    assert store.get_mark("stale:pos:pos.order") == Watermark(dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC))


def test_validations_and_query_timings(meta):
    checks = [{"check": "margin = revenue - cost", "ok": True}, {"check": "totals", "ok": False, "diff": 0.5}]
    vid = meta.record_validation("profit", D1, False, checks)
    meta.record_validation("profit", D2, True, [])
    [found] = meta.validations(dataset="profit", date=D1)
    assert found["id"] == vid and found["ok"] is False and found["checks"] == checks
    assert [v["date"] for v in meta.validations()] == [D2, D1]
    meta.record_query("sales_by_store", 0.25, 7, params='["2024-03-01"]')
    meta.record_query("margins", 1.5, 70)
    timings = meta.query_timings()
    assert [(t["name"], t["seconds"], t["rows"]) for t in timings] == [
        ("sales_by_store", 0.25, 7),
        ("margins", 1.5, 70),
    ]
    assert timings[0]["params"] == '["2024-03-01"]'
    assert meta.query_timings(since=dt.datetime.now(UTC) + dt.timedelta(seconds=1)) == []


def test_task_history(meta):
    meta.task_event("t1", name="refresh", dataset="pos_sales", date=D1, state="queued", params={"days": 3})
    meta.task_event("t1", state="running")
    meta.task_event("t1", state="failed", error="Odoo down", retries=1)
    meta.task_event("t2", name="profit", state="queued")
    [t1] = meta.tasks(state="failed")
    assert t1["params"] == {"days": 3} and t1["date"] == D1 and t1["retries"] == 1 and t1["error"] == "Odoo down"
    assert t1["enqueued_at"] <= t1["started_at"] <= t1["finished_at"]
    assert [t["id"] for t in meta.tasks()] == ["t2", "t1"] and len(meta.tasks(limit=1)) == 1


TODAY = dt.date(2024, 3, 10)


def loaded(meta: MetaStore, dataset: str, *days: int, status: str = "loaded") -> None:
    for day in days:
        meta.set_partition(dataset, dt.date(2024, 3, day), status=status, rows=1)


@pytest.mark.parametrize(
    "last_day,status,lag",
    [
        (9, "ok", 1),
        (10, "ok", 0),
        (8, "late", 2),
        (7, "late", 3),
        (6, "critical", 4),
    ],
)
def test_freshness_sla(meta, last_day, status, lag):
    loaded(meta, "pos_sales", last_day)
    [fresh] = meta.freshness(["pos_sales"], TODAY)
    assert (fresh.status, fresh.lag_days, fresh.last_loaded) == (status, lag, dt.date(2024, 3, last_day))


def test_freshness_lists_missing_failed_and_stale(meta):
    loaded(meta, "pos_sales", 1, 2, 4, 9)
    loaded(meta, "pos_sales", 5, status="failed")
    loaded(meta, "pos_sales", 6, status="quarantined")
    meta.mark_stale("pos_sales", [dt.date(2024, 3, 4)], "late edit")
    [fresh] = meta.freshness(["pos_sales"], TODAY)
    day = lambda *days: [dt.date(2024, 3, d) for d in days]  # noqa: E731
    assert fresh == Freshness(
        "pos_sales", dt.date(2024, 3, 9), missing=day(3, 6, 7, 8), failed=day(5), stale=day(4), lag_days=1, status="ok"
    )
    [windowed] = meta.freshness(["pos_sales"], TODAY, start=dt.date(2024, 3, 6))
    assert windowed.missing == day(6, 7, 8) and windowed.failed == [] and windowed.stale == []


def test_freshness_without_data_is_critical(meta):
    [fresh] = meta.freshness(["purchases"], TODAY)
    assert fresh == Freshness("purchases", None, [dt.date(2024, 3, 9)], [], [], None, "critical")


def test_read_only_store(tmp_path):
    absent = MetaStore(tmp_path / "absent.sqlite", read_only=True)
    assert absent.runs() == [] and absent.get_watermark("x") is None and not absent.path.exists()
    MetaStore(tmp_path / "m.sqlite").set_watermark("x", dt.datetime(2024, 1, 1))
    reader = MetaStore(tmp_path / "m.sqlite", read_only=True)
    assert reader.get_watermark("x") == dt.datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(LakeError, match="read-only"):
        reader.set_watermark("x", dt.datetime(2024, 1, 2))


def hammer(path: str, worker: int, rounds: int, barrier) -> None:
    store = MetaStore(path)
    barrier.wait()  # both processes write at the same time
    for i in range(rounds):
        run = store.start_run(f"ds{worker}", D1, "async", task_id=f"{worker}-{i}")
        store.set_partition(f"ds{worker}", D1 + dt.timedelta(days=i), status="loaded", rows=i, run_id=run)
        store.task_event(f"{worker}-{i}", state="running")
        store.record_query("q", 0.1, i)
        store.finish_run(run, status="success", rows=i)
        store.runs(limit=5)


def test_concurrent_writers_from_two_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    rounds = 60
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=hammer, args=(path, w, rounds, barrier)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    store = MetaStore(path)
    assert len(store.runs(status="success")) == 2 * rounds
    assert len(store.partitions()) == 2 * rounds and len(store.query_timings()) == 2 * rounds


def test_a_forked_child_opens_its_own_connection(meta):
    meta.set_watermark("before", dt.datetime(2024, 1, 1))
    child = multiprocessing.get_context("fork").Process(
        target=lambda: meta.set_watermark("child", dt.datetime(2024, 1, 2))
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    meta.set_watermark("after", dt.datetime(2024, 1, 3))
    assert [meta.get_watermark(k).day for k in ("before", "child", "after")] == [1, 2, 3]
    with sqlite3.connect(meta.path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
