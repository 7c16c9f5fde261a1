"""Business dates: the company's calendar (``NKDASH_TZ``) <-> UTC instants.

A business date is a calendar day in the company's timezone. Odoo stores datetimes in
UTC, so the records of business date ``D`` are those whose UTC timestamp falls in
``[start of D, start of D+1)``, both computed in the business timezone. Days are 23, 24
or 25 hours long around daylight-saving changes; this module is the one place that knows.

Rules for user input (CLI, notebooks, tasks):

- dates are ISO ``YYYY-MM-DD``;
- the latest date that may be loaded is *yesterday* in the business timezone: today is not
  a complete business day yet (the design's SLA targets yesterday), so today or later is
  "in the future" and refused;
- a range runs from start to end inclusive, end not before start, and is at most
  :data:`MAX_SYNC_DAYS` days long (:data:`MAX_ASYNC_DAYS` for one queued request).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable

from nkdash.errors import InputError

UTC = dt.UTC


MAX_SYNC_DAYS = 366  # longest range one command or library call refreshes


MAX_ASYNC_DAYS = 31  # longest range one queued (async) request may cover


def timezone(name: str | None) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA name; ``None`` means UTC."""
    return zoneinfo.ZoneInfo(name or "UTC")


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant at which business date ``day`` begins.

    ``fold=0`` resolves the rare zones whose clocks jump at midnight: a skipped midnight
    maps to the first instant of the day, a repeated midnight to its first occurrence.
    """
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC)


def day_bounds(day: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """Half-open UTC interval ``[start, end)`` covering business date ``day``."""
    return day_start(day, tz), day_start(day + dt.timedelta(days=1), tz)


def business_date(instant: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The business date of an aware (or naive UTC) instant."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(tz).date()


def today(tz: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    """Today's business date."""
    return business_date(now or dt.datetime.now(UTC), tz)


def latest_complete(tz: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    """Yesterday in the business timezone: the latest date that may be loaded."""
    return today(tz, now) - dt.timedelta(days=1)


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end`` inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)  # only this: not 2026-W10-3, 20260304 or other digits


def parse_date(text: str, what: str = "date") -> dt.date:
    """``YYYY-MM-DD`` -> date, or :class:`InputError` naming the bad value.

    Only that form: :meth:`datetime.date.fromisoformat` also takes ISO week dates
    (``2026-W10-3``) and basic dates (``20260304``), which nobody means in a date field."""
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InputError(f"malformed {what} {text!r}: expected YYYY-MM-DD", text) from None


def check_range(start: dt.date, end: dt.date, *, latest: dt.date, limit: int = MAX_SYNC_DAYS) -> list[dt.date]:
    """The dates of ``[start, end]`` after checking the input rules in the module docstring."""
    if end < start:
        raise InputError(f"end date {end} is before start date {start}", end)
    if end > latest:
        raise InputError(f"{end} is not a complete business day yet; the latest is {latest} (yesterday)", end)
    count = (end - start).days + 1
    if count > limit:
        raise InputError(f"{start}..{end} is {count} days; at most {limit} per request", count)
    return days(start, end)


def spans(dates: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive runs of dates, e.g. for short reports: ``[(first, last), ...]``."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(dates)):
        if runs and day - runs[-1][1] == dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def format_spans(dates: Iterable[dt.date]) -> str:
    """``2024-03-01..2024-03-03, 2024-03-07`` — a compact list of dates."""
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans(dates)) or "-"


def retention_start(today: dt.date, years: int) -> dt.date:
    """The first date the retention keeps: January 1st ``years`` full years before ``today``'s
    year (2 on 2026-12-03: 2024-01-01, enough for year-over-year comparisons)."""
    return dt.date(today.year - years, 1, 1)
