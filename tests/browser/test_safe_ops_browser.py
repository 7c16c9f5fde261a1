"""Operations that ask first, and pages that read well, in headless Chromium as the operator:
an archive previewed, confirmed by typing, refused inside the retention window; after it,
freshness, /health, the index and the dashboards say which dates were archived; no page
shows NaN, None, null or a raw JavaScript date (screenshots at 1440x900 and 390x844)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from playwright.sync_api import expect

from nkdash.etl.datasets import get
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from tests.support.demo import DATES, END, TZ
from tests.support.web import running_nkdash

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TODAY = END + dt.timedelta(days=2)
OLD = dt.date(2023, 12, 31)  # before the retention window of NKDASH_RETENTION_YEARS=0 (from 2024-01-01)
KEEP_FROM = dt.date(2024, 1, 1)
WAIT = 90_000
JS_DATE = re.compile(
    r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d{4} \d\d:\d\d"
)
SHOTS = Path(os.environ.get("NKDASH_SHOTS", "/tmp/nkdash-shots"))


@pytest.fixture(scope="module")
def archive_server(loaded_lake, tmp_path_factory):
    """A server on a copy of the demo lake holding one more, old date (2023-12-31) of POS and
    profit, with a retention of the current year only."""
    work = tmp_path_factory.mktemp("safe-ops")
    source = loaded_lake(17)
    shutil.copytree(source.lake, work / "lake")
    lake, meta = Lake(work / "lake"), MetaStore.for_lake(Lake(work / "lake"))
    for name in ("pos", "profit"):
        for table in get(name).table_names:
            data = lake.read_partition(table, DATES[0])
            column = data.schema.get_field_index("date")
            data = data.set_column(column, "date", pa.array([OLD] * data.num_rows, pa.date32()))
            lake.write_partition(table, OLD, data)
        meta.set_partition(name, OLD, status="loaded", rows=1)
    clock = work / "clock"
    clock.write_text(f"{TODAY}T10:00:00+00:00")
    settings = source.with_(
        lake=work / "lake", state_dir=work / "serve" / "state", log_dir=work / "serve" / "logs", tz=TZ
    )
    odoo = {k: v for k, v in settings.to_env().items() if k.startswith(("ODOO_", "NKDASH_ODOO_"))}
    env = dict(NKDASH_TZ=TZ, NKDASH_CLOCK_FILE=str(clock), NKDASH_RETENTION_YEARS="0", **odoo)
    with running_nkdash(settings.lake, work / "serve", **env) as server:
        yield server, settings


def section(page, name: str) -> None:
    page.locator("select", has=page.locator("option", has_text="Security")).select_option(name)


def set_date(page, label: str, day: dt.date) -> None:
    """Type a date into a marimo date picker (its month, day and year segments)."""
    group = page.get_by_role("group", name=label)
    for part, value in (("month", day.month), ("day", day.day), ("year", day.year)):
        # a segment's keystrokes can each send a value (the year 2, 20, 202...) and the cell's
        # re-run re-renders the picker under the typing, losing a digit: type until it holds
        for attempt in range(3):
            segment = group.get_by_role("spinbutton", name=re.compile(part, re.I))
            segment.click()
            segment.type(str(value))
            try:
                expect(segment).to_have_attribute("aria-valuenow", str(value), timeout=10_000)
                break
            except AssertionError:
                if attempt == 2:
                    raise


def test_archive_is_previewed_confirmed_refused_inside_the_retention_and_then_shown(archive_server, browser_login):
    server, settings = archive_server
    lake = Lake(settings.lake, read_only=True)
    view = browser_login(server, "operator")
    page = view.page
    view.open("/runbook/")
    section(page, "Storage")
    view.wait_idle()
    page.get_by_role("button", name="Archive the old partitions").click()
    preview = page.get_by_text(f"archive 5 partitions of 5 tables, {OLD} … {OLD}", exact=False).first
    expect(preview).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("the dashboards will no longer show these dates", exact=False).first).to_be_visible()
    view.wait_idle()
    assert lake.partitions("fact_pos_sales")[0] == OLD  # previewed: nothing moved yet
    page.get_by_placeholder("archive", exact=True).fill("archiv")  # not the word: refused by the form
    page.get_by_role("button", name="Confirm: Archive the old partitions").click()
    expect(page.get_by_text("type 'archive' exactly", exact=False)).to_be_visible(timeout=WAIT)
    assert lake.partitions("fact_pos_sales")[0] == OLD
    page.get_by_placeholder("archive", exact=True).fill("archive")
    page.get_by_role("button", name="Confirm: Archive the old partitions").click()
    expect(page.get_by_text(f"Archived 5 partition(s) before {KEEP_FROM}").first).to_be_visible(timeout=WAIT)
    assert lake.partitions("fact_pos_sales")[0] == DATES[0]

    set_date(page, "Archive before", DATES[1])  # inside the retention window: refused
    # the input change clears the previous result: wait for that, so the click below lands on
    # the buttons the new date re-rendered (on a loaded machine the re-run starts late)
    expect(page.get_by_text(f"Archived 5 partition(s) before {KEEP_FROM}")).to_have_count(0, timeout=WAIT)
    view.wait_idle()
    page.get_by_role("button", name="Archive the old partitions").click()
    expect(page.get_by_text("refused — inside the retention window", exact=False).first).to_be_visible(timeout=WAIT)
    expect(page.get_by_placeholder("force archive", exact=True)).to_be_visible()
    view.wait_idle()
    assert lake.partitions("fact_pos_sales")[0] == DATES[0]
    view.assert_clean()

    deadline = time.monotonic() + 60  # /health is computed at most every 15 s
    while (health := requests.get(f"{server.url}/health", timeout=30).json())["lake"]["archive"]["before"] is None:
        assert time.monotonic() < deadline, health
        page.wait_for_timeout(500)
    assert health["lake"]["archive"]["before"] == str(KEEP_FROM)
    assert health["lake"]["datasets"]["pos"]["archived_before"] == str(KEEP_FROM)
    page.goto(f"{server.url}/")  # the index page (not a notebook)
    expect(page.get_by_text(f"Dates before {KEEP_FROM} are archived", exact=False)).to_be_visible()
    view.open("/operational/")
    pos = page.get_by_role("row").filter(has_text=re.compile(r"POS Sales\s*\d{4}-\d\d-\d\d"))
    expect(pos).to_contain_text(str(KEEP_FROM))
    view.open("/sales/")
    expect(page.get_by_text("Dates before 01/01/2024 are archived", exact=False).first).to_be_visible(timeout=WAIT)
    view.assert_clean()


PAGES = ["/operational/", "/recovery/", "/monitoring/", "/runbook/"]


def test_operations_pages_read_well(archive_server, browser_login, chromium):
    server, _ = archive_server
    view = browser_login(server, "operator")
    page = view.page
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen = {}
    for path in PAGES:
        view.open(path)
        sections = [
            "Refresh",
            "Monitoring",
            "Services",
            "Queue",
            "Recovery",
            "Queries",
            "Storage",
            "Security",
            "Backup",
        ]
        for name in sections if path == "/runbook/" else [None]:
            if name:
                section(page, name)
                view.wait_idle()
                for button in page.get_by_role("button").filter(has_text=re.compile(r"^(Show|List|Find|Check)")).all():
                    button.click()  # read-only procedures: their results are text to read too
                    view.wait_idle()
            text = page.inner_text("body")
            seen[f"{path}{name or ''}"] = text
            for word in ("NaN", "None", "null", "undefined", "Invalid Date"):
                assert not re.search(rf"\b{word}\b", text), f"{word!r} on {path} {name or ''}"
            assert not JS_DATE.search(text), f"a JavaScript date on {path} {name or ''}: {JS_DATE.search(text)[0]}"
        for width, height in ((1440, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SHOTS / f"{path.strip('/')}-{width}.png"), full_page=False)
        page.set_viewport_size({"width": 1400, "height": 1000})
    view.assert_clean()
    assert len(seen) == 3 + 9
