"""Recovery from the command line: ``nkdash scan`` and ``nkdash repair`` (the Recovery page
calls the same library functions, :mod:`nkdash.ops.recovery`)."""

from __future__ import annotations

import argparse

from nkdash.cli.main import command, confirm


def _scan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deep", action="store_true", help="read every page and check every file's sha256 (slower)")


@command("scan", "find damaged partitions and missing aggregates (exit 1 if any)", _scan_args)
def scan_command(args: argparse.Namespace) -> int:
    from nkdash.ops.recovery import scan

    report = scan(deep=args.deep)
    print(report.text())
    return 0 if report.ok else 1


def _repair_args(p: argparse.ArgumentParser) -> None:
    _scan_args(p)
    p.add_argument("--dry-run", action="store_true", help="only show what would be done")
    p.add_argument("--yes", action="store_true", help="do not ask before quarantining and reloading")


@command(
    "repair",
    "quarantine and reload damaged partitions, rebuild aggregates, reload missing, failed and stale dates",
    _repair_args,
)
def repair_command(args: argparse.Namespace) -> int:
    from nkdash.ops.recovery import repair

    plan = repair(deep=args.deep, dry_run=True)
    print(plan.text())
    if args.dry_run or plan.plan.empty:
        return 0
    confirm("repair as above?", yes=args.yes, what="repair")
    report = repair(deep=args.deep)
    print(report.text())
    return 0 if report.ok else 1
