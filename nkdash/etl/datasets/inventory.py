"""Inventory moves: one row per ``stock.move`` in state done, dated by its ``date``.

The done quantity is ``quantity_done`` in Odoo 16 and ``quantity`` from 17
(``profile.move_qty_field``). The kind of a move is derived from the usage of its source
and destination locations (ARCHITECTURE.md, *Business rules*):

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
from collections.abc import Mapping
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

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
    odoo_totals,
    shape,
)
from nkdash.etl.datasets.checks import AcceptedValues, NotNull, PartitionDate, Relationship, Unique

MoveKind = Literal["receipt", "delivery", "return", "internal", "adjustment", "scrap", "manufacturing", "other"]
MOVE_KINDS: tuple[MoveKind, ...] = (
    "receipt",
    "delivery",
    "return",
    "internal",
    "adjustment",
    "scrap",
    "manufacturing",
    "other",
)
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
    fields=(
        "reference",
        "product_id",
        "location_id",
        "location_dest_id",
        "product_uom_qty",
        "price_unit",
        "picking_type_id",
        "date",
        "write_date",
    ),
    profile_fields=("move_qty_field",),
    where=lambda profile: [("state", "=", "done")],
    date_field="date",
    lake_key=("fact_inventory_moves", "move_id"),
)

SCHEMA = pa.schema(
    [
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
    ]
)

TABLE = Table(
    "fact_inventory_moves",
    SCHEMA,
    checks=(
        PartitionDate(),
        NotNull("move_id"),
        NotNull("product_id"),
        NotNull("location_id"),
        NotNull("location_dest_id"),
        NotNull("kind"),
        Unique(("move_id",)),
        AcceptedValues("kind", MOVE_KINDS),
        Relationship("product_id", "dim_product"),
        Relationship("location_id", "dim_location"),
        Relationship("location_dest_id", "dim_location"),
    ),
)
SUMS = {"qty": "qty"}


def move_kind(src_usage: str | None, dest_usage: str | None, dest_is_scrap: bool) -> MoveKind:
    """The kind of a move from its locations (see the module docstring)."""
    if dest_is_scrap:
        return "scrap"
    if "production" in (src_usage, dest_usage):
        return "manufacturing"
    return KIND_BY_USAGE.get((src_usage or "", dest_usage or ""), "other")


def table(ctx: Context, day: dt.date, moves: pa.Table) -> pa.Table:
    """The fact of ``day`` from its done moves (columns of the Odoo fields)."""
    locations = ctx.dim("dim_location")
    src = pc.index_in(moves["location_id"], value_set=locations["id"])
    dest = pc.index_in(moves["location_dest_id"], value_set=locations["id"])
    src_usage, dest_usage = locations["usage"].take(src), locations["usage"].take(dest)
    scrap = pc.fill_null(locations["scrap_location"].take(dest), False)
    kinds = [
        move_kind(s, d, bool(x)) for s, d, x in zip(src_usage.to_pylist(), dest_usage.to_pylist(), scrap.to_pylist())
    ]
    return shape(
        SCHEMA,
        day,
        {
            "move_id": moves["id"],
            "reference": moves["reference"],
            "product_id": moves["product_id"],
            "location_id": moves["location_id"],
            "location_dest_id": moves["location_dest_id"],
            "src_usage": src_usage,
            "dest_usage": dest_usage,
            "kind": pa.array(kinds, pa.string()),
            "qty": moves[ctx.profile.move_qty_field],
            "product_uom_qty": moves["product_uom_qty"],
            "price_unit": moves["price_unit"],
            "picking_type_id": moves["picking_type_id"],
            "date_done": moves["date"],
            "write_date": moves["write_date"],
        },
    )


def extract(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    return {TABLE.name: table(ctx, day, ctx.read_table(MOVES, ctx.day_domain(MOVES, day)))}


def odoo_domain(ctx: Context, day: dt.date) -> Domain:
    return [*MOVES.where(ctx.profile), *date_domain(ctx.client, MOVES.model, "date", day, ctx.tz)]


def source_totals(ctx: Context, day: dt.date) -> Totals:
    return odoo_totals(ctx, MOVES.model, odoo_domain(ctx, day), {"qty": ctx.profile.move_qty_field})


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return arrow_totals(tables[TABLE.name], SUMS)


INVENTORY = Dataset(
    name="inventory",
    title="Inventory Moves",
    tables=(TABLE,),
    sources=(MOVES,),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    keys=Keys(MOVES, "move_id"),
)
