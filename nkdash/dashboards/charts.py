"""Altair charts, KPI cards and table formats for the dashboards: presentation only.

Every builder takes a frame from :mod:`nkdash.dashboards` and returns an ``alt.Chart``
(wrap it in ``mo.ui.altair_chart`` to make it selectable) or plain data for marimo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

import altair as alt
import pandas as pd

from nkdash.dashboards.filters import Filters

HEIGHT = 280


LABELS = {
    "revenue": "Revenue",
    "orders": "Orders",
    "basket": "Average basket",
    "units": "Units",
    "margin": "Margin",
    "margin_pct": "Margin %",
    "cost": "Cost",
    "refunds": "Refunds",
    "qty": "Quantity",
    "value": "Value",
    "spend": "Spend",
    "share": "Share",
    "margin_share": "Share of margin",
    "products": "Products",
    "ordered_value": "Ordered",
    "received_value": "Received",
    "invoiced_value": "Invoiced",
    "period": "Period",
}


RATIOS = {"margin_pct", "share", "margin_share", "received_pct", "invoiced_pct"}


COUNTS = {"orders", "refunds", "lines", "products", "moves", "vendors", "stock_outs", "slow_movers"}


QUANTITIES = {
    "units",
    "qty",
    "ordered_qty",
    "received_qty",
    "invoiced_qty",
    "on_hand",
    "units_sold",
    "to_receive",
    "to_invoice",
    "daily_units",
}


STAGE_ORDER = ["ordered", "received", "invoiced"]


INLINE_TRANSFORMER = "marimo_inline_csv"


def inline_chart_data() -> None:
    """Make charts carry their rows inside the page (a ``data:`` URL of CSV) instead of in a
    marimo virtual file that the browser fetches afterwards.

    A filter change re-runs a chart's cell and marimo deletes the old chart's file while the
    browser may still be fetching it: that response then breaks off mid-body (the console shows
    ``net::ERR_INCOMPLETE_CHUNKED_ENCODING`` / ``TypeError: Failed to fetch`` and the server logs
    "response already started"). Dashboard charts are aggregates of at most a few thousand rows,
    so inlining costs little and saves a round trip. Altair's transformer choice is global to the
    process: every chart of a ``marimo run`` server (one process) is inlined. Outside marimo (the
    transformer is not registered) nothing changes. Called when this module is imported.
    """
    if INLINE_TRANSFORMER in alt.data_transformers.names() and alt.data_transformers.active != INLINE_TRANSFORMER:
        alt.data_transformers.enable(INLINE_TRANSFORMER)


inline_chart_data()


def label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " ").capitalize())


def number_format(column: str) -> str:
    """A d3 format for ``column`` (axes and tooltips)."""
    if column in RATIOS:
        return ".1%"
    if column in COUNTS:
        return ",.0f"
    if column in QUANTITIES:
        return ",.2~f"
    return ",.2f"


def axis_format(column: str) -> str:
    """Axes: whole numbers, or percentages without decimals."""
    return ".0%" if column in RATIOS else ",.0f"


def _period_axis() -> alt.X:
    """Periods as bands (bars and side-by-side bars need them), labelled by their first day."""
    return alt.X(
        "yearmonthdate(period):O", title=None, axis=alt.Axis(format="%a %d %b", formatType="time", labelAngle=-40)
    )


def _field(column: str, kind: str = "Q") -> alt.Tooltip:
    # Undefined (no format), not None: altair rejects ``format=None`` when it validates the spec.
    return alt.Tooltip(
        f"{column}:{kind}", title=label(column), format=number_format(column) if kind == "Q" else alt.Undefined
    )


def _tooltips(frame: pd.DataFrame, columns: list[str]) -> list[alt.Tooltip]:
    out = []
    for column in columns:
        if column not in frame:
            continue
        if column == "period":
            out.append(alt.Tooltip("period:T", title="Period", format="%a %d %b %Y"))
        elif pd.api.types.is_numeric_dtype(frame[column]):
            out.append(_field(column))
        else:
            out.append(alt.Tooltip(f"{column}:N", title=label(column)))
    return out


TIME_AXES: dict[str, tuple[str, alt.typing.Optional[dict[str, Any]]]] = {  # grain -> tick labels, tick spacing
    "day": ("%a %d %b", alt.Undefined),
    "week": ("week of %d %b", {"interval": "week", "step": 1}),
    "month": ("%b %Y", {"interval": "month", "step": 1}),
}


def trend(frame: pd.DataFrame, y: str, color: str | None = None, title: str = "", grain: str = "day") -> alt.Chart:
    """A line per ``color`` value (or one line) of ``y`` over ``period`` (first day of each
    day/week/month)."""
    tips = ["period", color, y, "revenue", "orders", "margin"]
    fmt, ticks = TIME_AXES[grain]
    chart: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(frame, title=title or alt.Undefined)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None, axis=alt.Axis(format=fmt, tickCount=ticks, labelAngle=-40)),
            y=alt.Y(f"{y}:Q", title=label(y), axis=alt.Axis(format=axis_format(y))),
            tooltip=_tooltips(frame, list(dict.fromkeys(c for c in tips if c))),
        )
    )
    if color:
        chart = chart.encode(color=alt.Color(f"{color}:N", title=label(color)))
    return chart.properties(width="container", height=HEIGHT)


def bars(
    frame: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "", tooltip: list[str] | None = None
) -> alt.Chart:
    """Horizontal bars of ``x`` per ``y`` (a label column), largest first."""
    chart: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(frame, title=title or alt.Undefined)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:Q", title=label(x), axis=alt.Axis(format=axis_format(x))),
            y=alt.Y(f"{y}:N", title=None, sort="-x"),
            tooltip=_tooltips(frame, [y, *(tooltip or [x])]),
        )
    )
    if color:
        chart = chart.encode(color=alt.Color(f"{color}:N", title=label(color)))
    return chart.properties(width="container", height=max(120, min(22 * len(frame), 600)))


def moves(frame: pd.DataFrame, measure: str = "qty") -> alt.Chart:
    """Stock moves per period: in above zero, out below, coloured by kind."""
    data = frame.assign(signed=frame[measure].where(frame["direction"] == "in", -frame[measure]))
    chart: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=_period_axis(),
            y=alt.Y("signed:Q", title=f"{label(measure)} in (+) / out (−)", axis=alt.Axis(format=",.0f")),
            color=alt.Color("kind:N", title="Kind"),
            tooltip=_tooltips(data, ["period", "kind", "direction", measure, "moves"]),
        )
        .properties(width="container", height=HEIGHT)
    )
    return chart


def fulfilment(frame: pd.DataFrame) -> alt.Chart:
    """Ordered vs received vs invoiced value per period, side by side."""
    chart: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_period_axis(),
            xOffset=alt.XOffset("stage:N", sort=STAGE_ORDER),
            y=alt.Y("value:Q", title="Value", axis=alt.Axis(format=",.0f")),
            color=alt.Color("stage:N", title="Stage", sort=STAGE_ORDER),
            tooltip=_tooltips(frame, ["period", "stage", "value", "qty"]),
        )
        .properties(width="container", height=HEIGHT)
    )
    return chart


def margin_map(frame: pd.DataFrame, name: str) -> alt.Chart:
    """Revenue (x) against margin % (y) per ``name``: big sellers with thin margins stand out."""
    chart: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(frame)
        .mark_circle(opacity=0.7)
        .encode(
            x=alt.X("revenue:Q", title="Revenue", axis=alt.Axis(format=",.0f")),
            y=alt.Y("margin_pct:Q", title="Margin %", axis=alt.Axis(format=".0%")),
            size=alt.Size("margin:Q", title="Margin", legend=None),
            color=alt.Color("department:N", title="Department") if "department" in frame else alt.Undefined,
            tooltip=_tooltips(frame, [name, "category", "revenue", "margin", "margin_pct", "units"]),
        )
        .properties(width="container", height=HEIGHT)
    )
    return chart


def format_value(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(float(value), {".1%": ".1%", ",.0f": ",.0f", ",.2~f": ",.0f"}.get(number_format(column), ",.2f"))


class _ComparisonRow(Protocol):
    """A row of ``sales_comparison`` as ``itertuples`` yields it."""

    metric: str
    label: str
    better: str
    current: float
    previous: float
    change: float
    change_pct: float


def kpi_cards(comparison: pd.DataFrame, f: Filters) -> list[dict[str, Any]]:
    """Keyword arguments of ``mo.stat`` for each KPI of ``sales_comparison``."""
    before = f.previous()
    cards = []
    # cast: pandas types itertuples()'s fields as any scalar; these columns are known
    for row in cast(Iterable[_ComparisonRow], comparison.itertuples()):
        if pd.isna(row.previous) or (row.previous == 0 and row.metric not in RATIOS):
            caption, direction = f"no sales {before.start:%d %b} → {before.end:%d %b}", None
        elif pd.isna(row.change) or row.change == 0:
            caption, direction = f"= {before.start:%d %b} → {before.end:%d %b}", None
        else:
            delta = f"{row.change * 100:+.1f} pts" if row.metric in RATIOS else f"{row.change_pct:+.1%}"
            caption = f"{delta} vs {before.start:%d %b} → {before.end:%d %b}"
            direction = "increase" if row.change > 0 else "decrease"
        cards.append(
            {
                "value": format_value(row.current, row.metric),
                "label": row.label,
                "caption": caption,
                "direction": direction,
                "target_direction": row.better,
                "bordered": True,
            }
        )
    return cards


def summary_cards(summary: pd.DataFrame, columns: dict[str, str], caption: str | None = None) -> list[dict[str, Any]]:
    """Keyword arguments of ``mo.stat`` for ``columns`` ({column: label}) of a one-row summary."""
    row = summary.iloc[0]
    return [
        {"value": format_value(row[c], c), "label": text, "caption": caption, "bordered": True}
        for c, text in columns.items()
    ]


def _day(value: Any) -> str:
    """A date cell: the day, or nothing when there is none (NaT: a product never sold)."""
    return "" if value is None or pd.isna(value) else f"{value:%Y-%m-%d}"


def formats(frame: pd.DataFrame) -> dict[str, str | Callable[[Any], str]]:
    """``format_mapping`` for ``mo.ui.table``: money with cents, ratios as %, counts and
    whole quantities without decimals, dates without a time."""
    out: dict[str, str | Callable[[Any], str]] = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = _day
        elif pd.api.types.is_float_dtype(values):
            fmt = number_format(column)
            if fmt == ",.2~f":
                fmt = ",.0f" if (values.dropna() % 1 == 0).all() else ",.2f"
            out[column] = {".1%": "{:.1%}", ",.0f": "{:,.0f}"}.get(fmt, "{:,.2f}")
    return out


def table_args(frame: pd.DataFrame, page_size: int = 10) -> dict[str, Any]:
    """Keyword arguments of ``mo.ui.table`` for a dashboard frame: formats, id columns
    hidden (they stay in the download), no row selection."""
    hidden = [c for c in frame.columns if c.endswith("_id")]
    return {
        "format_mapping": formats(frame),
        "hidden_columns": hidden or None,
        "selection": None,
        "page_size": page_size,
    }
