"""Invoice sales: one row per product line of a posted customer invoice or credit note.

Rules (ARCHITECTURE.md, *Business rules*): ``account.move`` with ``move_type`` out_invoice or out_refund and
``state = posted``; only lines with ``display_type = 'product'``. Invoices Odoo created
from POS orders (``pos_order_ids`` set) are skipped: that sale is already in POS sales.
The business date is the ``invoice_date``. Revenue is ``-balance`` (credit notes come out
negative); it and the cost are derived by ``profit``. A product line may have no product
(free text): it is kept, its revenue counts.
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

SALE_TYPES = ("out_invoice", "out_refund")

MOVES = Source(
    "account.move",
    fields=("name", "move_type", "partner_id", "invoice_date", "write_date"),
    where=lambda profile: [
        ("move_type", "in", list(SALE_TYPES)),
        ("state", "=", "posted"),
        ("pos_order_ids", "=", False),
    ],
    date_field="invoice_date",
    lake_key=("fact_invoice_sales", "move_id"),
)
LINES = Source(
    "account.move.line",
    fields=("move_id", "product_id", "quantity", "price_unit", "discount", "price_subtotal", "balance", "write_date"),
    where=lambda profile: [("display_type", "=", "product")],
    parent="move_id",
    lake_key=("fact_invoice_sales", "line_id"),
)

SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("line_id", pa.int64()),
        ("move_id", pa.int64()),
        ("move_ref", pa.string()),
        ("move_type", pa.string()),
        ("partner_id", pa.int64()),
        ("product_id", pa.int64()),
        ("quantity", pa.float64()),
        ("price_unit", pa.float64()),
        ("discount", pa.float64()),
        ("price_subtotal", pa.float64()),
        ("balance", pa.float64()),
        ("write_date", UTC_TIMESTAMP),
    ]
)

TABLE = Table(
    "fact_invoice_sales",
    SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("line_id"),
        NotNull("move_id"),
        Unique(("line_id",)),
        AcceptedValues("move_type", SALE_TYPES),
        Relationship("product_id", "dim_product"),
        Relationship("partner_id", "dim_partner"),
    ),
)
SUMS = {"quantity": "quantity", "balance": "balance"}


def table(day: dt.date, moves: pa.Table, lines: pa.Table) -> pa.Table:
    """The fact of ``day`` from its invoices and their product lines (columns of the Odoo fields)."""
    move = parent_rows(lines, "move_id", moves)
    return shape(
        SCHEMA,
        day,
        {
            "line_id": lines["id"],
            "move_id": move["id"],
            "move_ref": move["name"],
            "move_type": move["move_type"],
            "partner_id": move["partner_id"],
            "product_id": lines["product_id"],
            "quantity": lines["quantity"],
            "price_unit": lines["price_unit"],
            "discount": lines["discount"],
            "price_subtotal": lines["price_subtotal"],
            "balance": lines["balance"],
            "write_date": latest_column(move["write_date"], lines["write_date"]),
        },
    )


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    moves, lines = ctx.read_day_tables(MOVES, LINES, day)
    return {TABLE.name: table(day, moves, lines)}


def odoo_domain(ctx: Context, day: dt.date) -> Domain:
    """The product lines of ``day``'s counted invoices, as one ``account.move.line`` domain."""
    moves = [(f"move_id.{name}", op, value) for name, op, value in MOVES.where(ctx.profile)]
    return [
        *moves,
        *LINES.where(ctx.profile),
        *date_domain(ctx.client, MOVES.model, "invoice_date", day, ctx.tz, prefix="move_id."),
    ]


def source_totals(ctx: Context, day: dt.date) -> Totals:
    """Odoo's count and sums of ``day`` (once per run: profit's totals are made of them)."""
    return ctx.cached(
        ("odoo totals", "invoices", day), lambda: odoo_totals(ctx, LINES.model, odoo_domain(ctx, day), SUMS)
    )


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return arrow_totals(tables[TABLE.name], SUMS)


INVOICES = Dataset(
    name="invoices",
    title="Invoice Sales",
    tables=(TABLE,),
    sources=(MOVES, LINES),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    keys=Keys(MOVES, "move_id", LINES),
)
