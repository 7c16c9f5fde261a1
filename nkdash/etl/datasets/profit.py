"""Profit: every POS and invoice sales line with its cost (``fact_sales``), and daily
aggregates of it (``agg_profit_daily``, ``agg_sales_daily``, ``agg_orders_daily``), built
from the POS and invoice facts in the lake.

Rules (ARCHITECTURE.md, *Business rules*):

- POS line: revenue = ``price_subtotal`` with the sign of ``qty``; cost = ``total_cost``
  (same sign) when ``is_total_cost_computed``, else ``qty x standard_price``.
- Invoice line: revenue = ``-balance``; qty is negative on credit notes; cost = qty x the
  product's cost in effect on the invoice date: the ``unit_cost`` of its latest
  ``stock.valuation.layer`` created by the end of that business date (Odoo 16-18), else
  (no layer, or Odoo 19 which has none) the current ``standard_price``.
- An invoice line without a product (free text) keeps its revenue, with no product,
  category or cost (``cost_source = 'none'``).
- ``cost_source`` says which cost was used; ``margin = revenue - cost`` exactly.
- ``local_hour``: the hour (0-23) of the sale in the business timezone: a POS order's
  ``date_order``; null for invoices (an invoice has a date, no time of sale).
- ``discount``: the value the line's discount took off, untaxed and signed like the
  revenue: ``revenue x d / (100 - d)`` for a discount of ``d`` %, ``qty x price_unit`` when
  ``d`` is 100 (the revenue is then 0), 0 without a discount.
- Both columns were added to the contract later: partitions written before hold no such
  column and read as null in it until they are reloaded (``nkdash profit``).
- ``agg_profit_daily`` holds the sums of ``fact_sales`` per date, channel, store,
  category and product, and nothing else; ``agg_sales_daily`` the same sums without the
  product (per date, channel, store, category: a few hundred rows a day, what the sales
  and profit dashboards read).
- ``agg_orders_daily``: per date, channel and store, the orders (a distinct ``order_ref``
  of the channel whose lines sum to a positive revenue), the refunds (a negative sum) and
  the revenue of the orders. An order has one date and one store, so these add up
  exactly over any range of dates and stores (not over categories: an order spans them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from nkdash.dates import day_start
from nkdash.errors import NKDashError
from nkdash.etl.datasets import invoices, pos
from nkdash.etl.datasets.base import Channel, Context, CostSource, Dataset, Table, Totals, shape
from nkdash.etl.datasets.checks import (
    AcceptedValues,
    Difference,
    NotNull,
    PartitionDate,
    Recomputed,
    Relationship,
    SumsOf,
    Unique,
)
from nkdash.odoo import format_datetime

CHANNELS: tuple[Channel, ...] = ("pos", "invoice")
COST_SOURCES: tuple[CostSource, ...] = ("pos_total_cost", "valuation_layer", "standard_price", "none")
GROUP_BY = ("date", "channel", "store_id", "category_id", "product_id")
SALES_GROUP_BY = GROUP_BY[:-1]
ORDERS_GROUP_BY = ("date", "channel", "store_id")
SUMMED = ("qty", "revenue", "cost", "margin")

SALES_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("channel", pa.string()),
        ("source_line_id", pa.int64()),
        ("order_ref", pa.string()),
        ("store_id", pa.int64()),
        ("partner_id", pa.int64()),
        ("product_id", pa.int64()),
        ("category_id", pa.int64()),
        ("qty", pa.float64()),
        ("revenue", pa.float64()),
        ("cost", pa.float64()),
        ("margin", pa.float64()),
        ("cost_source", pa.string()),
        ("local_hour", pa.int8()),  # added later: null in partitions written before (module docstring)
        ("discount", pa.float64()),
    ]
)
AGG_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("channel", pa.string()),
        ("store_id", pa.int64()),
        ("category_id", pa.int64()),
        ("product_id", pa.int64()),
        ("qty", pa.float64()),
        ("revenue", pa.float64()),
        ("cost", pa.float64()),
        ("margin", pa.float64()),
        ("lines", pa.int64()),
    ]
)
SALES_AGG_SCHEMA = pa.schema([field for field in AGG_SCHEMA if field.name != "product_id"])
ORDERS_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("channel", pa.string()),
        ("store_id", pa.int64()),
        ("orders", pa.int64()),
        ("refunds", pa.int64()),
        ("order_revenue", pa.float64()),
    ]
)

SALES = Table(
    "fact_sales",
    SALES_SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("channel"),
        NotNull("source_line_id"),
        NotNull("cost_source"),
        Unique(("channel", "source_line_id")),
        AcceptedValues("channel", CHANNELS),
        AcceptedValues("cost_source", COST_SOURCES),
        Difference("margin", "revenue", "cost"),
        Relationship("product_id", "dim_product"),
        Relationship("category_id", "dim_category"),
        Relationship("store_id", "dim_store"),
        Relationship("partner_id", "dim_partner"),
    ),
)
AGG = Table(
    "agg_profit_daily",
    AGG_SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("channel"),
        Unique(GROUP_BY),
        SumsOf("fact_sales", by=GROUP_BY, sums=SUMMED, count="lines"),
    ),
)
SALES_AGG = Table(
    "agg_sales_daily",
    SALES_AGG_SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("channel"),
        Unique(SALES_GROUP_BY),
        SumsOf("fact_sales", by=SALES_GROUP_BY, sums=SUMMED, count="lines"),
        Relationship("store_id", "dim_store"),
        Relationship("category_id", "dim_category"),
    ),
)
LAYER_MODEL = "stock.valuation.layer"


class MissingProduct(NKDashError):
    """A fact line references a product that dim_product lacks."""

    def __init__(self, product_id: int):
        self.product_id = product_id
        super().__init__(f"product {product_id} is not in dim_product (run: nkdash refresh dimensions --full)")


Column: TypeAlias = pa.Array | pa.ChunkedArray


def signed_column(value: Column, like: Column) -> Column:
    """:func:`~.base.signed` per row: ``value`` with the sign of ``like`` (kept as is where ``like`` is 0)."""
    magnitude = pc.abs(value)
    return pc.if_else(pc.less(like, 0), pc.negate(magnitude), pc.if_else(pc.greater(like, 0), magnitude, value))


def product_rows(ctx: Context, products: Column) -> Column:
    """Per line, the row of its product in ``dim_product`` (null: no product, or not in the dimension)."""
    return pc.index_in(products, value_set=ctx.dim("dim_product").column("id"))


def standard_prices(ctx: Context, products: Column, rows: Column, needed: Column) -> Column:
    """Per line, its product's current ``standard_price`` (0 when unset). A line in ``needed``
    whose product ``dim_product`` lacks is a :class:`MissingProduct` (the first such line)."""
    missing = pc.and_(needed, pc.is_null(rows))
    if pc.any(missing).as_py():
        raise MissingProduct(products.filter(missing)[0].as_py())
    price = ctx.dim("dim_product").column("standard_price").take(rows)
    return pc.if_else(pc.fill_null(pc.equal(price, 0.0), True), 0.0, price)  # `price or 0.0`


def discount_column(revenue: Column, qty: Column, price_unit: Column, percent: Column) -> Column:
    """The value a line's discount of ``percent`` took off (module docstring), signed like
    ``revenue``: ``revenue x d / (100 - d)``; ``qty x price_unit`` at 100 %; 0 without one."""
    d = pc.fill_null(percent, 0.0)
    partial = pc.divide(pc.multiply(revenue, d), pc.subtract(100.0, d))
    full = pc.multiply(qty, pc.fill_null(price_unit, 0.0))
    return pc.if_else(pc.less_equal(d, 0.0), 0.0, pc.if_else(pc.greater_equal(d, 100.0), full, partial))


def local_hours(stamps: Column, tz: dt.tzinfo) -> Column:
    """The hour (0-23) of UTC ``stamps`` in ``tz`` (null stays null)."""
    return pc.cast(pc.hour(stamps.cast(pa.timestamp("us", tz=str(tz)))), pa.int8())


def sales_table(
    ctx: Context, day: dt.date, channel: Channel, lines: pa.Table, rows: Column, columns: Mapping[str, Column]
) -> pa.Table:
    """``fact_sales`` of one channel's lines: ``columns`` plus the channel, the product's
    category and the margin."""
    count = lines.num_rows
    return shape(
        SALES_SCHEMA,
        day,
        {
            **columns,
            "channel": pa.repeat(pa.scalar(channel), count),
            "source_line_id": lines["line_id"],
            "partner_id": lines["partner_id"],
            "product_id": lines["product_id"],
            "category_id": ctx.dim("dim_product").column("category_id").take(rows),
            "margin": pc.subtract(columns["revenue"], columns["cost"]),
        },
    )


def pos_table(ctx: Context, day: dt.date, lines: pa.Table) -> pa.Table:
    """``fact_sales`` of the day's POS lines (``fact_pos_sales``)."""
    qty, rows = lines["qty"], product_rows(ctx, lines["product_id"])
    computed = pc.fill_null(lines["is_total_cost_computed"], False)
    price = standard_prices(ctx, lines["product_id"], rows, pc.invert(computed))
    revenue = signed_column(lines["price_subtotal"], qty)
    return sales_table(
        ctx,
        day,
        "pos",
        lines,
        rows,
        {
            "order_ref": lines["order_ref"],
            "store_id": lines["store_id"],
            "qty": qty,
            "revenue": revenue,
            "cost": pc.if_else(computed, signed_column(lines["total_cost"], qty), pc.multiply(qty, price)),
            "cost_source": pc.if_else(computed, "pos_total_cost", "standard_price"),
            "local_hour": local_hours(lines["date_order"], ctx.tz),
            "discount": discount_column(revenue, qty, lines["price_unit"], lines["discount"]),
        },
    )


