"""The security checks of the runbook's Security section: each one is checked, none assumed.

- credentials only in ``.env``, not readable by other users; web passwords set;
- Odoo's credentials are secrets: never in ``ODOO_URL``, never in what settings print;
- ETL operations need the operator role: the operations notebooks are operator-only and the
  gate refuses them to a viewer;
- the dashboards read the lake read-only: a write through their lake and a file written by
  their DuckDB are both refused (tried on a scratch path);
- access is logged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from nkdash.errors import LakeError
from nkdash.notebooks import NOTEBOOKS, may_open
from nkdash.ops.services import log_files
from nkdash.settings import Settings, get_settings

OPERATIONS_PAGES = ("/operational", "/recovery", "/runbook", "/monitoring")


def security_table(settings: Settings | None = None, env_file: Path = Path(".env")) -> pd.DataFrame:
    """One row per security item: the check, whether it holds now, and what was looked at."""
    settings = settings or get_settings()
    mode = env_file.stat().st_mode & 0o777 if env_file.exists() else None
    access = log_files(settings)["web access"]
    rows = [
        (
            ".env holds the credentials",
            env_file.exists(),
            f"{env_file.absolute()} mode {oct(mode)}"
            if mode is not None
            else f"no {env_file.absolute()}: settings come from the environment",
        ),
        (
            ".env not readable by other users",
            mode is None or not mode & 0o077,
            "chmod 600 .env" if mode is not None and mode & 0o077 else "ok",
        ),
        ("operator password set", bool(settings.operator_password), "NKDASH_OPERATOR_PASSWORD"),
        ("viewer password set", bool(settings.viewer_password), "NKDASH_VIEWER_PASSWORD"),
        ("Odoo credentials are secrets", *odoo_secrets_kept(settings)),
        ("ETL operations need the operator role", *operations_need_operator()),
        ("dashboards read the lake read-only", *dashboards_read_only(settings)),
        ("access is logged", access.exists(), str(access)),
    ]
    return pd.DataFrame(rows, columns=["check", "ok", "detail"])


def odoo_secrets_kept(settings: Settings) -> tuple[bool, str]:
    """ODOO_URL carries no user or password, and the printable settings hold no secret."""
    url = settings.odoo_url or ""
    in_url = bool(url.startswith("http") and (urlsplit(url).username or urlsplit(url).password))
    secret = settings.odoo_password.get()
    printed = bool(secret) and secret in repr(settings.public())
    if in_url:
        return False, "ODOO_URL holds credentials: put them in ODOO_USER and ODOO_PASSWORD"
    if printed:
        return False, "ODOO_PASSWORD shows in the printable settings"
    return True, f"ODOO_USER={settings.odoo_user}, ODOO_PASSWORD={settings.odoo_password!r} (never printed)"


def operations_need_operator() -> tuple[bool, str]:
    """Every operations page needs the operator role, and a viewer may not open what does."""
    pages = {nb.path: nb.role for nb in NOTEBOOKS}
    viewer_pages = [path for path in OPERATIONS_PAGES if pages.get(path) != "operator"]
    ok = not viewer_pages and not may_open("viewer", "operator")
    detail = ", ".join(OPERATIONS_PAGES) + (f"; open to viewers: {', '.join(viewer_pages)}" if viewer_pages else "")
    return ok, detail


def dashboards_read_only(settings: Settings) -> tuple[bool, str]:
    """Try a write through the dashboards' lake and a file written by their DuckDB."""
    import pyarrow as pa

    from nkdash.dashboards import Dashboard

    db = Dashboard(settings.lake, meta=None)
    refused = []
    try:
        db.lake.write_whole("dim_store", pa.table({"id": pa.array([], pa.int64())}))
    except LakeError:
        refused.append("lake write refused")
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.csv"
        try:
            db.sql("security_probe", f"COPY (SELECT 1 AS x) TO '{probe}'", {})
        except LakeError:
            pass
        if not probe.exists():
            refused.append("DuckDB file write refused")
    return len(refused) == 2, "; ".join(refused) or "the dashboards could write"
