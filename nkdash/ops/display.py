"""How values read on the operations pages: no NaN, None or null, dates as ISO days, times
as 24-hour ``YYYY-MM-DD HH:MM``, durations in s or min, long task ids shortened (issue 17).

Pure functions over values and frames (the marimo side is :mod:`nkdash.ops.views`).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

import pandas as pd

EMPTY = "-"  # what an empty cell shows


ID_COLUMNS = ("task", "request")  # columns whose long ids are shortened (the full id on hover)


ID_LENGTH = 12  # characters of an id shown before the ellipsis


def blank(value: Any) -> bool:
    """None, NaN, NaT, pandas' NA or an empty string."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def when(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    """A time as ``YYYY-MM-DD HH:MM`` (24-hour), in ``tz`` (default: as given, UTC if naive)."""
    if blank(value) or value is None:
        return EMPTY
    if tz is not None:
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(tz)
    return f"{value:%Y-%m-%d %H:%M}"


def duration(seconds: float | None) -> str:
    """``42 ms``, ``3.42 s``, ``12.3 s``, ``4.5 min``, ``2 h 05 min``; ``-`` when unknown."""
    if seconds is None or blank(seconds):
        return EMPTY
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1000:.2f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def short_id(value: str) -> str:
    """A long id cut to :data:`ID_LENGTH` characters with an ellipsis (the id itself if short)."""
    return value if len(value) <= ID_LENGTH + 1 else value[:ID_LENGTH] + "…"


def id_html(value: Any) -> str:
    """An id as HTML: shortened, the full id in its tooltip (``title``) and selectable."""
    if blank(value):
        return EMPTY
    text = str(value)
    return f'<span title="{html.escape(text)}">{html.escape(short_id(text))}</span>'


def cell(value: Any) -> Any:
    """One value as a page shows it: blanks as ``-``, datetimes as 24-hour times, dates as
    ISO days, booleans as yes/no; numbers and text unchanged."""
    if blank(value):
        return EMPTY
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return when(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


DURATION_COLUMNS = {"seconds": "duration", "median": "median", "p95": "p95", "slowest": "slowest"}


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every value as :func:`cell` shows it (a copy; a numeric column without
    blanks keeps its type, so it still sorts as numbers); seconds as durations."""
    out = frame.copy()
    for column, name in DURATION_COLUMNS.items():
        if column in out.columns and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = [duration(v) for v in out[column].tolist()]
            out = out.rename(columns={column: name})
    for column in out.columns:
        series = out[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and not series.isna().any():
            continue
        out[column] = pd.Series([cell(v) for v in series.tolist()], index=out.index, dtype=object)
    return out
