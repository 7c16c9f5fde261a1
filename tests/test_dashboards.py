"""nkdash.dashboards: the dashboards' queries against a lake the ETL loaded from the demo Odoo.

Expected numbers are computed independently, with pyarrow/pandas straight from the
parquet files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Dashboard, Filters, engine, memtables, rounding
from nkdash.dashboards import labels as dashboards_labels
from nkdash.errors import InputError, LakeError
from nkdash.lake import PARTITIONED, Lake
from nkdash.meta import MetaStore
from tests.support.dashboards import approx, category_id, descendants, expected_sales, read
from tests.support.demo import DATES, END

F = Filters(DATES[0], DATES[-1])


@pytest.fixture
def private(lake17, tmp_path) -> Path:
    """A copy of the loaded lake a test may change."""
    shutil.copytree(lake17, tmp_path / "lake")
    return tmp_path / "lake"


# ----------------------------------------------------------------------------- sales
@pytest.mark.parametrize(
    "stores, categories",
    [
        ((), ()),
        ((1,), ()),
        ((2,), ()),
        ((), ("Food",)),
        ((1,), ("Beverages", "Dairy")),
    ],
)
def test_sales_summary_matches_fact_sales(db, lake17, stores, categories):
    f = Filters(DATES[0], DATES[-1], stores, tuple(category_id(lake17, c) for c in categories))
    want = expected_sales(lake17, f)
    got = d.sales_summary(db, f).iloc[0]
    assert want["lines"] > 0
    for column in ("revenue", "cost", "margin", "units", "lines", "orders", "refunds", "basket"):
        assert got[column] == approx(want[column]), column
    assert got["margin_pct"] == pytest.approx(want["margin"] / want["revenue"], abs=1e-5)


def test_sales_by_store_and_channel_split_the_total(db):
    total = d.sales_summary(db, F).iloc[0]
    stores, channels = d.sales_by_store(db, F), d.sales_by_channel(db, F)
    assert set(stores["store"]) == {"Brussels Centre", "Antwerp Central Station", dashboards_labels.NO_STORE}
    assert set(channels["channel"]) == {"Point of sale", "Invoice"}
    for frame in (stores, channels):
        assert frame["revenue"].sum() == approx(total["revenue"])
        assert frame["orders"].sum() == total["orders"]
        assert frame["share"].sum() == pytest.approx(1, abs=1e-5)
        assert frame["revenue"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "grain, periods",
    [
        ("day", DATES),
        ("week", [dt.date(2024, 3, 25), dt.date(2024, 4, 1)]),
        ("month", [dt.date(2024, 3, 1), dt.date(2024, 4, 1)]),
    ],
)
def test_trend_has_every_period_and_adds_up(db, grain, periods):
    total = d.sales_summary(db, F).iloc[0]
    trend = d.sales_trend(db, F, grain)
    assert [p.date() for p in trend["period"]] == periods
    assert trend["revenue"].sum() == approx(total["revenue"])
    assert trend["orders"].sum() == total["orders"]
    by_channel = d.sales_trend(db, F, grain, "channel")
    assert len(by_channel) == 2 * len(periods)  # every period x channel, zeros filled
    assert by_channel["revenue"].sum() == approx(total["revenue"])


def test_trend_by_store_names_stores(db):
    trend = d.sales_trend(db, Filters(DATES[0], DATES[-1], (1,)), "day", "store")
    assert set(trend["store"]) == {"Brussels Centre"} and len(trend) == len(DATES)


def test_previous_period_comparison(db, lake17):
    f = Filters(DATES[3], DATES[4])
    assert f.previous() == Filters(DATES[1], DATES[2])
    kpis = d.sales_comparison(db, f).kpis.set_index("metric")
    now, before = expected_sales(lake17, f), expected_sales(lake17, f.previous())
    assert kpis.loc["revenue", "previous"] == approx(before["revenue"])
    assert kpis.loc["orders", "previous"] == before["orders"]
    assert kpis.loc["revenue", "previous_change"] == pytest.approx(now["revenue"] / before["revenue"] - 1, abs=1e-4)
    assert kpis.loc["refunded", "better"] == "decrease"
    # nothing loaded before the first date: no previous figures, and the coverage says why
    first = d.sales_comparison(db, F)
    assert first.kpis["previous"].isna().all() and first.coverage["previous"].state == "not loaded"


# ----------------------------------------------------------------------------- profit
def test_profit_by_product_and_extremes(db):
    products = d.profit_by(db, F, "product")
    total = d.sales_summary(db, F).iloc[0]
    assert products["margin"].sum() == approx(total["margin"])
    assert ((products["revenue"] - products["cost"] - products["margin"]).abs() < 0.011).all()
    assert products["margin"].is_monotonic_decreasing
    extremes = d.top_products(db, F, 5)
    top, bottom = extremes[extremes["rank"] == "top"], extremes[extremes["rank"] == "bottom"]
    assert len(top) == len(bottom) == 5 and not set(top["product_id"]) & set(bottom["product_id"])
    assert top["margin"].min() >= bottom["margin"].max()
    assert bottom["margin"].iloc[0] == products["margin"].min()


@pytest.mark.parametrize("by", ["store", "category", "department"])
def test_profit_by_splits_the_margin(db, by):
    frame = d.profit_by(db, F, by)
    assert frame["margin"].sum() == approx(d.sales_summary(db, F).iloc[0]["margin"])
    assert frame["margin_share"].sum() == pytest.approx(1, abs=1e-5)
    if by != "store":
        assert not frame["department"].str.startswith("All").any()


# ----------------------------------------------------------------------------- inventory
def stock_at(lake: Path, day: dt.date) -> pd.DataFrame:
    quants = read(lake, "fact_stock_quants")
    quants = quants[quants["date"] == pd.Timestamp(day)]
    products = read(lake, "dim_product").rename(columns={"id": "product_id"})
    return quants.merge(products[["product_id", "standard_price", "category_id"]], on="product_id")


@pytest.mark.parametrize("end", [DATES[-1], DATES[2]])
def test_stock_levels_at_the_last_date_of_the_period(db, lake17, end):
    f = Filters(DATES[0], end)
    assert d.stock_date(db, f) == end
    want = stock_at(lake17, end)
    for by in ("location", "category", "product"):
        got = d.stock_levels(db, f, by)
        assert got["qty"].sum() == pytest.approx(want["quantity"].sum())
        assert got["value"].sum() == approx((want["quantity"] * want["standard_price"]).sum())
    locations = d.stock_levels(db, Filters(DATES[0], end, (1,)), "location")
    assert list(locations["location"]) == ["BRU/Stock"]


def test_stock_moves_in_and_out(db, lake17):
    moves = read(lake17, "fact_inventory_moves")
    got = d.stock_moves(db, F, "day")
    for direction, usage in (("in", "dest_usage"), ("out", "src_usage")):
        want = moves.loc[moves[usage] == "internal"].groupby("kind")["qty"].sum()
        mine = got[got["direction"] == direction].groupby("kind")["qty"].sum()
        pd.testing.assert_series_equal(mine.sort_index(), want.sort_index(), check_names=False)
    # kinds are text in name order within a period and direction; a kinds filter keeps those
    assert got["kind"].dtype == d.stores(db)["name"].dtype
    assert got.equals(got.sort_values(["period", "direction", "kind"], kind="stable").reset_index(drop=True))
    only = d.stock_moves(db, F, "day", ("receipt", "delivery"))
    assert set(only["kind"]) == {"receipt", "delivery"} & set(got["kind"]) and len(only) > 0


def test_slow_movers_have_stock_and_no_sales(db, lake17):
    slow = d.slow_movers(db, F)
    stock = stock_at(lake17, END).groupby("product_id")["quantity"].sum()
    sold = read(lake17, "agg_profit_daily").query("qty > 0")["product_id"].unique()
    want = set(stock[stock > 0].index) - set(sold)
    assert set(slow["product_id"]) == want and len(want) > 0
    assert slow["value"].is_monotonic_decreasing and slow["last_sold"].isna().all()


def test_stock_outs_are_storable_and_not_in_stock(db, lake17):
    outs = d.stock_outs(db, F)
    storable = set(read(lake17, "dim_product").query("storable")["id"])
    assert len(outs) > 0
    assert (outs["on_hand"] <= 0).all() and set(outs["product_id"]) <= storable
    assert ((outs["units_sold"] > 0) | (outs["on_hand"] < 0)).all()


@pytest.mark.parametrize("in_memory", [True, False], ids=["held", "read from the files"])
def test_slow_movers_count_a_sale_that_a_return_elsewhere_nets_out(private, monkeypatch, in_memory):
    """A slow mover sold +2 in one store and returned -2 in another on a day of the period:
    it sold, so it is no slow mover any more, with or without a store filter (the per-product
    rollup sums the day to qty 0; its ``sold`` flag keeps the sale). Likewise when the period
    is too long to hold in memory (the rollup is then computed from the files)."""
    if not in_memory:
        held = memtables.HELD["agg_profit_daily"]
        monkeypatch.setitem(memtables.HELD, "agg_profit_daily", dataclasses.replace(held, max_dates=1))
    lake = Lake(private)
    db = Dashboard(private)
    product = int(d.slow_movers(db, F)["product_id"].iloc[0])
    category = int(read(private, "dim_product").set_index("id").loc[product, "category_id"])
    day = DATES[1]
    agg = lake.read_partition("agg_profit_daily", day)
    rows = pa.table(
        {
            "date": [day, day],
            "channel": ["pos", "pos"],
            "store_id": [1, 2],
            "category_id": [category, category],
            "product_id": [product, product],
            "qty": [2.0, -2.0],
            "revenue": [10.0, -10.0],
            "cost": [6.0, -6.0],
            "margin": [4.0, -4.0],
            "lines": [1, 1],
        }
    )
    lake.write_partition("agg_profit_daily", day, pa.concat_tables([agg, rows.cast(agg.schema)]))
    every_store = Filters(F.start, F.end, stores=tuple(int(s) for s in d.stores(db)["id"]))
    for f in (F, every_store):
        slow = d.slow_movers(db, f)
        assert product not in set(slow["product_id"]), f
        assert d.inventory_summary(db, f).iloc[0]["slow_movers"] == len(slow)


@pytest.mark.parametrize("stores, categories", [((), ()), ((1,), ()), ((), ("Food",)), ((2,), ("Beverages",))])
def test_inventory_summary_totals_the_inventory_queries(db, lake17, stores, categories):
    """The one-statement summary equals the totals of the four queries it stands for."""
    cats = read(lake17, "dim_category")
    f = Filters(F.start, F.end, stores, tuple(int(cats.loc[cats["name"] == c, "id"].iloc[0]) for c in categories))
    row = d.inventory_summary(db, f).iloc[0]
    levels, moved = d.stock_levels(db, f, "product"), d.stock_moves(db, f, "month")
    slow, outs = d.slow_movers(db, f), d.stock_outs(db, f)
    assert row["stock_date"] == d.stock_date(db, f) == END
    assert row["qty"] == approx(levels["qty"].sum()) and row["value"] == approx(levels["value"].sum())
    assert row["products"] == (levels["qty"] > 0).sum() and row["stock_outs"] == len(outs)
    assert row["slow_movers"] == len(slow) and row["slow_value"] == approx(slow["value"].sum())
    for direction in ("in", "out"):
        assert row[f"moves_{direction}"] == approx(moved.loc[moved["direction"] == direction, "qty"].sum())
    if not (stores or categories):
        assert len(outs) > 0 and len(slow) > 0 and row["moves_in"] > 0, "the demo data has all four"


def test_inventory_summary(db):
    row = d.inventory_summary(db, F).iloc[0]
    assert row["stock_date"] == END and row["value"] == approx(d.stock_levels(db, F, "location")["value"].sum())
    assert row["stock_outs"] == len(d.stock_outs(db, F)) and row["slow_movers"] == len(d.slow_movers(db, F))


# ----------------------------------------------------------------------------- purchases
def test_purchases_by_vendor_and_category(db, lake17):
    lines = read(lake17, "fact_purchases")
    for by in ("vendor", "category", "department", "product"):
        got = d.purchases_by(db, F, by)
        assert got["spend"].sum() == approx(lines["price_subtotal"].sum())
        assert got["ordered_value"].sum() == approx((lines["product_qty"] * lines["price_unit"]).sum())
        assert got["received_qty"].sum() == pytest.approx(lines["qty_received"].sum())
    vendors = d.purchases_by(db, F, "vendor")
    assert vendors["orders"].sum() == lines["order_id"].nunique()


@pytest.mark.parametrize("stores, categories", [((), ()), ((1,), ()), ((), ("Food",)), ((2,), ("Beverages",))])
def test_purchases_summary_totals_the_purchase_queries(db, lake17, stores, categories):
    """The one-statement summary equals the totals of purchases_by(vendor) and open_purchases."""
    cats = read(lake17, "dim_category")
    f = Filters(F.start, F.end, stores, tuple(int(cats.loc[cats["name"] == c, "id"].iloc[0]) for c in categories))
    row, vendors, still_open = (
        d.purchases_summary(db, f).iloc[0],
        d.purchases_by(db, f, "vendor"),
        d.open_purchases(db, f),
    )
    assert (row["orders"], row["lines"], row["vendors"]) == (
        vendors["orders"].sum(),
        vendors["lines"].sum(),
        len(vendors),
    )
    assert row["spend"] == approx(vendors["spend"].sum()) and row["open_value"] == approx(
        still_open["open_value"].sum()
    )
    ordered = vendors["ordered_value"].sum()
    for stage in ("received", "invoiced"):
        want = vendors[f"{stage}_value"].sum() / ordered if ordered else float("nan")
        assert row[f"{stage}_pct"] == pytest.approx(want, abs=1e-6, nan_ok=True)
    if not (stores or categories):
        assert len(vendors) > 1 and len(still_open) > 0, "the demo data has vendors and open lines"


def test_purchases_summary_of_an_empty_period_is_zero(db):
    row = d.purchases_summary(db, Filters(dt.date(2000, 1, 1), dt.date(2000, 1, 31))).iloc[0]
    assert (row["orders"], row["lines"], row["vendors"], row["spend"], row["open_value"]) == (0, 0, 0, 0, 0)
    assert pd.isna(row["received_pct"]) and pd.isna(row["invoiced_pct"])


def test_purchases_store_filter_splits_the_total(db):
    total = d.purchases_by(db, F, "vendor")["spend"].sum()
    parts = [d.purchases_by(db, Filters(F.start, F.end, (store,)), "vendor")["spend"].sum() for store in (1, 2)]
    assert all(p > 0 for p in parts) and sum(parts) == approx(total)


def test_purchase_fulfilment_and_open_lines(db, lake17):
    lines = read(lake17, "fact_purchases")
    stages = d.purchase_fulfilment(db, F, "day")
    assert len(stages) == 3 * len(DATES)
    totals = stages.groupby("stage")["value"].sum()
    assert totals["ordered"] == approx((lines["product_qty"] * lines["price_unit"]).sum())
    assert totals["invoiced"] == approx((lines["qty_invoiced"] * lines["price_unit"]).sum())
    still_open = d.open_purchases(db, F)
    want = lines[(lines["qty_received"] < lines["product_qty"]) | (lines["qty_invoiced"] < lines["qty_received"])]
    assert len(still_open) == len(want) > 0
    vendor = int(still_open["vendor_id"].iloc[0])
    assert set(d.open_purchases(db, F, (vendor,))["vendor_id"]) == {vendor}


# ----------------------------------------------------------------------------- options, periods
def test_filter_options(db):
    assert d.store_options(db) == {"Antwerp Central Station": 2, "Brussels Centre": 1}
    categories = d.category_options(db)
    assert "Food" in categories and "Food / Dairy" in categories and "All" not in categories
    assert d.default_period(db) == (DATES[0], DATES[-1])
    assert d.default_period(db, days=2) == (DATES[-2], DATES[-1])
    assert d.selectable_range(db) == (DATES[0], DATES[-1])


def test_a_category_includes_its_subcategories(db, lake17):
    food = category_id(lake17, "Food")
    assert set(db.descendants([food])) == descendants(lake17, [food]) and len(db.descendants([food])) > 1


def test_selected_ids_reads_chart_selections():
    assert d.selected_ids(pd.DataFrame({"store_id": [2, 1, 2, None]}), "store_id") == (1, 2)
    assert d.selected_ids(pd.DataFrame({"store_id": []}), "store_id") == ()
    assert d.selected_ids([], "store_id") == ()


# ----------------------------------------------------------------------------- binding
@pytest.mark.parametrize(
    "make",
    [
        lambda: Filters(DATES[0], DATES[-1], ("1) OR 1=1; DROP TABLE dim_store; --",)),
        lambda: Filters(DATES[0], DATES[-1], (), ("'; COPY dim_store TO '/tmp/x.csv'; --",)),
        lambda: Filters(DATES[0], DATES[-1], (1.5,)),
        lambda: Filters(DATES[0], DATES[-1], "12"),
        lambda: Filters(DATES[0], DATES[-1], (True,)),
        lambda: Filters("2024-03-29' OR '1'='1", DATES[-1]),
        lambda: Filters(dt.datetime(2024, 3, 29), DATES[-1]),
        lambda: Filters(DATES[-1], DATES[0]),
    ],
)
def test_filters_refuse_anything_but_dates_and_ids(make):
    with pytest.raises(InputError):
        make()


@pytest.mark.parametrize(
    "call",
    [
        lambda db: d.sales_trend(db, F, "day'); DROP TABLE dim_store; --"),
        lambda db: d.profit_by(db, F, "store; DROP TABLE dim_store"),
        lambda db: d.stock_levels(db, F, "location) --"),
        lambda db: d.purchases_by(db, F, "1=1"),
        lambda db: d.open_purchases(db, F, ("1 OR 1=1",)),
    ],
)
def test_query_arguments_are_checked_before_any_sql(private, call):
    db = Dashboard(private)
    before = sorted((p, p.stat().st_size) for p in private.rglob("*.parquet"))
    with pytest.raises(InputError):
        call(db)
    assert d.sales_summary(db, F).iloc[0]["lines"] > 0
    assert sorted((p, p.stat().st_size) for p in private.rglob("*.parquet")) == before


def test_values_are_bound_never_spliced(db):
    def count(op: str) -> int:
        sql = f"SELECT count(*) AS n FROM dim_store WHERE name {op} $name"
        hostile = {"name": "x' OR '1'='1"}
        frame = db.run(f"probe{op}", engine.Reads(("dim_store",)), (), lambda: db.sql("probe", sql, hostile))
        return int(frame["n"][0])

    assert (count("="), count("<>")) == (0, 2)


# ----------------------------------------------------------------------------- cache, timings
def test_cache_hits_and_timings(private):
    db = Dashboard(private)
    meta, started = MetaStore.for_lake(Lake(private)), dt.datetime.now(dt.UTC)
    first = d.sales_summary(db, F)
    first.loc[0, "revenue"] = -1  # callers get copies
    again = d.sales_summary(db, F)
    assert (db.hits, db.misses) == (1, 1) and again.loc[0, "revenue"] > 0
    [timing] = [t for t in meta.query_timings(since=started) if t["name"] == "dashboards.sales_summary"]
    assert timing["rows"] == 1 and timing["seconds"] > 0
    assert json.loads(timing["params"]) == {"start": str(F.start), "end": str(F.end), "stores": [], "categories": []}


@pytest.mark.parametrize(
    "table, query",
    [("agg_sales_daily", d.sales_summary), ("agg_profit_daily", lambda db, f: d.profit_by(db, f, "product"))],
)
def test_cache_follows_the_lake(private, table, query):
    """The result cache and the tables held in memory both follow the lake's files."""
    db, lake = Dashboard(private), Lake(private)
    inside, outside = Filters(DATES[1], DATES[-1]), DATES[0]
    before = query(db, inside)["revenue"].sum()
    computed = db.misses  # the query, and the dimension labels it looked up (kept while their files are)
    # a change outside the range leaves the cached answer valid
    lake.delete_partition(table, outside)
    assert query(db, inside)["revenue"].sum() == before and db.hits == 1
    # a reloaded partition inside the range is seen at once
    day = DATES[-1]
    agg = lake.read_partition(table, day)
    doubled = agg.set_column(agg.schema.get_field_index("revenue"), "revenue", pc.multiply(agg["revenue"], 2))
    lake.write_partition(table, day, doubled)
    added = pc.sum(agg["revenue"]).as_py()
    assert query(db, inside)["revenue"].sum() == approx(before + added)
    # a partition deleted by hand is gone from the answer
    lake.delete_partition(table, day)
    assert query(db, inside)["revenue"].sum() == approx(before - added)
    assert db.misses == computed + 2
    # and from memory: the held table keeps the rows of the listed files only
    held = db.memory.loaded(table)
    assert set(held) == {f.path for f in lake.data_files(table, inside.start, inside.end)}


