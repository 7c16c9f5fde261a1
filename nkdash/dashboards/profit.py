"""The profit page's queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import numpy as np
import pandas as pd

from nkdash.dashboards.compare import Comparison, Kpi
from nkdash.dashboards.engine import Reads, query, reading
from nkdash.dashboards.filters import ProfitBy, checked_choice
from nkdash.dashboards.labels import NO_STORE, labels_of
from nkdash.dashboards.rounding import rounded
from nkdash.dashboards.sales import SALES_KPIS, sales_comparison, sales_trend
from nkdash.dashboards.sql import PROFIT_BY_PRODUCT, SALES_BY_STORE, in_categories, in_range, in_stores

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Filters, Grain


PROFIT_IDS = {
    "store": "store_id",
    "category": "category_id",
    "department": "category_id",  # summed by
    "product": "product_id, category_id",
}


@reading(Reads(("agg_sales_daily", "agg_profit_daily", "dim_store", "dim_category", "dim_product")))
def profit_by(db: Dashboard, f: Filters, by: ProfitBy = "store") -> pd.DataFrame:
    """Per store, category, department or product: units, revenue, cost, margin, margin_pct,
    share of margin; by margin, largest first.

    Sums by ids first (agg_sales_daily; agg_profit_daily per product), then the labels."""
    by = cast(ProfitBy, checked_choice("by", by, get_args(ProfitBy)))  # one of ProfitBy's values
    return (_profit_by_product if by == "product" else _profit_by_key)(db, f, by)


@query("agg_sales_daily", "dim_store", "dim_category", name="profit_by", rounds=True)
def _profit_by_key(db: Dashboard, f: Filters, by: ProfitBy) -> pd.DataFrame:
    return _profit_by(db, f, by, SALES_BY_STORE if by == "store" and not f.categories else "agg_sales_daily")


@query("agg_profit_daily", "dim_category", "dim_product", name="profit_by", rounds=True)
def _profit_by_product(db: Dashboard, f: Filters, by: ProfitBy) -> pd.DataFrame:
    return _profit_by(db, f, by, "agg_profit_daily" if f.stores else PROFIT_BY_PRODUCT)


PROFIT_SUMS = ["units", "revenue", "cost", "margin"]


def _profit_by(db: Dashboard, f: Filters, by: ProfitBy, source: str) -> pd.DataFrame:
    """Sums by ids in SQL; labels, margin_pct, order and share with numpy, the frame built
    once, rounded (on at most a few thousand rows: cheaper than joins and a second
    grouping in DuckDB, or pandas frames and merges)."""
    sums = db.arrays(
        f"profit_by_{by}",
        f"""
        SELECT {PROFIT_IDS[by]}, sum(qty)::DOUBLE AS units, sum(revenue)::DOUBLE AS revenue,
               sum(cost)::DOUBLE AS cost, sum(margin)::DOUBLE AS margin
        FROM {source}
        WHERE {in_range()} AND {in_stores("store_id", f)} AND {in_categories("category_id", f)}
        GROUP BY ALL""",
        db.bind(f),
        {**f.log_params(), "by": by},
    )
    values = {c: np.ma.filled(sums[c], np.nan) for c in PROFIT_SUMS}
    if by == "department":
        [department] = labels_of(db, sums["category_id"], "category_id", "department")
        codes, names = pd.factorize(department, use_na_sentinel=False)  # groups in order of appearance
        values = {c: np.bincount(codes, np.nan_to_num(v), len(names)) for c, v in values.items()}
        order = np.lexsort((pd.Series(names).rank(method="first", na_option="bottom").to_numpy(), -values["margin"]))
        keys: dict[str, Any] = {"department": names.take(order)}
    else:  # ordered first: each label column is then taken once, in order
        raw = sums[PROFIT_IDS[by].split(",")[0]]
        order = np.lexsort(
            (np.ma.filled(raw.astype(np.int64), np.iinfo(np.int64).max), -values["margin"])
        )  # nulls last
        ids = _ids_column(raw[order])
        if by == "store":
            [store] = labels_of(db, ids, "store_id", "name")
            keys = {"store_id": ids, "store": store.fillna(NO_STORE)}
        elif by == "category":
            keys = {
                "category_id": ids,
                **dict(zip(("category", "department"), labels_of(db, ids, "category_id", "label", "department"))),
            }
        else:
            keys = {
                "product_id": ids,
                **dict(zip(("code", "product"), labels_of(db, ids, "product_id", "code", "product"))),
                "category": labels_of(db, sums["category_id"][order], "category_id", "label")[0],
            }
    values = {c: v[order] for c, v in values.items()}  # stable order: equal margins keep their ids' order
    margin, revenue = values["margin"], values["revenue"]
    values["margin_pct"] = margin / np.where(revenue != 0, revenue, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # a period whose margins add up to 0
        values["margin_share"] = margin / margin.sum() if len(margin) else margin
    return pd.DataFrame({**keys, **{c: rounded(c, v) for c, v in values.items()}})


def _ids_column(ids: np.ndarray) -> Any:
    """An id column as DuckDB's ``df()`` gives it: int64, or Int64 if it has NULLs."""
    mask = np.ma.getmaskarray(ids)
    if mask.any():
        return pd.arrays.IntegerArray(np.ma.getdata(ids).astype(np.int64), mask.copy())
    return np.ma.getdata(ids).astype(np.int64, copy=False)


