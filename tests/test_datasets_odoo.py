"""Every dataset against the demo Odoo of each version: the lake says what Odoo says,
including the tricky cases of the design's business rules."""

import datetime as dt
from collections import defaultdict

import pyarrow.compute as pc
import pytest

from nkdash import dates as cal
from nkdash.etl.validate import validate
from nkdash.lake import Lake
from nkdash.odoo import connect, format_datetime
from tests.support.demo import DATED, DATES, END, TZ

BRUSSELS = cal.timezone(TZ)
FIRST, LAST = cal.day_bounds(DATES[0], BRUSSELS)[0], cal.day_bounds(END, BRUSSELS)[1]
IN_RANGE = [("date_order", ">=", format_datetime(FIRST)), ("date_order", "<", format_datetime(LAST))]


@pytest.fixture
def loaded(loaded_lake, version):
    settings = loaded_lake(version)
    return settings, Lake(settings.lake, read_only=True), connect(settings)


def rows(lake: Lake, table: str, days=DATES) -> list[dict]:
    return [r for day in days for r in lake.read_partition(table, day).to_pylist()]


def test_every_date_validates_against_odoo(loaded):
    settings, _, client = loaded
    for day in DATES:
        report = validate(day, settings=settings, client=client)
        assert report.ok, report.text()
        assert [d.dataset for d in report.datasets] == list(DATED)


def test_pos_counts_paid_done_invoiced_orders_and_excludes_draft_and_cancelled(loaded):
    _, lake, client = loaded
    orders = client.search_read("pos.order", IN_RANGE, ["state"])
    states = {o["id"]: o["state"] for o in orders}
    assert {"draft", "cancel"} <= set(states.values())
    lake_orders = {r["order_id"] for r in rows(lake, "fact_pos_sales")}
    assert lake_orders == {oid for oid, state in states.items() if state in client.profile.pos_sold_states}


def test_refunds_are_negative_in_pos_invoices_and_profit(loaded):
    _, lake, _ = loaded
    refunds = [r for r in rows(lake, "fact_pos_sales") if r["qty"] < 0]
    assert refunds and all(r["price_subtotal"] < 0 and r["refunded_line_id"] for r in refunds)
    credit_notes = {r["line_id"] for r in rows(lake, "fact_invoice_sales") if r["move_type"] == "out_refund"}
    assert credit_notes
    sales = rows(lake, "fact_sales")
    refunded = {r["line_id"] for r in refunds}
    assert all(
        s["revenue"] <= 0 and s["qty"] < 0
        for s in sales
        if (s["channel"], s["source_line_id"]) in {("pos", i) for i in refunded}
        or (s["channel"], s["source_line_id"]) in {("invoice", i) for i in credit_notes}
    )


def test_invoiced_pos_orders_are_counted_once(loaded):
    _, lake, client = loaded
    invoiced = client.search_read("pos.order", [*IN_RANGE, ("account_move", "!=", False)], ["account_move"])
    assert invoiced
    pos_orders = {r["order_id"] for r in rows(lake, "fact_pos_sales")}
    invoice_moves = {r["move_id"] for r in rows(lake, "fact_invoice_sales")}
    assert {o["id"] for o in invoiced} <= pos_orders
    assert not {o["account_move"] for o in invoiced} & invoice_moves


def test_orders_after_local_midnight_are_on_the_local_date(loaded):
    _, lake, _ = loaded
    lines = rows(lake, "fact_pos_sales")
    assert all(cal.business_date(r["date_order"], BRUSSELS) == r["date"] for r in lines)
    assert any(r["date_order"].date() != r["date"] for r in lines)  # UTC date differs: shown on the local one


def test_uncomputed_pos_costs_fall_back_to_standard_price(loaded):
    _, lake, _ = loaded
    price = dict(zip(*lake.read_whole("dim_product").select(["id", "standard_price"]).to_pydict().values()))
    open_session = [
        s for s in rows(lake, "fact_sales", [END]) if s["channel"] == "pos" and s["cost_source"] == "standard_price"
    ]
    assert open_session
    assert all(s["cost"] == pytest.approx(s["qty"] * price[s["product_id"]]) for s in open_session)
    earlier = {s["cost_source"] for s in rows(lake, "fact_sales", DATES[:-1]) if s["channel"] == "pos"}
    assert earlier == {"pos_total_cost"}


def test_invoice_cost_comes_from_valuation_layers_where_odoo_has_them(loaded, version):
    _, lake, _ = loaded
    sources = {s["cost_source"] for s in rows(lake, "fact_sales") if s["channel"] == "invoice"}
    assert sources == ({"valuation_layer"} if version <= 18 else {"standard_price"})


def test_archived_products_are_in_dim_product(loaded):
    _, lake, client = loaded
    archived = client.search_count("product.product", [("active", "=", False)], context={"active_test": False})
    products = lake.read_whole("dim_product")
    assert archived and pc.sum(pc.invert(products.column("active"))).as_py() == archived


def test_stock_of_the_last_date_equals_todays_quants(loaded):
    _, lake, client = loaded
    quants = client.search_read(
        "stock.quant", [("location_id.usage", "=", "internal")], ["product_id", "location_id", "quantity"]
    )
    expected = defaultdict(float)
    for q in quants:
        expected[q["product_id"], q["location_id"]] += q["quantity"]
    stock = {(r["product_id"], r["location_id"]): r["quantity"] for r in rows(lake, "fact_stock_quants", [END])}
    assert stock == {k: v for k, v in expected.items() if v}


def test_inventory_kinds_cover_the_demo_operations(loaded):
    _, lake, _ = loaded
    kinds = {r["kind"] for r in rows(lake, "fact_inventory_moves")}
    assert {"receipt", "delivery", "internal", "adjustment", "scrap"} <= kinds


def test_dates_without_activity_have_empty_partitions(loaded):
    _, lake, _ = loaded
    sunday = dt.date(2024, 3, 31)
    assert lake.read_partition("fact_invoice_sales", sunday).num_rows == 0
    assert lake.read_partition("fact_pos_sales", sunday).num_rows > 0
