"""Profit: every POS and invoice sales line with its cost (``fact_sales``), and daily
aggregates of it (``agg_profit_daily``), built from the POS and invoice facts in the lake.

Rules (DESIGN.md):

- POS line: revenue = ``price_subtotal`` with the sign of ``qty``; cost = ``total_cost``
  (same sign) when ``is_total_cost_computed``, else ``qty x standard_price``.
- Invoice line: revenue = ``-balance``; qty is negative on credit notes; cost = qty x the
  product's cost in effect on the invoice date: the ``unit_cost`` of its latest
  ``stock.valuation.layer`` created by the end of that business date (Odoo 16-18), else
  (no layer, or Odoo 19 which has none) the current ``standard_price``.
- An invoice line without a product (free text) keeps its revenue, with no product,
  category or cost (``cost_source = 'none'``).
- ``cost_source`` says which cost was used; ``margin = revenue - cost`` exactly.
- ``agg_profit_daily`` holds the sums of ``fact_sales`` per date, channel, store,
  category and product, and nothing else.
"""

from __future__ import annotations

import datetime as dt
from itertools import chain
from typing import Any, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from ..calendar import day_start
from ..errors import NKDashError
from ..odoo import format_datetime
from . import invoices, pos
from .base import Channel, Context, CostSource, Dataset, Table, Totals, odoo_totals, signed, to_table
from .checks import AcceptedValues, Difference, NotNull, PartitionDate, Relationship, SumsOf, Unique

CHANNELS: tuple[Channel, ...] = ("pos", "invoice")
COST_SOURCES: tuple[CostSource, ...] = ("pos_total_cost", "valuation_layer", "standard_price", "none")
GROUP_BY = ("date", "channel", "store_id", "category_id", "product_id")
SUMMED = ("qty", "revenue", "cost", "margin")

SALES_SCHEMA = pa.schema([
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
])
AGG_SCHEMA = pa.schema([
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
])

SALES = Table("fact_sales", SALES_SCHEMA, checks=(
    PartitionDate(),
    NotNull("channel"), NotNull("source_line_id"), NotNull("cost_source"),
    Unique(("channel", "source_line_id")),
    AcceptedValues("channel", CHANNELS),
    AcceptedValues("cost_source", COST_SOURCES),
    Difference("margin", "revenue", "cost"),
    Relationship("product_id", "dim_product"),
    Relationship("category_id", "dim_category"),
    Relationship("store_id", "dim_store"),
    Relationship("partner_id", "dim_partner"),
))
AGG = Table("agg_profit_daily", AGG_SCHEMA, checks=(
    PartitionDate(),
    NotNull("channel"),
    Unique(GROUP_BY),
    SumsOf("fact_sales", by=GROUP_BY, sums=SUMMED, count="lines"),
))
LAYER_MODEL = "stock.valuation.layer"


class MissingProduct(NKDashError):
    """A fact line references a product that dim_product lacks."""

    def __init__(self, product_id: int):
        self.product_id = product_id
        super().__init__(f"product {product_id} is not in dim_product (run: nkdash refresh dimensions --full)")


def standard_price(ctx: Context, product_id: int) -> float:
    price = ctx.lookup("dim_product", "standard_price")
    if product_id not in price:
        raise MissingProduct(product_id)
    return price[product_id] or 0.0


def sale(day: dt.date, channel: Channel, line_id: int, order_ref: str, store_id: int | None,
         partner_id: int | None, product_id: int | None, category_id: int | None, qty: float, revenue: float,
         cost: float, cost_source: CostSource) -> dict[str, Any]:
    return {"date": day, "channel": channel, "source_line_id": line_id, "order_ref": order_ref,
            "store_id": store_id, "partner_id": partner_id, "product_id": product_id,
            "category_id": category_id, "qty": qty, "revenue": revenue, "cost": cost,
            "margin": revenue - cost, "cost_source": cost_source}


def pos_sales(ctx: Context, day: dt.date, lines: pa.Table) -> Iterator[dict[str, Any]]:
    category = ctx.lookup("dim_product", "category_id")
    for line in lines.to_pylist():
        product, qty = line["product_id"], line["qty"]
        if line["is_total_cost_computed"]:
            cost, source = signed(line["total_cost"], qty), "pos_total_cost"
        else:
            cost, source = qty * standard_price(ctx, product), "standard_price"
        yield sale(day, "pos", line["line_id"], line["order_ref"], line["store_id"], line["partner_id"], product,
                   category.get(product), qty, signed(line["price_subtotal"], qty), cost, source)


