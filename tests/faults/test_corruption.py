"""Corruption: truncated, zeroed and deleted parquet files are detected by the scan,
reported by validate and /health, repaired by recovery; dashboards show a warning, not a
traceback."""

from __future__ import annotations

import datetime as dt
import inspect
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from nkdash import dashboards as dash
from nkdash import settings as settings_module
from nkdash.cli.main import main
from nkdash.dashboards import status
from nkdash.errors import LakeError
from nkdash.etl.validate import validate
from nkdash.jobs import backend
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.ops import recovery
from tests.support.demo import DATED, DATES, TZ
from tests.support.lake import copy_lake, lake_checksums, tree_digest
from tests.support.notebooks import BIN, NOTEBOOKS, cell_errors, env_for

pytestmark = pytest.mark.faults

# (table, date) -> how it is damaged. The dates sit in every dashboard's default period.
DAMAGE = {
    ("fact_stock_quants", DATES[0]): "truncated",  # inventory dashboard
    ("fact_sales", DATES[1]): "deleted",  # the file gone, its directory left
    ("agg_profit_daily", DATES[3]): "zeroed",  # sales and profit dashboards
}
KIND = {"truncated": "unreadable", "zeroed": "unreadable", "deleted": "empty"}
DATASET = {"fact_stock_quants": "stock-quants", "fact_sales": "profit", "agg_profit_daily": "profit"}


def damage(root: Path) -> dict[tuple[str, dt.date], Path]:
    """Apply :data:`DAMAGE` to the lake at ``root``; returns the damaged file (or dir) per key."""
    lake, paths = Lake(root, read_only=True), {}
    for (table, day), how in DAMAGE.items():
        path = lake.info(table, day).path
        if how == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "zeroed":
            path.write_bytes(bytes(path.stat().st_size))
        else:
            path.unlink()
            path = path.parent
        paths[table, day] = path
    return paths


@pytest.fixture(scope="module")
def damaged(loaded_lake, tmp_path_factory):
    """A copy of the loaded Odoo 17 lake with :data:`DAMAGE` done; (settings, damaged paths)."""
    source = loaded_lake(17)
    base = tmp_path_factory.mktemp("damaged")
    settings = source.with_(
        lake=copy_lake(source.lake, base / "lake"), state_dir=base / "state", log_dir=base / "logs", tz=TZ
    )
    return settings, damage(settings.lake)


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_the_scan_finds_every_damaged_file(damaged, deep, tally):
    settings, paths = damaged
    found = {(p.table, p.date, p.kind, p.path) for p in Lake(settings.lake, read_only=True).scan(deep=deep)}
    assert found == {(t, d, KIND[how], paths[t, d]) for (t, d), how in DAMAGE.items()}
    tally(cases=len(DAMAGE))


@pytest.mark.parametrize("key", list(DAMAGE), ids=[f"{t}-{how}" for (t, _), how in DAMAGE.items()])
def test_validate_reports_the_damaged_partition(damaged, key, monkeypatch, capsys, tally):
    settings, _paths = damaged
    table, day = key
    report = validate(day, settings=settings)
    failures = [r for d in report.datasets for r in d.failures]
    assert not report.ok
    assert any(r.table == table and r.check == "readable" and KIND[DAMAGE[key]] in r.detail for r in failures)
    monkeypatch.setattr(settings_module, "_cached", settings)
    code = main(["validate", "--date", str(day)])
    out, _ = capsys.readouterr()
    assert code == 1 and "FAIL" in out and f"x {table} readable: {KIND[DAMAGE[key]]}" in out
    tally(cases=1)


def fresh_meta(root: Path) -> None:
    """Record every dataset loaded yesterday: freshness ok, so /health judges the lake alone."""
    meta = MetaStore.for_lake(Lake(root))
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    for name in DATED:
        meta.set_partition(name, yesterday, status="loaded", rows=1)


def test_health_answers_503_and_lists_the_damaged_partitions(damaged, loaded_lake, serve_app, tmp_path, tally):
    settings, _ = damaged
    healthy = settings.with_(lake=copy_lake(loaded_lake(17).lake, tmp_path / "healthy"))
    broken = settings.with_(lake=copy_lake(settings.lake, tmp_path / "broken"))
    for s in (healthy, broken):
        fresh_meta(s.lake)
    ok = requests.get(serve_app(healthy.with_(tz=None), no_auth=True) + "/health", timeout=30)
    assert ok.status_code == 200 and ok.json()["lake"]["damaged"] == 0
    bad = requests.get(serve_app(broken.with_(tz=None), no_auth=True) + "/health", timeout=30)
    body = bad.json()
    assert bad.status_code == 503 and body["status"] == "fail" and body["lake"]["damaged"] == len(DAMAGE)
    assert {(p["table"], p["date"], p["kind"]) for p in body["lake"]["problems"]} == {
        (t, str(d), KIND[how]) for (t, d), how in DAMAGE.items()
    }
    assert str(broken.lake) not in bad.text  # public: no paths
    tally(cases=2)


