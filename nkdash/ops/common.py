"""The operations pages' shared vocabulary: results of actions, the clock, dataset choices."""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from nkdash import dates as cal
from nkdash import storage
from nkdash.errors import InputError, NKDashError
from nkdash.etl.datasets import REGISTRY, get
from nkdash.etl.reconcile import RECONCILE
from nkdash.jobs import backend
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.settings import Settings, get_settings

Progress = Callable[..., Iterable]


Risk = Literal["read", "write", "destructive"]


DATASETS: tuple[str, ...] = ("pos", "invoices", "purchases", "inventory", "profit", "stock-quants", "dimensions")


DATASET_CHOICES: dict[str, str] = {get(name).title: name for name in DATASETS}  # dropdown label -> name


TABLE_DATASET: dict[str, str] = {t: spec.name for spec in REGISTRY.values() for t in spec.table_names}


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


JOB_TITLES: dict[str, str] = {  # queue.MAINTENANCE jobs
    RECONCILE: "Reconcile with Odoo",
    storage.COMPACT_JOB: "Compact old months",
}


def no_progress(items: Iterable, **_: Any) -> Iterable:
    return items


@dataclass
class Result:
    """What an action did: a headline, details (plain text) and maybe a table."""

    ok: bool
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    value: Any = None

    @property
    def kind(self) -> str:
        return "success" if self.ok else "danger"

    @property
    def summary(self) -> str:
        return self.text.strip().splitlines()[0] if self.text.strip() else ""


def describe(exc: BaseException) -> str:
    """One line for an operator: the message and, for Odoo errors, the setting to check."""
    hint = getattr(exc, "hint", "")
    text = str(exc) if isinstance(exc, NKDashError) else f"{type(exc).__name__}: {exc}"
    return text + (f" — {hint}" if hint and hint not in text else "")


def attempt(title: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or a failed :class:`Result` for the errors an operator can act
    on (a page shows it instead of a hidden cell error)."""
    try:
        return fn(*args, **kwargs)
    except (NKDashError, OSError, sqlite3.Error) as exc:
        return Result(False, f"{title}: failed", describe(exc))


def guarded(title: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Turn the errors an operator can act on into a failed :class:`Result`."""

    def wrap(fn: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Result:
            try:
                return fn(*args, **kwargs)
            except (NKDashError, OSError, sqlite3.Error) as exc:
                return Result(False, f"{title}: failed", describe(exc))

        return run

    return wrap


def today(settings: Settings | None = None) -> dt.date:
    """Today's business date (see the module docstring)."""
    settings = settings or get_settings()
    return cal.business_date(backend.now(), cal.timezone(settings.tz))


def latest_date(settings: Settings | None = None) -> dt.date:
    """Yesterday: the latest date that may be loaded."""
    return today(settings) - dt.timedelta(days=1)


def describe_setup(settings: Settings | None = None) -> str:
    """One markdown line: lake, Odoo, queue, timezone, today."""
    s = settings or get_settings()
    odoo = (
        f"the embedded demo Odoo {s.demo_version}" if s.uses_demo else (s.odoo_url_shown or "not configured (ODOO_URL)")
    )
    zone = f"{s.tz} (NKDASH_TZ)" if s.tz else "UTC (NKDASH_TZ unset)"
    return (
        f"Lake `{Path(s.lake).absolute()}` · Odoo {odoo} · queue {backend.backend(s)} · "
        f"timezone {zone} · today {today(s)}"
    )


def retention_start(settings: Settings | None = None) -> dt.date:
    """The first date the retention keeps (archiving before it is allowed)."""
    settings = settings or get_settings()
    return cal.retention_start(today(settings), settings.retention_years)


def timezone_warning(settings: Settings | None = None) -> str | None:
    """A warning (markdown) when ``NKDASH_TZ`` is unset and Odoo's user timezone is not UTC:
    the loads date sales in Odoo's timezone while the pages count days in UTC. None when
    ``NKDASH_TZ`` is set, or Odoo says UTC, or cannot tell within a few seconds."""
    from nkdash.odoo import _user_tz

    s = settings or get_settings()
    if s.tz or not (s.odoo_url or s.uses_demo):
        return None
    try:
        odoo_tz = _user_tz(s.with_(odoo_timeout=5.0, odoo_retries=0))
    except (NKDashError, OSError):
        return None
    if not odoo_tz or odoo_tz == "UTC":
        return None
    return (
        f"**The business timezone is not set (NKDASH_TZ).** Odoo's user timezone is **{odoo_tz}**: the loads "
        f"date sales in it, but these pages count days in UTC. Set `NKDASH_TZ={odoo_tz}` in `.env` and restart."
    )


def choice(label: str | None, default: str = "pos") -> str:
    """A dataset name from a dropdown label, a name (URL parameter) or nothing."""
    if label in DATASET_CHOICES:
        return DATASET_CHOICES[label]
    return label if label in DATASETS else default


def title_of(name: str) -> str:
    return JOB_TITLES.get(name) or get(name).title


def period_from(params: Any, settings: Settings | None = None) -> tuple[dt.date, dt.date]:
    """``(start, end)`` from URL parameters ``date`` or ``start``/``end``; default yesterday."""
    latest = latest_date(settings)
    try:
        start = cal.parse_date(params.get("start") or params.get("date") or latest.isoformat())
        end = cal.parse_date(params.get("end") or params.get("date") or start.isoformat())
    except InputError:
        return latest, latest
    start, end = sorted((min(start, latest), min(end, latest)))
    return start, end


def dates_of(period: Sequence[dt.date]) -> list[dt.date]:
    """Every date of a ``(start, end)`` pair from a date-range control."""
    return cal.days(*period)


def read_meta(settings: Settings, read_only: bool = True) -> MetaStore:
    return MetaStore.for_lake(Lake(settings.lake, read_only=read_only), read_only=read_only)


def stamp_text(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime(TIME_FORMAT) if value else None
