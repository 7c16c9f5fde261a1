"""Altair charts for the dashboards: presentation only.

Every builder takes a frame from :mod:`nkdash.dashboards` and the page's
:class:`~nkdash.dashboards.formats.Formats`, and returns a chart (a page shows it with
:func:`nkdash.dashboards.controls.chart`; ``mo.ui.altair_chart`` would make it
selectable) carrying the page's locale: its separators, its currency on money axes and
tooltips, its date format. Periods are calendar periods
(days, ISO weeks from Monday, months) labelled by their first day; a week or month the
period only partly covers is marked ``*`` and drawn hollow, not as a drop. Charts fill the
width they are given (a phone's too); their titles are the page's headings, outside them.
The builders reuse their charts for the same rows and arguments (:func:`reused`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec

import altair as alt
import pandas as pd

from nkdash.dashboards.sales import WEEKDAYS
from nkdash.dashboards.tables import column, header

if TYPE_CHECKING:
    from nkdash.dashboards.formats import Formats

HEIGHT = 260


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
    transformer is not registered) nothing changes. Called when this module is imported and
    for every chart (:func:`configured`): a process that imported it before marimo registered
    its transformers (a web worker warming up) inlines from its first chart.
    """
    if INLINE_TRANSFORMER in alt.data_transformers.names() and alt.data_transformers.active != INLINE_TRANSFORMER:
        alt.data_transformers.enable(INLINE_TRANSFORMER)


inline_chart_data()


# ----------------------------------------------------------------------------- reuse
REUSED = 128  # charts (and their specs) kept per process, least recently used first out
P = ParamSpec("P")


class _Reused:
    """The charts built lately, by builder and inputs, each with its spec once asked for.

    Every viewer of a page at the same filters gets the same rows (the engine's cache), so
    their charts are the same: built (altair) and serialised (its Vega-Lite JSON) once per
    process, not once per viewer. Charts are never changed after they are built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._charts: OrderedDict[tuple, Any] = OrderedDict()
        self._specs: OrderedDict[int, tuple[Any, str]] = OrderedDict()  # id(chart) -> (chart, spec)

    def chart(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._charts:
                self._charts.move_to_end(key)
                return self._charts[key]
        built = build()
        with self._lock:
            self._charts[key] = built
            while len(self._charts) > REUSED:
                self._charts.popitem(last=False)
        return built

    def spec(self, chart: Any) -> str:
        with self._lock:
            held = self._specs.get(id(chart))
            if held is not None and held[0] is chart:
                self._specs.move_to_end(id(chart))
                return held[1]
        text = _to_json(chart)
        with self._lock:
            self._specs[id(chart)] = (chart, text)
            while len(self._specs) > REUSED:
                self._specs.popitem(last=False)
        return text


_REUSED = _Reused()


def reused(builder: Callable[P, Any]) -> Callable[P, Any]:
    """``builder`` with its charts reused for the same inputs (frames compared by content)."""

    @functools.wraps(builder)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            key = (builder.__name__, _key(args), _key(tuple(sorted(kwargs.items()))))
        except TypeError:  # an input that cannot be compared by content: built each time
            return builder(*args, **kwargs)
        return _REUSED.chart(key, lambda: builder(*args, **kwargs))

    return wrapper


def spec(chart: Any) -> str:
    """The chart's Vega-Lite spec (JSON; rows inline), made once per chart object."""
    return _REUSED.spec(chart)


def _to_json(chart: Any) -> str:
    """The chart's spec as JSON a browser parses: a NaN or infinity (a scale's domain over no
    rows, say) becomes null."""
    try:
        return str(chart.to_json(validate=False, allow_nan=False, default=str))
    except ValueError:
        return json.dumps(_finite(chart.to_dict(validate=False)), default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _key(value: Any) -> Any:
    """``value`` as a hashable key: frames and series by columns, types and content."""
    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        content = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
        names = tuple(map(str, frame.columns)) + tuple(map(str, frame.dtypes)) + (str(frame.index.name),)
        return (type(value).__name__, names, hashlib.blake2b(content, digest_size=16).digest())
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_key, value))
    hash(value)  # TypeError for anything else that cannot be a key
    return value


