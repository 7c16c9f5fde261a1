"""nkdash.web.warmup: the dashboards run once before the first viewer, and again when the lake changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from nkdash.lake import Lake
from nkdash.web.warmup import Rewarmer
from tests.support.processes import REPO

WARM_TWICE = """
import json
from nkdash.dashboards import open_dashboard
from nkdash.notebooks import available
from nkdash.web.warmup import warm

files = [file for nb, file in available() if nb.role == "viewer"]
took = warm(files)
db = open_dashboard()
first = db.misses
warm(files)
print(json.dumps({"took": sorted(took), "first": first, "again": db.misses - first, "hits": db.hits}))
"""


def test_warming_computes_the_default_views_once_for_every_viewer(lake17, tmp_path):
    """After the warm-up every default view is in the shared cache: running the dashboards
    again (what a viewer's kernel does) computes nothing."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NKDASH_LAKE": str(lake17), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", WARM_TWICE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["took"] == ["inventory", "profit", "purchases", "sales"]
    assert got["first"] > 0 and got["again"] == 0 and got["hits"] >= got["first"], got
    assert "warming" not in run.stderr  # no notebook failed while warming


def test_a_changed_lake_is_warmed_again(lake17, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(lake17, lake)
    runs: list[list] = []
    rewarmer = Rewarmer(lake, [], run=runs.append)
    assert not rewarmer.check() and runs == []
    day = Lake(lake, read_only=True).partitions("fact_pos_sales")[-1]
    shutil.rmtree(Lake(lake, read_only=True).partition_dir("fact_pos_sales", day))  # the old runbook's repair
    assert rewarmer.check() and runs == [[]]
    assert not rewarmer.check() and runs == [[]]  # unchanged since: not again


def test_warming_a_broken_notebook_never_raises(tmp_path):
    from nkdash.web.warmup import warm

    broken = tmp_path / "broken.py"
    broken.write_text("import marimo\napp = marimo.App()\n\n@app.cell\ndef _():\n    1 / 0\n    return\n")
    assert set(warm([broken])) == {"broken"}
