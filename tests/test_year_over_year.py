"""Year over year on the demo company: the last-year figures and changes on the sales cards
equal a computation by hand (pandas on the lake's files), like-for-like included.

The demo company (tiny, Odoo 17) is generated with more than a year of history: its station
night shop opened 300 days before the last day, so a week now has a store that did not exist
the same week last year, which like-for-like must leave out. Loading a year of every day
would take minutes, and the comparison reads only the two weeks: the lake holds the week
ending on the last day and the same week 52 weeks earlier (POS, invoices, profit), loaded
from the demo Odoo like any date.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nkdash import dashboards as d
from nkdash import dates as cal
from nkdash.dashboards import Filters, cards
from nkdash.demo import start_demo
from nkdash.demo.generate import DemoConfig
from nkdash.etl import refresh
from nkdash.settings import Secret, Settings
from tests.support.dashboards import read
from tests.support.demo import END, TZ

WEEK = Filters(END - dt.timedelta(days=6), END)
LAST_YEAR = Filters(WEEK.start - dt.timedelta(days=364), WEEK.end - dt.timedelta(days=364))


@pytest.fixture(scope="module")
def two_years(tmp_path_factory) -> d.Dashboard:
    config = DemoConfig(version=17, seed=42, scale="tiny", days=380, end=END, tz=TZ)
    server = start_demo(config)
    try:
        settings = Settings(
            odoo_url=server.url,
            odoo_db=config.db_name,
            odoo_user=config.login,
            odoo_password=Secret(config.password),
            lake=tmp_path_factory.mktemp("two-years") / "lake",
            tz=TZ,
        )
        dates = [*cal.days(LAST_YEAR.start, LAST_YEAR.end), *cal.days(WEEK.start, WEEK.end)]
        for name in ("pos", "invoices", "profit"):
            assert refresh(name, dates, settings=settings, progress=False).ok
    finally:
        server.stop()
    return d.Dashboard(settings.lake, meta=None)


def by_store(lines: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """Per store (invoices: -1), by hand: revenue, orders, refunds' value, units, margin, order revenue."""
    lines = lines[(lines["date"] >= pd.Timestamp(f.start)) & (lines["date"] <= pd.Timestamp(f.end))]
    lines = lines.assign(store=lines["store_id"].fillna(-1).astype(int))
    orders = lines.groupby(["store", "channel", "order_ref"])["revenue"].sum().reset_index()
    per_order = (
        orders.assign(order=orders["revenue"] > 0, positive=orders["revenue"].where(orders["revenue"] > 0, 0.0))
        .groupby("store")[["order", "positive"]]
        .sum()
    )
    sums = lines.groupby("store")[["revenue", "qty", "margin", "discount"]].sum()
    return sums.join(per_order).rename(columns={"order": "orders", "positive": "order_revenue", "qty": "units"})


def test_year_over_year_cards_equal_a_hand_computation_like_for_like(two_years):
    lines = read(two_years.lake.root, "fact_sales")
    now, before = by_store(lines, WEEK), by_store(lines, LAST_YEAR)
    kept = sorted(set(now.index[now["revenue"] > 0]) & set(before.index[before["revenue"] > 0]))
    names = dict(zip(d.stores(two_years)["id"], d.stores(two_years)["name"]))
    left_out = sorted((set(now.index) | set(before.index)) - set(kept))
    assert left_out, "the night shop opened 300 days ago: it did not sell last year"

    found = d.sales_comparison(two_years, WEEK)
    assert found.coverage["last_year"].full and found.like_for_like is not None
    assert found.like_for_like.left_out == tuple(sorted(names[k] for k in left_out))
    kpis = found.kpis.set_index("metric")
    a, b = now.loc[kept].sum(), before.loc[kept].sum()
    expected = {
        "revenue": (b["revenue"], a["revenue"] / b["revenue"] - 1),
        "orders": (b["orders"], a["orders"] / b["orders"] - 1),
        "basket": (
            b["order_revenue"] / b["orders"],
            (a["order_revenue"] / a["orders"]) / (b["order_revenue"] / b["orders"]) - 1,
        ),
        "units": (b["units"], a["units"] / b["units"] - 1),
        "margin": (b["margin"], a["margin"] / b["margin"] - 1),
        "margin_pct": (b["margin"] / b["revenue"], a["margin"] / a["revenue"] - b["margin"] / b["revenue"]),
    }
    for metric, (last_year, change) in expected.items():
        assert kpis.loc[metric, "last_year"] == pytest.approx(last_year, rel=1e-6, abs=0.01), metric
        assert kpis.loc[metric, "last_year_change"] == pytest.approx(change, rel=1e-6, abs=1e-6), metric
    assert kpis.loc["revenue", "current"] == pytest.approx(now["revenue"].sum(), abs=0.01)  # the card: every store

    fmt = d.page_formats(two_years)
    shown = {c["label"]: c for c in cards.kpi_cards(found, fmt)}
    assert shown["Revenue"]["lines"][1] == f"{fmt.change(expected['revenue'][1])} vs last year (like-for-like)"
    assert shown["Margin %"]["lines"][1] == f"{fmt.points(expected['margin_pct'][1])} vs last year (like-for-like)"
    assert shown["Revenue"]["lines"][0] == "previous period not loaded"
