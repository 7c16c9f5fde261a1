"""Expected dashboard figures computed independently of nkdash, with pandas straight from
the lake's parquet files; money compared to the cent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from nkdash.dashboards import Filters

CENT = 0.005


def approx(value):
    return pytest.approx(value, abs=CENT)


def read(lake: Path, table: str) -> pd.DataFrame:
    """A whole table straight from its parquet files (no nkdash)."""
    table = ds.dataset(lake / "star-schema" / table, format="parquet", partitioning="hive").to_table()
    return table.to_pandas(date_as_object=False)


def descendants(lake: Path, ids) -> set[int]:
    cats = read(lake, "dim_category")
    found, todo = set(), list(ids)
    while todo:
        cid = todo.pop()
        found.add(cid)
        todo += cats.loc[cats["parent_id"] == cid, "id"].tolist()
    return found


def category_id(lake: Path, name: str) -> int:
    cats = read(lake, "dim_category")
    return int(cats.loc[cats["name"] == name, "id"].iloc[0])


def expected_sales(lake: Path, f: Filters) -> dict[str, float]:
    lines = read(lake, "fact_sales")
    lines = lines[(lines["date"] >= pd.Timestamp(f.start)) & (lines["date"] <= pd.Timestamp(f.end))]
    if f.stores:
        lines = lines[lines["store_id"].isin(f.stores)]
    if f.categories:
        lines = lines[lines["category_id"].isin(descendants(lake, f.categories))]
    orders = lines.groupby(["channel", "order_ref"])["revenue"].sum()
    return {
        "revenue": lines["revenue"].sum(),
        "cost": lines["cost"].sum(),
        "margin": lines["margin"].sum(),
        "units": lines["qty"].sum(),
        "lines": len(lines),
        "orders": int((orders > 0).sum()),
        "refunds": int((orders < 0).sum()),
        "basket": orders[orders > 0].mean(),
    }
