"""Part of ``etl``: what self-healing costs a night, next to the night's loads (issue 18).

The demo Odoo (its own process, as in :mod:`benchmarks.etl`) plays ``window + 1`` days of the
full company; the lake holds every dated dataset for the window's days but the last. Then,
as one night of the schedule does, with one client (its Odoo calls counted):

1. **the nightly loads**: the daily catch-up of every dataset in the schedule's order
   (dimensions synced, change detection on every model, the window's last day loaded);
2. **the reconciliation** over the window (:func:`nkdash.etl.reconcile.reconcile`): every
   date's source ids and Odoo's own count and totals against the lake's. Nothing differs
   here (the demo is static after its generation), so this is the check alone, which is
   what most nights cost; a date that differs adds its reload, which costs what the
   nightly loads cost per date.

Target: the reconciliation's wall time at most a quarter of the nightly loads'.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.etl import DAILY_ORDER, DemoSpec, demo_odoo, settings_for
from benchmarks.report import Figure

TARGET_RATIO = 0.25
NIGHT_ORDER = ("dimensions", "pos", "invoices", "purchases", "inventory", "profit", "stock-quants")  # the schedule's


def run(quick: bool, *, work: Path, log: Callable[[str], None] = print) -> tuple[list[Figure], list[str]]:
    from nkdash import dates as cal
    from nkdash.etl import catch_up, refresh
    from nkdash.etl.reconcile import reconcile
    from nkdash.odoo import connect

    window = 5 if quick else 35
    spec = DemoSpec(scale="small" if quick else "full", days=window + 1, end=dt.date(2026, 10, 29))
    night = spec.end + dt.timedelta(days=1)  # the night after the demo's last day: it loads that day
    dates = cal.days(spec.end - dt.timedelta(days=window), spec.end - dt.timedelta(days=1))  # all but the last
    lake = work / "healing-lake"
    shutil.rmtree(lake, ignore_errors=True)
    with demo_odoo(spec, log) as url:
        settings = settings_for(spec, url, lake).with_(reconcile_days=window)
        started = time.perf_counter()
        for name in DAILY_ORDER:
            report = refresh(name, dates, settings=settings, progress=False)
            if not report.ok:
                raise RuntimeError(report.summary())
        log(f"  {len(dates)} days loaded for the window in {time.perf_counter() - started:.0f} s")
        client = connect(settings)
        calls, started = client.calls, time.perf_counter()
        loaded = 0
        for name in NIGHT_ORDER:
            report = catch_up(name, night, settings=settings, client=client)
            if not report.ok:
                raise RuntimeError(report.summary())
            loaded += sum(1 for u in report.units if u.dataset == name and u.date is not None)
        loads_s, loads_calls = time.perf_counter() - started, client.calls - calls
        log(f"  nightly loads: {loads_s:.1f} s, {loads_calls} Odoo calls, {loaded} dated units")
        healing = reconcile(night, settings=settings, client=client, trigger="schedule")
        if not healing.ok or healing.reloaded:
            raise RuntimeError(healing.text())
        checked = sum(len(d) for d in healing.checked.values())
        log(f"  reconciliation: {healing.seconds:.1f} s, {healing.calls} Odoo calls, {checked} dataset dates checked")
    label = f"{spec.scale} demo, {window} days"
    return [
        Figure(
            "etl",
            f"reconciliation of {window} days ({label}): wall, nothing to heal",
            healing.seconds,
            "s",
            baseline=loads_s,
            baseline_name="the night's loads: catch-up of every dataset, 1 new day",
            ratio_kind="overhead",
            target=f"≤ {TARGET_RATIO}x the nightly loads",
            met=healing.seconds <= TARGET_RATIO * loads_s,
            note=f"{checked} dataset dates checked (ids and totals)",
            detail={"window": window, "checked": checked, "calls": healing.calls, "loads_calls": loads_calls},
        ),
        Figure(
            "etl",
            "  its Odoo calls",
            healing.calls,
            "calls",
            value_text=f"{healing.calls:,} calls",
            baseline=loads_calls,
            baseline_name="the night's loads",
            baseline_text=f"{loads_calls:,} calls (the night's loads)",
            ratio_kind="overhead",
        ),
    ], [
        f"Reconciliation: demo Odoo {spec.scale} scale, {spec.days} days, Odoo {spec.version}, JSON-RPC, in its own "
        f"process; the lake holds the {window}-day window; nothing differs (the check alone)."
    ]