def layer_costs(ctx: Context, day: dt.date, products: set[int]) -> dict[int, float]:
    """Latest valuation-layer unit cost per product, created by the end of ``day``.

    Reads layers newest first; a product leaves the query as soon as its latest layer is
    seen, so this takes about one call for a day's products.
    """
    until = format_datetime(day_start(day + dt.timedelta(days=1), ctx.tz))
    size = ctx.client.batch_size
    remaining = set(products)
    found: dict[int, float] = {}
    while remaining:
        batch = ctx.client.search_read(
            LAYER_MODEL,
            [("product_id", "in", sorted(remaining)), ("create_date", "<", until)],
            ["product_id", "unit_cost"],
            order="create_date desc, id desc",
            limit=size,
        )
        for layer in batch:
            found.setdefault(layer["product_id"], layer["unit_cost"])
        remaining -= found.keys()
        if len(batch) < size:
            break
    return found


def invoice_table(ctx: Context, day: dt.date, lines: pa.Table) -> pa.Table:
    """``fact_sales`` of the day's invoice lines (``fact_invoice_sales``)."""
    products, rows = lines["product_id"], product_rows(ctx, lines["product_id"])
    layers = (
        layer_costs(ctx, day, set(pc.unique(products).drop_null().to_pylist()))
        if ctx.profile.has_valuation_layer
        else {}
    )
    layer = pc.index_in(products, value_set=pa.array(list(layers), pa.int64()))
    has_product, has_layer = pc.is_valid(products), pc.is_valid(layer)
    price = standard_prices(ctx, products, rows, pc.and_(has_product, pc.invert(has_layer)))
    unit = pc.if_else(has_layer, pa.array(list(layers.values()), pa.float64()).take(layer), price)
    refund = pc.fill_null(pc.equal(lines["move_type"], "out_refund"), False)
    qty = pc.if_else(refund, pc.negate(lines["quantity"]), lines["quantity"])
    revenue = pc.negate(lines["balance"])
    return sales_table(
        ctx,
        day,
        "invoice",
        lines,
        rows,
        {
            "order_ref": lines["move_ref"],
            "store_id": pa.nulls(lines.num_rows, pa.int64()),
            "qty": qty,
            "revenue": revenue,
            "cost": pc.multiply(qty, pc.if_else(has_product, unit, 0.0)),
            "cost_source": pc.if_else(has_product, pc.if_else(has_layer, "valuation_layer", "standard_price"), "none"),
            "local_hour": pa.nulls(lines.num_rows, pa.int8()),
            "discount": discount_column(revenue, qty, lines["price_unit"], lines["discount"]),
        },
    )


