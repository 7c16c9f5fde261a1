"""What the four dashboards share around their content: one :class:`Page` spec each, the
sidebar controls, the :class:`~nkdash.dashboards.Filters` they make, the freshness line
and the empty state.

A dashboard notebook reads::

    picker, grain, _sidebar = controls.sidebar(db, page, *extra)   # a cell builds and shows them
    _sidebar

    requested = controls.filters(picker)                          # another reads their values
    controls.freshness(db, page, requested)

    _empty = controls.empty_state(db, page, requested)            # a third stops an empty page
    mo.stop(_empty is not None, _empty)
    filters = requested

marimo reacts to UI elements bound to a cell's globals, not to elements inside a tuple:
unpack :func:`sidebar`'s result into names. The period, store and category pickers are one
``mo.ui.dictionary`` (all three only ever make one ``Filters``); the granularity is its own
element, so switching it reruns the charts that use it, not the data checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import altair as alt
import marimo as mo

from nkdash.dashboards import cards, charts, status
from nkdash.dashboards import filters as dashboards_filters
from nkdash.dashboards import options as dashboards_options
from nkdash.dashboards.audience import Audience, audience_of
from nkdash.dashboards.compare import Comparison
from nkdash.dashboards.engine import Dashboard
from nkdash.dashboards.filters import Filters, Grain
from nkdash.dashboards.formats import Formats
from nkdash.errors import LakeError
from nkdash.etl.datasets.base import DatasetName

log = logging.getLogger(__name__)


PageName = Literal["sales", "profit", "inventory", "purchases"]


SIDEBAR_WIDTH = "21rem"


@dataclass(frozen=True)
class Page:
    """One dashboard: its title, the table whose dates the period picker offers (and the
    empty state names), the datasets its freshness line watches, what its data is called
    and how to tell there is some for a ``Filters``, and the granularity it starts with."""

    title: str
    table: str
    datasets: tuple[DatasetName, ...]
    what: str
    has_data: Callable[[Dashboard, Filters], bool]
    grain: Grain = "day"


PAGES: dict[PageName, Page] = {
    "sales": Page("Sales", "agg_profit_daily", ("profit",), "sales", status.has_sales),
    "profit": Page("Profit", "agg_profit_daily", ("profit",), "sales", status.has_sales),
    "inventory": Page(
        "Inventory", "fact_stock_quants", ("stock-quants", "inventory"), "stock data", status.has_inventory
    ),
    "purchases": Page("Purchases", "fact_purchases", ("purchases",), "purchases", status.has_purchases, "week"),
}


@dataclass(frozen=True)
class Choice:
    """A multiselect of ids from a dimension (none picked = all)."""

    label: str
    table: str
    options: Callable[[Dashboard], dict[str, int]]


CHOICES: dict[str, Choice] = {
    "stores": Choice("Stores", "dim_store", dashboards_options.store_options),
    "categories": Choice("Categories", "dim_category", dashboards_options.category_options),
}


class Sidebar(NamedTuple):
    """What :func:`sidebar` builds: bind ``picker`` and ``grain`` to names, show ``view``."""

    picker: Any  # mo.ui.dictionary of period, stores, categories: read it with filters()
    grain: Any  # mo.ui.radio of dashboards.GRAINS
    view: Any  # the mo.sidebar: title, damage warnings, the controls, then the page's own


def sidebar(db: Dashboard, page: Page, *extra: Any) -> Sidebar:
    """The page's sidebar: period (over the dates ``page.table`` holds; by default its last
    :data:`~nkdash.dashboards.DEFAULT_DAYS`), stores and categories (none = all),
    granularity, then the page's own ``extra`` controls.

    A store or category list that cannot be read (a damaged dimension file) leaves that
    picker empty and puts a 'Damaged data' warning in the sidebar: the page still renders."""
    bounds = dashboards_options.date_bounds(db, page.table)  # read once: the picker's range and its default agree
    first, last = dashboards_options.selectable_range(db, page.table, bounds=bounds)
    elements = {
        "period": mo.ui.date_range(
            start=first,
            stop=last,
            value=dashboards_options.default_period(db, page.table, bounds=bounds),
            label="Period",
        )
    }
    warnings: list[Any] = []
    for key, choice in CHOICES.items():
        elements[key], damage = _multiselect(db, choice)
        warnings += damage
    picker = mo.ui.dictionary(elements)
    grain = mo.ui.radio(list(dashboards_filters.GRAINS), value=page.grain, inline=True, label="Granularity")
    view = mo.sidebar([mo.md(f"## {page.title}"), *warnings, *picker.values(), grain, *extra], width=SIDEBAR_WIDTH)
    return Sidebar(picker, grain, view)


def _multiselect(db: Dashboard, choice: Choice) -> tuple[Any, list[Any]]:
    """The multiselect of ``choice``, no warning; or, if its dimension cannot be read, an
    empty one and a warning."""
    try:
        return mo.ui.multiselect(choice.options(db), label=choice.label), []
    except LakeError as exc:
        log.warning("the %s filter has no options: %s", choice.label, exc)
        warning = mo.callout(
            mo.md(
                f"**Damaged data: `{choice.table}` cannot be read.** The {choice.label} filter offers no choice until "
                "an operator repairs it on the Recovery page (quarantine and rebuild)."
            ),
            kind="warn",
        )
        return mo.ui.multiselect({}, label=choice.label), [warning]


def filters(picker: Any) -> Filters:
    """The :class:`Filters` of :func:`sidebar`'s picker (its ``value``); a bad value raises
    :class:`~nkdash.errors.InputError`."""
    value = picker.value
    return Filters.of(value["period"], value["stores"], value["categories"])


def freshness(db: Dashboard, page: Page, f: Filters, fmt: Formats | None = None) -> Any:
    """The freshness line of ``page``'s datasets for ``f``, as a callout."""
    badge = status.freshness_badge(db, page.datasets, f, fmt=fmt)
    return mo.callout(mo.md(badge.text), kind=badge.kind)


