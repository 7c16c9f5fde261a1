"""Each dashboard through `nkdash serve` in Chromium: render, change a filter, the charts update."""

import pytest

from tests.support.web import running_nkdash

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# dashboard -> the granularity it starts with and the one the test switches to
DASHBOARDS = {
    "/sales/": ("day", "month"),
    "/profit/": ("day", "month"),
    "/inventory/": ("day", "month"),
    "/purchases/": ("week", "month"),
}


@pytest.fixture(scope="module")
def dashboards_server(loaded_lake, tmp_path_factory):
    with running_nkdash(loaded_lake(17).lake, tmp_path_factory.mktemp("serve"), NKDASH_TZ="Europe/Brussels") as srv:
        yield srv


def rendered(view) -> tuple[list[str], str]:
    """The charts' specs (those mounted) and the page's text (tables, headings)."""
    specs = view.page.eval_on_selector_all("marimo-vega", "charts => charts.map(c => c.getAttribute('data-spec'))")
    return specs, view.page.inner_text("#App")


def wait_for_text(view, text: str) -> None:
    view.page.get_by_text(text).locator("visible=true").first.wait_for(timeout=30_000)


@pytest.mark.parametrize("path", DASHBOARDS)
def test_a_filter_change_updates_the_charts(dashboards_server, browser_login, path):
    view = browser_login(dashboards_server, "viewer")
    view.open(path)
    specs, text = rendered(view)
    assert "Damaged data" not in text and "Traceback" not in text
    _, switch_to = DASHBOARDS[path]
    view.page.get_by_role("radio", name=switch_to, exact=True).locator("visible=true").first.check()
    view.wait_idle()
    new_specs, new_text = rendered(view)
    if specs:  # charts mounted on the first view: they must show the new granularity
        assert new_specs != specs and any(switch_to in spec for spec in new_specs if spec), path
    else:  # charts in a tab not shown yet: the tables and headings must follow
        assert new_text != text, f"nothing on {path} changed with the granularity"
    view.assert_clean()
    # charts carry their rows in the page: no virtual file for a re-run to delete mid-fetch
    assert [url for url in view.requested if "/@file/" in url] == []


@pytest.mark.parametrize("path", DASHBOARDS)
def test_picking_a_store_filters_the_page(dashboards_server, browser_login, path):
    """The sidebar's pickers (children of one ``mo.ui.dictionary``) drive the page's filters."""
    view = browser_login(dashboards_server, "viewer")
    view.open(path)
    wait_for_text(view, "all stores")  # the heading: filters.describe()
    view.page.get_by_label("Stores").locator("visible=true").first.click()
    view.page.get_by_role("option").first.click()
    view.page.keyboard.press("Escape")
    view.wait_idle()
    wait_for_text(view, "1 store(s)")
    view.assert_clean()