@pytest.mark.parametrize("lake_state", ["damaged", "clean"])
def test_dashboard_library_warns_about_damaged_partitions(damaged, loaded_lake, lake_state, tally):
    settings, _ = damaged
    db = dash.Dashboard(settings.lake if lake_state == "damaged" else loaded_lake(17).lake, meta=None)
    f = dash.Filters(*dash.default_period(db))
    checks = {"sales": dash.has_sales, "stock data": dash.has_inventory, "purchases": dash.has_purchases}
    for what, has in checks.items():
        found = has(db, f)
        text = dash.no_data(db, what, f)
        if lake_state == "clean" or what == "purchases":  # purchases read no damaged file
            assert found and "Damaged" not in text
        else:
            assert not found and text.startswith(f"**Damaged data: {what} for") and "Recovery page" in text
    tally(cases=len(checks))


NOTEBOOK_DASHBOARD = {
    "sales.py": "sales",
    "profit.py": "sales",
    "inventory.py": "inventory",
    "purchases.py": "purchases",
}


@pytest.mark.parametrize("notebook", list(NOTEBOOK_DASHBOARD))
def test_every_query_a_dashboard_notebook_runs_is_checked_for_damage(loaded_lake, monkeypatch, notebook, tally):
    """``has_*`` looks at the files of ``DASHBOARD_QUERIES``: every query the notebook's
    calls run (directly or through helpers) must be listed there, or damage in its files
    would fail a cell after the check."""
    db = dash.Dashboard(loaded_lake(17).lake, meta=None)
    f = dash.Filters(*dash.default_period(db))
    ran, run = set(), dash.Dashboard.run
    monkeypatch.setattr(dash.Dashboard, "run", lambda self, name, *a: (ran.add(name), run(self, name, *a))[1])
    # the notebook's own calls and those of the shared controls every dashboard notebook uses
    source = (NOTEBOOKS / notebook).read_text() + (NOTEBOOKS.parent / "dashboards" / "controls.py").read_text()
    called = set(re.findall(r"dash\.([a-z_]+)\(", source))
    for name in sorted(called):
        fn = getattr(dash, name)
        params = list(inspect.signature(fn).parameters.values())
        if [p.name for p in params[:2]] == ["db", "f"] and all(p.default is not p.empty for p in params[2:]):
            fn(db, f)
        elif [p.name for p in params] == ["db"]:
            fn(db)
    checked = {q.__name__ for q in status.DASHBOARD_QUERIES[NOTEBOOK_DASHBOARD[notebook]]}
    assert ran and ran <= checked, ran - checked
    tally(cases=len(ran))


