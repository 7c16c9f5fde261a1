"""Browser-test fixtures: ``nkdash serve`` as a real subprocess, and logged-in Chromium pages.

Typical use (a dashboard test)::

    pytestmark = [pytest.mark.browser, pytest.mark.slow]

    def test_sales_filter(loaded_lake, nkdash_serve, browser_login):
        server = nkdash_serve(loaded_lake(17).lake, NKDASH_TZ="Europe/Brussels")
        view = browser_login(server, "viewer")
        view.open("/sales/")                      # kernel connected, every cell done
        view.page.get_by_label("Stores").click()  # ... change a filter
        view.wait_idle()                          # the cells it triggered are done
        view.assert_clean()                       # no failing cell, no console error

Servers run with ``--show-tracebacks`` (a failing cell shows its traceback; the cell gets the
class ``has-error`` either way), users ``viewer``/``operator`` with :data:`PASSWORDS`, and
write their logs to ``server.log_dir / "web"``. For a server shared by a module, use
:func:`running_nkdash` in a module-scoped fixture::

    @pytest.fixture(scope="module")
    def server(loaded_lake, tmp_path_factory):
        with running_nkdash(loaded_lake(17).lake, tmp_path_factory.mktemp("serve")) as server:
            yield server

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/test.sh`` installs it); Playwright's
own browser download is not used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
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
PASSWORDS = {"viewer": "viewer-pw-for-tests", "operator": "operator-pw-for-tests"}
START_TIMEOUT = 60.0


@dataclass
class NkdashServer:
    """A running ``nkdash serve``: ``url`` (no trailing slash), its log dir and passwords."""

    url: str
    process: subprocess.Popen
    log_dir: Path
    passwords: dict[str, str]
    output: list[str] = field(default_factory=list)  # stdout and stderr lines, for failure reports

    def web_log(self) -> list[str]:
        path = self.log_dir / "web" / "web.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills and fails if it does not stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"nkdash serve ignored SIGTERM for {timeout}s")
        return self.process.returncode


@contextlib.contextmanager
def running_nkdash(
    lake: Path,
    workdir: Path,
    *,
    notebooks_dir: Path | None = None,
    passwords: dict[str, str] = PASSWORDS,
    show_tracebacks: bool = True,
    **env: str,
) -> Iterator[NkdashServer]:
    """Run ``nkdash serve --port 0`` on 127.0.0.1 against ``lake``; stop it (SIGTERM) on exit.

    ``workdir`` holds its state and logs (``workdir/logs/web/``) and is its working
    directory, so no ``.env`` of the repository is read. ``notebooks_dir`` defaults to the
    project's notebooks; ``env`` adds settings (e.g. ``NKDASH_TZ``). Yields once ``/health``
    answers (200 or 503). Exiting asserts a clean shutdown (exit code 0).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "PYTHONPATH": str(REPO),
        "NKDASH_LAKE": str(lake),
        "NKDASH_STATE_DIR": str(workdir / "state"),
        "NKDASH_LOG_DIR": str(workdir / "logs"),
        "NKDASH_VIEWER_PASSWORD": passwords.get("viewer", ""),
        "NKDASH_OPERATOR_PASSWORD": passwords.get("operator", ""),
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "nkdash",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *(["--notebooks", str(notebooks_dir)] if notebooks_dir else []),
        *(["--show-tracebacks"] if show_tracebacks else []),
    ]
    process = subprocess.Popen(
        command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = NkdashServer("", process, workdir / "logs", dict(passwords))
    announced = threading.Event()

    def read_output() -> None:
        for line in process.stdout:
            server.output.append(line.rstrip("\n"))
            if not announced.is_set() and "serving on http://" in line:
                server.url = line.split("serving on ")[1].split()[0].rstrip("/")
                announced.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        _wait_until_up(server, announced)
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"nkdash serve exited with {code}:\n" + "\n".join(server.output[-30:] + server.web_log()[-30:])


def _wait_until_up(server: NkdashServer, announced: threading.Event) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail("nkdash serve exited:\n" + "\n".join(server.output))
        if announced.is_set():
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{server.url}/health", timeout=30).status_code in (200, 503):
                    return
        time.sleep(0.1)
    pytest.fail(f"nkdash serve did not answer /health within {START_TIMEOUT}s:\n" + "\n".join(server.output))


@pytest.fixture
def nkdash_serve(tmp_path) -> Iterator[Callable[..., NkdashServer]]:
    """``nkdash_serve(lake, notebooks_dir=None, passwords=PASSWORDS, show_tracebacks=True, **env)``
    starts ``nkdash serve`` (see :func:`running_nkdash`); every server is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(lake: Path, **kwargs) -> NkdashServer:
            workdir = Path(tempfile.mkdtemp(prefix="serve-", dir=tmp_path))
            return stack.enter_context(running_nkdash(lake, workdir, **kwargs))

        yield start


# ----------------------------------------------------------------------------- the browser


@dataclass
class BrowserSession:
    """A logged-in Chromium page on an nkdash server, recording console errors."""

    page: object  # playwright.sync_api.Page
    base_url: str
    server: NkdashServer | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)  # "METHOD url: reason", for failure reports
    requested: list[str] = field(default_factory=list)  # every URL the page asked for

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
        lines = [f"failed request: {r}" for r in self.failed_requests]
        if self.server is not None:
            lines += [
                "--- server output (tail):",
                *self.server.output[-40:],
                "--- web.log (tail):",
                *self.server.web_log()[-40:],
            ]
        return "\n" + "\n".join(lines) if lines else ""


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by Playwright, shared by the session."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package chromium (scripts/test.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_login(chromium) -> Iterator[Callable[..., BrowserSession]]:
    """``browser_login(server, role="viewer", password=None)``: a fresh browser context (own
    cookies) logged in through the ``/login`` form, recording console errors and page errors.
    Lands on the index page."""
    contexts = []

    def login(server: NkdashServer, role: str = "viewer", password: str | None = None) -> BrowserSession:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        session = BrowserSession(page, server.url, server)
        page.on("console", lambda m: m.type == "error" and session.console_errors.append(m.text))
        page.on("request", lambda r: session.requested.append(r.url))
        page.on("requestfailed", lambda r: session.failed_requests.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("pageerror", lambda e: session.console_errors.append(str(e)))
        page.goto(f"{server.url}/login")
        page.fill("input[name=username]", role)
        page.fill("input[name=password]", server.passwords[role] if password is None else password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        return session

    yield login
    for context in contexts:
        context.close()
