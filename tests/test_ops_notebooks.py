"""The operations notebooks run headless (``marimo export html``) against a loaded demo lake
and its Odoo, with no cell error, and show what they are for."""

from __future__ import annotations

import datetime as dt
import html
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from nkdash.ops import common, runbook
from tests.support.demo import END, TZ
from tests.support.notebooks import BIN, NOTEBOOKS, cell_errors, env_for

TODAY = END + dt.timedelta(days=2)
OPS_NOTEBOOKS = ("operational.py", "recovery.py", "runbook.py", "monitoring.py")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ops-notebooks")]


@pytest.fixture(scope="module")
def exported(loaded_lake, tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """Each operations notebook exported against a copy of the demo lake, with the demo Odoo
    configured and the clock two days after the demo's last date: (code, log, html)."""
    work = tmp_path_factory.mktemp("ops-exports")
    settings = loaded_lake(17)
    shutil.copytree(settings.lake, work / "lake")
    shutil.copytree(NOTEBOOKS, work / "notebooks", ignore=shutil.ignore_patterns("__marimo__", "*.ipynb"))
    (work / "clock").write_text(f"{TODAY}T10:00:00+00:00")
    env = env_for(work / "lake", work)
    env.update(
        {k: v for k, v in settings.to_env().items() if k.startswith(("ODOO_", "NKDASH_ODOO_"))},
        NKDASH_TZ=TZ,
        NKDASH_CLOCK_FILE=str(work / "clock"),
    )

    def export(notebook: str) -> tuple[int, str, str]:
        out = work / f"{notebook}.html"
        run = subprocess.run(
            [str(BIN / "marimo"), "export", "html", str(work / "notebooks" / notebook), "-o", str(out)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return run.returncode, run.stdout + run.stderr, html.unescape(out.read_text()) if out.exists() else ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(OPS_NOTEBOOKS, pool.map(export, OPS_NOTEBOOKS)))


@pytest.mark.parametrize("notebook", OPS_NOTEBOOKS)
def test_runs_without_cell_errors(exported, notebook):
    code, log, page = exported[notebook]
    assert code == 0, log
    assert not cell_errors(page), "\n".join(cell_errors(page))


def test_operational_shows_controls_freshness_and_tasks(exported):
    page = exported["operational.py"][2]
    for text in (
        "Refresh a dataset",
        "Async Refresh",
        "Sync Refresh",
        "Last processed dates",
        "Tasks",
        "Schedule",
        "Compact old months",
        *common.DATASET_CHOICES,
    ):
        assert text in page, text
    assert f"today {TODAY}" in page  # the clock (NKDASH_CLOCK_FILE), in the business timezone


def test_recovery_shows_the_plan_and_a_sound_lake(exported):
    page = exported["recovery.py"][2]
    for text in ("Missing and failed dates", "to repair", "The lake is sound", "Odoo connection", "Validation"):
        assert text in page, text


def test_runbook_lists_every_section_and_the_first_sections_procedures(exported):
    page = exported["runbook.py"][2]
    first = [p for p in runbook.RUNBOOK if p.section == runbook.SECTIONS[0]]
    missing = [p.title for p in first if p.title not in page or p.label not in page]
    assert not missing
    assert all(section in page for section in runbook.SECTIONS)


def test_monitoring_draws_charts(exported):
    page = exported["monitoring.py"][2]
    assert page.count("marimo-vega") >= 7
    for text in ("ETL runs", "Slowest queries", "Partition files", "Queue depth"):
        assert text in page, text
