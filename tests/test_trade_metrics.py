"""The metrics of the trade against hand computations on a tiny hand-made lake
(:mod:`tests.support.handlake`, whose docstring holds the data the figures below are worked
out from): sales (revenue, orders, basket, units per order, refunds, discounts, hour x
weekday, top and bottom), profit (products sold at a loss), inventory (days of cover,
running low, on order next to stock-outs, dead stock, ABC, sell-through, stock turn),
purchases (ordered / received / invoiced, open lines with the expected date and the overdue
flag, vendor on-time rate and lead time), and the comparisons (previous period partly
loaded, last year like-for-like)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import nkdash.dashboards as d
from nkdash.dashboards import Filters
from tests.support.handlake import PERIOD, build

F = Filters(*PERIOD)


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> d.Dashboard:
    root = tmp_path_factory.mktemp("hand") / "lake"
    build(root)
    return d.Dashboard(root, meta=None)


def by(frame: pd.DataFrame, key: str, value: str) -> dict:
    return dict(zip(frame[key], frame[value]))


# ----------------------------------------------------------------------------- sales
def test_sales_kpis(hand):
    kpis = d.sales_comparison(hand, F).kpis.set_index("metric")["current"]
    assert kpis["revenue"] == 37.0  # 8 + 3 - 2 + 9 + 12 + 4 + 3
    assert kpis["orders"] == 4  # A1, B1, C1, INV1 (A2 is a refund)
    assert kpis["basket"] == pytest.approx(39 / 4)  # the orders' revenue: 11 + 9 + 7 + 12
    assert kpis["units_per_order"] == pytest.approx(24 / 4)  # 4 + 2 - 1 + 6 + 10 + 2 + 1 units
    assert kpis["refunded"] == 2.0 and kpis["refund_rate"] == pytest.approx(2 / 39)
    assert kpis["discount"] == 1.0
    assert kpis["margin"] == 18.0 and kpis["margin_pct"] == pytest.approx(18 / 37)


def test_discounts_per_store(hand):
    found = d.sales_discounts(hand, F)
    assert by(found.fillna({"store_id": 0}), "store_id", "discount") == {1: 1.0, 2: 0.0, 3: 0.0, 0: 0.0}
    summary = d.discount_summary(found)
    assert summary["discount"] == 1.0 and summary["discount_rate"] == pytest.approx(1 / 38)
    assert summary["known_share"] == 1.0


def test_sales_by_hour_and_weekday(hand):
    grid = d.sales_by_hour(hand, F)
    cells = {(w, h): (r, o) for w, h, r, o in zip(grid["weekday"], grid["hour"], grid["revenue"], grid["orders"])}
    # Mon 9h A1, Tue 17h the refund A2 (no order), Wed 9h B1, Sat 12h C1; the invoice has no hour
    assert cells == {(0, 9): (11.0, 1), (1, 17): (-2.0, 0), (2, 9): (9.0, 1), (5, 12): (7.0, 1)}
    assert set(grid["days"]) == {1} and list(grid["revenue_per_day"]) == list(grid["revenue"])
    assert d.hour_coverage(grid) == 1.0


def test_top_and_bottom_products_and_categories_by_revenue(hand):
    ranked = d.top_products(hand, F, 2, "revenue")
    assert list(zip(ranked["product"], ranked["rank"], ranked["position"])) == [
        ("Cola", "top", 1),
        ("Apple", "top", 2),
        ("Gift card", "bottom", 1),
    ]
    categories = d.top_products(hand, F, 1, "revenue", "category")
    assert list(zip(categories["category"], categories["revenue"])) == [("Drinks", 24.0), ("All", 3.0)]


def test_products_sold_at_a_loss(hand):
    losing = d.losing_products(hand, F)
    assert list(zip(losing["product"], losing["margin"])) == [("Gift card", -2.0)]  # 3.00 sold, 5.00 cost


# ----------------------------------------------------------------------------- comparisons
def test_last_year_like_for_like_leaves_out_the_new_store(hand):
    found = d.sales_comparison(hand, F)
    assert found.like_for_like.kept == ("invoices", "North", "South")
    assert found.like_for_like.left_out == ("New",)
    kpis = found.kpis.set_index("metric")
    assert kpis.loc["revenue", "last_year"] == 22.0  # L1 10 + L2 6 + LINV 6
    assert kpis.loc["revenue", "last_year_change"] == pytest.approx(30 / 22 - 1)  # New's 7 left out
    assert kpis.loc["orders", "last_year_change"] == 0.0  # A1, B1, INV1 against L1, L2, LINV
    assert kpis.loc["margin", "last_year_change"] == pytest.approx(18 / 12.5 - 1)


def test_a_partly_loaded_previous_period_is_not_compared(hand):
    found = d.sales_comparison(hand, F)
    previous = found.coverage["previous"]
    assert (previous.loaded, previous.days, previous.state) == (1, 7, "partly loaded")
    assert found.kpis["previous"].isna().all() and found.kpis["previous_change"].isna().all()
    fmt = d.page_formats(hand)
    assert previous.note(fmt) == "previous period (03/03/2025 – 09/03/2025) partly loaded (1 of 7 days)"
    assert previous.load_link() == "/operational/?dataset=profit&start=2025-03-03&end=2025-03-09"
    earlier = Filters(dt.date(2025, 2, 28), dt.date(2025, 3, 6))  # nothing is loaded the 7 days before
    assert d.sales_comparison(hand, earlier).coverage["previous"].state == "not loaded"


# ----------------------------------------------------------------------------- inventory
def test_days_of_cover_and_running_low(hand):
    cover = d.stock_cover(hand, F, window=7, threshold=3).set_index(["store", "product"])
    assert cover.loc[("North", "Apple"), "cover_days"] == pytest.approx(20 / (3 / 7))  # 4 - 1 sold in 7 days
    assert cover.loc[("South", "Cola"), "cover_days"] == pytest.approx(3 / (6 / 7))
    assert pd.isna(cover.loc[("North", "Umbrella"), "cover_days"])  # did not sell: no cover
    assert cover.loc[("New", "Apple"), "lead_days"] == 5.0 and cover.loc[("South", "Cola"), "lead_days"] == 2.0
    # New's apples last 3.5 days, less than the 5 days the vendor takes; South's colas 3.5 days > 3 and > 2
    assert set(cover.index[cover["running_low"]]) == {("New", "Apple")}
    wider = d.stock_cover(hand, F, window=7, threshold=4).set_index(["store", "product"])
    assert set(wider.index[wider["running_low"]]) == {("New", "Apple"), ("South", "Cola")}


def test_stock_outs_show_what_is_on_order(hand):
    outs = d.with_on_order(d.stock_outs(hand, F), d.on_order(hand, F))
    assert list(zip(outs["store"], outs["product"], outs["on_order"], outs["expected"])) == [
        ("North", "Cola", 12.0, pd.Timestamp(2025, 3, 18))  # PO1, expected Tuesday
    ]
    ordered = d.on_order(hand, F)
    assert by(ordered, "store", "on_order") == {"North": 12.0, "South": 4.0}  # PO2 and PO3 are received


def test_dead_stock_with_days_since_the_last_sale(hand):
    dead = d.slow_movers(hand, F)
    assert list(zip(dead["product"], dead["qty"], dead["days_since_sale"])) == [("Umbrella", 5.0, 24)]


def test_abc_classes(hand):
    classes = d.abc_classes(hand, F)
    assert by(classes, "product", "abc") == {"Cola": "A", "Apple": "A", "Gift card": "B", "Umbrella": "C"}
    assert by(classes, "product", "share")["Cola"] == pytest.approx(24 / 37)
    summary = d.abc_summary(classes).set_index("abc")
    assert summary.loc["C", "value"] == 40.0 and summary.loc["C", "value_share"] == pytest.approx(40 / 62.5)


def test_sell_through_and_stock_turn(hand):
    total = d.sell_through(hand, F, "total").iloc[0]
    assert total["units_sold"] == 23  # storable: apples 4 - 1 + 2, colas 2 + 6 + 10
    assert total["sell_through"] == pytest.approx(23 / (23 + 29))  # 29 on hand at the end
    assert total["stock_turn"] == pytest.approx(23 / ((29 + 46) / 2) * 365 / 7)  # 46 at the start
    assert total["cover_days"] == pytest.approx(29 / (23 / 7))
    food = d.sell_through(hand, F, "category").set_index("category").loc["Food"]
    assert food["sell_through"] == pytest.approx(5 / 26, abs=1e-6)  # ratios are rounded to 6 decimals


# ----------------------------------------------------------------------------- purchases
def test_ordered_received_invoiced(hand):
    summary = d.purchases_summary(hand, F).iloc[0]
    assert (summary["ordered_value"], summary["received_value"], summary["invoiced_value"]) == (21.0, 13.0, 3.0)
    assert (summary["open_lines"], summary["overdue_lines"]) == (3, 1)


def test_open_lines_carry_the_expected_date_and_the_overdue_flag(hand):
    lines = d.open_purchases(hand, F).set_index("order_ref")
    assert lines.loc["PO4", "expected"] == pd.Timestamp(2025, 3, 14) and lines.loc["PO4", "overdue"]
    assert lines.loc["PO4", "days_late"] == 2.0  # expected Friday, the period ends on Sunday
    assert not lines.loc["PO1", "overdue"] and not lines.loc["PO3", "overdue"]  # expected later / received


def test_vendor_on_time_rate_and_lead_time(hand):
    vendors = d.vendor_performance(hand, F).set_index("vendor")
    assert vendors.loc["Fresh Farms", ["orders", "received_orders", "on_time", "overdue"]].tolist() == [2, 1, 1, 0]
    assert vendors.loc["Drinks Co", ["orders", "received_orders", "on_time", "overdue"]].tolist() == [2, 1, 0, 1]
    assert vendors.loc["Fresh Farms", "on_time_rate"] == 1.0 and vendors.loc["Drinks Co", "on_time_rate"] == 0.0
    assert vendors["lead_days"].tolist() == [2.0, 2.0]  # PO3: Tue 08:00 -> Thu 08:00; PO2: Mon 09:00 -> Wed 09:00
    values = d.purchases_comparison(hand, F).kpis.set_index("metric")["current"]
    assert values["on_time_rate"] == 0.5 and values["lead_days"] == 2.0


def test_a_trend_overlays_last_year_on_the_same_weekdays(hand):
    against = d.sales_trend_against(hand, F, "day", "last_year")
    shown = dict(zip(against["period"].dt.date, against["revenue"]))
    # last year's Mon 11, Tue 12 and Thu 14 March 2024 sit on this year's Mon 10, Tue 11, Thu 13
    assert shown == {
        dt.date(2025, 3, day): revenue
        for day, revenue in ((10, 10.0), (11, 6.0), (12, 0.0), (13, 6.0), (14, 0.0), (15, 0.0), (16, 0.0))
    }
    assert set(against["series"]) == {"last year"}
    assert d.sales_trend_against(hand, F, "day", "previous") is None  # partly loaded: no overlay
