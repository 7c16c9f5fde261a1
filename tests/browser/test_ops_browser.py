"""The operations notebooks driven through ``nkdash serve`` as the operator: sync and async
refresh (with a consumer), a corrupt partition found and rebuilt, a purge, a backup restored."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil

import pytest
from playwright.sync_api import expect

from nkdash.jobs import backend, control, requests
from nkdash.jobs import worker as jobs_worker
from nkdash.lake import Lake
from tests.support.demo import END, TZ
from tests.support.web import running_nkdash

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = dt.date(2024, 3, 30)
TODAY = END + dt.timedelta(days=2)  # the clock: yesterday is the day after the demo's last date
YESTERDAY = TODAY - dt.timedelta(days=1)
WAIT = 90_000  # ms


def section(page, name: str) -> None:
    """Pick a section of the runbook's list."""
    page.locator("select", has=page.locator("option", has_text="Security")).select_option(name)


def confirm(page, word: str) -> None:
    """Type a procedure's word into its confirmation form and submit it."""
    form = page.get_by_placeholder(word, exact=True)
    form.fill(word)
    page.get_by_role("button", name=re.compile(r"^Confirm: ")).click()


@pytest.fixture(scope="module")
def ops_server(loaded_lake, tmp_path_factory):
    """A server on a copy of the demo lake, with the demo Odoo and the clock configured; and
    the same settings for this process and the consumers it starts."""
    work = tmp_path_factory.mktemp("ops-browser")
    source = loaded_lake(17)
    shutil.copytree(source.lake, work / "lake")
    clock = work / "clock"
    clock.write_text(f"{TODAY}T10:00:00+00:00")
    serve = work / "serve"
    settings = source.with_(lake=work / "lake", state_dir=serve / "state", log_dir=serve / "logs", tz=TZ)
    odoo = {k: v for k, v in settings.to_env().items() if k.startswith(("ODOO_", "NKDASH_ODOO_"))}
    with running_nkdash(settings.lake, serve, NKDASH_TZ=TZ, NKDASH_CLOCK_FILE=str(clock), **odoo) as server:
        yield server, settings, {backend.CLOCK_ENV: str(clock)}


def test_operational_sync_then_async_refresh(ops_server, browser_login):
    server, settings, clock = ops_server
    view = browser_login(server, "operator")
    page = view.page
    view.open("/operational/?dataset=pos")
    # the freshness table's row (the schedule table has a "POS Sales 02:00 ..." row too)
    pos = page.get_by_role("row").filter(has_text=re.compile(r"POS Sales\s*\d{4}-\d\d-\d\d"))
    expect(pos).to_contain_text(str(END))
    page.get_by_role("button", name="Sync Refresh", exact=True).click()
    expect(page.get_by_text(f"Loaded POS Sales for {YESTERDAY}").first).to_be_visible(timeout=WAIT)
    expect(pos).to_contain_text(str(YESTERDAY), timeout=WAIT)  # the live freshness table

    worker = jobs_worker.start_worker_process(settings, periodic=False, env=clock)
    try:
        view.open(f"/operational/?dataset=invoices&start={DAY}&end={END}")
        page.get_by_role("button", name="Async Refresh", exact=True).click()
        queued = page.get_by_text(re.compile(r"request \w+: 4 task\(s\)"))
        expect(queued).to_be_visible(timeout=WAIT)
        request_id = queued.inner_text().split()[1].rstrip(":")
        request = page.locator(".marimo-cell").filter(has_text=f"Request {request_id}")
        expect(request.get_by_role("row").filter(has_text="done")).to_have_count(4, timeout=WAIT)
    finally:
        assert jobs_worker.stop_worker(worker, timeout=60) == 0
    assert [s.state for s in requests.request_status(request_id, settings)] == ["done"] * 4
    view.assert_clean()


def test_recovery_finds_and_rebuilds_a_corrupt_partition(ops_server, browser_login):
    server, settings, _ = ops_server
    lake = Lake(settings.lake)
    original = lake.read_partition("fact_pos_sales", DAY)
    path = lake.info("fact_pos_sales", DAY).path
    os.truncate(path, path.stat().st_size // 2)
    view = browser_login(server, "operator")
    view.open("/recovery/")
    page = view.page
    expect(page.get_by_text("1 problem(s) in the lake")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="unreadable")).to_contain_text(str(DAY))
    page.get_by_role("button", name="Repair").click()
    expect(page.get_by_text("quarantine unreadable fact_pos_sales 2024-03-30", exact=False)).to_be_visible(timeout=WAIT)
    view.wait_idle()
    assert Lake(settings.lake).scan() != []  # previewed: nothing quarantined yet
    confirm(page, "quarantine")
    expect(page.get_by_text(re.compile(r"Repaired: 1 quarantined, \d+ partition\(s\) reloaded"))).to_be_visible(
        timeout=WAIT
    )
    assert lake.scan() == [] and lake.read_partition("fact_pos_sales", DAY).equals(original)
    view.assert_clean()


def test_runbook_purge_then_backup_and_restore(ops_server, browser_login):
    server, settings, _ = ops_server
    request_id = requests.enqueue_refresh("purchases", DAY, END, settings)
    assert len(control.pending(settings)) == 4
    view = browser_login(server, "operator")
    view.open("/runbook/")
    page = view.page

    section(page, "Queue")
    page.get_by_role("button", name="Purge the queue").click()
    expect(page.get_by_text("drop 4 task(s)", exact=False)).to_be_visible(timeout=WAIT)
    view.wait_idle()
    assert len(control.pending(settings)) == 4  # previewed: nothing dropped yet
    confirm(page, "purge")
    expect(page.get_by_text("Purged 4 task(s): the queue is empty").first).to_be_visible(timeout=WAIT)
    assert control.pending(settings) == [] and control.scheduled(settings) == []
    assert {s.state for s in requests.request_status(request_id, settings)} == {"revoked"}

    section(page, "Backup")
    page.get_by_role("button", name="Back up now").click()
    page.get_by_role("button", name="Confirm: Back up now").click()
    expect(page.get_by_text(re.compile(r"Backup nkdash-backup-\S+ taken")).first).to_be_visible(timeout=WAIT)
    lake = Lake(settings.lake)
    shutil.rmtree(lake.partition_dir("fact_pos_sales", END))
    assert not lake.has_partition("fact_pos_sales", END)
    page.get_by_role("button", name="Restore the backup").click()
    expect(page.get_by_text("replace the lake's data and metadata with backup", exact=False)).to_be_visible(
        timeout=WAIT
    )
    view.wait_idle()
    assert not lake.has_partition("fact_pos_sales", END)  # previewed: nothing restored yet
    confirm(page, "restore")
    expect(page.get_by_text(re.compile(r"Restored nkdash-backup-\S+$")).first).to_be_visible(timeout=WAIT)
    assert lake.has_partition("fact_pos_sales", END) and lake.scan() == []
    view.assert_clean()
