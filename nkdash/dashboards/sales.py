"""The sales page's queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, TypedDict, cast

import numpy as np
import pandas as pd

from nkdash.dashboards.engine import query
from nkdash.dashboards.filters import checked_grain
from nkdash.dashboards.labels import CHANNEL_LABELS, NO_STORE, stores
from nkdash.dashboards.rounding import rounded
from nkdash.dashboards.sql import PERIOD, SALES_BY_STORE, fill_periods, in_categories, in_range, in_stores

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Condition, Filters, Grain


SALES_KEYS = {"period": PERIOD, "store_id": "{a}store_id", "channel": "{a}channel"}


class _OnlyIf(TypedDict):
    only_if: dict[str, Condition]


SALES_READS: _OnlyIf = {"only_if": {"agg_orders_daily": "no_categories", "fact_sales": "categories"}}


def _sales_sql(keys: Sequence[str], f: Filters) -> str:
    """Sales and margin from agg_sales_daily, orders and baskets per ``keys``.

    An order is a distinct (channel, order_ref): a POS order or an invoice. It counts as an
    order when its lines in the selection sum to a positive revenue, as a refund when
    negative. The basket is the average revenue of the orders (refunds not deducted).
    Without a category filter the orders come from agg_orders_daily (counted per date,
    channel and store: an order has one of each); with one, from the lines of those
    categories in fact_sales.
    """
    sel = "".join(f"{SALES_KEYS[k].format(a='')} AS {k}, " for k in keys)
    names = "".join(f"{k}, " for k in keys)
    on = " AND ".join(f"s.{k} IS NOT DISTINCT FROM o.{k}" for k in keys) or "TRUE"
    where = f"{in_range()} AND {in_stores('store_id', f)}"
    if f.categories:
        orders = f"""per_order AS (
            SELECT {sel}channel AS order_channel, order_ref, sum(revenue) AS revenue
            FROM fact_sales WHERE {where} AND {in_categories("category_id", f)} GROUP BY ALL
        ), o AS (
            SELECT {names}count_if(revenue > 0) AS orders, count_if(revenue < 0) AS refunds,
                   sum(revenue) FILTER (WHERE revenue > 0) AS order_revenue
            FROM per_order GROUP BY ALL
        )"""
    else:
        orders = f"""o AS (
            SELECT {sel}sum(orders)::BIGINT AS orders, sum(refunds)::BIGINT AS refunds,
                   sum(order_revenue) FILTER (WHERE orders > 0) AS order_revenue
            FROM agg_orders_daily WHERE {where} GROUP BY ALL
        )"""
    return f"""
        WITH s AS (
            SELECT {sel}sum(qty) AS units, sum(revenue) AS revenue, sum(cost) AS cost, sum(margin) AS margin,
                   sum(lines) AS lines
            FROM {SALES_BY_STORE if not f.categories else "agg_sales_daily"}
            WHERE {where} AND {in_categories("category_id", f)} GROUP BY ALL
        ), {orders}
        SELECT s.*, coalesce(o.orders, 0) AS orders, coalesce(o.refunds, 0) AS refunds,
               o.order_revenue / nullif(o.orders, 0) AS basket,
               s.margin / nullif(s.revenue, 0) AS margin_pct
        FROM s LEFT JOIN o ON {on}
        WHERE s.lines > 0"""


SUMMARY_COLUMNS = ["units", "revenue", "cost", "margin", "lines", "orders", "refunds", "basket", "margin_pct"]


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", **SALES_READS, rounds=True)
def sales_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: units, revenue, cost, margin, lines, orders, refunds, basket, margin_pct
    (floats; zeros, and no basket or margin_pct, when nothing sold)."""
    found = db.arrays("sales_summary", _sales_sql((), f), db.bind(f), f.log_params())
    if not len(found["revenue"]):
        row = {c: np.array([np.nan if c in ("basket", "margin_pct") else 0.0]) for c in SUMMARY_COLUMNS}
    else:
        row = {c: np.ma.filled(found[c].astype(float), np.nan) for c in SUMMARY_COLUMNS}
    return pd.DataFrame({c: rounded(c, v) for c, v in row.items()})


