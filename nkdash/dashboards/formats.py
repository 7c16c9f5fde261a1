"""Money, numbers and dates as a manager reads them: one :class:`Formats` per page.

The locale (``NKDASH_LOCALE``, else the language of the Odoo company) decides the decimal
and thousands separators and the one date format of the app, the date pickers included
(marimo's ``display.locale`` is set to the same locale by ``nkdash serve``); the currency
(``NKDASH_CURRENCY``, else the Odoo company's) its symbol and where it goes (Odoo's
``res.currency.position``). Times are 24-hour everywhere.

Rules: amounts carry the currency; amounts of a thousand and more are shown without cents
on cards and axes; every number has thousands separators; percentages have one decimal.
Charts get the same rules as d3 formats and a Vega locale (:meth:`Formats.vega_locale`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from nkdash.dashboards.labels import company, currencies
from nkdash.errors import LakeError
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard


@dataclass(frozen=True)
class Convention:
    """How a locale writes numbers and dates (what the browser's ``Intl`` does for it)."""

    decimal: str
    thousands: str
    date: str  # strftime pattern of a full date
    day: str  # a date without its year (axes)
    percent: str = "%"  # the percent sign, with the space some languages put before it


NNBSP = "\u202f"  # narrow no-break space: French thousands separator and the space before %


CONVENTIONS: dict[str, Convention] = {  # language_REGION (or language) -> convention
    "en_US": Convention(".", ",", "%m/%d/%Y", "%m/%d"),
    "en_GB": Convention(".", ",", "%d/%m/%Y", "%d/%m"),
    "en_IE": Convention(".", ",", "%d/%m/%Y", "%d/%m"),
    "en_AU": Convention(".", ",", "%d/%m/%Y", "%d/%m"),
    "en_CA": Convention(".", ",", "%Y-%m-%d", "%m-%d"),
    "en": Convention(".", ",", "%m/%d/%Y", "%m/%d"),
    "fr_BE": Convention(",", NNBSP, "%d/%m/%Y", "%d/%m", NNBSP + "%"),
    "fr_FR": Convention(",", NNBSP, "%d/%m/%Y", "%d/%m", NNBSP + "%"),
    "fr_CH": Convention(",", NNBSP, "%d.%m.%Y", "%d.%m", NNBSP + "%"),
    "fr_CA": Convention(",", "\u00a0", "%Y-%m-%d", "%m-%d", "\u00a0%"),
    "fr": Convention(",", NNBSP, "%d/%m/%Y", "%d/%m", NNBSP + "%"),
    "nl_BE": Convention(",", ".", "%d/%m/%Y", "%d/%m", "%"),
    "nl_NL": Convention(",", ".", "%d-%m-%Y", "%d-%m", "%"),
    "nl": Convention(",", ".", "%d-%m-%Y", "%d-%m", "%"),
    "de_DE": Convention(",", ".", "%d.%m.%Y", "%d.%m.", "\u00a0%"),
    "de_AT": Convention(",", "\u00a0", "%d.%m.%Y", "%d.%m.", "\u00a0%"),
    "de_CH": Convention(".", "\u2019", "%d.%m.%Y", "%d.%m.", "%"),
    "de": Convention(",", ".", "%d.%m.%Y", "%d.%m.", "\u00a0%"),
    "es_ES": Convention(",", ".", "%d/%m/%Y", "%d/%m", "\u00a0%"),
    "es": Convention(",", ".", "%d/%m/%Y", "%d/%m", "\u00a0%"),
    "it_IT": Convention(",", ".", "%d/%m/%Y", "%d/%m", "%"),
    "it": Convention(",", ".", "%d/%m/%Y", "%d/%m", "%"),
    "pt_PT": Convention(",", "\u00a0", "%d/%m/%Y", "%d/%m", "%"),
    "pt_BR": Convention(",", ".", "%d/%m/%Y", "%d/%m", "%"),
    "pt": Convention(",", ".", "%d/%m/%Y", "%d/%m", "%"),
    "pl_PL": Convention(",", "\u00a0", "%d.%m.%Y", "%d.%m", "%"),
    "sv_SE": Convention(",", "\u00a0", "%Y-%m-%d", "%m-%d", "\u00a0%"),
    "da_DK": Convention(",", ".", "%d.%m.%Y", "%d.%m", "\u00a0%"),
}


DEFAULT_LOCALE = "en_US"  # Odoo's own default language


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF", "JPY": "¥", "CAD": "$", "AUD": "$", "SEK": "kr"}


def convention(locale: str) -> Convention:
    """The convention of ``locale`` (``fr_BE``), else of its language (``fr``), else en_US's."""
    return CONVENTIONS.get(locale) or CONVENTIONS.get(locale.split("_")[0]) or CONVENTIONS[DEFAULT_LOCALE]


@dataclass(frozen=True)
class Formats:
    """The page's locale and currency, and how each kind of value is written."""

    locale: str = DEFAULT_LOCALE  # language_REGION
    currency: str = "EUR"  # ISO code
    symbol: str = "€"
    symbol_after: bool = True  # "1,234 €" (Odoo's position "after") or "€1,234" ("before")

    @property
    def convention(self) -> Convention:
        return convention(self.locale)

    @property
    def bcp47(self) -> str:
        """The locale as browsers name it (``en-GB``): what the date pickers are given."""
        return self.locale.replace("_", "-")

    # ---- numbers -----------------------------------------------------------------------------
    def number(self, value: Any, decimals: int = 0) -> str:
        """``value`` with thousands separators and ``decimals`` decimals; '' when missing."""
        if _missing(value):
            return ""
        text = f"{float(value):,.{decimals}f}"
        if text.startswith("-") and float(text.replace(",", "")) == 0:
            text = text[1:]  # -0 reads as 0
        c = self.convention
        return text.replace(",", "\0").replace(".", c.decimal).replace("\0", c.thousands)

    def quantity(self, value: Any) -> str:
        """Units: whole numbers without decimals, else with two."""
        if _missing(value):
            return ""
        return self.number(value, 0 if float(value) == round(float(value)) else 2)

    def money(self, value: Any, cents: bool | None = None) -> str:
        """An amount with the currency; ``cents``: None = only below a thousand (cards, totals)."""
        if _missing(value):
            return ""
        show_cents = abs(float(value)) < 1000 if cents is None else cents
        amount = self.number(value, 2 if show_cents else 0)
        return self._with_symbol(amount)

    def percent(self, value: Any, decimals: int = 1) -> str:
        """A ratio (0.123) as a percentage with one decimal: ``12.3%``."""
        if _missing(value):
            return ""
        return self.number(float(value) * 100, decimals) + self.convention.percent

    def points(self, value: Any) -> str:
        """A change of a percentage (0.012 -> ``+1.2 pts``)."""
        if _missing(value):
            return ""
        return _signed(self.number(float(value) * 100, 1)) + " pts"

    def change(self, value: Any) -> str:
        """A relative change (0.042 -> ``+4.2%``)."""
        if _missing(value):
            return ""
        return _signed(self.percent(value))

    def _with_symbol(self, amount: str) -> str:
        sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
        if self.symbol_after:
            return f"{sign}{digits}\u00a0{self.symbol}"
        space = "\u00a0" if self.symbol.isalpha() else ""
        return f"{sign}{self.symbol}{space}{digits}"

    # ---- dates -----------------------------------------------------------------------------
    def date(self, value: Any) -> str:
        """A date in the locale's one format (the pickers' too); '' when missing."""
        if _missing(value):
            return ""
        return _as_date(value).strftime(self.convention.date)

    def day(self, value: Any) -> str:
        """A date without its year (chart axes within a year)."""
        return "" if _missing(value) else _as_date(value).strftime(self.convention.day)

    def span(self, start: dt.date, end: dt.date) -> str:
        """``start – end`` in the locale's format (one date when they are equal)."""
        return self.date(start) if start == end else f"{self.date(start)} – {self.date(end)}"

    @staticmethod
    def hour(hour: int) -> str:
        """An hour of the day, 24-hour: ``08:00``."""
        return f"{int(hour):02d}:00"

    # ---- charts ----------------------------------------------------------------------------
    def vega_locale(self) -> dict[str, Any]:
        """Vega-Lite's ``config.locale``: separators and currency for every d3 number format."""
        c = self.convention
        symbol = ("", "\u00a0" + self.symbol) if self.symbol_after else (self.symbol, "")
        return {
            "number": {
                "decimal": c.decimal,
                "thousands": c.thousands,
                "grouping": [3],
                "currency": list(symbol),
                "percent": c.percent,
                "minus": "-",
            }
        }

    @property
    def d3_date(self) -> str:
        """The full date as a d3 time format (the same as :meth:`date`)."""
        return self.convention.date

    @property
    def d3_day(self) -> str:
        return self.convention.day


def _signed(text: str) -> str:
    """A change with its sign: ``+4.2%``, ``−4.2%`` (a minus sign, not a hyphen)."""
    if text.startswith("-"):
        return "\u2212" + text[1:]
    return text if text.strip("0.,%\u202f\u00a0 pts") == "" else "+" + text


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: not a missing value
        return False


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    to_pydatetime = getattr(value, "to_pydatetime", None)
    if to_pydatetime is not None:
        return to_pydatetime().date()  # type: ignore[no-any-return]
    return dt.date.fromisoformat(str(value)[:10])


def page_formats(db: Dashboard, settings: Settings | None = None) -> Formats:
    """The :class:`Formats` of a dashboard: ``NKDASH_LOCALE`` / ``NKDASH_CURRENCY`` if set,
    else the Odoo company's language and currency (``dim_company``); en_US and euros when
    neither is known (nothing loaded yet, or a damaged dimension)."""
    settings = settings or get_settings()
    try:
        found = company(db)
    except LakeError:
        found = None
    row = found.iloc[0] if found is not None and len(found) else None
    locale = settings.locale or (_text(row, "lang") if row is not None else None) or DEFAULT_LOCALE
    code = settings.currency or (_text(row, "currency") if row is not None else None) or "EUR"
    symbol, position = SYMBOLS.get(code, code), "after" if code == "EUR" else "before"
    try:
        known = currencies(db)
    except LakeError:
        known = None
    if known is not None:
        rows = known[known["name"] == code]
        if len(rows) and _text(rows.iloc[0], "symbol") is not None:
            symbol, position = str(rows.iloc[0]["symbol"]), _text(rows.iloc[0], "position") or position
    return Formats(locale, code, symbol, position == "after")


def _text(row: Any, column: str) -> str | None:
    value = row[column]
    return None if _missing(value) or value == "" else str(value)
