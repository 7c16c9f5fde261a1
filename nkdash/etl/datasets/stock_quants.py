"""Stock quants: stock on hand per product and internal location at the end of a date.

Odoo keeps no history of quants, so the level at the end of business date
``D`` is reconstructed: today's quants in internal locations, minus every done move
dated after ``D`` that brought stock into an internal location, plus every one that took
stock out of one. Only storable products have quants, so only their moves count.
A change to a move dated ``D`` changes the level of ``D`` and of every later date.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from nkdash.dates import day_start
from nkdash.etl.datasets.base import (
    Context,
    Dataset,
    Domain,
    Source,
    Table,
    Totals,
    arrow_totals,
    date_domain,
    odoo_totals,
    shape,
)
from nkdash.etl.datasets.checks import NotNull, PartitionDate, Relationship, Unique
from nkdash.odoo import VersionProfile, format_datetime

Key = tuple[int, int]  # (product_id, location_id)
Move = tuple[dt.datetime, int, int, int, float]  # (date, product, source, destination, qty)


def storable(profile: VersionProfile) -> Domain:
    return [(f"product_id.{name}", op, value) for name, op, value in profile.storable_domain]


QUANTS = Source(
    "stock.quant",
    fields=("product_id", "location_id", "quantity"),
    where=lambda profile: [("location_id.usage", "=", "internal"), *storable(profile)],
)
MOVES = Source(
    "stock.move",
    fields=("product_id", "location_id", "location_dest_id", "date"),
    profile_fields=("move_qty_field",),
    where=lambda profile: [("state", "=", "done"), *storable(profile)],
    date_field="date",
    lake_key=("fact_inventory_moves", "move_id"),  # a move re-dated changes the levels from its old date on
)

SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("product_id", pa.int64()),
        ("location_id", pa.int64()),
        ("warehouse_id", pa.int64()),
        ("quantity", pa.float64()),
    ]
)

TABLE = Table(
    "fact_stock_quants",
    SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("product_id"),
        NotNull("location_id"),
        Unique(("product_id", "location_id")),
        Relationship("product_id", "dim_product"),
        Relationship("location_id", "dim_location"),
    ),
)


def current_levels(ctx: Context) -> dict[Key, float]:
    """Today's quants summed per product and internal location (read once per run)."""
    levels: dict[Key, float] = defaultdict(float)
    for quants in ctx.read_pages(QUANTS, []):
        for key, quantity in zip(
            zip(quants["product_id"].to_pylist(), quants["location_id"].to_pylist()), quants["quantity"].to_pylist()
        ):
            levels[key] += quantity
    return levels


def later_moves(ctx: Context) -> list[Move]:
    """Done moves after the earliest date of the run (read once per run)."""
    since = day_start(min(ctx.dates) + dt.timedelta(days=1), ctx.tz)
    moves = ctx.read_table(MOVES, [("date", ">=", format_datetime(since))])
    columns = ("date", "product_id", "location_id", "location_dest_id", ctx.profile.move_qty_field)
    return list(zip(*(moves[name].to_pylist() for name in columns)))


def levels_at(ctx: Context, day: dt.date) -> dict[Key, float]:
    """Stock at the end of ``day``: today's levels with every later move undone."""
    levels = defaultdict(float, ctx.cached("quants", lambda: current_levels(ctx)))
    usage = ctx.lookup("dim_location", "usage")
    end = day_start(day + dt.timedelta(days=1), ctx.tz)
    for when, product, src, dest, qty in ctx.cached("later_moves", lambda: later_moves(ctx)):
        if when < end:
            continue
        if usage.get(dest) == "internal":
            levels[product, dest] -= qty
        if usage.get(src) == "internal":
            levels[product, src] += qty
    return levels


def _round6(quantity: float) -> float:
    """``round(quantity, 6)``; a whole number is its own rounding (and most levels are)."""
    return quantity if quantity % 1 == 0 else round(quantity, 6)


def table(ctx: Context, day: dt.date, levels: Mapping[Key, float]) -> pa.Table:
    """One row per product and location with stock (rounded to 6 decimals), sorted."""
    products, locations = zip(*levels) if levels else ((), ())
    quantity = pa.array([_round6(q) for q in levels.values()], pa.float64())
    stock = pa.table(
        {
            "product_id": pa.array(products, pa.int64()),
            "location_id": pa.array(locations, pa.int64()),
            "quantity": quantity,
        }
    ).filter(pc.not_equal(quantity, 0.0))
    stock = stock.sort_by([("product_id", "ascending"), ("location_id", "ascending")])
    dim = ctx.dim("dim_location")
    warehouse = dim["warehouse_id"].take(pc.index_in(stock["location_id"], value_set=dim["id"]))
    return shape(SCHEMA, day, {**{name: stock[name] for name in stock.column_names}, "warehouse_id": warehouse})


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    return {TABLE.name: table(ctx, day, levels_at(ctx, day))}


def source_totals(ctx: Context, day: dt.date) -> Totals:
    """Odoo's own sums: quants now - later moves in + later moves out (internal locations)."""
    qty = ctx.profile.move_qty_field
    later = [*MOVES.where(ctx.profile), ("date", ">=", format_datetime(day_start(day + dt.timedelta(days=1), ctx.tz)))]
    now = odoo_totals(ctx, QUANTS.model, QUANTS.where(ctx.profile), {"quantity": "quantity"})
    inflow = odoo_totals(ctx, MOVES.model, [*later, ("location_dest_id.usage", "=", "internal")], {"qty": qty})
    outflow = odoo_totals(ctx, MOVES.model, [*later, ("location_id.usage", "=", "internal")], {"qty": qty})
    return {"quantity": now["quantity"] - inflow["qty"] + outflow["qty"]}


def window_totals(ctx: Context, dates: list[dt.date]) -> dict[dt.date, Totals]:
    """:func:`source_totals` of several dates in few calls: today's quants once, then the moves
    in and out of internal locations day by day, back from the last date (a day's calls read
    that day's moves; :func:`source_totals` of an old date reads every move since)."""
    wanted, qty = set(dates), ctx.profile.move_qty_field

    def net(domain: Domain) -> float:
        moves = [*MOVES.where(ctx.profile), *domain]
        inflow = odoo_totals(ctx, MOVES.model, [*moves, ("location_dest_id.usage", "=", "internal")], {"qty": qty})
        outflow = odoo_totals(ctx, MOVES.model, [*moves, ("location_id.usage", "=", "internal")], {"qty": qty})
        return inflow["qty"] - outflow["qty"]

    now = odoo_totals(ctx, QUANTS.model, QUANTS.where(ctx.profile), {"quantity": "quantity"})["quantity"]
    day, first = max(wanted), min(wanted)
    later = net([("date", ">=", format_datetime(day_start(day + dt.timedelta(days=1), ctx.tz)))])
    totals: dict[dt.date, Totals] = {}
    while True:
        if day in wanted:
            totals[day] = {"quantity": now - later}
        if day == first:
            return totals
        later += net(date_domain(ctx.client, MOVES.model, "date", day, ctx.tz))  # moved after the day before
        day -= dt.timedelta(days=1)


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return {"quantity": arrow_totals(tables[TABLE.name], {"quantity": "quantity"})["quantity"]}


STOCK_QUANTS = Dataset(
    name="stock-quants",
    title="Stock Quants",
    tables=(TABLE,),
    sources=(QUANTS, MOVES),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    stale_onward=True,
    window_totals=window_totals,
)