# ----------------------------------------------------------------------------- formats
def d3_format(name: str, tooltip: bool = False) -> str:
    """The d3 format of column ``name``: money with the currency (cents in tooltips only),
    percentages with one decimal, counts and quantities whole, other numbers one decimal."""
    kind = column(name).kind
    if kind == "money":
        return "$,.2f" if tooltip else "$,.0f"
    if kind == "ratio":
        return ".1%"
    if kind in ("count", "quantity"):
        return ",.0f" if not tooltip or kind == "count" else ",.2~f"
    return ",.1f"


def configured(chart: Any, fmt: Formats) -> Any:
    """``chart`` with the page's locale (separators, currency) and sized to its container."""
    inline_chart_data()  # again: this process may have imported this module before marimo registered it
    return chart.configure(locale=fmt.vega_locale(), autosize={"type": "fit-x", "contains": "padding"}).configure_view(
        strokeWidth=0
    )


def _tooltip(frame: pd.DataFrame, name: str, fmt: Formats) -> alt.Tooltip:
    if name == "label":
        return alt.Tooltip("label:N", title="Period")
    kind = column(name).kind
    if kind in ("text", "flag", "weekday", "hour") or not pd.api.types.is_numeric_dtype(frame[name]):
        return alt.Tooltip(f"{name}:N", title=header(name, fmt).split(" (")[0])
    return alt.Tooltip(f"{name}:Q", title=column(name).label, format=d3_format(name, tooltip=True))


def tooltips(frame: pd.DataFrame, names: list[str], fmt: Formats) -> list[alt.Tooltip]:
    return [_tooltip(frame, n, fmt) for n in dict.fromkeys(names) if n in frame.columns]


# ----------------------------------------------------------------------------- periods
GRAIN_TITLES = {"day": "Day", "week": "Week (from Monday)", "month": "Month"}


PARTIAL_NOTE = "* a week or month the period covers only in part: not comparable with a whole one"


def period_label(period: Any, grain: str, fmt: Formats, partial: bool = False) -> str:
    """A period as its axis tick: its first day (``29/03``), or its month (``Mar 2024``);
    ``*`` when the period only partly covers it."""
    stamp = pd.Timestamp(period)
    if grain == "month":
        text = f"{stamp:%b %Y}"
    elif grain == "week":
        text = fmt.day(stamp)
    else:
        text = f"{stamp:%a} {fmt.day(stamp)}"
    return text + ("*" if partial else "")


def with_labels(frame: pd.DataFrame, grain: str, fmt: Formats) -> pd.DataFrame:
    """``frame`` with ``label`` (:func:`period_label`) and ``order`` (its period's rank)."""
    partial = frame["partial"] if "partial" in frame else pd.Series(False, index=frame.index)
    out = frame.assign(
        label=[period_label(p, grain, fmt, bool(x)) for p, x in zip(frame["period"], partial)],
        partial=partial.astype(bool).astype(int),  # a number: charts carry their rows as CSV, where a bool is text
    )
    order = sorted(pd.unique(out["period"]))
    out["order"] = out["period"].map({p: i for i, p in enumerate(order)})
    return out


def _x(frame: pd.DataFrame, grain: str) -> alt.X:
    labels = list(dict.fromkeys(frame.sort_values("order")["label"]))
    return alt.X("label:O", title=GRAIN_TITLES[grain], sort=labels, axis=alt.Axis(labelAngle=-45, labelOverlap=True))