def test_memory_holds_the_files_of_the_dates_read(private):
    """Loaded per file for the dates a query reads; rows of a replaced file replaced, of a
    removed (quarantined) partition dropped; a new Dashboard answers the same."""
    db, lake = Dashboard(private), Lake(private)
    first = Filters(DATES[0], DATES[1])
    d.sales_summary(db, first)
    assert set(db.memory.loaded("agg_sales_daily")) == {
        f.path for f in lake.data_files("agg_sales_daily", DATES[0], DATES[1])
    }
    whole = d.sales_trend(db, F, "day")
    rows = db.memory.rows("agg_sales_daily")
    assert rows == sum(lake.read_partition("agg_sales_daily", day).num_rows for day in DATES)
    lake.quarantine(lake.partition_dir("agg_sales_daily", DATES[0]))
    again = d.sales_trend(db, F, "day")
    lost = lake.partition_dir("agg_sales_daily", DATES[0])
    assert not lost.exists() and db.memory.rows("agg_sales_daily") < rows
    assert again.loc[0, "lines"] == 0 and again["lines"].iloc[1:].tolist() == whole["lines"].iloc[1:].tolist()
    pd.testing.assert_frame_equal(d.sales_trend(Dashboard(private), F, "day"), again)


def test_concurrent_identical_queries_compute_once(private, monkeypatch):
    """Viewers opening the same dashboard at once: one computes, the others wait for it."""
    import threading

    db, calls, gate = Dashboard(private), [], threading.Event()
    run_sql = Dashboard._execute  # what sql() and arrays() run

    def slow(self, name, *args):
        calls.append(name)
        gate.wait(5)
        return run_sql(self, name, *args)

    monkeypatch.setattr(Dashboard, "_execute", slow)
    d.category_tree(db)  # descendants() needs it: not counted
    calls.clear()
    answers: list[pd.DataFrame] = []
    threads = [threading.Thread(target=lambda: answers.append(d.sales_summary(db, F))) for _ in range(6)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert calls == ["sales_summary"] and db.misses == 2 and len(answers) == 6
    assert all(a.equals(answers[0]) for a in answers)


def test_threads_share_the_memory_and_agree(private):
    """Threads with different periods query the one in-memory DuckDB at once; each answer
    equals the single-threaded one."""
    from concurrent.futures import ThreadPoolExecutor

    periods = [Filters(DATES[i], DATES[j]) for i in range(len(DATES)) for j in range(i, len(DATES))]
    alone = {f: d.sales_summary(Dashboard(private), f) for f in periods}
    alone_products = {f: d.profit_by(Dashboard(private), f, "product") for f in periods}
    db = Dashboard(private, cache_size=0)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda f: (f, d.sales_summary(db, f), d.profit_by(db, f, "product")), periods * 3))
    for f, summary, products in got:
        pd.testing.assert_frame_equal(summary, alone[f])
        pd.testing.assert_frame_equal(products, alone_products[f])


