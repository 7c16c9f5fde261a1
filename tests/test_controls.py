"""nkdash.controls: the dashboards' shared sidebar, the filters it makes, the freshness line
and the empty state; a damaged dimension empties its filter with a warning, the page renders."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import marimo as mo
import pytest

from nkdash import dashboards as dash
from nkdash.dashboards import Dashboard, Filters, controls, engine, filters
from nkdash.errors import InputError, LakeError
from nkdash.etl.datasets.registry import REGISTRY
from tests.support.demo import DATES
from tests.support.notebooks import BIN, NOTEBOOKS, cell_errors, env_for


@pytest.fixture(scope="module")
def db_without_meta(loaded_lake) -> Dashboard:
    """The dashboards' engine over the loaded lake of Odoo 17, recording nothing (no metadata store)."""
    return Dashboard(loaded_lake(17).lake, meta=None)


def damaged_copy(source: Path, target: Path, table: str) -> Path:
    """A copy of the lake at ``source`` whose ``table`` files are zeroed (parquet footers gone)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*-shm"))
    files = list((target / "star-schema" / table).rglob("*.parquet"))
    assert files
    for path in files:
        path.write_bytes(bytes(path.stat().st_size))
    return target


@pytest.mark.parametrize("name", controls.PAGES)
def test_each_page_reads_a_real_table_and_real_datasets(name):
    page = controls.PAGES[name]
    assert page.table in engine.SCHEMAS and set(page.datasets) <= set(REGISTRY) and page.grain in filters.GRAINS


@pytest.mark.parametrize("name", controls.PAGES)
def test_the_sidebar_offers_the_dashboards_defaults(db_without_meta, name):
    page = controls.PAGES[name]
    extra = mo.ui.slider(1, 3, label="An extra control")
    picker, grain, view = controls.sidebar(db_without_meta, page, extra)
    period = dash.default_period(db_without_meta, page.table)
    assert (picker["period"].start, picker["period"].stop) == dash.selectable_range(db_without_meta, page.table)
    assert picker.value == {"period": period, "stores": [], "categories": []}
    assert picker["stores"].options == dash.store_options(db_without_meta) and picker["stores"].options
    assert picker["categories"].options == dash.category_options(db_without_meta) and picker["categories"].options
    assert grain.value == ("week" if name == "purchases" else "day")
    assert view.text.startswith("<marimo-sidebar") and "<h2" in view.text and page.title in view.text
    assert "An extra control" in view.text and "Damaged" not in view.text
    assert controls.filters(picker) == Filters(*period)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"period": (DATES[-1], DATES[0]), "stores": [], "categories": []}, "before it starts"),
        ({"period": (str(DATES[0]), DATES[-1]), "stores": [], "categories": []}, "must be a date"),
        ({"period": (DATES[0], DATES[-1]), "stores": ["'; DROP TABLE runs; --"], "categories": []}, "whole number"),
    ],
)
def test_filters_refuse_bad_values_with_the_dashboards_message(value, message):
    with pytest.raises(InputError, match=message):
        controls.filters(SimpleNamespace(value=value))


def test_filters_keep_the_picked_stores_and_categories():
    picked = SimpleNamespace(value={"period": (DATES[0], DATES[-1]), "stores": [3, 1], "categories": [7]})
    assert controls.filters(picked) == Filters(DATES[0], DATES[-1], (1, 3), (7,))


@pytest.mark.parametrize("key", controls.CHOICES)
def test_a_filter_whose_options_fail_is_empty_with_a_warning(db_without_meta, monkeypatch, key):
    choice = controls.CHOICES[key]

    def unreadable(db: Dashboard) -> dict[str, int]:
        raise LakeError(f"dashboard query failed: {choice.table} is damaged", db.lake.root)

    monkeypatch.setitem(controls.CHOICES, key, dataclasses.replace(choice, options=unreadable))
    picker, _, view = controls.sidebar(db_without_meta, controls.PAGES["sales"])
    assert picker[key].options == {} and all(picker[k].options for k in controls.CHOICES if k != key)
    assert "Damaged data" in view.text and choice.table in view.text and "Recovery page" in view.text
    assert str(db_without_meta.lake.root) not in view.text


@pytest.mark.parametrize(("table", "key"), [("dim_store", "stores"), ("dim_category", "categories")])
def test_a_damaged_dimension_file_empties_its_filter_and_the_page_says_so(loaded_lake, tmp_path, table, key):
    db = Dashboard(damaged_copy(loaded_lake(17).lake, tmp_path / "lake", table), meta=None)
    page = controls.PAGES["sales"]
    picker, _, view = controls.sidebar(db, page)
    assert picker[key].options == {} and all(picker[k].options for k in controls.CHOICES if k != key)
    assert "Damaged data" in view.text and table in view.text and "cannot be read" in view.text
    text = controls.empty_state(db, page, controls.filters(picker)).text
    assert "Damaged data" in text and f"{table} (unreadable)" in text


@pytest.mark.parametrize("name", controls.PAGES)
def test_freshness_and_empty_state(db_without_meta, tmp_path, name):
    page = controls.PAGES[name]
    f = Filters(*dash.default_period(db_without_meta, page.table))
    assert "Data up to" in controls.freshness(db_without_meta, page, f).text
    assert controls.empty_state(db_without_meta, page, f) is None
    nothing = Dashboard(tmp_path / "none", meta=None)
    assert "No data loaded yet" in controls.freshness(nothing, page, f).text
    assert "Nothing is loaded yet" in controls.empty_state(nothing, page, f).text


@pytest.mark.slow
def test_dashboards_render_with_a_damaged_dimension(loaded_lake, tmp_path):
    """Every dashboard notebook, headless, on a lake whose store list is damaged: exit 0, no
    cell error, the page says 'Damaged data'."""
    lake = damaged_copy(loaded_lake(17).lake, tmp_path / "lake", "dim_store")
    shutil.copytree(NOTEBOOKS, tmp_path / "nb", ignore=shutil.ignore_patterns("__marimo__", "*.ipynb"))

    def export(name: str) -> tuple[int, str, str]:
        html = tmp_path / f"{name}.html"
        run = subprocess.run(
            [str(BIN / "marimo"), "export", "html", str(tmp_path / "nb" / f"{name}.py"), "-o", str(html)],
            env=env_for(lake, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return run.returncode, run.stdout + run.stderr, html.read_text() if html.exists() else ""

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(controls.PAGES, pool.map(export, controls.PAGES)))
    for name, (code, log, html) in results.items():
        assert code == 0, f"{name}: {log}"
        assert not cell_errors(html), cell_errors(html)
        assert "Damaged data" in html and "dim_store (unreadable)" in html, name
