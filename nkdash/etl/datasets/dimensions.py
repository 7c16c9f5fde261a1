"""Dimensions: products, categories, partners, locations, stores, and the company, its
currency, the vendors' lead times and the operation types, as whole tables.

Rules (ARCHITECTURE.md, *Business rules*): read with ``active_test: False`` (archived products still referenced by
old sales must be in ``dim_product``). Incremental by ``write_date``: only records changed
after the watermark of their model are read and replace their old rows; the first load,
``full=True`` or a missing table reads everything. A store is a point of sale
(``pos.config``). A vendor's lead time for a product is ``product.supplierinfo`` (on the
product's template, or on the product itself); an operation type (``stock.picking.type``)
belongs to a warehouse: where a purchase order's goods go.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nkdash.etl.datasets.base import (
    ALL_RECORDS,
    UTC_TIMESTAMP,
    Context,
    Dataset,
    Source,
    Table,
    Totals,
    advance,
    to_table,
    unseen,
    written_since,
)
from nkdash.etl.datasets.checks import AcceptedValues, NotNull, Relationship, Unique
from nkdash.odoo import VersionProfile

Shape = Callable[[dict[str, Any], VersionProfile], dict[str, Any]]


@dataclass(frozen=True)
class Dim:
    """One dimension table and the Odoo model it mirrors."""

    table: Table
    source: Source
    shape: Shape

    @property
    def watermark_key(self) -> str:
        return f"dim:{self.source.model}"


def _keys(*names: str) -> tuple:
    return (NotNull("id"), Unique(("id",)), *(NotNull(n) for n in names))


def product_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    storable = rec[profile.storable_field]
    return {
        "id": rec["id"],
        "name": rec["name"],
        "default_code": rec["default_code"],
        "product_tmpl_id": rec["product_tmpl_id"],
        "barcode": rec["barcode"],
        "category_id": rec["categ_id"],
        "list_price": rec["list_price"],
        "standard_price": rec["standard_price"],
        "storable": storable is True or storable == "product",
        "sale_ok": rec["sale_ok"],
        "available_in_pos": rec["available_in_pos"],
        "active": rec["active"],
        "write_date": rec["write_date"],
    }


def category_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "complete_name": rec["complete_name"],
        "parent_id": rec["parent_id"],
        "write_date": rec["write_date"],
    }


def partner_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "ref": rec["ref"],
        "city": rec["city"],
        "is_company": rec["is_company"],
        "customer_rank": rec["customer_rank"],
        "supplier_rank": rec["supplier_rank"],
        "parent_id": rec["parent_id"],
        "active": rec["active"],
        "lang": rec["lang"],
        "write_date": rec["write_date"],
    }


def location_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "complete_name": rec["complete_name"],
        "usage": rec["usage"],
        "parent_id": rec["location_id"],
        "warehouse_id": rec["warehouse_id"],
        "scrap_location": rec["scrap_location"],
        "active": rec["active"],
        "write_date": rec["write_date"],
    }


def store_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "warehouse_id": rec["warehouse_id"],
        "active": rec["active"],
        "write_date": rec["write_date"],
    }


def company_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "currency_id": rec["currency_id"],
        "partner_id": rec["partner_id"],
        "write_date": rec["write_date"],
    }


def currency_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "symbol": rec["symbol"],
        "position": rec["position"],
        "decimal_places": rec["decimal_places"],
        "write_date": rec["write_date"],
    }


def supplierinfo_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "partner_id": rec["partner_id"],
        "product_tmpl_id": rec["product_tmpl_id"],
        "product_id": rec["product_id"],
        "sequence": rec["sequence"],
        "min_qty": rec["min_qty"],
        "delay": rec["delay"],
        "write_date": rec["write_date"],
    }


def picking_type_row(rec: dict[str, Any], profile: VersionProfile) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "name": rec["name"],
        "code": rec["code"],
        "warehouse_id": rec["warehouse_id"],
        "active": rec["active"],
        "write_date": rec["write_date"],
    }


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([("id", pa.int64()), *columns, ("write_date", UTC_TIMESTAMP)])


DIMS: tuple[Dim, ...] = (
    Dim(
        Table(
            "dim_product",
            _schema(
                ("name", pa.string()),
                ("default_code", pa.string()),
                ("barcode", pa.string()),
                ("category_id", pa.int64()),
                ("list_price", pa.float64()),
                ("standard_price", pa.float64()),
                ("storable", pa.bool_()),
                ("sale_ok", pa.bool_()),
                ("available_in_pos", pa.bool_()),
                ("active", pa.bool_()),
            ).append(pa.field("product_tmpl_id", pa.int64())),  # added later: columns go at the end
            checks=(*_keys("name", "category_id"), Relationship("category_id", "dim_category")),
        ),
        Source(
            "product.product",
            (
                "name",
                "default_code",
                "barcode",
                "categ_id",
                "list_price",
                "standard_price",
                "sale_ok",
                "available_in_pos",
                "active",
                "write_date",
                "product_tmpl_id",
            ),
            profile_fields=("storable_field",),
            context=ALL_RECORDS,
        ),
        product_row,
    ),
    Dim(
        Table(
            "dim_category",
            _schema(("name", pa.string()), ("complete_name", pa.string()), ("parent_id", pa.int64())),
            checks=(*_keys("name"), Relationship("parent_id", "dim_category")),
        ),
        Source("product.category", ("name", "complete_name", "parent_id", "write_date"), context=ALL_RECORDS),
        category_row,
    ),
    Dim(
        Table(
            "dim_partner",
            _schema(
                ("name", pa.string()),
                ("ref", pa.string()),
                ("city", pa.string()),
                ("is_company", pa.bool_()),
                ("customer_rank", pa.int64()),
                ("supplier_rank", pa.int64()),
                ("parent_id", pa.int64()),
                ("active", pa.bool_()),
            ).append(pa.field("lang", pa.string())),  # added later: columns go at the end
            checks=(*_keys(), Relationship("parent_id", "dim_partner")),
        ),
        Source(
            "res.partner",
            (
                "name",
                "ref",
                "city",
                "is_company",
                "customer_rank",
                "supplier_rank",
                "parent_id",
                "active",
                "write_date",
                "lang",
            ),
            context=ALL_RECORDS,
        ),
        partner_row,
    ),
    Dim(
        Table(
            "dim_location",
            _schema(
                ("name", pa.string()),
                ("complete_name", pa.string()),
                ("usage", pa.string()),
                ("parent_id", pa.int64()),
                ("warehouse_id", pa.int64()),
                ("scrap_location", pa.bool_()),
                ("active", pa.bool_()),
            ),
            checks=(
                *_keys("usage"),
                Relationship("parent_id", "dim_location"),
                AcceptedValues(
                    "usage", ("supplier", "view", "internal", "customer", "inventory", "production", "transit")
                ),
            ),
        ),
        Source(
            "stock.location",
            ("name", "complete_name", "usage", "location_id", "warehouse_id", "scrap_location", "active", "write_date"),
            context=ALL_RECORDS,
        ),
        location_row,
    ),
    Dim(
        Table(
            "dim_store",
            _schema(("name", pa.string()), ("warehouse_id", pa.int64()), ("active", pa.bool_())),
            checks=_keys("name"),
        ),
        Source("pos.config", ("name", "warehouse_id", "active", "write_date"), context=ALL_RECORDS),
        store_row,
    ),
    Dim(
        Table(
            "dim_company",
            _schema(("name", pa.string()), ("currency_id", pa.int64()), ("partner_id", pa.int64())),
            checks=(
                *_keys("name"),
                Relationship("currency_id", "dim_currency"),
                Relationship("partner_id", "dim_partner"),
            ),
        ),
        Source("res.company", ("name", "currency_id", "partner_id", "write_date"), context=ALL_RECORDS),
        company_row,
    ),
    Dim(
        Table(
            "dim_currency",
            _schema(
                ("name", pa.string()),
                ("symbol", pa.string()),
                ("position", pa.string()),
                ("decimal_places", pa.int64()),
            ),
            checks=(*_keys("name"), AcceptedValues("position", ("before", "after"))),
        ),
        Source("res.currency", ("name", "symbol", "position", "decimal_places", "write_date"), context=ALL_RECORDS),
        currency_row,
    ),
    Dim(
        Table(
            "dim_supplierinfo",
            _schema(
                ("partner_id", pa.int64()),
                ("product_tmpl_id", pa.int64()),
                ("product_id", pa.int64()),
                ("sequence", pa.int64()),
                ("min_qty", pa.float64()),
                ("delay", pa.int64()),
            ),
            checks=(*_keys("partner_id"), Relationship("partner_id", "dim_partner")),
        ),
        Source(
            "product.supplierinfo",
            ("partner_id", "product_tmpl_id", "product_id", "sequence", "min_qty", "delay", "write_date"),
            context=ALL_RECORDS,
        ),
        supplierinfo_row,
    ),
    Dim(
        Table(
            "dim_picking_type",
            _schema(("name", pa.string()), ("code", pa.string()), ("warehouse_id", pa.int64()), ("active", pa.bool_())),
            checks=_keys("name"),
        ),
        Source("stock.picking.type", ("name", "code", "warehouse_id", "active", "write_date"), context=ALL_RECORDS),
        picking_type_row,
    ),
)


def changed(ctx: Context, dim: Dim) -> pa.Table | None:
    """The dimension with Odoo's changes since its watermark applied (all of it on a first
    or full load, when the stored table is gone, or when its contract gained columns since
    it was written); None when nothing changed."""
    mark = ctx.meta.get_mark(dim.watermark_key)
    stored = (
        not ctx.full
        and mark is not None
        and next(ctx.lake.partition_files(dim.table.name), None) is not None
        and _columns(ctx, dim.table.name) == dim.table.schema.names
    )
    records = list(ctx.read(dim.source, written_since(mark) if stored and mark is not None else []))
    after = advance(mark if stored else None, records)
    if stored and mark is not None:
        records = unseen(records, mark)
    if after is not None and after != mark:
        ctx.watermarks[dim.watermark_key] = after
    if stored and not records:
        return None
    fresh = to_table((dim.shape(r, ctx.profile) for r in records), dim.table.schema)
    if not stored:
        return fresh.sort_by("id")
    old = ctx.lake.read_whole(dim.table.name)
    kept = old.filter(pc.invert(pc.is_in(old.column("id"), value_set=fresh.column("id"))))
    return pa.concat_tables([kept, fresh]).sort_by("id")


def _columns(ctx: Context, table: str) -> list[str]:
    schema = ctx.lake.schema(table)
    return schema.names if schema is not None else []


def extract(ctx: Context, day: dt.date | None) -> dict[str, pa.Table]:
    """The dimension tables that changed (see :func:`changed`)."""
    tables = {dim.table.name: changed(ctx, dim) for dim in DIMS}
    return {name: table for name, table in tables.items() if table is not None}


def source_totals(ctx: Context, day: dt.date | None) -> Totals:
    """How many records of each model Odoo has, archived included (counted by Odoo)."""
    return {dim.table.name: float(ctx.client.search_count(dim.source.model, [], context=ALL_RECORDS)) for dim in DIMS}


def lake_totals(tables: Mapping[str, pa.Table]) -> Totals:
    return {dim.table.name: float(tables[dim.table.name].num_rows) for dim in DIMS}


DIMENSIONS = Dataset(
    name="dimensions",
    title="Dimensions",
    tables=tuple(d.table for d in DIMS),
    sources=tuple(d.source for d in DIMS),
    extract=extract,
    source_totals=source_totals,
    lake_totals=lake_totals,
    partitioned=False,
)
