"""``nkdash serve`` in Chromium: login, index, notebooks render with no cell or console error."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from nkdash.notebooks import available
from tests.support.browser import BrowserSession
from tests.support.web import running_nkdash

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path("/tmp/nkdash-screenshots")
TZ = "Europe/Brussels"
PROBE = """import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo

    from nkdash.lake import Lake
    from nkdash.settings import get_settings

    return Lake, get_settings, mo


@app.cell
def _(Lake, get_settings):
    dates = Lake(get_settings().lake, read_only=True).partitions("fact_pos_sales")
    return (dates,)


@app.cell
def _(dates, mo):
    pick = mo.ui.slider(1, len(dates), value=len(dates), label="days")
    pick
    return (pick,)


@app.cell
def _(dates, mo, pick):
    mo.md(f"probe: {pick.value} of {len(dates)} POS partitions, last {dates[-1]}")
    return


if __name__ == "__main__":
    app.run()
"""
FAILING = """import marimo

app = marimo.App()


@app.cell
def _():
    1 / 0
    return


if __name__ == "__main__":
    app.run()
"""


@pytest.fixture(scope="module")
def probe_server(loaded_lake, tmp_path_factory):
    """A server whose /sales is a probe of the lake and whose /runbook fails, on a loaded lake."""
    notebooks = tmp_path_factory.mktemp("notebooks")
    (notebooks / "sales.py").write_text(PROBE)
    (notebooks / "runbook.py").write_text(FAILING)
    with running_nkdash(
        loaded_lake(17).lake, tmp_path_factory.mktemp("serve"), notebooks_dir=notebooks, NKDASH_TZ=TZ
    ) as server:
        yield server


def shoot(view: BrowserSession, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    view.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_login_then_notebook_renders_and_reacts(probe_server, chromium):
    context = chromium.new_context()
    page = context.new_page()
    view = BrowserSession(page, probe_server.url)
    page.on("console", view.record_console)
    page.goto(f"{probe_server.url}/sales/")
    assert page.url == f"{probe_server.url}/login?next=/sales/"
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", probe_server.passwords["viewer"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{probe_server.url}/sales/"
    page.wait_for_selector('#App[data-connection-state="OPEN"]')
    view.wait_idle()
    assert page.get_by_text("probe: 5 of 5 POS partitions, last 2024-04-02").is_visible()
    page.get_by_role("slider").press("Home")  # a control change re-runs the cell below it
    view.wait_idle()
    assert page.get_by_text("probe: 1 of 5 POS partitions").is_visible()
    shoot(view, "probe-notebook")
    view.assert_clean()
    context.close()


def test_index_lists_what_the_role_may_open(probe_server, browser_login):
    viewer = browser_login(probe_server, "viewer")
    assert viewer.page.url == f"{probe_server.url}/"
    assert viewer.page.get_by_role("link", name="Sales").is_visible()
    assert viewer.page.get_by_role("link", name="Runbook").count() == 0
    assert viewer.page.locator("td", has_text="stock-quants").is_visible()
    shoot(viewer, "index-viewer")
    response = viewer.page.goto(f"{probe_server.url}/runbook/")
    assert response.status == 403 and viewer.page.get_by_text("needs the operator role").is_visible()
    operator = browser_login(probe_server, "operator")
    assert operator.page.get_by_role("link", name="Runbook").is_visible()
    operator.page.get_by_role("button", name="Log out").click()
    operator.page.wait_for_url(f"{probe_server.url}/login")
    operator.page.goto(f"{probe_server.url}/")
    assert operator.page.url.startswith(f"{probe_server.url}/login")


def test_wrong_password_stays_on_login(probe_server, browser_login):
    view = browser_login(probe_server, "operator", password="not-the-password")
    assert view.page.url == f"{probe_server.url}/login"
    assert view.page.get_by_text("Wrong user name or password.").is_visible()


def test_a_failing_cell_is_caught(probe_server, browser_login):
    view = browser_login(probe_server, "operator")
    view.open("/runbook/")
    assert len(view.failing_cells()) == 1
    with pytest.raises(AssertionError, match="failing cells"):
        view.assert_clean()


def test_health_answers_while_serving(probe_server):
    body = requests.get(f"{probe_server.url}/health", timeout=30).json()
    assert body["lake"]["datasets"]["pos"]["last_loaded"] == "2024-04-02"
    assert body["lake"]["problems"] == [] and body["metadata"] == {"ok": True}


@pytest.mark.parametrize("path", [nb.path for nb, _ in available()])
def test_every_installed_notebook_renders(path, loaded_lake, nkdash_serve, browser_login):
    view = browser_login(nkdash_serve(loaded_lake(17).lake, NKDASH_TZ=TZ), "operator")
    seconds = view.open(f"{path}/")
    shoot(view, path.strip("/"))
    print(f"{path} rendered in {seconds:.1f}s")
    view.assert_clean()
