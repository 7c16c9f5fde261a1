"""Viewers of a dashboard, as the server sees them: WebSocket tabs and a real browser.

A :class:`Tab` does what a browser tab does to the server, without the browser: it opens
the notebook's marimo WebSocket; in run mode marimo then creates a session (a kernel) and
runs every cell, sending ``cell-op`` messages. The tab notes when the KPI cards arrive (the
first cell output holding a KPI card, class ``nk-card``: "sees its numbers") and when every cell is
back to idle with nothing more for :data:`QUIET_S` ("every cell has run": the time of the
last message). It can stay connected while others measure, and change a filter like the
front end does: marimo's front end posts the new value of a UI element to
``api/kernel/set_ui_element_value`` (header ``Marimo-Session-Id``; the WebSocket only
carries the kernel's messages back), the element named by the ``object-id`` the kernel put
in the cell's HTML; the change is done when the cells it reran are idle again.

:func:`browser_open` times real page loads in headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright): navigation until a KPI card shows a number,
and until every cell has run (the same ``cell-op`` messages, read from the page's
WebSocket frames); first visits (an empty browser cache) and returning ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from benchmarks.servers import Server

QUIET_S = 1.0
NUMBERS = "nk-card"  # the class of a KPI card (nkdash.dashboards.cards)
BUSY = ("queued", "running")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@dataclass
class Cells:
    """What the kernel's ``cell-op`` messages said: each cell's status, errors, KPI time."""

    started: float
    statuses: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # cell id -> its last HTML output
    errors: int = 0
    numbers_at: float | None = None  # seconds from ``started`` until the KPI cards arrived
    last_at: float = 0.0  # seconds from ``started`` until the last cell-op

    def note(self, raw: str | bytes, now: float) -> None:
        message = json.loads(raw)
        if message.get("op") != "cell-op":
            return
        data = message.get("data") or {}
        self.last_at = now - self.started
        if data.get("status"):
            self.statuses[data["cell_id"]] = data["status"]
        output = data.get("output") or {}
        if output.get("channel") == "marimo-error":
            self.errors += 1
        text = output.get("data")
        if isinstance(text, str) and output.get("mimetype") == "text/html":
            self.outputs[data["cell_id"]] = text
            if self.numbers_at is None and NUMBERS in text:
                self.numbers_at = now - self.started

    @property
    def idle(self) -> bool:
        return bool(self.statuses) and all(s not in BUSY for s in self.statuses.values())

    def elements(self) -> list[dict[str, Any]]:
        """The UI elements in the cells' outputs: ``{"id", "kind", "label", "options"...}``."""
        found = []
        for text in self.outputs.values():
            for object_id, kind, attrs in re.findall(
                r"<marimo-ui-element object-id='([^']+)'[^>]*><marimo-([\w-]+)([^>]*)>", text
            ):
                element: dict[str, Any] = {"id": object_id, "kind": kind}
                for name, value in re.findall(r"data-([\w-]+)='([^']*)'", attrs):
                    try:
                        element[name] = json.loads(html.unescape(value))
                    except ValueError:
                        element[name] = html.unescape(value)
                found.append(element)
        return found


class Tab:
    """One viewer's WebSocket on one dashboard."""

    def __init__(self, server: Server, notebook: str):
        self.server, self.notebook = server, notebook
        self.session_id = f"bench-{uuid.uuid4().hex[:12]}"
        self.cells = Cells(time.monotonic())
        self.ws: Any = None
        self.failure = ""  # why the connection ended early, if it did

    async def open(self, timeout: float) -> Tab:
        """Connect and wait until every cell has run (or ``timeout``)."""
        import websockets

        self.cells = Cells(time.monotonic())
        try:
            self.ws = await websockets.connect(
                self.server.ws(self.notebook, self.session_id),
                origin=self.server.url,
                max_size=None,
                open_timeout=timeout,
                ping_interval=None,
            )
            await self._until_idle(timeout)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
        return self

    async def _until_idle(self, timeout: float, since: int = 0) -> None:
        """Read messages until every cell is idle, ``since`` status messages have come
        (a change must be seen to start), and nothing arrived for :data:`QUIET_S`."""
        seen = 0
        while time.monotonic() - self.cells.started < timeout:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), timeout=QUIET_S)
            except TimeoutError:
                if self.cells.idle and seen >= since:
                    return
                continue
            before = dict(self.cells.statuses)
            self.cells.note(raw, time.monotonic())
            seen += self.cells.statuses != before

    async def drain(self) -> None:
        """Read what arrives while the tab idles (a connected viewer), until closed."""
        import websockets

        try:
            async for _raw in self.ws:
                pass
        except (OSError, websockets.WebSocketException):
            pass

    async def change(self, element: dict[str, Any], value: Any, timeout: float) -> float:
        """Set ``element`` to ``value`` like the front end; seconds until the cells it reran
        are idle again."""
        self.cells = Cells(time.monotonic(), dict(self.cells.statuses), dict(self.cells.outputs))
        url = self.server.api(self.notebook, "set_ui_element_value")
        body = {"objectIds": [element["id"]], "values": [value]}
        headers = {"Marimo-Session-Id": self.session_id, "Origin": self.server.url}
        answer = await asyncio.to_thread(requests.post, url, json=body, headers=headers, timeout=timeout)
        answer.raise_for_status()
        await self._until_idle(timeout, since=1)
        return self.cells.last_at

    async def close(self) -> None:
        import websockets

        if self.ws is not None:
            with contextlib.suppress(OSError, websockets.WebSocketException):
                await self.ws.close()

    def result(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "seconds": self.cells.last_at,
            "numbers": self.cells.numbers_at,
            "cells": len(self.cells.statuses),
            "errors": self.cells.errors,
            "done": self.cells.idle and not self.failure,
            "failure": self.failure,
        }