QUERIES = [
    (d.sales_summary, ()),
    (d.sales_trend, ("week", "channel")),
    (d.sales_by_store, ()),
    (d.sales_by_channel, ()),
    (d.profit_by, ("product",)),
    (d.stock_levels, ("category",)),
    (d.stock_moves, ("day",)),
    (d.slow_movers, ()),
    (d.stock_outs, ()),
    (d.purchases_by, ("vendor",)),
    (d.purchase_fulfilment, ("week",)),
    (d.open_purchases, ()),
]


ROUNDED = (
    QUERIES
    + [(d.profit_by, (by,)) for by in ("store", "category", "department")]
    + [(d.top_products, ()), (d.inventory_summary, ()), (d.purchases_summary, ())]
)


@pytest.mark.parametrize("query, args", ROUNDED, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("f", [F, Filters(DATES[0], DATES[-1], (1,))], ids=["all", "one store"])
def test_every_float_is_rounded_as_shown(db, query, args, f):
    """Floats come out as the dashboards show them (money in cents, quantities to 3
    decimals, ratios to 6; no -0.0), whether ``tidy`` rounded them or the query itself
    (``@query(rounds=True)``): every run shows the same numbers."""
    frame = query(db, f, *args)
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    assert len(frame) and floats
    for column in floats:
        values = frame[column].to_numpy()
        want = np.round(values, rounding.digits(column)) + 0.0
        assert want.tobytes() == values.tobytes(), (column, values)


def share_a_warehouse(lake: Lake, name: str | None = None) -> tuple[pd.Series, pd.Series]:
    """The second store (by id) moves into the first one's warehouse (a shop's second
    till); the first is renamed ``name`` if given. Returns (first, second) as they were."""
    stores = lake.read_whole("dim_store").to_pandas().sort_values("id")
    first, other = stores.iloc[0], stores.iloc[1]
    shared = stores.assign(
        warehouse_id=stores["warehouse_id"].where(stores["id"] != other["id"], first["warehouse_id"])
    )
    if name:
        shared = shared.assign(name=shared["name"].where(shared["id"] != first["id"], name))
    lake.write_whole(
        "dim_store", pa.Table.from_pandas(shared, schema=lake.read_whole("dim_store").schema, preserve_index=False)
    )
    return first, other


def test_stock_of_a_warehouse_two_stores_share_counts_once(private, lake17):
    """A shop's two tills are two stores with one warehouse: stock levels by location count
    its stock once (it was counted once per till), under the first store's name."""
    stock = stock_at(lake17, END)["quantity"].sum()
    first, other = share_a_warehouse(Lake(private))
    levels = d.stock_levels(Dashboard(private), F, "location")
    assert levels["qty"].sum() == approx(stock) and levels["location_id"].is_unique
    assert first["name"] in set(levels["store"]) and other["name"] not in set(levels["store"])
    assert d.stock_levels(Dashboard(private), F, "product")["qty"].sum() == approx(stock)


def test_stock_outs_by_revenue_then_store_then_product(private):
    """Stock-outs come largest revenue first; ties (negative stock that did not sell: no
    revenue) by store name, then product; a warehouse two stores share is named after the
    first of them (by id)."""
    lake = Lake(private)
    quants = lake.read_partition("fact_stock_quants", END)
    sold = set(read(private, "agg_profit_daily").query("qty > 0")["product_id"])
    storable = set(read(private, "dim_product").query("storable")["id"])
    pairs = quants.to_pandas().groupby(["warehouse_id", "product_id"])["quantity"].sum()
    unsold = [p for p in pairs[pairs > 0].index if p[1] not in sold and p[1] in storable]
    chosen = [p for w in sorted({w for w, _ in unsold}) for p in [q for q in unsold if q[0] == w][:3]]
    negate = pc.is_in(
        pc.add(pc.multiply(quants["warehouse_id"], 10**9), quants["product_id"]),
        pa.array([w * 10**9 + p for w, p in chosen]),
    )
    lake.write_partition(
        "fact_stock_quants",
        END,
        quants.set_column(
            quants.schema.get_field_index("quantity"),
            "quantity",
            pc.if_else(negate, pc.negate(quants["quantity"]), quants["quantity"]),
        ),
    )
    outs = d.stock_outs(Dashboard(private), F)
    assert outs["revenue"].is_monotonic_decreasing and (outs["revenue"] > 0).any()
    ties = outs[outs["revenue"] == 0]
    assert len(ties) == len(chosen) >= 4 and ties["store"].nunique() >= 2
    assert len(ties) > 1 and list(zip(ties["store"], ties["product_id"])) == sorted(
        zip(ties["store"], ties["product_id"])
    )
    _first, other = share_a_warehouse(lake, "Zz first till")
    again = d.stock_outs(Dashboard(private), F)
    assert "Zz first till" in set(again["store"]) and other["name"] not in set(again["store"])
    assert again["revenue"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "query, args",
    [*QUERIES, (d.profit_by, ("store",)), (d.stock_levels, ("location",))],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_queries_declare_every_table_they_read(lake17, monkeypatch, query, args):
    """A query's SQL sees only the tables it declares (``@query(...)``): check its SQL."""
    db, seen = Dashboard(lake17), []
    run_sql = Dashboard._execute  # what sql() and arrays() run

    def spy(self, name, sql, params, *rest):
        declared = self._local.files[-1][0].keys()
        seen.append({t for t in engine.SCHEMAS if re.search(rf"\b{t}\b", sql)} - declared)
        return run_sql(self, name, sql, params, *rest)

    monkeypatch.setattr(Dashboard, "_execute", spy)
    query(db, Filters(DATES[0], DATES[-1], (1,), (2,)), *args)
    assert seen and not any(seen), seen


def test_partitions_outside_the_range_are_never_opened(private):
    """Every fact partition of the last date is destroyed: queries over the other dates
    (those that do not look past their range) still answer, so they never opened it."""
    lake = Lake(private)
    for table in PARTITIONED:
        for path in lake.partition_dir(table, DATES[-1]).glob("*.parquet"):
            path.write_bytes(b"\0" * path.stat().st_size)
    db = Dashboard(private)
    earlier = Filters(DATES[0], DATES[-2])
    for query, args in QUERIES:
        if query.reads.after == 0:
            assert isinstance(query(db, earlier, *args), pd.DataFrame), query.__name__
    with pytest.raises(LakeError, match="damaged partition"):
        d.sales_summary(db, F)


# ----------------------------------------------------------------------------- empty lake, freshness
def test_an_empty_lake_answers_empty(tmp_path):
    db = Dashboard(tmp_path / "no-lake")
    assert not d.has_sales(db, F) and not d.has_inventory(db, F) and not d.has_purchases(db, F)
    for query, args in QUERIES:
        assert isinstance(query(db, F, *args), pd.DataFrame), query.__name__
    assert d.store_options(db) == {} and d.category_options(db) == {}
    assert d.date_bounds(db) is None
    start, end = d.default_period(db, today=dt.date(2024, 5, 1))
    assert (start, end) == (dt.date(2024, 4, 1), dt.date(2024, 4, 30))
    badge = d.freshness_badge(db, ["profit"], F, today=END)
    assert badge.kind == "danger" and "No data loaded yet" in badge.text
    assert "Nothing is loaded yet" in d.no_data(db, "sales", F)


@pytest.mark.parametrize("lag, status, kind", [(1, "ok", "success"), (3, "late", "warn"), (5, "critical", "danger")])
def test_freshness_badge_follows_the_sla(db, lag, status, kind):
    today = END + dt.timedelta(days=lag)
    badge = d.freshness_badge(db, ["profit", "pos"], Filters(DATES[0], today - dt.timedelta(days=1)), today)
    assert (badge.status, badge.kind, badge.last_loaded) == (status, kind, END)
    assert len(badge.missing_in_period) == lag - 1
    assert ("not loaded" in badge.text) == (lag > 1)


def test_freshness_without_metadata_reads_the_listing(private):
    Lake(private).delete_partition("agg_profit_daily", DATES[2])
    badge = d.freshness_badge(Dashboard(private, meta=None), ["profit"], F, END + dt.timedelta(days=1))
    assert badge.status == "ok" and badge.missing_in_period == (DATES[2],)


def test_open_dashboard_is_shared_per_lake(lake17):
    assert d.open_dashboard(lake17) is d.open_dashboard(str(lake17))
    assert d.open_dashboard(lake17).lake.read_only


def test_compacted_months_answer_the_same(private):
    """After `nkdash storage compact`, every dashboard query sees the same rows (month files)."""
    from nkdash.storage import compact

    f = Filters(DATES[0], END)
    queries = (d.sales_summary, d.profit_by, d.top_products)
    expected = [query(Dashboard(private), f) for query in queries]
    compact(private, older_than_days=0, today=END + dt.timedelta(days=400))
    assert all(x.compacted for x in Lake(private).data_files("fact_sales"))
    after = Dashboard(private)
    for want, query in zip(expected, queries):
        pd.testing.assert_frame_equal(query(after, f), want)


def test_labels_follow_their_dimension_and_unknown_ids_are_null(private):
    """profit_by labels its rows from the dimensions (looked up by id, kept per version of
    the dimension's file): a renamed store shows its new name at once; a product the
    dimension does not know keeps its figures with no label."""
    lake, db = Lake(private), Dashboard(private)
    before = d.profit_by(db, F, "store").set_index("store_id")
    assert before.loc[1, "store"] == "Brussels Centre" and dashboards_labels.NO_STORE in set(before["store"])
    stores = lake.read_whole("dim_store")
    names = [
        ("Bruxelles Centre" if i == 1 else n) for i, n in zip(stores["id"].to_pylist(), stores["name"].to_pylist())
    ]
    lake.write_whole(
        "dim_store",
        stores.set_column(
            stores.schema.get_field_index("name"), "name", pa.array(names, stores.schema.field("name").type)
        ),
    )
    after = d.profit_by(db, F, "store").set_index("store_id")
    assert after.loc[1, "store"] == "Bruxelles Centre" and after["margin"].sum() == approx(before["margin"].sum())

    products = lake.read_whole("dim_product")
    top = int(d.profit_by(db, F, "product")["product_id"].iloc[0])
    lake.write_whole("dim_product", products.filter(pc.not_equal(products["id"], top)))
    rows = d.profit_by(db, F, "product").set_index("product_id")
    assert rows.loc[top, ["code", "product"]].isna().all() and rows.loc[top, "margin"] > 0
    assert rows.drop(index=top)["product"].notna().all()
    for top in (7, 10**12):  # ids dense (looked up by index) or sparse (searched)
        labels = dashboards_labels.Labels(pd.DataFrame({"id": [3, 1, top], "name": ["c", "a", "g"]}))
        assert (labels.rows is None) == (top > 7)
        [got] = labels.of(np.array([1, 2, top, top + 2, 0, 3, -1]), "name")  # unknown: between, above, below
        assert got.isna().tolist() == [False, True, False, True, True, False, True]
        assert [got[i] for i in (0, 2, 5)] == ["a", "g", "c"]
