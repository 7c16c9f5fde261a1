"""SQL pieces the dashboard queries share: filters as WHERE terms, labels, periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from nkdash.dashboards.filters import Filters, Grain


# Column expressions and filters, written here only. ``{a}`` is a table alias with its dot.
def in_range(a: str = "") -> str:
    return f"{a}date BETWEEN $start AND $end"


# A filter the Filters do not ask for is left out of the SQL (``TRUE``): a scan then does not
# test every row against an empty list.
def in_stores(col: str, f: Filters) -> str:
    return f"list_contains($stores::BIGINT[], {col})" if f.stores else "TRUE"


def in_categories(col: str, f: Filters) -> str:
    return f"list_contains($categories::BIGINT[], {col})" if f.categories else "TRUE"


def in_warehouses(col: str, f: Filters) -> str:
    """``col`` (a warehouse id) belongs to one of the selected stores."""
    return (
        f"{col} IN (SELECT warehouse_id FROM dim_store WHERE list_contains($stores::BIGINT[], id))"
        if f.stores
        else "TRUE"
    )


CATEGORY_LABEL = (
    "CASE WHEN {c}.parent_id IS NULL THEN {c}.name ELSE regexp_replace({c}.complete_name, '^.*? / ', '') END"
)


DEPARTMENT = "coalesce(nullif(split_part({c}.complete_name, ' / ', 2), ''), {c}.name)"


PERIOD = "CAST(date_trunc($grain, {a}date) AS DATE)"


SALES_BY_STORE = "agg_sales_daily_by_store"  # agg_sales_daily summed over categories (memtables.ROLLUPS)


PROFIT_BY_PRODUCT = "agg_profit_daily_by_product"  # agg_profit_daily summed over stores and channels


# A warehouse's store: the first (by id) of the stores (POS configs) it serves; a shop's
# tills share one warehouse, and a join on all of them would count its stock once per till.
WAREHOUSE_STORE = (
    "(SELECT DISTINCT ON (warehouse_id) warehouse_id, name FROM dim_store "
    "WHERE warehouse_id IS NOT NULL ORDER BY warehouse_id, id)"
)


def periods(f: Filters, grain: Grain) -> list[dt.date]:
    """The first day of every day/week/month that overlaps ``f``'s range."""
    return [stamp.date() for stamp in _period_index(f, grain)]


def _period_index(f: Filters, grain: Grain) -> pd.DatetimeIndex:
    first = {"day": f.start, "week": f.start - dt.timedelta(days=f.start.weekday()), "month": f.start.replace(day=1)}[
        grain
    ]
    return pd.date_range(first, f.end, freq={"day": "D", "week": "7D", "month": "MS"}[grain])


# what pandas makes of dates; naive datetimes have a numpy dtype (pandas types it as any dtype)
PERIOD_DTYPE = cast(np.dtype, pd.to_datetime(pd.Series([dt.date(2000, 1, 1)])).dtype)


def fill_periods(frame: pd.DataFrame, f: Filters, grain: Grain, keys: Sequence[str]) -> pd.DataFrame:
    """Every period x key combination, zeros where nothing happened (ratios stay empty);
    by period, then keys (missing keys last). Built with numpy: a handful of rows, where
    pandas merges cost milliseconds."""
    index = _period_index(f, grain)
    stamps = pd.to_datetime(frame["period"]).to_numpy(dtype="datetime64[ns]")
    columns = [[None if pd.isna(v) else v for v in frame[k].tolist()] for k in keys]
    combos = (
        sorted(set(zip(*columns)), key=lambda c: [(v is None, v if v is not None else 0) for v in c]) if keys else [()]
    )
    rows = {(int(t), *c): i for i, (t, *c) in enumerate(zip(stamps.view("int64").tolist(), *columns))}
    wanted = index.to_numpy(dtype="datetime64[ns]")
    take = np.array([rows.get((int(t), *c), -1) for t in wanted.view("int64").tolist() for c in combos], dtype=np.int64)
    out = frame.reset_index(drop=True).reindex(take).reset_index(drop=True)
    periods = cast(np.dtype, pd.to_datetime(frame["period"]).dtype)  # naive: a numpy dtype
    unit = np.promote_types(PERIOD_DTYPE, periods)  # as a merge would
    out["period"] = np.repeat(wanted, len(combos)).astype(unit)
    for i, k in enumerate(keys):
        out[k] = pd.Series([c[i] for c in combos] * len(wanted), dtype=frame[k].dtype)
    ratios = ("basket", "margin_pct", "refund_rate", "units_per_order")
    sums = [c for c in out.columns if c not in ("period", *keys, *ratios)]
    out[sums] = out[sums].fillna(0)
    out["partial"] = np.repeat(partial_periods(f, grain, wanted), len(combos))
    return out


def partial_periods(f: Filters, grain: Grain, starts: np.ndarray) -> np.ndarray:
    """Whether each period (by its first day) reaches outside ``f``'s range: a week or a
    month the range only partly covers (its figures are not comparable with a whole one)."""
    first = starts.astype("datetime64[D]")
    if grain == "day":
        return np.zeros(len(first), dtype=bool)
    if grain == "week":
        last = first + np.timedelta64(6, "D")
    else:
        last = (first.astype("datetime64[M]") + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    return (first < np.datetime64(f.start, "D")) | (last > np.datetime64(f.end, "D"))
