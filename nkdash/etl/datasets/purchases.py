"""Purchases: one row per product line of a confirmed purchase order.

Rules (ARCHITECTURE.md, *Business rules*): orders in state purchase or done; dated by ``date_approve`` (the
confirmation) in the business timezone. Section and note lines (``display_type`` set)
carry no product and are left out.

Added to the contract later (null in partitions written before, until reloaded):
``date_planned``, the line's expected arrival, and ``date_received``, when the order's first
receipt was done (Odoo's ``purchase.order.effective_date``, empty until then).
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

CONFIRMED = ("purchase", "done")

ORDERS = Source(
    "purchase.order",
    fields=("name", "partner_id", "picking_type_id", "state", "date_approve", "effective_date", "write_date"),
    where=lambda profile: [("state", "in", list(CONFIRMED))],
    date_field="date_approve",
    lake_key=("fact_purchases", "order_id"),
)
LINES = Source(
    "purchase.order.line",
    fields=(
        "order_id",
        "product_id",
        "product_qty",
        "qty_received",
        "qty_invoiced",
        "price_unit",
        "price_subtotal",
        "price_total",
        "date_planned",
        "write_date",
    ),
    where=lambda profile: [("display_type", "=", False)],
    parent="order_id",
    lake_key=("fact_purchases", "line_id"),
)

SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("line_id", pa.int64()),
        ("order_id", pa.int64()),
        ("order_ref", pa.string()),
        ("partner_id", pa.int64()),
        ("picking_type_id", pa.int64()),
        ("product_id", pa.int64()),
        ("product_qty", pa.float64()),
        ("qty_received", pa.float64()),
        ("qty_invoiced", pa.float64()),
        ("price_unit", pa.float64()),
        ("price_subtotal", pa.float64()),
        ("price_total", pa.float64()),
        ("state", pa.string()),
        ("date_approve", UTC_TIMESTAMP),
        ("write_date", UTC_TIMESTAMP),
        ("date_planned", UTC_TIMESTAMP),  # added later (module docstring)
        ("date_received", UTC_TIMESTAMP),
    ]
)

TABLE = Table(
    "fact_purchases",
    SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("line_id"),
        NotNull("order_id"),
        NotNull("partner_id"),
        NotNull("product_id"),
        Unique(("line_id",)),
        AcceptedValues("state", CONFIRMED),
        Relationship("product_id", "dim_product"),
        Relationship("partner_id", "dim_partner"),
    ),
)
SUMS = {"product_qty": "product_qty", "price_subtotal": "price_subtotal"}


def table(day: dt.date, orders: pa.Table, lines: pa.Table) -> pa.Table:
    """The fact of ``day`` from its orders and their product lines (columns of the Odoo fields)."""
    order = parent_rows(lines, "order_id", orders)
    return shape(
        SCHEMA,
        day,
        {
            "line_id": lines["id"],
            "order_id": order["id"],
            "order_ref": order["name"],
            "partner_id": order["partner_id"],
            "picking_type_id": order["picking_type_id"],
            "product_id": lines["product_id"],
            "product_qty": lines["product_qty"],
            "qty_received": lines["qty_received"],
            "qty_invoiced": lines["qty_invoiced"],
            "price_unit": lines["price_unit"],
            "price_subtotal": lines["price_subtotal"],
            "price_total": lines["price_total"],
            "state": order["state"],
            "date_approve": order["date_approve"],
            "write_date": latest_column(order["write_date"], lines["write_date"]),
            "date_planned": lines["date_planned"],
            "date_received": order["effective_date"],
        },
    )


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    orders, lines = ctx.read_day_tables(ORDERS, LINES, day)
    return {TABLE.name: table(day, orders, lines)}


def odoo_domain(ctx: Context, day: dt.date) -> Domain:
    return [
        ("order_id.state", "in", list(CONFIRMED)),
        *LINES.where(ctx.profile),
        *date_domain(ctx.client, ORDERS.model, "date_approve", day, ctx.tz, prefix="order_id."),
    ]


def source_totals(ctx: Context, day: dt.date) -> Totals:
    return odoo_totals(ctx, LINES.model, odoo_domain(ctx, day), SUMS)


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return arrow_totals(tables[TABLE.name], SUMS)


PURCHASES = Dataset(
    name="purchases",
    title="Purchases",
    tables=(TABLE,),
    sources=(ORDERS, LINES),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    keys=Keys(ORDERS, "order_id", LINES),
)
