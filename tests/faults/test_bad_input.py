"""Bad input: the CLI, the async-refresh API, the notebooks' controls (the library calls
they make with user input) and the settings refuse every bad value with one clear line
(exit 2 on the command line) and write nothing: the lake, the metadata store, the queue
database and the logs are the same bytes before and after.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nkdash import dashboards as dash
from nkdash import etl
from nkdash import settings as settings_module
from nkdash.cli.main import main
from nkdash.errors import NKDashError, OdooUnreachable
from nkdash.jobs import backend, requests
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.ops import backups, recovery, refresh, runbook, tables
from nkdash.settings import Secret
from tests.support.demo import DATES, TZ
from tests.support.lake import changed, copy_lake, tree_digest
from tests.support.processes import child_env

pytestmark = pytest.mark.faults

D0, D4 = DATES[0], DATES[-1]
D = str(D0)
PATH = "../../etc/passwd"
SQL = "'; DROP TABLE runs; --"


@dataclass(frozen=True)
class Case:
    id: str
    where: str  # cli | env | async | notebook
    run: object  # argv, env changes, or a callable(settings, db)
    expect: str  # a part of the message


CLI = [
    Case("refresh-path-dataset", "cli", ["refresh", PATH, "--date", D], "unknown dataset"),
    Case("refresh-sql-dataset", "cli", ["refresh", SQL, "--date", D], "unknown dataset"),
    Case("refresh-path-date", "cli", ["refresh", "pos", "--date", PATH], "malformed date"),
    Case("refresh-sql-date", "cli", ["refresh", "pos", "--date", f"{D}{SQL}"], "malformed date"),
    Case("refresh-bad-day", "cli", ["refresh", "pos", "--date", "2024-02-30"], "malformed date"),
    Case("refresh-reversed", "cli", ["refresh", "pos", "--start-date", str(D4), "--end-date", D], "before start"),
    Case("refresh-oversized", "cli", ["refresh", "pos", "--start-date", "2020-01-01", "--end-date", D], "at most 366"),
    Case("refresh-future", "cli", ["refresh", "invoices", "--date", "2999-01-01"], "not a complete business day"),
    Case("profit-sql-date", "cli", ["profit", "--date", SQL], "malformed date"),
    Case("validate-path-dataset", "cli", ["validate", "--date", D, "--dataset", PATH], "unknown dataset"),
    Case("validate-sql-date", "cli", ["validate", "--date", SQL], "malformed date"),
    Case("monitor-negative-days", "cli", ["monitor", "--days", "-3"], "--days must be"),
    Case("monitor-sql-days", "cli", ["monitor", "--days", SQL], "invalid int value"),
    Case(
        "async-oversized", "cli", ["refresh-async", "pos", "--start-date", "2024-01-01", "--end-date", D], "at most 31"
    ),
    Case("async-reversed", "cli", ["refresh-async", "pos", "--start-date", str(D4), "--end-date", D], "before start"),
    Case("async-path-dataset", "cli", ["refresh-async", PATH, "--start-date", D], "unknown dataset"),
    Case("async-sql-date", "cli", ["refresh-async", "pos", "--start-date", D, "--end-date", SQL], "malformed"),
    Case("async-undated", "cli", ["refresh-async", "dimensions", "--start-date", D], "has no dates"),
    Case("backup-into-the-lake", "cli", ["backup", "--dest", "{lake}/star-schema"], "inside the lake"),
    Case("restore-path", "cli", ["restore", PATH, "--yes"], "backup"),
    Case("restore-sql", "cli", ["restore", SQL, "--yes"], "backup"),
    Case("archive-path-date", "cli", ["storage", "archive", "--before", PATH], "malformed"),
    Case("compact-sql-table", "cli", ["storage", "compact", "--table", SQL], "invalid choice"),
    Case("compact-negative-age", "cli", ["storage", "compact", "--older-than-days", "-1"], "0 or more"),
    Case("clean-temp-negative-age", "cli", ["storage", "clean-temp", "--older-than-hours", "-1"], "0 or more"),
    Case("queue-revoke-sql", "cli", ["queue", "revoke", SQL], "no task"),
    Case("queue-sql-action", "cli", ["queue", SQL], "invalid choice"),
    Case("tasks-path-request", "cli", ["tasks", "--request", PATH], "no request"),
    Case("tasks-sql-state", "cli", ["tasks", "--state", SQL], "invalid choice"),
    # issue 19: an ISO week date parsed as a date; ports out of range (a traceback after writing the key and logs)
    Case("refresh-iso-week-date", "cli", ["refresh", "pos", "--date", "2024-W13-5"], "malformed date"),
    Case("refresh-basic-iso-date", "cli", ["refresh", "pos", "--date", "20240329"], "malformed date"),
    Case("serve-negative-port", "cli", ["serve", "--port", "-1"], "--port must be from 0"),
    Case("serve-port-70000", "cli", ["serve", "--port", "70000"], "--port must be from 0"),
    Case("up-port-70000", "cli", ["up", "--port", "70000"], "--port must be from 0"),  # before its initial load
]

ENV = [  # each with `nkdash refresh pos --date D`; the rest of the settings point at the test lake
    Case("env-unknown-tz", "env", {"NKDASH_TZ": "Mars/Olympus_Mons"}, "NKDASH_TZ"),
    Case("env-path-tz", "env", {"NKDASH_TZ": PATH}, "NKDASH_TZ"),
    Case("env-negative-timeout", "env", {"NKDASH_ODOO_TIMEOUT": "-1"}, "NKDASH_ODOO_TIMEOUT"),
    Case("env-sql-retries", "env", {"NKDASH_ODOO_RETRIES": SQL}, "NKDASH_ODOO_RETRIES"),
    Case("env-zero-batch", "env", {"NKDASH_ODOO_BATCH_SIZE": "0"}, "NKDASH_ODOO_BATCH_SIZE"),
    Case("env-path-url", "env", {"ODOO_URL": PATH}, "ODOO_URL"),
    Case(
        "env-url-without-password",
        "env",
        {"ODOO_URL": "https://erp.example.com", "ODOO_PASSWORD": None},
        "ODOO_PASSWORD",
    ),
    Case("env-sql-protocol", "env", {"NKDASH_ODOO_PROTOCOL": SQL}, "NKDASH_ODOO_PROTOCOL"),
    Case("env-unknown-queue", "env", {"NKDASH_QUEUE": "kafka"}, "NKDASH_QUEUE"),
    Case("env-path-scale", "env", {"NKDASH_DEMO_SCALE": PATH}, "NKDASH_DEMO_SCALE"),
    Case("env-bad-tls-flag", "env", {"NKDASH_ODOO_VERIFY_TLS": "maybe"}, "NKDASH_ODOO_VERIFY_TLS"),
    Case("env-lake-is-a-file", "env", {"NKDASH_LAKE": "/etc/passwd"}, "NKDASH_LAKE"),
    # issue 19: numbers that are not finite, ports out of range, URLs that cannot be parsed
    Case("env-nan-timeout", "env", {"NKDASH_ODOO_TIMEOUT": "nan"}, "NKDASH_ODOO_TIMEOUT: must be a finite"),
    Case("env-inf-timeout", "env", {"NKDASH_ODOO_TIMEOUT": "inf"}, "NKDASH_ODOO_TIMEOUT: must be a finite"),
    Case("env-nan-backoff", "env", {"NKDASH_ODOO_BACKOFF": "nan"}, "NKDASH_ODOO_BACKOFF: must be a finite"),
    Case("env-port-70000", "env", {"NKDASH_WEB_PORT": "70000"}, "NKDASH_WEB_PORT: must be a port number"),
    Case("env-url-open-ipv6", "env", {"ODOO_URL": "http://[::1"}, "ODOO_URL: is not a valid URL"),
    Case("env-url-port-99999", "env", {"ODOO_URL": "http://127.0.0.1:99999"}, "ODOO_URL: is not a valid URL"),
    Case("env-demo-end-iso-week", "env", {"NKDASH_DEMO_END": "2024-W13-5"}, "NKDASH_DEMO_END"),
]


def _filters(**kw) -> Callable:
    return lambda s, db: dash.Filters(**{"start": D0, "end": D4, **kw})


def _f() -> dash.Filters:
    return dash.Filters(D0, D4)


def _result(call: Callable) -> Callable:
    """An ops function returns a failed Result for bad input: turn it into the error it reports."""

    def run(s, db):
        result = call(s, db)
        assert not result.ok, result
        raise NKDashError(f"{result.title}: {result.text}")

    return run


ASYNC_AND_NOTEBOOKS = [
    Case("api-path-dataset", "async", lambda s, db: requests.enqueue_refresh(PATH, D, D, s), "unknown dataset"),
    Case("api-sql-start", "async", lambda s, db: requests.enqueue_refresh("pos", SQL, D, s), "malformed start date"),
    Case("api-reversed", "async", lambda s, db: requests.enqueue_refresh("pos", D4, D0, s), "before start"),
    Case("api-oversized", "async", lambda s, db: requests.enqueue_refresh("pos", "2024-01-01", D, s), "at most 31"),
    Case(
        "api-future",
        "async",
        lambda s, db: requests.enqueue_refresh("pos", "2999-01-01", "2999-01-02", s),
        "not a complete business day",
    ),
    Case("api-undated", "async", lambda s, db: requests.enqueue_refresh("dimensions", D, D, s), "has no dates"),
    Case(
        "api-iso-week-start",
        "async",
        lambda s, db: requests.enqueue_refresh("pos", "2024-W13-5", D, s),
        "malformed start date",
    ),
    Case("filters-text-date", "notebook", _filters(start=D), "must be a date"),
    Case("filters-reversed", "notebook", _filters(start=D4, end=D0), "before it starts"),
    Case("filters-sql-store", "notebook", _filters(stores=(SQL,)), "whole number"),
    Case("filters-path-category", "notebook", _filters(categories=(PATH,)), "whole number"),
    Case("filters-text-stores", "notebook", _filters(stores=PATH), "list of numbers"),
    Case("dashboard-sql-grain", "notebook", lambda s, db: dash.sales_trend(db, _f(), SQL), "granularity"),
    Case("dashboard-path-split", "notebook", lambda s, db: dash.profit_by(db, _f(), PATH), "must be one of"),
    Case(
        "ops-async-path-dataset",
        "notebook",
        _result(lambda s, db: refresh.async_refresh(PATH, (D0, D0), settings=s)),
        "unknown dataset",
    ),
    Case(
        "ops-async-oversized",
        "notebook",
        _result(lambda s, db: refresh.async_refresh("pos", (D0, D0 + dt.timedelta(days=40)), settings=s)),
        "at most 31",
    ),
    Case(
        "ops-async-reversed",
        "notebook",
        _result(lambda s, db: refresh.async_refresh("pos", (D4, D0), settings=s)),
        "before start",
    ),
    Case(
        "ops-sync-range",
        "notebook",
        _result(lambda s, db: refresh.sync_refresh("pos", (D0, D4), settings=s)),
        "one day",
    ),
    Case(
        "ops-sync-sql-dataset",
        "notebook",
        _result(lambda s, db: refresh.sync_refresh(SQL, (D0, D0), settings=s)),
        "unknown dataset",
    ),
    Case(
        "ops-validate-too-many",
        "notebook",
        _result(lambda s, db: recovery.validate_dates([D0 - dt.timedelta(days=i) for i in range(40)], s)),
        "at most 31",
    ),
    Case("ops-restore-path", "notebook", _result(lambda s, db: backups.restore(PATH, s)), "backup"),
    Case("ops-verify-sql", "notebook", _result(lambda s, db: backups.verify_backup(SQL, s)), "backup"),
    Case(
        "runbook-revoke-sql-task",
        "notebook",
        _result(lambda s, db: runbook.run("backlog.revoke", runbook.Params(task=SQL), settings=s)),
        "no task",
    ),
    Case(
        "runbook-request-path",
        "notebook",
        _result(lambda s, db: runbook.run("tasks.request", runbook.Params(task=PATH), settings=s)),
        "no request",
    ),
    Case("ops-request-table-sql", "notebook", lambda s, db: tables.request_table(SQL, s), "no request"),
]

CASES = CLI + ENV + ASYNC_AND_NOTEBOOKS


@pytest.fixture(scope="module")
def world(loaded_lake, tmp_path_factory):
    """A loaded lake, a queue database with its tables, logs with lines: all must stay as they are."""
    base = tmp_path_factory.mktemp("bad-input")
    source = loaded_lake(17)
    settings = source.with_(
        lake=copy_lake(source.lake, base / "lake"),
        state_dir=base / "state",
        log_dir=base / "logs",
        tz=TZ,
        viewer_password=Secret("viewer-pw-bad-input"),  # so that `serve` gets as far as its port
        operator_password=Secret("operator-pw-bad-input"),
    )
    backend.huey_for(settings).storage.queue_size()  # the queue file exists, with its tables
    for log in ("web/access.log", "huey/consumer.log"):
        (base / "logs" / log).parent.mkdir(parents=True, exist_ok=True)
        (base / "logs" / log).write_text("an earlier line\n")
    (base / "cwd").mkdir()
    return settings


def test_there_are_at_least_25_cases_of_each_kind_together():
    assert len(CASES) >= 25 and {c.where for c in CASES} == {"cli", "env", "async", "notebook"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_clear_line_and_writes_nothing(world, case, monkeypatch, capsys, tally):
    settings = world
    roots = (Path(settings.lake), Path(settings.state_dir), Path(settings.log_dir))
    backend.huey_for(settings)
    before = tree_digest(*roots)
    if case.where in ("cli", "env"):
        monkeypatch.chdir(Path(settings.lake).parent / "cwd")  # no .env here
        if case.where == "cli":
            monkeypatch.setattr(settings_module, "_cached", settings)
            argv = [a.replace("{lake}", str(settings.lake)) for a in case.run]
        else:
            for name in [k for k in os.environ if k.startswith(("NKDASH_", "ODOO_"))]:
                monkeypatch.delenv(name)
            for name, value in {**settings.to_env(), **case.run}.items():
                if value is not None:
                    monkeypatch.setenv(name, value)
            monkeypatch.setattr(settings_module, "_cached", None)
            argv = ["refresh", "pos", "--date", D]
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own refusals, as the console script sees them
            code = exit_.code
        out, err = capsys.readouterr()
        assert (code, out) == (2, ""), err
        assert err.count("\n") == 1 and err.startswith("nkdash: error: ") and case.expect in err, err
        message = err
    else:
        db = dash.Dashboard(settings.lake)
        with pytest.raises(NKDashError) as raised:
            case.run(settings, db)
        message = str(raised.value)
        assert case.expect in message and "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert changed(before, tree_digest(*roots)) == []
    tally(cases=1)


URL_PASSWORD = "S3cret-in-the-Url-71x"


def test_credentials_inside_odoo_url_are_never_shown(world, tally):
    """``ODOO_URL=http://admin:<password>@host:<closed port>``: the retries' warnings, the error
    line, ``nkdash settings``, ``odoo-check -v``, the failed runs in the metadata and the logs
    never show the password; a warning says where Odoo's credentials belong."""
    settings = world
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connection refused
    env = child_env(
        settings,
        ODOO_URL=f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}",
        NKDASH_ODOO_RETRIES="2",
        NKDASH_ODOO_BACKOFF="0.01",
    )
    outputs = []
    for argv, code in ((["refresh", "pos", "--date", D], 1), (["settings"], 0), (["-v", "odoo-check"], 1)):
        done = subprocess.run(
            [sys.executable, "-m", "nkdash", *argv],
            env=env,
            cwd=Path(settings.lake).parent / "cwd",
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, (argv, done.stdout, done.stderr)
        assert "credentials belong in ODOO_USER and ODOO_PASSWORD" in done.stderr, done.stderr
    refresh_output, shown, _ = outputs
    assert f"cannot connect to Odoo at http://127.0.0.1:{port}" in refresh_output and "retry 2/2" in refresh_output
    assert f"http://***@127.0.0.1:{port}" in shown
    with pytest.raises(OdooUnreachable):  # the library records the failed run, with its error
        etl.refresh("pos", [D0], settings=settings.with_(odoo_url=env["ODOO_URL"], odoo_retries=0), progress=False)
    (run,) = MetaStore.for_lake(Lake(settings.lake)).runs(dataset="pos", limit=1)
    assert run["status"] == "failed" and f"cannot connect to Odoo at http://127.0.0.1:{port}" in run["error"]
    written = [p for root in (settings.lake, settings.state_dir, settings.log_dir) for p in Path(root).rglob("*")]
    leaks = [str(p) for p in written if p.is_file() and URL_PASSWORD.encode() in p.read_bytes()]
    leaks += [o for o in outputs if URL_PASSWORD in o or "admin:" in o]
    assert leaks == []
    tally(cases=5)
