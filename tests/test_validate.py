"""The generic validator: each kind of check, and whole-date validation against Odoo."""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nkdash.etl.datasets.checks import (
    AcceptedValues,
    Difference,
    NotNull,
    PartitionDate,
    Relationship,
    SumsOf,
    Unique,
)
from nkdash.etl.validate import EVALUATORS, validate
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from tests.support.demo import DATES

DAY = DATES[0]
TABLE = pa.table(
    {
        "date": pa.array([DAY, DAY, DAY], pa.date32()),
        "line_id": [1, 2, 2],
        "kind": ["receipt", "delivery", "teleport"],
        "product_id": [10, None, 11],
        "revenue": [10.0, 5.0, -3.0],
        "cost": [4.0, 2.0, -1.0],
        "margin": [6.0, 3.0, -1.5],
    }
)
SALES = pa.table({"channel": ["pos", "pos", "invoice"], "qty": [1.0, 2.0, 3.0]})
AGG_OK = pa.table({"channel": ["invoice", "pos"], "qty": [3.0, 3.0], "lines": [1, 2]})
AGG_BAD = pa.table({"channel": ["pos"], "qty": [3.5], "lines": [2]})


class Dims:
    def dim(self, table):
        return pa.table({"id": [10, 12]})


@pytest.mark.parametrize(
    "check, ok, detail",
    [
        (NotNull("line_id"), True, ""),
        (NotNull("product_id"), False, "1 null(s)"),
        (Unique(("date",)), False, "1 duplicated key(s)"),
        (Unique(("line_id", "kind")), True, ""),
        (Unique(("line_id",)), False, "(2,)"),
        (AcceptedValues("kind", ("receipt", "delivery")), False, "teleport"),
        (AcceptedValues("kind", ("receipt", "delivery", "teleport")), True, ""),
        (Relationship("product_id", "dim_product"), False, "1 key(s) missing from dim_product: 11"),
        (Difference("margin", "revenue", "cost"), False, "1 row(s) differ"),
        (PartitionDate(), True, ""),
    ],
)
def test_each_check(check, ok, detail):
    outcome, text = EVALUATORS[type(check)](check, TABLE, DAY, Dims(), {})
    assert outcome is ok and detail in text


def test_partition_date_catches_rows_of_another_day():
    check = PartitionDate()
    assert EVALUATORS[PartitionDate](check, TABLE, DAY + dt.timedelta(days=1), Dims(), {})[0] is False


@pytest.mark.parametrize("agg, ok", [(AGG_OK, True), (AGG_BAD, False)])
def test_sums_of(agg, ok):
    check = SumsOf("fact_sales", by=("channel",), sums=("qty",), count="lines")
    outcome, text = EVALUATORS[SumsOf](check, agg, DAY, Dims(), {"fact_sales": SALES})
    assert outcome is ok and (ok or "2 group(s) differ" in text)


# ------------------------------------------------------------------ against the demo Odoo
ODOO17 = pytest.mark.parametrize("version", [17], ids=["odoo17"])  # one version is enough here


def failures(report) -> set[tuple[str, str, str]]:
    return {(d.dataset, r.table, r.check) for d in report.datasets for r in d.failures}


@ODOO17
def test_a_valid_date_passes_and_is_recorded(lake_copy):
    report = validate(DAY, settings=lake_copy)
    assert report.ok and report.text().startswith(f"validation of {DAY}: OK")
    stored = MetaStore.for_lake(Lake(lake_copy.lake)).validations(date=DAY)
    assert {v["dataset"] for v in stored} == {d.dataset for d in report.datasets} and all(v["ok"] for v in stored)


@ODOO17
def test_duplicated_source_lines_fail_uniqueness_and_odoo_totals(lake_copy):
    lake = Lake(lake_copy.lake)
    pos = lake.read_partition("fact_pos_sales", DAY)
    lake.write_partition("fact_pos_sales", DAY, pa.concat_tables([pos, pos.slice(0, 2)]))
    report = validate(DAY, ["pos"], settings=lake_copy)
    assert not report.ok
    assert failures(report) == {
        ("pos", "fact_pos_sales", "unique(line_id)"),
        ("pos", "fact_pos_sales", "odoo count"),
        ("pos", "fact_pos_sales", "odoo qty"),
        ("pos", "fact_pos_sales", "odoo price_subtotal"),
    }
    assert "x fact_pos_sales odoo count: lake" in report.text()


@ODOO17
def test_wrong_margin_and_stale_aggregates_fail(lake_copy):
    lake = Lake(lake_copy.lake)
    sales = lake.read_partition("fact_sales", DAY)
    margin = sales.schema.get_field_index("margin")
    lake.write_partition("fact_sales", DAY, sales.set_column(margin, "margin", pc.multiply(sales["margin"], 2.0)))
    report = validate(DAY, ["profit"], settings=lake_copy)
    assert failures(report) == {
        ("profit", "fact_sales", "margin = revenue - cost"),
        ("profit", "agg_profit_daily", "sums_of(fact_sales)"),
        ("profit", "agg_sales_daily", "sums_of(fact_sales)"),
    }


@ODOO17
def test_an_unreadable_file_fails(lake_copy):
    lake = Lake(lake_copy.lake)
    path = lake.info("fact_inventory_moves", DAY).path
    path.write_bytes(path.read_bytes()[:-64])  # truncated: the footer is gone
    report = validate(DAY, ["inventory"], settings=lake_copy)
    assert {c for _, _, c in failures(report)} == {"readable", "loaded"}
    assert "unreadable" in report.text()


@ODOO17
def test_nothing_loaded_is_a_failure(lake_copy):
    report = validate(DAY - dt.timedelta(days=1), settings=lake_copy)
    assert not report.ok and "nothing is loaded" in report.text()
    report = validate(DAY - dt.timedelta(days=1), ["pos"], settings=lake_copy)
    assert failures(report) == {("pos", "fact_pos_sales", "loaded")}