def layer_costs(ctx: Context, day: dt.date, products: set[int]) -> dict[int, float]:
    """Latest valuation-layer unit cost per product, created by the end of ``day``.

    Reads layers newest first; a product leaves the query as soon as its latest layer is
    seen, so this takes about one call for a day's products.
    """
    until = format_datetime(day_start(day + dt.timedelta(days=1), ctx.tz))
    size = ctx.client.batch_size
    remaining, found = set(products), {}
    while remaining:
        batch = ctx.client.search_read(
            LAYER_MODEL, [("product_id", "in", sorted(remaining)), ("create_date", "<", until)],
            ["product_id", "unit_cost"], order="create_date desc, id desc", limit=size)
        for layer in batch:
            found.setdefault(layer["product_id"], layer["unit_cost"])
        remaining -= found.keys()
        if len(batch) < size:
            break
    return found


def invoice_sales(ctx: Context, day: dt.date, lines: pa.Table) -> Iterator[dict[str, Any]]:
    rows = lines.to_pylist()
    category = ctx.lookup("dim_product", "category_id")
    products = {r["product_id"] for r in rows} - {None}
    layers = layer_costs(ctx, day, products) if ctx.profile.has_valuation_layer else {}
    for line in rows:
        product = line["product_id"]
        qty = -line["quantity"] if line["move_type"] == "out_refund" else line["quantity"]
        if product is None:
            unit, source = 0.0, "none"
        elif product in layers:
            unit, source = layers[product], "valuation_layer"
        else:
            unit, source = standard_price(ctx, product), "standard_price"
        yield sale(day, "invoice", line["line_id"], line["move_ref"], None, line["partner_id"], product,
                   category.get(product), qty, -line["balance"], qty * unit, source)


def aggregate(sales: pa.Table) -> pa.Table:
    """Sums of ``fact_sales`` per :data:`GROUP_BY` (single-threaded: same bits every run)."""
    grouped = sales.group_by(list(GROUP_BY), use_threads=False).aggregate(
        [(col, "sum") for col in SUMMED] + [("source_line_id", "count")])
    columns = {key: grouped.column(key) for key in GROUP_BY}
    columns.update({col: grouped.column(f"{col}_sum") for col in SUMMED})
    columns["lines"] = grouped.column("source_line_id_count")
    return pa.table(columns, schema=AGG_SCHEMA).sort_by([(key, "ascending") for key in GROUP_BY[1:]])


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    pos_lines = ctx.lake.read_partition(pos.TABLE.name, day)
    invoice_lines = ctx.lake.read_partition(invoices.TABLE.name, day)
    sales = to_table(chain(pos_sales(ctx, day, pos_lines), invoice_sales(ctx, day, invoice_lines)), SALES_SCHEMA)
    return {SALES.name: sales, AGG.name: aggregate(sales)}


def source_totals(ctx: Context, day: dt.date) -> Totals:
    """Per channel, the line count and revenue as Odoo counts and sums them."""
    pos_totals = odoo_totals(ctx, pos.LINES.model, pos.odoo_domain(ctx, day), {"revenue": "price_subtotal"})
    inv_totals = odoo_totals(ctx, invoices.LINES.model, invoices.odoo_domain(ctx, day), {"balance": "balance"})
    return {"pos_lines": pos_totals["count"], "pos_revenue": pos_totals["revenue"],
            "invoice_lines": inv_totals["count"], "invoice_revenue": -inv_totals["balance"]}


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    sales = tables[SALES.name]
    totals: Totals = {}
    for channel in CHANNELS:
        rows = sales.filter(pc.equal(sales.column("channel"), channel))
        totals[f"{channel}_lines"] = float(rows.num_rows)
        totals[f"{channel}_revenue"] = float(pc.sum(rows.column("revenue")).as_py() or 0.0)
    return totals


PROFIT = Dataset(
    name="profit", title="Profit (Cost + Aggreg)", tables=(SALES, AGG), sources=(), extract=extract,
    source_totals=source_totals, lake_totals=lake_totals, inputs=("pos", "invoices"),
)
