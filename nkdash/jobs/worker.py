"""Running a huey consumer: the worker process, its logs, its start and stop."""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nkdash.errors import NKDashError
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    pass
from nkdash.jobs.backend import backend, huey_for, log


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a child process read ``settings``."""
    return settings.to_env()


def log_file(settings: Settings) -> Path:
    """``<log_dir>/huey/consumer.log``."""
    path = Path(settings.log_dir) / "huey" / "consumer.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_worker(
    settings: Settings | None = None,
    *,
    workers: int = 2,
    worker_type: str = "thread",
    periodic: bool = True,
    verbose: bool = False,
) -> None:
    """Run a consumer in this process: SIGTERM stops it after the tasks in hand (a second
    SIGTERM or SIGINT/Ctrl+C at once), SIGHUP restarts it. Logs to ``<log_dir>/huey/``."""
    settings = settings or get_settings()
    huey = huey_for(settings)
    handler = logging.handlers.WatchedFileHandler(log_file(settings))
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] %(levelname)s:%(name)s:%(process)d:%(threadName)s:%(message)s")
    )
    root = logging.getLogger()
    for console in root.handlers:
        console.setLevel(logging.DEBUG if verbose else logging.WARNING)  # the file has the rest
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for run in huey.history.meta.mark_interrupted():  # ETL runs of a killed worker: failed, not running forever
        log.warning("run %s (%s %s) %s", run["id"], run["dataset"], run["date"] or "", run["error"])
    heal_at_start(settings)
    consumer = huey.create_consumer(
        workers=workers,
        worker_type=worker_type,
        periodic=periodic,
        graceful_signal="TERM",
        max_delay=1.0,
        check_worker_health=True,
    )
    log.info("nkdash consumer on %s, %d %s worker(s)", backend(settings), workers, worker_type)
    if sys.argv[0].endswith("__main__.py"):  # SIGHUP re-executes sys.argv: keep `python -m nkdash`
        sys.argv[:1] = ["-m", "nkdash"]
    consumer.run()


def heal_at_start(settings: Settings) -> None:
    """Before the worker takes its first task: the derived tables the lake lacks (a lake
    written by an older nkdash: new aggregates) rebuilt from its own ``fact_sales``, as
    ``nkdash up`` does, so the dashboards need not wait for the night's profit job. Nothing
    to do costs a listing of the derived tables (0.75 s for a 3-year lake); a failure is
    logged and the worker starts anyway."""
    from nkdash.etl.derived import backfill

    try:
        report = backfill(settings.lake, trigger="schedule")
    except (NKDashError, OSError) as exc:
        log.error("derived tables not checked at start: %s", exc)
        return
    if report.gaps:
        (log.info if report.ok else log.error)("at start: %s", report.text())


def start_worker_process(
    settings: Settings | None = None,
    *,
    workers: int = 2,
    worker_type: str = "thread",
    periodic: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start ``nkdash worker`` as a child process (``nkdash up``); stop it with :func:`stop_worker`.

    Its stdout/stderr (anything before logging starts) go to ``<log_dir>/huey/worker.out``.
    """
    settings = settings or get_settings()
    out = log_file(settings).with_name("worker.out").open("ab")
    command = [
        sys.executable,
        "-m",
        "nkdash",
        "worker",
        "--workers",
        str(workers),
        "--type",
        worker_type,
        *([] if periodic else ["--no-periodic"]),
    ]
    try:
        child_env = {**os.environ, **settings_env(settings), **(env or {})}
        return subprocess.Popen(command, env=child_env, stdout=out, stderr=subprocess.STDOUT)  # same cwd
    finally:
        out.close()


def stop_worker(proc: subprocess.Popen, timeout: float = 600) -> int:
    """SIGTERM: the tasks in hand finish. After ``timeout`` s a second SIGTERM stops it now
    (the interrupted tasks are recorded as failed; their partitions are untouched), then SIGKILL.
    Returns the exit code."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()