@pytest.mark.slow
def test_dashboard_notebooks_show_a_warning_not_a_traceback(damaged, tmp_path, tally):
    """``marimo export html`` of the sales and inventory dashboards on the damaged lake:
    exit 0, no cell error, and the page says which partitions are damaged."""
    settings, _ = damaged
    shutil.copytree(NOTEBOOKS, tmp_path / "nb", ignore=shutil.ignore_patterns("__marimo__", "*.ipynb"))

    def export(name: str) -> tuple[int, str, str]:
        html = tmp_path / f"{name}.html"
        run = subprocess.run(
            [str(BIN / "marimo"), "export", "html", str(tmp_path / "nb" / name), "-o", str(html)],
            env=env_for(settings.lake, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return run.returncode, run.stdout + run.stderr, html.read_text() if html.exists() else ""

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(("sales.py", "inventory.py"), pool.map(export, ("sales.py", "inventory.py"))))
    for code, log, html in results.values():
        assert code == 0, log
        assert not cell_errors(html), cell_errors(html)
        assert "Damaged data" in html and "Recovery page" in html and "Traceback" not in html
    assert "agg_profit_daily 2024-04-01 (unreadable)" in results["sales.py"][2]
    assert "fact_stock_quants 2024-03-29 (unreadable)" in results["inventory.py"][2]
    tally(cases=len(results))


def test_recovery_quarantines_and_rebuilds_everything(damaged, loaded_lake, tmp_path, tally, monkeypatch):
    """The recovery library (``ops.recovery.repair``: scan, quarantine, rebuild, reload, scan;
    what ``nkdash repair`` and the Recovery page run) repairs the damaged files and the
    partition directory deleted by hand (it shows as gone in the recovery plan first); its
    dry run changes nothing. Then the lake equals the loaded lake by checksums and every
    damaged date validates."""
    settings, _paths = damaged
    settings = settings.with_(
        lake=copy_lake(settings.lake, tmp_path / "lake"), state_dir=tmp_path / "state", log_dir=tmp_path / "logs"
    )
    clock = tmp_path / "clock"  # yesterday is the demo's last day: nothing but the damage is due
    clock.write_text(f"{DATES[-1] + dt.timedelta(days=1)}T12:00:00+00:00")
    monkeypatch.setenv(backend.CLOCK_ENV, str(clock))
    gone = Lake(settings.lake).partition_dir("fact_pos_sales", DATES[2])
    shutil.rmtree(gone)  # the old runbook's hand repair: valid too
    plan = recovery.recovery_plan(settings)
    assert plan.loc[plan["dataset"] == "POS Sales", "gone from the lake"].item() == str(DATES[2])
    before = tree_digest(settings.lake)
    preview = recovery.repair(settings, dry_run=True)
    assert len(preview.plan.problems) == len(DAMAGE) and tree_digest(settings.lake) == before
    result = recovery.repair(settings)
    assert result.ok, result.text()
    assert len(list((Path(settings.lake) / "_quarantine").rglob("*.parquet"))) == 2  # kept, not deleted
    assert lake_checksums(settings.lake) == lake_checksums(loaded_lake(17).lake)
    assert Lake(settings.lake).scan(deep=True) == []
    for day in {d for _, d in DAMAGE} | {DATES[2]}:
        report = validate(day, settings=settings)
        assert report.ok, report.text()
    states = MetaStore.for_lake(Lake(settings.lake)).partitions()
    assert [p for p in states if p["status"] != "loaded"] == []
    tally(cases=len(DAMAGE) + 1, partitions_rebuilt=len(DAMAGE) + 1)


@pytest.mark.parametrize("how", ["truncated", "zeroed"])
def test_a_damaged_dimension_leaves_the_filters_working_and_the_page_warns(loaded_lake, tmp_path, tally, how):
    """dim_store and dim_category damaged: the library's option functions raise LakeError, the
    sidebar offers no choice and says which table (no exception in its cell: test_controls),
    and the page's damage check shows "Damaged data" naming them."""
    root = copy_lake(loaded_lake(17).lake, tmp_path / "lake")
    lake = Lake(root, read_only=True)
    for table in ("dim_store", "dim_category"):
        path = lake.data_files(table)[0].path
        path.write_bytes(
            path.read_bytes()[: path.stat().st_size // 2] if how == "truncated" else bytes(path.stat().st_size)
        )
    db = dash.Dashboard(root, meta=None)
    for options in (dash.store_options, dash.category_options):
        with pytest.raises(LakeError):
            options(db)
    f = dash.Filters(DATES[0], DATES[-1])
    assert not dash.has_sales(db, f)
    message = dash.no_data(db, "sales", f)
    assert "Damaged data" in message
    assert "dim_store (unreadable)" in message and "dim_category (unreadable)" in message
    tally(cases=1)


# ----------------------------------------------------------------------------- the metadata store
META_DAMAGE = {
    "garbage": lambda p: p.write_bytes(b"not a database, " * (p.stat().st_size // 16 + 1)),
    "zeroed-header": lambda p: p.write_bytes(bytes(100) + p.read_bytes()[100:]),
}
FRESHNESS_DAY = DATES[-1] + dt.timedelta(days=1)


def lake_without_meta(loaded_lake, tmp_path: Path, how: str) -> tuple[object, Path]:
    """A copy of the loaded lake whose metadata file is ``missing``, ``empty`` or damaged."""
    source = loaded_lake(17)
    settings = source.with_(
        lake=copy_lake(source.lake, tmp_path / "lake"), state_dir=tmp_path / "state", log_dir=tmp_path / "logs", tz=TZ
    )
    path = Lake(settings.lake).meta_dir / "nkdash.sqlite"
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    else:
        META_DAMAGE[how](path)
    return settings, path


def run_cli(settings, argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(settings_module, "_cached", settings)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("how", list(META_DAMAGE))
def test_a_damaged_metadata_store_is_named_with_the_way_back(loaded_lake, tmp_path, how, monkeypatch, capsys, tally):
    """Not "file is not a database (... disk full, read-only or permissions?)": the message
    names the file and the two ways back, on the command line and in /health."""
    settings, path = lake_without_meta(loaded_lake, tmp_path, how)
    before = tree_digest(settings.lake)
    for argv in (["freshness"], ["refresh", "pos", "--date", str(DATES[0])], ["monitor"]):
        code, out, err = run_cli(settings, argv, monkeypatch, capsys)
        assert code == 1 and out == "" and err.count("\n") == 1, (argv, out, err)
        assert f"the metadata store {path} is damaged" in err, err
        assert "nkdash rebuild-metadata" in err and "nkdash restore" in err and "disk full" not in err, err
    from nkdash.ops.health import check_health

    health = check_health(settings, queue_probe=lambda s: {"ok": None}, today=FRESHNESS_DAY)
    assert health.status == "fail" and "damaged" in health.metadata["error"] and str(path) not in str(health)
    assert tree_digest(settings.lake) == before  # nothing started over
    tally(cases=4)


def test_an_empty_metadata_store_is_reported_not_started_over(loaded_lake, tmp_path, monkeypatch, capsys, tally):
    """A zero-byte store while the lake holds data: every command says so (the way back
    included) and the file stays as it is; on a lake without data it simply starts afresh."""
    settings, path = lake_without_meta(loaded_lake, tmp_path, "empty")
    for argv in (["freshness"], ["refresh", "pos", "--date", str(DATES[0])]):
        code, out, err = run_cli(settings, argv, monkeypatch, capsys)
        assert code == 1 and out == "" and err.count("\n") == 1, (argv, out, err)
        assert f"the metadata store {path} is empty (0 bytes)" in err and "nkdash rebuild-metadata" in err, err
        assert path.stat().st_size == 0
    with pytest.raises(LakeError, match="is empty"):
        MetaStore.for_lake(Lake(settings.lake), read_only=True).partitions()
    bare = Lake(tmp_path / "bare")
    bare.meta_dir.mkdir(parents=True, exist_ok=True)
    (bare.meta_dir / "nkdash.sqlite").write_bytes(b"")
    assert MetaStore.for_lake(bare).partitions() == []  # no data: nothing lost, starts afresh
    tally(cases=4)


@pytest.mark.parametrize("how", ["missing", "empty", "garbage"])
def test_rebuild_metadata_restores_partition_states_and_freshness(
    loaded_lake, tmp_path, how, monkeypatch, capsys, tally
):
    """``nkdash rebuild-metadata`` after the store was lost, emptied or damaged: the same
    partition states (status, rows, checksum) as the ETL recorded, so freshness is what it
    was; the old file kept aside; asking first; a dry run writes nothing."""
    from nkdash.etl.freshness import freshness_report

    source = loaded_lake(17)
    keys = ("dataset", "date", "status", "rows", "checksum")
    expected = [{k: p[k] for k in keys} for p in MetaStore.for_lake(Lake(source.lake), read_only=True).partitions()]
    fresh = freshness_report(FRESHNESS_DAY, settings=source.with_(tz=TZ), lake=Lake(source.lake, read_only=True))
    settings, path = lake_without_meta(loaded_lake, tmp_path, how)
    before = tree_digest(settings.lake)
    code, out, err = run_cli(settings, ["rebuild-metadata", "--dry-run"], monkeypatch, capsys)
    assert code == 0 and "would record" in out and tree_digest(settings.lake) == before, err
    code, out, err = run_cli(settings, ["rebuild-metadata"], monkeypatch, capsys)  # no terminal, no --yes
    assert code == 2 and "not confirmed" in err and tree_digest(settings.lake) == before
    code, out, err = run_cli(settings, ["rebuild-metadata", "--yes"], monkeypatch, capsys)
    assert code == 0 and f"recorded {len(expected)} partition state(s)" in out, (out, err)
    rebuilt = [{k: p[k] for k in keys} for p in MetaStore.for_lake(Lake(settings.lake), read_only=True).partitions()]
    assert rebuilt == expected
    again = freshness_report(FRESHNESS_DAY, settings=settings, lake=Lake(settings.lake, read_only=True))
    assert again.datasets == fresh.datasets and again.dimensions_synced is not None
    kept = [p for p in path.parent.iterdir() if p.name.startswith("nkdash.sqlite.")]
    assert len(kept) == (0 if how == "missing" else 1) and all(
        how.replace("garbage", "damaged") in p.name for p in kept
    )
    assert validate(DATES[1], settings=settings).ok  # the lake and Odoo still agree; the store took the results
    tally(cases=3)


@pytest.mark.parametrize("how", ["empty", "garbage"])
def test_dashboards_keep_working_on_a_damaged_metadata_store(loaded_lake, tmp_path, how, tally):
    """The dashboards read the lake, not the store: their queries answer as before, and the
    freshness line comes from the lake's files instead of an error."""
    settings, _ = lake_without_meta(loaded_lake, tmp_path, how)
    f = dash.Filters(DATES[0], DATES[-1])
    expected = dash.sales_summary(dash.Dashboard(loaded_lake(17).lake, meta=None), f)
    db = dash.Dashboard(settings.lake)
    assert dash.sales_summary(db, f).equals(expected) and db.meta is None
    badge = status.freshness_badge(db, ["pos", "invoices"], f, today=FRESHNESS_DAY)
    assert badge.last_loaded == DATES[-1] and badge.status == "ok", badge
    tally(cases=1)
