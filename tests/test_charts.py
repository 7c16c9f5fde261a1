"""nkdash.dashboards.charts: valid chart specs, built from the dashboards' frames, carrying the
page's locale and currency; calendar periods labelled by their first day, partial ones marked."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nkdash import dashboards as d
from nkdash.dashboards import Dashboard, Filters, charts
from nkdash.dashboards.formats import Formats
from tests.support.demo import DATES

F = Filters(DATES[0], DATES[-1])
FR = Formats("fr_BE", "EUR", "€", True)


@pytest.mark.parametrize(
    "build",
    [
        lambda db: charts.trend(d.sales_trend(db, F, "week", "channel"), "revenue", FR, "week", color="channel"),
        lambda db: charts.trend(d.profit_trend(db, F, "day"), "margin_pct", FR),
        lambda db: charts.trend(
            d.sales_trend(db, F, "day"), "revenue", FR, overlay=d.sales_trend(db, F, "day").assign(series="last year")
        ),
        lambda db: charts.bars(d.sales_by_store(db, F), "revenue", "store", FR, tooltip=["revenue", "share"]),
        lambda db: charts.bars(d.stock_levels(db, F, "category"), "value", "category", FR, color="department"),
        lambda db: charts.ranked(d.top_products(db, F, 5), "margin", "product", FR, "bottom"),
        lambda db: charts.moves(d.stock_moves(db, F, "day"), FR, "value"),
        lambda db: charts.fulfilment(d.purchase_fulfilment(db, F, "week"), FR, "week"),
        lambda db: charts.margin_map(d.profit_by(db, F, "category"), "category", FR),
        lambda db: charts.heatmap(d.sales_by_hour(db, F), FR),
    ],
)
def test_charts_build_valid_specs_in_the_page_locale(db, build):
    spec = build(db).to_dict()  # altair validates the spec against the Vega-Lite schema
    assert spec["config"]["locale"]["number"]["decimal"] == ","  # fr_BE
    assert spec["config"]["locale"]["number"]["currency"] == ["", "\u00a0€"]
    assert "layer" in spec or spec["encoding"]


def test_money_axes_and_tooltips_carry_the_currency(db):
    spec = json.dumps(charts.bars(d.sales_by_store(db, F), "revenue", "store", FR).to_dict(), ensure_ascii=False)
    assert '"format": "$,.0f"' in spec and '"title": "Revenue (€)"' in spec and '"format": "$,.2f"' in spec


def test_weeks_are_labelled_by_their_monday_and_partial_ones_marked(db):
    trend = d.sales_trend(db, F, "week")  # Fri 29 March - Tue 2 April 2024: two partial weeks
    labelled = charts.with_labels(trend, "week", FR)
    assert list(labelled["label"]) == ["25/03*", "01/04*"] and list(labelled["partial"]) == [1, 1]
    assert [p.weekday() for p in labelled["period"]] == [0, 0]
    whole = charts.with_labels(d.sales_trend(db, Filters(DATES[3], DATES[4]), "day"), "day", FR)
    assert list(whole["label"]) == ["Mon 01/04", "Tue 02/04"] and not whole["partial"].any()


def test_charts_accept_empty_frames(tmp_path):
    empty = Dashboard(tmp_path / "none")
    assert charts.trend(d.sales_trend(empty, F, "day"), "revenue", FR).to_dict()
    assert charts.moves(d.stock_moves(empty, F, "day"), FR).to_dict()


def test_a_bar_chart_leaves_room_for_its_labels():
    frame = pd.DataFrame({"store": ["A", "B"], "revenue": [100.0, 40.0]})
    spec = charts.bars(frame, "revenue", "store", FR).to_dict()
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.0, 125.0]


def test_the_same_rows_and_arguments_give_the_same_chart_and_spec_once():
    """Viewers of a page at the same filters get equal frames (the engine hands each a copy):
    their charts are built and serialised once; other rows, arguments or locale, a new chart."""
    frame = pd.DataFrame({"store": ["A", "B"], "revenue": [100.0, 40.0]})
    first = charts.bars(frame, "revenue", "store", FR)
    assert charts.bars(frame.copy(), "revenue", "store", FR) is first
    assert charts.spec(first) is charts.spec(charts.bars(frame.copy(), "revenue", "store", FR))
    assert json.loads(charts.spec(first))["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.0, 125.0]
    changed = frame.assign(revenue=[100.0, 41.0])
    assert charts.bars(changed, "revenue", "store", FR) is not first
    assert charts.bars(frame.rename(columns={"store": "label"}), "revenue", "label", FR) is not first
    assert charts.bars(frame, "revenue", "store", FR, labels=False) is not first
    assert charts.bars(frame, "revenue", "store", Formats("en_GB", "GBP", "£", False)) is not first


def test_a_page_chart_is_its_vega_lite_spec_for_marimo_to_draw():
    """What a dashboard cell outputs for a chart: marimo's Vega-Lite MIME type and the spec."""
    from nkdash.dashboards import controls

    built = charts.bars(pd.DataFrame({"store": ["A"], "revenue": [5.0]}), "revenue", "store", FR)
    mime, text = controls.chart(built)._mime_()
    assert mime.startswith("application/vnd.vegalite.v") and mime.endswith("+json")
    assert json.loads(text)["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def test_a_spec_never_holds_nan():
    """A chart whose spec holds a NaN (no finite value to scale) still gives JSON a browser reads."""
    import altair as alt

    chart = (
        alt.Chart(pd.DataFrame({"x": [1.0]}))
        .mark_bar()
        .encode(x=alt.X("x:Q", scale=alt.Scale(domain=[0, float("nan")])))
    )
    assert json.loads(charts.spec(chart))["encoding"]["x"]["scale"]["domain"] == [0, None]
