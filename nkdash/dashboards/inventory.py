"""The inventory page's queries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, get_args

import numpy as np
import pandas as pd

from nkdash.dashboards.engine import last_date, query
from nkdash.dashboards.filters import StockBy, checked_choice, checked_grain
from nkdash.dashboards.labels import labels_of
from nkdash.dashboards.rounding import rounded
from nkdash.dashboards.sql import (
    CATEGORY_LABEL,
    DEPARTMENT,
    PERIOD,
    PROFIT_BY_PRODUCT,
    WAREHOUSE_STORE,
    in_categories,
    in_range,
    in_stores,
    in_warehouses,
)
from nkdash.etl.datasets.inventory import MOVE_KINDS

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Filters, Grain


SLOW_MOVER_LOOKBACK_DAYS = 90  # how far back slow movers look for their last sale


STOCK = "fact_stock_quants"


def stock_date(db: Dashboard, f: Filters) -> dt.date | None:
    """The stock snapshot a dashboard shows: the latest date in range with stock levels
    (from the cached listing: the very files the stock queries then read)."""
    return last_date(db.snapshot_files(STOCK, f.start, f.end), f.start, f.end)


STOCK_KEYS: dict[str, tuple[str, str, str]] = {  # by -> (ids summed by, select list, joins for the labels)
    "location": (
        "q.location_id, q.warehouse_id",
        "a.location_id, l.complete_name AS location, s.name AS store",
        "LEFT JOIN dim_location l ON l.id = a.location_id "
        f"LEFT JOIN {WAREHOUSE_STORE} s ON s.warehouse_id = a.warehouse_id",
    ),
    "category": (
        "p.category_id",
        f"a.category_id, {CATEGORY_LABEL.format(c='c')} AS category, {DEPARTMENT.format(c='c')} AS department",
        "LEFT JOIN dim_category c ON c.id = a.category_id",
    ),
    "department": (
        "p.category_id",
        f"{DEPARTMENT.format(c='c')} AS department",
        "LEFT JOIN dim_category c ON c.id = a.category_id",
    ),
    "product": (
        "q.product_id, p.category_id",
        f"a.product_id, p.default_code AS code, p.name AS product, {CATEGORY_LABEL.format(c='c')} AS category",
        "LEFT JOIN dim_product p ON p.id = a.product_id LEFT JOIN dim_category c ON c.id = a.category_id",
    ),
}


@query("fact_stock_quants", "dim_product", "dim_category", "dim_location", "dim_store", snapshot=(STOCK,))
def stock_levels(db: Dashboard, f: Filters, by: StockBy = "location") -> pd.DataFrame:
    """Stock on hand at :func:`stock_date` per location, category, department or product:
    products, qty, value (qty x the product's current cost), by value, largest first.

    Sums by ids first, then the labels (a product has one category: the products of a
    department are the sum of its categories')."""
    ids, select, joins = STOCK_KEYS[checked_choice("by", by, get_args(StockBy))]
    day = stock_date(db, f)
    frame = db.sql(
        f"stock_levels_{by}",
        f"""
        WITH a AS (
            SELECT {ids}, count(DISTINCT q.product_id) AS products, sum(q.quantity) AS qty,
                   sum(q.quantity * coalesce(p.standard_price, 0)) AS value
            FROM fact_stock_quants q JOIN dim_product p ON p.id = q.product_id
            WHERE {in_range("q.")} AND {in_warehouses("q.warehouse_id", f)} AND {in_categories("p.category_id", f)}
            GROUP BY ALL)
        SELECT {select}, sum(a.products)::BIGINT AS products, sum(a.qty) AS qty, sum(a.value) AS value
        FROM a {joins}
        GROUP BY ALL ORDER BY value DESC, 1""",
        db.bind(_on(f, day)),
        {**f.log_params(), "by": by, "stock_date": str(day)},
    )
    return frame


def _on(f: Filters, day: dt.date | None) -> Filters:
    """``f`` narrowed to the one day ``day`` (no day: an empty range in the past)."""
    day = day or dt.date(1, 1, 1)
    return dataclasses.replace(f, start=day, end=day)


# a move's product (p), origin (o) and destination (d)
MOVES = (
    "fact_inventory_moves m JOIN dim_product p ON p.id = m.product_id "
    "JOIN dim_location o ON o.id = m.location_id JOIN dim_location d ON d.id = m.location_dest_id"
)


def _in_stock(location: str, f: Filters) -> str:
    """The location aliased ``location`` is stock: internal, of a selected store."""
    return f"{location}.usage = 'internal' AND {in_warehouses(f'{location}.warehouse_id', f)}"


@query("fact_inventory_moves", "dim_product", "dim_location", "dim_store", "dim_category")
def stock_moves(db: Dashboard, f: Filters, grain: Grain = "day", kinds: tuple[str, ...] = ()) -> pd.DataFrame:
    """Quantities moved into and out of stock per period and kind (receipt, delivery...;
    only ``kinds`` if given): period, kind, direction ('in'|'out'), qty, value (qty x
    current cost), moves.

    In = into an internal location (of the selected stores), out = out of one. A transfer
    between two selected shops is both.
    """
    kinds = tuple(checked_choice("kind", k, MOVE_KINDS) for k in kinds)
    frame = db.sql(
        "stock_moves",
        f"""
        WITH m AS (
            SELECT {PERIOD.format(a="m.")} AS period, m.kind, m.qty, m.qty * coalesce(p.standard_price, 0) AS value,
                   {_in_stock("d", f)} AS is_in, {_in_stock("o", f)} AS is_out
            FROM {MOVES}
            WHERE {in_range("m.")} AND {in_categories("p.category_id", f)}
              AND (len($kinds::VARCHAR[]) = 0 OR list_contains($kinds::VARCHAR[], m.kind))
        )
        SELECT period, kind, 'in' AS direction, sum(qty) AS qty, sum(value) AS value,
               count(*) AS moves
        FROM m WHERE is_in GROUP BY period, m.kind
        UNION ALL
        SELECT period, kind, 'out', sum(qty), sum(value), count(*) FROM m WHERE is_out GROUP BY period, m.kind
        ORDER BY period, direction, kind""",
        db.bind(f, grain=checked_grain(grain), kinds=list(kinds)),
        {**f.log_params(), "grain": grain, "kinds": list(kinds)},
    )
    frame["period"] = pd.to_datetime(frame["period"])
    return frame


def _last_sales(f: Filters, since: str = "$since") -> str:
    """Per product, the last date from ``since`` to ``$end`` it sold (qty > 0) in one of the
    selected stores: with no store filter from the per-product rollup (its ``sold`` flag
    keeps a day where one store's sale and another's return net to 0)."""
    if f.stores:
        return f"""SELECT a.product_id, max(a.date) AS last_sold FROM agg_profit_daily a
            WHERE a.date BETWEEN {since} AND $end AND {in_stores("a.store_id", f)} AND a.qty > 0 GROUP BY ALL"""
    return f"""SELECT a.product_id, max(a.date) AS last_sold FROM {PROFIT_BY_PRODUCT} a
            WHERE a.date BETWEEN {since} AND $end AND a.sold GROUP BY ALL"""


@query(
    "fact_stock_quants",
    "agg_profit_daily",
    "dim_product",
    "dim_category",
    "dim_store",
    before=SLOW_MOVER_LOOKBACK_DAYS,
    snapshot=(STOCK,),
)
def slow_movers(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Products in stock at :func:`stock_date` that sold nothing in the period (in the
    selected stores): qty, value, last sale in the :data:`SLOW_MOVER_LOOKBACK_DAYS` before
    the period (empty if none), days since; by value, largest first."""
    day = stock_date(db, f)
    since = f.start - dt.timedelta(days=SLOW_MOVER_LOOKBACK_DAYS)
    frame = db.sql(
        "slow_movers",
        f"""
        WITH stock AS (
            SELECT q.product_id, sum(q.quantity) AS qty
            FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {in_warehouses("q.warehouse_id", f)}
            GROUP BY ALL HAVING sum(q.quantity) > 0
        ), sold AS ({_last_sales(f)})
        SELECT stock.product_id, p.default_code AS code, p.name AS product,
               {CATEGORY_LABEL.format(c="c")} AS category, stock.qty,
               stock.qty * coalesce(p.standard_price, 0) AS value, sold.last_sold,
               date_diff('day', sold.last_sold, $end) AS days_since_sale
        FROM stock JOIN dim_product p ON p.id = stock.product_id
        LEFT JOIN dim_category c ON c.id = p.category_id
        LEFT JOIN sold ON sold.product_id = stock.product_id
        WHERE (sold.last_sold IS NULL OR sold.last_sold < $start) AND {in_categories("p.category_id", f)}
        ORDER BY value DESC, stock.product_id""",
        db.bind(f, day=day or dt.date(1, 1, 1), since=since),
        {**f.log_params(), "stock_date": str(day)},
    )
    return frame


def _stock_out_ctes(f: Filters) -> str:
    """CTEs ``stock`` (on hand at ``$day`` per warehouse of the selected stores and product),
    ``demand`` (units and revenue sold in the period per warehouse and product) and ``k``:
    the candidate stock-outs (sold in the period, or negative stock) with no stock on hand."""
    return f"""stock AS (
            SELECT q.warehouse_id, q.product_id, sum(q.quantity) AS on_hand
            FROM fact_stock_quants q
            WHERE q.date BETWEEN $day AND $day AND {in_warehouses("q.warehouse_id", f)}
            GROUP BY ALL
        ), demand AS (
            SELECT s.warehouse_id, a.product_id, sum(a.qty) AS units, sum(a.revenue) AS revenue
            FROM agg_profit_daily a JOIN dim_store s ON s.id = a.store_id
            WHERE {in_range("a.")} AND {in_stores("a.store_id", f)}
            GROUP BY ALL HAVING sum(a.qty) > 0
        ), k AS (
            SELECT coalesce(d.warehouse_id, q.warehouse_id) AS warehouse_id,
                   coalesce(d.product_id, q.product_id) AS product_id, coalesce(q.on_hand, 0) AS on_hand,
                   coalesce(d.units, 0) AS units, coalesce(d.revenue, 0) AS revenue
            FROM demand d FULL JOIN stock q ON q.warehouse_id = d.warehouse_id AND q.product_id = d.product_id
            WHERE (d.product_id IS NOT NULL OR q.on_hand < 0) AND coalesce(q.on_hand, 0) <= 0
        )"""


@query(
    "fact_stock_quants", "agg_profit_daily", "dim_product", "dim_category", "dim_store", snapshot=(STOCK,), rounds=True
)
def stock_outs(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Storable products out of stock (qty <= 0 at :func:`stock_date`) in a store where
    they sold in the period, or with negative stock: warehouse_id, store, product, on_hand,
    units sold, revenue, daily units; by revenue, largest first (then store, product id).

    Ids and sums in SQL; labels and order with numpy (thousands of rows: sorting them on a
    store name and building string columns cost DuckDB more than the stock-outs)."""
    day = stock_date(db, f)
    found = db.arrays(
        "stock_outs",
        f"""
        WITH {_stock_out_ctes(f)}
        SELECT k.warehouse_id, k.product_id, p.category_id, k.on_hand, k.units AS units_sold, k.revenue
        FROM k JOIN dim_product p ON p.id = k.product_id AND p.storable
        WHERE {in_categories("p.category_id", f)} AND $has_stock""",
        db.bind(f, day=day or dt.date(1, 1, 1), has_stock=day is not None),
        {**f.log_params(), "stock_date": str(day)},
    )
    values = {c: np.ma.filled(found[c], np.nan) for c in ("on_hand", "units_sold", "revenue")}
    values["daily_units"] = values["units_sold"] / float(f.days)
    products = np.ma.getdata(found["product_id"]).astype(np.int64)
    store, rank = labels_of(db, found["warehouse_id"], "warehouse_id", "name", "rank")
    order = np.lexsort((products, rank.to_numpy(float, na_value=np.inf), -values["revenue"]))  # no store: last
    code, product = labels_of(db, products, "product_id", "code", "product")
    [category] = labels_of(db, found["category_id"], "category_id", "label")
    return pd.DataFrame(
        {
            "warehouse_id": _ids_of(found["warehouse_id"])[order],
            "store": store.take(order),
            "product_id": products[order],
            "code": code.take(order),
            "product": product.take(order),
            "category": category.take(order),
            **{c: rounded(c, v[order]) for c, v in values.items()},
        }
    )


def _ids_of(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """An id column of DuckDB's numpy answer (NULLs masked) as a nullable integer array."""
    return pd.array(np.ma.filled(values.astype(np.float64), np.nan), dtype="Int64")


@query(
    STOCK,
    "agg_profit_daily",
    "fact_inventory_moves",
    "dim_product",
    "dim_category",
    "dim_location",
    "dim_store",
    snapshot=(STOCK,),
)
def inventory_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: stock_date, qty, value, products in stock, stock_outs, slow_movers,
    slow_value (stock value of the slow movers), moves_in, moves_out (quantities).

    The totals of :func:`stock_levels` (per product), :func:`stock_outs`,
    :func:`slow_movers` and :func:`stock_moves` in one SQL statement: the stock at the
    stock date is summed once, and no row is labelled or sorted (the page's cards need
    only the totals; tests hold it equal to the four queries). A slow mover is a product in
    stock that did not sell in the period: the lookback of :func:`slow_movers` only dates its
    last sale, so the summary reads the period alone."""
    day = stock_date(db, f)
    frame = db.sql(
        "inventory_summary",
        f"""
        WITH {_stock_out_ctes(f)}, levels AS (    -- stock_levels(by='product')
            SELECT s.product_id, sum(s.on_hand) AS qty, sum(s.on_hand) * coalesce(any_value(p.standard_price), 0) AS value
            FROM stock s JOIN dim_product p ON p.id = s.product_id
            WHERE {in_categories("p.category_id", f)}
            GROUP BY ALL
        ), sold AS ({_last_sales(f, "$start")}
        ), slow AS (
            SELECT count(*) AS slow_movers, coalesce(sum(l.value), 0) AS slow_value
            FROM levels l ANTI JOIN sold ON sold.product_id = l.product_id
            WHERE l.qty > 0
        ), outs AS (      -- stock_outs
            SELECT count(*) AS stock_outs
            FROM k JOIN dim_product p ON p.id = k.product_id AND p.storable
            WHERE {in_categories("p.category_id", f)} AND $has_stock
        ), moves AS (     -- stock_moves: quantities into and out of internal locations
            SELECT coalesce(sum(m.qty) FILTER (WHERE {_in_stock("d", f)}), 0) AS moves_in,
                   coalesce(sum(m.qty) FILTER (WHERE {_in_stock("o", f)}), 0) AS moves_out
            FROM {MOVES}
            WHERE {in_range("m.")} AND {in_categories("p.category_id", f)}
        )
        SELECT coalesce(sum(l.qty), 0) AS qty, coalesce(sum(l.value), 0) AS value,
               count(*) FILTER (WHERE l.qty > 0) AS products,
               any_value(outs.stock_outs) AS stock_outs, any_value(slow.slow_movers) AS slow_movers,
               any_value(slow.slow_value) AS slow_value,
               any_value(moves.moves_in) AS moves_in, any_value(moves.moves_out) AS moves_out
        FROM outs CROSS JOIN slow CROSS JOIN moves LEFT JOIN levels l ON TRUE""",
        db.bind(f, day=day or dt.date(1, 1, 1), has_stock=day is not None),
        {**f.log_params(), "stock_date": str(day)},
    )
    frame.insert(0, "stock_date", day)
    return frame.astype(dict.fromkeys(("products", "stock_outs", "slow_movers"), "int64"))
