"""The servers the page benchmark drives: ``nkdash serve`` and, as the baseline, plain
``marimo run`` of the same notebooks on the same lake; their addresses and memory.

Both serve the four dashboard notebooks of ``nkdash/notebooks/``. ``nkdash serve`` mounts
each at ``/<name>/`` (its WebSocket at ``/<name>/ws``, marimo's API under ``/<name>/api``);
``marimo run <folder>`` serves the folder's notebooks at ``/?file=<name>.py`` (WebSocket
``/ws?file=<name>.py``, API ``/api``). Both get the same environment (``NKDASH_LAKE``, an
empty home, no user configuration of marimo).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "nkdash" / "notebooks"
DASHBOARDS = ("sales", "profit", "inventory", "purchases")

Kind = Literal["nkdash", "marimo"]


@dataclass
class Server:
    """A running server: where its pages, WebSockets and kernel API are."""

    kind: Kind
    url: str
    process: psutil.Process
    ready_s: float  # from the command's start until it answered
    output: list[str]  # what it printed

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def page(self, name: str) -> str:
        return f"{self.url}/{name}/" if self.kind == "nkdash" else f"{self.url}/?file={name}.py"

    def ws(self, name: str, session_id: str) -> str:
        if self.kind == "nkdash":
            return f"ws://{self.host}/{name}/ws?session_id={session_id}"
        return f"ws://{self.host}/ws?session_id={session_id}&file={name}.py"

    def api(self, name: str, endpoint: str) -> str:
        prefix = f"/{name}" if self.kind == "nkdash" else ""
        return f"{self.url}{prefix}/api/kernel/{endpoint}"


def _environment(lake: Path, workdir: Path, paths: tuple[Path, ...] = ()) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir / ".config"),
        "PYTHONPATH": os.pathsep.join(map(str, (*paths, REPO))),
        "NKDASH_LAKE": str(lake),
        "NKDASH_STATE_DIR": str(workdir / "state"),
        "NKDASH_LOG_DIR": str(workdir / "logs"),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(
    kind: Kind, lake: Path, workdir: Path, timeout: float = 180.0, *, paths: tuple[Path, ...] = (), **env: str
) -> Iterator[Server]:
    """``nkdash serve --no-auth`` or ``marimo run <notebooks> --headless`` on a free loopback
    port, until it answers; stopped (SIGTERM, then SIGKILL) afterwards. ``paths`` go first on
    its ``PYTHONPATH``, ``env`` into its environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    if kind == "nkdash":
        command = [sys.executable, "-m", "nkdash", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-auth"]
        probe = "/health"
    else:
        marimo = str(Path(sys.executable).with_name("marimo"))
        command = [marimo, "run", str(NOTEBOOKS), "--headless", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--no-token", "--no-skew-protection"]
        probe = "/"
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        env={**_environment(lake, workdir, paths), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start:\n" + "".join(lines[-30:]))
            with contextlib.suppress(requests.RequestException):
                if requests.get(url + probe, timeout=30).status_code in (200, 503):
                    break
            time.sleep(0.1)
        yield Server(kind, url, psutil.Process(proc.pid), time.monotonic() - started, lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(process: psutil.Process) -> float:
    """Resident memory of a process and its children, MB."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def cpu_s(process: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by a process and its live children."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            total += times.user + times.system
    return total


class Sampler:
    """Peak RSS of a process tree, sampled in a thread, and the CPU seconds it used meanwhile
    (a figure the machine's other load hardly moves)."""

    def __init__(self, process: psutil.Process, every: float = 0.1):
        self.process, self.every, self.peak = process, every, 0.0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, rss_mb(self.process))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self.cpu = -cpu_s(self.process)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu += cpu_s(self.process)
