"""Headless Chromium on an nkdash server: Debian's ``/usr/bin/chromium`` driven by Playwright
(its own browser download is not used), and a logged-in page that records console errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.support.web import NkdashServer

CHROMIUM = "/usr/bin/chromium"
# Console errors of marimo's own front end that are not failures of a page: its slot-fill
# library (marimo/_static/assets/JsonOutput-*.js, class with handleFillMount/Unmount) logs
# this when React unmounts a "Fill" it never mounted (seen when a filter re-renders a cell
# while the page is still painting, under load). The cell's output is right either way.
FRONTEND_NOISE = (
    "[handleFillUnmount] component was expected to be defined",
    "[handleFillUpdated] component was expected to be defined",
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@dataclass
class BrowserSession:
    """A logged-in Chromium page on an nkdash server, recording console errors."""

    page: object  # playwright.sync_api.Page
    base_url: str
    server: NkdashServer | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)  # "METHOD url: reason", for failure reports
    requested: list[str] = field(default_factory=list)  # every URL the page asked for
    frontend_noise: list[str] = field(default_factory=list)  # FRONTEND_NOISE seen (kept for reports)

    def record_console(self, message: object) -> None:
        """A Playwright console message: errors are recorded, marimo's known noise apart."""
        if getattr(message, "type", None) != "error":
            return
        text = str(getattr(message, "text", message))
        (self.frontend_noise if text in FRONTEND_NOISE else self.console_errors).append(text)

    def open(self, path: str, timeout: float = 90.0) -> float:
        """Go to a notebook, wait for its kernel connection and for every cell to finish;
        returns the seconds that took."""
        started = time.monotonic()
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector('#App[data-connection-state="OPEN"]', timeout=timeout * 1000)
        self.wait_idle(timeout=timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def wait_idle(self, quiet: float = 0.75, timeout: float = 60.0) -> None:
        """Wait until no cell has been running for ``quiet`` seconds (marimo shows a
        ``loading-indicator`` while any cell runs)."""
        deadline, idle_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            busy = self.page.locator('[data-testid="loading-indicator"]').count() > 0
            idle_since = None if busy else (idle_since or time.monotonic())
            if idle_since and time.monotonic() - idle_since >= quiet:
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"cells still running after {timeout:.0f}s on {self.page.url}")

    def failing_cells(self) -> list[str]:
        """Names/ids of cells showing an error (class ``has-error``; tracebacks need
        ``--show-tracebacks`` to be visible, the class is set either way)."""
        return self.page.eval_on_selector_all(
            ".marimo-cell.has-error", "cells => cells.map(c => c.dataset.cellName + ':' + c.dataset.cellId)"
        )

    def assert_clean(self) -> None:
        """No failing cell and no console error so far."""
        assert self.failing_cells() == [], f"failing cells on {self.page.url}{self._evidence()}"
        assert self.console_errors == [], f"console errors on {self.page.url}{self._evidence()}"

    def _evidence(self) -> str:
        """What the browser and the server saw, for a failure report."""
        lines = [f"console error: {e}" for e in self.console_errors]
        lines += [f"marimo front-end noise (not counted): {e}" for e in self.frontend_noise]
        lines += [f"failed request: {r}" for r in self.failed_requests]
        if self.server is not None:
            lines += [
                "--- server output (tail):",
                *self.server.output[-40:],
                "--- web.log (tail):",
                *self.server.web_log()[-40:],
            ]
        return "\n" + "\n".join(lines) if lines else ""
