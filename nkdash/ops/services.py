"""The huey consumers started, stopped and restarted from a page; logs and memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nkdash.jobs import backend, locks, schedule, worker
from nkdash.ops.common import Result, guarded, stamp_text
from nkdash.processes import HOST, start_time
from nkdash.settings import Settings, get_settings

TAIL_LINES = 80


WORKERS_DIR = "workers"  # <state_dir>/workers/<pid>.json: consumers started from a page


READY_TIMEOUT = 30.0  # seconds a starting consumer gets to say it is ready


STOP_TIMEOUT = 60.0  # seconds a stopping consumer gets to finish its tasks in hand


_children: dict[int, subprocess.Popen] = {}  # consumers this process started


def _workers_dir(settings: Settings) -> Path:
    path = Path(settings.state_dir) / WORKERS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def workers(settings: Settings | None = None) -> list[dict]:
    """Consumers started from a page (pid files), alive ones only; dead pid files are removed."""
    settings = settings or get_settings()
    alive = []
    for file in sorted(_workers_dir(settings).glob("*.json")):
        try:
            holder = json.loads(file.read_text())
        except (OSError, ValueError):
            file.unlink(missing_ok=True)
            continue
        if _alive(holder):
            alive.append(holder)
        else:
            file.unlink(missing_ok=True)
    return alive


def _alive(holder: dict) -> bool:
    proc = _children.get(holder.get("pid", -1))  # no pid: no child of ours
    if proc is not None:
        return proc.poll() is None
    if holder.get("host") != HOST:
        return True  # another machine: cannot tell
    return locks.alive(holder) is not False and start_time(holder["pid"]) is not None


def worker_table(settings: Settings | None = None) -> pd.DataFrame:
    settings = settings or get_settings()
    tick = schedule.last_tick(settings)
    rows = [
        {
            "pid": w["pid"],
            "host": w["host"],
            "since": w["since"],
            "workers": w.get("workers"),
            "rss (MB)": _rss_mb(w["pid"]),
        }
        for w in workers(settings)
    ]
    frame = pd.DataFrame(rows, columns=["pid", "host", "since", "workers", "rss (MB)"])
    frame.attrs["last_tick"] = stamp_text(tick)
    return frame


@guarded("Start the worker")
def start_worker(settings: Settings | None = None, *, workers_per_process: int = 2, periodic: bool = True) -> Result:
    """Start a huey consumer (``nkdash worker``) as a child process, recorded in a pid file."""
    settings = settings or get_settings()
    proc = worker.start_worker_process(settings, workers=workers_per_process, periodic=periodic)
    _children[proc.pid] = proc
    record_worker(proc.pid, settings, workers_per_process)
    log = worker.log_file(settings)
    deadline = time.monotonic() + READY_TIMEOUT
    while proc.poll() is None and f"consumer {proc.pid} ready" not in tail(log) and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is not None:
        return Result(False, "The worker exited at once", tail(log.with_name("worker.out")))
    return Result(
        True,
        f"Worker started (pid {proc.pid})",
        f"logs in {log.parent}; it recovered lost tasks first and now takes queued work",
        value=proc.pid,
    )


def record_worker(pid: int, settings: Settings | None = None, threads: int | None = None) -> dict:
    """Record a consumer process of this machine in ``<state_dir>/workers/<pid>.json``, so
    that the pages list, stop and restart it."""
    holder = {
        "host": HOST,
        "pid": pid,
        "started": start_time(pid),
        "workers": threads,
        "since": backend.now().isoformat(),
    }
    (_workers_dir(settings or get_settings()) / f"{pid}.json").write_text(json.dumps(holder))
    return holder


@guarded("Stop the workers")
def stop_workers(settings: Settings | None = None, *, timeout: float = STOP_TIMEOUT) -> Result:
    """SIGTERM every consumer started from a page: tasks in hand finish (up to ``timeout``
    seconds), then they stop. Returns their exit codes."""
    settings = settings or get_settings()
    found = workers(settings)
    if not found:
        return Result(
            True,
            "No worker started from this page is running",
            "consumers started elsewhere (systemd, a terminal) are stopped there",
        )
    lines = [f"pid {w['pid']}: {_stop(w['pid'], timeout)}" for w in found]
    for w in found:
        (_workers_dir(settings) / f"{w['pid']}.json").unlink(missing_ok=True)
    return Result(True, f"Stopped {len(found)} worker(s)", "\n".join(lines))


def _stop(pid: int, timeout: float) -> str:
    proc = _children.pop(pid, None)
    if proc is not None:
        return f"exited with code {worker.stop_worker(proc, timeout)}"
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGTERM, 15.0), (signal.SIGKILL, 15.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return "already gone"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not start_time(pid) is not None:
                return "stopped"
            time.sleep(0.2)
    return "still running"


@guarded("Restart the workers")
def restart_workers(settings: Settings | None = None, *, timeout: float = STOP_TIMEOUT) -> Result:
    """Stop the consumers started from a page (gracefully), then start one."""
    settings = settings or get_settings()
    stopped = stop_workers(settings, timeout=timeout)
    started = start_worker(settings)
    return Result(
        stopped.ok and started.ok,
        "Worker restarted" if started.ok else "Restart failed",
        "\n".join([stopped.text, started.title, started.text]),
        value=started.value,
    )


def log_files(settings: Settings | None = None) -> dict[str, Path]:
    """The services' logs: web access and application logs, the consumer's log and output."""
    settings = settings or get_settings()
    web, huey = Path(settings.log_dir) / "web", Path(settings.log_dir) / "huey"
    return {
        "web access": web / "access.log",
        "web": web / "web.log",
        "worker": huey / "consumer.log",
        "worker output": huey / "worker.out",
    }


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * lines))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def logs_result(names: Sequence[str], settings: Settings | None = None, lines: int = TAIL_LINES) -> Result:
    files = log_files(settings)
    parts = [f"==> {files[n]} <==\n{tail(files[n], lines) or '(empty or not created yet)'}" for n in names]
    return Result(True, f"Last {lines} lines of the {' and '.join(names)} log(s)", "\n\n".join(parts))


def memory_table(settings: Settings | None = None) -> pd.DataFrame:
    """Memory of the machine, of this process (the web server's notebooks) and of the workers."""
    settings = settings or get_settings()
    info = _meminfo()
    rows = [
        {"what": "machine total", "MB": info.get("MemTotal")},
        {"what": "machine available", "MB": info.get("MemAvailable")},
        {"what": f"this process (pid {os.getpid()})", "MB": _rss_mb(os.getpid())},
    ]
    rows += [{"what": f"worker pid {w['pid']}", "MB": _rss_mb(w["pid"])} for w in workers(settings)]
    return pd.DataFrame(rows)


def _meminfo() -> dict[str, float]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None
