"""What every page says about its data: loaded, damaged, fresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nkdash import dates as cal
from nkdash.dashboards.inventory import (
    inventory_summary,
    slow_movers,
    stock_date,
    stock_levels,
    stock_moves,
    stock_outs,
)
from nkdash.dashboards.labels import category_tree, company, currencies, product_labels, stores, warehouse_names
from nkdash.dashboards.options import business_today, date_bounds
from nkdash.dashboards.profit import profit_by
from nkdash.dashboards.purchases import (
    open_purchases,
    purchase_fulfilment,
    purchases_by,
    purchases_summary,
    vendor_performance,
)
from nkdash.dashboards.sales import (
    sales_by_channel,
    sales_by_hour,
    sales_by_store,
    sales_discounts,
    sales_summary,
    sales_trend,
)
from nkdash.dashboards.stock import abc_classes, on_order, sell_through, stock_cover
from nkdash.errors import MetadataError
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.lake import WHOLE, Problem

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard, Query
    from nkdash.dashboards.filters import Filters
    from nkdash.dashboards.formats import Formats
    from nkdash.etl.datasets.base import DatasetName


def has_sales(db: Dashboard, f: Filters) -> bool:
    """Sales exist for ``f``; False if a file the sales and profit dashboards read is damaged
    (then :func:`no_data` names it)."""
    return _readable(db, f, "sales") and bool(sales_summary(db, f)["lines"].iloc[0] > 0)


def damaged(db: Dashboard, f: Filters, queries: Sequence[Query[...]]) -> list[Problem]:
    """The files ``queries`` read for ``f`` or the period before it whose parquet footer
    cannot be read (truncated, zeroed, not parquet). Cheap: a listing, and each file version
    opened once per :class:`Dashboard`."""
    windows: dict[str, tuple[dt.date | None, dt.date | None]] = {}
    for reads in (q.reads for q in queries):
        first, last = f.previous().start - dt.timedelta(days=reads.before), f.end + dt.timedelta(days=reads.after)
        for table in reads.tables:
            if table in WHOLE:
                windows[table] = (None, None)
                continue
            lo, hi = windows.get(table, (first, last))
            windows[table] = (min(lo or first, first), max(hi or last, last))  # lo, hi: dates here
    files = [file for table, (lo, hi) in windows.items() for file in db.listing.data_files(table, lo, hi)]
    return [
        Problem(
            file.table,
            file.dates[0] if len(file.dates) == 1 and not file.compacted else None,
            file.path,
            "unreadable",
            detail,
            () if len(file.dates) == 1 else file.dates,
        )
        for file in files
        if (detail := db.unreadable(file.path))
    ]


def _readable(db: Dashboard, f: Filters, dashboard: str) -> bool:
    """No file the ``dashboard``'s queries read for ``f`` is damaged; else False, with the
    damage noted for :func:`no_data`: the page shows a warning instead of failing."""
    problems = damaged(db, f, DASHBOARD_QUERIES[dashboard])
    if problems:
        db.damage[f] = problems
    else:
        db.damage.pop(f, None)
    return not problems


def no_data(db: Dashboard, what: str, f: Filters, table: str = "agg_profit_daily", fmt: Formats | None = None) -> str:
    """The empty-state message: what is missing, and what the lake does hold; or which
    partitions are damaged (found by the ``has_*`` check just before). ``fmt``: the page's
    date format (default ISO dates)."""
    day = fmt.date if fmt is not None else str
    problems = db.damage.get(f)
    if problems:
        shown = ", ".join(" ".join(map(str, filter(None, (p.table, p.date)))) + f" ({p.kind})" for p in problems[:5])
        return (
            f"**Damaged data: {what} for {f.describe()} cannot be shown.** {len(problems)} partition(s) "
            f"cannot be read: {shown}{' ...' if len(problems) > 5 else ''}.\n\nAn operator repairs them on "
            "the Recovery page (quarantine and rebuild); meanwhile pick a period without them."
        )
    bounds = date_bounds(db, table)
    held = (
        f"The lake holds {what} from **{day(bounds[0])}** to **{day(bounds[1])}**: pick a period in it"
        + (" or clear the store and category filters." if f.stores or f.categories else ".")
        if bounds
        else "Nothing is loaded yet: an operator loads data from the Operations page."
    )
    period = (
        f.describe()
        if fmt is None
        else f"{fmt.span(f.start, f.end)}"
        + (" with these store and category filters" if f.stores or f.categories else "")
    )
    return f"**No {what}** for {period}.\n\n{held}"


def has_inventory(db: Dashboard, f: Filters) -> bool:
    """Stock levels or stock moves exist for ``f``."""
    return _readable(db, f, "inventory") and (stock_date(db, f) is not None or not stock_moves(db, f, "month").empty)


def has_purchases(db: Dashboard, f: Filters) -> bool:
    return _readable(db, f, "purchases") and not purchases_by(db, f, "vendor").empty


# The queries each dashboard runs (its has_* check looks at every file they read).
PAGE_DIMENSIONS: tuple[Query[...], ...] = (
    category_tree,
    stores,
    company,
    currencies,
)  # every page's sidebar and formats


DASHBOARD_QUERIES: dict[str, tuple[Query[...], ...]] = {
    "sales": (
        sales_summary,
        sales_trend,
        sales_by_store,
        sales_by_channel,
        sales_discounts,
        sales_by_hour,
        profit_by,
        *PAGE_DIMENSIONS,
        product_labels,
    ),
    "inventory": (
        inventory_summary,
        stock_levels,
        stock_moves,
        slow_movers,
        stock_outs,
        on_order,
        stock_cover,
        abc_classes,
        sell_through,
        *PAGE_DIMENSIONS,
        product_labels,
        warehouse_names,
    ),
    "purchases": (
        purchases_summary,
        purchases_by,
        purchase_fulfilment,
        open_purchases,
        vendor_performance,
        *PAGE_DIMENSIONS,
    ),
}


CalloutKind = Literal["neutral", "warn", "success", "info", "danger"]  # marimo's mo.callout kinds


FRESHNESS_KINDS: dict[str, CalloutKind] = {"ok": "success", "late": "warn", "critical": "danger"}


@dataclass(frozen=True)
class Badge:
    """What a dashboard shows about the freshness of its data.

    ``kind`` is a ``mo.callout`` kind (success, warn, danger); ``text`` one markdown line.
    """

    status: str
    kind: CalloutKind
    text: str
    last_loaded: dt.date | None
    missing_in_period: tuple[dt.date, ...]
    archived_before: dt.date | None = None  # dates before it were moved to the archive


def freshness_badge(
    db: Dashboard,
    datasets: Sequence[DatasetName],
    f: Filters | None = None,
    today: dt.date | None = None,
    fmt: Formats | None = None,
) -> Badge:
    """The freshness of the ``datasets`` a dashboard reads (the least fresh one speaks).

    Uses the metadata store (last loaded date, failed dates, SLA status: yesterday loaded
    is on target, more than 3 days behind is critical); without one, the lake's listing.
    ``missing_in_period``: dates of ``f``'s range with no data for some dataset. ``fmt``:
    the page's date format (default ``Thu 03 Dec 2026`` and ISO spans).
    """
    today = today or business_today()
    rows = _freshness(db, datasets, today)
    worst = max(rows, key=lambda r: (_RANK[r["status"]], 10**6 if r["lag"] is None else r["lag"]))
    last = worst["last"]
    if last is None:
        return Badge(
            worst["status"], FRESHNESS_KINDS[worst["status"]], f"**No data loaded yet** for {worst['title']}.", None, ()
        )
    missing = tuple(sorted({d for r in rows for d in r["missing"] if f and f.start <= d <= f.end}))
    failed = sorted({d for r in rows for d in r["failed"]})
    shown = fmt.date(last) if fmt is not None else f"{last:%a %d %b %Y}"
    text = f"Data up to **{shown}** ({_ago((today - last).days)}) — {SLA_TEXT[worst['status']]}."
    if missing:
        text += f" {len(missing)} date(s) of this period not loaded: {_spans(missing, fmt)}."
    if failed:
        text += f" {len(failed)} failed load(s): {_spans(failed, fmt)}."
    archived = max((r["archived"] for r in rows if r.get("archived")), default=None)
    if archived:
        when = fmt.date(archived) if fmt is not None else f"{archived:%d %b %Y}"
        text += f" Dates before **{when}** are archived: not shown here."
    return Badge(worst["status"], FRESHNESS_KINDS[worst["status"]], text, last, missing, archived)


SLA_TEXT = {"ok": "on target", "late": "late", "critical": "critical: more than 3 days behind"}


_RANK = {"ok": 0, "late": 1, "critical": 2}


def _freshness(db: Dashboard, datasets: Sequence[DatasetName], today: dt.date) -> list[dict[str, Any]]:
    meta = db.meta
    if meta is not None:
        try:
            return [
                {
                    "title": REGISTRY[name].title,
                    "status": r.status,
                    "last": r.last_loaded,
                    "lag": r.lag_days,
                    "missing": r.missing,
                    "failed": r.failed,
                    "archived": meta.archived_before(name),
                }
                for name, r in zip(datasets, meta.freshness(list(datasets), today))  # one each, in order
            ]
        except MetadataError:  # damaged since it was opened: the lake's files tell instead
            pass
    rows = []
    for name in datasets:
        on_disk = set.intersection(*(set(db.lake.partitions(t)) for t in REGISTRY[name].table_names))
        last = max(on_disk, default=None)
        first = min(on_disk, default=today - dt.timedelta(days=1))
        lag = (today - last).days if last else None
        status = "critical" if lag is None or lag > 3 else "late" if lag >= 2 else "ok"
        missing = [d for d in cal.days(first, today - dt.timedelta(days=1)) if d not in on_disk]
        rows.append(
            {
                "title": REGISTRY[name].title,
                "status": status,
                "last": last,
                "lag": lag,
                "missing": missing,
                "failed": [],
            }
        )
    return rows


def _spans(dates: Sequence[dt.date], fmt: Formats | None) -> str:
    if fmt is None:
        return cal.format_spans(dates)
    return ", ".join(fmt.span(a, b) for a, b in cal.spans(dates))


def _ago(days: int) -> str:
    return {0: "today", 1: "yesterday"}.get(days, f"{days} days ago")
