"""Background-work commands: the consumer, queue operations, async refresh, task history.

Each is a thin caller of :mod:`nkdash.queue`; an unreachable Redis or an unusable queue
file is one line on stderr (:class:`~nkdash.queue.QueueError`), like any user mistake.
"""

from __future__ import annotations

import argparse
import sys

from nkdash.cli.main import command, confirm
from nkdash.errors import InputError
from nkdash.etl.datasets import DATASET_NAMES
from nkdash.jobs import backend, control, history, requests

QUEUE_ACTIONS = ("status", "purge", "revoke", "retry-failed", "flush-locks", "recover")


TASK_STATES = ("queued", "running", "done", "failed", "revoked")


def _worker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=2, help="tasks run at once (default 2)")
    p.add_argument(
        "--type",
        choices=("thread", "process"),
        default="thread",
        help="worker model (default thread; process enforces per-task timeouts)",
    )
    p.add_argument(
        "--no-periodic",
        action="store_true",
        help="do not run the schedule here (not needed: consumers share it safely)",
    )


def _queue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=QUEUE_ACTIONS, help=" | ".join(QUEUE_ACTIONS))
    p.add_argument("task_id", nargs="?", metavar="ID", help="the task to revoke")
    p.add_argument("--yes", action="store_true", help="purge or revoke without asking (the plan is printed first)")
    p.add_argument(
        "--all",
        action="store_true",
        help="flush-locks: free every lock, also of running tasks (only with no consumer running)",
    )


def _refresh_async_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help=", ".join(DATASET_NAMES))
    p.add_argument("--start-date", metavar="YYYY-MM-DD", required=True, help="first date")
    p.add_argument("--end-date", metavar="YYYY-MM-DD", help="last date, inclusive (default: the start date)")


def _tasks_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", choices=TASK_STATES, help="only tasks in this state")
    p.add_argument("--request", metavar="ID", help="the dates of one async request")
    p.add_argument("--limit", type=int, default=30, help="at most this many (default 30)")


@command(
    "worker",
    "run a huey consumer: the daily schedule and queued refreshes (SIGTERM: graceful stop, "
    "SIGHUP: restart); logs in <log_dir>/huey/",
    _worker_args,
)
def worker_command(args: argparse.Namespace) -> int:
    from nkdash.jobs.backend import backend_errors
    from nkdash.jobs.worker import run_worker

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}", args.workers)
    with backend_errors():
        run_worker(workers=args.workers, worker_type=args.type, periodic=not args.no_periodic, verbose=args.verbose)
    return 0


@command("queue", "queue operations: status, purge, revoke ID, retry-failed, flush-locks, recover", _queue_args)
def queue_command(args: argparse.Namespace) -> int:

    with backend.backend_errors():
        return _queue_action(args)


def _queue_action(args: argparse.Namespace) -> int:

    if args.action == "status":
        print(control.status().text())
    elif args.action == "revoke":
        if not args.task_id:
            raise InputError("give the id of the task to revoke (see `nkdash queue status`)")
        print("revoke " + control.revoke(args.task_id, dry_run=True) + ": it will not run")
        confirm("Revoke it?", yes=args.yes, what="revoke", typed="revoke")
        control.revoke(args.task_id)
        print(f"revoked {args.task_id}")
    elif args.action == "purge":
        return _purge(args.yes)
    elif args.action == "retry-failed":
        ids = control.retry_failed()
        print(f"re-enqueued {len(ids)} task(s)" + "".join(f"\n  {i}" for i in ids))
    elif args.action == "flush-locks":
        freed = control.flush_locks(everything=args.all)
        print(f"freed {len(freed)} lock(s)" + "".join(f"\n  {name}" for name in freed))
    else:
        print("\n".join(history.recover()) or "no lost tasks")
    return 0


def _purge(yes: bool) -> int:
    print(control.purge_preview())
    if control.purge(dry_run=True) == 0:
        return 0
    confirm("Purge the queue?", yes=yes, what="purge", typed="purge")
    print(f"purged {control.purge()} task(s)")
    return 0


@command(
    "refresh-async", "queue a refresh of up to 31 days, one task per date; prints the request id", _refresh_async_args
)
def refresh_async_command(args: argparse.Namespace) -> int:
    from nkdash.jobs.backend import backend_errors
    from nkdash.jobs.requests import enqueue_refresh

    with backend_errors():
        request_id = enqueue_refresh(args.dataset, args.start_date, args.end_date or args.start_date)
    print(request_id)
    print(f"follow it with: nkdash tasks --request {request_id}", file=sys.stderr)
    return 0


@command("tasks", "task history: what is queued, running, done or failed", _tasks_args)
def tasks_command(args: argparse.Namespace) -> int:

    if args.request:
        for s in requests.request_status(args.request):
            print(f"{s.date}  {s.state:8} {s.task_id}  {s.detail}")
        return 0
    for row in control.tasks(state=args.state, limit=args.limit):
        when = row.get("finished_at") or row.get("started_at") or row.get("enqueued_at")
        print(
            f"{row['state']:8} {row['id']}  {row.get('name') or ''} {row.get('dataset') or ''} "
            f"{row.get('date') or ''}  {f'{when:%Y-%m-%d %H:%M:%S}' if when else '-'}  "
            f"{row.get('error') or ''}".rstrip()
        )
    return 0
