"""nkdash.warehouse: views over a small lake, read-only hardening, binding, timings, pruning."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from nkdash.errors import NKDashError
from nkdash.lake import Lake
from nkdash.lake.warehouse import open_warehouse, refresh_views, sql
from nkdash.meta import MetaStore

DAYS = [dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]


def sales(date: dt.date, store_ids: list[int]) -> pa.Table:
    n = len(store_ids)
    return pa.table(
        {
            "date": pa.array([date] * n, pa.date32()),
            "store_id": pa.array(store_ids, pa.int64()),
            "revenue": pa.array([10.0 * (i + 1) for i in range(n)]),
        }
    )


@pytest.fixture
def sales_lake(tmp_path: Path) -> Lake:
    """A lake holding fact_sales for :data:`DAYS` and two stores."""
    lake = Lake(tmp_path / "lake")
    for i, day in enumerate(DAYS):
        lake.write_partition("fact_sales", day, sales(day, [1] if i == 0 else [1, 2]))
    lake.write_whole("dim_store", pa.table({"id": [1, 2], "name": ["Ghent", "O'Brien's"]}))
    return lake


def test_views_over_the_lake(sales_lake):
    con = open_warehouse(sales_lake)
    assert refresh_views(con) == ["dim_store", "fact_sales"]
    rows = con.sql("""select s.name, f.year, f.month, f.day, sum(f.revenue) from fact_sales f
                      join dim_store s on s.id = f.store_id group by all order by all""").fetchall()
    assert rows == [
        ("Ghent", 2024, 2, 28, 10.0),
        ("Ghent", 2024, 2, 29, 10.0),
        ("Ghent", 2024, 3, 1, 10.0),
        ("O'Brien's", 2024, 2, 29, 20.0),
        ("O'Brien's", 2024, 3, 1, 20.0),
    ]
    columns = [c[0] for c in con.sql("describe fact_sales").fetchall()]
    assert columns == ["date", "store_id", "revenue", "year", "month", "day"]


def test_refresh_picks_up_new_replaced_and_emptied_tables(sales_lake):
    con = open_warehouse(sales_lake)
    sales_lake.write_partition("fact_sales", DAYS[0], sales(DAYS[0], [1, 1, 1]))
    sales_lake.write_partition("fact_pos_sales", DAYS[0], sales(DAYS[0], [2]))
    for day in DAYS[1:]:
        sales_lake.delete_partition("fact_sales", day)
    refresh_views(con)
    assert con.sql("select count(*) from fact_sales").fetchall() == [(3,)]
    assert con.sql("select count(*) from fact_pos_sales").fetchall() == [(1,)]
    sales_lake.delete_partition("fact_sales", DAYS[0])
    refresh_views(con)
    assert con.sql("select count(*) from fact_sales").fetchall() == [(0,)]  # schema known: empty view


def test_stale_view_fails_loudly_instead_of_reading_new_bytes(sales_lake):
    con = open_warehouse(sales_lake)
    con.sql("select sum(revenue) from fact_sales").fetchall()  # footers cached
    sales_lake.write_partition("fact_sales", DAYS[2], sales(DAYS[2], [2, 2, 2, 2]))
    with pytest.raises(duckdb.Error, match="part-"):
        con.sql("select sum(revenue) from fact_sales").fetchall()
    refresh_views(con)
    assert con.sql("select count(*) from fact_sales").fetchall() == [(7,)]


def test_tables_never_written_have_no_view(sales_lake):
    con = open_warehouse(sales_lake)
    with pytest.raises(duckdb.CatalogException):
        con.sql("select * from fact_purchases").fetchall()


def test_read_only_connection_cannot_write(sales_lake):
    con = open_warehouse(sales_lake)
    target = sales_lake.partition_dir("fact_sales", DAYS[0])
    before = sorted(p.name for p in sales_lake.root.rglob("*"))
    for statement in (
        f"COPY fact_sales TO '{target}/part-evil.parquet'",
        f"COPY (select 1) TO '{sales_lake.star}/x.csv' (USE_TMP_FILE false)",
        f"ATTACH '{sales_lake.root}/evil.duckdb'",
        f"select * from read_parquet('{target}/*.parquet')",
    ):
        with pytest.raises(duckdb.PermissionException):
            con.execute(statement)
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        con.execute("SET enable_external_access = true")
    assert sorted(p.name for p in sales_lake.root.rglob("*")) == before


def test_writable_connection_can_export(sales_lake, tmp_path):
    con = open_warehouse(sales_lake, read_only=False)
    con.execute(f"COPY fact_sales TO '{tmp_path / 'export.csv'}'")
    assert (tmp_path / "export.csv").read_text().count("\n") == 6


def test_date_filter_never_opens_other_partitions(sales_lake):
    """Pruning proof: a zeroed file breaks only the queries that would have to read it."""
    damaged = next(p for _, d, p, _ in sales_lake.partition_files("fact_sales") if d == DAYS[0])
    damaged.write_bytes(bytes(damaged.stat().st_size))
    con = open_warehouse(sales_lake)
    assert con.execute("select count(*) from fact_sales where date = ?", [DAYS[2]]).fetchall() == [(2,)]
    assert con.execute("select count(*) from fact_sales where date > ?", [DAYS[0]]).fetchall() == [(4,)]
    assert con.sql("select count(*) from fact_sales where year = 2024 and month = 3").fetchall() == [(2,)]
    with pytest.raises(duckdb.Error):
        con.sql("select sum(revenue) from fact_sales").fetchall()


def test_query_binds_parameters(sales_lake):
    frame = sql("select name from dim_store where name = ?", ["O'Brien's"], lake=sales_lake)
    assert frame["name"].tolist() == ["O'Brien's"]
    assert sql("select count(*) as n from dim_store where name = ?", ["x' or '1'='1"], lake=sales_lake)["n"][0] == 0
    frame = sql(
        "select sum(revenue) as r from fact_sales where date between $first and $last",
        {"first": DAYS[0], "last": DAYS[1]},
        lake=sales_lake.root,
    )
    assert frame["r"][0] == 40.0


def test_query_records_timing(sales_lake):
    meta = MetaStore.for_lake(sales_lake)
    sql("select * from fact_sales where date = ?", [DAYS[2]], lake=sales_lake, name="day_sales", meta=meta)
    sql("select 1", lake=sales_lake)  # unnamed: not recorded
    [timing] = meta.query_timings()
    assert timing["name"] == "day_sales" and timing["rows"] == 2 and timing["seconds"] > 0
    assert timing["params"] == '["2024-03-01"]'


def test_query_sees_new_partitions_and_is_read_only(sales_lake):
    sql("select 1", lake=sales_lake)
    new_day = dt.date(2024, 3, 2)
    sales_lake.write_partition("fact_sales", new_day, sales(new_day, [1]))
    assert sql("select count(*) as n from fact_sales where date = ?", [new_day], lake=sales_lake)["n"][0] == 1
    with pytest.raises(duckdb.PermissionException):
        sql(f"COPY fact_sales TO '{sales_lake.root}/out.parquet'", lake=sales_lake)


def test_query_uses_one_connection_per_thread(sales_lake):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(len(sql("select * from fact_sales", lake=sales_lake))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [5] * 4


def test_refresh_needs_a_warehouse_connection():
    with pytest.raises(NKDashError):
        refresh_views(duckdb.connect())