# ----------------------------------------------------------------------------- builders
@reused
def trend(
    frame: pd.DataFrame,
    y: str,
    fmt: Formats,
    grain: str = "day",
    color: str | None = None,
    overlay: pd.DataFrame | None = None,
) -> Any:
    """A line per ``color`` value (or one line) of ``y`` per period; partial periods hollow
    and dashed; ``overlay`` (the same measure of a comparison period, its ``series`` named)
    as a grey dashed line."""
    data = with_labels(frame, grain, fmt)
    x = _x(data, grain)
    y_axis = alt.Y(f"{y}:Q", title=header(y, fmt), axis=alt.Axis(format=d3_format(y)))
    tips = tooltips(data, ["label", color or "", y, "revenue", "orders", "margin", "partial"], fmt)
    colour = alt.Color(f"{color}:N", title=column(color).label) if color else alt.value("#1f77b4")
    base = alt.Chart(data).encode(x=x, y=y_axis, color=colour)
    dashed = base.mark_line(strokeDash=[4, 3], opacity=0.7)
    solid = base.transform_filter("datum.partial == 0").mark_line()
    points = base.mark_point(size=45).encode(
        fill=alt.condition("datum.partial == 1", alt.value("white"), colour if color else alt.value("#1f77b4")),
        tooltip=tips,
    )
    layers = [dashed, solid, points]
    if overlay is not None and len(overlay):
        other = with_labels(overlay, grain, fmt).assign(label=lambda d: d["label"].str.rstrip("*"))
        labels = dict(zip(data["period"], data["label"]))
        other["label"] = other["period"].map(labels)
        other = other[other["label"].notna()]
        layers.insert(
            0,
            alt.Chart(other)
            .mark_line(strokeDash=[2, 2], color="#999999")
            .encode(x=x, y=alt.Y(f"{y}:Q"), tooltip=tooltips(other, ["series", y], fmt)),
        )
    return configured(alt.layer(*layers).properties(width="container", height=HEIGHT), fmt)


@reused
def bars(
    frame: pd.DataFrame,
    x: str,
    y: str,
    fmt: Formats,
    color: str | None = None,
    tooltip: list[str] | None = None,
    labels: bool = True,
) -> Any:
    """Horizontal bars of ``x`` per ``y`` (a label column), largest first, each with its value."""
    height = max(90, min(24 * len(frame), 560))
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{y}:N", title=None, sort="-x", axis=alt.Axis(labelLimit=160)),
        x=alt.X(f"{x}:Q", title=header(x, fmt), axis=alt.Axis(format=d3_format(x), tickCount=4), scale=_room(frame[x])),
        tooltip=tooltips(frame, [y, *(tooltip or [x])], fmt),
    )
    chart = base.mark_bar()
    if color:
        chart = chart.encode(
            color=alt.Color(f"{color}:N", title=column(color).label, legend=alt.Legend(orient="bottom"))
        )
    layers = [chart]
    if labels:
        layers.append(
            base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text(f"{x}:Q", format=d3_format(x)))
        )
    return configured(alt.layer(*layers).properties(width="container", height=height), fmt)


def _room(values: pd.Series) -> alt.Scale:
    """An x scale with room beyond the longest bar for its value label."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if not len(numbers):
        return alt.Scale()
    low, high = min(0.0, float(numbers.min())), max(0.0, float(numbers.max()))
    span = (high - low) or 1.0
    return alt.Scale(domain=[low - (0.25 * span if low < 0 else 0), high + 0.25 * span], nice=False)


@reused
def ranked(frame: pd.DataFrame, x: str, y: str, fmt: Formats, rank: str) -> Any:
    """The ``rank`` ('top' or 'bottom') rows of a ranking as bars on their own scale (the
    bottom of a ranking is not drawn on the top's axis, where it would vanish)."""
    part = frame[frame["rank"] == rank]
    part = part.assign(label=[f"{p}. {name}" for p, name in zip(part["position"], part[y])])
    height = max(90, min(24 * len(part), 560))
    order = list(part.sort_values("position")["label"])
    base = alt.Chart(part).encode(
        y=alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelLimit=200)),
        x=alt.X(f"{x}:Q", title=header(x, fmt), axis=alt.Axis(format=d3_format(x), tickCount=4), scale=_room(part[x])),
        tooltip=tooltips(part, [y, x, "revenue", "margin", "margin_pct", "units"], fmt),
    )
    colour = "#2a9d8f" if rank == "top" else "#e76f51"
    layers = [
        base.mark_bar(color=colour),
        base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text(f"{x}:Q", format=d3_format(x))),
    ]
    return configured(alt.layer(*layers).properties(width="container", height=height), fmt)


