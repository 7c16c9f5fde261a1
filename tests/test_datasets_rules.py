"""Business rules of the dataset specs, on hand-made rows (no Odoo)."""

import datetime as dt
from types import SimpleNamespace

import pyarrow as pa
import pytest

from nkdash import dates as cal
from nkdash.etl.datasets import Context
from nkdash.etl.datasets.base import signed, to_table
from nkdash.etl.datasets.dimensions import DIMS
from nkdash.etl.datasets.inventory import move_kind
from nkdash.etl.datasets.invoices import SCHEMA as INVOICE_SCHEMA
from nkdash.etl.datasets.pos import SCHEMA as POS_SCHEMA
from nkdash.etl.datasets.profit import AGG_SCHEMA, MissingProduct, aggregate, invoice_table, pos_table
from nkdash.lake import Lake
from nkdash.odoo.versions import VersionProfile

DAY = dt.date(2024, 4, 2)
ODOO19 = VersionProfile(19, "quantity", "is_storable", ("paid", "done"), False, "formatted_read_group")


def pos_sales(ctx: Context, day: dt.date, lines: pa.Table) -> list[dict]:
    """The profit rows of POS lines, as the ETL builds them (``pos_table``)."""
    return pos_table(ctx, day, lines).to_pylist()


def invoice_sales(ctx: Context, day: dt.date, lines: pa.Table) -> list[dict]:
    """The profit rows of invoice lines, as the ETL builds them (``invoice_table``)."""
    return invoice_table(ctx, day, lines).to_pylist()


@pytest.mark.parametrize(
    "src, dest, scrap, kind",
    [
        ("supplier", "internal", False, "receipt"),
        ("internal", "customer", False, "delivery"),
        ("customer", "internal", False, "return"),
        ("internal", "internal", False, "internal"),
        ("inventory", "internal", False, "adjustment"),
        ("internal", "inventory", False, "adjustment"),
        ("internal", "inventory", True, "scrap"),
        ("production", "internal", False, "manufacturing"),
        ("internal", "production", False, "manufacturing"),
        ("internal", "supplier", False, "other"),
        ("internal", "transit", False, "other"),
    ],
)
def test_move_kind_from_location_usage(src, dest, scrap, kind):
    assert move_kind(src, dest, scrap) == kind


@pytest.mark.parametrize("value, like, expected", [(5.0, -2.0, -5.0), (-5.0, 2.0, 5.0), (-5.0, 0.0, -5.0)])
def test_signed_takes_the_sign_of_like(value, like, expected):
    assert signed(value, like) == expected


def test_to_table_keeps_the_schema_even_when_empty():
    assert to_table([], POS_SCHEMA).schema == POS_SCHEMA
    with pytest.raises(KeyError):
        to_table([{"date": DAY}], POS_SCHEMA)


@pytest.fixture
def offline_ctx(tmp_path) -> Context:
    """A context whose lake holds two products: 1 (cost 2.5, category 7) and 2 (cost 4, category 8)."""
    lake = Lake(tmp_path / "lake")
    product = next(d for d in DIMS if d.table.name == "dim_product")
    rows = [
        {
            "id": pid,
            "name": f"P{pid}",
            "default_code": None,
            "barcode": None,
            "category_id": categ,
            "list_price": 10.0,
            "standard_price": cost,
            "storable": True,
            "sale_ok": True,
            "available_in_pos": True,
            "active": pid == 1,
            "write_date": None,
            "product_tmpl_id": pid,
        }
        for pid, categ, cost in ((1, 7, 2.5), (2, 8, 4.0))
    ]
    lake.write_whole("dim_product", to_table(rows, product.table.schema))
    return Context(client=SimpleNamespace(profile=ODOO19), lake=lake, meta=None, tz=cal.timezone("UTC"))


def pos_line(line_id: int, qty: float, subtotal: float, cost: float, computed: bool, product: int = 1) -> dict:
    return {
        "date": DAY,
        "line_id": line_id,
        "order_id": 1,
        "order_ref": "Shop/0001",
        "pos_reference": None,
        "store_id": 1,
        "session_id": 1,
        "partner_id": None,
        "product_id": product,
        "qty": qty,
        "price_unit": 5.0,
        "discount": 0.0,
        "price_subtotal": subtotal,
        "price_subtotal_incl": subtotal,
        "total_cost": cost,
        "is_total_cost_computed": computed,
        "refunded_line_id": None,
        "order_state": "done",
        "date_order": None,
        "write_date": None,
    }


