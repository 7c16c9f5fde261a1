"""How the dashboards round the floats they answer with: ratios to 6 decimals, quantities to
3, money to cents. Float sums depend on the order DuckDB adds them up; rounding makes every
run show the same numbers (and turns -0.0 into 0.0)."""

from __future__ import annotations

import numpy as np
import pandas as pd

RATIOS = {
    "margin_pct",
    "share",
    "margin_share",
    "received_pct",
    "invoiced_pct",
    "daily_units",
    "refund_rate",
    "units_per_order",
    "discount_rate",
    "cumulative_share",
    "value_share",
    "sell_through",
    "stock_turn",
    "cover_days",
    "lead_days",
    "on_time_rate",
    "orders_per_day",
    "days_late",
}


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
    "lines",
    "orders",
    "refunds",
    "products",
    "moves",
    "moves_in",
    "moves_out",
    "on_order",
    "on_hand_start",
    "open_lines",
    "overdue_lines",
    "received_orders",
    "on_time",
}


def digits(column: str) -> int:
    """Decimals a float column is shown with: ratios 6, quantities 3, money 2 (cents)."""
    return 6 if column in RATIOS else 3 if column in QUANTITIES else 2


def rounded(column: str, values: np.ndarray) -> np.ndarray:
    """Float ``values`` of ``column`` rounded to its :func:`digits` (-0.0 made 0.0)."""
    return np.round(values, digits(column)) + 0.0


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Round float columns: ratios to 6 decimals, quantities to 3, money to cents.

    Float sums depend on the order DuckDB's threads add them up; rounding makes every
    run show the same numbers (and turns -0.0 into 0.0).
    """
    floats = {i for i, dtype in enumerate(frame.dtypes) if dtype.kind == "f"}
    if not frame.columns.is_unique:
        for i in floats:
            frame.isetitem(i, rounded(str(frame.columns[i]), frame.iloc[:, i].to_numpy()))
        return frame
    # a new frame: cheaper than setting columns in place
    return pd.DataFrame(
        {
            column: rounded(str(column), frame[column].to_numpy()) if i in floats else frame[column]
            for i, column in enumerate(frame.columns)
        },
        index=frame.index,
    )
