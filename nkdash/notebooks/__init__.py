"""The marimo notebooks nkdash ships (the ``*.py`` files beside this module) and what
``nkdash serve`` mounts: URL path -> file, title, role, description.

A notebook is mounted only if its file exists, so the server runs while notebooks are
still being written. Adding a notebook is adding a line to :data:`NOTEBOOKS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["viewer", "operator"]


ROLES: tuple[Role, ...] = ("viewer", "operator")  # each role may open what the ones before it may


NOTEBOOKS_DIR = Path(__file__).resolve().parent  # the marimo notebooks beside this registry


@dataclass(frozen=True)
class Notebook:
    path: str  # URL path, e.g. "/sales"
    file: str  # file name under the notebooks directory
    title: str
    role: Role  # the least role that may open it
    description: str


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook(
        "/sales",
        "sales.py",
        "Sales",
        "viewer",
        "Revenue, orders, basket, refunds, discounts by store and channel, hours of the week, best and weakest products; against the previous period and last year.",
    ),
    Notebook(
        "/profit",
        "profit.py",
        "Profit",
        "viewer",
        "Margin and margin % by store, category and product; top and bottom products; products sold at a loss.",
    ),
    Notebook(
        "/inventory",
        "inventory.py",
        "Inventory",
        "viewer",
        "Stock and its value; days of cover, running low, stock-outs with what is on order; dead stock; ABC; sell-through and stock turn.",
    ),
    Notebook(
        "/purchases",
        "purchases.py",
        "Purchases",
        "viewer",
        "Spend, ordered, received and invoiced; open lines with their expected date; vendors on time and lead times.",
    ),
    Notebook(
        "/operational",
        "operational.py",
        "Operations",
        "operator",
        "Refresh a dataset for a date range (async or sync); last processed dates; live task list.",
    ),
    Notebook(
        "/recovery",
        "recovery.py",
        "Recovery",
        "operator",
        "Missing and failed dates, corrupt partitions, Odoo connectivity; repair and validate.",
    ),
    Notebook(
        "/runbook",
        "runbook.py",
        "Runbook",
        "operator",
        "Every procedure of the runbook, explained and doable from the page.",
    ),
    Notebook(
        "/monitoring",
        "monitoring.py",
        "Monitoring",
        "operator",
        "ETL durations, throughput and failures; slowest queries; partition sizes; queue depth.",
    ),
)


def may_open(role: Role, needed: Role) -> bool:
    """Whether ``role`` may open what needs ``needed`` (the operator may open everything)."""
    return ROLES.index(role) >= ROLES.index(needed)


def available(directory: Path = NOTEBOOKS_DIR) -> list[tuple[Notebook, Path]]:
    """The registered notebooks whose file exists in ``directory``, with that file."""
    return [(nb, directory / nb.file) for nb in NOTEBOOKS if (directory / nb.file).is_file()]