async def open_tabs(server: Server, notebooks: list[str], timeout: float) -> list[Tab]:
    """Open one tab per entry of ``notebooks``, all at once; each until its cells have run."""
    tabs = [Tab(server, name) for name in notebooks]
    await asyncio.gather(*(tab.open(timeout) for tab in tabs))
    return tabs


def filter_changes(tab: Tab, count: int) -> list[tuple[dict[str, Any], Any, str]]:
    """``count`` filter changes a manager makes: one store picked (a different one each
    time), and the period shortened to its last 14 days, in turn."""
    elements = tab.cells.elements()
    stores = next(e for e in elements if e["kind"] == "multiselect" and "Stores" in str(e.get("label")))
    period = next(e for e in elements if e["kind"] == "date-range")
    options = stores.get("options") or []
    first, last = period["initial-value"]
    import datetime as dt

    shorter = [(dt.date.fromisoformat(last) - dt.timedelta(days=13)).isoformat(), last]
    changes: list[tuple[dict[str, Any], Any, str]] = []
    for i in range(count):
        if i % 2 == 0 and options:
            changes.append((stores, [options[(i // 2) % len(options)]], "store"))
        else:
            changes.append((period, shorter if (i // 2) % 2 == 0 else [first, last], "period"))
    return changes


def browser_open(server: Server, notebook: str, timeout: float = 120.0, visits: int = 3) -> dict[str, Any]:
    """Open the dashboard in headless Chromium: seconds until a KPI card shows a number,
    until every cell has run, the cells' errors, and where the time went.

    ``visits`` first visits (each in a new browser context: an empty cache, as a browser
    that never saw the page), the median one reported; then ``visits`` returning visits in
    the last context (the front end's files in the browser's cache, as for a manager who
    opens the page every morning): their median under ``returning``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            first = []
            for _ in range(visits):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                first.append(_visit(context.new_page(), server, notebook, timeout))
                if len(first) < visits:
                    context.close()
            returning = [_visit(context.new_page(), server, notebook, timeout) for _ in range(visits)]
            context.close()
        finally:
            browser.close()
    return {**_median_visit(first), "returning": _median_visit(returning)}


def _median_visit(visits: list[dict[str, Any]]) -> dict[str, Any]:
    """The visit whose KPI time is the median (a visit without numbers counts as slowest)."""
    ranked = sorted(visits, key=lambda v: (v["numbers"] is None, v["numbers"] or 0.0))
    return {**ranked[(len(ranked) - 1) // 2], "visits": len(visits)}


def _visit(page: Any, server: Server, notebook: str, timeout: float) -> dict[str, Any]:
    """One navigation of ``page`` to the dashboard, timed (the page is closed afterwards)."""
    cells = Cells(time.monotonic())
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks.setdefault(what, round(time.monotonic() - cells.started, 3))

    def on_frame(payload: str | bytes) -> None:
        mark("first kernel message")
        cells.note(payload, time.monotonic())
        if cells.statuses and "first cell running" not in marks:
            mark("first cell running")

    def on_socket(ws: Any) -> None:
        if "/ws?" in ws.url:
            mark("WebSocket opened")
            ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    page.on("response", lambda r: mark("page received") if r.request.resource_type == "document" else None)
    page.on("domcontentloaded", lambda: mark("front end loaded (DOMContentLoaded)"))
    started = time.monotonic()
    cells.started = started
    try:
        page.goto(server.page(notebook), timeout=timeout * 1000)
        numbers = None
        shown = "cards => cards.some(c => /\\d/.test((c.shadowRoot || c).textContent))"  # in a shadow root or not
        while time.monotonic() - started < timeout:
            if page.eval_on_selector_all(f".{NUMBERS}", shown):
                numbers = time.monotonic() - started
                break
            page.wait_for_timeout(20)
        quiet_since = None
        while time.monotonic() - started < timeout:
            seen = cells.last_at
            page.wait_for_timeout(100)
            if cells.idle and cells.last_at == seen:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= QUIET_S:
                    break
            else:
                quiet_since = None
    finally:
        page.close()
    marks["last cell idle"] = round(cells.last_at, 3)
    if numbers is not None:
        marks["KPI cards show numbers"] = round(numbers, 3)
    return {
        "numbers": numbers,
        "seconds": cells.last_at,
        "cells": len(cells.statuses),
        "errors": cells.errors,
        "done": cells.idle,
        "timeline": dict(sorted(marks.items(), key=lambda kv: kv[1])),
    }
