"""Inventory moves: one row per ``stock.move`` in state done, dated by its ``date``.

The done quantity is ``quantity_done`` in Odoo 16 and ``quantity`` from 17
(``profile.move_qty_field``). The kind of a move is derived from the usage of its source
and destination locations (DESIGN.md):

==============  ===========================================================
receipt         supplier -> internal
delivery        internal -> customer
return          customer -> internal
internal        internal -> internal
adjustment      inventory <-> internal, the inventory location not a scrap one
scrap           into a scrap location
manufacturing   from or to a production location
other           anything else (transit, returns to a vendor, ...)
==============  ===========================================================
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Iterator, Literal, Mapping

import pyarrow as pa

from .base import (
    UTC_TIMESTAMP, Context, Dataset, Domain, Source, Table, Totals, arrow_totals, date_domain,
    odoo_totals, to_table,
)
from .checks import AcceptedValues, NotNull, PartitionDate, Relationship, Unique

MoveKind = Literal["receipt", "delivery", "return", "internal", "adjustment", "scrap", "manufacturing", "other"]
MOVE_KINDS: tuple[MoveKind, ...] = (
    "receipt", "delivery", "return", "internal", "adjustment", "scrap", "manufacturing", "other")
KIND_BY_USAGE: dict[tuple[str, str], MoveKind] = {
    ("supplier", "internal"): "receipt",
    ("internal", "customer"): "delivery",
    ("customer", "internal"): "return",
    ("internal", "internal"): "internal",
    ("inventory", "internal"): "adjustment",
    ("internal", "inventory"): "adjustment",
}

MOVES = Source(
    "stock.move",
    fields=("reference", "product_id", "location_id", "location_dest_id", "product_uom_qty", "price_unit",
            "picking_type_id", "date", "write_date"),
    profile_fields=("move_qty_field",),
    where=lambda profile: [("state", "=", "done")],
    date_field="date",
)

SCHEMA = pa.schema([
    ("date", pa.date32()),
    ("move_id", pa.int64()),
    ("reference", pa.string()),
    ("product_id", pa.int64()),
    ("location_id", pa.int64()),
    ("location_dest_id", pa.int64()),
    ("src_usage", pa.string()),
    ("dest_usage", pa.string()),
    ("kind", pa.string()),
    ("qty", pa.float64()),
    ("product_uom_qty", pa.float64()),
    ("price_unit", pa.float64()),
    ("picking_type_id", pa.int64()),
    ("date_done", UTC_TIMESTAMP),
    ("write_date", UTC_TIMESTAMP),
])

TABLE = Table("fact_inventory_moves", SCHEMA, checks=(
    PartitionDate(),
    NotNull("move_id"), NotNull("product_id"), NotNull("location_id"), NotNull("location_dest_id"),
    NotNull("kind"),
    Unique(("move_id",)),
    AcceptedValues("kind", MOVE_KINDS),
    Relationship("product_id", "dim_product"),
    Relationship("location_id", "dim_location"),
    Relationship("location_dest_id", "dim_location"),
))
SUMS = {"qty": "qty"}


def move_kind(src_usage: str | None, dest_usage: str | None, dest_is_scrap: bool) -> MoveKind:
    """The kind of a move from its locations (see the module docstring)."""
    if dest_is_scrap:
        return "scrap"
    if "production" in (src_usage, dest_usage):
        return "manufacturing"
    return KIND_BY_USAGE.get((src_usage or "", dest_usage or ""), "other")


def rows(ctx: Context, day: dt.date, moves: Iterable[dict]) -> Iterator[dict[str, Any]]:
    usage = ctx.lookup("dim_location", "usage")
    scrap = ctx.lookup("dim_location", "scrap_location")
    qty_field = ctx.profile.move_qty_field
    for move in moves:
        src, dest = move["location_id"], move["location_dest_id"]
        yield {
            "date": day, "move_id": move["id"], "reference": move["reference"], "product_id": move["product_id"],
            "location_id": src, "location_dest_id": dest, "src_usage": usage.get(src),
            "dest_usage": usage.get(dest), "kind": move_kind(usage.get(src), usage.get(dest), bool(scrap.get(dest))),
            "qty": move[qty_field], "product_uom_qty": move["product_uom_qty"], "price_unit": move["price_unit"],
            "picking_type_id": move["picking_type_id"], "date_done": move["date"], "write_date": move["write_date"],
        }


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    moves = ctx.read(MOVES, ctx.day_domain(MOVES, day))
    return {TABLE.name: to_table(rows(ctx, day, moves), SCHEMA)}


def odoo_domain(ctx: Context, day: dt.date) -> Domain:
    return [*MOVES.where(ctx.profile), *date_domain(ctx.client, MOVES.model, "date", day, ctx.tz)]


def source_totals(ctx: Context, day: dt.date) -> Totals:
    return odoo_totals(ctx, MOVES.model, odoo_domain(ctx, day), {"qty": ctx.profile.move_qty_field})


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return arrow_totals(tables[TABLE.name], SUMS)


INVENTORY = Dataset(
    name="inventory", title="Inventory Moves", tables=(TABLE,), sources=(MOVES,), extract=extract,
    source_totals=source_totals, lake_totals=lake_totals,
)
