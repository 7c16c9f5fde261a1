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

import marimo as mo

from nkdash.dashboards import filters as dashboards_filters
from nkdash.dashboards import options as dashboards_options
from nkdash.dashboards import status
from nkdash.dashboards.engine import Dashboard
from nkdash.dashboards.filters import Filters, Grain
from nkdash.errors import LakeError
from nkdash.etl.datasets.base import DatasetName

log = logging.getLogger(__name__)


PageName = Literal["sales", "profit", "inventory", "purchases"]


SIDEBAR_WIDTH = "19rem"


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


def freshness(db: Dashboard, page: Page, f: Filters) -> Any:
    """The freshness line of ``page``'s datasets for ``f``, as a callout."""
    badge = status.freshness_badge(db, page.datasets, f)
    return mo.callout(mo.md(badge.text), kind=badge.kind)


def empty_state(db: Dashboard, page: Page, f: Filters) -> Any | None:
    """None if ``page`` has data for ``f``; else the warning to show instead: no data (and
    what the lake holds), or which partitions are damaged."""
    if page.has_data(db, f):
        return None
    return mo.callout(mo.md(status.no_data(db, page.what, f, page.table)), kind="warn")
