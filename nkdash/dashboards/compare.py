"""Comparisons: every KPI of a page against the previous period and the same weeks last year.

- **Previous period**: the same number of days just before (:meth:`Filters.previous`).
- **Last year**: the same dates 52 weeks (364 days) earlier, so the weekdays match (a
  Saturday is compared with a Saturday).
- A comparison period counts only when every one of its dates is loaded. Otherwise its
  figures are not shown, and the page says so ("previous period not loaded", "last year
  partly loaded: 12 of 30 days") with, for the operator, a link that opens the operations
  page on that dataset and those dates: a period that was never loaded is not "no sales".
- **Like-for-like** (sales, last year): only the stores that sold in both periods count
  (invoices, which have no store, count as one more); the page says which were left out.

Changes are relative (+4.2%) except for ratios, whose change is in points (+1.2 pts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd

from nkdash.dashboards.options import DATASET_OF

if TYPE_CHECKING:
    from nkdash.dashboards.audience import Audience
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.filters import Filters, Grain
    from nkdash.dashboards.formats import Formats


Against = Literal["previous", "last_year"]


AGAINST: tuple[Against, ...] = ("previous", "last_year")


TITLES: dict[Against, str] = {"previous": "previous period", "last_year": "last year"}


LAST_YEAR_DAYS = 364  # 52 weeks: the same weekdays


Kind = Literal["money", "count", "quantity", "ratio", "days", "number"]


Better = Literal["increase", "decrease", "none"]


@dataclass(frozen=True)
class Kpi:
    """A figure a page's cards show: its column in the page's summary, label, kind (how it
    is written and compared), which way is better, and its one-sentence definition."""

    column: str
    label: str
    kind: Kind
    better: Better
    definition: str


def period_of(f: Filters, against: Against) -> Filters:
    """The comparison period of ``f``: the same days just before, or 52 weeks earlier."""
    if against == "previous":
        return f.previous()
    shift = dt.timedelta(days=LAST_YEAR_DAYS)
    return dataclasses.replace(f, start=f.start - shift, end=f.end - shift)


def overlay_period(f: Filters, grain: Grain, against: Against) -> tuple[Filters, pd.DateOffset]:
    """The period a trend of ``f`` by ``grain`` is overlaid with, and how far its periods
    move forward to sit on the current ones: last year by 52 weeks (same weekdays; 12 months
    for a trend by month), the previous period by its length (in whole weeks for a trend by
    week, whole months by month), so that each period faces one of the same kind."""
    if grain == "month":
        months = (f.end.year - f.start.year) * 12 + f.end.month - f.start.month + 1
        offset = pd.DateOffset(months=12 if against == "last_year" else months)
    elif against == "last_year":
        offset = pd.DateOffset(days=LAST_YEAR_DAYS)
    else:
        offset = pd.DateOffset(days=-(-f.days // 7) * 7 if grain == "week" else f.days)
    start, end = (pd.Timestamp(d) - offset for d in (f.start, f.end))
    return dataclasses.replace(f, start=start.date(), end=end.date()), offset


@dataclass(frozen=True)
class Coverage:
    """How much of a comparison period is loaded (from the lake's listing of ``table``)."""

    against: Against
    start: dt.date
    end: dt.date
    loaded: int  # dates of the period that the table holds
    table: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def full(self) -> bool:
        return self.loaded >= self.days

    @property
    def state(self) -> Literal["loaded", "partly loaded", "not loaded"]:
        return "loaded" if self.full else "partly loaded" if self.loaded else "not loaded"

    @property
    def dataset(self) -> str:
        return DATASET_OF[self.table]

    def note(self, fmt: Formats) -> str:
        """'previous period (05/10/2026 – 03/11/2026) not loaded', or '... partly loaded
        (12 of 30 days)'; '' when fully loaded."""
        if self.full:
            return ""
        what = f"{TITLES[self.against]} ({fmt.span(self.start, self.end)})"
        if not self.loaded:
            return f"{what} not loaded"
        return f"{what} partly loaded ({self.loaded} of {self.days} days)"

    def load_link(self) -> str:
        """Where an operator loads the period: the operations page on its dataset and dates."""
        return f"/operational/?dataset={self.dataset}&start={self.start.isoformat()}&end={self.end.isoformat()}"


def coverage(db: Dashboard, table: str, f: Filters, against: Against | None = None) -> Coverage:
    """How much of ``f``'s comparison period (or of ``f`` itself: ``against`` None) ``table``
    holds (a listing: cheap, cached)."""
    other = period_of(f, against) if against is not None else f
    dates = {d for file in db.listing.data_files(table, other.start, other.end) for d in file.dates}
    loaded = sum(other.start <= d <= other.end for d in dates)
    return Coverage(against or "previous", other.start, other.end, loaded, table)


@dataclass(frozen=True)
class LikeForLike:
    """The stores a last-year comparison counted (sold in both periods) and those left out."""

    kept: tuple[str, ...]
    left_out: tuple[str, ...]

    def note(self) -> str:
        if not self.left_out:
            return f"like-for-like: all {len(self.kept)} stores sold in both periods"
        names = ", ".join(self.left_out)
        plural = "s" if len(self.left_out) > 1 else ""
        return f"like-for-like: {len(self.left_out)} store{plural} left out (did not sell in both periods: {names})"


@dataclass(frozen=True)
class Comparison:
    """A page's KPIs now and against each comparison period.

    ``kpis``: one row per KPI: metric, label, kind, better, definition, current, and per
    comparison (``previous``, ``last_year``) its value and ``<against>_change`` (relative, or
    points for ratios); empty (NaN) when that period is not fully loaded."""

    kpis: pd.DataFrame
    coverage: dict[Against, Coverage]
    like_for_like: LikeForLike | None = None
    notes: tuple[str, ...] = field(default=())

    def shown(self, audience: Audience) -> Comparison:
        """Without the KPIs ``audience`` may not see."""
        return dataclasses.replace(self, kpis=audience.shown(self.kpis))


Values = Mapping[str, float]


def change(kind: Kind, now: float, before: float) -> float:
    """``now`` against ``before``: relative, or the difference for ratios; NaN if undefined."""
    if _nan(now) or _nan(before):
        return math.nan
    if kind == "ratio":
        return now - before
    return (now - before) / abs(before) if before else math.nan


def compare(
    kpis: Sequence[Kpi],
    current: Values,
    others: Mapping[Against, Values | None],
    against: Mapping[Against, Values | None] | None = None,
) -> pd.DataFrame:
    """The ``kpis`` rows of a :class:`Comparison`: ``current`` values, and each comparison
    period's (None: not loaded). ``against``: what a comparison's change is computed from
    when it is not ``current`` (like-for-like: the kept stores' current values)."""
    rows = []
    for kpi in kpis:
        row: dict[str, object] = {
            "metric": kpi.column,
            "label": kpi.label,
            "kind": kpi.kind,
            "better": kpi.better,
            "definition": kpi.definition,
            "current": _value(current, kpi.column),
        }
        for name in AGAINST:
            values = others.get(name)
            base = (against or {}).get(name) or current
            before = _value(values, kpi.column) if values is not None else math.nan
            row[name] = before
            row[f"{name}_change"] = change(kpi.kind, _value(base, kpi.column), before)
        rows.append(row)
    return pd.DataFrame(rows)


def _value(values: Values | None, column: str) -> float:
    if values is None or column not in values:
        return math.nan
    value = values[column]
    return math.nan if value is None else float(value)


def _nan(value: float) -> bool:
    return value is None or math.isnan(value)


def compared(
    db: Dashboard,
    f: Filters,
    kpis: Sequence[Kpi],
    table: str,
    values: Callable[[Dashboard, Filters], Values],
) -> Comparison:
    """The :class:`Comparison` of a page whose KPIs are ``values(db, filters)`` (a summary
    row), read for each comparison period that ``table`` fully holds."""
    covered = {a: coverage(db, table, f, a) for a in AGAINST}
    others: dict[Against, Values | None] = {
        a: values(db, period_of(f, a)) if c.full else None for a, c in covered.items()
    }
    return Comparison(compare(kpis, values(db, f), others), covered)


def row_values(frame: pd.DataFrame) -> dict[str, float]:
    """A one-row summary frame as ``{column: float}`` (numbers only)."""
    if not len(frame):
        return {}
    row = frame.iloc[0]
    return {c: float(row[c]) for c in frame.columns if pd.api.types.is_number(row[c]) and not isinstance(row[c], bool)}
