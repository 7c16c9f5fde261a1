"""Odoo faults: a demo Odoo failing 20% of calls, with timeouts and slow calls, still
gives exactly the lake of a fault-free run; an Odoo that stays down fails the run clearly,
the metadata says so, and nothing already in the lake is lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from nkdash import settings as settings_module
from nkdash.cli.main import main
from nkdash.demo import Faults, start_demo
from nkdash.errors import OdooError
from nkdash.etl import refresh
from nkdash.jobs import control, requests
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.odoo import connect
from nkdash.settings import Secret
from tests.support.demo import DATED, DATES, END, TZ, demo_config, settings_for
from tests.support.lake import copy_lake, lake_checksums, tree_digest

pytestmark = pytest.mark.faults

# A short client timeout, hung calls longer than it, slow calls shorter than it.
TIMEOUT, HANG, SLOW = 0.5, 1.0, 0.15
FAULTY = {"odoo_timeout": TIMEOUT, "odoo_retries": 8, "odoo_backoff": 0.02}


@pytest.fixture
def private_demo():
    """A demo Odoo of our own (its faults and state are ours to change)."""
    servers = []

    def start(version: int = 17):
        servers.append(start_demo(demo_config(version)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "version, protocol, status",
    [
        (17, "jsonrpc", 503),
        (17, "xmlrpc", 502),
        (19, "json2", 429),
    ],
    ids=["odoo17-jsonrpc-503", "odoo17-xmlrpc-502", "odoo19-json2-429"],
)
def test_etl_through_failing_timing_out_and_slow_calls_gives_the_fault_free_lake(
    private_demo, loaded_lake, tmp_path, tally, version, protocol, status
):
    clean = lake_checksums(loaded_lake(version).lake)
    server = private_demo(version)
    server.faults = Faults(
        error_rate=0.20,
        timeout_rate=0.04,
        slow_rate=0.10,
        slow_seconds=SLOW,
        hang_seconds=HANG,
        seed=version * 1000 + status,
        status=status,
    )
    settings = settings_for(server, tmp_path / "lake", odoo_protocol=protocol, **FAULTY)
    client = connect(settings)
    for name in DATED:
        report = refresh(name, DATES, settings=settings, client=client, progress=False)
        assert report.ok, report.summary()
    assert lake_checksums(settings.lake) == clean
    assert Lake(settings.lake).scan(deep=True) == []
    runs = MetaStore.for_lake(Lake(settings.lake)).runs()
    assert runs and {r["status"] for r in runs} == {"success"}
    injected = server.injected
    assert injected["error"] and injected["timeout"] and injected["slow"] and client.retried
    calls = sum(server.calls.values())
    assert injected["error"] / calls > 0.1  # about a fifth of the calls failed
    tally(
        trials=1,
        odoo_calls=calls,
        injected_errors=injected["error"],
        injected_timeouts=injected["timeout"],
        injected_slow=injected["slow"],
        retries=client.retried,
        partitions_compared=len(clean),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "version, protocol",
    [(17, "jsonrpc"), (17, "xmlrpc"), (19, "json2")],
    ids=["odoo17-jsonrpc", "odoo17-xmlrpc", "odoo19-json2"],
)
def test_etl_through_answers_cut_off_mid_body_502_503_and_resets_gives_the_fault_free_lake(
    private_demo, loaded_lake, tmp_path, tally, version, protocol
):
    """A fifth of the answers cut off mid-body (headers and half the body, then the connection
    closed: requests' ChunkedEncodingError), a tenth answered 502 or 503, one in twenty closed
    with no answer: a full refresh retries them all and gives exactly the fault-free lake."""
    clean = lake_checksums(loaded_lake(version).lake)
    server = private_demo(version)
    server.faults = Faults(
        truncate_rate=0.20, error_rate=0.10, statuses=(502, 503), reset_rate=0.05, seed=version * 100 + len(protocol)
    )
    settings = settings_for(server, tmp_path / "lake", odoo_protocol=protocol, **{**FAULTY, "odoo_retries": 12})
    client = connect(settings)
    for name in DATED:
        report = refresh(name, DATES, settings=settings, client=client, progress=False)
        assert report.ok, report.summary()
    assert lake_checksums(settings.lake) == clean
    assert Lake(settings.lake).scan(deep=True) == []
    runs = MetaStore.for_lake(Lake(settings.lake)).runs()
    assert runs and {r["status"] for r in runs} == {"success"}
    injected, calls = server.injected, sum(server.calls.values())
    assert injected["truncated"] / calls > 0.15 and injected["error"] and injected["reset"]
    tally(
        trials=1,
        odoo_calls=calls,
        injected_cut_off=injected["truncated"],
        injected_errors=injected["error"],
        injected_resets=injected["reset"],
        retries=client.retried,
        partitions_compared=len(clean),
    )


def one_line_naming(err: str, setting: str) -> bool:
    return err.count("\n") == 1 and err.startswith("nkdash: error: ") and setting in err


@pytest.fixture
def down_lake(private_demo, loaded_lake, tmp_path):
    """A copy of the loaded Odoo 17 lake, its settings pointing at a private demo Odoo."""
    server = private_demo(17)
    root = copy_lake(loaded_lake(17).lake, tmp_path / "lake")
    return server, settings_for(
        server,
        root,
        odoo_retries=2,
        odoo_backoff=0.01,
        odoo_timeout=TIMEOUT,
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        tz=TZ,
    )


def test_odoo_going_down_mid_run_fails_each_date_clearly_and_loses_nothing(down_lake, tally):
    server, settings = down_lake
    before, meta = lake_checksums(settings.lake), MetaStore.for_lake(Lake(settings.lake))
    loaded = {p["date"]: p["checksum"] for p in meta.partitions("pos")}
    client = connect(settings)  # connected, then Odoo goes away
    server.down = True
    report = refresh("pos", DATES, settings=settings, client=client, progress=False)
    assert not report.ok and report.failed_dates == DATES
    assert all("ODOO_URL" in unit.error and "\n" not in unit.error for unit in report.failed)
    failed = meta.runs(dataset="pos", status="failed")
    assert len(failed) == len(DATES) and all("ODOO_URL" in r["error"] for r in failed)
    states = {p["date"]: p for p in meta.partitions("pos")}
    assert {d: s["status"] for d, s in states.items()} == dict.fromkeys(DATES, "failed")
    assert {d: s["checksum"] for d, s in states.items()} == loaded  # the last load is remembered
    assert lake_checksums(settings.lake) == before and Lake(settings.lake).scan() == []
    tally(cases=1, failed_runs_recorded=len(failed))


@pytest.mark.parametrize(
    "how, setting",
    [
        ("down", "ODOO_URL"),
        ("stopped", "ODOO_URL"),
        ("hanging", "NKDASH_ODOO_TIMEOUT"),
    ],
)
def test_odoo_that_stays_unusable_fails_in_one_line_and_writes_no_data(
    down_lake, monkeypatch, capsys, tally, how, setting
):
    """The CLI: exit 1, one line naming the setting to check; the lake's data untouched.
    The queued/sync path records the failure in the task history of the metadata."""
    server, settings = down_lake
    if how == "down":
        server.down = True
    elif how == "stopped":
        server.stop()
    else:
        server.faults = Faults(timeout_rate=1.0, hang_seconds=HANG)
    star = tree_digest(Path(settings.lake) / "star-schema")
    monkeypatch.setattr(settings_module, "_cached", settings)
    code = main(["refresh", "pos", "--date", str(DATES[0])])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and one_line_naming(err, setting), err
    assert tree_digest(Path(settings.lake) / "star-schema") == star
    with pytest.raises(OdooError):
        requests.refresh_sync("pos", DATES[0], settings)
    [task] = control.tasks(settings, limit=1)
    assert task["state"] == "failed" and setting in task["error"]
    assert tree_digest(Path(settings.lake) / "star-schema") == star
    tally(cases=1)


@pytest.mark.parametrize("how, setting", [("wrong password", "ODOO_PASSWORD"), ("refused", "ODOO_URL")])
def test_a_failed_login_on_the_command_line_records_a_failed_run_per_date(
    down_lake, monkeypatch, capsys, tally, how, setting
):
    """``nkdash refresh`` with a wrong password, or with Odoo refusing the connection: one line,
    exit 1, a failed run per requested date with the reason (as the Guarantees promise), no data."""
    server, settings = down_lake
    if how == "refused":
        server.stop()
    else:
        settings = settings.with_(odoo_password=Secret("s3cret-typo"))
    star, meta = tree_digest(Path(settings.lake) / "star-schema"), MetaStore.for_lake(Lake(settings.lake))
    before = {r["id"] for r in meta.runs()}
    monkeypatch.setattr(settings_module, "_cached", settings)
    code = main(["refresh", "invoices", "--start-date", str(DATES[1]), "--end-date", str(DATES[3])])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and one_line_naming(err, setting) and "s3cret-typo" not in err
    runs = [r for r in meta.runs() if r["id"] not in before]
    assert sorted((r["dataset"], r["date"], r["status"]) for r in runs) == [
        ("invoices", d, "failed") for d in DATES[1:4]
    ]
    assert all(setting in r["error"] and "s3cret-typo" not in r["error"] for r in runs)
    assert tree_digest(Path(settings.lake) / "star-schema") == star
    tally(cases=1, failed_runs_recorded=len(runs))


@pytest.mark.parametrize("entry", ["refresh", "catch_up"])
def test_odoo_down_before_a_run_starts_records_a_failed_run_and_changes_no_data(down_lake, tally, entry):
    """Connection refused at login: the run is recorded failed (per requested date; the daily
    catch-up, whose dates need Odoo, one undated run) with the reason; the lake's data stays."""
    from nkdash.etl import catch_up

    server, settings = down_lake
    server.stop()
    star = tree_digest(Path(settings.lake) / "star-schema")
    meta = MetaStore.for_lake(Lake(settings.lake))
    before = {r["id"] for r in meta.runs()}
    with pytest.raises(OdooError) as raised:
        if entry == "refresh":
            refresh("pos", DATES[:2], settings=settings, progress=False)
        else:
            catch_up("pos", END + dt.timedelta(days=1), settings=settings)
    runs = [r for r in meta.runs() if r["id"] not in before]
    dates = DATES[:2] if entry == "refresh" else [None]
    assert sorted((r["dataset"], r["date"], r["status"]) for r in runs) == [("pos", d, "failed") for d in dates]
    assert all("ODOO_URL" in r["error"] and str(raised.value) in r["error"] for r in runs), runs
    assert tree_digest(Path(settings.lake) / "star-schema") == star
    tally(cases=1, failed_runs_recorded=len(runs))
