"""The session's demo Odoo: a tiny deterministic company with a fixed end date, one server
per version (the ``demo_server`` fixture), and settings pointing at it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nkdash import dates as cal
from nkdash.demo import DemoServer
from nkdash.demo.generate import DemoConfig
from nkdash.settings import Secret, Settings

VERSIONS = (16, 17, 18, 19)
TZ = "Europe/Brussels"
END = dt.date(2024, 4, 2)  # a Tuesday: its POS sessions are still open (costs not computed)
DATES = cal.days(dt.date(2024, 3, 29), END)  # Fri..Tue: a weekend, and the spring DST change on Sun 31 March
DATED = ("pos", "invoices", "purchases", "inventory", "stock-quants", "profit")


def demo_config(version: int) -> DemoConfig:
    return DemoConfig(version=version, seed=42, scale="tiny", days=len(DATES), end=END, tz=TZ)


def settings_for(server: DemoServer, lake: Path, **changes) -> Settings:
    """Settings for ``server`` (password, or the API key for Odoo 19's JSON-2) and ``lake``."""
    config = demo_config(server.db.version)
    secret = config.api_key if server.db.version >= 19 else config.password
    return Settings(
        odoo_url=server.url,
        odoo_db=config.db_name,
        odoo_user=config.login,
        odoo_password=Secret(secret),
        odoo_retries=1,
        odoo_backoff=0.01,
        lake=lake,
    ).with_(**changes)
