"""The sidebar's choices: stores, categories and the selectable period."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from nkdash import dates as cal
from nkdash.dashboards.engine import log
from nkdash.dashboards.filters import DEFAULT_DAYS
from nkdash.dashboards.labels import category_tree, stores
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.settings import get_settings

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard


def store_options(db: Dashboard) -> dict[str, int]:
    """``{store name: id}`` for a multiselect, by name. A damaged ``dim_store`` raises
    :class:`~nkdash.errors.LakeError` (the page's sidebar then offers no choice and says why:
    :mod:`nkdash.controls`)."""
    frame = stores(db)
    return {str(name): int(sid) for name, sid in zip(frame["name"], frame["id"])}


def category_options(db: Dashboard) -> dict[str, int]:
    """``{category path: id}`` for a multiselect; a category includes its subcategories.
    A damaged ``dim_category`` raises :class:`~nkdash.errors.LakeError` (as for
    :func:`store_options`)."""
    frame = category_tree(db)
    frame = frame[frame["parent_id"].notna()]  # the root is "everything": no filter does that
    return {str(label): int(cid) for label, cid in zip(frame["label"], frame["id"])}


DATASET_OF = {table: spec.name for spec in REGISTRY.values() for table in spec.table_names}


def date_bounds(db: Dashboard, table: str = "agg_profit_daily") -> tuple[dt.date, dt.date] | None:
    """First and last date that ``table`` holds, or None: from the metadata store's
    partition states of its dataset, else (no metadata) from the lake's listing."""
    meta = db.meta
    if meta is not None:
        try:
            bounds = meta.date_range(DATASET_OF[table])
        except Exception:  # noqa: BLE001 — the listing below answers as well, only slower
            log.warning("could not read the date range of %s from the metadata store", table, exc_info=True)
            bounds = None
        if bounds is not None:
            return bounds
    dates = sorted({d for f in db.listing.data_files(table) for d in f.dates})
    return (dates[0], dates[-1]) if dates else None


def default_period(
    db: Dashboard,
    table: str = "agg_profit_daily",
    days: int = DEFAULT_DAYS,
    today: dt.date | None = None,
    bounds: tuple[dt.date, dt.date] | Literal["?"] | None = "?",
) -> tuple[dt.date, dt.date]:
    """The last ``days`` days ending at the latest loaded date (yesterday if nothing is)."""
    bounds = date_bounds(db, table) if bounds == "?" else bounds
    end = bounds[1] if bounds else (today or business_today()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    return (max(start, bounds[0]) if bounds else start), end


def selectable_range(
    db: Dashboard,
    table: str = "agg_profit_daily",
    today: dt.date | None = None,
    bounds: tuple[dt.date, dt.date] | Literal["?"] | None = "?",
) -> tuple[dt.date, dt.date]:
    """The dates a period picker offers: what the lake holds, at least the default period.
    ``bounds``: :func:`date_bounds` if the caller has read it already."""
    bounds = date_bounds(db, table) if bounds == "?" else bounds
    start, end = default_period(db, table, today=today, bounds=bounds)
    return (min(start, bounds[0]) if bounds else start), end


def selected_ids(selection: Any, column: str) -> tuple[int, ...]:
    """The distinct ids in ``column`` of a chart selection (``mo.ui.altair_chart(...).value``)."""
    if not isinstance(selection, pd.DataFrame) or column not in selection or selection.empty:
        return ()
    return tuple(sorted({int(v) for v in selection[column].dropna()}))


def business_today() -> dt.date:
    return cal.today(cal.timezone(get_settings().tz))
