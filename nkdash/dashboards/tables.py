"""Tables for people: every column the dashboards answer with, its human header (with its
unit) and how its values are written; the frame and arguments a ``mo.ui.table`` shows.

Rules: headers are words, not column names ("Margin %", "Stock value (€)"); ids are not
shown (names are, with the product's code as its own column); no data types, no column
summaries; money with thousands separators and cents, the currency in the header; ratios as
percentages with one decimal; dates in the page's one format; an empty value is empty, never
"NaN" or "None". The download (CSV, Excel...) is what the table shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

if TYPE_CHECKING:
    from nkdash.dashboards.formats import Formats


Kind = Literal["money", "count", "quantity", "ratio", "number", "days", "date", "text", "flag", "hour", "weekday"]


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind


def _c(label: str, kind: Kind) -> Column:
    return Column(label, kind)


COLUMNS: dict[str, Column] = {
    # labels
    "store": _c("Store", "text"),
    "channel": _c("Channel", "text"),
    "code": _c("Code", "text"),
    "product": _c("Product", "text"),
    "category": _c("Category", "text"),
    "department": _c("Department", "text"),
    "vendor": _c("Vendor", "text"),
    "location": _c("Location", "text"),
    "order_ref": _c("Order", "text"),
    "kind": _c("Kind of move", "text"),
    "direction": _c("In / out", "text"),
    "stage": _c("Stage", "text"),
    "abc": _c("Class", "text"),
    "series": _c("Series", "text"),
    "rank": _c("Top / bottom", "text"),
    # dates
    "period": _c("Period", "date"),
    "date": _c("Date", "date"),
    "last_sold": _c("Last sale", "date"),
    "expected": _c("Expected", "date"),
    "stock_date": _c("Stock date", "date"),
    # money
    "revenue": _c("Revenue", "money"),
    "cost": _c("Cost", "money"),
    "margin": _c("Margin", "money"),
    "basket": _c("Average basket", "money"),
    "order_revenue": _c("Orders' revenue", "money"),
    "refund_value": _c("Refunds", "money"),
    "refunded": _c("Refunds", "money"),
    "discount": _c("Discounts", "money"),
    "value": _c("Stock value", "money"),
    "slow_value": _c("Dead stock value", "money"),
    "spend": _c("Spend", "money"),
    "ordered_value": _c("Ordered", "money"),
    "received_value": _c("Received", "money"),
    "invoiced_value": _c("Invoiced", "money"),
    "open_value": _c("Still to receive", "money"),
    "revenue_per_day": _c("Revenue per day", "money"),
    # counts
    "orders": _c("Orders", "count"),
    "refunds": _c("Refund orders", "count"),
    "lines": _c("Lines", "count"),
    "products": _c("Products", "count"),
    "moves": _c("Moves", "count"),
    "vendors": _c("Vendors", "count"),
    "stock_outs": _c("Stock-outs", "count"),
    "slow_movers": _c("Dead stock", "count"),
    "received_orders": _c("Orders received", "count"),
    "on_time": _c("On time", "count"),
    "overdue": _c("Overdue", "count"),
    "open_lines": _c("Open lines", "count"),
    "overdue_lines": _c("Overdue lines", "count"),
    "days": _c("Days", "count"),
    "position": _c("Position", "count"),
    # quantities
    "units": _c("Units", "quantity"),
    "qty": _c("Quantity", "quantity"),
    "on_hand": _c("On hand", "quantity"),
    "on_hand_start": _c("On hand at the start", "quantity"),
    "units_sold": _c("Units sold", "quantity"),
    "on_order": _c("On order", "quantity"),
    "ordered_qty": _c("Ordered", "quantity"),
    "received_qty": _c("Received", "quantity"),
    "invoiced_qty": _c("Invoiced", "quantity"),
    "to_receive": _c("To receive", "quantity"),
    "to_invoice": _c("To invoice", "quantity"),
    "moves_in": _c("Moved in", "quantity"),
    "moves_out": _c("Moved out", "quantity"),
    # ratios and other numbers
    "margin_pct": _c("Margin %", "ratio"),
    "share": _c("Share", "ratio"),
    "margin_share": _c("Share of margin", "ratio"),
    "cumulative_share": _c("Cumulative share", "ratio"),
    "value_share": _c("Share of stock value", "ratio"),
    "received_pct": _c("Received %", "ratio"),
    "invoiced_pct": _c("Invoiced %", "ratio"),
    "refund_rate": _c("Refund rate", "ratio"),
    "discount_rate": _c("Discount rate", "ratio"),
    "sell_through": _c("Sell-through", "ratio"),
    "on_time_rate": _c("On-time rate", "ratio"),
    "units_per_order": _c("Units per order", "number"),
    "daily_units": _c("Units sold per day", "number"),
    "orders_per_day": _c("Orders per day", "number"),
    "stock_turn": _c("Stock turn (per year)", "number"),
    "cover_days": _c("Days of cover", "days"),
    "lead_days": _c("Lead time (days)", "days"),
    "days_since_sale": _c("Days since last sale", "days"),
    "days_late": _c("Days late", "days"),
    "running_low": _c("Running low", "flag"),
    "partial": _c("Partial period", "flag"),
    "hour": _c("Hour", "hour"),
    "weekday": _c("Weekday", "weekday"),
}


WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def column(name: str) -> Column:
    """The column ``name`` (a plain header from the name for one not in :data:`COLUMNS`)."""
    return COLUMNS.get(name) or Column(name.replace("_", " ").capitalize(), "number")


def header(name: str, fmt: Formats) -> str:
    """The human header of ``name``, with its unit: money in the currency."""
    found = column(name)
    return f"{found.label} ({fmt.symbol})" if found.kind == "money" else found.label


def writer(name: str, fmt: Formats) -> Callable[[Any], str]:
    """How a table writes a value of ``name`` (a value that is missing is written '')."""
    kind = column(name).kind
    if kind == "money":
        return lambda v: fmt.number(v, 2)
    if kind == "count":
        return lambda v: fmt.number(v, 0)
    if kind == "quantity":
        return fmt.quantity
    if kind == "ratio":
        return fmt.percent
    if kind in ("number", "days"):
        return lambda v: fmt.number(v, 1)
    if kind == "date":
        return fmt.date
    if kind == "flag":
        label = column(name).label
        return lambda v: label if v is True or (not _na(v) and bool(v)) else ""
    if kind == "hour":
        return lambda v: "" if _na(v) else fmt.hour(int(v))
    if kind == "weekday":
        return lambda v: "" if _na(v) else WEEKDAY_NAMES[int(v)]
    return lambda v: "" if _na(v) else str(v)


def _na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def shown(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    """The columns of ``frame`` a table shows: ``columns`` (those present), else every one
    but the ids."""
    if columns is not None:
        return [c for c in columns if c in frame.columns]
    return [c for c in frame.columns if not str(c).endswith("_id")]


def view(frame: pd.DataFrame, fmt: Formats, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """What a table shows of ``frame``: the shown columns under human headers. Numbers and
    dates keep their values (the table sorts them as such, the download has them as numbers);
    :func:`table_args` says how to write them. Text that is missing is empty."""
    keep = shown(frame, columns)
    out = {}
    for c in keep:
        values = frame[c]
        if column(c).kind == "text" or (values.dtype == object and column(c).kind not in ("date", "flag")):
            values = values.astype(object).where(values.notna(), "")
        out[header(c, fmt)] = values.reset_index(drop=True)
    return pd.DataFrame(out, columns=list(out))


def table_args(
    frame: pd.DataFrame, fmt: Formats, columns: Sequence[str] | None = None, page_size: int = 10
) -> dict[str, Any]:
    """Keyword arguments of ``mo.ui.table`` for the :func:`view` of ``frame`` (a dashboard
    answer): values written for people, no selection, no data types, no column summaries,
    numbers right-aligned, paging past ``page_size`` rows."""
    keep = shown(frame, columns)
    mapping = {header(c, fmt): writer(c, fmt) for c in keep if column(c).kind != "text"}
    right = {header(c, fmt): "right" for c in keep if column(c).kind not in ("text", "date", "flag", "weekday")}
    return {
        "format_mapping": mapping or None,
        "selection": None,
        "page_size": page_size,
        "pagination": len(frame) > page_size,
        "show_column_summaries": False,
        "show_data_types": False,
        "text_justify_columns": right or None,
    }


def table(
    frame: pd.DataFrame, fmt: Formats, columns: Sequence[str] | None = None, page_size: int = 10, label: str = ""
) -> Any:
    """A ``mo.ui.table`` of ``frame`` for people (:func:`view`, :func:`table_args`)."""
    import marimo as mo

    return mo.ui.table(view(frame, fmt, columns), **table_args(frame, fmt, columns, page_size), label=label)
