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
class ``has-error`` either way), users ``viewer``/``operator`` with :data:`tests.support.web.PASSWORDS`, and
write their logs to ``server.log_dir / "web"``. For a server shared by a module, use
:func:`tests.support.web.running_nkdash` in a module-scoped fixture named for what it serves::

    @pytest.fixture(scope="module")
    def dashboards_server(loaded_lake, tmp_path_factory):
        with running_nkdash(loaded_lake(17).lake, tmp_path_factory.mktemp("serve")) as server:
            yield server

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/test.sh`` installs it); Playwright's
own browser download is not used.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, BrowserSession
from tests.support.web import NkdashServer, running_nkdash


@pytest.fixture
def nkdash_serve(tmp_path) -> Iterator[Callable[..., NkdashServer]]:
    """``nkdash_serve(lake, notebooks_dir=None, passwords=PASSWORDS, show_tracebacks=True, **env)``
    starts ``nkdash serve`` (see :func:`running_nkdash`); every server is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(lake: Path, **kwargs) -> NkdashServer:
            workdir = Path(tempfile.mkdtemp(prefix="serve-", dir=tmp_path))
            return stack.enter_context(running_nkdash(lake, workdir, **kwargs))

        yield start


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
    """``browser_login(server, role="viewer", password=None, viewport=(1400, 1000))``: a fresh
    browser context (own cookies) logged in through the ``/login`` form, recording console
    errors and page errors. Lands on the index page."""
    contexts = []

    def login(
        server: NkdashServer,
        role: str = "viewer",
        password: str | None = None,
        viewport: tuple[int, int] = (1400, 1000),
    ) -> BrowserSession:
        context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        session = BrowserSession(page, server.url, server)
        page.on("console", session.record_console)
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
