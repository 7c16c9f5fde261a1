"""Child processes the tests start: the repository root they import nkdash from, the
environment of an ``nkdash`` child, and a run left "running" by a killed process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def child_env(settings, **extra: str) -> dict[str, str]:
    """The environment of an ``nkdash`` child process reading ``settings`` (no ``.env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NKDASH_", "ODOO_"))}
    env.update(settings.to_env())
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


RUN_STARTER = textwrap.dedent("""
    # Starts a run in the metadata store of the lake argv[1], says so, then waits to be killed.
    import sys, time, datetime as dt
    from nkdash.lake import Lake
    from nkdash.meta import MetaStore

    print(MetaStore.for_lake(Lake(sys.argv[1])).start_run("pos", dt.date(2024, 3, 30), "async"), flush=True)
    time.sleep(600)
""")


@contextlib.contextmanager
def run_of_a_killed_process(lake: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """A child process starts a run (pos, 2024-03-30) in ``lake``'s metadata store: yields
    (run id, process) while it lives, then kills it (``kill -9``): the run stays "running"."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_STARTER, str(lake)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        yield int(proc.stdout.readline()), proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
