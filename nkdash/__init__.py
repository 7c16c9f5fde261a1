"""nkdash: Odoo ERP -> hive-partitioned parquet star schema, served as marimo notebooks.

The names an analyst or a notebook needs (see ARCHITECTURE.md for the map of the code)::

    import nkdash
    nkdash.refresh("pos", [day])                 # load one dataset for some dates from Odoo
    nkdash.catch_up("profit")                    # what the nightly schedule runs: plan + refresh
    nkdash.validate(day).ok                      # the lake against Odoo's own totals
    nkdash.reconcile(dry_run=True).text()        # the last days' ids and totals against Odoo's
    nkdash.freshness_report().text()             # last loaded date, missing dates, SLA
    con = nkdash.open_warehouse()                # DuckDB, one read-only view per lake table
    db = nkdash.open_dashboard()                 # the dashboards' cached queries

Everything else is reachable (``nkdash.lake``, ``nkdash.etl``, ...) but internal: it may
change between versions. Names are imported on first use, so ``import nkdash`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nkdash.errors import ConfigError, InputError, LakeError, NKDashError, OdooError
from nkdash.settings import Settings, get_settings, load_settings

if TYPE_CHECKING:
    from nkdash.dashboards import Dashboard, Filters, open_dashboard
    from nkdash.etl import RunReport, catch_up, plan, profit, refresh
    from nkdash.etl.datasets import DATASET_NAMES
    from nkdash.etl.derived import backfill
    from nkdash.etl.freshness import FreshnessReport, freshness_report
    from nkdash.etl.reconcile import ReconcileReport, reconcile
    from nkdash.etl.validate import ValidationReport, validate
    from nkdash.lake import Lake
    from nkdash.lake.warehouse import open_warehouse, sql
    from nkdash.ops.recovery import RepairReport, ScanReport, repair, scan
    from nkdash.ops.report import MonitorReport, monitor

__version__ = "0.1.0"

_LAZY = {  # name -> the module that defines it
    "Lake": "nkdash.lake",
    "refresh": "nkdash.etl",
    "profit": "nkdash.etl",
    "plan": "nkdash.etl",
    "catch_up": "nkdash.etl",
    "RunReport": "nkdash.etl",
    "DATASET_NAMES": "nkdash.etl.datasets",
    "backfill": "nkdash.etl.derived",
    "validate": "nkdash.etl.validate",
    "ValidationReport": "nkdash.etl.validate",
    "freshness_report": "nkdash.etl.freshness",
    "reconcile": "nkdash.etl.reconcile",
    "ReconcileReport": "nkdash.etl.reconcile",
    "FreshnessReport": "nkdash.etl.freshness",
    "monitor": "nkdash.ops.report",
    "MonitorReport": "nkdash.ops.report",
    "scan": "nkdash.ops.recovery",
    "ScanReport": "nkdash.ops.recovery",
    "repair": "nkdash.ops.recovery",
    "RepairReport": "nkdash.ops.recovery",
    "open_warehouse": "nkdash.lake.warehouse",
    "sql": "nkdash.lake.warehouse",
    "open_dashboard": "nkdash.dashboards",
    "Dashboard": "nkdash.dashboards",
    "Filters": "nkdash.dashboards",
}

__all__ = [
    "DATASET_NAMES",
    "ConfigError",
    "Dashboard",
    "Filters",
    "FreshnessReport",
    "InputError",
    "Lake",
    "LakeError",
    "MonitorReport",
    "NKDashError",
    "OdooError",
    "ReconcileReport",
    "RepairReport",
    "RunReport",
    "ScanReport",
    "Settings",
    "ValidationReport",
    "backfill",
    "catch_up",
    "freshness_report",
    "get_settings",
    "load_settings",
    "monitor",
    "open_dashboard",
    "open_warehouse",
    "plan",
    "profit",
    "reconcile",
    "refresh",
    "repair",
    "scan",
    "sql",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nkdash' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
