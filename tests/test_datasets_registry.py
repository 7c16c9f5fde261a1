"""The registry and the declarative specs hang together (names, tables, schemas, checks)."""

import pyarrow as pa
import pytest

from nkdash import lake
from nkdash.demo.schema import define_models
from nkdash.demo.store import Database
from nkdash.errors import InputError
from nkdash.etl.datasets import DATASET_NAMES, DATED, REGISTRY, TABLES, get
from nkdash.etl.datasets.checks import Relationship, SumsOf
from nkdash.odoo.versions import build_profile

TITLES = {
    "pos": "POS Sales",
    "invoices": "Invoice Sales",
    "purchases": "Purchases",
    "inventory": "Inventory Moves",
    "stock-quants": "Stock Quants",
    "dimensions": "Dimensions",
    "profit": "Profit (Cost + Aggreg)",
}
ALL_TABLES = [(spec, table) for spec in REGISTRY.values() for table in spec.tables]


def test_registry_names_every_dataset_with_its_title():
    assert {name: spec.title for name, spec in REGISTRY.items()} == TITLES
    assert tuple(TITLES) == DATASET_NAMES
    assert tuple(n for n in TITLES if n != "dimensions") == DATED


def test_unknown_dataset_is_an_input_error_listing_the_known_ones():
    with pytest.raises(InputError, match="unknown dataset 'sales'; choose from pos, invoices"):
        get("sales")


def test_the_specs_cover_exactly_the_lake_tables():
    assert sorted(TABLES) == sorted(lake.TABLES)


@pytest.mark.parametrize("spec, table", ALL_TABLES, ids=[t.name for _, t in ALL_TABLES])
def test_schemas_and_checks_are_consistent(spec, table):
    names = table.schema.names
    assert len(set(names)) == len(names)
    if spec.partitioned:
        assert names[0] == "date" and table.schema.field("date").type == pa.date32()
    else:
        assert names[0] == "id"
    for check in table.checks:
        columns = getattr(check, "columns", ()) or [
            getattr(check, a) for a in ("column", "left", "right") if hasattr(check, a)
        ]
        assert set(columns) <= set(names), check
        if isinstance(check, Relationship):
            assert check.table in lake.WHOLE
        if isinstance(check, SumsOf):
            assert set(check.by) | set(check.sums) | {check.count} <= set(names)


def test_fact_sales_and_agg_profit_daily_follow_the_data_contract():
    profit = get("profit")
    assert profit.table("fact_sales").schema.names == [
        "date",
        "channel",
        "source_line_id",
        "order_ref",
        "store_id",
        "partner_id",
        "product_id",
        "category_id",
        "qty",
        "revenue",
        "cost",
        "margin",
        "cost_source",
        "local_hour",  # added later, at the end: older partitions lack them (read as null)
        "discount",
    ]
    assert profit.table("agg_profit_daily").schema.names == [
        "date",
        "channel",
        "store_id",
        "category_id",
        "product_id",
        "qty",
        "revenue",
        "cost",
        "margin",
        "lines",
    ]


@pytest.mark.parametrize("version", [16, 17, 18, 19])
def test_every_source_field_exists_in_that_odoo_version(version):
    db = Database("demo", version)
    define_models(db)
    profile = build_profile(
        version, lambda m: {k: {"type": f.type} for k, f in db.models[m].fields.items()} if m in db.models else None
    )
    for spec in REGISTRY.values():
        for source in spec.sources:
            fields = db.models[source.model].fields
            assert set(source.field_list(profile)) <= set(fields), (spec.name, source.model)
            assert source.date_field is None or source.date_field in fields
            assert source.parent is None or fields[source.parent].type == "many2one"
