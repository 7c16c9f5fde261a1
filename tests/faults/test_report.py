"""The suite's own plumbing under the CI command (``pytest -n 2 --dist loadgroup``, no path):
the summary table prints at the end, and ``xdist_group`` marks keep a group on one worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.support.processes import REPO

pytestmark = pytest.mark.faults

SAMPLE = textwrap.dedent("""
    import os, pytest

    @pytest.mark.faults
    @pytest.mark.xdist_group("together")
    @pytest.mark.parametrize("i", range(8))
    def test_grouped(i, tally):
        with open(os.path.join(os.environ["SAMPLE_OUT"], f"worker-{i}"), "w") as f:
            f.write(os.environ["PYTEST_XDIST_WORKER"])
        tally(cases=1)

    @pytest.mark.faults
    @pytest.mark.parametrize("i", range(8))
    def test_free(i, tally):
        tally(cases=1, trials=1)
""")


def test_under_xdist_the_table_prints_and_groups_stay_on_one_worker(tmp_path, tally):
    """A copy of the repository's pytest set-up (root conftest, pyproject, the faults package)
    around a sample area, run as CI runs the suite."""
    root = tmp_path / "repo"
    for name in (
        "conftest.py",
        "pyproject.toml",
        "tests/__init__.py",
        "tests/faults/__init__.py",
        "tests/faults/conftest.py",
        "tests/faults/report.py",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    (root / "tests/faults/test_sample.py").write_text(SAMPLE)
    out = tmp_path / "report.json"
    (tmp_path / "base").mkdir()
    env = {
        **os.environ,
        "NKDASH_FAULTS_REPORT": str(out),
        "PYTHONPATH": str(REPO),
        "SAMPLE_OUT": str(tmp_path / "base"),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "nkdash fault-injection suite" in run.stdout, run.stdout
    [line] = [line for line in run.stdout.splitlines() if line.startswith("sample ")]
    assert line.split()[1:6] == ["16", "16", "0", "8", "16"], line
    assert json.loads(out.read_text())["total"]["cases"] == 16
    workers = {p.read_text() for p in (tmp_path / "base").glob("worker-*")}
    assert len(list((tmp_path / "base").glob("worker-*"))) == 8 and len(workers) == 1, workers
    tally(cases=2)
