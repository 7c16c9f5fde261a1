"""The fault-injection suite (issue 8): what nkdash promises under faults, load and bad input.

Every test here is marked ``faults`` (and the long ones ``slow``); all run in CI. Each
records what it proved with ``tally`` (trials, cases and other figures), summed per area
by :mod:`tests.faults.report` into a table at the end of the run and
``benchmarks/out/faults-last-run.json``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nkdash.lake import Lake

from . import report

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    report.pytest_configure(config)


@pytest.fixture
def tally(request) -> Iterator[report.Tally]:
    """``tally(trials=50)``, ``tally(cases=1, retries=7)``: figures this test proved."""
    counts = report.Tally()
    yield counts
    request.node.user_properties.append((report.KEY, dict(counts.figures)))


# ----------------------------------------------------------------------------- helpers
def lake_checksums(root: Path) -> dict[tuple[str, str], str]:
    """``{(table, date or ''): sha256}`` of every data file, as :meth:`Lake.info` reports it."""
    lake = Lake(root, read_only=True)
    return {
        (f.table, str(d) if (d := (f.dates[0] if f.dates else None)) else ""): lake.info(f.table, d).checksum
        for f in lake.data_files()
    }


def tree_digest(*roots: Path) -> dict[str, str]:
    """Every file and directory under ``roots`` -> sha256 of its bytes (``dir`` for a directory).

    SQLite's shared-memory index (``-shm``) is left out: readers map it, it holds no data.
    """
    out = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = "absent"
            continue
        for path in sorted(root.rglob("*")):
            if path.name.endswith("-shm"):
                continue
            out[str(path)] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def copy_lake(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*-shm"))  # the WAL holds data
    return target


def child_env(settings, **extra: str) -> dict[str, str]:
    """The environment of an ``nkdash`` child process reading ``settings`` (no ``.env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NKDASH_", "ODOO_"))}
    env.update(settings.to_env())
    env.update(PYTHONPATH=str(REPO), **extra)
    return env