def aggregate(sales: pa.Table, by: tuple[str, ...] = GROUP_BY, schema: pa.Schema = AGG_SCHEMA) -> pa.Table:
    """Sums of ``fact_sales`` per ``by`` (single-threaded: same bits every run)."""
    grouped = sales.group_by(list(by), use_threads=False).aggregate(
        [(col, "sum") for col in SUMMED] + [("source_line_id", "count")]
    )
    columns = {key: grouped.column(key) for key in by}
    columns.update({col: grouped.column(f"{col}_sum") for col in SUMMED})
    columns["lines"] = grouped.column("source_line_id_count")
    return pa.table(columns, schema=schema).sort_by([(key, "ascending") for key in by[1:]])


def sales_of(sales: pa.Table) -> pa.Table:
    """``agg_sales_daily`` of one date's ``fact_sales``: sums per :data:`SALES_GROUP_BY`."""
    return aggregate(sales, SALES_GROUP_BY, SALES_AGG_SCHEMA)


def orders_of(sales: pa.Table) -> pa.Table:
    """``agg_orders_daily`` of one date's ``fact_sales``: per :data:`ORDERS_GROUP_BY`, the
    orders, refunds and revenue of the orders (an order: one ``order_ref`` of a channel)."""
    per_order = sales.group_by([*ORDERS_GROUP_BY, "order_ref"], use_threads=False).aggregate([("revenue", "sum")])
    revenue = per_order.column("revenue_sum")
    positive, negative = pc.greater(revenue, 0), pc.less(revenue, 0)
    per_order = (
        per_order.append_column("is_order", pc.cast(positive, pa.int64()))
        .append_column("is_refund", pc.cast(negative, pa.int64()))
        .append_column("order_revenue", pc.if_else(positive, revenue, pa.scalar(0.0)))
    )
    grouped = per_order.group_by(list(ORDERS_GROUP_BY), use_threads=False).aggregate(
        [("is_order", "sum"), ("is_refund", "sum"), ("order_revenue", "sum")]
    )
    columns = [grouped.column(k) for k in ORDERS_GROUP_BY] + [
        grouped.column(c) for c in ("is_order_sum", "is_refund_sum", "order_revenue_sum")
    ]
    return pa.table(columns, schema=ORDERS_SCHEMA).sort_by([(k, "ascending") for k in ORDERS_GROUP_BY[1:]])


