"""Money, numbers and dates as a manager reads them (nkdash.dashboards.formats), the tables
for people (nkdash.dashboards.tables) and the KPI cards (nkdash.dashboards.cards): the
locale and currency from the settings, else from the Odoo company."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nkdash import dashboards as d
from nkdash.dashboards import cards, tables
from nkdash.dashboards.formats import NNBSP, Formats, page_formats
from nkdash.settings import Settings
from tests.support.demo import DATES

GB = Formats("en_GB", "EUR", "€", True)
FR = Formats("fr_BE", "EUR", "€", True)
US = Formats("en_US", "USD", "$", False)
DAY = dt.date(2026, 11, 4)


@pytest.mark.parametrize(
    ("fmt", "money", "small", "percent", "date"),
    [
        (GB, "150,349\u00a0€", "12.50\u00a0€", "12.3%", "04/11/2026"),
        (FR, f"150{NNBSP}349\u00a0€", "12,50\u00a0€", f"12,3{NNBSP}%", "04/11/2026"),
        (US, "$150,349", "$12.50", "12.3%", "11/04/2026"),
    ],
)
def test_money_percent_and_dates_follow_the_locale(fmt, money, small, percent, date):
    assert fmt.money(150349.25) == money  # from a thousand: no cents
    assert fmt.money(12.5) == small
    assert fmt.percent(0.1234) == percent  # one decimal
    assert fmt.date(DAY) == date and fmt.date(pd.Timestamp(DAY)) == date


def test_changes_and_missing_values():
    assert (GB.change(0.042), GB.change(-0.042), GB.points(0.012), GB.change(0.0)) == (
        "+4.2%",
        "−4.2%",
        "+1.2 pts",
        "0.0%",
    )
    assert GB.money(-1500.5) == "-1,500\u00a0€" and US.money(-1500.5) == "-$1,500"
    for missing in (None, float("nan"), pd.NA, pd.NaT):
        assert GB.money(missing) == GB.number(missing) == GB.date(missing) == GB.percent(missing) == ""
    assert GB.number(-0.0001, 2) == "0.00" and GB.hour(8) == "08:00"


def test_the_company_gives_the_default_locale_and_currency(db):
    assert page_formats(db, Settings()) == Formats("en_GB", "EUR", "€", True)  # the demo company: en_GB, EUR after
    overridden = page_formats(db, Settings(locale="fr_BE", currency="USD"))
    assert overridden == Formats("fr_BE", "USD", "$", False)  # the demo has no USD: its usual symbol, before
    assert page_formats(db, Settings(currency="XYZ")).symbol == "XYZ"
    assert overridden.bcp47 == "fr-BE"


def test_the_company_before_anything_is_loaded(tmp_path):
    assert page_formats(d.Dashboard(tmp_path / "none"), Settings()) == Formats()  # en_US, euros


def test_tables_have_human_headers_and_written_values():
    frame = pd.DataFrame(
        {
            "store_id": [1, 2],
            "store": ["North", None],
            "period": [pd.Timestamp(2024, 3, 29), pd.NaT],
            "revenue": [1234.5, float("nan")],
            "units": [3.0, 1.5],
            "margin_pct": [0.25, None],
            "orders": [2.0, 0.0],
            "running_low": [True, False],
            "cover_days": [3.25, float("nan")],
        }
    )
    shown = tables.view(frame, GB)
    assert list(shown.columns) == [
        "Store",
        "Period",
        "Revenue (€)",
        "Units",
        "Margin %",
        "Orders",
        "Running low",
        "Days of cover",
    ]  # ids are not shown, no snake_case
    assert shown["Store"].tolist() == ["North", ""]
    args = tables.table_args(frame, GB)
    write = args["format_mapping"]
    assert [write["Revenue (€)"](v) for v in frame["revenue"]] == ["1,234.50", ""]
    assert [write["Period"](v) for v in frame["period"]] == ["29/03/2024", ""]
    assert [write["Units"](v) for v in frame["units"]] == ["3", "1.50"]
    assert [write["Margin %"](v) for v in frame["margin_pct"]] == ["25.0%", ""]
    assert [write["Running low"](v) for v in frame["running_low"]] == ["Running low", ""]
    assert [write["Days of cover"](v) for v in frame["cover_days"]] == ["3.2", ""]
    assert args["show_data_types"] is False and args["show_column_summaries"] is False and args["selection"] is None


def test_kpi_cards_say_what_a_comparison_lacks_never_no_sales(db):
    f = d.Filters(DATES[3], DATES[4])  # Mon-Tue: the previous two days are loaded, last year is not
    found = {c["label"]: c for c in cards.kpi_cards(d.sales_comparison(db, f), GB)}
    revenue = found["Revenue"]
    assert revenue["value"].endswith("€") and revenue["lines"][1] == "last year not loaded"
    assert revenue["lines"][0].endswith("vs previous period") and revenue["direction"] in ("increase", "decrease")
    assert "pts vs previous period" in found["Margin %"]["lines"][0]
    first = {c["label"]: c for c in cards.kpi_cards(d.sales_comparison(db, d.Filters(DATES[0], DATES[-1])), GB)}
    assert first["Revenue"]["lines"] == ["previous period not loaded", "last year not loaded"]
    assert not any("no sales" in line for card in first.values() for line in card["lines"])
    html = cards.card_html(first["Revenue"])
    assert "previous period not loaded" in html and "What customers paid" in html  # the definition as its title


def test_comparison_notes_offer_the_operator_a_way_to_load_a_period(db):
    comparison = d.sales_comparison(db, d.Filters(DATES[0], DATES[-1]))
    operator = cards.coverage_notes(comparison, GB, operator=True)
    viewer = cards.coverage_notes(comparison, GB, operator=False)
    assert "(/operational/?dataset=profit&start=2024-03-24&end=2024-03-28)" in operator
    assert "Previous period (24/03/2024 – 28/03/2024) not loaded" in operator
    assert "/operational" not in viewer and "An operator can load it" in viewer
    assert "**Revenue**: What customers paid" in cards.definitions(comparison)
