"""Cost and margin visibility: what a viewer's page gets from the library when the operator
hides cost from viewers (``NKDASH_VIEWER_SEES_COST=false``), and where the role comes from
(the gate's scope, as marimo hands it to the notebook)."""

from __future__ import annotations

import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Filters
from nkdash.dashboards.audience import COST_COLUMNS, OPERATOR, Audience, audience_of
from nkdash.settings import Settings
from nkdash.web.auth import User
from nkdash.web.gate import notebook_user
from tests.support.demo import DATES

F = Filters(DATES[0], DATES[-1])
VIEWER = Audience("viewer", sees_cost=False)

ANSWERS = {  # every answer the four pages ask for
    "sales_summary": lambda db: d.sales_summary(db, F),
    "sales_trend": lambda db: d.sales_trend(db, F, "week", "store"),
    "sales_by_store": lambda db: d.sales_by_store(db, F),
    "sales_by_channel": lambda db: d.sales_by_channel(db, F),
    "top_products": lambda db: d.top_products(db, F, 5, "revenue"),
    "profit_by": lambda db: d.profit_by(db, F, "product"),
    "stock_levels": lambda db: d.stock_levels(db, F, "location"),
    "stock_cover": lambda db: d.stock_cover(db, F),
    "slow_movers": lambda db: d.slow_movers(db, F),
    "abc_classes": lambda db: d.abc_classes(db, F),
    "abc_summary": lambda db: d.abc_summary(d.abc_classes(db, F)),
    "stock_moves": lambda db: d.stock_moves(db, F),
    "inventory_summary": lambda db: d.inventory_summary(db, F),
    "purchases_by": lambda db: d.purchases_by(db, F, "vendor"),
    "purchases_summary": lambda db: d.purchases_summary(db, F),
    "open_purchases": lambda db: d.open_purchases(db, F),
    "purchase_fulfilment": lambda db: d.purchase_fulfilment(db, F),
}

COMPARISONS = {
    "sales": lambda db: d.sales_comparison(db, F),
    "profit": lambda db: d.profit_comparison(db, F),
    "inventory": lambda db: d.inventory_comparison(db, F),
    "purchases": lambda db: d.purchases_comparison(db, F),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_a_viewers_answers_hold_no_cost_or_margin(db, name):
    answer = ANSWERS[name](db)
    shown = VIEWER.shown(answer)
    assert not set(shown.columns) & COST_COLUMNS
    assert len(shown) == len(answer)  # the rest is all there
    assert OPERATOR.shown(answer) is answer


@pytest.mark.parametrize("page", COMPARISONS)
def test_a_viewers_kpis_hold_no_cost_or_margin(db, page):
    kpis = COMPARISONS[page](db).shown(VIEWER).kpis
    assert not set(kpis["metric"]) & COST_COLUMNS and not set(kpis.columns) & COST_COLUMNS


def test_the_role_comes_from_the_gate_and_the_setting():
    hidden, shown = Settings(viewer_sees_cost=False), Settings()
    assert audience_of(notebook_user(User("viewer", "viewer")), hidden) == Audience("viewer", False)
    assert audience_of(notebook_user(User("viewer", "viewer")), shown) == Audience("viewer", True)
    assert audience_of(notebook_user(User("operator", "operator")), hidden) == OPERATOR
    assert audience_of({}, hidden) == Audience("viewer", False)  # a request the gate did not vouch for
    assert audience_of(None, hidden) == OPERATOR  # no request at all: a local run (script, export)
    assert notebook_user(None) == {}
