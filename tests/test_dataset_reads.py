"""Dashboard reads of tables not held in memory (a range longer than a held table may keep,
or a table not held at all) go through pyarrow datasets; those must never hang.

Regression: the datasets used to open files through a Python filesystem handler (to read
files held open by descriptor). DuckDB's pyarrow scan builds the scanner's reader with the
GIL held while arrow's I/O threads needed the GIL to call the handler: a deadlock, within a
page or two when the machine was busy (the ablation benchmark's server without in-memory
tables never answered). The reads now use arrow's native local filesystem.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import faulthandler, runpy, sys
    faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)  # a hang: exit 1 with stacks
    from nkdash.dashboards import memtables
    from nkdash.notebooks import NOTEBOOKS_DIR
    from nkdash.web.warmup import serving_dashboards
    memtables.HELD.clear()  # nothing held: every query reads the lake's files through datasets
    pages = serving_dashboards(NOTEBOOKS_DIR)
    for _ in range(int(sys.argv[2])):
        for page in pages:
            runpy.run_path(str(page))["app"].run()  # a failing cell raises
    print(len(pages))
    """
)


@pytest.mark.slow
def test_dataset_reads_never_hang_under_load(lake17):
    """Three processes run the four dashboards' default views at once, every table read
    through datasets (CPU contention is what made the old deadlock likely): all finish."""
    runs, timeout = 4, 90
    env = {**os.environ, "NKDASH_LAKE": str(lake17), "NKDASH_TZ": "UTC"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(timeout), str(runs)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=timeout + 30)
        assert p.returncode == 0, err[-3000:]
        assert out.split() == ["4"]
