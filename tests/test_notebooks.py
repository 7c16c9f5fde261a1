"""The notebooks: every marimo notebook runs headless with no cell error, against a demo
lake and against an empty one; ``marimo check`` passes; the Jupyter analysis notebook
matches its stored outputs (nbval)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.notebooks import BIN, NOTEBOOKS, cell_errors, env_for
from tests.support.processes import REPO

MARIMO_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("*.py") if "marimo.App(" in p.read_text())
DASHBOARDS = ("sales.py", "profit.py", "inventory.py", "purchases.py")
LAKES = ("demo", "empty")

pytestmark = pytest.mark.xdist_group("notebooks")  # one worker runs (and shares) the exports


@pytest.fixture(scope="module")
def lakes(loaded_lake, tmp_path_factory) -> dict[str, Path]:
    return {"demo": loaded_lake(17).lake, "empty": tmp_path_factory.mktemp("empty-lake")}


@pytest.fixture(scope="module")
def exports(lakes, tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, str]]:
    """Every notebook exported against every lake, in parallel: (exit code, log, html)."""
    out = tmp_path_factory.mktemp("exports")
    for lake in LAKES:  # run copies: marimo writes session snapshots beside the notebook
        shutil.copytree(NOTEBOOKS, out / lake, ignore=shutil.ignore_patterns("__marimo__", "*.ipynb"))

    def export(job: tuple[str, str]) -> tuple[int, str, str]:
        notebook, lake = job
        html = out / f"{lake}-{notebook}.html"
        run = subprocess.run(
            [str(BIN / "marimo"), "export", "html", str(out / lake / notebook), "-o", str(html)],
            env=env_for(lakes[lake], out / lake),
            cwd=out,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return run.returncode, run.stdout + run.stderr, html.read_text() if html.exists() else ""

    jobs = [(nb, lake) for nb in MARIMO_NOTEBOOKS for lake in LAKES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(export, jobs)))


def test_the_dashboards_exist():
    assert set(DASHBOARDS) <= set(MARIMO_NOTEBOOKS)


def test_marimo_check_passes():
    run = subprocess.run(
        [str(BIN / "marimo"), "check", "--strict", *MARIMO_NOTEBOOKS],
        cwd=NOTEBOOKS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("lake", LAKES)
@pytest.mark.parametrize("notebook", MARIMO_NOTEBOOKS)
def test_notebook_runs_headless_without_cell_errors(exports, notebook, lake):
    code, log, html = exports[notebook, lake]
    assert code == 0, log
    assert not cell_errors(html), "\n".join(cell_errors(html))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", DASHBOARDS)
def test_dashboards_show_charts_or_a_clear_empty_state(exports, notebook):
    _, _, demo = exports[notebook, "demo"]
    _, _, empty = exports[notebook, "empty"]
    assert "vnd.vegalite" in demo and "marimo-table" in demo and "nk-card" in demo  # charts, tables, KPI cards
    assert "Data up to" in demo  # the freshness line
    assert "vnd.vegalite" not in empty and "Nothing is loaded yet" in empty and "No data loaded yet" in empty


@pytest.mark.slow
def test_analysis_notebook_matches_its_stored_outputs(lakes, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(NOTEBOOKS / "analysis.ipynb"),
        ],
        env=env_for(lakes["demo"], tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
