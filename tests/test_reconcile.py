"""Self-healing: a lake loaded from the demo Odoo, then Odoo's records re-dated, deleted and
edited after the fact; the next night of the schedule alone makes the lake equal Odoo again
(the change detection and the nightly reconciliation, :mod:`nkdash.etl.reconcile`), and a date
that cannot be healed is never shown as fine."""

from __future__ import annotations

import datetime as dt
import html
import shutil
import subprocess

import pyarrow.compute as pc
import pytest

import tasks
from nkdash import dates as cal
from nkdash.demo import start_demo
from nkdash.demo.generate import DemoConfig, apply_late_edits, delete_invoices, delete_purchases, redate_invoices
from nkdash.etl import plan, refresh
from nkdash.etl.datasets import get
from nkdash.etl.freshness import freshness_report
from nkdash.etl.reconcile import RECONCILE, reconcile
from nkdash.etl.runner import session
from nkdash.jobs import work
from nkdash.jobs.backend import TaskFailed
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.ops import tables
from nkdash.ops.health import check_health
from nkdash.settings import Settings
from tests.support.consumers import make_settings
from tests.support.demo import DATED, DATES, END, TZ
from tests.support.lake import tree_digest
from tests.support.nights import play_night
from tests.support.notebooks import BIN, NOTEBOOKS, env_for

WEEKS_END = dt.date(2024, 4, 2)
THREE_WEEKS = cal.days(WEEKS_END - dt.timedelta(days=20), WEEKS_END)
NIGHT = WEEKS_END + dt.timedelta(days=2)  # the events happen the morning after the last night's loads
EVERY_VERSION = pytest.mark.parametrize(
    "version",
    [pytest.param(16, marks=pytest.mark.slow), 17, pytest.param(18, marks=pytest.mark.slow), 19],
    ids=lambda v: f"odoo{v}",
)


@pytest.fixture
def three_weeks(version, tmp_path):
    """A private demo Odoo with 21 days of history, every dataset loaded for them; its own queue."""
    server = start_demo(DemoConfig(version=version, seed=42, scale="tiny", days=21, end=WEEKS_END, tz=TZ))
    settings = make_settings(server, tmp_path)
    for name in DATED:
        report = refresh(name, THREE_WEEKS, settings=settings, progress=False)
        assert report.ok, report.summary()
    yield server, settings
    server.stop()


def line_ids(settings, table: str, column: str) -> dict[dt.date, set[int]]:
    lake = Lake(settings.lake)
    return {d: set(lake.read_partition(table, d, [column]).column(0).to_pylist()) for d in lake.partitions(table)}


@EVERY_VERSION
def test_the_next_night_alone_makes_the_lake_equal_odoo_after_records_moved_deleted_and_edited(
    three_weeks, tmp_path, cli
):
    server, settings = three_weeks
    db = server.db
    when = db.now + dt.timedelta(hours=1, microseconds=500000)  # mid-second, as Odoo stamps it
    redated = redate_invoices(db, when, days=4)
    [(moved, (old, new))] = redated.redated.items()
    deleted = delete_invoices(db, when, seed=3)
    [gone] = deleted.deleted["account.move"]
    cancelled = delete_purchases(db, when)
    [order] = cancelled.deleted["purchase.order"]
    edited = apply_late_edits(db, when, n=3)
    assert gone != moved and edited["pos.order.line"] and edited["pos.session"]  # a late discount, late costs

    night = play_night(settings, NIGHT, tmp_path / "clock")

    assert {(t["name"], t["state"]) for t in night} == {("daily", "done"), ("reconcile", "done"), ("compact", "done")}
    for day in THREE_WEEKS:
        code, out, err = cli(settings, "validate", "--date", str(day))
        assert code == 0, out + err
    invoices = line_ids(settings, "fact_invoice_sales", "move_id")
    assert all(gone not in ids for ids in invoices.values())
    assert [d for d, ids in invoices.items() if moved in ids] == [new] and old != new
    assert all(order not in ids for ids in line_ids(settings, "fact_purchases", "order_id").values())
    sales = Lake(settings.lake).read_partition("fact_sales", WEEKS_END)
    pos = sales.filter(pc.equal(sales["channel"], "pos"))
    assert set(pos["cost_source"].to_pylist()) == {"pos_total_cost"}  # the costs computed at the late close
    assert {name: plan(name, NIGHT, settings=settings) for name in DATED} == {name: [] for name in DATED}
    again = reconcile(NIGHT, settings=settings, dry_run=True)
    assert again.ok and again.findings == [] and set(again.checked) == set(DATED)


@pytest.fixture
def unhealable(fresh_demo, loaded_lake, tmp_path):
    """A copy of the loaded lake whose Odoo (a private demo) deleted an invoice of a loaded date;
    the invoices' partitions cannot be written any more (their staging path is a file)."""
    shutil.copytree(loaded_lake(fresh_demo.db.version).lake, tmp_path / "lake")
    settings = make_settings(fresh_demo, tmp_path)
    deleted = delete_invoices(fresh_demo.db, fresh_demo.db.now + dt.timedelta(hours=1))
    [move] = deleted.deleted["account.move"]
    [day] = [d for d, ids in line_ids(settings, "fact_invoice_sales", "move_id").items() if move in ids]
    staging = Lake(settings.lake).staging_dir / "fact_invoice_sales"
    shutil.rmtree(staging, ignore_errors=True)
    staging.write_text("not a directory")
    return settings, day