def test_pos_cost_is_total_cost_when_computed_else_qty_times_standard_price(offline_ctx):
    lines = to_table(
        [
            pos_line(1, 2, 10.0, 5.2, True),
            pos_line(2, 3, 15.0, 0.0, False),
            pos_line(3, -1, -5.0, -2.6, True),
            pos_line(4, -2, -10.0, 0.0, False),
        ],
        POS_SCHEMA,
    )
    sales = list(pos_sales(offline_ctx, DAY, lines))
    assert [(s["revenue"], s["cost"], s["cost_source"]) for s in sales] == [
        (10.0, 5.2, "pos_total_cost"),
        (15.0, 7.5, "standard_price"),
        (-5.0, -2.6, "pos_total_cost"),
        (-10.0, -5.0, "standard_price"),
    ]
    assert all(s["margin"] == s["revenue"] - s["cost"] for s in sales)
    assert {s["category_id"] for s in sales} == {7} and {s["channel"] for s in sales} == {"pos"}


def test_pos_revenue_takes_the_sign_of_qty(offline_ctx):
    (sale,) = pos_sales(offline_ctx, DAY, to_table([pos_line(1, -1, 5.0, 2.0, True)], POS_SCHEMA))
    assert (sale["revenue"], sale["cost"]) == (-5.0, -2.0)


def invoice_line(line_id: int, move_type: str, quantity: float, balance: float, product: int = 2) -> dict:
    return {
        "date": DAY,
        "line_id": line_id,
        "move_id": 9,
        "move_ref": "INV/1",
        "move_type": move_type,
        "partner_id": 3,
        "product_id": product,
        "quantity": quantity,
        "price_unit": 10.0,
        "discount": 0.0,
        "price_subtotal": abs(balance),
        "balance": balance,
        "write_date": None,
    }


def test_invoice_revenue_is_minus_balance_and_credit_notes_are_negative(offline_ctx):
    lines = to_table([invoice_line(1, "out_invoice", 2, -20.0), invoice_line(2, "out_refund", 1, 10.0)], INVOICE_SCHEMA)
    sales = list(invoice_sales(offline_ctx, DAY, lines))
    assert [(s["qty"], s["revenue"], s["cost"], s["cost_source"]) for s in sales] == [
        (2, 20.0, 8.0, "standard_price"),
        (-1, -10.0, -4.0, "standard_price"),
    ]
    assert {s["store_id"] for s in sales} == {None} and {s["channel"] for s in sales} == {"invoice"}


def test_a_product_missing_from_the_dimension_is_a_clear_error(offline_ctx):
    with pytest.raises(MissingProduct, match="product 99 is not in dim_product"):
        list(pos_sales(offline_ctx, DAY, to_table([pos_line(1, 1, 5.0, 0.0, False, product=99)], POS_SCHEMA)))


def test_aggregate_sums_fact_sales_per_group_including_null_store():
    def sale(line, channel, store, product, qty, revenue, cost):
        return {
            "date": DAY,
            "channel": channel,
            "store_id": store,
            "category_id": 7,
            "product_id": product,
            "source_line_id": line,
            "qty": qty,
            "revenue": revenue,
            "cost": cost,
            "margin": revenue - cost,
        }

    sales = pa.Table.from_pylist(
        [
            sale(1, "pos", 1, 1, 2.0, 10.0, 4.0),
            sale(2, "pos", 1, 1, -1.0, -5.0, -2.0),
            sale(3, "invoice", None, 1, 3.0, 30.0, 12.0),
            sale(4, "invoice", None, 1, 1.0, 10.0, 4.0),
            sale(5, "pos", 2, 1, 1.0, 5.0, 2.0),
        ]
    )
    agg = aggregate(sales)
    assert agg.schema == AGG_SCHEMA
    assert agg.to_pylist() == [
        {
            "date": DAY,
            "channel": "invoice",
            "store_id": None,
            "category_id": 7,
            "product_id": 1,
            "qty": 4.0,
            "revenue": 40.0,
            "cost": 16.0,
            "margin": 24.0,
            "lines": 2,
        },
        {
            "date": DAY,
            "channel": "pos",
            "store_id": 1,
            "category_id": 7,
            "product_id": 1,
            "qty": 1.0,
            "revenue": 5.0,
            "cost": 2.0,
            "margin": 3.0,
            "lines": 2,
        },
        {
            "date": DAY,
            "channel": "pos",
            "store_id": 2,
            "category_id": 7,
            "product_id": 1,
            "qty": 1.0,
            "revenue": 5.0,
            "cost": 2.0,
            "margin": 3.0,
            "lines": 1,
        },
    ]


def test_an_invoice_line_without_product_keeps_its_revenue_without_cost(offline_ctx):
    (sale,) = invoice_sales(
        offline_ctx, DAY, to_table([invoice_line(1, "out_invoice", 1, -12.0, product=None)], INVOICE_SCHEMA)
    )
    assert (sale["product_id"], sale["category_id"], sale["revenue"], sale["cost"], sale["cost_source"]) == (
        None,
        None,
        12.0,
        0.0,
        "none",
    )
