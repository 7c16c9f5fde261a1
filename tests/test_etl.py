"""The ETL runner: units recorded in the metadata, idempotent re-runs, failures that do
not stop a range, plan/catch-up (missing, failed, stale dates) and late edits."""

import datetime as dt
from collections import Counter

import duckdb
import pyarrow.dataset as pads
import pytest

from nkdash.demo.generate import apply_late_edits, redate_invoices
from nkdash.etl import catch_up, plan, profit, refresh
from nkdash.etl.validate import validate
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.odoo import connect
from tests.support.demo import DATED, DATES, END, settings_for

TODAY = END + dt.timedelta(days=1)
ODOO17 = pytest.mark.parametrize("version", [17], ids=["odoo17"])  # version-independent behaviour
# Whole-lake scenarios: Odoo 17 and 19 (the two protocols, with and without valuation layers)
# by default; 16 and 18 with the slow tests.
EVERY_VERSION = pytest.mark.parametrize(
    "version",
    [
        pytest.param(16, marks=pytest.mark.slow),
        17,
        pytest.param(18, marks=pytest.mark.slow),
        19,
    ],
    ids=lambda v: f"odoo{v}",
)


def meta_of(settings) -> MetaStore:
    return MetaStore.for_lake(Lake(settings.lake))


def checksums(settings) -> dict:
    return {(p["dataset"], p["date"]): (p["status"], p["rows"], p["checksum"]) for p in meta_of(settings).partitions()}


@ODOO17
def test_each_unit_is_recorded(settings):
    report = refresh("pos", DATES[:2], settings=settings, progress=False, trigger="sync")
    assert report.ok and [(u.dataset, u.date) for u in report.units] == [
        ("dimensions", None),
        ("pos", DATES[0]),
        ("pos", DATES[1]),
    ]
    runs = meta_of(settings).runs(dataset="pos")
    assert [r["status"] for r in runs] == ["success", "success"] and {r["trigger"] for r in runs} == {"sync"}
    for run, unit in zip(reversed(runs), report.units[1:]):
        assert run["rows"] == unit.rows == run["source_count"] > 0
        assert run["checksum"] == unit.checksum and run["duration_s"] > 0 and run["bytes"] > 0
        assert set(run["source_totals"]) == {"count", "qty", "price_subtotal"}
    state = meta_of(settings).partition("pos", DATES[0])
    assert state["status"] == "loaded" and state["checksum"] == report.units[1].checksum
    assert state["source_max_write_date"] is not None


@EVERY_VERSION
def test_running_the_same_refresh_twice_changes_nothing(lake_copy):
    before = checksums(lake_copy)
    for name in DATED:
        assert refresh(name, DATES, settings=lake_copy, progress=False).ok
    assert checksums(lake_copy) == before
    assert Lake(lake_copy.lake).scan() == []


def test_profit_loads_its_missing_inputs_first(settings):
    report = profit([DATES[0]], settings=settings, progress=False)
    assert report.ok
    assert [u.dataset for u in report.units] == ["dimensions", "pos", "invoices", "profit"]
    assert validate(DATES[0], settings=settings).ok


@ODOO17
def test_a_failed_date_is_recorded_and_the_range_goes_on(settings):
    lake = Lake(settings.lake)
    blocker = lake.star / "fact_purchases" / "year=2024" / "month=04"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")  # April partitions cannot be written
    report = refresh("purchases", DATES, settings=settings, progress=False)
    april = [d for d in DATES if d.month == 4]
    assert not report.ok and report.failed_dates == april
    assert "FAILED purchases 2024-04-01" in report.summary()
    meta = meta_of(settings)
    assert {p["date"]: p["status"] for p in meta.partitions("purchases")} == {
        d: "failed" if d in april else "loaded" for d in DATES
    }
    assert all(r["error"] for r in meta.runs(dataset="purchases", status="failed"))
    blocker.unlink()
    assert plan("purchases", TODAY, settings=settings) == april
    assert catch_up("purchases", TODAY, settings=settings).ok
    assert plan("purchases", TODAY, settings=settings) == []


@ODOO17
def test_a_partition_deleted_by_hand_is_planned_and_rebuilt(lake_copy):
    lake = Lake(lake_copy.lake)
    before = lake.info("fact_inventory_moves", DATES[2])
    lake.delete_partition("fact_inventory_moves", DATES[2])
    assert plan("inventory", TODAY, settings=lake_copy) == [DATES[2]]
    assert catch_up("inventory", TODAY, settings=lake_copy).ok
    assert lake.info("fact_inventory_moves", DATES[2]).checksum == before.checksum


@EVERY_VERSION
def test_late_edits_converge(fresh_demo, tmp_path):
    settings = settings_for(fresh_demo, tmp_path / "lake")
    for name in DATED:
        assert refresh(name, DATES, settings=settings, progress=False).ok
    assert all(plan(name, TODAY, settings=settings) == [] for name in DATED)
    edited = apply_late_edits(fresh_demo.db, fresh_demo.db.now + dt.timedelta(hours=1), n=3)
    assert edited["pos.order.line"]

    due = {name: plan(name, TODAY, settings=settings) for name in DATED}
    assert due["pos"] and set(due["pos"]) <= set(due["profit"])
    assert END in due["pos"]  # the open sessions were closed: costs computed
    for name in DATED:
        assert catch_up(name, TODAY, settings=settings).ok
    assert all(plan(name, TODAY, settings=settings) == [] for name in DATED)
    for day in DATES:
        report = validate(day, settings=settings)
        assert report.ok, report.text()
    sales = Lake(settings.lake).read_partition("fact_sales", END).to_pylist()
    assert {s["cost_source"] for s in sales if s["channel"] == "pos"} == {"pos_total_cost"}


