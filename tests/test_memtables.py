"""nkdash.memtables: the lake tables the dashboards hold in memory, on a compacted lake too.

Expected numbers come from the parquet files (pyarrow/pandas) or from the same query on
the uncompacted copy of the lake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Dashboard, Filters, memtables
from nkdash.errors import LakeError
from nkdash.lake import Lake
from nkdash.lake.reader import swapped_out
from nkdash.storage import compact
from tests.support.dashboards import approx, category_id, expected_sales
from tests.support.demo import DATES, END

F = Filters(DATES[0], END)
MARCH = [day for day in DATES if day.month == 3]  # 29..31 March: one month file once compacted


@pytest.fixture
def daily(lake17, tmp_path) -> Path:
    shutil.copytree(lake17, tmp_path / "daily")
    return tmp_path / "daily"


@pytest.fixture
def compacted(lake17, tmp_path) -> Path:
    """A copy of the lake with every month compacted (one month file per table and month)."""
    shutil.copytree(lake17, tmp_path / "compacted")
    compact(tmp_path / "compacted", older_than_days=0, today=END + dt.timedelta(days=400))
    assert all(f.compacted for f in Lake(tmp_path / "compacted").data_files("fact_sales"))
    return tmp_path / "compacted"


def month_file(root: Path, table: str, day: dt.date) -> Path:
    [f] = list(Lake(root).data_files(table, day, day))
    assert f.compacted
    return f.path


QUERIES = [
    (d.profit_by, ("product",)),
    (d.slow_movers, ()),
    (d.stock_outs, ()),
    (d.stock_levels, ("product",)),
    (d.stock_moves, ("day",)),
    (d.purchases_by, ("vendor",)),
    (d.open_purchases, ()),
    (d.sales_trend, ("day", "store")),
    (d.sales_by_channel, ()),
    (d.profit_by, ("store",)),
]


@pytest.mark.parametrize("query, args", QUERIES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("period", [(DATES[0], END), (DATES[1], DATES[2]), (DATES[3], END)])
def test_compacted_months_answer_as_daily_partitions(daily, compacted, query, args, period):
    """Month files loaded per date (the windowed tables) or whole (the aggregates) answer
    exactly what the daily partitions do, with and without filters."""
    for f in (Filters(*period), Filters(*period, (1,)), Filters(*period, (), (category_id(daily, "Food"),))):
        pd.testing.assert_frame_equal(query(Dashboard(compacted), f, *args), query(Dashboard(daily), f, *args))


def test_month_files_of_windowed_tables_are_held_per_date(compacted):
    db = Dashboard(compacted)
    march = month_file(compacted, "agg_profit_daily", MARCH[0])
    d.profit_by(db, Filters(MARCH[1], MARCH[2]), "product")
    assert db.memory.slices("agg_profit_daily") == {march: {MARCH[1], MARCH[2]}}
    d.profit_by(db, Filters(MARCH[0], MARCH[0]), "product")
    assert db.memory.slices("agg_profit_daily") == {march: set(MARCH)}
    rows = sum(Lake(compacted).read_partition("agg_profit_daily", day).num_rows for day in MARCH)
    assert db.memory.rows("agg_profit_daily") == rows
    # the aggregates without a date limit hold their month files whole
    d.sales_summary(db, Filters(MARCH[1], MARCH[1]))
    assert db.memory.slices("agg_sales_daily") == {}
    assert month_file(compacted, "agg_sales_daily", MARCH[0]) in db.memory.loaded("agg_sales_daily")


def test_eviction_is_per_date_and_answers_stay_exact(daily, compacted, monkeypatch):
    held = memtables.HELD["agg_profit_daily"]
    monkeypatch.setitem(memtables.HELD, "agg_profit_daily", dataclasses.replace(held, max_dates=2))
    db, want = Dashboard(compacted), Dashboard(daily)
    for f in (
        Filters(MARCH[1], MARCH[2]),
        Filters(MARCH[0], MARCH[0]),
        Filters(DATES[3], END),
        Filters(MARCH[2], MARCH[2]),
    ):
        pd.testing.assert_frame_equal(d.profit_by(db, f, "product"), d.profit_by(want, f, "product"))
        held_dates = sum(len(v) for v in db.memory.slices("agg_profit_daily").values())
        whole = len(db.memory.loaded("agg_profit_daily")) - len(db.memory.slices("agg_profit_daily"))
        assert held_dates + whole <= 2
    # more dates than the table may hold: read from the files, same answer
    pd.testing.assert_frame_equal(d.profit_by(db, F, "product"), d.profit_by(want, F, "product"))


def test_a_rewritten_month_file_is_replaced_in_memory(compacted):
    """Writing a date of a compacted month rewrites the month file (new name) and puts the
    date in its own partition: memory drops every row of the old month file."""
    db, lake = Dashboard(compacted), Lake(compacted)
    f = Filters(MARCH[0], MARCH[-1])
    old = month_file(compacted, "agg_profit_daily", MARCH[0])
    before = d.profit_by(db, f, "product")["revenue"].sum()
    day = MARCH[1]
    agg = lake.read_partition("agg_profit_daily", day)
    lake.write_partition(
        "agg_profit_daily",
        day,
        agg.set_column(agg.schema.get_field_index("revenue"), "revenue", pc.multiply(agg["revenue"], 2)),
    )
    after = d.profit_by(db, f, "product")["revenue"].sum()
    assert after == approx(before + pc.sum(agg["revenue"]).as_py())
    assert old not in db.memory.loaded("agg_profit_daily")
    assert db.memory.rows("agg_profit_daily") == sum(lake.read_partition("agg_profit_daily", x).num_rows for x in MARCH)


ROLLED = [  # (table, a query reading its rollup, the rollup's sum compared per file)
    ("agg_sales_daily", lambda db, f: d.sales_by_store(db, f), "lines"),
    ("agg_profit_daily", lambda db, f: d.profit_by(db, f, "product"), "qty"),
]


def rollup_matches(db: Dashboard, table: str, column: str) -> list:
    """The ``_file`` ids of ``table`` in memory, after checking its rollup holds the same
    files with the same sums."""
    cur = db.memory.cursor()
    per_file = f"SELECT _file, sum(revenue), sum({column}) FROM {{}} GROUP BY 1 ORDER BY 1"
    base = cur.execute(per_file.format(memtables.held_name(table))).fetchall()
    rolled = cur.execute(per_file.format(memtables.held_name(memtables.ROLLUPS[table].name))).fetchall()
    assert [r[0] for r in base] == [r[0] for r in rolled]
    assert all(a[1] == pytest.approx(b[1]) and a[2] == pytest.approx(b[2]) for a, b in zip(base, rolled))
    return [r[0] for r in base]


@pytest.mark.parametrize("table, query, column", ROLLED, ids=[t for t, *_ in ROLLED])
def test_the_rollup_follows_its_table(private_copy, table, query, column):
    """A deleted partition leaves the rollup with its table, a replaced one is replaced in
    both (same transaction, same ``_file`` ids)."""
    db, lake = Dashboard(private_copy), Lake(private_copy)
    query(db, F)
    lake.delete_partition(table, DATES[2])
    day = DATES[3]
    rows = lake.read_partition(table, day)
    lake.write_partition(
        table, day, rows.set_column(rows.schema.get_field_index("revenue"), "revenue", pc.multiply(rows["revenue"], 2))
    )
    query(db, F)
    assert len(rollup_matches(db, table, column)) == len(DATES) - 1


@pytest.mark.parametrize("table, query, column", ROLLED, ids=[t for t, *_ in ROLLED])
def test_the_rollup_follows_its_table_on_month_files(compacted, table, query, column):
    """On a compacted lake the rollup holds what its table holds (per date slices of a
    windowed table; whole month files otherwise), also after a date of the month is rewritten."""
    db, lake = Dashboard(compacted), Lake(compacted)
    f = Filters(MARCH[0], MARCH[-1])
    before = query(db, f)["revenue"].sum()
    ids = rollup_matches(db, table, column)
    day = MARCH[1]
    rows = lake.read_partition(table, day)
    lake.write_partition(
        table, day, rows.set_column(rows.schema.get_field_index("revenue"), "revenue", pc.multiply(rows["revenue"], 2))
    )
    assert query(db, f)["revenue"].sum() == approx(before + pc.sum(rows["revenue"]).as_py())
    assert not set(rollup_matches(db, table, column)) & set(ids)  # the month file's rows all replaced


def test_profit_per_product_reads_the_rollup_only_without_stores(daily):
    """Without a store filter profit per product is summed from the rollup, with one from
    the table: both as pandas sums the parquet files."""
    frames = [Lake(daily).read_partition("agg_profit_daily", day).to_pandas() for day in DATES]
    rows = pd.concat(frames, ignore_index=True)
    db = Dashboard(daily)
    for stores in ((), (1,)):
        got = d.profit_by(db, Filters(DATES[0], END, stores), "product").set_index("product_id")
        picked = rows[rows["store_id"].isin(stores)] if stores else rows
        want = picked.groupby("product_id")[["qty", "revenue", "margin"]].sum()
        assert sorted(got.index) == sorted(want.index)
        assert got["units"].to_numpy() == approx(want.loc[got.index, "qty"].to_numpy())
        assert got["margin"].to_numpy() == approx(want.loc[got.index, "margin"].to_numpy())


@pytest.fixture
def private_copy(lake17, tmp_path) -> Path:
    shutil.copytree(lake17, tmp_path / "lake")
    return tmp_path / "lake"


@pytest.mark.parametrize("stores, categories", [((), ("Food",)), ((1,), ("Beverages", "Dairy"))])
def test_orders_of_a_category_on_month_files(daily, compacted, stores, categories):
    """Orders of a category selection come from fact_sales held per date (integer order
    numbers per file or slice): same counts as grouping the lines by order_ref."""
    f = Filters(DATES[0], END, stores, tuple(category_id(daily, c) for c in categories))
    want, got = expected_sales(daily, f), d.sales_summary(Dashboard(compacted), f).iloc[0]
    for column in ("revenue", "orders", "refunds", "basket", "lines"):
        assert got[column] == approx(want[column]), column


def test_order_numbers_are_unique_per_file_and_ref():
    table = pa_table({"order_ref": ["a", "b", "a", None, "b", "c"]}, [1, 1, 1, 1, 2, 2])
    numbers = memtables._shape("fact_sales_orders", memtables.Held(("order_ref",), numbered=True), table)[
        "order_ref"
    ].to_pylist()
    assert numbers[0] == numbers[2] != numbers[1] and numbers[3] is None
    assert len({numbers[0], numbers[1], numbers[4], numbers[5]}) == 4  # "b" in two files: two orders


def pa_table(columns: dict, files: list[int]):
    data = pa.table(columns)
    chunks = [data.slice(0, 2), data.slice(2, 2), data.slice(4, 2)]  # file 1 spans two chunks
    data = pa.concat_tables(chunks)
    return data.append_column(memtables.FILE_COLUMN, pa.chunked_array([files[0:2], files[2:4], files[4:6]], pa.int64()))


@pytest.mark.parametrize("root", ["daily", "compacted"])
def test_stock_is_read_at_one_date(request, root):
    path = request.getfixturevalue(root)
    db = Dashboard(path)
    f = Filters(DATES[0], DATES[2])
    assert d.stock_date(db, f) == DATES[2]
    d.stock_levels(db, f, "product")
    loaded = db.memory.loaded("fact_stock_quants")
    assert (
        len(loaded) == 1
        and db.memory.rows("fact_stock_quants") == Lake(path).read_partition("fact_stock_quants", DATES[2]).num_rows
    )
    if root == "compacted":
        assert db.memory.slices("fact_stock_quants") == {month_file(path, "fact_stock_quants", DATES[2]): {DATES[2]}}
    Lake(path).delete_partition("fact_stock_quants", DATES[2])
    assert d.stock_date(db, f) == DATES[1]
    assert d.stock_levels(db, f, "product")["qty"].sum() == pytest.approx(
        pc.sum(Lake(path).read_partition("fact_stock_quants", DATES[1])["quantity"]).as_py()
    )


def test_a_file_swapped_out_after_its_listing_is_listed_again(private_copy):
    """Memory reads the listed files; one a writer replaced since its listing fails as
    'swapped out', and the query lists again and answers the new content."""
    db, lake = Dashboard(private_copy), Lake(private_copy)
    table, day = "agg_sales_daily", DATES[-1]
    stale = db.listing.data_files(table, DATES[0], END)
    agg = lake.read_partition(table, day)
    lake.write_partition(
        table, day, agg.set_column(agg.schema.get_field_index("revenue"), "revenue", pc.multiply(agg["revenue"], 2))
    )
    with pytest.raises(LakeError) as caught:
        db.memory.hold(table, stale, DATES[0], END)
    assert swapped_out(caught.value)
    want = expected_sales(private_copy, F)["revenue"] + pc.sum(agg["revenue"]).as_py()  # the day doubled
    assert d.sales_summary(db, F).iloc[0]["revenue"] == approx(want)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_periods_cover_the_range(grain):
    f = Filters(dt.date(2024, 2, 27), dt.date(2024, 5, 3))
    got = d.periods(f, grain)
    days = [f.start + dt.timedelta(days=i) for i in range(f.days)]
    first = {
        "day": lambda x: x,
        "week": lambda x: x - dt.timedelta(days=x.weekday()),
        "month": lambda x: x.replace(day=1),
    }[grain]
    assert got == sorted({first(x) for x in days})


def test_a_listing_never_keeps_a_directory_swapped_while_it_is_read(private_copy, monkeypatch):
    """A writer swaps a partition in (and empties the old directory) while the listing reads
    it: the listing is read again and names the new file, never the old or none."""
    from nkdash.lake import listing as listing_module

    lake, day, table = Lake(private_copy), DATES[2], "agg_sales_daily"
    listing = listing_module.Listing(Lake(private_copy, read_only=True))
    real, raced = listing_module._read_dir, []

    def racing(directory, version, *args):
        value = real(directory, version, *args)
        if directory.endswith(f"day={day.day:02d}") and not raced:
            raced.append(directory)
            lake.write_partition(table, day, lake.read_partition(table, day).slice(1))
        return value

    monkeypatch.setattr(listing_module, "_read_dir", racing)
    got = listing.data_files(table, day, day)
    assert raced and [f.path for f in got] == [f.path for f in lake.data_files(table, day, day)]
    assert len(got) == 1 and got[0].path.exists()


def test_a_query_whose_rows_are_replaced_while_it_runs_runs_again(private_copy, monkeypatch):
    """Another viewer's query holds a newer listing while this one runs (a partition was
    rewritten in between): this one's answer could mix the two, so it runs again."""
    db, lake, table, day = Dashboard(private_copy, cache_size=0), Lake(private_copy), "agg_sales_daily", END
    agg = lake.read_partition(table, day)
    calls, real = [], Dashboard._execute  # what sql() and arrays() run

    def racing(self, name, sql, params, *rest):
        calls.append(name)
        if len(calls) == 1:
            lake.write_partition(
                table,
                day,
                agg.set_column(agg.schema.get_field_index("revenue"), "revenue", pc.multiply(agg["revenue"], 2)),
            )
            assert self.memory.hold(table, self.listing.data_files(table, F.start, F.end), F.start, F.end)
            self.memory.release(table)
        return real(self, name, sql, params, *rest)

    monkeypatch.setattr(Dashboard, "_execute", racing)
    got = d.sales_summary(db, F).iloc[0]["revenue"]
    assert calls == ["sales_summary", "sales_summary"]
    assert got == approx(expected_sales(private_copy, F)["revenue"] + pc.sum(agg["revenue"]).as_py())


