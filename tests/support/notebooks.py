"""The marimo notebooks run headless (``marimo export html``): where they are, the
environment of a run, the cell errors an export records."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.support.processes import REPO

NOTEBOOKS = REPO / "nkdash" / "notebooks"
BIN = Path(sys.executable).parent


def env_for(lake: Path, state: Path) -> dict[str, str]:
    """The environment of a notebook run: the lake, private state and logs, nkdash importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NKDASH_", "ODOO_"))}
    env.update(
        NKDASH_LAKE=str(lake),
        NKDASH_STATE_DIR=str(state / "state"),
        NKDASH_LOG_DIR=str(state / "logs"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    return env


def cell_errors(html: str) -> list[str]:
    """Errors recorded in a ``marimo export html`` page: error outputs and tracebacks.

    A cell below an empty-state ``mo.stop`` is "ancestor-stopped": not an error (the app
    view shows nothing for it).
    """
    start = html.index('"session":') + len('"session":')
    session, _ = json.JSONDecoder().raw_decode(html[start:].lstrip())
    errors = []
    for cell in session["cells"]:
        errors += [
            f"{cell['id']}: {o.get('evalue') or o}"
            for o in cell.get("outputs", [])
            if o.get("type") == "error" and o.get("ename") != "ancestor-stopped"
        ]
        errors += [
            f"{cell['id']}: {c['text'][:2000]}"
            for c in cell.get("console", [])
            if c.get("mimetype") == "application/vnd.marimo+traceback"
        ]
    return errors