@ODOO17
def test_two_catch_ups_in_a_row_with_nothing_changed_reload_nothing(fresh_demo, tmp_path):
    """Odoo stamps write_date with microseconds and reads it back cut to the second: the edits
    made mid-second are reloaded once, then never again while Odoo does not change."""
    settings = settings_for(fresh_demo, tmp_path / "lake")
    for name in DATED:
        assert refresh(name, DATES, settings=settings, progress=False).ok
    apply_late_edits(fresh_demo.db, fresh_demo.db.now + dt.timedelta(hours=1, microseconds=500000), n=3)
    first = {name: catch_up(name, TODAY, settings=settings) for name in DATED}
    assert first["pos"].units and first["profit"].units  # the edits, once
    asked = []
    for _ in range(2):
        client, before = connect(settings), Counter(fresh_demo.model_calls)
        again = {name: catch_up(name, TODAY, settings=settings, client=client) for name in DATED}
        assert {name: r.units for name, r in again.items()} == {name: [] for name in DATED}  # no unit, not even dims
        asked.append(Counter(fresh_demo.model_calls) - before)
    assert asked[0] == asked[1]  # the same look for changes each time, and nothing else:
    assert {call.split(".")[-1] for call in asked[0]} <= {"search_read", "context_get", "fields_get"}
    searches = sum(n for call, n in asked[0].items() if call.endswith("search_read"))
    assert searches == 12  # one per model of each plan: 8, and profit plans its inputs' 4 again


@ODOO17
def test_a_redated_invoice_leaves_its_old_date_at_the_next_catch_up(fresh_demo, tmp_path):
    settings = settings_for(fresh_demo, tmp_path / "lake")
    for name in ("invoices", "profit"):
        assert refresh(name, DATES, settings=settings, progress=False).ok
    changes = redate_invoices(fresh_demo.db, fresh_demo.db.now + dt.timedelta(hours=1), days=-3)
    [(move, (old, new))] = changes.redated.items()
    assert plan("invoices", TODAY, settings=settings) == [new, old]
    for name in ("invoices", "profit"):
        assert catch_up(name, TODAY, settings=settings).ok
    lake = Lake(settings.lake)
    holding = [d for d in DATES if move in lake.read_partition("fact_invoice_sales", d, ["move_id"])[0].to_pylist()]
    assert holding == [new]
    for day in (old, new):
        report = validate(day, ["invoices", "profit"], settings=settings)
        assert report.ok, report.text()


def test_dimensions_are_incremental_and_fully_reloadable(settings):
    assert refresh("dimensions", [DATES[0]], settings=settings, progress=False).ok
    meta, lake = meta_of(settings), Lake(settings.lake)
    full = {t: lake.info(t).checksum for t in ("dim_product", "dim_partner")}
    written = {t: lake.info(t).path.stat().st_mtime_ns for t in full}
    report = refresh("dimensions", [DATES[0]], settings=settings, progress=False)
    assert report.ok and report.units[0].date is None
    assert {t: lake.info(t).path.stat().st_mtime_ns for t in full} == written  # nothing changed: not rewritten
    assert meta.partition("dimensions", None)["status"] == "loaded"
    assert refresh("dimensions", [DATES[0]], settings=settings, progress=False, full=True).ok
    assert {t: lake.info(t).checksum for t in full} == full


@ODOO17
def test_a_renamed_product_reaches_dim_product(fresh_demo, tmp_path):
    settings = settings_for(fresh_demo, tmp_path / "lake")
    assert refresh("dimensions", [END], settings=settings, progress=False).ok
    fresh_demo.db.write("product.product", [1], {"name": "Renamed"}, when=dt.datetime(2024, 4, 3, 8))
    assert refresh("dimensions", [END], settings=settings, progress=False).ok
    products = Lake(settings.lake).read_whole("dim_product").to_pylist()
    assert [p["name"] for p in products if p["id"] == 1] == ["Renamed"]
    assert len(products) == fresh_demo.db.models["product.product"].next_id - 1


def test_plain_duckdb_and_pyarrow_read_the_lake(loaded_lake, version):
    settings = loaded_lake(version)
    root, lake = settings.lake / "star-schema", Lake(settings.lake, read_only=True)
    expected = {day: lake.read_partition("fact_pos_sales", day).num_rows for day in DATES}
    duck = duckdb.sql(
        f"SELECT year, month, day, count(*) FROM read_parquet("
        f"'{root}/fact_pos_sales/**/*.parquet', hive_partitioning=true) GROUP BY ALL"
    ).fetchall()
    assert {dt.date(int(y), int(m), int(d)): n for y, m, d, n in duck} == expected
    sales = pads.dataset(root / "fact_sales", format="parquet", partitioning="hive").to_table()
    assert sales.num_rows == sum(lake.read_partition("fact_sales", day).num_rows for day in DATES)
    assert set(sales.column("date").to_pylist()) == set(DATES)
    assert duckdb.sql(f"SELECT count(*) FROM '{root}/dim_product/*.parquet'").fetchall() > [(0,)]