def empty_state(db: Dashboard, page: Page, f: Filters, fmt: Formats | None = None) -> Any | None:
    """None if ``page`` has data for ``f``; else the warning to show instead: no data (and
    what the lake holds), or which partitions are damaged."""
    if page.has_data(db, f):
        return None
    return mo.callout(mo.md(status.no_data(db, page.what, f, page.table, fmt)), kind="warn")


def audience() -> Audience:
    """Who this page is made for: the role ``nkdash serve``'s gate put on the request that
    opened the session (``mo.app_meta().request.user``; see :mod:`nkdash.dashboards.audience`).
    No request at all (a script, ``marimo export``): a local user, the operator."""
    request = mo.app_meta().request
    if request is None:
        return audience_of(None)
    user = request.user
    return audience_of(user if isinstance(user, dict) else {})


def describe(db: Dashboard, f: Filters, fmt: Formats) -> str:
    """``f`` for a heading: its dates in the page's format and length, the stores by name
    (up to three) and the categories by name."""
    parts = [f"{fmt.span(f.start, f.end)} ({f.days} day{'s' if f.days > 1 else ''})"]
    names = {v: k for k, v in _options(db, dashboards_options.store_options).items()}
    cats = {v: k for k, v in _options(db, dashboards_options.category_options).items()}
    parts.append(_names([names.get(s, f"store {s}") for s in f.stores]) if f.stores else "all stores")
    parts.append(_names([cats.get(c, f"category {c}") for c in f.categories]) if f.categories else "all categories")
    return " · ".join(parts)


def _options(db: Dashboard, options: Callable[[Dashboard], dict[str, int]]) -> dict[str, int]:
    try:
        return options(db)
    except LakeError:
        return {}


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def comparison_notes(comparison: Comparison, fmt: Formats, who: Audience) -> Any:
    """What the page's comparisons lack (periods not loaded, stores left out), as a callout;
    None when there is nothing to say."""
    text = cards.coverage_notes(comparison, fmt, operator=who.role == "operator")
    if not text:
        return None
    missing = any(not c.full for c in comparison.coverage.values())
    return mo.callout(mo.md(text), kind="info" if not missing else "neutral")


def kpis(comparison: Comparison, fmt: Formats, who: Audience) -> Any:
    """The page's KPI cards (what ``who`` may see), their comparison notes and definitions."""
    shown = comparison.shown(who)
    stats = grid([mo.Html(cards.card_html(card)) for card in cards.kpi_cards(shown, fmt)])
    notes = comparison_notes(shown, fmt, who)
    definitions = mo.accordion({"What these figures mean": mo.md(cards.definitions(shown))})
    return mo.vstack([stats, *([notes] if notes is not None else []), definitions], gap=0.5)


def grid(items: list[Any], width: str = "10.5rem") -> Any:
    """Cards in as many columns of at least ``width`` as the screen holds (two on a phone)."""
    cells = "".join(f"<div style='min-width:0'>{mo.as_html(i).text}</div>" for i in items)
    return mo.Html(
        f"<div style='display:grid;grid-template-columns:repeat(auto-fill,minmax({width},1fr));gap:0.5rem'>{cells}</div>"
    )


def row(*items: Any) -> Any:
    """Items side by side on a wide screen, one under the other on a phone (they wrap)."""
    return mo.Html(
        '<div style="display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start">'
        + "".join(f'<div style="flex:1 1 22rem;min-width:0;max-width:100%">{mo.as_html(i).text}</div>' for i in items)
        + "</div>"
    )


@dataclass(frozen=True)
class VegaLite:
    """A chart as a cell shows it: its Vega-Lite spec, which marimo's front end draws (with
    vega-embed, as for ``mo.ui.altair_chart``). The dashboards' charts select nothing, so no
    marimo UI element is made: that copied and serialised every chart again for every viewer
    (a third of a page's CPU per viewer), where the spec is made once per chart."""

    spec: str

    def _mime_(self) -> tuple[str, str]:
        return VEGA_LITE_MIME, self.spec


VEGA_LITE_MIME = f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"


def chart(built: Any) -> VegaLite:
    """An altair chart as the page shows it (no selection)."""
    return VegaLite(charts.spec(built))


def section(title: str, definition: str = "") -> Any:
    """A section heading, with its one-sentence definition under it."""
    return mo.md(f"### {title}" + (f"\n<small>{definition}</small>" if definition else ""))
