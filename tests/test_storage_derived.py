"""nkdash.derived: aggregates missing or stale in a real lake, rebuilt from its fact_sales alone
(no Odoo), daily or into compacted months, recorded like the ETL; and ``nkdash backfill``."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pytest

from nkdash import storage
from nkdash.cli.main import main
from nkdash.etl import derived, plan
from nkdash.etl.datasets import get, profit
from nkdash.etl.runner import combined_checksum
from nkdash.etl.validate import validate
from nkdash.lake import Lake
from nkdash.lake.layout import COMPACT_DIR
from nkdash.meta import MetaStore
from nkdash.ops import recovery
from tests.support.demo import DATES

pytestmark = pytest.mark.parametrize("version", [17], ids=["odoo17"])
NEW = ("agg_sales_daily", "agg_orders_daily")
DERIVED = derived.PROFIT.tables
FAR = dt.date(2030, 1, 1)  # a "today" that makes every month old enough to compact


def open_lake(settings) -> tuple[Lake, MetaStore]:
    lake = Lake(settings.lake)
    return lake, MetaStore.for_lake(lake)


def upgrade_from_old_version(lake: Lake, meta: MetaStore) -> None:
    """What a lake written before ``agg_sales_daily``/``agg_orders_daily`` existed looks like:
    neither table, and profit checksums over fact_sales and agg_profit_daily only."""
    for table in NEW:
        shutil.rmtree(lake.table_dir(table))
    for day in DATES:
        old = combined_checksum([lake.info("fact_sales", day), lake.info("agg_profit_daily", day)])
        record = meta.partition("profit", day)
        meta.set_partition("profit", day, status="loaded", rows=record["rows"], checksum=old)


def expected(lake: Lake, table: str, day: dt.date) -> pa.Table:
    return profit.aggregates(lake.read_partition("fact_sales", day))[table]


def as_etl_recorded(lake: Lake, meta: MetaStore, day: dt.date) -> bool:
    infos = [lake.info(t, day) for t in get("profit").table_names]
    return meta.partition("profit", day)["checksum"] == combined_checksum(infos)


def test_upgraded_lake_gets_its_new_aggregates_from_fact_sales(lake_copy):
    lake, meta = open_lake(lake_copy)
    upgrade_from_old_version(lake, meta)
    tomorrow = DATES[-1] + dt.timedelta(days=1)
    assert plan("profit", tomorrow, settings=lake_copy) == DATES  # else: every date reloaded from Odoo
    found = derived.gaps(lake, meta)
    assert [(g.date, g.missing, g.unverified) for g in found] == [(d, NEW, ("agg_profit_daily",)) for d in DATES]
    checksums = {d: lake.info("agg_profit_daily", d).checksum for d in DATES}

    report = derived.backfill(lake, meta=meta, trigger="recovery")
    assert report.ok and report.written == dict.fromkeys(NEW, DATES) and report.recorded == DATES
    for day in DATES:
        for table in DERIVED:
            assert lake.read_partition(table, day).equals(expected(lake, table, day))
        assert lake.info("agg_profit_daily", day).checksum == checksums[day]  # verified, not rewritten
        assert as_etl_recorded(lake, meta, day)
    runs = [r for r in meta.runs(dataset="profit") if r["trigger"] == "recovery"]
    assert sorted(r["date"] for r in runs) == DATES and {r["status"] for r in runs} == {"success"}
    assert plan("profit", tomorrow, settings=lake_copy) == []  # nothing left for Odoo
    assert lake.scan(deep=True) == []

    again = derived.backfill(lake, meta=meta)  # idempotent: nothing to do
    assert again.gaps == [] and again.written == {} and "every date" in again.text()
    assert validate(DATES[1], ["profit"], settings=lake_copy).ok


def test_dry_run_lists_and_writes_nothing(lake_copy):
    lake, meta = open_lake(lake_copy)
    upgrade_from_old_version(lake, meta)
    files = sorted(lake.star.rglob("*"))
    report = derived.backfill(lake_copy.lake, dry_run=True)
    assert report.dry_run and len(report.gaps) == len(DATES) and report.written == {}
    assert "agg_sales_daily    missing 2024-03-29..2024-04-02" in report.text()
    assert sorted(lake.star.rglob("*")) == files


def test_an_aggregate_left_behind_by_a_killed_write_is_rebuilt_alone(lake_copy):
    lake, meta = open_lake(lake_copy)
    day = DATES[2]
    wrong = expected(lake, "agg_sales_daily", day).slice(1)  # as if the ETL died before rewriting it
    lake.write_partition("agg_sales_daily", day, wrong)
    before = {t: lake.info(t, day).checksum for t in DERIVED}
    [gap] = derived.gaps(lake, meta)
    assert (gap.date, gap.missing, gap.unverified) == (day, (), DERIVED)
    report = derived.backfill(lake, meta=meta)
    assert report.written == {"agg_sales_daily": [day]}
    assert lake.read_partition("agg_sales_daily", day).equals(expected(lake, "agg_sales_daily", day))
    assert {t: lake.info(t, day).checksum for t in DERIVED if t != "agg_sales_daily"} == {
        t: c for t, c in before.items() if t != "agg_sales_daily"
    }
    assert as_etl_recorded(lake, meta, day) and derived.gaps(lake, meta) == []


def test_a_stale_date_keeps_its_status(lake_copy):
    lake, meta = open_lake(lake_copy)
    upgrade_from_old_version(lake, meta)
    day = DATES[0]
    meta.mark_stale("profit", [day], reason="pos.order changed in Odoo")
    derived.backfill(lake, meta=meta)
    assert lake.has_partition("agg_sales_daily", day)  # dashboards have it meanwhile
    assert meta.partition("profit", day)["status"] == "stale"  # still reloaded from Odoo


def test_compacted_months_are_rebuilt_as_compacted_months(lake_copy):
    lake, meta = open_lake(lake_copy)
    storage.compact(lake, older_than_days=0, today=FAR)
    upgrade_from_old_version(lake, meta)
    march = [d for d in DATES if d.month == 3]
    report = derived.backfill(lake, meta=meta)
    assert report.ok and sorted((c.table, c.month) for c in report.compacted) == sorted(
        (t, m) for t in NEW for m in ("2024-03", "2024-04")
    )
    for table in NEW:
        assert [m.daily for m in lake.months(table)] == [0, 0]  # no daily file left behind
        assert lake.info(table, march[0]).path.parent.name == COMPACT_DIR
    for day in DATES:
        assert lake.read_partition("agg_orders_daily", day).equals(expected(lake, "agg_orders_daily", day))
        assert as_etl_recorded(lake, meta, day)
    assert lake.scan(deep=True) == []


def test_one_date_replaced_inside_a_compacted_month(lake_copy):
    lake, meta = open_lake(lake_copy)
    storage.compact(lake, older_than_days=0, today=FAR)
    day, other = DATES[0], DATES[1]
    kept = lake.info("agg_sales_daily", other).checksum
    lake.write_partition("agg_sales_daily", day, expected(lake, "agg_sales_daily", day).slice(2))
    assert lake.info("agg_sales_daily", day).path.parent == lake.partition_dir("agg_sales_daily", day)
    report = derived.backfill(lake, meta=meta)
    assert report.written == {"agg_sales_daily": [day]}
    assert [c.table for c in report.compacted] == list(DERIVED)[1:2]  # merged back into its month
    assert lake.info("agg_sales_daily", day).path.parent.name == COMPACT_DIR
    assert lake.info("agg_sales_daily", other).checksum == kept
    assert lake.read_partition("agg_sales_daily", day).equals(expected(lake, "agg_sales_daily", day))
    assert lake.scan(deep=True) == []


def test_a_source_rewritten_meanwhile_is_done_again(lake_copy, monkeypatch):
    """A profit run rewrites fact_sales while the backfill computes: the result follows the new rows."""
    lake, meta = open_lake(lake_copy)
    upgrade_from_old_version(lake, meta)
    day = DATES[3]
    compute, calls = derived.PROFIT.compute, []

    def racing(sales: pa.Table):
        calls.append(sales.num_rows)
        if len(calls) == 1:
            lake.write_partition("fact_sales", day, sales.slice(0, sales.num_rows // 2))
        return compute(sales)

    monkeypatch.setattr(derived, "DERIVATIONS", (derived.Derivation("profit", "fact_sales", DERIVED, racing),))
    report = derived.backfill(lake, meta=meta, start=day, end=day)
    assert report.ok and calls[1] == calls[0] // 2
    for table in DERIVED:
        assert lake.read_partition(table, day).equals(expected(lake, table, day))


def test_validate_and_the_recovery_plan_name_a_missing_aggregate(lake_copy):

    lake, _meta = open_lake(lake_copy)
    shutil.rmtree(lake.partition_dir("agg_orders_daily", DATES[1]))
    report = validate(DATES[1], ["profit"], settings=lake_copy)
    [failure] = report.datasets[0].failures
    assert failure.table == "agg_orders_daily" and "nkdash backfill" in failure.detail
    scanned = recovery.scan(lake_copy)
    assert not scanned.ok and "aggregates missing for 1 date(s) (2024-03-30)" in scanned.text()
    plan = next(r for r in recovery.plan_rows(lake_copy) if r["name"] == "profit")
    assert plan["derived"] == [DATES[1]] and DATES[1] not in plan["gone"]


def test_cli_backfill(lake_copy, monkeypatch, capsys):
    from nkdash import settings as settings_module

    lake, meta = open_lake(lake_copy)
    upgrade_from_old_version(lake, meta)
    monkeypatch.setattr(settings_module, "_cached", lake_copy)
    assert main(["backfill", "--dry-run", "--start-date", "2024-03-30", "--end-date", "2024-03-31"]) == 0
    assert "2 date(s) to verify or rebuild" in capsys.readouterr().out and not lake.has_partition(
        "agg_sales_daily", DATES[1]
    )
    assert main(["backfill"]) == 0
    assert "agg_sales_daily    rebuilt 5 date(s)" in capsys.readouterr().out
    assert main(["backfill", "--start-date", "2024-04-02", "--end-date", "2024-04-01"]) == 2
    assert "before start date" in capsys.readouterr().err
    assert main(["backfill", "--start-date", "yesterday"]) == 2
