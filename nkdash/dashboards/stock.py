"""The inventory page's trade metrics: stock on order, days of cover and what is running low,
ABC classes, sell-through and stock turn.

Definitions (each shown on the page in one sentence):

- **On order**: what open purchase lines (confirmed, not fully received, approved in the
  :data:`OPEN_LOOKBACK_DAYS` up to the end of the period) still bring, per store and product;
  ``expected``: the earliest date they are expected (``date_planned``).
- **Days of cover**: the stock on hand divided by the average units sold per day over the
  ``window`` days up to the end of the period; none when nothing sold.
- **Running low**: in stock, selling, and covered for fewer days than the ``threshold`` or
  than the vendor's lead time (Odoo's ``product.supplierinfo.delay``) where Odoo knows it.
- **ABC classes**: products by revenue in the period, largest first; A = those that make the
  first 80 % of revenue, B = the next 15 %, C = the rest (and what is in stock but did not sell).
- **Sell-through**: units sold in the period / (units sold + units on hand at its end).
- **Stock turn**: units sold in the period / the average units on hand (at the first and the
  last date of the period with stock levels), per year (x 365 / days).

Stock is counted at :func:`~nkdash.dashboards.inventory.stock_date` (the last date of the
period with stock levels) in the warehouses of the selected stores.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import pandas as pd

from nkdash import dates as cal
from nkdash.dashboards.compare import Comparison, Kpi, compared, row_values
from nkdash.dashboards.engine import query
from nkdash.dashboards.filters import checked_choice
from nkdash.dashboards.inventory import STOCK, inventory_summary, stock_date
from nkdash.dashboards.labels import labels_of
from nkdash.dashboards.sql import in_categories, in_range, in_stores, in_warehouses
from nkdash.errors import InputError
from nkdash.settings import get_settings

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Filters


OPEN_LOOKBACK_DAYS = 120  # open purchase lines are looked for among those approved this far back


COVER_WINDOWS = (7, 28, 90)  # the windows the page offers for the average daily sales


MAX_WINDOW = max(COVER_WINDOWS)


RUNNING_LOW_DAYS = 7  # default threshold of days of cover


A_SHARE, B_SHARE = 0.80, 0.95  # cumulative shares of revenue that close classes A and B


def _tz() -> str:
    return str(cal.timezone(get_settings().tz))


def _on_order_sql(f: Filters) -> str:
    """Per warehouse and product: units still to receive on open purchase lines, and the
    earliest expected date (local)."""
    return f"""SELECT t.warehouse_id, o.product_id, sum(o.product_qty - o.qty_received) AS on_order,
               CAST(timezone($tz, min(o.date_planned)) AS DATE) AS expected
        FROM fact_purchases o JOIN dim_product op ON op.id = o.product_id
        LEFT JOIN dim_picking_type t ON t.id = o.picking_type_id
        WHERE o.date BETWEEN $open_since AND $end AND o.state = 'purchase' AND o.product_qty > o.qty_received
          AND {in_warehouses("t.warehouse_id", f)} AND {in_categories("op.category_id", f)}
        GROUP BY ALL"""


def _open_since(f: Filters) -> dt.date:
    return f.end - dt.timedelta(days=OPEN_LOOKBACK_DAYS - 1)


@query(
    "fact_purchases",
    "dim_picking_type",
    "dim_product",
    "dim_category",
    "dim_store",
    before=OPEN_LOOKBACK_DAYS,
)
def on_order(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per store and product: on_order (units open purchase lines still bring) and expected
    (their earliest expected date); see the module docstring. ``warehouse_id`` and
    ``product_id`` identify the row."""
    frame = db.sql(
        "on_order",
        f"{_on_order_sql(f)} ORDER BY expected, warehouse_id, product_id",
        db.bind(f, open_since=_open_since(f), tz=_tz()),
        f.log_params(),
    )
    return _named(db, frame)


