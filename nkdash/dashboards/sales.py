"""The sales page's queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypedDict, cast

import numpy as np
import pandas as pd

from nkdash.dashboards.compare import (
    AGAINST,
    TITLES,
    Against,
    Comparison,
    Kpi,
    LikeForLike,
    compare,
    coverage,
    overlay_period,
    period_of,
    row_values,
)
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
               s.margin / nullif(s.revenue, 0) AS margin_pct,
               coalesce(o.order_revenue, 0) AS order_revenue,
               s.revenue - coalesce(o.order_revenue, 0) AS refund_value,
               (coalesce(o.order_revenue, 0) - s.revenue) / nullif(o.order_revenue, 0) AS refund_rate,
               s.units / nullif(o.orders, 0) AS units_per_order
        FROM s LEFT JOIN o ON {on}
        WHERE s.lines > 0"""


SUMMARY_COLUMNS = [
    "units",
    "revenue",
    "cost",
    "margin",
    "lines",
    "orders",
    "refunds",
    "basket",
    "margin_pct",
    "order_revenue",
    "refund_value",
    "refund_rate",
    "units_per_order",
]


RATIO_COLUMNS = ("basket", "margin_pct", "refund_rate", "units_per_order")  # no value when nothing sold


@query("agg_sales_daily", "agg_orders_daily", "fact_sales", "dim_category", **SALES_READS, rounds=True)
def sales_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: units, revenue, cost, margin, lines, orders, refunds (orders whose lines sum
    to a negative revenue), basket, margin_pct, order_revenue (revenue of the orders),
    refund_value (revenue of the refunds: negative), refund_rate (refunded share of the
    orders' revenue), units_per_order (floats; zeros, and no ratio, when nothing sold)."""
    found = db.arrays("sales_summary", _sales_sql((), f), db.bind(f), f.log_params())
    if not len(found["revenue"]):
        row = {c: np.array([np.nan if c in RATIO_COLUMNS else 0.0]) for c in SUMMARY_COLUMNS}
    else:
        row = {c: np.ma.filled(found[c].astype(float), np.nan) for c in SUMMARY_COLUMNS}
    return pd.DataFrame({c: rounded(c, v) for c, v in row.items()})


SALES_KPIS: tuple[Kpi, ...] = (
    Kpi("revenue", "Revenue", "money", "increase", "What customers paid for the goods, untaxed, net of refunds."),
    Kpi("orders", "Orders", "count", "increase", "Tickets and invoices whose lines add up to a positive amount."),
    Kpi("basket", "Average basket", "money", "increase", "The orders' revenue divided by their number."),
    Kpi("units_per_order", "Units per order", "number", "increase", "Units sold, net of returns, per order."),
    Kpi("units", "Units sold", "quantity", "increase", "Units sold, net of returns."),
    Kpi("refunded", "Refunds", "money", "decrease", "The value of refunds and credit notes."),
    Kpi("refund_rate", "Refund rate", "ratio", "decrease", "Refunds as a share of the orders' revenue."),
    Kpi("discount", "Discounts given", "money", "none", "What line discounts took off the prices, untaxed."),
    Kpi("margin", "Margin", "money", "increase", "Revenue minus the cost of the goods sold."),
    Kpi("margin_pct", "Margin %", "ratio", "increase", "Margin as a share of revenue."),
)


KPIS = SALES_KPIS


SUMMED = ("units", "revenue", "cost", "margin", "lines", "orders", "refunds", "order_revenue", "refund_value")


def values_of(sums: Mapping[str, float]) -> dict[str, float]:
    """The KPI values of summed sales (:data:`SUMMED` and ``discount``): the ratios again."""
    out = dict(sums)

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    out.update(
        basket=ratio(sums["order_revenue"], sums["orders"]),
        margin_pct=ratio(sums["margin"], sums["revenue"]),
        refund_rate=ratio(-sums["refund_value"], sums["order_revenue"]),
        units_per_order=ratio(sums["units"], sums["orders"]),
        refunded=-sums["refund_value"],
        discount_rate=ratio(sums.get("discount", 0.0), sums["revenue"] + sums.get("discount", 0.0)),
    )
    return out


def sales_values(db: Dashboard, f: Filters) -> dict[str, float]:
    """Every sales KPI for ``f``: :func:`sales_summary` and the discounts."""
    summary = row_values(sales_summary(db, f))
    return values_of({**summary, "discount": discount_summary(sales_discounts(db, f))["discount"]})


def by_unit(db: Dashboard, f: Filters) -> dict[int, dict[str, float]]:
    """Summed sales per store (key: store id; invoices, with no store: -1), discounts included."""
    rows = sales_by_store(db, f)
    discounts = sales_discounts(db, f)
    discount = dict(zip(_store_keys(discounts["store_id"]), discounts["discount"].astype(float).tolist()))
    sums = {c: rows[c].astype(float).tolist() for c in SUMMED}
    return {
        key: {c: sums[c][i] for c in SUMMED} | {"discount": discount.get(key, 0.0)}
        for i, key in enumerate(_store_keys(rows["store_id"]))
    }


def _store_keys(ids: pd.Series) -> list[int]:
    """Store ids as keys: -1 for no store (invoices)."""
    return [int(k) for k in ids.astype("Int64").fillna(-1).tolist()]


def sales_comparison(db: Dashboard, f: Filters, kpis: Sequence[Kpi] = SALES_KPIS) -> Comparison:
    """The sales KPIs (:data:`SALES_KPIS`) for ``f``, against the previous period and,
    like-for-like, the same weeks last year (the stores that sold in both; invoices count
    as one more store). A comparison period not fully loaded gives no figures (its
    :class:`~nkdash.dashboards.compare.Coverage` says how much is loaded)."""
    covered = {a: coverage(db, "agg_sales_daily", f, a) for a in AGAINST}
    current = sales_values(db, f)
    previous = sales_values(db, period_of(f, "previous")) if covered["previous"].full else None
    if not covered["last_year"].full:
        return Comparison(compare(kpis, current, {"previous": previous, "last_year": None}), covered)
    now, before = by_unit(db, f), by_unit(db, period_of(f, "last_year"))
    kept = sorted(k for k in now.keys() & before.keys() if now[k]["revenue"] > 0 and before[k]["revenue"] > 0)
    left_out = sorted((now.keys() | before.keys()) - set(kept))

    def summed(units: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
        return values_of({c: sum(units[k][c] for k in kept) for c in (*SUMMED, "discount")})

    rows = compare(
        kpis,
        current,
        {"previous": previous, "last_year": summed(before)},
        against={"last_year": summed(now)},
    )
    names = _unit_names(db)
    return Comparison(rows, covered, LikeForLike(tuple(names(k) for k in kept), tuple(names(k) for k in left_out)))


def _unit_names(db: Dashboard) -> Callable[[int], str]:
    known = stores(db)
    names = dict(zip(known["id"].tolist(), known["name"].tolist()))
    return lambda key: "invoices" if key == -1 else str(names.get(key, f"store {key}"))


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


def sales_trend_against(db: Dashboard, f: Filters, grain: Grain, against: Against) -> pd.DataFrame | None:
    """The total trend of ``f``'s comparison period (:func:`~nkdash.dashboards.compare.overlay_period`),
    its periods moved onto the current ones, with ``series`` naming it ('previous period',
    'last year'); None when that period is not fully loaded (a half-loaded overlay would
    look like a drop)."""
    other, offset = overlay_period(f, checked_grain(grain), against)
    if not coverage(db, "agg_sales_daily", other).full:
        return None
    frame = sales_trend(db, other, grain)
    frame["period"] = frame["period"] + offset
    frame = frame[
        (frame["period"] >= pd.Timestamp(f.start) - pd.Timedelta(days=31)) & (frame["period"] <= pd.Timestamp(f.end))
    ]
    frame.insert(1, "series", TITLES[against])
    return frame.reset_index(drop=True)


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


@query("fact_sales", "dim_category")
def sales_discounts(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per store (invoices: no store): discount (the value line discounts took off, untaxed,
    signed like the revenue), revenue, lines, and known: the lines whose discount is known
    (lines loaded before nkdash recorded discounts have none: reload them to count them)."""
    return db.sql(
        "sales_discounts",
        f"""
        SELECT store_id, coalesce(sum(discount), 0) AS discount, sum(revenue) AS revenue,
               count(*) AS lines, count(discount) AS known
        FROM fact_sales
        WHERE {in_range()} AND {in_stores("store_id", f)} AND {in_categories("category_id", f)}
        GROUP BY ALL ORDER BY store_id NULLS LAST""",
        db.bind(f),
        f.log_params(),
    )


def discount_summary(rows: pd.DataFrame) -> dict[str, float]:
    """The discount totals of some :func:`sales_discounts` rows: discount, discount_rate (its
    share of the value before discounts), known_share (of the lines whose discount is known)."""
    discount, revenue = float(rows["discount"].sum()), float(rows["revenue"].sum())
    lines, known = int(rows["lines"].sum()), int(rows["known"].sum())
    gross = revenue + discount
    return {
        "discount": discount,
        "discount_rate": discount / gross if gross else float("nan"),
        "known_share": known / lines if lines else float("nan"),
    }


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@query("fact_sales", "dim_category")
def sales_by_hour(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Point-of-sale sales per weekday (0 = Monday) and hour of the day (local, 0-23):
    revenue, orders (those whose lines at that hour sum to a positive revenue), days (how
    many such weekdays the period has), revenue_per_day and orders_per_day (averages over
    those days). Invoices have no time of sale; lines loaded before nkdash recorded the hour
    come as one row per weekday with no hour (their revenue: what the grid lacks)."""
    frame = db.sql(
        "sales_by_hour",
        f"""
        WITH per_order AS (
            SELECT isodow(date) - 1 AS weekday, local_hour AS hour, order_ref, sum(revenue) AS revenue
            FROM fact_sales
            WHERE channel = 'pos' AND {in_range()} AND {in_stores("store_id", f)}
              AND {in_categories("category_id", f)}
            GROUP BY ALL
        )
        SELECT weekday, hour, sum(revenue) AS revenue, count_if(revenue > 0)::BIGINT AS orders
        FROM per_order GROUP BY ALL ORDER BY weekday, hour NULLS LAST""",
        db.bind(f),
        f.log_params(),
    )
    days = np.bincount([d.weekday() for d in _dates(f)], minlength=7)
    frame["days"] = days[frame["weekday"].to_numpy(dtype=np.int64)]
    frame["revenue_per_day"] = frame["revenue"] / frame["days"]
    frame["orders_per_day"] = frame["orders"] / frame["days"]
    frame["hour"] = frame["hour"].astype("Int64")
    return frame


def _dates(f: Filters) -> list[dt.date]:
    return [f.start + dt.timedelta(days=i) for i in range(f.days)]


def hour_coverage(by_hour: pd.DataFrame) -> float:
    """The share of the point-of-sale revenue of :func:`sales_by_hour` whose hour is known."""
    total = float(by_hour["revenue"].sum())
    known = float(by_hour.loc[by_hour["hour"].notna(), "revenue"].sum())
    return known / total if total else 1.0
