"""POS sales: one row per ``pos.order.line`` of a sold order.

Rules (ARCHITECTURE.md, *Business rules*): an order counts when its state is paid, done or invoiced (the states
this Odoo version has: ``profile.pos_sold_states``); draft and cancelled orders do not.
A line's business date is its order's ``date_order`` in the business timezone. Invoiced
POS orders are counted here, once (the invoice dataset skips their invoices).
The fact keeps Odoo's natural columns; revenue and cost are derived by ``profit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pyarrow as pa

from nkdash.etl.datasets.base import (
    UTC_TIMESTAMP,
    Context,
    Dataset,
    Domain,
    Keys,
    Source,
    Table,
    Totals,
    arrow_totals,
    date_domain,
    latest_column,
    odoo_totals,
    parent_rows,
    shape,
)
from nkdash.etl.datasets.checks import AcceptedValues, NotNull, PartitionDate, Relationship, Unique

ORDERS = Source(
    "pos.order",
    fields=("name", "pos_reference", "session_id", "config_id", "partner_id", "date_order", "state", "write_date"),
    where=lambda profile: [("state", "in", list(profile.pos_sold_states))],
    date_field="date_order",
    lake_key=("fact_pos_sales", "order_id"),
)
LINES = Source(
    "pos.order.line",
    fields=(
        "order_id",
        "product_id",
        "qty",
        "price_unit",
        "discount",
        "price_subtotal",
        "price_subtotal_incl",
        "total_cost",
        "is_total_cost_computed",
        "refunded_orderline_id",
        "write_date",
    ),
    parent="order_id",
    lake_key=("fact_pos_sales", "line_id"),
)

SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("line_id", pa.int64()),
        ("order_id", pa.int64()),
        ("order_ref", pa.string()),
        ("pos_reference", pa.string()),
        ("store_id", pa.int64()),
        ("session_id", pa.int64()),
        ("partner_id", pa.int64()),
        ("product_id", pa.int64()),
        ("qty", pa.float64()),
        ("price_unit", pa.float64()),
        ("discount", pa.float64()),
        ("price_subtotal", pa.float64()),
        ("price_subtotal_incl", pa.float64()),
        ("total_cost", pa.float64()),
        ("is_total_cost_computed", pa.bool_()),
        ("refunded_line_id", pa.int64()),
        ("order_state", pa.string()),
        ("date_order", UTC_TIMESTAMP),
        ("write_date", UTC_TIMESTAMP),
    ]
)

TABLE = Table(
    "fact_pos_sales",
    SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("line_id"),
        NotNull("order_id"),
        NotNull("store_id"),
        NotNull("product_id"),
        Unique(("line_id",)),
        AcceptedValues("order_state", ("paid", "done", "invoiced")),
        Relationship("product_id", "dim_product"),
        Relationship("store_id", "dim_store"),
        Relationship("partner_id", "dim_partner"),
    ),
)
SUMS = {"qty": "qty", "price_subtotal": "price_subtotal"}


def table(day: dt.date, orders: pa.Table, lines: pa.Table) -> pa.Table:
    """The fact of ``day`` from its orders and their lines (columns of the Odoo fields)."""
    order = parent_rows(lines, "order_id", orders)
    return shape(
        SCHEMA,
        day,
        {
            "line_id": lines["id"],
            "order_id": order["id"],
            "order_ref": order["name"],
            "pos_reference": order["pos_reference"],
            "store_id": order["config_id"],
            "session_id": order["session_id"],
            "partner_id": order["partner_id"],
            "product_id": lines["product_id"],
            "qty": lines["qty"],
            "price_unit": lines["price_unit"],
            "discount": lines["discount"],
            "price_subtotal": lines["price_subtotal"],
            "price_subtotal_incl": lines["price_subtotal_incl"],
            "total_cost": lines["total_cost"],
            "is_total_cost_computed": lines["is_total_cost_computed"],
            "refunded_line_id": lines["refunded_orderline_id"],
            "order_state": order["state"],
            "date_order": order["date_order"],
            "write_date": latest_column(order["write_date"], lines["write_date"]),
        },
    )


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    orders, lines = ctx.read_day_tables(ORDERS, LINES, day)
    return {TABLE.name: table(day, orders, lines)}


def odoo_domain(ctx: Context, day: dt.date) -> Domain:
    """The lines of ``day``'s sold orders, as one ``pos.order.line`` domain."""
    return [
        ("order_id.state", "in", list(ctx.profile.pos_sold_states)),
        *date_domain(ctx.client, ORDERS.model, "date_order", day, ctx.tz, prefix="order_id."),
    ]


def source_totals(ctx: Context, day: dt.date) -> Totals:
    """Odoo's count and sums of ``day`` (once per run: profit's totals are made of them)."""
    return ctx.cached(("odoo totals", "pos", day), lambda: odoo_totals(ctx, LINES.model, odoo_domain(ctx, day), SUMS))


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return arrow_totals(tables[TABLE.name], SUMS)


POS = Dataset(
    name="pos",
    title="POS Sales",
    tables=(TABLE,),
    sources=(ORDERS, LINES),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    keys=Keys(ORDERS, "order_id", LINES),
)