def test_a_file_added_while_a_query_runs_is_not_in_its_answer(private_copy, monkeypatch):
    """Another viewer holds a newer listing that adds a partition while this query runs:
    this answer, cached under the older listing, must not count the added rows (once the
    partition is deleted again, that older listing answers without it)."""
    db, lake, table, day = Dashboard(private_copy), Lake(private_copy), "agg_sales_daily", END
    agg = lake.read_partition(table, day)
    lake.delete_partition(table, day)
    without = d.sales_summary(Dashboard(private_copy), F).iloc[0]["revenue"]
    calls, real = [], Dashboard._execute  # what sql() and arrays() run

    def racing(self, name, sql, params, *rest):
        calls.append(name)
        if len(calls) == 1:
            lake.write_partition(table, day, agg)
            assert self.memory.hold(table, self.listing.data_files(table, F.start, F.end), F.start, F.end)
            self.memory.release(table)
        return real(self, name, sql, params, *rest)

    monkeypatch.setattr(Dashboard, "_execute", racing)
    d.sales_summary(db, F)
    assert calls[:1] == ["sales_summary"]  # the race did happen inside the query
    lake.delete_partition(table, day)
    assert d.sales_summary(db, F).iloc[0]["revenue"] == approx(without)


def test_rows_replaced_between_two_holds_of_one_query_are_noticed(private_copy, monkeypatch):
    """A newer listing replaces the rows this query holds after it held them but before it
    held its next table: the query runs again (its cached answer is that of its listing)."""
    import threading

    db, lake, table, day = Dashboard(private_copy), Lake(private_copy), "agg_sales_daily", END
    original = lake.read_partition(table, day)
    want = d.sales_summary(Dashboard(private_copy), F).iloc[0]["revenue"]
    doubled = original.set_column(
        original.schema.get_field_index("revenue"), "revenue", pc.multiply(original["revenue"], 2)
    )
    memory, raced = db.memory, []
    real_hold = memory.hold

    def other_viewer():
        assert real_hold(table, db.listing.data_files(table, F.start, F.end), F.start, F.end)
        memory.release(table)

    def racing_hold(name, files, start=None, end=None):
        ok = real_hold(name, files, start, end)
        if name == table and not raced:
            raced.append(name)
            lake.write_partition(table, day, doubled)
            t = threading.Thread(target=other_viewer)
            t.start()
            t.join()
        return ok

    monkeypatch.setattr(memory, "hold", racing_hold)
    d.sales_summary(db, F)
    lake.write_partition(table, day, original)  # the lake is back to the first listing
    assert raced and d.sales_summary(db, F).iloc[0]["revenue"] == approx(want)


