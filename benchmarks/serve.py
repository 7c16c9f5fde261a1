"""Part 3 (served app): peak RSS of ``nkdash serve`` with 20 concurrent dashboard viewers.

A viewer is what a browser tab does to the server, without the browser: it opens the
notebook's marimo WebSocket (``/<notebook>/ws?session_id=...``); in run mode marimo then
creates a session (a kernel thread in the server process) and runs every cell, sending
``cell-op`` messages. A viewer is done when every cell it saw is back to idle and nothing
arrived for a second. The 20 viewers are spread over the four dashboards (5 each), all
connecting at once, against the benchmark lake. The baseline is a fresh server with one
viewer on the sales dashboard. RSS is sampled every 0.1 s (the server process and its
children, psutil).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import requests

from benchmarks.report import Figure, median, p95

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = ("/sales", "/profit", "/inventory", "/purchases")
QUIET_S = 1.0


@contextlib.contextmanager
def nkdash_serve(lake: Path, workdir: Path, timeout: float = 90.0) -> Iterator[tuple[str, psutil.Process]]:
    """``nkdash serve --no-auth`` on a free loopback port; yields (url, process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(workdir),
        "PYTHONPATH": str(REPO),
        "NKDASH_LAKE": str(lake),
        "NKDASH_STATE_DIR": str(workdir / "state"),
        "NKDASH_LOG_DIR": str(workdir / "logs"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nkdash", "serve", "--host", "127.0.0.1", "--port", "0", "--no-auth"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    url = ""
    try:
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            lines.append(line)
            if "serving on http://" in line:
                url = line.split("serving on ")[1].split()[0].rstrip("/")
                break
            if time.monotonic() > deadline:
                break
        if not url:
            raise RuntimeError("nkdash serve did not start:\n" + "".join(lines[-30:]))
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/health", timeout=30).status_code in (200, 503):
                    break
            time.sleep(0.1)
        yield url, psutil.Process(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(process: psutil.Process) -> float:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


class Sampler:
    """Peak RSS of a process tree, sampled in a thread."""

    def __init__(self, process: psutil.Process, every: float = 0.1):
        self.process, self.every, self.peak = process, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, rss_mb(self.process))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def viewer(url: str, path: str, timeout: float) -> dict:
    """Open one dashboard like a browser tab; returns seconds until done, cells, errors."""
    import websockets

    host = url.split("://", 1)[1]
    ws_url = f"ws://{host}{path}/ws?session_id=bench-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    statuses: dict[str, str] = {}
    errors = 0
    async with websockets.connect(
        ws_url, origin=f"http://{host}", max_size=None, open_timeout=timeout, ping_interval=None
    ) as ws:
        last = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=QUIET_S)
            except TimeoutError:
                if statuses and all(s not in ("queued", "running") for s in statuses.values()):
                    break
                continue
            last = time.monotonic()
            message = json.loads(raw)
            if message.get("op") != "cell-op":
                continue
            data = message.get("data") or {}
            if data.get("status"):
                statuses[data["cell_id"]] = data["status"]
            output = data.get("output") or {}
            if output.get("channel") == "marimo-error":
                errors += 1
        done = all(s not in ("queued", "running") for s in statuses.values()) and bool(statuses)
    return {"path": path, "seconds": last - started, "cells": len(statuses), "errors": errors, "done": done}


async def viewers(url: str, paths: list[str], timeout: float) -> list[dict]:
    return await asyncio.gather(*(viewer(url, p, timeout) for p in paths))


def phase(lake: Path, workdir: Path, paths: list[str], timeout: float) -> dict:
    with nkdash_serve(lake, workdir) as (url, process):
        idle = rss_mb(process)
        with Sampler(process) as sampler:
            started = time.monotonic()
            results = asyncio.run(viewers(url, paths, timeout))
            wall = time.monotonic() - started
            time.sleep(0.3)
        return {"idle_mb": idle, "peak_mb": sampler.peak, "wall_s": wall, "viewers": results}


def run(
    root: Path, *, n: int = 20, timeout: float = 300.0, log: Callable[[str], None] = print
) -> tuple[list[Figure], list[str]]:
    work = Path(tempfile.mkdtemp(prefix="nkdash-serve-bench-"))
    one = phase(root, work / "one", ["/sales"], timeout)
    log(
        f"  1 viewer: idle {one['idle_mb']:.0f} MB, peak {one['peak_mb']:.0f} MB, "
        f"{one['viewers'][0]['seconds']:.1f} s, {one['viewers'][0]['cells']} cells"
    )
    paths = [DASHBOARDS[i % len(DASHBOARDS)] for i in range(n)]
    many = phase(root, work / "many", paths, timeout)
    secs = [v["seconds"] for v in many["viewers"]]
    done = sum(v["done"] for v in many["viewers"])
    errors = sum(v["errors"] for v in many["viewers"]) + one["viewers"][0]["errors"]
    log(
        f"  {n} viewers: idle {many['idle_mb']:.0f} MB, peak {many['peak_mb']:.0f} MB, pages done p50 "
        f"{median(secs):.1f} s p95 {p95(secs):.1f} s, {done}/{n} done, {errors} cell errors"
    )
    notes = []
    if errors:
        notes.append(f"served app: {errors} cell(s) showed an error while the viewers loaded the dashboards")
    if done < n:
        notes.append(f"served app: {n - done} viewer(s) not done within {timeout:.0f} s")
    return [
        Figure(
            "memory",
            f"served app, {n} concurrent viewers ({n // len(DASHBOARDS)} per dashboard): peak RSS",
            many["peak_mb"],
            "MB",
            baseline=one["peak_mb"],
            baseline_name="1 viewer",
            ratio_kind="overhead",
            target="reported",
            detail={"one": one, "many": many},
        ),
        Figure("memory", "  served app idle after start", many["idle_mb"], "MB"),
        Figure(
            "memory",
            f"  {n} viewers: time until every cell ran, p50 / p95",
            p95(secs),
            "s",
            baseline=one["viewers"][0]["seconds"],
            baseline_name="1 viewer",
            ratio_kind="overhead",
            value_text=f"{median(secs):.1f} / {p95(secs):.1f} s",
            note=f"{done}/{n} done",
        ),
    ], notes