Ranked = Literal["product", "category"]


def top_products(
    db: Dashboard, f: Filters, n: int = 10, measure: Literal["margin", "revenue"] = "margin", by: Ranked = "product"
) -> pd.DataFrame:
    """The ``n`` products (or categories) with the highest ``measure`` and the ``n`` with the
    lowest (``rank``: 'top' or 'bottom'; ``position``: 1 = the best, or the worst); one
    appears once even when there are fewer than 2n. Those that did not sell are not ranked."""
    by = cast(Ranked, checked_choice("by", by, ("product", "category")))
    measure = cast(Literal["margin", "revenue"], checked_choice("measure", measure, ("margin", "revenue")))
    frame = profit_by(db, f, by)
    if measure != "margin":  # profit_by is by margin, largest first
        frame = frame.sort_values(measure, ascending=False, kind="stable", ignore_index=True)
    top = np.arange(min(n, len(frame)))
    bottom = np.arange(len(frame) - 1, max(n, len(frame) - n) - 1, -1)
    out = frame.take(np.concatenate([top, bottom])).reset_index(drop=True)
    out["rank"] = ["top"] * len(top) + ["bottom"] * len(bottom)
    out["position"] = np.concatenate([top + 1, np.arange(1, len(bottom) + 1)])
    return out


def losing_products(db: Dashboard, f: Filters) -> pd.DataFrame:
    """The products sold at a loss in the period (margin below zero), the biggest loss first:
    the columns of :func:`profit_by` per product."""
    frame = profit_by(db, f, "product")
    return frame[frame["margin"] < 0].sort_values(["margin", "product_id"], ignore_index=True)


PROFIT_KPIS: tuple[Kpi, ...] = (
    SALES_KPIS[0],  # revenue
    Kpi("cost", "Cost of goods sold", "money", "none", "What the goods sold cost: POS cost or the product's cost."),
    Kpi("margin", "Margin", "money", "increase", "Revenue minus the cost of the goods sold."),
    Kpi("margin_pct", "Margin %", "ratio", "increase", "Margin as a share of revenue."),
    Kpi("units", "Units sold", "quantity", "increase", "Units sold, net of returns."),
)


def profit_comparison(db: Dashboard, f: Filters) -> Comparison:
    """The profit page's KPIs (:data:`PROFIT_KPIS`) against the previous period and, like-for-like, last year."""
    return sales_comparison(db, f, PROFIT_KPIS)


def profit_trend(
    db: Dashboard, f: Filters, grain: Grain = "day", by: Literal["channel", "store"] | None = None
) -> pd.DataFrame:
    """Per period: revenue, cost, margin, margin_pct (and units, orders...), zeros filled."""
    return sales_trend(db, f, grain, by)
