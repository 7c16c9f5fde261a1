"""Data freshness per dated dataset: last loaded date, missing, failed and stale dates, SLA."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nkdash import dates as cal
from nkdash.etl.datasets import DATED
from nkdash.lake import Lake
from nkdash.meta import Freshness, MetaStore
from nkdash.odoo import OdooClient, business_tz
from nkdash.settings import Settings, get_settings


@dataclass
class FreshnessReport:
    today: dt.date
    datasets: list[Freshness]
    dimensions_synced: dt.datetime | None
    archived: dict[str, dt.date] = field(default_factory=dict)  # dataset -> its dates before this are archived
    keep_from: dt.date | None = None  # the retention's first date (NKDASH_RETENTION_YEARS)

    @property
    def archived_inside_retention(self) -> list[str]:
        """Datasets archived past the retention's first date: the dashboards miss dates they
        should show (a forced archive), so the lake is not 'ok'."""
        return [name for name, day in self.archived.items() if self.keep_from and day > self.keep_from]

    @property
    def ok(self) -> bool:
        """No dataset is critical (a gap of more than 3 days, or nothing loaded)."""
        return all(f.status != "critical" for f in self.datasets)

    @property
    def unreconciled(self) -> dict[str, list[dt.date]]:
        """Per dataset, the dates the nightly reconciliation could not make agree with Odoo."""
        return {f.dataset: f.unreconciled for f in self.datasets if f.unreconciled}

    def text(self) -> str:
        lines = [
            f"freshness on {self.today} (target: yesterday loaded; critical after 3 days)",
            f"  {'dataset':<13} {'last loaded':<11} {'lag':>4}  {'status':<8} missing / failed / stale",
        ]
        for f in self.datasets:
            lag = "-" if f.lag_days is None else str(f.lag_days)
            lines.append(
                f"  {f.dataset:<13} {f.last_loaded or '-'!s:<11} {lag:>4}  {f.status:<8} "
                f"{cal.format_spans(f.missing)} / {cal.format_spans(f.failed)} / {cal.format_spans(f.stale)}"
            )
        lines += [
            f"  NOT RECONCILED with Odoo: {name} {cal.format_spans(dates)} (nkdash reconcile; nkdash validate --date D)"
            for name, dates in self.unreconciled.items()
        ]
        synced = f"{self.dimensions_synced:%Y-%m-%d %H:%M} UTC" if self.dimensions_synced else "never"
        lines.append(f"  dimensions last synced: {synced}")
        lines += [
            f"  {name}: archived before {day}"
            + (
                f" — INSIDE the retention window (kept from {self.keep_from})"
                if name in self.archived_inside_retention
                else ""
            )
            for name, day in self.archived.items()
        ]
        return "\n".join(lines)


def freshness_report(
    today: dt.date | None = None,
    *,
    settings: Settings | None = None,
    lake: Lake | None = None,
    client: OdooClient | None = None,
) -> FreshnessReport:
    """Freshness of every dated dataset on ``today`` (default: today in the business timezone)."""
    settings = settings or get_settings()
    meta = read_only_meta(settings, lake)
    today = today or cal.today(business_tz(settings, client))
    dims = meta.partition("dimensions", None)
    archived: dict[str, dt.date] = {name: day for name in DATED if (day := meta.archived_before(name))}
    keep_from = cal.retention_start(today, settings.retention_years)
    return FreshnessReport(
        today, meta.freshness(DATED, today), dims["loaded_at"] if dims else None, archived, keep_from
    )


def read_only_meta(settings: Settings | None, lake: Lake | None) -> MetaStore:
    """The metadata store of ``lake`` (default: the configured one), opened read-only."""
    lake = lake or Lake((settings or get_settings()).lake, read_only=True)
    return MetaStore.for_lake(lake, read_only=True)
