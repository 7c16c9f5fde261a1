"""nkdash: Odoo ERP -> hive-partitioned parquet star schema, served as marimo notebooks."""

from .errors import (  # noqa: F401
    ConfigError, InputError, LakeError, NKDashError, OdooError,
)
from .settings import Settings, get_settings, load_settings  # noqa: F401

__version__ = "0.1.0"