@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_a_date_that_cannot_be_healed_shows_as_not_reconciled(unhealable):
    settings, day = unhealable
    report = reconcile(END + dt.timedelta(days=1), settings=settings)
    assert not report.ok  # its invoices, and its profit (made of them), still disagree with Odoo
    assert sorted((n, d) for n, d, _ in report.unreconciled) == [("invoices", day), ("profit", day)]
    assert report.reloaded == {"invoices": [day], "profit": [day]}
    meta = MetaStore.for_lake(Lake(settings.lake))
    outcomes = {r["dataset"]: r for r in meta.reconciliations(status="not_reconciled")}
    assert set(outcomes) == {"invoices", "profit"} and {r["date"] for r in outcomes.values()} == {day}
    assert "not reloaded" in outcomes["invoices"]["detail"]
    assert {r["status"] for r in meta.reconciliations(status="reconciled")} == {"reconciled"}
    runs = {r["date"]: r for r in meta.runs(dataset=RECONCILE)}
    assert (
        set(runs) == set(DATES) and runs[day]["status"] == "failed" and "invoices: not reloaded" in runs[day]["error"]
    )
    assert all(r["status"] == "success" for d, r in runs.items() if d != day)

    with pytest.raises(TaskFailed, match=f"NOT RECONCILED invoices {day}"):  # the nightly task fails too
        work.run_reconcile(str(END + dt.timedelta(days=1)), tasks.reconcile.s(day="x"), settings=settings)
    (Lake(settings.lake).staging_dir / "fact_invoice_sales").unlink()  # writable again; the lake scans clean
    fresh = freshness_report(END + dt.timedelta(days=1), settings=settings)
    assert fresh.unreconciled == {"invoices": [day], "profit": [day]}
    assert f"NOT RECONCILED with Odoo: invoices {day}" in fresh.text()
    health = check_health(settings, queue_probe=lambda s: {"ok": True}, today=END + dt.timedelta(days=1))
    assert health.status == "degraded" and health.lake["datasets"]["invoices"]["not_reconciled"] == [str(day)]
    assert health.lake["problem_count"] == 0 and health.lake["datasets"]["purchases"]["not_reconciled"] == []
    row = tables.freshness_table(settings).set_index("dataset").loc["Invoice Sales"]
    assert row["not reconciled"] == str(day)

    healed = reconcile(END + dt.timedelta(days=1), settings=settings)
    assert healed.ok and healed.outcomes["invoices", day] == healed.outcomes["profit", day] == ("healed", "")
    assert freshness_report(END + dt.timedelta(days=1), settings=settings).unreconciled == {}


@pytest.mark.slow
@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_the_operations_page_shows_a_date_not_reconciled(unhealable, tmp_path):
    settings, day = unhealable
    assert not reconcile(END + dt.timedelta(days=1), settings=settings).ok
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks", ignore=shutil.ignore_patterns("__marimo__", "*.ipynb"))
    (tmp_path / "clock-page").write_text(f"{END + dt.timedelta(days=1)}T10:00:00+00:00")
    env = env_for(settings.lake, tmp_path)
    env.update(NKDASH_TZ=TZ, NKDASH_CLOCK_FILE=str(tmp_path / "clock-page"))
    out = tmp_path / "operational.html"
    run = subprocess.run(
        [str(BIN / "marimo"), "export", "html", str(tmp_path / "notebooks" / "operational.py"), "-o", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    page = html.unescape(out.read_text())
    assert "not reconciled" in page and "Not reconciled with Odoo" in page  # the column, and the call-out above
    assert f": Invoice Sales {day}; Profit (Cost + Aggreg) {day}. The nightly reconciliation" in page


@pytest.fixture
def recent(tmp_path):
    """A demo Odoo whose history ends yesterday (the command line reconciles up to yesterday),
    purchases loaded for its last week."""
    server = start_demo(DemoConfig(version=17, seed=42, scale="tiny", days=7, tz=TZ))
    settings = make_settings(server, tmp_path)
    yesterday = cal.latest_complete(cal.timezone(TZ))
    assert refresh("purchases", cal.days(yesterday - dt.timedelta(days=6), yesterday), settings=settings).ok
    yield server, settings
    server.stop()


def test_the_command_shows_what_differs_asks_then_heals(recent, cli):
    server, settings = recent
    [order] = delete_purchases(server.db, server.db.now + dt.timedelta(hours=1)).deleted["purchase.order"]
    [day] = [d for d, ids in line_ids(settings, "fact_purchases", "order_id").items() if order in ids]
    before = tree_digest(settings.lake)
    code, out, err = cli(settings, "reconcile", "--days", "10", "--dry-run")
    assert code == 1 and f"purchases     {day}  " in out and "would be reloaded" in out and err == ""
    assert "1 purchase.order record(s) Odoo does not count here" in out
    assert tree_digest(settings.lake) == before
    code, out, err = cli(settings, "reconcile", "--days", "10")  # no terminal, no --yes: refused
    assert code == 2 and "not confirmed" in err and tree_digest(settings.lake) == before
    code, out, err = cli(settings, "reconcile", "--days", "10", "--yes")
    assert code == 0, out + err
    assert f"reloaded purchases: {day}" in out and "1 healed, 0 not reconciled" in out
    assert all(order not in ids for ids in line_ids(settings, "fact_purchases", "order_id").values())
    code, out, err = cli(settings, "reconcile", "--days", "0")
    assert code == 2 and out == "" and "1 to 366 days" in err


def test_a_lake_with_nothing_loaded_is_not_even_connected(tmp_path):
    nowhere = Settings(odoo_url="http://127.0.0.1:9", lake=tmp_path / "lake")
    report = reconcile(dt.date(2024, 4, 3), settings=nowhere)
    assert report.ok and report.checked == {} and report.calls == 0


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_stock_levels_of_a_window_are_those_of_each_date(loaded_lake, version):
    spec = get("stock-quants")
    with session(loaded_lake(version)) as ctx:
        window = spec.window_totals(ctx, list(DATES))
        assert window == {day: spec.source_totals(ctx, day) for day in DATES}
