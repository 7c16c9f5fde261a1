"""The purchases page's queries."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, get_args

import pandas as pd

from nkdash import dates as cal
from nkdash.dashboards.compare import Comparison, Kpi, compared, row_values
from nkdash.dashboards.engine import query
from nkdash.dashboards.filters import PurchasesBy, checked_choice, checked_grain, checked_ids
from nkdash.dashboards.sql import (
    CATEGORY_LABEL,
    DEPARTMENT,
    PERIOD,
    fill_periods,
    in_categories,
    in_range,
    in_warehouses,
)
from nkdash.settings import get_settings

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Condition, Filters, Grain


RECEIPT_WINDOW_DAYS = 14  # purchases: receipts searched this far around the range (store filter)


def _purchase_where(f: Filters) -> str:
    """Purchase lines in range, of the selected categories and stores.

    fact_purchases has no warehouse: a purchase belongs to the warehouse its receipts
    (stock moves with the same operation type, kind 'receipt') go to, found among the
    receipts within :data:`RECEIPT_WINDOW_DAYS` of the range (only with a store filter).
    """
    where = f"{in_range('f.')} AND {in_categories('p.category_id', f)}"
    if not f.stores:
        return where
    return f"""{where}
        AND (f.picking_type_id IN (
            SELECT m.picking_type_id FROM fact_inventory_moves m JOIN dim_location l ON l.id = m.location_dest_id
            WHERE m.date BETWEEN $window_start AND $window_end AND m.kind = 'receipt'
              AND {in_warehouses("l.warehouse_id", f)}))"""


def _purchase_params(db: Dashboard, f: Filters, **extra: Any) -> dict[str, Any]:
    window = dt.timedelta(days=RECEIPT_WINDOW_DAYS)
    return db.bind(f, window_start=f.start - window, window_end=f.end + window, **extra)


PURCHASE_ONLY_IF: dict[str, Condition] = {"fact_inventory_moves": "stores"}


PURCHASE_KEYS: dict[str, tuple[str, str, str]] = {  # by -> (ids summed by, select list, joins for the labels)
    "vendor": (
        "f.partner_id",
        "a.partner_id AS vendor_id, coalesce(v.name, 'vendor ' || a.partner_id) AS vendor",
        "LEFT JOIN dim_partner v ON v.id = a.partner_id",
    ),
    "category": (
        "p.category_id",
        f"a.category_id, {CATEGORY_LABEL.format(c='c')} AS category, {DEPARTMENT.format(c='c')} AS department",
        "LEFT JOIN dim_category c ON c.id = a.category_id",
    ),
    "department": ("d.department", "a.department", ""),  # an order spans categories: counted per department
    "product": (
        "f.product_id, p.category_id",
        f"a.product_id, p.default_code AS code, p.name AS product, {CATEGORY_LABEL.format(c='c')} AS category",
        "LEFT JOIN dim_product p ON p.id = a.product_id LEFT JOIN dim_category c ON c.id = a.category_id",
    ),
}


DEPARTMENTS = f"(SELECT id, {DEPARTMENT.format(c='dim_category')} AS department FROM dim_category)"


def _names(columns: str) -> str:
    """The names of ``columns`` ("f.partner_id, p.category_id" -> "partner_id, category_id")."""
    return ", ".join(column.strip().rsplit(".", 1)[-1] for column in columns.split(","))


PURCHASE_SUMS = """count(DISTINCT f.order_id) AS orders, count(*) AS lines, sum(f.price_subtotal) AS spend,
    sum(f.product_qty) AS ordered_qty, sum(f.qty_received) AS received_qty, sum(f.qty_invoiced) AS invoiced_qty,
    sum(f.product_qty * f.price_unit) AS ordered_value, sum(f.qty_received * f.price_unit) AS received_value,
    sum(f.qty_invoiced * f.price_unit) AS invoiced_value"""


@query(
    "fact_purchases",
    "fact_inventory_moves",
    "dim_product",
    "dim_category",
    "dim_partner",
    "dim_location",
    "dim_store",
    before=RECEIPT_WINDOW_DAYS,
    after=RECEIPT_WINDOW_DAYS,
    only_if=PURCHASE_ONLY_IF,
)
def purchases_by(db: Dashboard, f: Filters, by: PurchasesBy = "vendor") -> pd.DataFrame:
    """Confirmed purchases per vendor, category, department or product: orders, lines,
    spend (untaxed), ordered / received / invoiced quantities and values (qty x unit
    price), received_pct and invoiced_pct of the ordered value; by spend, largest first.
    Sums by ids first, then the labels."""
    ids, select, joins = PURCHASE_KEYS[checked_choice("by", by, get_args(PurchasesBy))]
    departments = f"LEFT JOIN {DEPARTMENTS} d ON d.id = p.category_id" if by == "department" else ""
    frame = db.sql(
        f"purchases_by_{by}",
        f"""
        WITH a AS (
            SELECT {ids}, {PURCHASE_SUMS}
            FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id {departments}
            WHERE {_purchase_where(f)}
            GROUP BY ALL)
        SELECT {select}, a.* EXCLUDE ({_names(ids)})
        FROM a {joins}
        ORDER BY spend DESC, 1""",
        _purchase_params(db, f),
        {**f.log_params(), "by": by},
    )
    frame["received_pct"] = frame["received_value"] / frame["ordered_value"].where(frame["ordered_value"] != 0)
    frame["invoiced_pct"] = frame["invoiced_value"] / frame["ordered_value"].where(frame["ordered_value"] != 0)
    return frame


@query(
    "fact_purchases",
    "fact_inventory_moves",
    "dim_product",
    "dim_category",
    "dim_location",
    "dim_store",
    before=RECEIPT_WINDOW_DAYS,
    after=RECEIPT_WINDOW_DAYS,
    only_if=PURCHASE_ONLY_IF,
)
def purchase_fulfilment(db: Dashboard, f: Filters, grain: Grain = "week") -> pd.DataFrame:
    """Ordered vs received vs invoiced value per period of the order date:
    period, partial (a week or month the range only partly covers), stage
    ('ordered'|'received'|'invoiced'), value, qty; every period present."""
    frame = db.sql(
        "purchase_fulfilment",
        f"""
        SELECT {PERIOD.format(a="f.")} AS period, {PURCHASE_SUMS}
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        WHERE {_purchase_where(f)}
        GROUP BY ALL ORDER BY period""",
        _purchase_params(db, f, grain=checked_grain(grain)),
        {**f.log_params(), "grain": grain},
    )
    frame = fill_periods(frame, f, grain, ())
    stages = [
        frame[["period", "partial"]].assign(stage=stage, value=frame[f"{stage}_value"], qty=frame[f"{stage}_qty"])
        for stage in ("ordered", "received", "invoiced")
    ]
    return pd.concat(stages, ignore_index=True)


OPEN_LINE = "(f.qty_received < f.product_qty OR f.qty_invoiced < f.qty_received)"  # not all received or invoiced


OPEN_VALUE = "greatest(f.product_qty - f.qty_received, 0) * f.price_unit"  # the value still to receive


EXPECTED = "CAST(timezone($tz, f.date_planned) AS DATE)"  # a line's expected arrival, local date


ON_TIME = "CAST(timezone($tz, o.received) AS DATE) <= CAST(timezone($tz, o.planned) AS DATE)"  # local days


def _tz() -> str:
    return str(cal.timezone(get_settings().tz))


@query(
    "fact_purchases",
    "fact_inventory_moves",
    "dim_product",
    "dim_category",
    "dim_partner",
    "dim_location",
    "dim_store",
    before=RECEIPT_WINDOW_DAYS,
    after=RECEIPT_WINDOW_DAYS,
    only_if=PURCHASE_ONLY_IF,
)
def open_purchases(db: Dashboard, f: Filters, vendors: tuple[int, ...] = ()) -> pd.DataFrame:
    """Purchase lines of the orders confirmed in the period that are not fully received or
    not fully invoiced (of ``vendors`` if given): order, date, vendor, product, ordered /
    received / invoiced qty, to_receive, to_invoice, open_value (value still to receive),
    expected (the line's expected arrival, local date), overdue (still to receive and
    expected before the end of the period) and days_late; by date then order."""
    vendors = checked_ids("vendor", vendors)
    return db.sql(
        "open_purchases",
        f"""
        SELECT f.order_ref, f.date, f.partner_id AS vendor_id, coalesce(v.name, 'vendor ' || f.partner_id) AS vendor,
               p.default_code AS code,
               p.name AS product, f.product_qty AS ordered_qty, f.qty_received AS received_qty,
               f.qty_invoiced AS invoiced_qty, f.product_qty - f.qty_received AS to_receive,
               f.qty_received - f.qty_invoiced AS to_invoice,
               {OPEN_VALUE} AS open_value, {EXPECTED} AS expected,
               coalesce(f.qty_received < f.product_qty AND {EXPECTED} < $end, FALSE) AS overdue,
               CASE WHEN f.qty_received < f.product_qty AND {EXPECTED} < $end
                    THEN date_diff('day', {EXPECTED}, $end)::DOUBLE END AS days_late
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        LEFT JOIN dim_partner v ON v.id = f.partner_id
        WHERE {_purchase_where(f)} AND {OPEN_LINE}
          AND (len($vendors::BIGINT[]) = 0 OR list_contains($vendors::BIGINT[], f.partner_id))
        ORDER BY f.date, f.order_ref, f.line_id""",
        _purchase_params(db, f, vendors=list(vendors), tz=_tz()),
        {**f.log_params(), "vendors": list(vendors)},
    )


@query(
    "fact_purchases",
    "fact_inventory_moves",
    "dim_product",
    "dim_partner",
    "dim_location",
    "dim_store",
    before=RECEIPT_WINDOW_DAYS,
    after=RECEIPT_WINDOW_DAYS,
    only_if=PURCHASE_ONLY_IF,
)
def vendor_performance(db: Dashboard, f: Filters) -> pd.DataFrame:
    """Per vendor, over the orders confirmed in the period: orders, received_orders (whose
    first receipt is done), on_time (received on or before the expected date, local days),
    on_time_rate (of those received), lead_days (average days from confirmation to the
    first receipt), overdue (not received, expected before the end of the period); by
    orders, most first."""
    return db.sql(
        "vendor_performance",
        f"""
        WITH o AS (
            SELECT f.order_id, any_value(f.partner_id) AS vendor_id, min(f.date_approve) AS approved,
                   min(f.date_planned) AS planned, min(f.date_received) AS received
            FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
            WHERE {_purchase_where(f)}
            GROUP BY f.order_id
        )
        SELECT o.vendor_id, coalesce(v.name, 'vendor ' || o.vendor_id) AS vendor, count(*) AS orders,
               count(o.received) AS received_orders,
               count(*) FILTER (WHERE {ON_TIME})::BIGINT AS on_time,
               count(*) FILTER (WHERE {ON_TIME}) / nullif(count(o.received), 0) AS on_time_rate,
               avg(epoch(o.received - o.approved)) / 86400.0 AS lead_days,
               count(*) FILTER (WHERE o.received IS NULL AND CAST(timezone($tz, o.planned) AS DATE) < $end)::BIGINT
                   AS overdue
        FROM o LEFT JOIN dim_partner v ON v.id = o.vendor_id
        GROUP BY ALL ORDER BY orders DESC, vendor""",
        _purchase_params(db, f, tz=_tz()),
        f.log_params(),
    ).astype({"orders": "int64", "received_orders": "int64", "on_time": "int64", "overdue": "int64"})


@query(
    "fact_purchases",
    "fact_inventory_moves",
    "dim_product",
    "dim_location",
    "dim_store",
    before=RECEIPT_WINDOW_DAYS,
    after=RECEIPT_WINDOW_DAYS,
    only_if=PURCHASE_ONLY_IF,
)
def purchases_summary(db: Dashboard, f: Filters) -> pd.DataFrame:
    """One row: orders, lines, spend, vendors, received_pct and invoiced_pct of the ordered
    value, open_value (still to receive), the ordered / received / invoiced values and
    quantities, open_lines and overdue_lines (of :func:`open_purchases`): the totals of
    :func:`purchases_by` (per vendor) and :func:`open_purchases` in one statement (tests
    hold them equal)."""
    frame = db.sql(
        "purchases_summary",
        f"""
        SELECT count(DISTINCT f.order_id) AS orders, count(*) AS lines, coalesce(sum(f.price_subtotal), 0) AS spend,
               count(DISTINCT f.partner_id) + (count(*) FILTER (WHERE f.partner_id IS NULL) > 0)::INTEGER AS vendors,
               sum(f.qty_received * f.price_unit) / nullif(sum(f.product_qty * f.price_unit), 0) AS received_pct,
               sum(f.qty_invoiced * f.price_unit) / nullif(sum(f.product_qty * f.price_unit), 0) AS invoiced_pct,
               coalesce(sum({OPEN_VALUE}) FILTER (WHERE {OPEN_LINE}), 0) AS open_value,
               coalesce(sum(f.product_qty * f.price_unit), 0) AS ordered_value,
               coalesce(sum(f.qty_received * f.price_unit), 0) AS received_value,
               coalesce(sum(f.qty_invoiced * f.price_unit), 0) AS invoiced_value,
               coalesce(sum(f.product_qty), 0) AS ordered_qty, coalesce(sum(f.qty_received), 0) AS received_qty,
               coalesce(sum(f.qty_invoiced), 0) AS invoiced_qty,
               count(*) FILTER (WHERE {OPEN_LINE}) AS open_lines,
               count(*) FILTER (WHERE {OPEN_LINE} AND f.qty_received < f.product_qty AND {EXPECTED} < $end)
                   AS overdue_lines
        FROM fact_purchases f JOIN dim_product p ON p.id = f.product_id
        WHERE {_purchase_where(f)}""",
        _purchase_params(db, f, tz=_tz()),
        f.log_params(),
    )
    return frame.astype(
        {"orders": "int64", "lines": "int64", "vendors": "int64", "open_lines": "int64", "overdue_lines": "int64"}
    )


PURCHASE_KPIS: tuple[Kpi, ...] = (
    Kpi("spend", "Spend", "money", "none", "The untaxed amount of the purchase lines confirmed in the period."),
    Kpi("orders", "Orders", "count", "none", "Purchase orders confirmed in the period."),
    Kpi("ordered_value", "Ordered", "money", "none", "Quantities ordered times their unit price."),
    Kpi("received_value", "Received", "money", "none", "Quantities received so far times their unit price."),
    Kpi("invoiced_value", "Invoiced", "money", "none", "Quantities the vendors have billed times their unit price."),
    Kpi("on_time_rate", "On time", "ratio", "increase", "Of the orders received, those received by the expected date."),
    Kpi(
        "lead_days", "Lead time", "days", "decrease", "Average days from an order's confirmation to its first receipt."
    ),
    Kpi("overdue_lines", "Overdue lines", "count", "decrease", "Lines still to receive, expected before the end."),
)


def purchases_values(db: Dashboard, f: Filters) -> dict[str, float]:
    """The purchases KPIs of ``f``: :func:`purchases_summary`, and on time and lead time over
    every vendor (:func:`vendor_performance`)."""
    values = row_values(purchases_summary(db, f))
    vendors = vendor_performance(db, f)
    received = float(vendors["received_orders"].sum())
    on_time = float(vendors["on_time"].sum())
    lead = (vendors["lead_days"] * vendors["received_orders"]).sum()
    values["on_time_rate"] = on_time / received if received else float("nan")
    values["lead_days"] = float(lead) / received if received else float("nan")
    return values


def purchases_comparison(db: Dashboard, f: Filters) -> Comparison:
    """The purchases KPIs (:data:`PURCHASE_KPIS`) against the previous period and last year."""
    return compared(db, f, PURCHASE_KPIS, "fact_purchases", purchases_values)