@reused
def margin_map(frame: pd.DataFrame, name: str, fmt: Formats, labelled: int = 8) -> Any:
    """Revenue (x) against margin % (y) per ``name``, the ``labelled`` biggest sellers named:
    big sellers with thin margins stand out."""
    data = frame.assign(tag=["" for _ in range(len(frame))])
    top = data["revenue"].rank(ascending=False, method="first") <= labelled
    data.loc[top, "tag"] = data.loc[top, name].astype(str).str.split(" / ").str[-1]
    base = alt.Chart(data).encode(
        x=alt.X("revenue:Q", title=header("revenue", fmt), axis=alt.Axis(format=d3_format("revenue"), tickCount=4)),
        y=alt.Y("margin_pct:Q", title="Margin %", axis=alt.Axis(format=".0%")),
    )
    points = base.mark_circle(opacity=0.75).encode(
        size=alt.Size("margin:Q", legend=None),
        color=alt.Color("department:N", title="Department", legend=alt.Legend(orient="bottom", columns=2))
        if "department" in data
        else alt.value("#1f77b4"),
        tooltip=tooltips(data, [name, "department", "revenue", "margin", "margin_pct", "units"], fmt),
    )
    text = base.mark_text(align="left", dx=7, fontSize=10).encode(text="tag:N")
    return configured(alt.layer(points, text).properties(width="container", height=HEIGHT + 40), fmt)


@reused
def heatmap(by_hour: pd.DataFrame, fmt: Formats, measure: str = "revenue_per_day") -> Any:
    """Weekdays (rows) by hours of the day (columns): the average ``measure`` of that hour on
    that weekday; hours with no sale on any day are left out."""
    data = by_hour[by_hour["hour"].notna()].copy()
    data["day"] = [WEEKDAYS[int(w)] for w in data["weekday"]]
    data["time"] = [fmt.hour(int(h)) for h in data["hour"]]
    hours = [fmt.hour(h) for h in range(24) if h in set(data["hour"].astype(int))]
    chart = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("time:O", title="Hour of the day", sort=hours, axis=alt.Axis(labelAngle=-45, labelOverlap=True)),
            y=alt.Y("day:O", title=None, sort=list(WEEKDAYS)),
            color=alt.Color(
                f"{measure}:Q",
                title=header(measure, fmt),
                scale=alt.Scale(scheme="blues"),
                legend=alt.Legend(format=d3_format(measure), orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("day:N", title="Weekday"),
                alt.Tooltip("time:N", title="Hour"),
                *tooltips(data, [measure, "orders_per_day", "days"], fmt),
            ],
        )
        .properties(width="container", height=220)
    )
    return configured(chart, fmt)


@reused
def moves(frame: pd.DataFrame, fmt: Formats, measure: str = "qty", grain: str = "day") -> Any:
    """Stock moves per period: in above zero, out below, coloured by kind."""
    data = with_labels(frame, grain, fmt) if len(frame) else frame.assign(label=[], order=[], partial=[])
    data = data.assign(signed=data[measure].where(data["direction"] == "in", -data[measure]))
    title = f"{header(measure, fmt)}: in (+) / out (−)"
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=_x(data, grain),
            y=alt.Y("signed:Q", title=title, axis=alt.Axis(format=d3_format(measure))),
            color=alt.Color("kind:N", title="Kind of move", legend=alt.Legend(orient="bottom", columns=4)),
            tooltip=tooltips(data, ["label", "kind", "direction", measure, "moves"], fmt),
        )
        .properties(width="container", height=HEIGHT)
    )
    return configured(chart, fmt)


@reused
def fulfilment(frame: pd.DataFrame, fmt: Formats, grain: str = "week", measure: str = "value") -> Any:
    """Ordered vs received vs invoiced per period, side by side (``measure``: value or qty)."""
    data = with_labels(frame, grain, fmt)
    title = header("ordered_value", fmt).replace("Ordered", "Value") if measure == "value" else "Quantity"
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=_x(data, grain),
            xOffset=alt.XOffset("stage:N", sort=STAGE_ORDER),
            y=alt.Y(
                f"{measure}:Q", title=title, axis=alt.Axis(format=d3_format("spend" if measure == "value" else "qty"))
            ),
            color=alt.Color("stage:N", title="Stage", sort=STAGE_ORDER, legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("label:N", title="Period"),
                alt.Tooltip("stage:N", title="Stage"),
                alt.Tooltip(f"{measure}:Q", title=title, format="$,.2f" if measure == "value" else ",.0f"),
            ],
        )
        .properties(width="container", height=HEIGHT)
    )
    return configured(chart, fmt)
