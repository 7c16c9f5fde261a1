"""The runbook's commands: refresh, profit, validate, monitor, freshness; bad input."""

from pathlib import Path

import pytest

from nkdash import dates as cal
from nkdash import settings as settings_module
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from tests.support.demo import DATES, END, TZ, settings_for
from tests.support.lake import tree_digest

pytestmark = pytest.mark.parametrize("version", [17], ids=["odoo17"])
D = str(DATES[0])
TODAY = str(cal.today(cal.timezone(TZ)))


def snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")} if root.exists() else {}


def test_refresh_then_validate(cli, settings):
    code, out, err = cli(settings, "refresh", "pos", "--start-date", D, "--end-date", str(DATES[1]))
    assert (code, err) == (0, "") and out.startswith("POS Sales: 2 date(s) 2024-03-29..2024-03-30")
    assert Lake(settings.lake).partitions("fact_pos_sales") == DATES[:2]
    code, out, _ = cli(settings, "validate", "--date", D, "--dataset", "pos")
    assert code == 0 and f"validation of {D}: OK" in out


def test_profit_command_loads_inputs(cli, settings):
    code, out, _ = cli(settings, "profit", "--date", str(END))
    assert code == 0 and "Profit (Cost + Aggreg): 1 date(s) 2024-04-02, 4/4 unit(s) ok" in out


def test_validate_exits_non_zero_on_failure(cli, lake_copy):
    lake = Lake(lake_copy.lake)
    pos = lake.read_partition("fact_pos_sales", DATES[0])
    lake.write_partition("fact_pos_sales", DATES[0], pos.slice(1))
    code, out, _ = cli(lake_copy, "validate", "--date", D)
    assert code == 1 and "FAIL" in out and "odoo count: lake" in out


def test_monitor_and_freshness(cli, lake_copy):
    MetaStore.for_lake(Lake(lake_copy.lake)).record_query("sales_by_day", 0.25, 10)
    code, out, _ = cli(lake_copy, "monitor", "--days", "7", "--verbose")
    assert code == 0 and "  pos " in out and "runs:" in out and "success" in out
    assert "sales_by_day" in out and "median 0.250" in out
    code, out, _ = cli(lake_copy, "freshness")
    assert code == 1  # the demo stops on 2024-04-02: every dataset is far behind today
    assert f"  pos           {END}" in out and "critical" in out and "dimensions last synced" in out


BAD_INPUT = [
    (["refresh", "sales", "--date", D], "unknown dataset 'sales'"),
    (["refresh", "pos", "--date", "2024-13-01"], "malformed date '2024-13-01'"),
    (["refresh", "pos", "--date", "01/04/2024"], "malformed date"),
    (["refresh", "pos", "--start-date", "2024-04-02", "--end-date", "2024-04-01"], "is before start date"),
    (["refresh", "pos", "--date", TODAY], "not a complete business day yet"),
    (["refresh", "invoices", "--date", "2999-01-01"], "not a complete business day yet"),
    (["refresh", "pos", "--start-date", "2022-01-01", "--end-date", "2023-01-02"], "at most 366"),
    (["refresh", "pos"], "give --date"),
    (["refresh", "pos", "--date", D, "--start-date", D], "not both"),
    (["refresh", "pos", "--start-date", D], "give --date"),
    (["refresh"], "the following arguments are required: DATASET"),
    (["refresh", "pos", "--date", D, "--bogus"], "unrecognized arguments: --bogus"),
    (["profit", "--date", "yesterday"], "malformed date 'yesterday'"),
    (["validate", "--date", "2024-02-30"], "malformed date"),
    (["validate", "--date", D, "--dataset", "nope"], "unknown dataset 'nope'"),
    (["validate", "--date", TODAY], "not a complete business day yet"),
    (["monitor", "--days", "0"], "--days must be between 1 and 366"),
    (["monitor", "--days", "many"], "invalid int value"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, lake_copy, argv, message):
    before = snapshot(lake_copy.lake)
    code, out, err = cli(lake_copy, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("nkdash: error: ") and message in err
    assert snapshot(lake_copy.lake) == before


def test_bad_input_creates_no_lake(cli, settings):
    assert cli(settings, "refresh", "pos", "--date", TODAY)[0] == 2
    assert not settings.lake.exists()


def test_unreachable_odoo_names_the_setting_and_records_a_failed_run_per_date(cli, settings):
    unreachable = settings.with_(odoo_url="http://127.0.0.1:9", odoo_retries=0)
    code, _, err = cli(unreachable, "refresh", "pos", "--start-date", D, "--end-date", str(DATES[1]))
    assert code == 1 and err.count("\n") == 1 and "ODOO_URL" in err
    runs = MetaStore.for_lake(Lake(settings.lake)).runs()
    assert sorted((r["dataset"], r["date"], r["status"], r["trigger"]) for r in runs) == [
        ("pos", day, "failed", "manual") for day in DATES[:2]
    ]
    assert all("ODOO_URL" in r["error"] for r in runs)
    assert not any((settings.lake / "star-schema").iterdir())  # no data


def test_bad_credentials_name_the_settings_and_hide_the_secret(cli, settings):
    wrong = settings.with_(odoo_password=settings_module.Secret("s3cret-typo"))
    code, out, err = cli(wrong, "validate", "--date", D)
    assert code == 1 and "ODOO_USER and ODOO_PASSWORD" in err and "s3cret-typo" not in out + err


def test_a_lake_refuses_another_odoo_in_one_line_and_a_new_lake_path_works(cli, lake_copy, demo_server, tmp_path):
    other = settings_for(demo_server(19), lake_copy.lake)  # another database: another uuid
    before = tree_digest(lake_copy.lake)
    code, out, err = cli(other, "refresh", "pos", "--date", D)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("nkdash: error: NKDASH_LAKE: ")
    recorded = MetaStore.for_lake(Lake(lake_copy.lake)).source()
    assert (
        f"holds the data of {lake_copy.odoo_url} (database 'demo', company 'NK Retail SA', uuid {recorded['uuid']})"
        in err
    )
    assert f"not of {other.odoo_url} (database 'demo'" in err and "NKDASH_LAKE=<new path>" in err
    assert tree_digest(lake_copy.lake) == before  # nothing read from Odoo into it, nothing written
    code, out, err = cli(other.with_(lake=tmp_path / "new-lake"), "refresh", "pos", "--date", D)
    assert (code, err) == (0, "") and "2/2 unit(s) ok" in out  # the dimensions, then the date
    assert MetaStore.for_lake(Lake(tmp_path / "new-lake")).source()["uuid"] != recorded["uuid"]
