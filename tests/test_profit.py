"""nkdash.etl.datasets.profit: the aggregates of fact_sales, against sums done by hand."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from nkdash.etl.datasets.checks import Recomputed, SumsOf
from nkdash.etl.datasets.profit import ORDERS_AGG, SALES_AGG, SALES_SCHEMA, aggregates, orders_of
from nkdash.etl.validate import EVALUATORS

DAY = dt.date(2024, 3, 5)
LINES = [  # channel, line, order, store, product, category, qty, revenue, cost
    ("pos", 1, "S1/001", 1, 10, 100, 2, 10.0, 6.0),
    ("pos", 2, "S1/001", 1, 11, 101, 1, 5.0, 3.0),
    ("pos", 3, "S1/002", 1, 10, 100, -1, -5.0, -3.0),  # a refund
    ("pos", 4, "S2/001", 2, 10, 100, 1, 5.0, 3.0),
    ("pos", 5, "S2/002", 2, 11, 101, 1, 0.0, 3.0),  # a free item: neither order nor refund
    ("invoice", 6, "INV/1", None, 10, 100, 3, 15.0, 9.0),
    ("invoice", 7, "INV/1", None, 11, 101, -1, -2.0, -3.0),
    ("invoice", 8, "RINV/1", None, 11, 101, -2, -10.0, -6.0),
]
SALES = pa.Table.from_pylist(
    [
        {
            "date": DAY,
            "channel": c,
            "source_line_id": line,
            "order_ref": ref,
            "store_id": store,
            "partner_id": None,
            "product_id": product,
            "category_id": category,
            "qty": qty,
            "revenue": rev,
            "cost": cost,
            "margin": rev - cost,
            "cost_source": "none",
        }
        for c, line, ref, store, product, category, qty, rev, cost in LINES
    ],
    schema=SALES_SCHEMA,
)


def test_orders_count_per_channel_and_store():
    got = {
        (r["channel"], r["store_id"]): (r["orders"], r["refunds"], r["order_revenue"])
        for r in orders_of(SALES).to_pylist()
    }
    assert got == {("pos", 1): (1, 1, 15.0), ("pos", 2): (1, 0, 5.0), ("invoice", None): (1, 1, 13.0)}
    assert orders_of(SALES).schema.equals(ORDERS_AGG.schema)


def test_sales_sums_per_category_without_product():
    tables = aggregates(SALES)
    agg = tables["agg_sales_daily"]
    assert agg.schema.equals(SALES_AGG.schema)
    rows = {
        (r["channel"], r["store_id"], r["category_id"]): (r["qty"], r["revenue"], r["lines"]) for r in agg.to_pylist()
    }
    assert rows[("pos", 1, 100)] == (1, 5.0, 2) and rows[("invoice", None, 101)] == (-3, -12.0, 2)
    assert sum(r[2] for r in rows.values()) == len(LINES)
    assert sum(tables["agg_profit_daily"]["lines"].to_pylist()) == len(LINES)


@pytest.mark.parametrize("table", [SALES_AGG, ORDERS_AGG], ids=lambda t: t.name)
def test_checks_hold_and_catch_a_wrong_row(table):
    [check] = [c for c in table.checks if isinstance(c, (SumsOf, Recomputed))]
    agg = aggregates(SALES)[table.name]
    ok, _ = EVALUATORS[type(check)](check, agg, DAY, None, {"fact_sales": SALES})
    assert ok
    column = "revenue" if table is SALES_AGG else "orders"
    values = agg[column].to_pylist()
    values[0] += 1
    wrong = agg.set_column(agg.schema.get_field_index(column), column, pa.array(values, agg.schema.field(column).type))
    ok, detail = EVALUATORS[type(check)](check, wrong, DAY, None, {"fact_sales": SALES})
    assert not ok and "1 group(s) differ from fact_sales" in detail
