"""Each dashboard through `nkdash serve` in Chromium: it renders, a filter change updates the
charts, and it reads as a retail report at 1440x900 and on a phone (390x844): currency on
the amounts, no NaN/None/null/dtype/snake_case on screen, no empty chart, nothing clipped
sideways, a comparison period that is not loaded said so. A viewer of a server whose
operator hides cost sees neither cost nor margin."""

import json
import re

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

VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}

# What a page shows, read through every shadow root: the visible text, the elements whose
# content is cut off sideways (overflow hidden or clip, wider content: a table's own
# horizontal scroll is not cutting), whether the page scrolls sideways, and per chart
# whether its canvas has anything painted on it.
INSPECT = """() => {
  const texts = [], clipped = [], charts = [];
  const shown = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (['STYLE', 'SCRIPT', 'TEMPLATE'].includes(el.tagName) || !shown(el)) continue;
      for (const n of el.childNodes) if (n.nodeType === 3 && n.textContent.trim()) texts.push(n.textContent.trim());
      const style = getComputedStyle(el);
      if (['hidden', 'clip'].includes(style.overflowX) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 2)
        clipped.push(`${el.tagName} ${el.scrollWidth}>${el.clientWidth}: ${(el.textContent || '').slice(0, 60)}`);
    }
  };
  walk(document);
  for (const vega of document.querySelectorAll('marimo-mime-renderer[data-mime*="vegalite"]')) {
    const canvas = [...(vega.shadowRoot || vega).querySelectorAll('canvas, svg')];
    let painted = 0;
    for (const c of canvas) {
      if (c.tagName === 'svg') { painted += c.querySelectorAll('path, rect, line, text').length; continue; }
      const {width, height} = c;
      if (!width || !height) continue;
      const data = c.getContext('2d').getImageData(0, 0, width, height).data;
      for (let i = 3; i < data.length; i += 32) if (data[i] > 0) painted++;
    }
    charts.push(painted);
  }
  return JSON.stringify({pageWidth: document.scrollingElement.scrollWidth, viewport: window.innerWidth,
                         clipped, charts, text: texts.join(' | ')});
}"""

CHARTS = 'marimo-mime-renderer[data-mime*="vegalite"]'  # a dashboard chart: its Vega-Lite spec, drawn

FORBIDDEN = re.compile(r"\bNaN\b|\bNone\b|\bnull\b|float64|datetime64|\bstr\b|\b[a-z]+(?:_[a-z0-9]+)+\b")


@pytest.fixture(scope="module")
def dashboards_server(loaded_lake, tmp_path_factory):
    with running_nkdash(loaded_lake(17).lake, tmp_path_factory.mktemp("serve"), NKDASH_TZ="Europe/Brussels") as srv:
        yield srv


@pytest.fixture(scope="module")
def hidden_cost_server(loaded_lake, tmp_path_factory):
    """A server whose operator hides cost and margin from viewers."""
    with running_nkdash(
        loaded_lake(17).lake,
        tmp_path_factory.mktemp("serve-hidden"),
        NKDASH_TZ="Europe/Brussels",
        NKDASH_VIEWER_SEES_COST="false",
    ) as srv:
        yield srv


def rendered(view) -> tuple[list[str], str]:
    """The charts' specs (those mounted) and the page's text (tables, headings)."""
    specs = view.page.eval_on_selector_all(CHARTS, "charts => charts.map(c => c.getAttribute('data-data'))")
    return specs, view.page.inner_text("#App")


def inspect(view) -> dict:
    """:data:`INSPECT` after every chart was scrolled into view (charts draw when seen)."""
    for chart in view.page.locator(CHARTS).all():
        chart.scroll_into_view_if_needed()
        view.page.wait_for_timeout(150)
    view.wait_idle()
    return json.loads(view.page.evaluate(INSPECT))


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
        assert new_specs != specs and any("Month" in spec for spec in new_specs if spec), path
    else:  # charts in a tab not shown yet: the tables and headings must follow
        assert new_text != text, f"nothing on {path} changed with the granularity"
    view.assert_clean()
    # charts carry their rows in the page: no virtual file for a re-run to delete mid-fetch
    assert [url for url in view.requested if "/@file/" in url] == []


