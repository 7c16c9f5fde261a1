"""A lake written before the data contract gained columns (``fact_sales.local_hour`` and
``.discount``, ``fact_purchases.date_planned`` and ``.date_received``, the new dimensions
and dimension columns) keeps working: the next run widens the tables, the partitions written
before stay sound (the scan, validation, compaction and the dashboards read them, the new
columns null), a reloaded date fills its new columns, and the dimensions reload whole."""

from __future__ import annotations

import shutil

import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Dashboard, Filters
from nkdash.etl import refresh
from nkdash.etl.validate import validate
from nkdash.lake import Lake
from tests.support.demo import DATES

pytestmark = pytest.mark.parametrize("version", [17], ids=["odoo17"])

ADDED = {
    "fact_sales": ["local_hour", "discount"],
    "fact_purchases": ["date_planned", "date_received"],
    "dim_product": ["product_tmpl_id"],
    "dim_partner": ["lang"],
}
NEW_DIMENSIONS = ("dim_company", "dim_currency", "dim_supplierinfo", "dim_picking_type")


def as_written_before(lake: Lake) -> None:
    """The lake as an nkdash without the added columns and dimensions left it."""
    for table, columns in ADDED.items():
        if table.startswith("dim_"):
            lake.write_whole(table, lake.read_whole(table).drop_columns(columns), allow_schema_change=True)
            continue
        for day in DATES:
            lake.write_partition(
                table, day, lake.read_partition(table, day).drop_columns(columns), allow_schema_change=True
            )
    for table in NEW_DIMENSIONS:
        shutil.rmtree(lake.table_dir(table))


def test_a_lake_written_before_the_new_columns_keeps_working(lake_copy):
    lake = Lake(lake_copy.lake)
    as_written_before(lake)
    assert lake.scan() == [] and "local_hour" not in lake.schema("fact_sales").names

    reloaded = DATES[2]  # Sunday 31 March: its month then holds both schemas
    assert refresh("profit", [reloaded], settings=lake_copy, progress=False).ok
    assert lake.schema("fact_sales").names[-2:] == ["local_hour", "discount"]  # widened
    assert "local_hour" not in lake.read_partition("fact_sales", DATES[0]).column_names  # written before: as it was
    assert (
        lake.read_partition("fact_sales", reloaded)["local_hour"].null_count
        < lake.read_partition("fact_sales", reloaded).num_rows
    )  # filled (POS lines have an hour)
    assert lake.scan(deep=True) == [] and validate(DATES[0], ["profit"], settings=lake_copy).ok

    db = Dashboard(lake_copy.lake, meta=None)
    f = Filters(DATES[0], DATES[-1])
    assert 0 < d.hour_coverage(d.sales_by_hour(db, f)) < 1  # the reloaded date's hours only, said on the page
    assert 0 < d.discount_summary(d.sales_discounts(db, f))["known_share"] < 1
    assert d.sales_summary(db, f)["revenue"].iloc[0] > 0

    assert lake.compact_month("fact_sales", 2024, 3) is not None  # two schemas in one month: merged
    assert (
        lake.read_partition("fact_sales", DATES[0])["local_hour"].null_count
        == lake.read_partition("fact_sales", DATES[0]).num_rows
    )
    assert lake.scan(deep=True) == []

    assert refresh("purchases", [DATES[1]], settings=lake_copy, progress=False).ok  # dimensions come first
    assert "product_tmpl_id" in lake.schema("dim_product").names  # reloaded whole: its contract grew
    assert lake.read_whole("dim_product")["product_tmpl_id"].null_count == 0
    assert all(lake.read_whole(table).num_rows for table in NEW_DIMENSIONS)
    assert d.page_formats(Dashboard(lake_copy.lake, meta=None)).locale == "en_GB"
