"""The runbook's security checks are checked, not assumed: each turns false when its rule breaks."""

from __future__ import annotations

import pyarrow as pa

from nkdash.lake import Lake
from nkdash.ops import security
from nkdash.settings import Secret, Settings


def checks(settings: Settings, env_file) -> dict[str, bool]:
    table = security.security_table(settings, env_file)
    return dict(zip(table["check"], table["ok"]))


def test_every_check_holds_on_a_sound_setup(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.write_whole("dim_store", pa.table({"id": pa.array([1], pa.int64())}))
    env = tmp_path / ".env"
    env.write_text("ODOO_PASSWORD=s3cret\n")
    env.chmod(0o600)
    (tmp_path / "logs" / "web").mkdir(parents=True)
    (tmp_path / "logs" / "web" / "access.log").write_text("")
    settings = Settings(
        odoo_url="https://erp.example.com",
        odoo_password=Secret("s3cret"),
        lake=tmp_path / "lake",
        log_dir=tmp_path / "logs",
        viewer_password=Secret("v"),
        operator_password=Secret("o"),
    )
    assert all(checks(settings, env).values()), security.security_table(settings, env).to_string()
    assert lake.read_whole("dim_store").num_rows == 1  # the write probe changed nothing


def test_checks_fail_when_their_rule_breaks(tmp_path):
    env = tmp_path / ".env"
    env.write_text("x=1\n")
    env.chmod(0o644)
    leaky = Settings(odoo_url="https://admin:s3cret@erp.example.com", lake=tmp_path / "lake", log_dir=tmp_path)
    found = checks(leaky, env)
    assert found["Odoo credentials are secrets"] is False
    assert found[".env not readable by other users"] is False
    assert found["operator password set"] is False and found["access is logged"] is False
    assert found["dashboards read the lake read-only"] and found["ETL operations need the operator role"]


def test_operations_pages_need_the_operator(monkeypatch):
    from nkdash.notebooks import NOTEBOOKS

    opened = tuple(
        nb if nb.path != "/recovery" else nb.__class__(**{**nb.__dict__, "role": "viewer"}) for nb in NOTEBOOKS
    )
    monkeypatch.setattr(security, "NOTEBOOKS", opened)
    ok, detail = security.operations_need_operator()
    assert not ok and "open to viewers: /recovery" in detail
