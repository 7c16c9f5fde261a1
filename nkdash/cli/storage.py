"""The runbook's storage commands: ``nkdash storage sizes|compact|archive|clean-temp``,
``nkdash backfill``, ``nkdash backup``, ``nkdash restore`` and ``nkdash backups``.

Bad input (a malformed date, an unknown table, a missing or damaged backup, a destination
inside the lake) is one line on stderr and exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse

from nkdash import dates as cal
from nkdash import storage
from nkdash.cli.main import command, confirm
from nkdash.errors import InputError
from nkdash.etl import derived
from nkdash.lake import PARTITIONED
from nkdash.settings import get_settings
from nkdash.storage import archiving, housekeeping, restoring


def _storage_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("sizes", help="per table: files, dates, rows, bytes, smallest/largest file, oldest/newest date")
    compact = sub.add_parser("compact", help="merge the daily partitions of old months into one file per month")
    compact.add_argument(
        "--older-than-days",
        type=int,
        metavar="N",
        help="months that ended more than N days ago (default NKDASH_COMPACT_AFTER_DAYS, "
        f"{storage.DEFAULT_COMPACT_AFTER_DAYS} unless set)",
    )
    compact.add_argument(
        "--table",
        action="append",
        choices=PARTITIONED,
        metavar="TABLE",
        help="only this table (repeatable; default: every dated table)",
    )
    compact.add_argument("--dry-run", action="store_true", help="only show what would be compacted")
    compact.add_argument("--yes", action="store_true", help="do not ask (the plan is printed first)")
    archive = sub.add_parser("archive", help="move the partitions before a date to an archive (a compacted lake)")
    archive.add_argument("--before", required=True, metavar="YYYY-MM-DD", help="first date kept in the lake")
    archive.add_argument("--dest", metavar="DIR", help=f"archive directory (default <lake>/{archiving.ARCHIVE_DIR})")
    archive.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="archive even if dates before the cutoff are missing, failed or stale",
    )
    archive.add_argument("--dry-run", action="store_true", help="only show what would be moved")
    archive.add_argument(
        "--force",
        action="store_true",
        help="archive inside the retention window (NKDASH_RETENTION_YEARS); asks a second time",
    )
    archive.add_argument("--yes", action="store_true", help="do not ask (the plan is printed first)")
    clean = sub.add_parser("clean-temp", help="remove leftovers of killed writes (reports bytes freed)")
    clean.add_argument(
        "--older-than-hours",
        type=float,
        default=1.0,
        metavar="H",
        help="temp files of other tools in the star schema must be this old (default 1)",
    )
    clean.add_argument("--yes", action="store_true", help="do not ask (the candidates are printed first)")


@command("storage", "storage management: sizes, compact, archive, clean-temp", _storage_args)
def storage_command(args: argparse.Namespace) -> int:
    if args.action == "sizes":
        print(housekeeping.sizes_text(storage.sizes(), housekeeping.disk_usage()))
    elif args.action == "compact":
        days = get_settings().compact_after_days if args.older_than_days is None else args.older_than_days
        if days < 0:
            raise InputError(f"--older-than-days must be 0 or more, got {days}", days)
        plan = storage.compact(older_than_days=days, tables=args.table, dry_run=True)
        print(plan.text())
        if args.dry_run or not plan.planned:
            return 0
        confirm("compact as above?", yes=args.yes, what="compaction")
        print(storage.compact(older_than_days=days, tables=args.table).text())
    elif args.action == "archive":
        return _archive(args)
    elif args.action == "clean-temp":
        if args.older_than_hours < 0:
            raise InputError(f"--older-than-hours must be 0 or more, got {args.older_than_hours}")
        candidates = storage.clean_temp(older_than_s=args.older_than_hours * 3600, dry_run=True)
        print(candidates.text())
        if not candidates.removed:
            return 0
        confirm("remove them?", yes=args.yes, what="clean-temp", typed="clean-temp")
        print(storage.clean_temp(older_than_s=args.older_than_hours * 3600).text())
    return 0


def _archive(args: argparse.Namespace) -> int:
    """Print the plan (what moves, and whether it is inside the retention window), then ask:
    typing ``archive``, and ``force`` too for dates the retention keeps."""
    before = cal.parse_date(args.before, "--before")
    options = {"dest": args.dest, "allow_incomplete": args.allow_incomplete, "force": args.force}
    plan = storage.archive(before, dry_run=True, **options)
    print(plan.text())
    if args.dry_run or not plan.partitions:
        return 0
    confirm("Archive as above?", yes=args.yes, what="archive", typed="archive")
    if plan.forced:
        confirm(
            f"These dates are INSIDE the retention window (kept from {plan.keep_from}).",
            yes=args.yes,
            what="archive inside the retention window",
            typed="force",
        )
    print(storage.archive(before, **options).text())
    return 0


def _backfill_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start-date", metavar="YYYY-MM-DD", help="first date to look at (default: the first in the lake)")
    p.add_argument("--end-date", metavar="YYYY-MM-DD", help="last date to look at (default: the last in the lake)")
    p.add_argument(
        "--deep", action="store_true", help="recompute every date, not only those missing or not as recorded"
    )
    p.add_argument("--dry-run", action="store_true", help="only show the dates that would be rebuilt")


@command("backfill", "rebuild missing or stale aggregates of fact_sales from the lake (no Odoo)", _backfill_args)
def backfill_command(args: argparse.Namespace) -> int:
    start = cal.parse_date(args.start_date, "--start-date") if args.start_date else None
    end = cal.parse_date(args.end_date, "--end-date") if args.end_date else None
    report = derived.backfill(start=start, end=end, deep=args.deep, dry_run=args.dry_run)
    print(report.text())
    return 0 if report.ok else 1


def _dest_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dest", metavar="DIR", help="backup directory (default <NKDASH_STATE_DIR>/backups)")


@command("backup", "a consistent snapshot of the lake's data and metadata (outside the lake)", _dest_arg)
def backup_command(args: argparse.Namespace) -> int:
    print(storage.backup(dest=args.dest).text())
    return 0


@command("backups", "list the backups, newest first", _dest_arg)
def backups_command(args: argparse.Namespace) -> int:
    found = storage.list_backups(args.dest)
    print("\n".join(b.text() for b in found) or "no backups")
    return 0


def _restore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("backup", metavar="BACKUP", help="a backup directory (see nkdash backups)")
    p.add_argument("--yes", action="store_true", help="do not ask: replace the lake's data and metadata")
    p.add_argument(
        "--validate-days",
        type=int,
        default=restoring.RESTORE_VALIDATE_DAYS,
        metavar="N",
        help=f"validate the latest N restored dates against Odoo (default "
        f"{restoring.RESTORE_VALIDATE_DAYS}; 0: offline checks only)",
    )


@command("restore", "replace the lake's data and metadata with a backup, then verify and validate", _restore_args)
def restore_command(args: argparse.Namespace) -> int:
    if args.validate_days < 0:
        raise InputError(f"--validate-days must be 0 or more, got {args.validate_days}", args.validate_days)
    info = storage.verify_backup(args.backup)  # refuses a missing or damaged backup before asking
    if not info.ok:
        raise storage.BackupError(
            f"backup {info.path.name} is damaged, nothing restored: {info.problems[0]}", info.path
        )
    print(storage.restore_plan(info.path))
    confirm("Restore as above?", yes=args.yes, what="restore", typed="restore")
    report = storage.restore(info.path, validate_days=args.validate_days)
    print(report.text())
    return 0 if report.ok else 1


def _rebuild_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="only show what would be recorded")
    p.add_argument("--yes", action="store_true", help="do not ask: replace the metadata store (the old one is kept)")


@command(
    "rebuild-metadata",
    "rebuild a lost, empty or damaged metadata store from the lake's files (partition states, checksums)",
    _rebuild_args,
)
def rebuild_metadata_command(args: argparse.Namespace) -> int:
    plan = storage.rebuild_metadata(dry_run=True)
    print(plan.text())
    if args.dry_run:
        return 0
    confirm("Replace the metadata store as above?", yes=args.yes, what="rebuild-metadata", typed="rebuild-metadata")
    print(storage.rebuild_metadata().summary())
    return 0
