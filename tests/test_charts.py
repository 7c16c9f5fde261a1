"""nkdash.charts: chart specs, KPI cards and table formats built from the dashboards' frames."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Dashboard, Filters, charts
from tests.support.demo import DATES

F = Filters(DATES[0], DATES[-1])


@pytest.mark.parametrize(
    "build",
    [
        lambda db: charts.trend(d.sales_trend(db, F, "week", "channel"), "revenue", color="channel", grain="week"),
        lambda db: charts.trend(d.profit_trend(db, F, "day"), "margin_pct"),
        lambda db: charts.bars(d.sales_by_store(db, F), "revenue", "store", tooltip=["revenue", "share"]),
        lambda db: charts.bars(d.stock_levels(db, F, "category"), "value", "category", color="department"),
        lambda db: charts.moves(d.stock_moves(db, F, "day"), "value"),
        lambda db: charts.fulfilment(d.purchase_fulfilment(db, F, "day")),
        lambda db: charts.margin_map(d.profit_by(db, F, "category"), "category"),
    ],
)
def test_charts_build_valid_specs(db, build):
    spec = build(db).to_dict()  # altair validates the spec against the Vega-Lite schema
    assert spec["mark"] and spec["encoding"]


def test_charts_accept_empty_frames(tmp_path):
    empty = Dashboard(tmp_path / "none")
    assert charts.trend(d.sales_trend(empty, F, "day"), "revenue").to_dict()
    assert charts.moves(d.stock_moves(empty, F, "day")).to_dict()


def test_kpi_cards_show_values_and_changes(db):
    f = Filters(DATES[3], DATES[4])
    cards = {c["label"]: c for c in charts.kpi_cards(d.sales_comparison(db, f), f)}
    assert set(cards) == {"Revenue", "Orders", "Average basket", "Units sold", "Margin", "Margin %", "Refunds"}
    revenue = cards["Revenue"]
    assert revenue["value"].replace(",", "").replace(".", "").isdigit() and "%" in revenue["caption"]
    assert revenue["direction"] in ("increase", "decrease") and cards["Refunds"]["target_direction"] == "decrease"
    assert cards["Margin %"]["value"].endswith("%") and "pts" in cards["Margin %"]["caption"]
    first = {c["label"]: c for c in charts.kpi_cards(d.sales_comparison(db, F), F)}
    assert first["Revenue"]["caption"].startswith("no sales") and first["Revenue"]["direction"] is None


def test_table_args_format_and_hide_ids():
    frame = pd.DataFrame(
        {
            "store_id": [1],
            "period": [pd.Timestamp(dt.date(2024, 3, 29))],
            "revenue": [1234.5],
            "units": [3.0],
            "qty": [1.5],
            "margin_pct": [0.25],
            "orders": [2.0],
        }
    )
    args = charts.table_args(frame)
    assert args["hidden_columns"] == ["store_id"] and args["selection"] is None
    fmt = args["format_mapping"]
    assert fmt["period"](frame["period"][0]) == "2024-03-29" and fmt["period"](pd.NaT) == ""
    assert fmt["revenue"].format(1234.5) == "1,234.50" and fmt["margin_pct"].format(0.25) == "25.0%"
    assert fmt["units"].format(3.0) == "3" and fmt["qty"].format(1.5) == "1.50" and fmt["orders"].format(2.0) == "2"