@pytest.mark.parametrize("path", DASHBOARDS)
def test_picking_a_store_filters_the_page(dashboards_server, browser_login, path):
    """The sidebar's pickers (children of one ``mo.ui.dictionary``) drive the page's filters;
    the heading names the store picked."""
    view = browser_login(dashboards_server, "viewer")
    view.open(path)
    wait_for_text(view, "all stores")  # the heading
    view.page.get_by_label("Stores").locator("visible=true").first.click()
    option = view.page.get_by_role("option").first
    name = option.inner_text().strip()
    option.click()
    view.page.keyboard.press("Escape")
    view.wait_idle()
    wait_for_text(view, f"· {name} ·")
    view.assert_clean()


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("path", DASHBOARDS)
def test_each_dashboard_reads_as_a_retail_report(dashboards_server, browser_login, path, size):
    view = browser_login(dashboards_server, "operator", viewport=VIEWPORTS[size])
    view.open(path)
    seen = inspect(view)
    text = seen["text"]
    view.assert_clean()
    assert re.search(r"\d\u00a0€", text), "no amount in euros"  # the demo company's currency, after the amount
    assert not FORBIDDEN.findall(text), sorted(set(FORBIDDEN.findall(text)))
    assert seen["charts"] and all(painted > 0 for painted in seen["charts"]), seen["charts"]  # none empty
    assert seen["pageWidth"] <= seen["viewport"] + 1, "the page scrolls sideways"
    assert seen["clipped"] == []
    # the loaded lake holds 5 days: the default period is those, the 5 days before are not loaded
    assert "previous period not loaded" in text and "no sales" not in text.lower()
    assert "Load it on the Operations page" in text  # the operator gets the way to load it


@pytest.mark.parametrize("path", DASHBOARDS)
def test_a_viewer_sees_no_cost_when_the_operator_hides_it(hidden_cost_server, browser_login, path):
    view = browser_login(hidden_cost_server, "viewer")
    view.open(path)
    seen = inspect(view)
    specs, _ = rendered(view)
    view.assert_clean()
    data = " ".join(filter(None, specs))  # the rows each chart carries
    for word in ("margin", "cost", "spend", "margin_pct", "standard_price"):
        assert f'"{word}"' not in data and f"{word}," not in data, (path, word)
    text = seen["text"]
    assert not re.search(r"\bMargin\b|Cost of goods|Stock value|Spend", text), path
    if path == "/profit/":
        assert "Cost and margin are not shown to viewers here" in text
    assert "Load it on the Operations page" not in text  # a viewer is told who can, not given the link
    operator = browser_login(hidden_cost_server, "operator")  # the same server: the operator sees them
    operator.open("/sales/")
    assert "Margin" in inspect(operator)["text"]


def test_the_operator_follows_the_link_to_load_a_missing_period(dashboards_server, browser_login):
    """ "Load it on the Operations page" opens the operations page on the dataset and the dates
    of the comparison period that is not loaded."""
    view = browser_login(dashboards_server, "operator")
    view.open("/sales/")
    link = view.page.get_by_role("link", name="Load it on the Operations page").first
    href = link.get_attribute("href")
    assert href == "/operational/?dataset=profit&start=2024-03-24&end=2024-03-28"  # the 5 days before the period
    view.open(href)
    assert view.page.get_by_text("Profit (Cost + Aggreg)").locator("visible=true").count() > 0  # the dataset picked
    dates = view.page.locator("marimo-date-range").first.get_attribute("data-initial-value")
    assert dates == '["2024-03-24","2024-03-28"]'
    view.assert_clean()