def _named(db: Dashboard, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its warehouse's store and its product's code, name and category."""
    [store] = labels_of(db, frame["warehouse_id"].to_numpy(dtype=np.int64, na_value=-1), "warehouse_id", "name")
    code, product = labels_of(db, frame["product_id"].to_numpy(dtype=np.int64), "product_id", "code", "product")
    frame.insert(1, "store", store)
    at = cast(int, frame.columns.get_loc("product_id")) + 1
    frame.insert(at, "code", code)
    frame.insert(at + 1, "product", product)
    return frame


def _window_start(f: Filters, window: int) -> dt.date:
    return f.end - dt.timedelta(days=window - 1)


@query(
    STOCK,
    "agg_profit_daily",
    "fact_purchases",
    "dim_picking_type",
    "dim_product",
    "dim_supplierinfo",
    "dim_category",
    "dim_store",
    before=max(MAX_WINDOW, OPEN_LOOKBACK_DAYS),
    snapshot=(STOCK,),
)
def stock_cover(db: Dashboard, f: Filters, window: int = 28, threshold: int = RUNNING_LOW_DAYS) -> pd.DataFrame:
    """Per store and storable product in stock or sold in the ``window`` days up to the end
    of the period: on_hand (at :func:`stock_date`), units_sold (in the window), daily_units,
    cover_days (on hand / daily units; none when nothing sold), lead_days (the vendor's lead
    time, if Odoo knows it), on_order and expected (open purchases), running_low; running
    low first, then by days of cover."""
    if window not in COVER_WINDOWS or isinstance(window, bool):
        raise InputError(f"the window must be one of {', '.join(map(str, COVER_WINDOWS))} days, got {window!r}", window)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 365:
        raise InputError(f"the threshold must be a whole number of days (0-365), got {threshold!r}", threshold)
    day = stock_date(db, f)
    frame = db.sql(
        "stock_cover",
        f"""
        WITH stock AS (
            SELECT q.warehouse_id, q.product_id, sum(q.quantity) AS on_hand
            FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {in_warehouses("q.warehouse_id", f)}
            GROUP BY ALL
        ), sold AS (
            SELECT s.warehouse_id, a.product_id, sum(a.qty) AS units_sold
            FROM agg_profit_daily a JOIN dim_store s ON s.id = a.store_id
            WHERE a.date BETWEEN $from AND $end AND {in_stores("a.store_id", f)}
            GROUP BY ALL
        ), sellers AS (
            SELECT p.id AS product_id, si.delay, si.sequence, si.id FROM dim_supplierinfo si
            JOIN dim_product p ON p.id = si.product_id
            UNION ALL
            SELECT p.id, si.delay, si.sequence, si.id FROM dim_supplierinfo si
            JOIN dim_product p ON p.product_tmpl_id = si.product_tmpl_id WHERE si.product_id IS NULL
        ), lead AS (
            SELECT product_id, arg_min(delay, [sequence, id]) AS lead_days FROM sellers GROUP BY ALL
        ), ordered AS ({_on_order_sql(f)})
        SELECT coalesce(k.warehouse_id, d.warehouse_id) AS warehouse_id,
               coalesce(k.product_id, d.product_id) AS product_id,
               coalesce(k.on_hand, 0) AS on_hand, coalesce(d.units_sold, 0) AS units_sold,
               l.lead_days::DOUBLE AS lead_days, coalesce(o.on_order, 0) AS on_order, o.expected
        FROM stock k FULL JOIN sold d ON d.warehouse_id = k.warehouse_id AND d.product_id = k.product_id
        JOIN dim_product p ON p.id = coalesce(k.product_id, d.product_id) AND p.storable
        LEFT JOIN lead l ON l.product_id = p.id
        LEFT JOIN ordered o ON o.warehouse_id = coalesce(k.warehouse_id, d.warehouse_id) AND o.product_id = p.id
        WHERE {in_categories("p.category_id", f)} AND $has_stock
          AND (coalesce(k.on_hand, 0) > 0 OR coalesce(d.units_sold, 0) > 0)""",
        db.bind(
            f,
            day=day or dt.date(1, 1, 1),
            has_stock=day is not None,
            open_since=_open_since(f),
            tz=_tz(),
            **{"from": _window_start(f, window)},
        ),
        {**f.log_params(), "stock_date": str(day), "window": window},
    )
    frame.insert(4, "daily_units", frame["units_sold"] / float(window))
    selling = frame["daily_units"] > 0
    frame.insert(5, "cover_days", (frame["on_hand"] / frame["daily_units"]).where(selling))
    need = np.fmax(float(threshold), frame["lead_days"].to_numpy(dtype=float, na_value=np.nan))
    frame["running_low"] = (frame["on_hand"] > 0) & selling & (frame["cover_days"] < need)
    frame = frame.sort_values(
        ["running_low", "cover_days", "warehouse_id", "product_id"], ascending=[False, True, True, True]
    )
    return _named(db, frame.reset_index(drop=True))


@query(STOCK, "agg_profit_daily", "dim_product", "dim_category", "dim_store", snapshot=(STOCK,))
def abc_classes(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per product sold in the period or in stock at its end (selected stores and
    categories): revenue, share (of the period's revenue), cumulative share, abc ('A', 'B',
    'C'), on_hand and value (at cost) at :func:`stock_date`; by revenue, largest first."""
    day = stock_date(db, f)
    frame = db.sql(
        "abc_classes",
        f"""
        WITH sold AS (
            SELECT a.product_id, sum(a.revenue) AS revenue FROM agg_profit_daily a
            WHERE {in_range("a.")} AND {in_stores("a.store_id", f)} GROUP BY ALL
        ), stock AS (
            SELECT q.product_id, sum(q.quantity) AS on_hand FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {in_warehouses("q.warehouse_id", f)} GROUP BY ALL
        )
        SELECT coalesce(s.product_id, k.product_id) AS product_id, coalesce(s.revenue, 0) AS revenue,
               coalesce(k.on_hand, 0) AS on_hand, coalesce(k.on_hand, 0) * coalesce(p.standard_price, 0) AS value
        FROM sold s FULL JOIN stock k ON k.product_id = s.product_id
        JOIN dim_product p ON p.id = coalesce(s.product_id, k.product_id)
        WHERE {in_categories("p.category_id", f)} AND (coalesce(s.revenue, 0) > 0 OR coalesce(k.on_hand, 0) > 0)
        ORDER BY revenue DESC, product_id""",
        db.bind(f, day=day or dt.date(1, 1, 1)),
        {**f.log_params(), "stock_date": str(day)},
    )
    revenue = frame["revenue"].to_numpy(dtype=float)
    positive = np.where(revenue > 0, revenue, 0.0)
    total = positive.sum()
    share = positive / total if total else np.zeros(len(frame))
    before = np.cumsum(share) - share  # the share of the products ranked before this one
    frame.insert(2, "share", share)
    frame.insert(3, "cumulative_share", np.cumsum(share))
    frame.insert(
        4, "abc", np.where(positive <= 0, "C", np.where(before < A_SHARE, "A", np.where(before < B_SHARE, "B", "C")))
    )
    code, product = labels_of(db, frame["product_id"].to_numpy(dtype=np.int64), "product_id", "code", "product")
    frame.insert(1, "code", code)
    frame.insert(2, "product", product)
    return frame


def abc_summary(classes: pd.DataFrame) -> pd.DataFrame:
    """Per class of :func:`abc_classes`: products, revenue, share of revenue, on hand, and the
    stock value and its share (when ``classes`` has values: an audience may not see them)."""
    sums = {"products": ("product_id", "size"), "revenue": ("revenue", "sum"), "share": ("share", "sum")}
    sums |= {c: (c, "sum") for c in ("on_hand", "value") if c in classes.columns}
    out = classes.groupby("abc", sort=True).agg(**sums).reindex(["A", "B", "C"], fill_value=0).reset_index()
    if "value" in out.columns:
        total = out["value"].sum()
        out["value_share"] = out["value"] / total if total else 0.0
    return out


FlowBy = Literal["category", "department", "total"]


FLOW_KEYS = {"category": "p.category_id", "department": "p.category_id", "total": "0::BIGINT"}


@query(STOCK, "agg_profit_daily", "dim_product", "dim_category", "dim_store")
def sell_through(db: Dashboard, f: Filters, by: FlowBy = "category") -> pd.DataFrame:
    """Per category, department, or in total: units_sold (storable products, in the period),
    on_hand (at the period's last date with stock levels), on_hand_start (at its first),
    sell_through, stock_turn (per year) and cover_days (on hand / units sold per day)."""
    by = cast(FlowBy, checked_choice("by", by, ("category", "department", "total")))
    dates = sorted({d for file in db.files(sell_through.reads, f)[STOCK] for d in file.dates if f.start <= d <= f.end})
    first, last = (dates[0], dates[-1]) if dates else (dt.date(1, 1, 1), dt.date(1, 1, 1))
    key = FLOW_KEYS[by]
    frame = db.sql(
        f"sell_through_{by}",
        f"""
        WITH stock AS (
            SELECT {key} AS key, sum(q.quantity) FILTER (WHERE q.date = $last) AS on_hand,
                   sum(q.quantity) FILTER (WHERE q.date = $first) AS on_hand_start
            FROM fact_stock_quants q JOIN dim_product p ON p.id = q.product_id AND p.storable
            WHERE q.date IN ($first, $last) AND {in_warehouses("q.warehouse_id", f)}
              AND {in_categories("p.category_id", f)}
            GROUP BY ALL
        ), sold AS (
            SELECT {key} AS key, sum(a.qty) AS units_sold
            FROM agg_profit_daily a JOIN dim_product p ON p.id = a.product_id AND p.storable
            WHERE {in_range("a.")} AND {in_stores("a.store_id", f)} AND {in_categories("p.category_id", f)}
            GROUP BY ALL
        )
        SELECT coalesce(s.key, k.key) AS key, coalesce(s.units_sold, 0) AS units_sold,
               coalesce(k.on_hand, 0) AS on_hand, coalesce(k.on_hand_start, 0) AS on_hand_start
        FROM sold s FULL JOIN stock k ON k.key = s.key""",
        db.bind(f, first=first, last=last),
        {**f.log_params(), "by": by},
    )
    if by != "total":
        label, department = labels_of(db, frame["key"].to_numpy(dtype=np.int64), "category_id", "label", "department")
        frame["category"], frame["department"] = label, department
        if by == "department":
            frame = frame.groupby("department", dropna=False, as_index=False)[
                ["units_sold", "on_hand", "on_hand_start"]
            ].sum()
    frame = frame.drop(columns=["key"], errors="ignore")
    if by == "total" and not len(frame):
        frame = pd.DataFrame({"units_sold": [0.0], "on_hand": [0.0], "on_hand_start": [0.0]})
    sold, on_hand = frame["units_sold"], frame["on_hand"]
    frame["sell_through"] = sold / (sold + on_hand).where((sold + on_hand) > 0)
    average = (frame["on_hand"] + frame["on_hand_start"]) / 2
    frame["stock_turn"] = (sold / average.where(average > 0)) * 365.0 / f.days
    frame["cover_days"] = on_hand / (sold / f.days).where(sold > 0)
    front = [c for c in ("category", "department") if c in frame.columns]
    return frame[[*front, *[c for c in frame.columns if c not in front]]].sort_values(
        "units_sold", ascending=False, ignore_index=True
    )


INVENTORY_KPIS: tuple[Kpi, ...] = (
    Kpi("value", "Stock value", "money", "none", "Units on hand times each product's current cost."),
    Kpi("qty", "Units on hand", "quantity", "none", "Units in the stock locations of the selected stores."),
    Kpi("products", "Products in stock", "count", "none", "Products with at least one unit on hand."),
    Kpi(
        "cover_days", "Days of cover", "days", "none", "Units on hand divided by the units sold per day in the period."
    ),
    Kpi("sell_through", "Sell-through", "ratio", "increase", "Units sold / (units sold + units on hand at the end)."),
    Kpi("stock_turn", "Stock turn", "number", "increase", "Units sold per year / average units on hand."),
    Kpi(
        "stock_outs", "Stock-outs", "count", "decrease", "Products sold in the period with no unit left in that store."
    ),
    Kpi("slow_movers", "Dead stock", "count", "decrease", "Products in stock that did not sell in the period."),
    Kpi("slow_value", "Dead stock value", "money", "decrease", "The stock value of those products."),
)


def inventory_values(db: Dashboard, f: Filters) -> dict[str, float]:
    """The inventory KPIs of ``f``: :func:`inventory_summary` and the totals of :func:`sell_through`."""
    return {**row_values(inventory_summary(db, f)), **row_values(sell_through(db, f, "total"))}


def inventory_comparison(db: Dashboard, f: Filters) -> Comparison:
    """The inventory KPIs (:data:`INVENTORY_KPIS`): stock at the end of the period against the
    end of the previous period and of the same weeks last year."""
    return compared(db, f, INVENTORY_KPIS, STOCK, inventory_values)


def with_on_order(rows: pd.DataFrame, ordered: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (per ``warehouse_id`` and ``product_id``: stock-outs, say) with the units on
    order for them and when they are expected (:func:`on_order`); 0 and none when nothing is."""
    keys = ["warehouse_id", "product_id"]
    right = ordered[[*keys, "on_order", "expected"]].astype({"warehouse_id": "Int64", "product_id": "int64"})
    out = rows.astype({"warehouse_id": "Int64", "product_id": "int64"}).merge(right, on=keys, how="left")
    out["on_order"] = out["on_order"].fillna(0.0)
    return out