def test_the_stock_date_is_that_of_the_query_listing(private_copy, monkeypatch):
    """A stock date written after the query listed its files (but before its SQL ran) is not
    what the SQL filters on: the answer is the stock of the listed date, never empty."""
    db, lake, table = Dashboard(private_copy), Lake(private_copy), "fact_stock_quants"
    last = lake.read_partition(table, END)
    lake.delete_partition(table, END)
    memory, raced = db.memory, []
    real_hold = memory.hold

    def racing_hold(name, files, start=None, end=None):
        ok = real_hold(name, files, start, end)
        if name == table and not raced:
            raced.append(name)
            lake.write_partition(table, END, last)
        return ok

    monkeypatch.setattr(memory, "hold", racing_hold)
    got = d.stock_levels(db, F, "product")
    want = pc.sum(lake.read_partition(table, DATES[-2])["quantity"]).as_py()
    assert raced and got["qty"].sum() == pytest.approx(want)


def test_a_month_compacted_while_a_query_runs_is_not_counted_twice(private_copy, monkeypatch):
    """Another viewer holds the month file of a month compacted while this query runs on
    its daily partitions: the month file's rows of this query's dates must not join them."""
    db, lake, table = Dashboard(private_copy), Lake(private_copy), "agg_sales_daily"
    f = Filters(MARCH[0], MARCH[1])
    want = d.sales_summary(Dashboard(private_copy), f).iloc[0]["revenue"]
    calls, real = [], Dashboard._execute  # what sql() and arrays() run

    def racing(self, name, sql, params, *rest):
        calls.append(name)
        if len(calls) == 1:
            lake.compact_month(table, MARCH[0].year, MARCH[0].month)
            day = MARCH[-1]
            assert self.memory.hold(table, self.listing.data_files(table, day, day), day, day)
            self.memory.release(table)
        return real(self, name, sql, params, *rest)

    monkeypatch.setattr(Dashboard, "_execute", racing)
    assert d.sales_summary(db, f).iloc[0]["revenue"] == approx(want)
