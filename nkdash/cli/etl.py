"""The runbook's ETL commands: refresh, profit, validate, reconcile, monitor, freshness.

A refresh takes the partition locks queued work takes: a date another task or command is
loading right now is not loaded twice (the line says which task has it; exit 0).

Input is checked before anything is written: an unknown dataset, a malformed date, an end
before its start, a date that is not complete yet (today or later in the business
timezone: yesterday is the latest) or a range over :data:`~nkdash.calendar.MAX_SYNC_DAYS`
days is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
from contextlib import nullcontext
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.cli.main import command
from nkdash.errors import InputError
from nkdash.etl.datasets import DATASET_NAMES, get
from nkdash.settings import get_settings

if TYPE_CHECKING:
    from nkdash.odoo import OdooClient


DATE = "YYYY-MM-DD"


def _date_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", metavar=DATE, help="one business date")
    p.add_argument("--start-date", metavar=DATE, help="first date of a range (with --end-date)")
    p.add_argument("--end-date", metavar=DATE, help="last date of a range, inclusive")


def _refresh_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help=", ".join(DATASET_NAMES))
    _date_args(p)
    p.add_argument("--full", action="store_true", help="reload the dimensions completely, not only changes")


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", metavar=DATE, required=True, help="the business date to validate")
    p.add_argument(
        "--dataset",
        action="append",
        metavar="DATASET",
        help="only this dataset (repeatable; default: every dataset loaded for the date)",
    )


def _reconcile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--days", type=int, help="the window: this many days up to yesterday (default NKDASH_RECONCILE_DAYS)"
    )
    p.add_argument("--dry-run", action="store_true", help="only show which dates differ from Odoo; change nothing")
    p.add_argument("--yes", action="store_true", help="reload the dates that differ without asking")


def _monitor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=7, help="look back this many days (default 7)")
    p.add_argument("--verbose", dest="list_runs", action="store_true", help="also list every run")


def requested_span(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    """``--date D`` or ``--start-date A --end-date B`` -> (first, last), syntax checked."""
    if args.date and (args.start_date or args.end_date):
        raise InputError("give either --date or --start-date/--end-date, not both")
    if args.date:
        day = cal.parse_date(args.date)
        return day, day
    if not (args.start_date and args.end_date):
        raise InputError("give --date YYYY-MM-DD, or --start-date YYYY-MM-DD --end-date YYYY-MM-DD")
    return cal.parse_date(args.start_date, "start date"), cal.parse_date(args.end_date, "end date")


AHEAD_OF_EVERYONE = "Etc/GMT-14"  # UTC+14: no business date is complete before it is complete here


def checked_dates(start: dt.date, end: dt.date, dataset: str | None = None) -> tuple[list[dt.date], OdooClient]:
    """The dates of ``start..end`` once checked, and the Odoo client that told the timezone.

    Order, length and dates in the future everywhere are refused before connecting (nothing is
    written). For a ``dataset`` run, Odoo refusing the login or the connection records a failed
    run per requested date, as a refresh failing later would."""
    from nkdash.etl.runner import recorded_if_unstarted, refuse_other_source
    from nkdash.odoo import business_tz, connect

    settings = get_settings()
    surely_past = cal.latest_complete(cal.timezone(settings.tz or AHEAD_OF_EVERYONE))
    requested = cal.check_range(start, end, latest=surely_past)
    recording = recorded_if_unstarted(dataset, requested, "manual", None, settings, None) if dataset else nullcontext()
    with recording:
        client = connect(settings)
        tz = business_tz(settings, client)
    refuse_other_source(settings, client)  # before the refresh records its task: nothing written
    return cal.check_range(start, end, latest=cal.latest_complete(tz)), client


def _run_refresh(dataset: str, args: argparse.Namespace, full: bool = False) -> int:
    from nkdash.jobs.requests import refresh_now

    spec = get(dataset)
    dates, client = checked_dates(*requested_span(args), dataset=spec.name)
    outcome = refresh_now(dataset, dates, client=client, full=full, progress=True)  # under the partition locks
    print(outcome.summary())
    return 0 if outcome.ok and not outcome.waiting else 1


@command("refresh", "load a dataset for a date or a date range (replaces those partitions)", _refresh_args)
def refresh_command(args: argparse.Namespace) -> int:
    return _run_refresh(args.dataset, args, full=args.full)


@command(
    "profit", "profit ETL for a date or range: load missing POS/invoice inputs, then cost and aggregates", _date_args
)
def profit_command(args: argparse.Namespace) -> int:
    return _run_refresh("profit", args)


@command("validate", "check a date's lake partitions against Odoo's own counts and totals", _validate_args)
def validate_command(args: argparse.Namespace) -> int:
    from nkdash.etl.validate import validate

    names = [get(name).name for name in args.dataset or ()]
    day = cal.parse_date(args.date)
    _, client = checked_dates(day, day)
    report = validate(day, names or None, client=client)
    print(report.text())
    return 0 if report.ok else 1


@command(
    "reconcile",
    "check the last days against Odoo's ids and totals, reload the dates that differ (asks first), record the outcome",
    _reconcile_args,
)
def reconcile_command(args: argparse.Namespace) -> int:
    from nkdash.cli.main import confirm
    from nkdash.etl.reconcile import reconcile

    def approve(plan: str) -> None:
        print(plan)
        confirm("Reload these dates from Odoo?", yes=args.yes, what="the reload")

    report = reconcile(days=args.days, dry_run=args.dry_run, approve=approve)
    print(report.text())
    return 0 if report.ok else 1


@command("monitor", "ETL durations, rows, throughput and failures per dataset; query timings", _monitor_args)
def monitor_command(args: argparse.Namespace) -> int:
    from nkdash.ops.report import monitor

    if not 1 <= args.days <= cal.MAX_SYNC_DAYS:
        raise InputError(f"--days must be between 1 and {cal.MAX_SYNC_DAYS}, got {args.days}", args.days)
    print(monitor(args.days, args.list_runs).text())
    return 0


@command(
    "freshness", "per dataset: last loaded date, missing/failed/stale dates, SLA status (exit 1 when one is critical)"
)
def freshness_command(args: argparse.Namespace) -> int:
    from nkdash.etl.freshness import freshness_report

    report = freshness_report()
    print(report.text())
    return 0 if report.ok else 1