KPIS: tuple[tuple[str, str, str], ...] = (  # column, label, better when it goes ...
    ("revenue", "Revenue", "increase"),
    ("orders", "Orders", "increase"),
    ("basket", "Average basket", "increase"),
    ("units", "Units sold", "increase"),
    ("margin", "Margin", "increase"),
    ("margin_pct", "Margin %", "increase"),
    ("refunds", "Refunds", "decrease"),
)


def sales_comparison(db: Dashboard, f: Filters, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Each KPI (or those in ``metrics``) now and in the previous period of the same
    length: metric, label, current, previous, change, change_pct, better
    ('increase'|'decrease')."""
    now, before = sales_summary(db, f).iloc[0], sales_summary(db, f.previous()).iloc[0]
    rows = []
    for col, label, better in KPIS:
        if metrics is not None and col not in metrics:
            continue
        cur, prev = now[col], before[col]
        change = cur - prev if pd.notna(cur) and pd.notna(prev) else float("nan")
        pct = change / abs(prev) if pd.notna(change) and prev else float("nan")
        rows.append(
            {
                "metric": col,
                "label": label,
                "current": cur,
                "previous": prev,
                "change": round(change, 6) + 0.0,
                "change_pct": round(pct, 6) + 0.0,
                "better": better,
            }
        )
    return pd.DataFrame(rows)


TREND_COLUMNS = ["units", "revenue", "cost", "margin", "lines", "orders", "refunds", "basket", "margin_pct"]


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", "dim_store", **SALES_READS)
def sales_trend(
    db: Dashboard, f: Filters, grain: Grain = "day", by: Literal["channel", "store"] | None = None
) -> pd.DataFrame:
    """Per period (and channel or store): units, revenue, cost, margin, orders, basket...

    Every period of the range is present (zeros where nothing sold). ``period`` is the
    first day of the day/week (Monday)/month.
    """
    keys = ("period",) + ({"channel": ("channel",), "store": ("store_id",), None: ()}[by])
    frame = db.sql(
        "sales_trend",
        _sales_sql(keys, f),
        db.bind(f, grain=checked_grain(grain)),
        {**f.log_params(), "grain": grain, "by": by},
    )
    frame = fill_periods(frame, f, grain, keys[1:])
    if by == "store":
        frame = _store_names(db, frame)
    if by == "channel":
        frame["channel"] = frame["channel"].map(CHANNEL_LABELS).fillna(frame["channel"])
    return frame


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", "dim_store", **SALES_READS)
def sales_by_store(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per store (invoices as one line): revenue, orders, basket, units, margin, share of revenue."""
    frame = db.sql("sales_by_store", _sales_sql(("store_id",), f), db.bind(f), f.log_params())
    frame = _store_names(db, frame)
    frame["share"] = frame["revenue"] / frame["revenue"].sum() if len(frame) else []
    return frame.sort_values(["revenue", "store"], ascending=[False, True], ignore_index=True)


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", **SALES_READS)
def sales_by_channel(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per channel (point of sale, invoice): revenue, orders, basket, units, margin, share."""
    frame = db.sql("sales_by_channel", _sales_sql(("channel",), f), db.bind(f), f.log_params())
    frame["channel"] = frame["channel"].map(CHANNEL_LABELS).fillna(frame["channel"])
    frame["share"] = frame["revenue"] / frame["revenue"].sum() if len(frame) else []
    return frame.sort_values(["revenue", "channel"], ascending=[False, True], ignore_index=True)


def _store_names(db: Dashboard, frame: pd.DataFrame) -> pd.DataFrame:
    known = stores(db)
    names = dict(zip(known["id"], known["name"]))
    frame.insert(
        cast(int, frame.columns.get_loc("store_id")) + 1,  # an int: the columns are unique
        "store",
        [names.get(s, f"store {s}") if pd.notna(s) else NO_STORE for s in frame["store_id"]],
    )
    return frame