ORDERS_AGG = Table(
    "agg_orders_daily",
    ORDERS_SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("channel"),
        Unique(ORDERS_GROUP_BY),
        Recomputed("fact_sales", orders_of, by=ORDERS_GROUP_BY, values=("orders", "refunds", "order_revenue")),
        Relationship("store_id", "dim_store"),
    ),
)


def aggregates(sales: pa.Table) -> dict[str, pa.Table]:
    """Every aggregate table of one date's ``fact_sales``, by name."""
    return {AGG.name: aggregate(sales), SALES_AGG.name: sales_of(sales), ORDERS_AGG.name: orders_of(sales)}


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    pos_lines = ctx.lake.read_partition(pos.TABLE.name, day)
    invoice_lines = ctx.lake.read_partition(invoices.TABLE.name, day)
    sales = pa.concat_tables([pos_table(ctx, day, pos_lines), invoice_table(ctx, day, invoice_lines)]).combine_chunks()
    return {SALES.name: sales, **aggregates(sales)}


def source_totals(ctx: Context, day: dt.date) -> Totals:
    """Per channel, the line count and revenue as Odoo counts and sums them (the POS and
    invoice datasets' own totals, asked once per run)."""
    pos_totals, inv_totals = pos.source_totals(ctx, day), invoices.source_totals(ctx, day)
    return {
        "pos_lines": pos_totals["count"],
        "pos_revenue": pos_totals["price_subtotal"],
        "invoice_lines": inv_totals["count"],
        "invoice_revenue": -inv_totals["balance"],
    }


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    sales = tables[SALES.name]
    totals: Totals = {}
    for channel in CHANNELS:
        rows = sales.filter(pc.equal(sales.column("channel"), channel))
        totals[f"{channel}_lines"] = float(rows.num_rows)
        totals[f"{channel}_revenue"] = float(pc.sum(rows.column("revenue")).as_py() or 0.0)
    return totals


PROFIT = Dataset(
    name="profit",
    title="Profit (Cost + Aggreg)",
    tables=(SALES, AGG, SALES_AGG, ORDERS_AGG),
    sources=(),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    inputs=("pos", "invoices"),
)
