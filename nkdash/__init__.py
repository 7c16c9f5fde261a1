"""nkdash: Odoo ERP -> hive-partitioned parquet star schema, served as marimo notebooks."""

from nkdash.errors import ConfigError, InputError, LakeError, NKDashError, OdooError
from nkdash.settings import Settings, get_settings, load_settings  # noqa: F401

__version__ = "0.1.0"

# The ETL's public names, imported on first use (keeps `import nkdash` and the CLI light).
# `validate` and `monitor` are left out: those names are their modules (nkdash.validate...).
_LAZY = {
    "refresh": "etl", "profit": "etl", "plan": "etl", "catch_up": "etl", "RunReport": "etl",
    "ValidationReport": "validate", "freshness_report": "monitor", "DATASET_NAMES": "datasets",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'nkdash' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)

